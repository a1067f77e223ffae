"""The gateway's pure parts with plain values (docs/gateway.md): Anthropic Messages ↔ the neutral request and
Anthropic's stream events, the browser-safety rules, and the body checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcli.gateway import anthropic_api, guard
from orcli.gateway.anthropic_stream import MessageStream
from orcli.gateway.body import MAX_DEPTH, BadRequest, depth_over, load_object
from orcli.wire.base import ToolCall, ToolCallDelta


def parse(**body: Any) -> anthropic_api.MessagesRequest:
    return anthropic_api.parse_messages_body(json.dumps({"model": "m", "max_tokens": 10, **body}).encode())


def test_a_tool_use_round_trip_becomes_openai_shaped_messages_in_order() -> None:
    parsed = parse(
        system=[{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind.", "cache_control": {}}],
        messages=[
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
                    {"type": "text", "text": "Thanks"},
                ],
            },
        ],
    )
    request = parsed.request
    assert request.system == "Be brief.\n\nBe kind."
    assert [dict(m) for m in request.messages] == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {"role": "user", "content": "Thanks"},
    ]
    assert not parsed.thinking


def test_options_tools_tool_choice_and_thinking_map_to_neutral_names() -> None:
    parsed = parse(
        messages=[{"role": "user", "content": "hi"}],
        stop_sequences=["END"],
        temperature=0.5,
        top_k=5,
        tools=[{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        thinking={"type": "enabled", "budget_tokens": 2048},
    )
    options = parsed.request.options
    assert options["stop"] == ["END"] and options["temperature"] == 0.5 and options["top_k"] == 5
    assert options["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "description": "d"}}
    ]
    assert options["tool_choice"] == "required" and options["parallel_tool_calls"] is False
    assert options["reasoning"] == {"max_tokens": 2048} and parsed.thinking
    assert parsed.request.models == ("m",) and parsed.request.include_usage


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens: Field required"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model: Field required"),
        ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "role"),
        ({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "n": 2}, "n: Extra inputs"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "audio"}]}]}, "audio"),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            },
            "custom tools",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "thinking": {"type": "enabled"},
            },
            "budget_tokens",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "temperature": "hot"},
            "temperature",
        ),
    ],
)
def test_bad_messages_bodies_are_refused_with_anthropics_wording(body: dict[str, Any], needle: str) -> None:
    with pytest.raises(BadRequest, match=needle):
        anthropic_api.parse_messages_body(json.dumps(body).encode())


def test_a_whole_answer_becomes_a_message_with_parsed_tool_input() -> None:
    doc = anthropic_api.message_json(
        message_id="msg_1",
        model="m",
        content="Here.",
        tool_calls=[ToolCall("call_1", "f", '{"a": 1}')],
        reasoning=None,
        finish_reason="tool_calls",
        usage=(12, 3),
    )
    assert doc["content"] == [
        {"type": "text", "text": "Here."},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
    ]
    assert doc["stop_reason"] == "tool_use" and doc["usage"] == {"input_tokens": 12, "output_tokens": 3}


@pytest.mark.parametrize(
    ("finish", "stop"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal"), (None, "end_turn")],
)
def test_finish_reasons_map_to_stop_reasons(finish: str | None, stop: str) -> None:
    assert anthropic_api.stop_reason(finish) == stop


def _events(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for frame in data.decode().split("\n\n"):
        if frame:
            name, payload = frame.split("\n")
            out.append((name.removeprefix("event: "), json.loads(payload.removeprefix("data: "))))
    return out


def test_stream_blocks_open_and_close_as_the_kind_of_delta_changes() -> None:
    stream = MessageStream("msg_1", thinking=True)
    data = stream.start("m", 7)
    data += stream.delta("", "thinking...", ())
    data += stream.delta("Hello", "", ())
    data += stream.delta(" world", "", ())
    data += stream.delta("", "", (ToolCallDelta(0, "call_1", "f", '{"a"'),))
    data += stream.delta("", "", (ToolCallDelta(0, None, None, ": 1}"),))
    data += stream.finish("tool_calls", 20, 5)
    events = _events(data)
    assert [name for name, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    starts = [doc for name, doc in events if name == "content_block_start"]
    assert [(s["index"], s["content_block"]["type"]) for s in starts] == [(0, "thinking"), (1, "text"), (2, "tool_use")]
    assert starts[2]["content_block"]["id"] == "call_1"
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"] == {"output_tokens": 5, "input_tokens": 20}


def test_reasoning_is_not_streamed_to_a_client_that_did_not_ask_for_thinking() -> None:
    stream = MessageStream("msg_1", thinking=False)
    assert stream.delta("", "thinking...", ()) == b""


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost", True),
        ("localhost:8765", True),
        ("127.0.0.1:1", True),
        ("[::1]:8765", True),
        ("app.localhost", True),
        ("127.8.9.10", True),
        ("LOCALHOST.", True),
        ("evil.example", False),
        ("127.0.0.1.nip.io", False),
        ("localhost.evil.example", False),
        ("localhost:80:80", False),
        ("[::1", False),
        ("", False),
    ],
)
def test_only_loopback_names_pass_the_host_check_without_a_token(host: str, allowed: bool) -> None:
    assert (guard.check_host(host, "127.0.0.1", token_required=False) is None) is allowed
    assert guard.check_host(host, "127.0.0.1", token_required=True) is None


def test_origins_content_types_and_preflight() -> None:
    assert guard.check_origin(None, ()) is None
    assert guard.check_origin("https://evil.example", ()) is not None
    assert guard.check_origin("http://localhost:3000/", ("http://localhost:3000",)) is None
    assert guard.check_json_content_type("application/json; charset=utf-8") is None
    assert guard.check_json_content_type("text/plain") is not None
    assert guard.check_json_content_type(None) is not None
    headers = guard.preflight_headers("http://a.test", ("http://a.test",), "content-type,\r\nx-evil: 1")
    assert "Access-Control-Allow-Headers" not in headers  # a malformed list is not echoed


@given(
    st.recursive(
        st.integers() | st.text(max_size=3),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=2), c, max_size=3),
        max_leaves=30,
    )
)
def test_depth_over_agrees_with_a_recursive_count(value: Any) -> None:
    def depth(v: Any) -> int:
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        return 0

    for limit in range(0, 6):
        assert depth_over(value, limit) is (depth(value) > limit)


def test_load_object_refuses_nan_deep_nesting_and_non_objects() -> None:
    for raw in (b'{"a": NaN}', b'{"a": -Infinity}', b'{"a": 1e400}', b"[1]", b"{", b"\xff"):
        with pytest.raises(BadRequest):
            load_object(raw)
    with pytest.raises(BadRequest, match="nests deeper"):
        load_object(b'{"a": ' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}")
    with pytest.raises(BadRequest, match="nests deeper"):
        load_object(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert load_object(b'{"a": [[1]]}') == {"a": [[1]]}


class _Store:
    """A HealthBackend that counts its reads."""

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.reads = 0

    def record(self, outcome: Any) -> bool:
        self.rows.append(outcome)
        return True

    def outcomes(self, since: float, endpoints: Any = None) -> list[Any]:
        self.reads += 1
        return [o for o in self.rows if o.at >= since]


def test_the_gateway_reads_the_store_once_a_second_and_sees_its_own_outcomes_at_once() -> None:
    from orcli.gateway.health_cache import CachedHealth
    from orcli.types import FailureClass, HealthSettings, Outcome, Profile

    now = [1000.0]
    store = _Store()
    cache = CachedHealth(store, clock=lambda: now[0])  # type: ignore[arg-type]
    profile = Profile("p", "p.toml", {}, (), {}, health=HealthSettings())
    assert cache.snapshot(profile).endpoints == {} and store.reads == 1
    failed = Outcome(at=now[0], model="m", provider="a", ok=False, error_class=FailureClass.PROVIDER, status=500)
    cache.record(failed)
    assert cache.snapshot(profile).get("m", "a").failures == 1  # this process's outcome, at once
    store.rows.append(Outcome(at=now[0], model="m", provider="b", ok=False, error_class=FailureClass.PROVIDER))
    now[0] += 0.5
    assert cache.snapshot(profile).get("m", "b").failures == 0 and store.reads == 1  # another process's: not yet
    now[0] += 0.6
    snapshot = cache.snapshot(profile)
    assert snapshot.get("m", "b").failures == 1 and snapshot.get("m", "a").failures == 1 and store.reads == 2
