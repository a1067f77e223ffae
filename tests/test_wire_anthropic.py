"""The Anthropic Messages dialect: exact request bodies, answer and stream decoding, errors and their classes.

Payloads follow the examples of docs.anthropic.com /en/api/messages, /en/api/messages-streaming and
/en/api/errors.
"""

from __future__ import annotations

import json

import pytest

from orcli.execution.classify import Kind, classify_error
from orcli.profile.parse import parse_profile
from orcli.types import Endpoint, FailureClass
from orcli.wire import dialect_for
from orcli.wire.anthropic import SCHEMA_TOOL
from orcli.wire.base import (
    ChatRequest,
    MalformedResponse,
    SSEEvent,
    StreamProtocolError,
    ToolCall,
    ToolCallDelta,
    UpstreamErrorInBody,
    Usage,
)
from tests.wire_cases import HELLO, classified, dialect_case
from tests.wire_signing import signed

D, PROVIDER, ENDPOINT = dialect_case(
    "anthropic", "anthropic", "https://api.anthropic.com/v1", "anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def body_of(request: ChatRequest, *, endpoint: Endpoint = ENDPOINT, stream: bool = False) -> dict:
    return json.loads(signed(D, PROVIDER, endpoint, request, "sk-ant-test", stream).body)


# --- requests -------------------------------------------------------------------------------------


def test_request_url_headers_and_minimal_body() -> None:
    req = signed(D, PROVIDER, ENDPOINT, ChatRequest(HELLO), "sk-ant-test", False)
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert req.method == "POST"
    assert req.headers["x-api-key"] == "sk-ant-test"
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.headers["Content-Type"] == "application/json"
    assert not any(k.lower() == "authorization" for k in req.headers)
    assert "sk-ant-test" not in req.url
    assert json.loads(req.body) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "Hello"}],
    }


def test_anthropic_version_comes_from_the_provider_and_the_key_cannot_be_replaced_by_headers() -> None:
    provider = PROVIDER._replace(
        settings={"anthropic_version": "2099-01-01"}, headers={"x-api-key": "other", "X-Title": "t"}
    )
    req = signed(D, provider, ENDPOINT, ChatRequest(HELLO), "sk-ant-test", True)
    assert req.headers["anthropic-version"] == "2099-01-01"
    assert req.headers["x-api-key"] == "sk-ant-test"
    assert req.headers["X-Title"] == "t"
    assert req.headers["Accept"] == "text/event-stream"
    assert json.loads(req.body)["stream"] is True


def test_system_goes_top_level_and_options_are_mapped_or_dropped() -> None:
    request = ChatRequest(
        HELLO,
        system="Be brief.",
        options={
            "temperature": 0.3,
            "top_p": 0.9,
            "stop": "END",
            "max_tokens": 100,
            "seed": 7,  # no Anthropic equivalent: dropped
            "frequency_penalty": 0.5,  # likewise
            "top_k": 20,  # Anthropic's own name: kept
        },
    )
    assert body_of(request) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hello"}],
        "temperature": 0.3,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "top_k": 20,
    }


def test_max_tokens_falls_back_to_the_endpoint_then_4096() -> None:
    assert body_of(ChatRequest(HELLO), endpoint=ENDPOINT._replace(max_completion_tokens=64000))["max_tokens"] == 64000
    assert body_of(ChatRequest(HELLO))["max_tokens"] == 4096
    assert body_of(ChatRequest(HELLO, options={"max_completion_tokens": 50}))["max_tokens"] == 50


def test_reasoning_effort_becomes_a_thinking_budget_and_drops_what_thinking_forbids() -> None:
    body = body_of(ChatRequest(HELLO, options={"reasoning_effort": "low", "temperature": 0.2, "top_p": 0.5}))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 4096
    assert "temperature" not in body and "top_p" not in body
    # A budget larger than the default max_tokens gets room for an answer, within the endpoint's cap.
    body = body_of(
        ChatRequest(HELLO, options={"reasoning_effort": "high"}),
        endpoint=ENDPOINT._replace(max_completion_tokens=20000),
    )
    assert body["max_tokens"] == 20000
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 20000 - 4096}  # room left for the answer
    body = body_of(ChatRequest(HELLO, options={"reasoning_effort": "high", "max_tokens": 3000}))
    assert (body["max_tokens"], body["thinking"]["budget_tokens"]) == (3000, 1500)
    # The user's max_tokens is kept; a budget that cannot fit under it is dropped.
    assert "thinking" not in body_of(ChatRequest(HELLO, options={"reasoning_effort": "high", "max_tokens": 500}))
    assert "thinking" not in body_of(ChatRequest(HELLO, options={"reasoning_effort": "none"}))


def test_tools_and_tool_choice_are_mapped() -> None:
    request = ChatRequest(HELLO, tools=(WEATHER_TOOL,), options={"tool_choice": "required"})
    body = body_of(request)
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather in a city",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        }
    ]
    assert body["tool_choice"] == {"type": "any"}
    named = {"type": "function", "function": {"name": "get_weather"}}
    body = body_of(
        ChatRequest(HELLO, tools=(WEATHER_TOOL,), options={"tool_choice": named, "parallel_tool_calls": False})
    )
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}
    assert "parallel_tool_calls" not in body


def test_schema_becomes_a_forced_tool() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    body = body_of(ChatRequest(HELLO, schema=schema))
    assert body["tools"] == [
        {"name": SCHEMA_TOOL, "description": "Give the answer as this tool's input.", "input_schema": schema}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": SCHEMA_TOOL}


def test_conversation_with_tool_calls_and_results() -> None:
    messages = (
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "toolu_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "24C"},
    )
    body = body_of(ChatRequest(messages, system="Be brief."))
    assert body["system"] == "Be brief.\n\nUse tools."
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "24C"},
            ],
        },
    ]


@pytest.mark.parametrize("api", ["anthropic", "gemini"])
def test_what_json_cannot_carry_is_refused_before_the_network(api: str) -> None:
    dialect = dialect_for(api)
    with pytest.raises(ValueError, match="UTF-8"):
        signed(dialect, PROVIDER, ENDPOINT, ChatRequest(({"role": "user", "content": "bad \udc80"},)), "k", False)
    with pytest.raises(ValueError, match="NaN"):
        signed(dialect, PROVIDER, ENDPOINT, ChatRequest(HELLO, options={"temperature": float("nan")}), "k", False)


# --- answers --------------------------------------------------------------------------------------

MESSAGE = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "The user greets me.", "signature": "EqQBCgIYAhIM"},
        {"type": "text", "text": "Hi! My name is Claude."},
    ],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 2095,
        "output_tokens": 503,
        "cache_read_input_tokens": 5,
        "cache_creation_input_tokens": 0,
    },
}


def test_answer_text_thinking_usage_and_model() -> None:
    answer = D.decode_answer(json.dumps(MESSAGE).encode())
    assert answer.content == "Hi! My name is Claude."
    assert answer.reasoning == "The user greets me."
    assert answer.finish_reason == "stop"
    assert answer.usage == Usage(2100, 503)
    assert answer.model == "claude-sonnet-4-5-20250929"
    assert answer.tool_calls == ()


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("tool_use", "stop"),  # no tool_use block in the content: nothing was called
    ],
)
def test_stop_reasons_map_to_openai_finish_reasons(stop_reason: str, finish: str) -> None:
    assert D.decode_answer(json.dumps({**MESSAGE, "stop_reason": stop_reason}).encode()).finish_reason == finish


def test_tool_use_blocks_become_openai_tool_calls() -> None:
    body = {
        **MESSAGE,
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
    }
    answer = D.decode_answer(json.dumps(body).encode())
    assert answer.tool_calls == (ToolCall("toolu_01A", "get_weather", '{"city":"Paris"}'),)
    assert answer.finish_reason == "tool_calls"
    assert answer.content == "Let me check."
    only_tool = D.decode_answer(json.dumps({**body, "content": body["content"][1:]}).encode())
    assert only_tool.content is None


def test_the_schema_tool_answer_is_the_content() -> None:
    body = {
        **MESSAGE,
        "content": [{"type": "tool_use", "id": "toolu_9", "name": SCHEMA_TOOL, "input": {"answer": 42}}],
        "stop_reason": "tool_use",
    }
    answer = D.decode_answer(json.dumps(body).encode())
    assert answer.content == '{"answer":42}'
    assert answer.tool_calls == ()
    assert answer.finish_reason == "stop"


def test_a_200_error_envelope_and_malformed_bodies() -> None:
    envelope = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(UpstreamErrorInBody) as info:
        D.decode_answer(json.dumps(envelope).encode())
    assert info.value.error.code == "overloaded_error"
    for bad in (b"not json", b"[]", b'{"type": "message", "content": "text"}'):
        with pytest.raises(MalformedResponse):
            D.decode_answer(bad)


# --- streams --------------------------------------------------------------------------------------


def sse(kind: str, data: dict) -> SSEEvent:
    return SSEEvent(json.dumps(data), event=kind)


STREAM = [
    sse(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-sonnet-4-5-20250929",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 472, "output_tokens": 2},
            },
        },
    ),
    sse(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
    ),
    sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me think"}},
    ),
    sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQB"}},
    ),
    sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
    sse(
        "content_block_start",
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    ),
    sse("ping", {"type": "ping"}),
    sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Okay,"}},
    ),
    sse("content_block_stop", {"type": "content_block_stop", "index": 1}),
    sse(
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_01T", "name": "get_weather", "input": {}},
        },
    ),
    sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}},
    ),
    sse(
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'},
        },
    ),
    sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": 'ris"}'}},
    ),
    sse("content_block_stop", {"type": "content_block_stop", "index": 2}),
    sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 89},
        },
    ),
    sse("message_stop", {"type": "message_stop"}),
]


def test_stream_text_thinking_tool_call_fragments_finish_usage_and_end() -> None:
    decoder = D.event_decoder()
    deltas = [d for event in STREAM for d in decoder.decode(event)]
    assert deltas[0].model == "claude-sonnet-4-5-20250929"
    assert "".join(d.reasoning for d in deltas) == "Let me think"
    assert "".join(d.content for d in deltas) == "Okay,"
    fragments = [t for d in deltas for t in d.tool_calls]
    assert fragments[0] == ToolCallDelta(0, "toolu_01T", "get_weather", "")
    assert all(t.index == 0 for t in fragments)
    assert "".join(t.arguments for t in fragments) == '{"city": "Paris"}'
    finish = [d for d in deltas if d.finish_reason]
    assert [(d.finish_reason, d.usage) for d in finish] == [("tool_calls", Usage(472, 89))]
    assert deltas[-1].done is True
    assert sum(d.done for d in deltas) == 1


def test_stream_of_the_schema_tool_streams_its_json_as_content() -> None:
    decoder = D.event_decoder()
    events = [
        sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "t", "name": SCHEMA_TOOL, "input": {}},
            },
        ),
        sse(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": '{"answer": '},
            },
        ),
        sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "42}"}},
        ),
        sse(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        ),
    ]
    deltas = [d for e in events for d in decoder.decode(e)]
    assert "".join(d.content for d in deltas) == '{"answer": 42}'
    assert not any(d.tool_calls for d in deltas)
    assert deltas[-1].finish_reason == "stop"


def test_mid_stream_error_event_is_an_error_delta_of_the_provider_class() -> None:
    decoder = D.event_decoder()
    event = sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    [delta] = decoder.decode(event)
    assert delta.error is not None and delta.error.code == "overloaded_error"
    assert delta.error.message == "Overloaded"
    assert classify_error(delta.error).cls is FailureClass.PROVIDER


def test_stream_refusal_is_content_filter() -> None:
    decoder = D.event_decoder()
    [delta] = decoder.decode(
        sse(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "refusal"}, "usage": {"output_tokens": 3}},
        )
    )
    assert delta.finish_reason == "content_filter"


def test_stream_unknown_events_are_ignored_and_broken_ones_refused() -> None:
    decoder = D.event_decoder()
    assert decoder.decode(sse("brand_new_event", {"type": "brand_new_event"})) == []
    assert decoder.decode(SSEEvent("not json: a newer API's payload", event="brand_new_event")) == []
    assert decoder.decode(SSEEvent("", event="ping")) == []
    with pytest.raises(StreamProtocolError):
        decoder.decode(SSEEvent("{not json", event="content_block_delta"))
    with pytest.raises(StreamProtocolError):
        decoder.decode(sse("content_block_delta", {"type": "content_block_delta", "delta": {"type": "text_delta"}}))


# --- errors and their classes (docs/failures.md#failure-classes) -----------------------------------------------------------


def envelope(kind: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011"}).encode()


@pytest.mark.parametrize(
    ("status", "body", "cls", "kind"),
    [
        (529, envelope("overloaded_error", "Overloaded"), FailureClass.PROVIDER, Kind.SERVER_ERROR),
        (
            429,
            envelope("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
            FailureClass.PROVIDER,
            Kind.HTTP_429,
        ),
        (500, envelope("api_error", "Internal server error"), FailureClass.PROVIDER, Kind.SERVER_ERROR),
        (
            400,
            envelope("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
            FailureClass.MODEL,
            Kind.CONTEXT_LENGTH,
        ),
        (401, envelope("authentication_error", "invalid x-api-key"), FailureClass.PROVIDER, Kind.AUTH),
        (403, envelope("permission_error", "Your API key does not have permission"), FailureClass.PROVIDER, Kind.AUTH),
        (404, envelope("not_found_error", "model: claude-nope"), FailureClass.PROVIDER, Kind.NOT_FOUND),
        (
            400,
            envelope("invalid_request_error", "Your credit balance is too low to access the Anthropic API."),
            FailureClass.PROVIDER,
            Kind.QUOTA,
        ),
        (400, envelope("invalid_request_error", "temperature: range: 0..1"), FailureClass.REQUEST, Kind.BAD_REQUEST),
        (502, b"<html><title>502 Bad Gateway</title></html>", FailureClass.PROVIDER, Kind.SERVER_ERROR),
    ],
)
def test_error_bodies_parse_and_classify(status: int, body: bytes, cls: FailureClass, kind: Kind) -> None:
    err = D.parse_error(status, body)
    assert err.status == status
    assert classified(status, err) == (cls, kind)


def test_a_spend_limit_429_is_quota_not_a_rate_limit() -> None:
    body = {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "You have reached your monthly spend limit.",
            "details": {"error_code": "enforced_spend_limit_reached"},
        },
    }
    err = D.parse_error(429, json.dumps(body).encode())
    assert (err.code, err.type) == ("enforced_spend_limit_reached", "rate_limit_error")
    assert classified(429, err) == (FailureClass.PROVIDER, Kind.QUOTA)
    plain = D.parse_error(429, envelope("rate_limit_error", "Number of request tokens has exceeded your rate limit"))
    assert classified(429, plain) == (FailureClass.PROVIDER, Kind.HTTP_429)
    workspace = envelope(
        "invalid_request_error",
        "You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC.",
    )
    assert classified(400, D.parse_error(400, workspace)) == (FailureClass.PROVIDER, Kind.QUOTA)
    assert classified(402, D.parse_error(402, envelope("billing_error", "Billing issue"))) == (
        FailureClass.PROVIDER,
        Kind.QUOTA,
    )


def test_error_code_is_the_error_type() -> None:
    err = D.parse_error(529, envelope("overloaded_error", "Overloaded"))
    assert (err.code, err.message) == ("overloaded_error", "Overloaded")
    err = D.parse_error(502, b"<html><title>502 Bad Gateway</title></html>")
    assert err.message == "502 Bad Gateway" and err.code is None


def test_profile_accepts_the_dialect_and_its_version_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = (
        '[providers.anthropic]\nbase_url = "https://api.anthropic.com/v1"\napi = "anthropic"\n'
        'anthropic_version = "2023-06-01"\n\n'
        '[[endpoint]]\nmodel = "anthropic/claude"\nprovider = "anthropic"\nupstream_model = "claude-x"\n'
    )
    profile = parse_profile(text, tmp_path / "p.toml")
    assert profile.providers["anthropic"].api == "anthropic"
    assert profile.providers["anthropic"].settings["anthropic_version"] == "2023-06-01"
    wrong = text.replace('api = "anthropic"', 'api = "openai"')
    with pytest.raises(Exception, match="anthropic_version"):
        parse_profile(wrong, tmp_path / "p.toml")
