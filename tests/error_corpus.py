"""A corpus of real upstream error responses (docs/failures.md#failure-classes): status, headers and body as each server sends them.

Every row names where its body comes from: the server's own source (repository and path), its documentation
page, or a public record of a real response (an issue, or a test suite that records live answers). Rows
marked "captured" were read from a LiteLLM proxy 1.106.12 run on loopback with the mock config that
tests/real_proxy.py writes (the same server tests/test_real_proxy_e2e.py drives).

`dialect` is the wire dialect whose error parser should read the body (docs/dialects.md); `cls`/`kind` are what
docs/failures.md#failure-classes makes of it; `retry_after` is the wait the classifier must take from the headers (429/503 only);
`says` is text the message shown to the user must keep. A source ending in "[message paraphrased]" gives the
status, shape and meaning from that page while the exact wording is not published there.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from orcli.execution.classify import Kind
from orcli.types import FailureClass

P, M, R = FailureClass.PROVIDER, FailureClass.MODEL, FailureClass.REQUEST


class ErrorRow(NamedTuple):
    id: str
    server: str
    dialect: str
    status: int
    headers: dict[str, str]
    body: str
    cls: FailureClass
    kind: Kind
    source: str
    retry_after: float | None = None
    says: str | None = None


def _j(obj: object) -> str:
    """Compact JSON, as most servers send it (keys in the server's own order)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _openai_pretty(message: str, type_: str | None, param: str | None, code: str | None) -> str:
    """api.openai.com sends its error object pretty-printed with two-space indents and a trailing newline."""
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}}, indent=2) + "\n"


def _anthropic(type_: str, message: str) -> str:
    # docs.claude.com/en/api/errors: {"type": "error", "error": {"type", "message"}, "request_id"}
    return _j(
        {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    )


def _google(code: int, message: str, status: str, details: list | None = None) -> str:
    # ai.google.dev/gemini-api/docs/troubleshooting; google.rpc.Status as JSON (cloud.google.com/apis/design/errors)
    error: dict = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}, indent=2) + "\n"


def _litellm(message: str, type_: str | None, code: str, **extra: object) -> str:
    # litellm/proxy/proxy_server.py ProxyException -> {"error": {"message", "type", "param", "code"}}
    return _j({"error": {"message": message, "type": type_, "param": None, "code": code, **extra}})


def _vllm(message: str, type_: str, code: int) -> str:
    # vllm/entrypoints/openai/protocol.py ErrorResponse{error: ErrorInfo{message, type, param, code: int}}
    return _j({"error": {"message": message, "type": type_, "param": None, "code": code}})


def _ollama_v1(message: str, type_: str) -> str:
    # ollama/ollama openai/openai.go NewError: ErrorResponse{Error{Message, Type, Param, Code *string}}
    return _j({"error": {"message": message, "type": type_, "param": None, "code": None}})


def _llama_cpp(code: int, message: str, type_: str, **extra: object) -> str:
    # ggml-org/llama.cpp tools/server/server-common.cpp format_error_response, wrapped as {"error": ...}
    return _j({"error": {"code": code, "message": message, "type": type_, **extra}})


def _tgi(error: str, error_type: str) -> str:
    # huggingface/text-generation-inference router/src/lib.rs ErrorResponse{error, error_type}
    return _j({"error": error, "error_type": error_type})


_GEMINI_BAD_KEY_DETAILS = [
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    },
    {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": "API key not valid. Please pass a valid API key.",
    },
]
_GEMINI_QUOTA_DETAILS = [
    {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"},
                "quotaValue": "15",
            }
        ],
    },
    {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [
            {
                "description": "Learn more about Gemini API quotas",
                "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
            }
        ],
    },
    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
]
_AZURE_FILTER_RESULT = {
    "hate": {"filtered": False, "severity": "safe"},
    "jailbreak": {"filtered": False, "detected": False},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": True, "severity": "medium"},
}
_NGINX_502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"  # noqa: E501
_CLOUDFLARE_524 = '<!DOCTYPE html>\n<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->\n<head>\n<title>api.example.com | 524: A timeout occurred</title>\n<meta charset="UTF-8" />\n</head>\n<body><div id="cf-wrapper"><h1>A timeout occurred</h1><span>Error code 524</span></div></body>\n</html>\n'  # noqa: E501

# fmt: off
ROWS: list[ErrorRow] = [
    # --- OpenAI (platform.openai.com/docs/guides/error-codes) -------------------------------------------------
    ErrorRow("openai_401_invalid_key", "OpenAI", "openai", 401, {"content-type": "application/json"},
             _openai_pretty("Incorrect API key provided: sk-proj-********************abcd. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", None, "invalid_api_key"),
             P, Kind.AUTH, "platform.openai.com/docs/guides/error-codes (401 Invalid Authentication)"),
    ErrorRow("openai_429_rate_limit_retry_after", "OpenAI", "openai", 429,
             {"content-type": "application/json", "retry-after": "2", "x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1.2s"},
             _openai_pretty("Rate limit reached for gpt-4o in organization org-AbCdEf on tokens per min (TPM): Limit 30000, Used 29807, Requested 1203. Please try again in 2.02s. Visit https://platform.openai.com/account/rate-limits to learn more.", "tokens", None, "rate_limit_exceeded"),
             P, Kind.HTTP_429, "platform.openai.com/docs/guides/rate-limits (headers); error-codes 429", retry_after=2.0),
    ErrorRow("openai_429_insufficient_quota", "OpenAI", "openai", 429, {"content-type": "application/json"},
             _openai_pretty("You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.", "insufficient_quota", None, "insufficient_quota"),
             P, Kind.QUOTA, "platform.openai.com/docs/guides/error-codes (429 You exceeded your current quota)"),
    ErrorRow("openai_404_model_not_found", "OpenAI", "openai", 404, {"content-type": "application/json"},
             _openai_pretty("The model `gpt-5x` does not exist or you do not have access to it.", "invalid_request_error", None, "model_not_found"),
             P, Kind.NOT_FOUND, "github.com/qx-labs/agents-deep-research/issues/7 (recorded 404 body)"),
    ErrorRow("openai_400_requested_model_does_not_exist", "OpenAI", "openai", 400, {"content-type": "application/json"},
             _openai_pretty("The requested model 'bad model' does not exist.", "invalid_request_error", "model", "model_not_found"),
             P, Kind.NOT_FOUND, "maruel/genai providers/openaichat recorded errors ('bad model': http 400 model_not_found); community.openai.com/t/1278979"),
    ErrorRow("openai_400_context_length", "OpenAI", "openai", 400, {"content-type": "application/json"},
             _openai_pretty("This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens. Please reduce the length of the messages.", "invalid_request_error", "messages", "context_length_exceeded"),
             M, Kind.CONTEXT_LENGTH, "platform.openai.com/docs/guides/error-codes; openai-python issue reports"),
    ErrorRow("openai_400_prompt_flagged", "OpenAI", "openai", 400, {"content-type": "application/json"},
             _openai_pretty("Invalid prompt: your prompt was flagged as potentially violating our usage policy. Please try again with a different prompt: https://platform.openai.com/docs/guides/reasoning#advice-on-prompting", "invalid_request_error", None, "invalid_prompt"),
             M, Kind.MODERATION, "platform.openai.com/docs/guides/reasoning (flagged prompts)"),
    ErrorRow("openai_400_safety_system", "OpenAI", "openai", 400, {"content-type": "application/json"},
             _openai_pretty("Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.", "invalid_request_error", None, "content_policy_violation"),
             M, Kind.MODERATION, "platform.openai.com/docs/guides/error-codes; litellm exception_mapping_utils known substrings"),
    ErrorRow("openai_400_unsupported_parameter", "OpenAI", "openai", 400, {"content-type": "application/json"},
             _openai_pretty("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", "invalid_request_error", "max_tokens", "unsupported_parameter"),
             R, Kind.BAD_REQUEST, "platform.openai.com/docs/guides/reasoning (max_completion_tokens)", says="Unsupported parameter"),
    ErrorRow("openai_500_server_error", "OpenAI", "openai", 500, {"content-type": "application/json"},
             _openai_pretty("The server had an error while processing your request. Sorry about that!", "server_error", None, None),
             P, Kind.SERVER_ERROR, "platform.openai.com/docs/guides/error-codes (500)"),
    ErrorRow("openai_503_engine_overloaded", "OpenAI", "openai", 503, {"content-type": "application/json", "retry-after": "20"},
             _openai_pretty("The engine is currently overloaded, please try again later.", "server_error", None, None),
             P, Kind.SERVER_ERROR, "platform.openai.com/docs/guides/error-codes (503 Slow Down / overloaded)", retry_after=20.0),

    # --- Azure OpenAI (learn.microsoft.com azure/ai-services/openai/concepts/content-filter, reference) ------------
    ErrorRow("azure_400_content_filter_innererror", "Azure OpenAI", "azure", 400, {"content-type": "application/json"},
             _j({"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766", "type": None, "param": "prompt", "code": "content_filter", "status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": _AZURE_FILTER_RESULT}}}),
             M, Kind.MODERATION, "learn.microsoft.com/azure/ai-services/openai/concepts/content-filter (prompt filtered: 400 content_filter)"),
    ErrorRow("azure_429_token_rate_limit", "Azure OpenAI", "azure", 429, {"content-type": "application/json", "retry-after": "6", "retry-after-ms": "6000"},
             _j({"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."}}),
             P, Kind.HTTP_429, "learn.microsoft.com/azure/ai-services/openai/quotas-limits (429 with retry-after)", retry_after=6.0),
    ErrorRow("azure_401_bad_key", "Azure OpenAI", "azure", 401, {"content-type": "application/json"},
             _j({"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}),
             P, Kind.AUTH, "learn.microsoft.com/azure/ai-services/openai/reference (401)"),
    ErrorRow("azure_404_deployment_not_found", "Azure OpenAI", "azure", 404, {"content-type": "application/json"},
             _j({"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}),
             P, Kind.NOT_FOUND, "learn.microsoft.com/azure/ai-services/openai/how-to/create-resource (DeploymentNotFound)"),
    ErrorRow("azure_400_context_length", "Azure OpenAI", "azure", 400, {"content-type": "application/json"},
             _j({"error": {"message": "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}),
             M, Kind.CONTEXT_LENGTH, "learn.microsoft.com/azure/ai-services/openai/reference (OpenAI-shaped errors)"),

    # --- Anthropic (docs.claude.com/en/api/errors) ----------------------------------------------------------------
    ErrorRow("anthropic_529_overloaded", "Anthropic", "anthropic", 529, {"content-type": "application/json"},
             _anthropic("overloaded_error", "Overloaded"), P, Kind.SERVER_ERROR, "docs.claude.com/en/api/errors (529 overloaded_error)"),
    ErrorRow("anthropic_429_rate_limit_retry_after", "Anthropic", "anthropic", 429, {"content-type": "application/json", "retry-after": "15", "anthropic-ratelimit-requests-remaining": "0"},
             _anthropic("rate_limit_error", "This request would exceed the rate limit for your organization (3f2a…) of 50 input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits."),
             P, Kind.HTTP_429, "docs.claude.com/en/api/rate-limits (retry-after header); errors (429 rate_limit_error)", retry_after=15.0),
    ErrorRow("anthropic_401_invalid_key", "Anthropic", "anthropic", 401, {"content-type": "application/json"},
             _anthropic("authentication_error", "invalid x-api-key"), P, Kind.AUTH, "docs.claude.com/en/api/errors (401); maruel/genai providers/anthropic recorded errors"),
    ErrorRow("anthropic_403_permission", "Anthropic", "anthropic", 403, {"content-type": "application/json"},
             _anthropic("permission_error", "Your API key does not have permission to use the specified resource."), P, Kind.AUTH, "docs.claude.com/en/api/errors (403 permission_error)"),
    ErrorRow("anthropic_404_unknown_model", "Anthropic", "anthropic", 404, {"content-type": "application/json"},
             _anthropic("not_found_error", "model: claude-sonnet-9"), P, Kind.NOT_FOUND, "maruel/genai providers/anthropic recorded errors ('bad model': http 404 not_found_error)"),
    ErrorRow("anthropic_400_prompt_too_long", "Anthropic", "anthropic", 400, {"content-type": "application/json"},
             _anthropic("invalid_request_error", "prompt is too long: 215891 tokens > 200000 maximum"), M, Kind.CONTEXT_LENGTH, "docs.claude.com/en/docs/build-with-claude/context-windows"),
    ErrorRow("anthropic_400_credit_balance", "Anthropic", "anthropic", 400, {"content-type": "application/json"},
             _anthropic("invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."),
             P, Kind.QUOTA, "BerriAI/litellm#24320 (a LiteLLM issue)"),
    ErrorRow("anthropic_400_missing_field", "Anthropic", "anthropic", 400, {"content-type": "application/json"},
             _anthropic("invalid_request_error", "max_tokens: Field required"), R, Kind.BAD_REQUEST, "docs.claude.com/en/api/errors (400 invalid_request_error)", says="max_tokens: Field required"),
    ErrorRow("anthropic_413_request_too_large", "Anthropic", "anthropic", 413, {"content-type": "application/json"},
             _anthropic("request_too_large", "Request exceeds the maximum allowed number of bytes."), P, Kind.HTTP_STATUS, "docs.claude.com/en/api/errors (413 request_too_large)"),
    ErrorRow("anthropic_500_api_error", "Anthropic", "anthropic", 500, {"content-type": "application/json"},
             _anthropic("api_error", "Internal server error"), P, Kind.SERVER_ERROR, "docs.claude.com/en/api/errors (500 api_error)"),

    # --- Google Gemini (ai.google.dev/gemini-api/docs/troubleshooting) ------------------------------------------
    ErrorRow("gemini_400_api_key_invalid", "Gemini", "gemini", 400, {"content-type": "application/json; charset=UTF-8"},
             _google(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", _GEMINI_BAD_KEY_DETAILS),
             P, Kind.AUTH, "ai.google.dev/gemini-api/docs/troubleshooting (400 INVALID_ARGUMENT, reason API_KEY_INVALID)"),
    ErrorRow("gemini_400_plain_invalid_argument", "Gemini", "gemini", 400, {"content-type": "application/json; charset=UTF-8"},
             _google(400, "Request contains an invalid argument.", "INVALID_ARGUMENT"),
             R, Kind.BAD_REQUEST, "ai.google.dev/gemini-api/docs/troubleshooting (400 INVALID_ARGUMENT)", says="invalid argument"),
    ErrorRow("gemini_429_resource_exhausted", "Gemini", "gemini", 429, {"content-type": "application/json; charset=UTF-8"},
             _google(429, "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.", "RESOURCE_EXHAUSTED", _GEMINI_QUOTA_DETAILS),
             P, Kind.QUOTA, "ai.google.dev/gemini-api/docs/troubleshooting (429 RESOURCE_EXHAUSTED with QuotaFailure and RetryInfo)"),
    ErrorRow("gemini_404_model_not_found", "Gemini", "gemini", 404, {"content-type": "application/json; charset=UTF-8"},
             _google(404, "models/gemini-9-pro is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.", "NOT_FOUND"),
             P, Kind.NOT_FOUND, "ai.google.dev/gemini-api/docs/troubleshooting (404 NOT_FOUND)"),
    ErrorRow("gemini_403_permission_denied", "Gemini", "gemini", 403, {"content-type": "application/json; charset=UTF-8"},
             _google(403, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", "PERMISSION_DENIED"),
             P, Kind.AUTH, "ai.google.dev/gemini-api/docs/troubleshooting (403 PERMISSION_DENIED)"),
    ErrorRow("gemini_400_failed_precondition_region", "Gemini", "gemini", 400, {"content-type": "application/json; charset=UTF-8"},
             _google(400, "User location is not supported for the API use.", "FAILED_PRECONDITION"),
             P, Kind.AUTH, "ai.google.dev/gemini-api/docs/troubleshooting (400 FAILED_PRECONDITION: region or billing)"),
    ErrorRow("gemini_400_input_token_count", "Gemini", "gemini", 400, {"content-type": "application/json; charset=UTF-8"},
             _google(400, "The input token count (1203577) exceeds the maximum number of tokens allowed (1048576).", "INVALID_ARGUMENT"),
             M, Kind.CONTEXT_LENGTH, "ai.google.dev/gemini-api/docs/long-context; troubleshooting (400 INVALID_ARGUMENT)"),
    ErrorRow("gemini_503_overloaded", "Gemini", "gemini", 503, {"content-type": "application/json; charset=UTF-8"},
             _google(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"), P, Kind.SERVER_ERROR, "ai.google.dev/gemini-api/docs/troubleshooting (503 UNAVAILABLE)"),
    ErrorRow("gemini_500_internal", "Gemini", "gemini", 500, {"content-type": "application/json; charset=UTF-8"},
             _google(500, "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", "INTERNAL"), P, Kind.SERVER_ERROR, "ai.google.dev/gemini-api/docs/troubleshooting (500 INTERNAL)"),

    # --- Groq (console.groq.com/docs/errors) -------------------------------------------------------------------
    ErrorRow("groq_429_rate_limit_retry_after", "Groq", "openai", 429, {"content-type": "application/json", "retry-after": "7", "x-ratelimit-remaining-tokens": "0"},
             _j({"error": {"message": "Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_01hq` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Used 5990, Requested 1210. Please try again in 7.2s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing", "type": "tokens", "code": "rate_limit_exceeded"}}),
             P, Kind.HTTP_429, "console.groq.com/docs/rate-limits (retry-after header, 429 body)", retry_after=7.0),
    ErrorRow("groq_404_model_not_found", "Groq", "openai", 404, {"content-type": "application/json"},
             _j({"error": {"message": "The model `llama-9-70b` does not exist or you do not have access to it.", "type": "invalid_request_error", "code": "model_not_found"}}),
             P, Kind.NOT_FOUND, "maruel/genai providers/groq recorded errors ('bad model': http 404 model_not_found)"),
    ErrorRow("groq_401_invalid_key", "Groq", "openai", 401, {"content-type": "application/json"},
             _j({"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}}),
             P, Kind.AUTH, "maruel/genai providers/groq recorded errors (http 401 invalid_api_key)"),
    ErrorRow("groq_400_context_length", "Groq", "openai", 400, {"content-type": "application/json"},
             _j({"error": {"message": "Please reduce the length of the messages or completion.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}),
             M, Kind.CONTEXT_LENGTH, "console.groq.com/docs/errors (400)"),
    ErrorRow("groq_498_flex_capacity", "Groq", "openai", 498, {"content-type": "application/json"},
             _j({"error": {"message": "Flex Tier Capacity Exceeded. Please try again later.", "type": "capacity_exceeded", "code": "capacity_exceeded"}}),
             P, Kind.HTTP_STATUS, "console.groq.com/docs/flex-processing (498 capacity_exceeded) [message paraphrased]"),

    # --- Together (docs.together.ai/docs/error-codes) -------------------------------------------------------------
    ErrorRow("together_404_unable_to_access_model", "Together", "openai", 404, {"content-type": "application/json"},
             _j({"error": {"message": "Unable to access model bad model. Please visit https://api.together.ai/models to view the list of supported models.", "type": "invalid_request_error", "param": None, "code": "model_not_available"}}),
             P, Kind.NOT_FOUND, "maruel/genai providers/togetherai recorded errors (http 404 model_not_available)"),
    ErrorRow("together_401_invalid_key", "Together", "openai", 401, {"content-type": "application/json"},
             _j({"error": {"message": "Invalid API key provided. You can find your API key at https://api.together.ai/settings/api-keys.", "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}),
             P, Kind.AUTH, "maruel/genai providers/togetherai recorded errors (http 401 invalid_api_key)"),
    ErrorRow("together_400_tgi_context", "Together", "openai", 400, {"content-type": "application/json"},
             _j({"error": {"message": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4097. Given: 5013 `inputs` tokens and 128 `max_new_tokens`", "type": "invalid_request_error", "param": "max_tokens", "code": None}}),
             M, Kind.CONTEXT_LENGTH, "portkey.ai/error-library/input-validation-error-10151 (Together 400)"),
    ErrorRow("together_403_context_per_docs", "Together", "openai", 403, {"content-type": "application/json"},
             _j({"error": {"message": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8193. Given: 8000 `inputs` tokens and 512 `max_new_tokens`", "type": "invalid_request_error", "param": None, "code": None}}),
             M, Kind.CONTEXT_LENGTH, "docs.together.ai/docs/error-codes (403: input token count + max_tokens must be less than the context length)"),
    ErrorRow("together_402_spending_limit", "Together", "openai", 402, {"content-type": "application/json"},
             _j({"error": {"message": "Credit limit exceeded. Please add credits to continue.", "type": "credit_limit", "param": None, "code": None}}),
             P, Kind.QUOTA, "docs.together.ai/docs/error-codes (402 Payment Required: monthly spending limit) [message paraphrased]"),
    ErrorRow("together_503_engine_overloaded", "Together", "openai", 503, {"content-type": "application/json"},
             _j({"error": {"message": "The server is overloaded or not ready yet.", "type": "server_error", "param": None, "code": None}}),
             P, Kind.SERVER_ERROR, "docs.together.ai/docs/error-codes (503 Engine Overloaded) [message paraphrased]"),

    # --- Fireworks (fireworks.ai/docs/guides/inference-error-codes) -------------------------------------------------
    ErrorRow("fireworks_404_model_not_deployed", "Fireworks", "openai", 404, {"content-type": "application/json"},
             _j({"error": {"object": "error", "type": "invalid_request_error", "code": "invalid_request_error", "message": "Model not found, inaccessible, and/or not deployed"}}),
             P, Kind.NOT_FOUND, "vercel/ai @ai-sdk/fireworks@1.0.51 changelog (the envelope Fireworks returns); fireworks.ai inference-error-codes 404"),
    ErrorRow("fireworks_400_model_not_found", "Fireworks", "openai", 400, {"content-type": "application/json"},
             _j({"error": {"object": "error", "type": "invalid_request_error", "code": "invalid_request_error", "message": "Model not found, inaccessible, and/or not deployed"}}),
             P, Kind.NOT_FOUND, "same envelope as a 400 (unknown model ids are refused before routing)"),
    ErrorRow("fireworks_400_prompt_too_long", "Fireworks", "openai", 400, {"content-type": "application/json"},
             _j({"error": {"object": "error", "type": "invalid_request_error", "code": "invalid_request_error", "message": "The prompt is too long: 140213, model maximum context length: 131072"}}),
             M, Kind.CONTEXT_LENGTH, "fireworks.ai inference-error-codes (400); envelope per vercel/ai changelog"),
    ErrorRow("fireworks_412_account_suspended", "Fireworks", "openai", 412, {"content-type": "application/json"},
             _j({"error": {"object": "error", "type": "invalid_request_error", "code": "invalid_request_error", "message": "Account is suspended"}}),
             P, Kind.HTTP_STATUS, "fireworks.ai/docs/guides/inference-error-codes (412 Precondition Failed: account suspended, LoRA failed to load) [message paraphrased]"),
    ErrorRow("fireworks_402_payment_required", "Fireworks", "openai", 402, {"content-type": "application/json"},
             _j({"error": {"object": "error", "type": "invalid_request_error", "code": "invalid_request_error", "message": "Account is not on a paid plan or has exceeded usage limits"}}),
             P, Kind.QUOTA, "fireworks.ai/docs/guides/inference-error-codes (402) [message paraphrased]"),

    # --- DeepInfra / DeepSeek (OpenAI-compatible endpoints) ---------------------------------------------------------
    ErrorRow("deepinfra_401_not_authenticated", "DeepInfra", "openai", 401, {"content-type": "application/json"},
             _j({"error": {"message": "Not authenticated", "type": "invalid_request_error", "param": None, "code": None}}),
             P, Kind.AUTH, "github.com/xtekky/gpt4free/issues/3446 (DeepInfra body)"),
    ErrorRow("deepinfra_400_context_window", "DeepInfra", "openai", 400, {"content-type": "application/json"},
             _j({"error": {"message": "Requested token count exceeds the model's maximum context length of 131072 tokens. You requested a total of 140000 tokens: 139000 tokens from the input messages and 1000 tokens for the completion. Please reduce the number of tokens in the input messages or the completion to fit within the limit.", "type": "invalid_request_error", "param": None, "code": None}}),
             M, Kind.CONTEXT_LENGTH, "deepinfra.com/docs/openai_api (OpenAI-shaped errors); BerriAI/litellm#10793 [message not verified against a recorded body]"),
    ErrorRow("deepseek_400_model_not_exist", "DeepSeek", "openai", 400, {"content-type": "application/json"},
             _j({"error": {"message": "Model Not Exist", "type": "invalid_request_error", "param": None, "code": "invalid_request_error"}}),
             P, Kind.NOT_FOUND, "github.com/upstash/docs/issues/412; maruel/genai providers/deepseek recorded errors (http 400)"),
    ErrorRow("deepseek_402_insufficient_balance", "DeepSeek", "openai", 402, {"content-type": "application/json"},
             _j({"error": {"message": "Insufficient Balance", "type": "unknown_error", "param": None, "code": "invalid_request_error"}}),
             P, Kind.QUOTA, "api-docs.deepseek.com/quick_start/error_codes (402 Insufficient Balance)"),

    # --- Mistral (docs.mistral.ai) --------------------------------------------------------------------------------
    ErrorRow("mistral_400_invalid_model", "Mistral", "openai", 400, {"content-type": "application/json"},
             _j({"object": "error", "message": "Invalid model: mistral-huge-9", "type": "invalid_model", "param": None, "code": "1500"}),
             P, Kind.NOT_FOUND, "maruel/genai providers/mistral recorded errors ('bad model': http 400 invalid_model)"),
    ErrorRow("mistral_401_unauthorized", "Mistral", "openai", 401, {"content-type": "application/json"},
             _j({"message": "Unauthorized", "request_id": "8c6fd0f0b6f6e9d2a4f2c1d1b0a9e8f7"}),
             P, Kind.AUTH, "maruel/genai providers/mistral recorded errors (http 401 Unauthorized)"),
    ErrorRow("mistral_429_requests_rate_limit", "Mistral", "openai", 429, {"content-type": "application/json"},
             _j({"message": "Requests rate limit exceeded"}), P, Kind.HTTP_429, "docs.mistral.ai/deployment/laplateforme/tier (429) [body shape as Mistral's 401; message paraphrased]"),
    ErrorRow("mistral_400_too_large_for_model", "Mistral", "openai", 400, {"content-type": "application/json"},
             _j({"object": "error", "message": "Prompt contains 40321 tokens and 0 draft tokens, too large for model with 32768 maximum context length", "type": "invalid_request_error", "param": None, "code": None}),
             M, Kind.CONTEXT_LENGTH, "BerriAI/litellm exception_mapping_utils (Mistral context message)"),

    # --- OpenRouter (openrouter.ai/docs/api-reference/errors) -------------------------------------------------------
    ErrorRow("openrouter_402_credits", "OpenRouter", "openai", 402, {"content-type": "application/json"},
             _j({"error": {"code": 402, "message": "This request requires more credits, or fewer max_tokens. You requested up to 4096 tokens, but can only afford 1000. To increase, visit https://openrouter.ai/settings/credits and upgrade to a paid account"}}),
             P, Kind.QUOTA, "openrouter.ai/docs/api-reference/errors (402)"),
    ErrorRow("openrouter_429_upstream_rate_limited", "OpenRouter", "openai", 429, {"content-type": "application/json"},
             _j({"error": {"message": "Provider returned error", "code": 429, "metadata": {"raw": "google/gemini-2.5-pro is temporarily rate-limited upstream. Please retry shortly, or add your own key to accumulate your rate limits: https://openrouter.ai/settings/integrations", "provider_name": "Google AI Studio"}}}),
             P, Kind.HTTP_429, "openrouter.ai/docs/api-reference/errors (metadata.raw, provider_name)", says="Google AI Studio"),
    ErrorRow("openrouter_403_moderation", "OpenRouter", "openai", 403, {"content-type": "application/json"},
             _j({"error": {"code": 403, "message": 'meta-llama/llama-3.1-8b-instruct requires moderation on Groq. Your input was flagged for "violence". No credits were charged.', "metadata": {"reasons": ["violence"], "flagged_input": "how do I…", "provider_name": "Groq", "model_slug": "meta-llama/llama-3.1-8b-instruct"}}}),
             M, Kind.MODERATION, "openrouter.ai/docs/api-reference/errors (ModerationErrorMetadata)"),
    ErrorRow("openrouter_404_no_endpoints", "OpenRouter", "openai", 404, {"content-type": "application/json"},
             _j({"error": {"message": "No endpoints found for qwen/qwen-9.", "code": 404}}),
             P, Kind.NOT_FOUND, "openrouter.ai/docs/api-reference/errors (404)"),
    ErrorRow("openrouter_400_not_a_valid_model_id", "OpenRouter", "openai", 400, {"content-type": "application/json"},
             _j({"error": {"message": "foo/bar is not a valid model ID", "code": 400}}),
             P, Kind.NOT_FOUND, "openrouter.ai/docs/api-reference/errors (400 invalid model)"),
    ErrorRow("openrouter_400_context_length", "OpenRouter", "openai", 400, {"content-type": "application/json"},
             _j({"error": {"message": "This endpoint's maximum context length is 262000 tokens. However, you requested about 263390 tokens (658 of text input, 732 of tool input, 262000 in the output). Please reduce the length of either one, or use the \"middle-out\" transform to compress your prompt automatically.", "code": 400, "metadata": {"provider_name": None}}}),
             M, Kind.CONTEXT_LENGTH, "OpenRouter's errors page (observed body)"),
    ErrorRow("openrouter_502_provider_returned_error", "OpenRouter", "openai", 502, {"content-type": "application/json"},
             _j({"error": {"message": "Provider returned error", "code": 502, "metadata": {"raw": "upstream connect error or disconnect/reset before headers", "provider_name": "DeepInfra"}}}),
             P, Kind.SERVER_ERROR, "openrouter.ai/docs/api-reference/errors (502: the chosen model is down or returned an invalid response) [raw paraphrased]"),

    # --- LiteLLM proxy (BerriAI/litellm 1.106.12; captured from the proxy tests/real_proxy.py starts) --------------
    ErrorRow("litellm_400_invalid_model_name", "LiteLLM proxy", "openai", 400, {"content-type": "application/json"},
             _litellm("/chat/completions: Invalid model name passed in model=nosuch. Call `/v1/models` to view available models for your key.", "invalid_request_error", "400",
                      provider_specific_fields={"error": "/chat/completions: Invalid model name passed in model=nosuch. Call `/v1/models` to view available models for your key."}),
             P, Kind.NOT_FOUND, "captured; litellm/proxy/route_llm_request.py (model not in the router)"),
    ErrorRow("litellm_429_rate_limit", "LiteLLM proxy", "openai", 429, {"content-type": "application/json", "x-litellm-timeout": "6000.0"},
             _litellm("litellm.RateLimitError: this is a mock rate limit error\n\nLiteLLM: model group 'ratelimited' failed with the error above. No fallback was attempted.", "throttling_error", "429"),
             P, Kind.HTTP_429, "captured; litellm/main.py _handle_mock_potential_exceptions ('litellm.RateLimitError')"),
    ErrorRow("litellm_400_context_window_exceeded", "LiteLLM proxy", "openai", 400, {"content-type": "application/json"},
             _litellm("litellm.ContextWindowExceededError: litellm.BadRequestError: this is a mock context window exceeded error\nmodel=toolong. context_window_fallbacks=None. fallbacks=None.\n\nSet 'context_window_fallback' - https://docs.litellm.ai/docs/routing#fallbacks\n\nLiteLLM: model group 'toolong' failed with the error above. No fallback was attempted.", "invalid_request_error", "400"),
             M, Kind.CONTEXT_LENGTH, "captured; litellm/main.py ('litellm.ContextWindowExceededError')"),
    ErrorRow("litellm_400_content_policy_violation", "LiteLLM proxy", "openai", 400, {"content-type": "application/json"},
             _litellm("litellm.BadRequestError: litellm.ContentPolicyViolationError: litellm.MockException: Exception: content_filter_policy\nmodel=azfiltered. content_policy_fallback=None. fallbacks=None.\n\nSet 'content_policy_fallback' - https://docs.litellm.ai/docs/routing#fallbacks\n\nLiteLLM: model group 'azfiltered' failed with the error above. No fallback was attempted.", "invalid_request_error", "400",
                      provider_specific_fields={"innererror": None, "inner_error": None, "azure_error": None}),
             M, Kind.MODERATION, "captured; litellm/litellm_core_utils/exception_mapping_utils.py is_azure_content_policy_violation_error"),
    ErrorRow("litellm_400_content_filter_policy_unmapped", "LiteLLM proxy", "openai", 400, {"content-type": "application/json"},
             _litellm("litellm.BadRequestError: OpenAIException - litellm.MockException: Exception: content_filter_policy\n\nLiteLLM: model group 'filtered' failed with the error above. No fallback was attempted.", "invalid_request_error", "400"),
             M, Kind.MODERATION, "captured (an openai/ deployment: LiteLLM maps content_filter_policy only for azure, the text still says it)"),
    ErrorRow("litellm_500_internal_server_error", "LiteLLM proxy", "openai", 500, {"content-type": "application/json"},
             _litellm("litellm.InternalServerError: this is a mock internal server error\n\nLiteLLM: model group 'broken' failed with the error above. No fallback was attempted.", "internal_server_error", "500"),
             P, Kind.SERVER_ERROR, "captured; litellm/main.py ('litellm.InternalServerError')"),
    ErrorRow("litellm_529_midstream_before_content", "LiteLLM proxy", "openai", 529, {"content-type": "application/json"},
             _litellm("litellm.APIError: APIError: OpenAIException - litellm.MockException: This is a mock error raised mid-stream", None, "529"),
             P, Kind.SERVER_ERROR, "captured; litellm/main.py ('Exception: mock_streaming_error', status 529)"),
    ErrorRow("litellm_400_no_db_for_virtual_key", "LiteLLM proxy", "openai", 400, {"content-type": "application/json"},
             _litellm("No connected db.", "no_db_connection", "400"),
             P, Kind.AUTH, "captured (a key that is not the master key, proxy without a database); litellm/proxy/auth/user_api_key_auth.py"),

    # --- vLLM (vllm-project/vllm vllm/entrypoints/openai/serving_engine.py, api_server.py) --------------------------
    ErrorRow("vllm_400_context_input_tokens", "vLLM", "openai", 400, {"content-type": "application/json"},
             _vllm("This model's maximum context length is 32768 tokens. However, your request has 40000 input tokens. Please reduce the length of the input messages.", "BadRequestError", 400),
             M, Kind.CONTEXT_LENGTH, "vllm/entrypoints/openai/serving_engine.py _validate_input (v0.10+ wording)"),
    ErrorRow("vllm_400_max_tokens_too_large", "vLLM", "openai", 400, {"content-type": "application/json"},
             _vllm("'max_tokens' or 'max_completion_tokens' is too large: 8192. This model's maximum context length is 8192 tokens and your request has 120 input tokens (8192 > 8192 - 120).", "BadRequestError", 400),
             M, Kind.CONTEXT_LENGTH, "vllm/entrypoints/openai/serving_engine.py _validate_input (max_tokens branch)"),
    ErrorRow("vllm_404_model_does_not_exist", "vLLM", "openai", 404, {"content-type": "application/json"},
             _vllm("The model `llama-3-70b` does not exist.", "NotFoundError", 404),
             P, Kind.NOT_FOUND, "vllm/entrypoints/openai/serving_engine.py _check_model"),
    ErrorRow("vllm_401_api_key", "vLLM", "openai", 401, {"content-type": "application/json"},
             _j({"error": "Unauthorized"}), P, Kind.AUTH, "vllm/entrypoints/openai/api_server.py AuthenticationMiddleware (--api-key)"),
    ErrorRow("vllm_old_flat_context", "vLLM (< 0.6)", "openai", 400, {"content-type": "application/json"},
             _j({"object": "error", "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.", "type": "BadRequestError", "param": None, "code": 400}),
             M, Kind.CONTEXT_LENGTH, "vllm/entrypoints/openai/protocol.py ErrorResponse before ErrorInfo (flat object)"),

    # --- Ollama (ollama/ollama server/routes.go, openai/openai.go, llm/llama_server.go) ---------------------------
    ErrorRow("ollama_404_not_pulled_native", "Ollama", "openai", 404, {"content-type": "application/json; charset=utf-8"},
             _j({"error": 'model "llama9" not found, try pulling it first'}), P, Kind.NOT_FOUND, "ollama server/routes.go handleScheduleError (os.ErrNotExist)"),
    ErrorRow("ollama_v1_404_not_found_error", "Ollama", "openai", 404, {"content-type": "application/json"},
             _ollama_v1('model "llama9" not found, try pulling it first', "not_found_error"), P, Kind.NOT_FOUND, "ollama openai/openai.go NewError (404 -> not_found_error)"),
    ErrorRow("ollama_v1_400_prompt_longer_than_context", "Ollama", "openai", 400, {"content-type": "application/json"},
             _ollama_v1("the prompt is longer than the context length currently available to the model; shorten the prompt, adjust the context length in settings, or use a model with a longer context length", "invalid_request_error"),
             M, Kind.CONTEXT_LENGTH, "ollama llm/llama_server.go (context shift disabled)"),
    ErrorRow("ollama_400_input_exceeds_context", "Ollama", "openai", 400, {"content-type": "application/json; charset=utf-8"},
             _j({"error": "the input length exceeds the context length"}), M, Kind.CONTEXT_LENGTH, "ollama server/routes.go (truncate=false)"),
    ErrorRow("ollama_503_server_busy", "Ollama", "openai", 503, {"content-type": "application/json; charset=utf-8"},
             _j({"error": "server busy, please try again.  maximum pending requests exceeded"}), P, Kind.SERVER_ERROR, "ollama server/sched.go ErrMaxQueue"),
    ErrorRow("ollama_v1_400_model_is_required", "Ollama", "openai", 400, {"content-type": "application/json"},
             _ollama_v1("model is required", "invalid_request_error"), R, Kind.BAD_REQUEST, "ollama server/routes.go (ChatHandler)", says="model is required"),

    # --- llama.cpp server (ggml-org/llama.cpp tools/server) -------------------------------------------------------
    ErrorRow("llama_cpp_400_exceed_context_size", "llama.cpp server", "openai", 400, {"content-type": "application/json; charset=utf-8"},
             _llama_cpp(400, "request (5120 tokens) exceeds the available context size (4096 tokens), try increasing it", "exceed_context_size_error", n_prompt_tokens=5120, n_ctx=4096),
             M, Kind.CONTEXT_LENGTH, "tools/server/server-common.cpp format_error_response (ERROR_TYPE_EXCEED_CONTEXT_SIZE)"),
    ErrorRow("llama_cpp_503_loading_model", "llama.cpp server", "openai", 503, {"content-type": "application/json; charset=utf-8"},
             _llama_cpp(503, "Loading model", "unavailable_error"), P, Kind.SERVER_ERROR, "tools/server/server.cpp (ERROR_TYPE_UNAVAILABLE while loading)"),
    ErrorRow("llama_cpp_401_invalid_key", "llama.cpp server", "openai", 401, {"content-type": "application/json; charset=utf-8"},
             _llama_cpp(401, "Invalid API Key", "authentication_error"), P, Kind.AUTH, "tools/server/server.cpp (--api-key middleware, ERROR_TYPE_AUTHENTICATION)"),
    ErrorRow("llama_cpp_501_not_supported", "llama.cpp server", "openai", 501, {"content-type": "application/json; charset=utf-8"},
             _llama_cpp(501, "This server does not support embeddings. Start it with `--embeddings`", "not_supported_error"), P, Kind.SERVER_ERROR, "tools/server/server-common.cpp (ERROR_TYPE_NOT_SUPPORTED) [message paraphrased]"),
    ErrorRow("llama_cpp_400_invalid_request", "llama.cpp server", "openai", 400, {"content-type": "application/json; charset=utf-8"},
             _llama_cpp(400, "'messages' is required", "invalid_request_error"), R, Kind.BAD_REQUEST, "tools/server/server-common.cpp oaicompat_chat_params_parse [message paraphrased]", says="'messages' is required"),

    # --- TGI (huggingface/text-generation-inference router/src) -----------------------------------------------------
    ErrorRow("tgi_422_inputs_plus_max_new_tokens", "TGI", "openai", 422, {"content-type": "application/json"},
             _tgi("Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 500 `max_new_tokens`", "validation"),
             M, Kind.CONTEXT_LENGTH, "router/src/validation.rs ValidationError::MaxTotalTokens; infer/mod.rs (422)"),
    ErrorRow("tgi_422_inputs_must_have_less_than", "TGI", "openai", 422, {"content-type": "application/json"},
             _tgi("Input validation error: `inputs` must have less than 4095 tokens. Given: 5000", "validation"),
             M, Kind.CONTEXT_LENGTH, "router/src/validation.rs ValidationError::InputLength"),
    ErrorRow("tgi_429_overloaded", "TGI", "openai", 429, {"content-type": "application/json"},
             _tgi("Model is overloaded", "overloaded"), P, Kind.HTTP_429, "router/src/infer/mod.rs InferError::Overloaded -> 429"),
    ErrorRow("tgi_424_generation", "TGI", "openai", 424, {"content-type": "application/json"},
             _tgi("Request failed during generation: Server error: CUDA out of memory.", "generation"), P, Kind.HTTP_STATUS, "router/src/infer/mod.rs InferError::GenerationError -> 424 FAILED_DEPENDENCY"),
    ErrorRow("tgi_422_temperature", "TGI", "openai", 422, {"content-type": "application/json"},
             _tgi("Input validation error: `temperature` must be strictly positive", "validation"), R, Kind.BAD_REQUEST, "router/src/validation.rs ValidationError::Temperature", says="temperature"),

    # --- Gateways and frameworks in front of any of them: plain text, HTML, FastAPI -------------------------------
    ErrorRow("nginx_502_html", "nginx", "openai", 502, {"content-type": "text/html"}, _NGINX_502, P, Kind.SERVER_ERROR, "nginx default error page", says="502 Bad Gateway"),
    ErrorRow("cloudflare_524_html", "Cloudflare", "openai", 524, {"content-type": "text/html; charset=UTF-8"}, _CLOUDFLARE_524, P, Kind.SERVER_ERROR, "Cloudflare 524 error page", says="524"),
    ErrorRow("uvicorn_500_plain_text", "uvicorn/starlette", "openai", 500, {"content-type": "text/plain; charset=utf-8"}, "Internal Server Error", P, Kind.SERVER_ERROR, "starlette ServerErrorMiddleware (plain text 500)"),
    ErrorRow("plain_429_text", "any proxy", "openai", 429, {"content-type": "text/plain", "retry-after": "30"}, "Too Many Requests\n", P, Kind.HTTP_429, "RFC 6585 §4 (429 with Retry-After)", retry_after=30.0),
    ErrorRow("fastapi_404_detail_not_found", "FastAPI (wrong base_url path)", "openai", 404, {"content-type": "application/json"}, _j({"detail": "Not Found"}), P, Kind.NOT_FOUND, "starlette/fastapi default 404 handler"),
    ErrorRow("fastapi_422_detail_list", "FastAPI", "openai", 422, {"content-type": "application/json"},
             _j({"detail": [{"type": "missing", "loc": ["body", "messages"], "msg": "Field required", "input": {"model": "m"}}]}), R, Kind.BAD_REQUEST, "fastapi RequestValidationError handler", says="Field required"),
    ErrorRow("fastapi_400_detail_string_context", "FastAPI-based server", "openai", 400, {"content-type": "application/json"},
             _j({"detail": "This model's maximum context length is 2048 tokens, however you requested 3000 tokens"}), M, Kind.CONTEXT_LENGTH, "FastAPI HTTPException(detail=...) as OpenAI-compatible servers raise it (e.g. llama-cpp-python, FastChat) [message paraphrased]"),
    ErrorRow("ollama_style_error_string_auth", "a gateway", "openai", 403, {"content-type": "application/json"}, _j({"error": "forbidden: invalid token"}), P, Kind.AUTH, "{\"error\": \"string\"} shape (Ollama, vLLM auth) [message invented for the shape]"),
]
# fmt: on


class AnswerRow(NamedTuple):
    """A 200 answer that is a refusal, not an error body: the dialect's answer decoder must report it."""

    id: str
    server: str
    dialect: str
    body: str
    source: str


# Gemini says SAFETY in a 200 answer (a candidate's finishReason, or promptFeedback.blockReason with no
# candidates): the gemini dialect must turn both into finish_reason content_filter, a `model` event (docs/failures.md#failure-classes).
GEMINI_SAFETY_ANSWERS = [
    AnswerRow(
        "gemini_finish_reason_safety",
        "Gemini",
        "gemini",
        _j(
            {
                "candidates": [
                    {
                        "finishReason": "SAFETY",
                        "index": 0,
                        "safetyRatings": [
                            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
                        ],
                    }
                ],
                "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
                "modelVersion": "gemini-2.0-flash",
            }
        ),
        "ai.google.dev/api/generate-content#FinishReason (SAFETY)",
    ),
    AnswerRow(
        "gemini_prompt_blocked_safety",
        "Gemini",
        "gemini",
        _j(
            {
                "promptFeedback": {
                    "blockReason": "SAFETY",
                    "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}],
                },
                "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
            }
        ),
        "ai.google.dev/api/generate-content#BlockReason (SAFETY)",
    ),
]


class StreamErrorRow(NamedTuple):
    """An error object that arrives inside a 200 stream (one SSE event), before or after content."""

    id: str
    server: str
    dialect: str
    event: str  # the SSE `event:` field ("message" when the server sends none)
    data: str  # the `data:` payload, exactly
    cls: FailureClass
    kind: Kind
    source: str


# fmt: off
STREAM_ROWS: list[StreamErrorRow] = [
    StreamErrorRow("openrouter_midstream_provider_disconnected", "OpenRouter", "openai", "message",
                   _j({"id": "cmpl-abc123", "object": "chat.completion.chunk", "created": 1702256400, "model": "gpt-3.5-turbo", "provider": "openai", "error": {"code": "server_error", "message": "Provider disconnected unexpectedly"}, "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}),
                   P, Kind.ERROR_CHUNK, "openrouter.ai/docs/api-reference/errors (errors during streaming)"),
    StreamErrorRow("litellm_midstream_529", "LiteLLM proxy", "openai", "message",
                   _litellm("litellm.APIError: APIError: OpenAIException - litellm.MockException: This is a mock error raised mid-stream", None, "529"),
                   P, Kind.SERVER_ERROR, "litellm/proxy/proxy_server.py async_data_generator ('data: {\"error\": ...}'); status as code"),
    StreamErrorRow("litellm_midstream_context_window", "LiteLLM proxy", "openai", "message",
                   _litellm("litellm.ContextWindowExceededError: litellm.BadRequestError: This model's maximum context length is 8192 tokens.", "invalid_request_error", "400"),
                   M, Kind.CONTEXT_LENGTH, "litellm/proxy/proxy_server.py async_data_generator; BerriAI/litellm#10793"),
    StreamErrorRow("vllm_stream_error_response", "vLLM", "openai", "message",
                   _vllm("The engine is dead: EngineCore encountered an issue. See stack trace (above) for the root cause.", "InternalServerError", 500),
                   P, Kind.SERVER_ERROR, "vllm/entrypoints/openai/serving_engine.py create_streaming_error_response; v1/engine/exceptions.py EngineDeadError"),
    StreamErrorRow("tgi_stream_generation_error", "TGI", "openai", "message",
                   _tgi("Request failed during generation: Server error: CUDA out of memory.", "generation"),
                   P, Kind.ERROR_CHUNK, "router/src/infer/mod.rs impl From<InferError> for Event"),
    StreamErrorRow("llama_cpp_stream_server_error", "llama.cpp server", "openai", "message",
                   _llama_cpp(500, "Failed to parse tool call arguments as JSON", "server_error"),
                   P, Kind.SERVER_ERROR, "tools/server/server.cpp (streamed task error as data: {\"error\": ...}) [message paraphrased]"),
    StreamErrorRow("anthropic_event_error_overloaded", "Anthropic", "anthropic", "error",
                   _j({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                   P, Kind.ERROR_CHUNK, "docs.claude.com/en/docs/build-with-claude/streaming (error events)"),
]
# fmt: on
