"""wire/openai: request building, option parsing, SSE decoding and body parsing, sans-I/O."""

from __future__ import annotations

import contextlib
import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orcli.types import Endpoint, Provider
from orcli.wire import dialect_for
from orcli.wire.assemble import AnswerBuilder
from orcli.wire.base import (
    Answer,
    ChatRequest,
    Delta,
    MalformedResponse,
    SSEEvent,
    StreamProtocolError,
    ToolCall,
    ToolCallDelta,
    UpstreamError,
    UpstreamErrorInBody,
    Usage,
    WireError,
)
from orcli.wire.openai import (
    DIALECT,
    build_body,
    build_headers,
    build_messages,
    parse_completion,
    parse_error_body,
    parse_stream_event,
)
from orcli.wire.sse import SSEDecoder
from tests.wire_signing import signed


def chunk(delta: dict, finish: str | None = None, **extra: object) -> dict:
    return {
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "meta-llama/llama-3.3-70b-instruct",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


USAGE = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
PAYLOADS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"reasoning": "the user greets me"}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo, wörld ✓"}),
    chunk({}, "stop"),
    {"id": "gen-1", "object": "chat.completion.chunk", "model": "m", "choices": [], "usage": USAGE},
]
STREAM = (
    b": OPENROUTER PROCESSING\n\n"
    + b"".join(b"data: " + json.dumps(p, ensure_ascii=False).encode() + b"\n\n" for p in PAYLOADS)
    + b": OPENROUTER PROCESSING\n\n"
    + b"data: [DONE]\n\n"
)


def decode(chunks: list[bytes], **limits: int) -> list[SSEEvent]:
    decoder = SSEDecoder(**limits)
    events: list[SSEEvent] = []
    for c in chunks:
        events += decoder.feed(c)
    return events + decoder.close()


def answer(events: list[SSEEvent]) -> tuple[str, str | None, dict | None, bool]:
    parsed = [parse_stream_event(e.data) for e in events]
    finish = next((c.finish_reason for c in parsed if c.finish_reason), None)
    usage = next((c.usage.as_json() for c in parsed if c.usage), None)
    return "".join(c.content for c in parsed), finish, usage, parsed[-1].done


# -- requests --------------------------------------------------------------------------------------


def test_messages_put_the_system_prompt_first() -> None:
    assert build_messages("hi", "be brief") == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]


@pytest.mark.parametrize("system", [None, ""])
def test_messages_without_a_system_prompt_have_only_the_user_turn(system: str | None) -> None:
    assert build_messages("hi", system) == [{"role": "user", "content": "hi"}]


def test_body_merges_options_and_asks_for_usage_when_streaming() -> None:
    msgs = build_messages("hi", None)
    body = build_body("llama-3.3-70b-versatile", msgs, {"temperature": 0.2, "max_tokens": 50, "stop": ["\n"]}, True)
    assert body == {
        "model": "llama-3.3-70b-versatile",
        "messages": msgs,
        "temperature": 0.2,
        "max_tokens": 50,
        "stop": ["\n"],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_body_without_streaming_has_no_stream_options() -> None:
    body = build_body("m", [], {}, False)
    assert body == {"model": "m", "messages": [], "stream": False}


@pytest.mark.parametrize("key", ["model", "messages", "stream", "stream_options"])
def test_an_option_may_not_replace_what_orcli_sets(key: str) -> None:
    with pytest.raises(ValueError, match=key):
        build_body("m", [], {key: 1}, True)


def test_headers_carry_the_key_as_a_bearer_token() -> None:
    assert build_headers("k-123", {}) == {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": build_headers(None, {})["User-Agent"],
        "Authorization": "Bearer k-123",
    }


@pytest.mark.parametrize("key", [None, "", "   "])
def test_headers_without_a_key_have_no_authorization(key: str | None) -> None:
    assert "Authorization" not in build_headers(key, {})


def test_streaming_headers_accept_event_streams() -> None:
    assert build_headers(None, {}, stream=True)["Accept"] == "text/event-stream"


def test_extra_headers_are_added_and_replace_ours_case_insensitively() -> None:
    headers = build_headers(None, {"HTTP-Referer": "https://example.org", "accept": "*/*"})
    assert headers["HTTP-Referer"] == "https://example.org"
    assert headers["accept"] == "*/*" and "Accept" not in headers


def test_extra_headers_never_replace_the_key() -> None:
    headers = build_headers("real-key", {"authorization": "Bearer profile-value"})
    assert [v for k, v in headers.items() if k.lower() == "authorization"] == ["Bearer real-key"]


# -- SSE decoding ----------------------------------------------------------------------------------


def test_a_realistic_stream_decodes_to_its_events_and_answer() -> None:
    events = decode([STREAM])
    assert len(events) == len(PAYLOADS) + 1
    assert all(e.event == "message" for e in events)
    assert answer(events) == ("Hello, wörld ✓", "stop", USAGE, True)


# -- stream chunks ---------------------------------------------------------------------------------


def test_done_marker_ends_the_stream() -> None:
    assert parse_stream_event("[DONE]") == Delta(done=True)


def test_role_only_first_chunk_has_no_content() -> None:
    got = parse_stream_event(json.dumps(chunk({"role": "assistant"})))
    assert (got.content, got.finish_reason, got.done) == ("", None, False)
    assert got.model == "meta-llama/llama-3.3-70b-instruct"


def test_content_chunk_carries_its_text() -> None:
    assert parse_stream_event(json.dumps(chunk({"content": "Hi"}))).content == "Hi"


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_reasoning_is_not_content(field: str) -> None:
    assert parse_stream_event(json.dumps(chunk({field: "hmm", "content": None}))).content == ""


def test_content_given_as_parts_keeps_only_the_text_parts() -> None:
    parts = [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Hi"}]
    assert parse_stream_event(json.dumps(chunk({"content": parts}))).content == "Hi"


def test_usage_only_final_chunk() -> None:
    got = parse_stream_event(json.dumps({"choices": [], "usage": USAGE}))
    assert (got.content, got.usage, got.finish_reason) == ("", Usage(10, 4, raw=USAGE), None)


@pytest.mark.parametrize("reason", ["stop", "length", "error", "content_filter", "tool_calls"])
def test_finish_reason_is_reported(reason: str) -> None:
    assert parse_stream_event(json.dumps(chunk({}, reason))).finish_reason == reason


def test_openrouter_mid_stream_error_chunk() -> None:
    data = (
        '{"id":"gen-abc123","object":"chat.completion.chunk","created":1234567890,"model":"openai/gpt-4o",'
        '"provider":"OpenAI","error":{"code":429,"message":"Rate limit exceeded","metadata":{"error_type":'
        '"rate_limit_exceeded"}},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}'
    )
    got = parse_stream_event(data)
    assert got.finish_reason == "error"
    assert got.error is not None
    assert (got.error.message, got.error.code, got.error.type) == ("Rate limit exceeded", "429", "rate_limit_exceeded")


def test_error_chunk_without_choices() -> None:
    got = parse_stream_event('{"error": {"message": "the request exceeds the available context size", "code": 400}}')
    assert got.error is not None and got.error.code == "400"


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "",
        "{",
        "[1, 2]",
        '"text"',
        "42",
        "null",
        '{"choices": {}}',
        '{"choices": "x"}',
        '{"choices": [1]}',
        '{"choices": [{"delta": "x"}]}',
        '{"choices": [{"delta": {"content": 5}}]}',
        '{"choices": [{"delta": {}, "finish_reason": 3}]}',
        "[" * 100_000,
        '{"a": ' * 50_000,
    ],
)
def test_malformed_chunks_raise_stream_protocol_error(data: str) -> None:
    with pytest.raises(StreamProtocolError):
        parse_stream_event(data)


def test_informational_fields_of_a_wrong_type_are_ignored() -> None:
    got = parse_stream_event('{"model": 5, "usage": "many", "choices": [{"delta": {"content": "x"}}]}')
    assert (got.content, got.model, got.usage) == ("x", None, None)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["choices", "delta", "content", "finish_reason", "usage", "model", "error", "message", "text", "type"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=200), JSON.map(json.dumps)))
def test_any_chunk_parses_or_raises_stream_protocol_error_only(data: str) -> None:
    with contextlib.suppress(StreamProtocolError):
        assert isinstance(parse_stream_event(data), Delta)


# -- non-streamed completions ----------------------------------------------------------------------


COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "llama-3.3-70b-versatile",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"}, "finish_reason": "stop"}],
    "usage": USAGE,
}


def test_completion_is_parsed() -> None:
    assert parse_completion(json.dumps(COMPLETION).encode()) == Answer(
        content="Hi there", finish_reason="stop", usage=Usage(10, 4, raw=USAGE), model="llama-3.3-70b-versatile"
    )


def test_completion_after_openrouter_whitespace_padding() -> None:
    assert parse_completion(b"\n" * 20 + json.dumps(COMPLETION).encode()).content == "Hi there"


def test_completion_with_null_content_is_empty_text() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": None}, "finish_reason": "tool_calls"}]}
    assert parse_completion(json.dumps(body).encode()) == Answer("", finish_reason="tool_calls")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "not JSON"),
        (b"<html>502</html>", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"[]", "not an object"),
        (b"{}", "no choices"),
        (b'{"choices": []}', "no choices"),
        (b'{"choices": "x"}', "no choices"),
        (b'{"choices": [1]}', "no message"),
        (b'{"choices": [{"finish_reason": "stop"}]}', "no message"),
        (b'{"choices": [{"message": "hi"}]}', "no message"),
        (b'{"choices": [{"message": {"content": 3}}]}', "neither text"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_malformed_completions_raise(body: bytes, why: str) -> None:
    with pytest.raises(MalformedResponse, match=why):
        parse_completion(body)


def test_a_200_error_body_raises_with_the_parsed_error() -> None:
    body = b'{"error": {"message": "Provider returned error", "code": 502, "metadata": {"raw": "upstream down"}}}'
    with pytest.raises(UpstreamErrorInBody) as info:
        parse_completion(body)
    assert info.value.error.message == "upstream down"
    assert info.value.error.code == "502"


def test_openrouter_non_streamed_finish_error_raises_with_the_choice_error() -> None:
    body = {
        "choices": [{"message": {"content": "part"}, "finish_reason": "error", "error": {"code": 502, "message": "x"}}]
    }
    with pytest.raises(UpstreamErrorInBody) as info:
        parse_completion(json.dumps(body).encode())
    assert info.value.error.code == "502"


@given(st.one_of(st.binary(max_size=200), JSON.map(lambda v: json.dumps(v).encode())))
def test_any_body_parses_or_raises_a_wire_error_only(body: bytes) -> None:
    with contextlib.suppress(WireError):
        assert isinstance(parse_completion(body), Answer)


# -- error bodies ----------------------------------------------------------------------------------


def test_openai_error_body() -> None:
    body = (
        '{"error": {"message": "This model\'s maximum context length is 8192 tokens.", '
        '"type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}'
    )
    err = parse_error_body(body)
    assert (err.message, err.type, err.code, err.raw) == (
        "This model's maximum context length is 8192 tokens.",
        "invalid_request_error",
        "context_length_exceeded",
        body,
    )


def test_openrouter_error_body_uses_the_upstream_raw_message() -> None:
    raw = json.dumps({"error": {"message": "prompt is too long: 215000 tokens > 200000 maximum"}})
    body = json.dumps(
        {
            "error": {
                "code": 400,
                "message": "Provider returned error",
                "metadata": {"raw": raw, "provider_name": "Anthropic"},
            }
        }
    )  # noqa: E501
    err = parse_error_body(body.encode())
    assert err.message == "prompt is too long: 215000 tokens > 200000 maximum"
    assert (err.code, err.provider, err.detail) == ("400", "Anthropic", raw)


def test_openrouter_moderation_reasons_are_kept() -> None:
    body = (
        '{"error": {"code": 403, "message": "flagged", "metadata": {"reasons": ["violence", 3], "flagged_input": "x"}}}'
    )
    assert parse_error_body(body).reasons == ("violence",)


def test_openrouter_error_type_becomes_the_type() -> None:
    body = '{"error": {"code": 429, "message": "busy", "metadata": {"error_type": "rate_limit_exceeded"}}}'
    assert parse_error_body(body).type == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"detail": "Not authenticated"}', "Not authenticated"),
        ('{"detail": [{"loc": ["body", "messages"], "msg": "Field required"}, {"msg": "bad"}]}', "Field required; bad"),
        ('{"detail": {"message": "nested"}}', "nested"),
        ('{"object": "error", "message": "vLLM says no", "type": "BadRequestError", "code": 400}', "vLLM says no"),
        (
            '{"error": "model \\"llama3\\" not found, try pulling it first"}',
            'model "llama3" not found, try pulling it first',
        ),
        (
            '[{"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}]',
            "Resource exhausted",
        ),  # noqa: E501
        (
            "  upstream connect error or disconnect/reset before headers  ",
            "upstream connect error or disconnect/reset before headers",
        ),  # noqa: E501
        ("<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "502 Bad Gateway"),
        ("<html><body><h1>Service</h1> <p>Unavailable</p></body></html>", "Service Unavailable"),
        ('{"unexpected": true}', '{"unexpected": true}'),
        ("[1, 2]", "[1, 2]"),
        ("", ""),
        (b"bad \xff bytes", "bad \ufffd bytes"),
    ],
)
def test_error_bodies_of_every_common_shape(body: str | bytes, message: str) -> None:
    assert parse_error_body(body).message == message


def test_fastapi_and_google_shapes_keep_their_type_and_code() -> None:
    vllm = parse_error_body('{"object": "error", "message": "no", "type": "BadRequestError", "code": 400}')
    assert (vllm.type, vllm.code) == ("BadRequestError", "400")
    google = parse_error_body('{"error": {"code": 400, "message": "m", "status": "INVALID_ARGUMENT"}}')
    assert google.type == "INVALID_ARGUMENT"


def test_long_text_is_cut_to_one_short_line_but_kept_for_matching() -> None:
    body = "Error:\n" + "word " * 200 + "maximum context length"
    err = parse_error_body(body)
    assert len(err.message) <= 300 and "\n" not in err.message
    assert "maximum context length" in err.detail


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300), JSON.map(json.dumps)))
def test_parse_error_body_never_raises(body: bytes | str) -> None:
    err = parse_error_body(body)
    assert isinstance(err, UpstreamError) and len(err.message) <= 300


# -- through httpx ---------------------------------------------------------------------------------


def test_an_sse_body_from_httpx_mock_transport_decodes_to_the_answer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        # Awkward chunk sizes, so lines and UTF-8 characters straddle reads.
        pieces = [STREAM[i : i + 7] for i in range(0, len(STREAM), 7)]
        return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=iter(pieces))

    body = build_body("llama-3.3-70b-versatile", build_messages("hi", None), {"temperature": 0}, True)
    headers = build_headers("test-key-1234", {"X-Title": "orcli"}, stream=True)
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    with (
        httpx.Client(transport=httpx.MockTransport(handler), base_url="https://api.example/v1") as client,
        client.stream("POST", "/chat/completions", json=body, headers=headers) as response,
    ):
        for data in response.iter_bytes():
            events += decoder.feed(data)
    events += decoder.close()

    assert answer(events) == ("Hello, wörld ✓", "stop", USAGE, True)
    assert decoder.comments == 2
    request = seen[0]
    assert request.headers["authorization"] == "Bearer test-key-1234"
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["x-title"] == "orcli"
    assert json.loads(request.content)["stream_options"] == {"include_usage": True}


def test_a_non_streamed_response_and_an_error_response_through_httpx() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["model"] == "bad":
            return httpx.Response(
                400, json={"error": {"message": "Unknown parameter: foo", "type": "invalid_request_error"}}
            )
        return httpx.Response(200, json=COMPLETION)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        ok = client.post("https://api.example/v1/chat/completions", json=build_body("m", [], {}, False))
        bad = client.post("https://api.example/v1/chat/completions", json=build_body("bad", [], {}, False))
    assert parse_completion(ok.content).content == "Hi there"
    assert parse_error_body(bad.content).message == "Unknown parameter: foo"


# -- the dialect: neutral request in, neutral answer, deltas and errors out ------------------------

PROVIDER = Provider("groq", "https://api.groq.com/openai/v1", api_key_env="GROQ_API_KEY", headers={"X-Title": "orcli"})
ENDPOINT = Endpoint("meta/llama-3.3-70b", "groq", "llama-3.3-70b-versatile")
TOOL = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}


def test_the_registry_gives_the_openai_dialect_for_api_openai() -> None:
    assert dialect_for("openai") is DIALECT and DIALECT.name == "openai"


def test_build_request_sends_a_complete_chat_completions_request() -> None:
    request = ChatRequest(
        (
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "?"},
        ),
        system="be brief",
        options={"temperature": 0.2, "tool_choice": "auto"},
        tools=(TOOL,),
        schema={"type": "object", "properties": {"a": {"type": "string"}}},
    )
    http = signed(DIALECT, PROVIDER, ENDPOINT, request, "gsk-key-123", True)
    assert (http.method, http.url) == ("POST", "https://api.groq.com/openai/v1/chat/completions")
    assert http.headers["Authorization"] == "Bearer gsk-key-123"
    assert (http.headers["Accept"], http.headers["X-Title"]) == ("text/event-stream", "orcli")
    body = json.loads(http.body)
    assert body["model"] == "llama-3.3-70b-versatile"
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][0]["content"] == "be brief"
    assert (body["temperature"], body["tool_choice"], body["tools"]) == (0.2, "auto", [TOOL])
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
    }
    assert (body["stream"], body["stream_options"]) == (True, {"include_usage": True})


def test_build_request_body_is_what_httpx_json_would_send() -> None:
    request = ChatRequest(({"role": "user", "content": "wörld ✓"},))
    http = signed(DIALECT, PROVIDER, ENDPOINT, request, None, False)
    expected = httpx.Request("POST", http.url, json=json.loads(http.body)).content
    assert http.body == expected and "wörld ✓".encode() in http.body
    assert "Authorization" not in http.headers and "stream_options" not in json.loads(http.body)
    assert "tools" not in json.loads(http.body) and "response_format" not in json.loads(http.body)


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("https://gw.example/v1", "https://gw.example/v1/chat/completions"),
        ("https://gw.example/v1/", "https://gw.example/v1/chat/completions"),
        (
            "https://gw.example/v1?api-version=2024-10-21",
            "https://gw.example/v1/chat/completions?api-version=2024-10-21",
        ),
    ],
)
def test_the_path_goes_before_the_base_urls_query(base_url: str, url: str) -> None:
    provider = PROVIDER._replace(base_url=base_url)
    assert signed(DIALECT, provider, ENDPOINT, ChatRequest(()), None, False).url == url


def test_build_request_refuses_what_cannot_be_sent_with_value_error() -> None:
    with pytest.raises(ValueError, match="set by orcli"):
        signed(DIALECT, PROVIDER, ENDPOINT, ChatRequest((), options={"stream": False}), None, True)
    with pytest.raises(ValueError, match="not valid UTF-8"):
        signed(DIALECT, PROVIDER, ENDPOINT, ChatRequest(({"role": "user", "content": "\udc80"},)), None, True)


def test_decode_answer_carries_tool_calls_reasoning_usage_and_model() -> None:
    body = {
        "model": "served",
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "reasoning_content": "the user wants weather",
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"c":"Oslo"}'},
                        },
                        {"type": "function", "function": {"name": "time", "arguments": {"tz": "CET"}}},
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 9, "cost": 0.001},
    }
    answer = DIALECT.decode_answer(json.dumps(body).encode())
    assert answer.tool_calls == (
        ToolCall("call_a", "weather", '{"c":"Oslo"}'),
        ToolCall("call_1", "time", '{"tz": "CET"}'),  # no id sent: one made from its position
    )
    assert (answer.content, answer.reasoning, answer.finish_reason, answer.model) == (
        "",
        "the user wants weather",
        "tool_calls",
        "served",
    )
    assert answer.usage == Usage(7, 9, raw={"prompt_tokens": 7, "completion_tokens": 9, "cost": 0.001})
    assert answer.usage.as_json() == {"prompt_tokens": 7, "completion_tokens": 9, "cost": 0.001}  # as sent


def test_a_tool_calls_field_that_is_not_a_list_is_malformed() -> None:
    body = {"choices": [{"message": {"content": "x", "tool_calls": "weather"}}]}
    with pytest.raises(MalformedResponse):
        DIALECT.decode_answer(json.dumps(body).encode())


def test_stream_events_decode_to_deltas_with_reasoning_and_tool_call_fragments() -> None:
    decoder = DIALECT.event_decoder()
    payloads = [
        chunk({"reasoning": "think"}),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_9", "type": "function", "function": {"name": "weather", "arguments": ""}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"c":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
        chunk({}, "tool_calls"),
    ]
    deltas = [d for p in payloads for d in decoder.decode(SSEEvent(json.dumps(p)))]
    assert deltas[0].reasoning == "think" and deltas[0].content == ""
    assert deltas[1].tool_calls == (ToolCallDelta(0, "call_9", "weather", ""),)
    assert [d.tool_calls[0].arguments for d in deltas[2:4]] == ['{"c":', '"Oslo"}']
    assert deltas[4].finish_reason == "tool_calls"
    assert decoder.decode(SSEEvent("[DONE]")) == [Delta(done=True)]
    built = AnswerBuilder()
    for d in deltas:
        built.add(d)
    answer = built.answer()
    assert answer.tool_calls == (ToolCall("call_9", "weather", '{"c":"Oslo"}'),)
    assert (answer.content, answer.reasoning, answer.finish_reason) == ("", "think", "tool_calls")


def test_groq_usage_in_x_groq_is_read() -> None:
    payload = {"choices": [], "x_groq": {"id": "req_1", "usage": {"prompt_tokens": 3, "completion_tokens": 5}}}
    (delta,) = DIALECT.event_decoder().decode(SSEEvent(json.dumps(payload)))
    assert delta.usage == Usage(3, 5, raw={"prompt_tokens": 3, "completion_tokens": 5})


def test_a_count_that_is_not_a_number_is_no_count_but_stays_in_the_raw_usage() -> None:
    delta = parse_stream_event(json.dumps({"choices": [], "usage": {"prompt_tokens": "10", "completion_tokens": 5.0}}))
    assert delta.usage == Usage(None, 5, raw={"prompt_tokens": "10", "completion_tokens": 5.0})


def test_an_error_chunk_becomes_the_deltas_error() -> None:
    payload = {"error": {"message": "overloaded", "code": 502}, "choices": [{"delta": {}, "finish_reason": "error"}]}
    (delta,) = DIALECT.event_decoder().decode(SSEEvent(json.dumps(payload)))
    assert delta.error is not None and (delta.error.message, delta.error.code) == ("overloaded", "502")


def test_parse_error_sets_the_status() -> None:
    error = DIALECT.parse_error(429, json.dumps({"error": {"message": "slow down", "type": "rate_limit_exceeded"}}))
    assert (error.status, error.message, error.type) == (429, "slow down", "rate_limit_exceeded")
    assert DIALECT.parse_error(502, b"<html><title>502 Bad Gateway</title></html>").message == "502 Bad Gateway"


@pytest.mark.parametrize(
    "delta",
    [
        {"content": None, "reasoning_content": "why"},  # DeepSeek
        {"role": "assistant", "content": "", "reasoning": "why"},
        {"reasoning": "why"},
    ],
)
def test_reasoning_next_to_an_empty_content_and_a_role_is_read(delta: dict) -> None:
    got = parse_stream_event(json.dumps(chunk(delta)))
    assert (got.content, got.reasoning) == ("", "why")


def test_content_and_tool_call_fragments_in_one_delta_are_both_read() -> None:
    fragment = {"index": 1, "id": "c", "function": {"name": "f", "arguments": "{}"}}
    got = parse_stream_event(json.dumps(chunk({"role": "assistant", "content": "hi", "tool_calls": [fragment]})))
    assert (got.content, got.tool_calls) == ("hi", (ToolCallDelta(1, "c", "f", "{}"),))


def test_a_model_name_with_a_lone_surrogate_is_scrubbed() -> None:
    got = parse_stream_event('{"model": "m\\ud800", "choices": []}')
    assert got.model == "m\ufffd"
