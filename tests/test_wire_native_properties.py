"""Whatever a provider sends, the native dialects answer with a value or a WireError, never another exception
(the executor turns WireError into a provider failure; anything else would be an internal error), and what
they return is text that can always be written out as UTF-8.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcli.wire import dialect_for
from orcli.wire.base import Answer, Delta, SSEEvent, WireError

NATIVE = ("anthropic", "gemini", "azure")

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8)
words = st.sampled_from(
    [
        "type",
        "index",
        "delta",
        "text",
        "thinking",
        "partial_json",
        "content_block",
        "content",
        "message",
        "usage",
        "input_tokens",
        "output_tokens",
        "stop_reason",
        "error",
        "model",
        "tool_use",
        "id",
        "name",
        "input",
        "candidates",
        "parts",
        "functionCall",
        "args",
        "thought",
        "finishReason",
        "promptFeedback",
        "blockReason",
        "usageMetadata",
        "promptTokenCount",
        "candidatesTokenCount",
        "thoughtsTokenCount",
        "modelVersion",
        "choices",
        "finish_reason",
        "content_block_delta",
        "content_block_start",
        "message_start",
        "message_delta",
        "text_delta",
        "input_json_delta",
        "thinking_delta",
        "STOP",
        "SAFETY",
        "code",
        "status",
        "details",
        "reason",
        "\ud800",
    ]
)
json_values = st.recursive(
    scalars | words,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(words | st.text(max_size=4), inner, max_size=6),
    max_leaves=30,
)


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple | list):
        return [t for item in value for t in _texts(item)]
    return []


def _encodable(value: Answer | Delta) -> None:
    for text in _texts(tuple(value)):
        text.encode("utf-8")


@pytest.mark.parametrize("api", NATIVE)
@given(value=json_values)
def test_any_json_body_is_an_answer_or_a_wire_error(api: str, value: object) -> None:
    body = json.dumps(value).encode()
    try:
        answer = dialect_for(api).decode_answer(body)
    except WireError:
        return
    _encodable(answer)


@pytest.mark.parametrize("api", NATIVE)
@given(values=st.lists(json_values, max_size=6), event=st.sampled_from(["message", "error", "content_block_delta"]))
def test_any_stream_of_json_events_is_deltas_or_a_wire_error(api: str, values: list[object], event: str) -> None:
    decoder = dialect_for(api).event_decoder()
    for value in values:
        try:
            deltas = decoder.decode(SSEEvent(json.dumps(value), event=event))
        except WireError:
            return
        for delta in deltas:
            _encodable(delta)


@pytest.mark.parametrize("api", NATIVE)
@given(status=st.integers(100, 599), value=json_values | st.text(max_size=30))
def test_any_error_body_parses(api: str, status: int, value: object) -> None:
    body = value if isinstance(value, str) else json.dumps(value)
    err = dialect_for(api).parse_error(status, body.encode("utf-8", "surrogatepass"))
    assert err.status == status
    for text in (err.message, err.code or "", err.type or "", err.detail, *err.reasons):
        text.encode("utf-8")


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy | json_values


anthropic_blocks = st.fixed_dictionaries(
    {"type": _maybe(st.sampled_from(["text", "thinking", "tool_use", "redacted_thinking"]))},
    optional={
        "text": json_values,
        "thinking": json_values,
        "id": json_values,
        "name": json_values,
        "input": json_values,
    },
)
anthropic_events = st.fixed_dictionaries(
    {
        "type": _maybe(
            st.sampled_from(
                [
                    "message_start",
                    "content_block_start",
                    "content_block_delta",
                    "content_block_stop",
                    "message_delta",
                    "message_stop",
                    "ping",
                    "error",
                ]
            )
        )
    },
    optional={
        "index": _maybe(st.integers(0, 3)),
        "content_block": _maybe(anthropic_blocks),
        "delta": _maybe(
            st.fixed_dictionaries(
                {"type": _maybe(st.sampled_from(["text_delta", "thinking_delta", "input_json_delta"]))},
                optional={
                    "text": json_values,
                    "thinking": json_values,
                    "partial_json": json_values,
                    "stop_reason": json_values,
                },
            )
        ),
        "message": _maybe(st.fixed_dictionaries({}, optional={"model": json_values, "usage": json_values})),
        "usage": _maybe(
            st.fixed_dictionaries({}, optional={"input_tokens": json_values, "output_tokens": json_values})
        ),
        "error": json_values,
    },
)
anthropic_bodies = st.fixed_dictionaries(
    {"content": _maybe(st.lists(_maybe(anthropic_blocks), max_size=3))},
    optional={"type": json_values, "stop_reason": json_values, "usage": json_values, "model": json_values},
)
gemini_parts = st.fixed_dictionaries(
    {},
    optional={
        "text": json_values,
        "thought": json_values,
        "functionCall": _maybe(st.fixed_dictionaries({}, optional={"name": json_values, "args": json_values})),
    },
)
gemini_bodies = st.fixed_dictionaries(
    {},
    optional={
        "candidates": _maybe(
            st.lists(
                _maybe(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "content": _maybe(
                                st.fixed_dictionaries(
                                    {}, optional={"parts": _maybe(st.lists(_maybe(gemini_parts), max_size=3))}
                                )
                            ),
                            "finishReason": json_values,
                        },
                    )
                ),
                max_size=2,
            )
        ),
        "promptFeedback": _maybe(st.fixed_dictionaries({}, optional={"blockReason": json_values})),
        "usageMetadata": json_values,
        "modelVersion": json_values,
        "error": json_values,
    },
)


@given(events=st.lists(anthropic_events, max_size=8), body=anthropic_bodies)
def test_anthropic_shaped_noise(events: list[dict], body: dict) -> None:
    d = dialect_for("anthropic")
    decoder = d.event_decoder()
    for event in events:
        try:
            for delta in decoder.decode(SSEEvent(json.dumps(event), event=str(event.get("type")))):
                _encodable(delta)
        except WireError:
            break
    with contextlib.suppress(WireError):
        _encodable(d.decode_answer(json.dumps(body).encode()))


@given(events=st.lists(gemini_bodies, max_size=6), body=gemini_bodies)
def test_gemini_shaped_noise(events: list[dict], body: dict) -> None:
    d = dialect_for("gemini")
    decoder = d.event_decoder()
    for event in events:
        try:
            for delta in decoder.decode(SSEEvent(json.dumps(event))):
                _encodable(delta)
        except WireError:
            break
    with contextlib.suppress(WireError):
        _encodable(d.decode_answer(json.dumps(body).encode()))


@given(
    text=st.text(max_size=20) | st.just("\ud800 lone"),
    usage=st.none()
    | st.fixed_dictionaries({"promptTokenCount": st.integers(0, 99), "candidatesTokenCount": st.integers(0, 99)}),
    model=st.none() | st.text(max_size=8),
)
def test_gemini_fast_path_decodes_a_text_piece_exactly_as_the_general_path(
    text: str, usage: dict | None, model: str | None
) -> None:
    body: dict[str, Any] = {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}]}
    if usage is not None:
        body["usageMetadata"] = usage
    if model is not None:
        body["modelVersion"] = model
    decoder = dialect_for("gemini").event_decoder()
    fast = decoder.decode(SSEEvent(json.dumps(body)))
    general = decoder.decode(SSEEvent(json.dumps({**body, "promptFeedback": {}})))  # any extra key: the general walk
    assert fast == general
    _encodable(fast[0])


def test_gemini_crlf_frames_decode_the_same_whole_or_split() -> None:
    from orcli.wire.sse import SSEDecoder

    frames = [
        b'data: {"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]}\r\n\r\n',
        b'data: {"candidates": [{"content": {"parts": [{"text": "lo"}]}, "finishReason": "STOP"}]}\r\n\r\n',
    ]
    whole = SSEDecoder()
    by_frame = [e.data for f in frames for e in whole.feed(f)]
    split = SSEDecoder()
    stream = b"".join(frames)
    by_byte = [e.data for i in range(len(stream)) for e in split.feed(stream[i : i + 1])]
    assert by_frame == by_byte
    assert len(by_frame) == 2
    decoder = dialect_for("gemini").event_decoder()
    deltas = [d for data in by_frame for d in decoder.decode(SSEEvent(data))]
    assert "".join(d.content for d in deltas) == "Hello" and deltas[-1].done
