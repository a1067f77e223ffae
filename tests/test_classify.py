"""classify: the docs/failures.md#failure-classes failure table, one row per rule and per real provider error signature."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcli.execution.classify import (
    TRANSPORT_KINDS,
    Failure,
    Kind,
    cancelled,
    classify_error,
    classify_finish_reason,
    classify_http,
    classify_wire_error,
    parse_retry_after,
    transport_failure,
)
from orcli.types import FailureClass
from orcli.wire.base import MalformedResponse, StreamProtocolError, UpstreamError, UpstreamErrorInBody
from orcli.wire.openai import DIALECT

P, M, R = FailureClass.PROVIDER, FailureClass.MODEL, FailureClass.REQUEST


def http(status: int, body: bytes | str, headers: dict[str, str], **kw: object) -> Failure:
    """What the executor does with a non-2xx answer: the dialect parses the body, classify decides."""
    return classify_http(status, DIALECT.parse_error(status, body), headers, **kw)  # type: ignore[arg-type]


def openai_error(message: str, type_: str | None = "invalid_request_error", code: str | None = None) -> str:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


def anthropic_error(type_: str, message: str) -> str:
    return json.dumps({"type": "error", "error": {"type": type_, "message": message}})


def vllm_error(message: str, type_: str = "BadRequestError", code: int = 400) -> str:
    return json.dumps({"object": "error", "message": message, "type": type_, "param": None, "code": code})


def openrouter_error(code: int, message: str, **metadata: object) -> str:
    error: dict = {"code": code, "message": message}
    if metadata:
        error["metadata"] = metadata
    return json.dumps({"error": error})


def google_error(code: int, message: str, status: str) -> str:
    return json.dumps({"error": {"code": code, "message": message, "status": status}})


# (id, status, body, class, kind): realistic bodies, most verbatim from providers (see reference/*.md).
# fmt: off
ROWS = [
    # -- docs/failures.md#failure-classes: quota or billing refusal, whatever its status -> provider
    ("openrouter_402_credits", 402, openrouter_error(402, "This request requires more credits, or fewer max_tokens. You requested up to 4096 tokens, but can only afford 1000. To increase, visit https://openrouter.ai/settings/credits and upgrade to a paid account"), P, Kind.QUOTA),  # noqa: E501
    ("bare_402_without_body", 402, "", P, Kind.QUOTA),
    ("deepseek_402_insufficient_balance", 402, openai_error("Insufficient Balance", "unknown_error", "invalid_request_error"), P, Kind.QUOTA),  # noqa: E501
    ("openai_429_insufficient_quota", 429, openai_error("You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.", "insufficient_quota", "insufficient_quota"), P, Kind.QUOTA),  # noqa: E501
    ("openai_400_billing_hard_limit", 400, openai_error("Billing hard limit has been reached", code="billing_hard_limit_reached"), P, Kind.QUOTA),  # noqa: E501
    ("anthropic_400_credit_balance", 400, anthropic_error("invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."), P, Kind.QUOTA),  # noqa: E501
    ("gemini_429_resource_exhausted_quota", 429, google_error(429, "You exceeded your current quota, please check your plan and billing details.", "RESOURCE_EXHAUSTED"), P, Kind.QUOTA),  # noqa: E501
    ("403_account_out_of_credits", 403, openai_error("Your account is out of credits.", "permission_error"), P, Kind.QUOTA),  # noqa: E501
    # -- docs/failures.md#failure-classes: HTTP 408, 429, 500, 502, 503, 504, 52x -> provider
    ("408_request_timeout", 408, "", P, Kind.UPSTREAM_TIMEOUT),
    ("openai_429_rate_limit", 429, openai_error("Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2s.", "tokens", "rate_limit_exceeded"), P, Kind.HTTP_429),  # noqa: E501
    ("anthropic_429_rate_limit_error", 429, anthropic_error("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"), P, Kind.HTTP_429),  # noqa: E501
    ("openrouter_429_provider_returned_error", 429, openrouter_error(429, "Provider returned error", raw="z-ai/glm-5.3-flash is temporarily rate-limited upstream. Please retry shortly, or add your own key", provider_name="BaseTen"), P, Kind.HTTP_429),  # noqa: E501
    ("openrouter_429_capacity_exhausted", 429, json.dumps({"error": {"message": "All providers for anthropic/claude-sonnet-4.5 are at capacity. Retry after 40 seconds.", "error_type": "rate_limit_exceeded", "http_status": 429}}), P, Kind.HTTP_429),  # noqa: E501
    ("plain_429_text", 429, "Too Many Requests", P, Kind.HTTP_429),
    ("openai_500", 500, openai_error("The server had an error while processing your request. Sorry about that!", "server_error"), P, Kind.SERVER_ERROR),  # noqa: E501
    ("nginx_502_html", 502, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>", P, Kind.SERVER_ERROR),  # noqa: E501
    ("openrouter_503_no_provider", 503, openrouter_error(503, "There is no available model provider that meets your routing requirements"), P, Kind.SERVER_ERROR),  # noqa: E501
    ("504_gateway_timeout", 504, "upstream request timeout", P, Kind.SERVER_ERROR),
    ("cloudflare_520", 520, "<!DOCTYPE html><html><head><title>example.com | 520: Web server is returning an unknown error</title></head></html>", P, Kind.SERVER_ERROR),  # noqa: E501
    ("cloudflare_522", 522, "error code: 522", P, Kind.SERVER_ERROR),
    ("openrouter_524", 524, openrouter_error(524, "Infrastructure Timeout"), P, Kind.SERVER_ERROR),
    ("anthropic_529_overloaded", 529, anthropic_error("overloaded_error", "Overloaded"), P, Kind.SERVER_ERROR),
    ("500_with_a_context_phrase_is_still_provider", 500, openai_error("maximum context length is 4096 tokens"), P, Kind.SERVER_ERROR),  # noqa: E501
    # -- docs/failures.md#failure-classes: HTTP 401, 403 (not moderation), 402, 404 -> provider
    ("openai_401_invalid_key", 401, openai_error("Incorrect API key provided: sk-proj-****abcd. You can find your API key at https://platform.openai.com/account/api-keys.", code="invalid_api_key"), P, Kind.AUTH),  # noqa: E501
    ("anthropic_401", 401, anthropic_error("authentication_error", "invalid x-api-key"), P, Kind.AUTH),
    ("anthropic_403_permission", 403, anthropic_error("permission_error", "Your API key does not have permission to use the specified resource."), P, Kind.AUTH),  # noqa: E501
    ("openrouter_403_region", 403, json.dumps({"error": {"code": 403, "message": "This model is not available in your region.", "error_type": "permission_denied"}}), P, Kind.AUTH),  # noqa: E501
    ("openai_404_model_not_found", 404, openai_error("The model `gpt-5x` does not exist or you do not have access to it.", code="model_not_found"), P, Kind.NOT_FOUND),  # noqa: E501
    ("vllm_404", 404, vllm_error("The model `llama-3` does not exist.", "NotFoundError", 404), P, Kind.NOT_FOUND),
    ("openrouter_404_data_policy", 404, openrouter_error(404, "No endpoints found matching your data policy. Check your settings: https://openrouter.ai/settings/privacy"), P, Kind.NOT_FOUND),  # noqa: E501
    ("ollama_404_not_pulled", 404, json.dumps({"error": 'model "llama3" not found, try pulling it first'}), P, Kind.NOT_FOUND),  # noqa: E501
    ("gemini_400_bad_key_is_auth", 400, google_error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT"), P, Kind.AUTH),  # noqa: E501
    ("openrouter_400_unknown_model_is_provider", 400, openrouter_error(400, "foo/bar is not a valid model ID"), P, Kind.NOT_FOUND),  # noqa: E501
    # -- docs/failures.md#failure-classes: context length exceeded (400/413 whose error says so) -> model
    ("openai_400_context_code", 400, openai_error("This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.", code="context_length_exceeded"), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("openai_400_context_message_only", 400, openai_error("This model's maximum context length is 8192 tokens. However, you requested 9100 tokens"), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("openai_responses_context_window", 400, openai_error("Your input exceeds the context window of this model. Please adjust your input and try again.", code="context_length_exceeded"), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("anthropic_prompt_is_too_long", 400, anthropic_error("invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("vllm_maximum_context_length", 400, vllm_error("This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion."), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("vllm_too_long_to_fit", 400, vllm_error("The prompt (total length 5000) is too long to fit into the model (context length 4096). Make sure that `max_model_len` is no smaller than the number of text tokens."), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("groq_reduce_the_length", 400, openai_error("Please reduce the length of the messages or completion.", code="context_length_exceeded"), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("together_tgi_inputs_plus_max_new_tokens", 400, openai_error("Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8193. Given: 8000 `inputs` tokens and 1000 `max_new_tokens`"), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("tgi_422_string_error", 422, json.dumps({"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 500 `max_new_tokens`", "error_type": "validation"}), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("mistral_too_large_for_model", 400, vllm_error("Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 maximum context length", "invalid_request_error"), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("gemini_input_token_count", 400, google_error(400, "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).", "INVALID_ARGUMENT"), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("llama_cpp_exceed_context_size", 400, json.dumps({"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": 5000, "n_ctx": 4096}}), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("llama_cpp_old_phrasing", 400, json.dumps({"error": {"code": 400, "message": "request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it", "type": "invalid_request_error"}}), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("ollama_input_length", 400, json.dumps({"error": {"message": "the input length exceeds the context length", "type": "invalid_request_error"}}), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("cohere_too_many_tokens", 400, json.dumps({"message": "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 5000. Try using a shorter prompt, or enabling prompt truncating."}), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("bedrock_input_is_too_long", 400, json.dumps({"message": "Input is too long for requested model."}), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("openrouter_endpoint_maximum_context_length", 400, json.dumps({"error": {"message": "This endpoint's maximum context length is 262000 tokens. However, you requested about 263390 tokens (658 of text input, 732 of tool input, 262000 in the output). Please reduce the length of either one, or use the context-compression plugin to compress your prompt automatically.", "code": 400, "metadata": {"provider_name": None}}}), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("openrouter_wrapped_context_in_metadata_raw", 400, openrouter_error(400, "Provider returned error", raw=openai_error("This model's maximum context length is 32768 tokens.", code="context_length_exceeded"), provider_name="DeepInfra"), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("openrouter_typed_context_error_type", 400, json.dumps({"error": {"code": 400, "message": "Request too large", "metadata": {"error_type": "context_length_exceeded"}}}), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    ("plain_text_context_body", 400, "Error: prompt too long for this model", M, Kind.CONTEXT_LENGTH),
    ("413_context", 413, openai_error("Please reduce the length of the messages or completion.", code="context_length_exceeded"), M, Kind.CONTEXT_LENGTH),  # noqa: E501
    # -- moderation / content policy refusal -> model
    ("openrouter_403_moderation_reasons", 403, openrouter_error(403, 'meta-llama/llama-3.1-8b-instruct requires moderation on Groq. Your input was flagged for "violence". No credits were charged.', reasons=["violence"], flagged_input="how do I ...", provider_name="Groq", model_slug="meta-llama/llama-3.1-8b-instruct"), M, Kind.MODERATION),  # noqa: E501
    ("openrouter_403_moderation_old_text", 403, openrouter_error(403, "Your chosen model requires moderation and your input was flagged"), M, Kind.MODERATION),  # noqa: E501
    ("openai_400_prompt_flagged", 400, openai_error("Invalid prompt: your prompt was flagged as potentially violating our usage policy. Please try again with a different prompt.", code="invalid_prompt"), M, Kind.MODERATION),  # noqa: E501
    ("azure_400_content_filter", 400, json.dumps({"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.", "type": None, "param": "prompt", "code": "content_filter", "status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation"}}}), M, Kind.MODERATION),  # noqa: E501
    ("openai_400_content_policy_violation", 400, openai_error("Your request was rejected as a result of our safety system.", code="content_policy_violation"), M, Kind.MODERATION),  # noqa: E501
    ("anthropic_400_content_filtering", 400, anthropic_error("invalid_request_error", "Output blocked by content filtering policy"), M, Kind.MODERATION),  # noqa: E501
    ("openrouter_typed_moderation", 400, json.dumps({"error": {"code": 400, "message": "Blocked", "metadata": {"error_type": "content_policy_violation"}}}), M, Kind.MODERATION),  # noqa: E501
    # -- any other 400 / 422 -> request
    ("unknown_parameter_400", 400, json.dumps({"error": {"message": "Unknown parameter: foo"}}), R, Kind.BAD_REQUEST),
    ("openai_invalid_temperature", 400, openai_error("Invalid value for 'temperature': expected a number between 0 and 2."), R, Kind.BAD_REQUEST),  # noqa: E501
    ("openrouter_unrecognized_key", 400, json.dumps({"error": {"message": "Unrecognized key(s) in object: 'Require_Parameters'", "code": 400}}), R, Kind.BAD_REQUEST),  # noqa: E501
    ("fastapi_422_validation", 422, json.dumps({"detail": [{"type": "missing", "loc": ["body", "messages"], "msg": "Field required", "input": {}}]}), R, Kind.BAD_REQUEST),  # noqa: E501
    ("empty_400", 400, "", R, Kind.BAD_REQUEST),
    # -- other statuses: 4xx about the request -> request; 4xx about the server, 3xx, 5xx -> provider
    ("409_conflict_is_request", 409, "conflict", R, Kind.BAD_REQUEST),
    ("418_teapot_is_request", 418, "I'm a teapot", R, Kind.BAD_REQUEST),
    ("410_gone_model_retired_is_provider", 410, openai_error("The model `text-davinci-003` has been deprecated"), P, Kind.NOT_FOUND),  # noqa: E501
    ("405_wrong_base_url_is_provider", 405, "Method Not Allowed", P, Kind.HTTP_STATUS),
    ("413_proxy_body_limit_is_provider", 413, "<html><head><title>413 Request Entity Too Large</title></head><body>nginx</body></html>", P, Kind.HTTP_STATUS),  # noqa: E501
    ("groq_413_tokens_per_minute_is_rate_limit", 413, json.dumps({"error": {"message": "Request too large for model `llama-3.1-8b-instant` in organization `org_01abc` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Requested 12000, please reduce your message size and try again. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing", "type": "tokens", "code": "rate_limit_exceeded"}}), P, Kind.HTTP_429),  # noqa: E501
    ("451_legal_is_provider", 451, "Unavailable For Legal Reasons", P, Kind.HTTP_STATUS),
    ("301_redirect_is_provider", 301, "", P, Kind.HTTP_STATUS),
    ("599_unknown_5xx_is_provider", 599, "", P, Kind.SERVER_ERROR),
]
# fmt: on


@pytest.mark.parametrize(("status", "body", "cls", "kind"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_http_failure_is_classified_per_spec_section_6(status: int, body: str, cls: FailureClass, kind: Kind) -> None:
    failure = http(status, body, {})
    assert (failure.cls, failure.kind) == (cls, kind)
    assert failure.status == status


@pytest.mark.parametrize(("status", "body", "cls", "kind"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bytes_bodies_classify_like_text_bodies(status: int, body: str, cls: FailureClass, kind: Kind) -> None:
    assert http(status, body.encode(), {}) == http(status, body, {})


def test_the_matched_rule_is_recorded() -> None:
    body = openai_error("This model's maximum context length is 8192 tokens.", code="context_length_exceeded")
    assert http(400, body, {}).rule == "code context_length_exceeded"
    assert http(400, "prompt is too long", {}).rule == "message 'prompt is too long'"
    assert http(503, "", {}).rule == "status 503"


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (403, openrouter_error(403, "Your chosen model requires moderation and your input was flagged"), M),
        (403, anthropic_error("permission_error", "Your API key does not have permission."), P),
        (403, openrouter_error(403, "Key limit exceeded: insufficient credits"), P),
    ],
    ids=["403_moderation_is_model", "403_auth_is_provider", "403_credits_is_provider"],
)
def test_403_moderation_is_told_from_403_auth(status: int, body: str, cls: FailureClass) -> None:
    assert http(status, body, {}).cls is cls


@pytest.mark.parametrize(
    ("body", "cls", "kind"),
    [
        (anthropic_error("invalid_request_error", "Your credit balance is too low."), P, Kind.QUOTA),
        (
            anthropic_error("invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"),
            M,
            Kind.CONTEXT_LENGTH,
        ),  # noqa: E501
        (anthropic_error("invalid_request_error", "messages: roles must alternate"), R, Kind.BAD_REQUEST),
    ],
    ids=["400_billing_is_provider", "400_context_is_model", "400_other_is_request"],
)
def test_400_billing_and_context_and_other_are_three_classes(body: str, cls: FailureClass, kind: Kind) -> None:
    failure = http(400, body, {})
    assert (failure.cls, failure.kind) == (cls, kind)


# -- Retry-After -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "7"}, 7.0),
        ({"RETRY-AFTER": " 12 "}, 12.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "3", "retry-after-ms": "1500"}, 3.0),
        ({}, None),
    ],
)
def test_retry_after_seconds_are_parsed_case_insensitively(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_http_date_becomes_a_delay_given_now() -> None:
    now = 1445412468.0  # Wed, 21 Oct 2015 07:27:48 GMT
    headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    assert parse_retry_after(headers, now=now) == 12.0
    assert parse_retry_after(headers, now=now + 60) == 0.0  # a date in the past means "now"
    assert parse_retry_after(headers) is None  # no clock here: without `now` a date is ignored


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_carry_retry_after(status: int) -> None:
    assert http(status, "", {"Retry-After": "7"}).retry_after == 7.0


@pytest.mark.parametrize("status", [500, 502, 400, 401])
def test_other_statuses_ignore_retry_after(status: int) -> None:
    assert http(status, "", {"Retry-After": "7"}).retry_after is None


def test_httpx_headers_are_accepted() -> None:
    headers = httpx.Headers({"Retry-After": "30", "Content-Type": "application/json"})
    failure = http(429, openai_error("slow down", code="rate_limit_exceeded"), headers)
    assert failure.retry_after == 30.0


def test_retry_after_date_in_classify_http_uses_now() -> None:
    headers = {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}
    assert http(503, "", headers, now=1445412468.0).retry_after == 12.0


# -- messages shown to users -----------------------------------------------------------------------


def test_message_names_the_status_and_the_upstream_message() -> None:
    failure = http(400, json.dumps({"error": {"message": "Unknown parameter: foo"}}), {})
    assert failure.message == "HTTP 400: Unknown parameter: foo"


def test_message_for_an_empty_body_uses_the_status_phrase() -> None:
    assert http(502, b"", {}).message == "HTTP 502 Bad Gateway"
    assert http(529, b"", {}).message == "HTTP 529"
    assert http(502, b"<html><title>502 Bad Gateway</title></html>", {}).message == "HTTP 502 Bad Gateway"


def test_openrouter_wrapper_message_is_replaced_by_the_upstream_one_and_names_the_provider() -> None:
    body = openrouter_error(
        429, "Provider returned error", raw="temporarily rate-limited upstream", provider_name="BaseTen"
    )
    assert http(429, body, {}).message == "HTTP 429: temporarily rate-limited upstream [BaseTen]"


def test_message_is_one_short_line() -> None:
    body = openai_error("line one\nline two\r\n" + "word " * 200)
    message = http(400, body, {}).message
    assert "\n" not in message and "\r" not in message
    assert len(message) <= 300


def test_a_key_echoed_in_an_error_body_is_redacted() -> None:
    key = "local-secret-key-0001"
    body = json.dumps({"detail": f"bad header Authorization: Bearer {key} (key {key})"})
    message = http(401, body, {}, secrets=[key]).message
    assert key not in message
    assert "[REDACTED]" in message


def test_a_key_at_the_truncation_point_is_never_half_shown() -> None:
    key = "zq7Xw9Lm2Np4Rt6Vb8Yc1Df3Gh5Jk"
    for pad in range(240, 300, 3):
        message = http(401, "x" * pad + " " + key + " tail", {}, secrets=[key]).message
        assert key[:6] not in message


@given(
    status=st.integers(100, 999),
    body=st.one_of(st.binary(max_size=400), st.text(max_size=400)),
    headers=st.dictionaries(st.sampled_from(["Retry-After", "retry-after-ms", "X"]), st.text(max_size=40)),
)
def test_classify_http_never_raises_and_always_gives_a_short_line(status: int, body: object, headers: dict) -> None:
    failure = http(status, body, headers, now=0.0)  # type: ignore[arg-type]
    assert isinstance(failure, Failure)
    assert len(failure.message) <= 300
    assert "\n" not in failure.message


# -- errors inside a 200: JSON body, SSE error chunk, finish_reason ------------------------------------


@pytest.mark.parametrize(
    ("error", "cls", "kind", "status"),
    [
        (UpstreamError("Rate limit exceeded", type="rate_limit_exceeded", code="429"), P, Kind.HTTP_429, 429),
        (UpstreamError("the request exceeds the available context size", code="400"), M, Kind.CONTEXT_LENGTH, 400),
        (UpstreamError("This model's maximum context length is 4096 tokens."), M, Kind.CONTEXT_LENGTH, None),
        (UpstreamError("Output blocked by content filtering policy"), M, Kind.MODERATION, None),
        (UpstreamError("Internal error", code="500"), P, Kind.SERVER_ERROR, 500),
        (UpstreamError("something odd happened"), P, Kind.ERROR_CHUNK, None),
        (UpstreamError("weird", code="server_error"), P, Kind.ERROR_CHUNK, None),
    ],
    ids=[
        "chunk_429",
        "chunk_context_400",
        "chunk_context_no_code",
        "chunk_moderation",
        "chunk_500",
        "chunk_unknown",
        "chunk_string_code",
    ],  # noqa: E501
)
def test_error_inside_a_200_is_classified_by_its_code_and_signatures(
    error: UpstreamError, cls: FailureClass, kind: Kind, status: int | None
) -> None:
    failure = classify_error(error)
    assert (failure.cls, failure.kind, failure.status) == (cls, kind, status)
    assert failure.message.startswith("upstream error")


def test_wire_errors_become_provider_failures_unless_the_body_carries_a_recognised_error() -> None:
    assert classify_wire_error(MalformedResponse("response has no choices")).kind == Kind.MALFORMED
    assert classify_wire_error(StreamProtocolError("stream chunk is not JSON")).cls is P
    embedded = UpstreamErrorInBody(UpstreamError("prompt is too long", code="400"))
    assert classify_wire_error(embedded).cls is M


def test_finish_reason_content_filter_is_a_model_failure() -> None:
    failure = classify_finish_reason("content_filter")
    assert failure is not None and (failure.cls, failure.kind) == (M, Kind.MODERATION)


def test_finish_reason_error_is_a_provider_failure() -> None:
    failure = classify_finish_reason("error")
    assert failure is not None and (failure.cls, failure.kind) == (P, Kind.FINISH_ERROR)


@pytest.mark.parametrize("reason", [None, "stop", "length", "tool_calls", "end_turn"])
def test_normal_finish_reasons_are_not_failures(reason: str | None) -> None:
    assert classify_finish_reason(reason) is None


# -- transport -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(TRANSPORT_KINDS))
def test_every_transport_failure_is_a_provider_failure(kind: str) -> None:
    failure = transport_failure(kind, "first_token timeout after 1.0s")
    assert (failure.cls, failure.kind, failure.status) == (P, kind, None)


def test_an_unknown_transport_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown transport failure kind"):
        transport_failure("timeout_firsttoken", "x")


def test_transport_messages_are_redacted() -> None:
    failure = transport_failure("connect", "connect to https://x?api_key=k3y-value-1 failed", secrets=["k3y-value-1"])
    assert "k3y-value-1" not in failure.message


def test_cancelled_is_its_own_class() -> None:
    assert cancelled().cls is FailureClass.CANCELLED


def test_classify_depends_on_the_neutral_wire_model_only() -> None:
    """Any dialect's errors go through the same classifier (docs/dialects.md): it imports no dialect, and no httpx."""
    import subprocess
    import sys

    probe = "import sys, orcli.execution.classify; print(sorted(m for m in sys.modules if m.startswith(('orcli', 'httpx'))))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(eval(done.stdout))
    assert "orcli.wire.base" in loaded, loaded
    assert not {m for m in loaded if m.startswith("httpx") or m in ("orcli.wire.openai", "orcli.execution.executor")}, (
        loaded
    )


def test_an_upstream_error_from_any_dialect_is_classified_by_its_fields() -> None:
    """What an Anthropic or Gemini dialect would hand over: the neutral fields decide, not the body's shape."""
    overloaded = UpstreamError("Overloaded", type="overloaded_error", status=529)
    assert (classify_http(529, overloaded, {}).cls, classify_http(529, overloaded, {}).kind) == (P, Kind.SERVER_ERROR)
    bad_key = UpstreamError(
        "API key not valid. Please pass a valid API key.",
        type="INVALID_ARGUMENT",
        reasons=("API_KEY_INVALID",),
        status=400,
    )
    failure = classify_http(400, bad_key, {})
    assert (failure.cls, failure.kind, failure.message) == (
        P,
        Kind.AUTH,
        "HTTP 400: API key not valid. Please pass a valid API key.",
    )
