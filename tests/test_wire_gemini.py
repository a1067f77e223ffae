"""The Gemini dialect: exact request bodies, answer and stream decoding, errors and their classes.

Payloads follow ai.google.dev /api/generate-content, /gemini-api/docs/thinking, /gemini-api/docs/function-calling
and /gemini-api/docs/generate-content/api-errors.
"""

from __future__ import annotations

import json

import pytest

from orcli.execution.classify import Kind, classify_error
from orcli.types import FailureClass
from orcli.wire.base import (
    ChatRequest,
    Delta,
    MalformedResponse,
    SSEEvent,
    ToolCall,
    ToolCallDelta,
    UpstreamErrorInBody,
    Usage,
)
from tests.wire_cases import HELLO, classified, dialect_case
from tests.wire_signing import signed

BASE = "https://generativelanguage.googleapis.com/v1beta"
D, PROVIDER, ENDPOINT = dialect_case("gemini", "google", BASE, "google/gemini-2.5-flash", "gemini-2.5-flash")
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def body_of(request: ChatRequest) -> dict:
    return json.loads(signed(D, PROVIDER, ENDPOINT, request, "AIza-test", False).body)


# --- requests -------------------------------------------------------------------------------------


def test_urls_and_the_key_header_never_in_the_url() -> None:
    plain = signed(D, PROVIDER, ENDPOINT, ChatRequest(HELLO), "AIza-test", False)
    assert plain.url == f"{BASE}/models/gemini-2.5-flash:generateContent"
    streamed = signed(
        D, PROVIDER, ENDPOINT._replace(upstream_model="models/gemini-2.5-pro"), ChatRequest(HELLO), "AIza-test", True
    )
    assert streamed.url == f"{BASE}/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    tuned = signed(
        D, PROVIDER, ENDPOINT._replace(upstream_model="tunedModels/my-model"), ChatRequest(HELLO), "k", False
    )
    assert tuned.url == f"{BASE}/tunedModels/my-model:generateContent"
    for req in (plain, streamed):
        assert req.headers["x-goog-api-key"] == "AIza-test"
        assert "key=" not in req.url and "AIza" not in req.url
        assert not any(k.lower() == "authorization" for k in req.headers)
    assert json.loads(plain.body) == {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}


def test_system_and_options_map_to_system_instruction_and_generation_config() -> None:
    request = ChatRequest(
        HELLO,
        system="Be brief.",
        options={
            "temperature": 0.3,
            "top_p": 0.9,
            "top_k": 40,
            "max_tokens": 100,
            "stop": ["END", "STOP"],
            "seed": 7,
            "presence_penalty": 0.1,
            "logit_bias": {"50256": -100},  # no Gemini equivalent: dropped
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],  # native
        },
    )
    assert body_of(request) == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "temperature": 0.3,
            "topP": 0.9,
            "topK": 40,
            "maxOutputTokens": 100,
            "seed": 7,
            "presencePenalty": 0.1,
            "stopSequences": ["END", "STOP"],
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }


def test_reasoning_effort_is_a_thinking_config() -> None:
    config = body_of(ChatRequest(HELLO, options={"reasoning_effort": "medium"}))["generationConfig"]
    assert config == {"thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True}}
    config = body_of(ChatRequest(HELLO, options={"reasoning_effort": "none"}))["generationConfig"]
    assert config == {"thinkingConfig": {"thinkingBudget": 0}}


def test_schema_and_json_mode() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": False}
    config = body_of(ChatRequest(HELLO, schema=schema))["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema}
    config = body_of(ChatRequest(HELLO, options={"response_format": {"type": "json_object"}}))["generationConfig"]
    assert config == {"responseMimeType": "application/json"}


def test_tools_and_tool_choice() -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    body = body_of(ChatRequest(HELLO, tools=(TOOL,), options={"tool_choice": named}))
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather in a city",
                    "parametersJsonSchema": TOOL["function"]["parameters"],
                }
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    assert "generationConfig" not in body  # tool_choice is not a generation option


def test_conversation_roles_tool_calls_and_results() -> None:
    messages = (
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_0", "content": '{"temp": 18}'},
        {"role": "assistant", "content": "18C."},
        {"role": "user", "content": "Thanks"},
    )
    assert body_of(ChatRequest(messages))["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 18}}}]},
        {"role": "model", "parts": [{"text": "18C."}]},
        {"role": "user", "parts": [{"text": "Thanks"}]},
    ]


# --- answers --------------------------------------------------------------------------------------

RESPONSE = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {"text": "**Weighing the greeting**", "thought": True},
                    {"text": "Hello! How can I help?"},
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 4,
        "candidatesTokenCount": 8,
        "thoughtsTokenCount": 30,
        "totalTokenCount": 42,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "abc",
}


def test_answer_text_thoughts_usage_and_model() -> None:
    answer = D.decode_answer(json.dumps(RESPONSE).encode())
    assert answer.content == "Hello! How can I help?"
    assert answer.reasoning == "**Weighing the greeting**"
    assert answer.finish_reason == "stop"
    assert answer.usage == Usage(4, 38)  # thinking tokens are billed as output
    assert answer.model == "gemini-2.5-flash"


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "malformed_function_call"),
    ],
)
def test_finish_reasons_map_to_openai_values(reason: str, finish: str) -> None:
    body = {**RESPONSE, "candidates": [{**RESPONSE["candidates"][0], "finishReason": reason}]}
    assert D.decode_answer(json.dumps(body).encode()).finish_reason == finish


def test_a_candidate_blocked_before_any_content() -> None:
    body = {"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": []}], "usageMetadata": {}}
    answer = D.decode_answer(json.dumps(body).encode())
    assert (answer.content, answer.finish_reason) == ("", "content_filter")


def test_function_calls_become_openai_tool_calls() -> None:
    parts = [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
    body = {**RESPONSE, "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP"}]}
    answer = D.decode_answer(json.dumps(body).encode())
    assert answer.tool_calls == (ToolCall("call_0", "get_weather", '{"city":"Paris"}'),)
    assert answer.finish_reason == "tool_calls"
    assert answer.content is None


def test_a_blocked_prompt_is_a_moderation_error_in_the_body() -> None:
    body = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 9}}
    with pytest.raises(UpstreamErrorInBody) as info:
        D.decode_answer(json.dumps(body).encode())
    err = info.value.error
    assert err.code == "content_filter" and err.type == "PROHIBITED_CONTENT"
    assert "PROHIBITED_CONTENT" in err.message
    failure = classify_error(err)
    assert (failure.cls, failure.kind) == (FailureClass.MODEL, Kind.MODERATION)


def test_malformed_bodies() -> None:
    for bad in (b"nope", b"[1]", b"{}", b'{"candidates": "x"}'):
        with pytest.raises(MalformedResponse):
            D.decode_answer(bad)


# --- streams --------------------------------------------------------------------------------------


def chunk(parts: list[dict], finish: str | None = None, usage: dict | None = None) -> SSEEvent:
    candidate: dict = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body: dict = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash"}
    if usage:
        body["usageMetadata"] = usage
    return SSEEvent(json.dumps(body))


def test_stream_thoughts_text_finish_usage_and_end() -> None:
    decoder = D.event_decoder()
    events = [
        chunk([{"text": "Thinking about it", "thought": True}], usage={"promptTokenCount": 4}),
        chunk([{"text": "Hello"}]),
        chunk(
            [{"text": " there"}], "STOP", {"promptTokenCount": 4, "candidatesTokenCount": 2, "thoughtsTokenCount": 5}
        ),
    ]
    deltas = [d for e in events for d in decoder.decode(e)]
    assert "".join(d.reasoning for d in deltas) == "Thinking about it"
    assert "".join(d.content for d in deltas) == "Hello there"
    assert [d.done for d in deltas] == [False, False, False, True]
    assert deltas[-1] == Delta(done=True)  # the end carries nothing a reader stopping at it would lose
    assert deltas[-2].finish_reason == "stop"
    assert deltas[-2].usage == Usage(4, 7)
    assert deltas[0].model == "gemini-2.5-flash"


def test_stream_function_calls_are_numbered_tool_call_deltas() -> None:
    decoder = D.event_decoder()
    events = [
        chunk([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]),
        chunk([{"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}], "STOP"),
    ]
    deltas = [d for e in events for d in decoder.decode(e)]
    assert [t for d in deltas for t in d.tool_calls] == [
        ToolCallDelta(0, "call_0", "get_weather", '{"city":"Paris"}'),
        ToolCallDelta(1, "call_1", "get_weather", '{"city":"Rome"}'),
    ]
    assert deltas[-2].finish_reason == "tool_calls"


def test_stream_blocked_prompt_and_error_objects_are_error_deltas() -> None:
    decoder = D.event_decoder()
    [blocked] = decoder.decode(SSEEvent(json.dumps({"promptFeedback": {"blockReason": "SAFETY"}})))
    assert blocked.error is not None and classify_error(blocked.error).cls is FailureClass.MODEL
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    [failed] = decoder.decode(SSEEvent(json.dumps(error)))
    assert failed.error is not None and failed.error.code == "UNAVAILABLE"
    assert classify_error(failed.error).cls is FailureClass.PROVIDER


def test_stream_safety_stop_mid_answer_is_content_filter() -> None:
    delta, end = D.event_decoder().decode(chunk([{"text": "Sure, here"}], "SAFETY"))
    assert end.done
    assert (delta.content, delta.finish_reason) == ("Sure, here", "content_filter")


# --- errors and their classes (docs/failures.md#failure-classes) -----------------------------------------------------------


def google_error(code: int, status: str, message: str, reason: str | None = None, retry: str | None = None) -> bytes:
    details = []
    if reason:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}
        )
    if retry:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry})
    return json.dumps({"error": {"code": code, "message": message, "status": status, "details": details}}).encode()


@pytest.mark.parametrize(
    ("status", "body", "cls", "kind"),
    [
        (
            429,
            google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", retry="37s"),
            FailureClass.PROVIDER,
            Kind.HTTP_429,
        ),
        (
            400,
            google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID"),
            FailureClass.PROVIDER,
            Kind.AUTH,
        ),
        (
            400,
            google_error(400, "INVALID_ARGUMENT", "The key is wrong.", "API_KEY_INVALID"),
            FailureClass.PROVIDER,
            Kind.AUTH,
        ),
        (
            400,
            google_error(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            ),
            FailureClass.MODEL,
            Kind.CONTEXT_LENGTH,
        ),
        (
            400,
            google_error(400, "INVALID_ARGUMENT", "Invalid value at 'generation_config.temperature' (TYPE_FLOAT)"),
            FailureClass.REQUEST,
            Kind.BAD_REQUEST,
        ),
        (
            403,
            google_error(
                403, "PERMISSION_DENIED", "Generative Language API has not been used in project 1.", "SERVICE_DISABLED"
            ),
            FailureClass.PROVIDER,
            Kind.AUTH,
        ),
        (
            404,
            google_error(404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta"),
            FailureClass.PROVIDER,
            Kind.NOT_FOUND,
        ),
        (
            400,
            google_error(
                400,
                "FAILED_PRECONDITION",
                "Gemini API free tier is not available in your country. "
                "Please enable billing on your project in Google AI Studio.",
            ),
            FailureClass.PROVIDER,
            Kind.QUOTA,
        ),
        (
            402,
            google_error(402, "RESOURCE_EXHAUSTED", "Your prepayment credits are depleted."),
            FailureClass.PROVIDER,
            Kind.QUOTA,
        ),
        (
            500,
            google_error(500, "INTERNAL", "An internal error has occurred."),
            FailureClass.PROVIDER,
            Kind.SERVER_ERROR,
        ),
        (503, google_error(503, "UNAVAILABLE", "The model is overloaded."), FailureClass.PROVIDER, Kind.SERVER_ERROR),
    ],
)
def test_error_bodies_parse_and_classify(status: int, body: bytes, cls: FailureClass, kind: Kind) -> None:
    err = D.parse_error(status, body)
    assert err.status == status
    assert classified(status, err) == (cls, kind)


def test_error_fields_status_is_the_code_and_reasons_come_from_error_info() -> None:
    err = D.parse_error(400, google_error(400, "INVALID_ARGUMENT", "API key not valid.", "API_KEY_INVALID"))
    assert (err.code, err.type, err.reasons) == ("INVALID_ARGUMENT", "INVALID_ARGUMENT", ("API_KEY_INVALID",))
    wrapped = b"[" + google_error(429, "RESOURCE_EXHAUSTED", "slow down") + b"]"
    assert D.parse_error(429, wrapped).code == "RESOURCE_EXHAUSTED"
    assert D.parse_error(502, b"Bad Gateway\n").message == "Bad Gateway"
