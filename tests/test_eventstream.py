"""The "aws-eventstream" framer against botocore's own event-stream parser (the reference): the same events
from real frames (built by the Bedrock fake) and from generated ones with headers of every type, whatever the
split into reads; every corrupted byte rejected, as botocore rejects it; truncated streams refused."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from fake_bedrock import event_frame, exception_frame, frame
from hypothesis import given, settings
from hypothesis import strategies as st

from orcli.execution.eventstream import EventStreamFramer
from orcli.wire.base import SSEEvent, StreamProtocolError

eventstream = pytest.importorskip("botocore.eventstream", reason="botocore (the aws extra) is the reference")

STREAM = (
    event_frame("messageStart", {"role": "assistant"})
    + event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hé"}})
    + exception_frame("throttlingException", "slow down")
)


def reference(data: bytes) -> list[SSEEvent]:
    """What botocore's EventStreamBuffer reads, in the framer's terms."""
    buffer = eventstream.EventStreamBuffer()
    buffer.add_data(data)
    out = []
    for message in buffer:
        h = {k: v for k, v in message.headers.items() if isinstance(v, str)}
        payload = message.payload.decode("utf-8", errors="replace")
        if h.get(":message-type") == "exception":
            out.append(SSEEvent(payload, "exception:" + h.get(":exception-type", "")))
        elif h.get(":message-type") == "error":
            out.append(
                SSEEvent(json.dumps({"message": h.get(":error-message", "")}), "exception:" + h.get(":error-code", ""))
            )
        else:
            out.append(SSEEvent(payload, h.get(":event-type") or "message"))
    return out


def ours(data: bytes, cuts: list[int]) -> list[SSEEvent]:
    framer = EventStreamFramer()
    events, last = [], 0
    for cut in [*sorted(set(cuts)), len(data)]:
        events += framer.feed(data[last:cut])
        last = cut
    assert framer.close() == []
    return events


def test_frames_split_anywhere_come_out_whole_and_in_order() -> None:
    expected = reference(STREAM)
    assert [e.event for e in expected] == ["messageStart", "contentBlockDelta", "exception:throttlingException"]
    for size in (1, 7, 64, len(STREAM)):
        assert ours(STREAM, list(range(0, len(STREAM), size))) == expected
    assert json.loads(expected[1].data)["delta"]["text"] == "Hé"


def test_a_protocol_error_frame_is_an_exception_event() -> None:
    error = frame({":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}, b"")
    assert ours(error, []) == reference(error) == [SSEEvent('{"message": "boom"}', "exception:InternalFailure")]


# --- generated messages: headers of all nine types -------------------------------------------------

_VALUES = {
    0: st.just(b""),  # true
    1: st.just(b""),  # false
    2: st.binary(min_size=1, max_size=1),
    3: st.binary(min_size=2, max_size=2),
    4: st.binary(min_size=4, max_size=4),
    5: st.binary(min_size=8, max_size=8),
    6: st.binary(max_size=40).map(lambda b: struct.pack(">H", len(b)) + b),
    7: st.text(max_size=30).map(lambda t: struct.pack(">H", len(t.encode())) + t.encode()),
    8: st.binary(min_size=8, max_size=8),
    9: st.binary(min_size=16, max_size=16),
}
_header = st.tuples(
    st.text(min_size=1, max_size=12).filter(lambda n: len(n.encode()) < 256), st.sampled_from(list(_VALUES))
).flatmap(lambda nt: _VALUES[nt[1]].map(lambda v: (nt[0], nt[1], v)))


def encode(headers: list[tuple[str, int, bytes]], payload: bytes) -> bytes:
    seen: set[str] = set()
    block = b""
    for name, kind, value in headers:
        if name in seen:
            continue  # botocore refuses a repeated header name
        seen.add(name)
        raw = name.encode()
        block += bytes([len(raw)]) + raw + bytes([kind]) + value
    prelude = struct.pack(">II", 16 + len(block) + len(payload), len(block))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + block + payload
    return message + struct.pack(">I", zlib.crc32(message))


_message = st.tuples(st.lists(_header, max_size=5), st.binary(max_size=200)).map(lambda hp: encode(*hp))


@settings(max_examples=150, deadline=None)
@given(st.lists(_message, min_size=1, max_size=4), st.lists(st.integers(min_value=0, max_value=2000), max_size=6))
def test_generated_messages_read_as_botocore_reads_them(messages: list[bytes], cuts: list[int]) -> None:
    data = b"".join(messages)
    assert ours(data, [c for c in cuts if c < len(data)]) == reference(data)


@settings(max_examples=150, deadline=None)
@given(_message, st.data())
def test_every_corrupted_byte_is_refused_as_botocore_refuses_it(message: bytes, data: st.DataObject) -> None:
    at = data.draw(st.integers(min_value=0, max_value=len(message) - 1))
    broken = bytearray(message)
    broken[at] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(eventstream.ParserError):
        reference(bytes(broken))  # botocore refuses it...
    framer = EventStreamFramer()
    with pytest.raises(StreamProtocolError):  # ...and so does orcli, at once or when the stream ends
        framer.feed(bytes(broken))
        framer.close()


def test_a_cut_stream_is_a_protocol_error() -> None:
    framer = EventStreamFramer()
    framer.feed(STREAM[:-3])
    with pytest.raises(StreamProtocolError, match="inside a message"):
        framer.close()
