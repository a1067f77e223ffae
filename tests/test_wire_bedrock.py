"""The Bedrock Converse dialect: exact request bodies, answer and stream decoding, errors and their classes.

Payloads follow the Bedrock Runtime API reference (Converse, ConverseStream, Errors).
"""

from __future__ import annotations

import json

import pytest

from orcli.execution.classify import Kind, classify_error, classify_finish_reason, classify_http
from orcli.types import Endpoint, FailureClass
from orcli.wire import bedrock, bedrock_request
from orcli.wire.base import ChatRequest, MalformedResponse, SSEEvent, StreamProtocolError, ToolCall, ToolCallDelta
from tests.wire_cases import HELLO

CLAUDE = Endpoint(model="claude", provider="bedrock", upstream_model="anthropic.claude-sonnet-4-5-20250929-v1:0")
NOVA = Endpoint(model="nova", provider="bedrock", upstream_model="amazon.nova-pro-v1:0")
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}},
}


def body(request: ChatRequest, endpoint: Endpoint = CLAUDE) -> dict:
    return json.loads(bedrock.encode(bedrock.build_body(endpoint, request)))


# --- requests -------------------------------------------------------------------------------------


def test_path_escapes_the_model_id_whole() -> None:
    url = bedrock.model_path("https://bedrock-runtime.us-east-1.amazonaws.com", CLAUDE.upstream_model, True)
    assert url == (
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream"
    )
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-x"
    assert (
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-x/converse"
        in (bedrock.model_path("https://h", arn, False))
    )


def test_messages_system_and_inference_config() -> None:
    request = ChatRequest(
        ({"role": "system", "content": "Be brief."}, *HELLO),
        system="You are terse.",
        options={"max_tokens": 100, "temperature": 0.2, "top_p": 0.9, "stop": "END", "top_k": 5, "seed": 3},
    )
    assert body(request) == {
        "messages": [{"role": "user", "content": [{"text": "Hello"}]}],
        "system": [{"text": "You are terse."}, {"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 100, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
        # the rest of -o goes to the model; OpenAI's seed has no Bedrock form (a model would refuse it): dropped
        "additionalModelRequestFields": {"top_k": 5},
    }


def test_tool_calls_and_results_become_tool_use_and_tool_result_blocks() -> None:
    history = (
        *HELLO,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": '{"temp": 3}'},
        {"role": "user", "content": "and tomorrow?"},
    )
    sent = body(ChatRequest(history, tools=(WEATHER,), options={"tool_choice": "required"}))
    assert sent["messages"] == [
        {"role": "user", "content": [{"text": "Hello"}]},
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Oslo"}}}],
        },
        # the tool result and the next user text share one user turn: Converse wants roles to alternate
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "t1", "content": [{"json": {"temp": 3}}]}},
                {"text": "and tomorrow?"},
            ],
        },
    ]
    assert sent["toolConfig"] == {
        "tools": [
            {"toolSpec": {"name": "get_weather", "description": "Weather", "inputSchema": {"json": {"type": "object"}}}}
        ],
        "toolChoice": {"any": {}},
    }
    assert "additionalModelRequestFields" not in sent


def test_schema_is_a_forced_tool_and_reasoning_is_model_specific() -> None:
    sent = body(ChatRequest(HELLO, schema={"type": "object"}))
    assert sent["toolConfig"]["toolChoice"] == {"tool": {"name": bedrock.SCHEMA_TOOL}}
    claude = body(ChatRequest(HELLO, options={"reasoning_effort": "low", "temperature": 0.5}))
    assert claude["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    # maxTokens grown to leave room for an answer; temperature dropped (Claude refuses it with thinking on)
    assert claude["inferenceConfig"] == {"maxTokens": 2048 + bedrock_request.DEFAULT_MAX_TOKENS}
    nova = body(ChatRequest(HELLO, options={"reasoning_effort": "high"}), NOVA)
    assert nova["additionalModelRequestFields"] == {
        "reasoningConfig": {"type": "enabled", "maxReasoningEffort": "high"}
    }


def test_native_converse_fields_stay_top_level() -> None:
    guard = {"guardrailIdentifier": "g1", "guardrailVersion": "1"}
    sent = body(ChatRequest(HELLO, options={"guardrailConfig": guard, "additionalModelRequestFields": {"x": 1}}))
    assert sent["guardrailConfig"] == guard and sent["additionalModelRequestFields"] == {"x": 1}


# --- answers --------------------------------------------------------------------------------------


def answer(content: list, stop: str = "end_turn") -> bytes:
    return json.dumps(
        {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": {"inputTokens": 12, "outputTokens": 4, "totalTokens": 16, "cacheReadInputTokens": 3},
            "metrics": {"latencyMs": 100},
        }
    ).encode()


def test_decode_text_reasoning_tool_use_and_usage() -> None:
    got = bedrock.decode_answer(
        answer(
            [
                {"reasoningContent": {"reasoningText": {"text": "Think.", "signature": "x"}}},
                {"text": "Hi"},
                {"toolUse": {"toolUseId": "tu1", "name": "f", "input": {"a": 1}}},
            ],
            "tool_use",
        )
    )
    assert (got.content, got.reasoning, got.finish_reason) == ("Hi", "Think.", "tool_calls")
    assert got.tool_calls == (ToolCall("tu1", "f", '{"a":1}'),)
    assert (got.usage.prompt_tokens, got.usage.completion_tokens) == (15, 4)  # type: ignore[union-attr]


def test_a_guardrail_stop_is_a_moderation_failure() -> None:
    got = bedrock.decode_answer(answer([{"text": "Sorry."}], "guardrail_intervened"))
    failure = classify_finish_reason(got.finish_reason)
    assert failure is not None and (failure.cls, failure.kind) == (FailureClass.MODEL, Kind.MODERATION)
    assert bedrock.decode_answer(answer([{"text": "x"}], "content_filtered")).finish_reason == "content_filter"


def test_a_body_without_output_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        bedrock.decode_answer(b'{"usage": {}}')


# --- streams --------------------------------------------------------------------------------------


def events(*pairs: tuple[str, dict]) -> list:
    decoder = bedrock.EventDecoder()
    return [d for kind, payload in pairs for d in decoder.decode(SSEEvent(json.dumps(payload), kind))]


def test_stream_text_reasoning_and_the_end_after_metadata() -> None:
    deltas = events(
        ("messageStart", {"role": "assistant", "p": "abc"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hm."}}}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "s"}}}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Hel"}}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "lo"}}),
        ("contentBlockStop", {"contentBlockIndex": 1}),
        ("messageStop", {"stopReason": "max_tokens"}),
        ("metadata", {"usage": {"inputTokens": 5, "outputTokens": 2}, "metrics": {"latencyMs": 9}}),
    )
    assert "".join(d.reasoning for d in deltas) == "Hm."
    assert "".join(d.content for d in deltas) == "Hello"
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["length"]
    assert deltas[-1].done and deltas[-2].usage.completion_tokens == 2  # type: ignore[union-attr]


def test_stream_tool_use_fragments() -> None:
    deltas = events(
        ("contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tu", "name": "f"}}}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"a"'}}}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": ":1}"}}}),
        ("messageStop", {"stopReason": "tool_use"}),
    )
    calls = [c for d in deltas for c in d.tool_calls]
    assert calls == [ToolCallDelta(0, "tu", "f"), ToolCallDelta(0, arguments='{"a"'), ToolCallDelta(0, arguments=":1}")]
    assert deltas[-1].finish_reason == "tool_calls"
    with pytest.raises(StreamProtocolError):
        events(("contentBlockDelta", {"delta": {"text": "x"}}))


@pytest.mark.parametrize(
    ("kind", "message", "cls", "fkind"),
    [
        ("throttlingException", "Too many requests", FailureClass.PROVIDER, Kind.HTTP_429),
        ("serviceUnavailableException", "down", FailureClass.PROVIDER, Kind.SERVER_ERROR),
        ("modelStreamErrorException", "broke", FailureClass.PROVIDER, Kind.HTTP_STATUS),
        ("validationException", "Input is too long for requested model.", FailureClass.MODEL, Kind.CONTEXT_LENGTH),
        ("validationException", "messages: bad", FailureClass.REQUEST, Kind.BAD_REQUEST),
    ],
)
def test_exception_frames_classify_like_their_http_errors(
    kind: str, message: str, cls: FailureClass, fkind: Kind
) -> None:
    [delta] = bedrock.EventDecoder().decode(SSEEvent(json.dumps({"message": message}), f"exception:{kind}"))
    assert delta.error is not None
    failure = classify_error(delta.error)
    assert (failure.cls, failure.kind) == (cls, fkind)


# --- errors ---------------------------------------------------------------------------------------

NS = ":http://internal.amazon.com/coral/com.amazon.bedrock/"


@pytest.mark.parametrize(
    ("status", "kind", "message", "cls", "fkind"),
    [
        (
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
            FailureClass.PROVIDER,
            Kind.HTTP_429,
        ),
        (
            503,
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
            FailureClass.PROVIDER,
            Kind.SERVER_ERROR,
        ),
        (500, "InternalServerException", "internal", FailureClass.PROVIDER, Kind.SERVER_ERROR),
        (429, "ModelNotReadyException", "Model is not ready", FailureClass.PROVIDER, Kind.HTTP_429),
        (408, "ModelTimeoutException", "timed out", FailureClass.PROVIDER, Kind.UPSTREAM_TIMEOUT),
        (424, "ModelErrorException", "model error", FailureClass.PROVIDER, Kind.HTTP_STATUS),
        (
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            FailureClass.PROVIDER,
            Kind.AUTH,
        ),
        (
            404,
            "ResourceNotFoundException",
            "Could not resolve the foundation model",
            FailureClass.PROVIDER,
            Kind.NOT_FOUND,
        ),
        (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            FailureClass.PROVIDER,
            Kind.AUTH,
        ),
        (
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match",
            FailureClass.PROVIDER,
            Kind.AUTH,
        ),
        (400, "ValidationException", "Input is too long for requested model.", FailureClass.MODEL, Kind.CONTEXT_LENGTH),
        (
            400,
            "ValidationException",
            "A conversation must alternate between user and assistant roles.",
            FailureClass.REQUEST,
            Kind.BAD_REQUEST,
        ),
        (
            400,
            "ServiceQuotaExceededException",
            "Your request exceeded the service quota",
            FailureClass.PROVIDER,
            Kind.QUOTA,
        ),
        (
            400,
            "ExpiredTokenException",
            "The security token included in the request is expired",
            FailureClass.PROVIDER,
            Kind.AUTH,
        ),
        # an id this provider does not serve is the provider's failure (the next one may serve it), not the request's
        (
            400,
            "ValidationException",
            "The provided model identifier is invalid.",
            FailureClass.PROVIDER,
            Kind.NOT_FOUND,
        ),
        (
            400,
            "ValidationException",
            "Invocation of model ID anthropic.claude-sonnet-4-5-20250929-v1:0 with on-demand throughput isn’t "
            "supported. Retry your request with the ID or ARN of an inference profile that contains this model.",
            FailureClass.PROVIDER,
            Kind.NOT_FOUND,
        ),
    ],
)
def test_http_errors_classify_by_their_error_type(
    status: int, kind: str, message: str, cls: FailureClass, fkind: Kind
) -> None:
    err = bedrock.parse_error(status, json.dumps({"message": message}), kind + NS)
    assert (err.type, err.message) == (kind, message)
    failure = classify_http(status, err, {})
    assert (failure.cls, failure.kind) == (cls, fkind)


def test_an_error_without_the_header_reads_the_body_type_or_text() -> None:
    err = bedrock.parse_error(400, '{"__type": "com.amazon.coral.validate#ValidationException", "Message": "bad"}')
    assert (err.type, err.message) == ("ValidationException", "bad")
    assert bedrock.parse_error(502, "<html><title>502 Bad Gateway</title></html>").message == "502 Bad Gateway"


# --- signing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_signed_request_carries_exactly_the_signature_botocore_computes(
    monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    # The first request of a shape is signed by botocore itself, in a lighter request wrapper (orcli/auth/sigv4.py):
    # the headers botocore would send for the same request at the same second, the signature included.
    # tests/test_sigv4.py holds the later requests of a shape to the same.
    import datetime

    pytest.importorskip("botocore", reason="botocore (orcli[aws], a test dependency) signs SigV4")
    import botocore.auth
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from orcli.auth.aws import SigV4Credentials
    from orcli.types import Provider

    at = datetime.datetime(2026, 12, 7, 12, 0, 0, tzinfo=datetime.UTC)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: at)
    provider = Provider(name="bedrock", base_url="https://bedrock-runtime.us-east-1.amazonaws.com", api="bedrock")
    http = bedrock.DIALECT.build_request(provider, CLAUDE, ChatRequest(({"role": "user", "content": "hi"},)), stream)
    env = {"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret-test", "AWS_SESSION_TOKEN": "tok"}
    signed = SigV4Credentials(env, "us-east-1").authorize(http, 0.0, None)

    reference = AWSRequest(method="POST", url=http.url, data=http.body, headers=dict(http.headers))
    SigV4Auth(Credentials("AKIDTEST", "secret-test", "tok"), "bedrock", "us-east-1").add_auth(reference)
    assert dict(signed.headers) == dict(reference.headers.items())
    assert "Signature=" in signed.headers["Authorization"]
