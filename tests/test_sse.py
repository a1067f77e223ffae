"""wire/sse: the dialect-independent SSE decoder (WHATWG rules), split anywhere, bounded in size."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orcli.wire.base import SSEEvent, StreamProtocolError, WireError
from orcli.wire.sse import SSEDecoder

# An OpenRouter-like stream: keep-alive comments, JSON events with non-ASCII text, the [DONE] marker.
PAYLOADS = [
    {"choices": [{"delta": {"role": "assistant", "content": ""}}]},
    {"choices": [{"delta": {"content": "Hel"}}]},
    {"choices": [{"delta": {"content": "lo, wörld ✓"}}]},
    {"choices": [{"delta": {}, "finish_reason": "stop"}]},
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


def test_a_stream_decodes_to_one_event_per_data_block() -> None:
    events = decode([STREAM])
    assert [json.loads(e.data) for e in events[:-1]] == PAYLOADS
    assert events[-1] == SSEEvent("[DONE]")


def test_every_split_point_gives_the_same_events() -> None:
    whole = decode([STREAM])
    for i in range(len(STREAM) + 1):
        assert decode([STREAM[:i], STREAM[i:]]) == whole, i


def test_byte_at_a_time_gives_the_same_events() -> None:
    assert decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == decode([STREAM])


@given(st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_random_splits_give_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    assert decode([STREAM[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]) == decode([STREAM])


# An Anthropic-like stream: every event named on an `event:` line before its `data:` line.
NAMED = b"".join(
    b"event: " + name + b"\ndata: " + json.dumps({"type": name.decode(), "n": i}).encode() + b"\n\n"
    for i, name in enumerate(
        [b"message_start", b"content_block_delta", b"ping", b"content_block_delta", b"message_stop"]
    )
)


def test_named_events_keep_their_names_wherever_the_stream_is_split() -> None:
    whole = decode([NAMED])
    assert [e.event for e in whole] == [
        "message_start",
        "content_block_delta",
        "ping",
        "content_block_delta",
        "message_stop",
    ]
    for i in range(len(NAMED) + 1):
        assert decode([NAMED[:i], NAMED[i:]]) == whole, i


def test_a_field_in_one_chunk_joins_the_data_line_of_the_next() -> None:
    # Split at a line end, the event's name (and retry) must still reach it: the chunk with only the data
    # line is not a fresh event.
    assert decode([b"data: a\n\n", b"event: foo\n", b"data: x\n\n"])[1] == SSEEvent("x", "foo")
    assert decode([b"data: a\n\n", b"retry: 5\n", b"data: x\n\n"])[1] == SSEEvent("x", retry=5)
    assert decode([b"data: a\n\n", b"event: foo\n", b"event: bar\ndata: x\n\n"])[1] == SSEEvent("x", "bar")


@given(st.lists(st.integers(0, len(NAMED)), max_size=12))
def test_random_splits_of_named_events_give_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(NAMED)]
    assert decode([NAMED[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]) == decode([NAMED])


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_all_three_line_endings_decode_alike(eol: bytes) -> None:
    stream = STREAM.replace(b"\n", eol)
    assert decode([stream]) == decode([STREAM])
    for i in range(len(stream) + 1):
        assert decode([stream[:i], stream[i:]]) == decode([STREAM])


def test_a_crlf_split_between_its_two_bytes_does_not_end_an_event_early() -> None:
    stream = b"event: update\r\nid: 1\r\ndata: a\r\ndata: b\r\n\r\n"
    expected = [SSEEvent(data="a\nb", event="update", id="1")]
    for i in range(len(stream) + 1):
        assert decode([stream[:i], stream[i:]]) == expected, i


def test_a_line_of_exactly_the_cap_is_accepted_wherever_its_crlf_is_split() -> None:
    line = b"data: " + b"x" * 94
    for i in range(len(line), len(line) + 4):
        raw = line + b"\r\n\r\n"
        assert decode([raw[:i], raw[i:]], max_line=100) == [SSEEvent(data="x" * 94)]


def test_keep_alive_comments_yield_nothing_but_are_counted() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b": keep-alive\n\n:\n\n") == []
    assert decoder.comments == 2
    assert decoder.bytes_fed == 17


def test_event_id_and_retry_fields_are_kept() -> None:
    events = decode([b"event: error\nid: 7\nretry: 1500\ndata: {}\n\ndata: x\n\n"])
    assert events == [SSEEvent(data="{}", event="error", id="7", retry=1500), SSEEvent(data="x", id="7")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode([b"data: line one\ndata:line two\ndata\n\n"]) == [SSEEvent(data="line one\nline two\n")]


def test_a_field_without_data_dispatches_nothing() -> None:
    assert decode([b"event: ping\n\nid: 3\n\n"]) == []


def test_unknown_fields_and_bad_retry_are_ignored() -> None:
    assert decode([b"foo: bar\nretry: soon\ndata: x\n\n"]) == [SSEEvent(data="x")]


def test_a_leading_byte_order_mark_is_dropped() -> None:
    assert decode([b"\xef\xbb", b"\xbfdata: x\n\n"]) == [SSEEvent(data="x")]


def test_close_flushes_a_last_event_without_its_blank_line() -> None:
    assert decode([b"data: [DONE]"]) == [SSEEvent(data="[DONE]")]
    assert decode([b"data: a\n"]) == [SSEEvent(data="a")]
    assert decode([b"data: a\r"]) == [SSEEvent(data="a")]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert decode([b"data: caf\xc3\n\ndata: \xff\xfe ok\n\n"]) == [
        SSEEvent(data="caf\ufffd"),
        SSEEvent(data="\ufffd\ufffd ok"),
    ]


def test_a_multi_byte_character_split_across_chunks_survives() -> None:
    raw = "data: ✓\n\n".encode()
    assert decode([raw[:7], raw[7:]]) == [SSEEvent(data="✓")]


def test_an_oversized_line_raises_even_before_its_newline_arrives() -> None:
    decoder = SSEDecoder(max_line=100)
    decoder.feed(b"data: " + b"x" * 90)
    with pytest.raises(StreamProtocolError, match="longer than 100"):
        decoder.feed(b"x" * 20)


def test_an_oversized_line_in_one_chunk_raises() -> None:
    with pytest.raises(StreamProtocolError):
        SSEDecoder(max_line=100).feed(b"data: " + b"x" * 200 + b"\n\n")


def test_an_oversized_event_raises() -> None:
    with pytest.raises(StreamProtocolError, match="event larger"):
        SSEDecoder(max_event=100).feed(b"data: 0123456789\n" * 20)


def test_default_cap_is_one_mebibyte() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: " + b"x" * ((1 << 20) - 10))
    with pytest.raises(StreamProtocolError):
        decoder.feed(b"x" * (1 << 20))


GARBAGE = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"\n", b"\r", b"\r\n", b"data: ", b"data:{}", b": ping", b"event: x", b"id: 1", b"\xff"]),
    ),
    max_size=30,
).map(b"".join)


@settings(max_examples=300)
@given(GARBAGE, st.lists(st.integers(0, 400), max_size=8))
def test_any_bytes_split_anywhere_decode_the_same_or_raise_only_wire_errors(raw: bytes, cuts: list[int]) -> None:
    bounds = [0, *sorted(min(c, len(raw)) for c in cuts), len(raw)]
    pieces = [raw[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    outcomes = []
    for chunks in ([raw], pieces):
        try:
            outcomes.append(decode(chunks, max_line=64, max_event=128))
        except WireError:
            outcomes.append("error")
    assert outcomes[0] == outcomes[1]
