"""The "aws-eventstream" framer: real AWS event-stream frames (built by the Bedrock fake) in any split, bad
checksums and truncated streams as protocol errors."""

from __future__ import annotations

import json

import pytest
from fake_bedrock import event_frame, exception_frame, frame

from orcli.execution.eventstream import EventStreamFramer
from orcli.wire.base import SSEEvent, StreamProtocolError

pytest.importorskip("botocore", reason="botocore (the aws extra) is not installed")

STREAM = (
    event_frame("messageStart", {"role": "assistant"})
    + event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hé"}})
    + exception_frame("throttlingException", "slow down")
)


def test_frames_split_anywhere_come_out_whole_and_in_order() -> None:
    for size in (1, 7, 64, len(STREAM)):
        framer = EventStreamFramer()
        events = [e for i in range(0, len(STREAM), size) for e in framer.feed(STREAM[i : i + size])]
        assert framer.close() == []
        assert [e.event for e in events] == ["messageStart", "contentBlockDelta", "exception:throttlingException"]
        assert json.loads(events[1].data)["delta"]["text"] == "Hé"
        assert json.loads(events[2].data) == {"message": "slow down"}


def test_a_protocol_error_frame_is_an_exception_event() -> None:
    error = frame({":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}, b"")
    assert EventStreamFramer().feed(error) == [SSEEvent('{"message": "boom"}', "exception:InternalFailure")]


def test_a_bad_checksum_and_a_cut_frame_are_protocol_errors() -> None:
    broken = bytearray(STREAM)
    broken[30] ^= 0xFF
    with pytest.raises(StreamProtocolError, match="not valid"):
        EventStreamFramer().feed(bytes(broken))
    framer = EventStreamFramer()
    framer.feed(STREAM[:-3])
    with pytest.raises(StreamProtocolError, match="inside a frame"):
        framer.close()
