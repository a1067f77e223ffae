"""The "aws-eventstream" framer: AWS's binary event stream (`application/vnd.amazon.eventstream`, what Bedrock's
ConverseStream sends) turned into the neutral events every dialect decodes (docs/dialects.md "Cloud dialects").

Frames are parsed by botocore's EventStreamBuffer (length prelude, CRC32 checks, typed headers), imported
only when such a stream is read: botocore is the optional `orcli[aws]` extra. A frame becomes
`SSEEvent(data=<payload text>, event=<:event-type>)`; an exception frame `event="exception:<:exception-type>"`;
a protocol error frame (`:message-type` error) `event="exception:<:error-code>"` with its message as a JSON
payload. A frame that fails its checksum, or a stream that ends inside a frame, is a StreamProtocolError
(a broken stream to the executor).
"""

from __future__ import annotations

import json
from typing import Any

from orcli.wire.base import SSEEvent, StreamProtocolError

MEDIA_TYPE = "application/vnd.amazon.eventstream"
EXCEPTION = "exception:"


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else ""


def _event(message: Any) -> SSEEvent:
    headers = message.headers
    data = _text(message.payload)
    kind = headers.get(":message-type")
    if kind == "exception":
        return SSEEvent(data, EXCEPTION + _text(headers.get(":exception-type")))
    if kind == "error":
        said = {"message": _text(headers.get(":error-message"))}
        return SSEEvent(json.dumps(said), EXCEPTION + _text(headers.get(":error-code")))
    return SSEEvent(data, _text(headers.get(":event-type")) or "message")


class EventStreamFramer:
    """Bytes in, events out, frames reassembled across reads."""

    def __init__(self) -> None:
        from botocore.eventstream import EventStreamBuffer, ParserError

        self._buffer = EventStreamBuffer()
        self._parser_error = ParserError
        self._pending = 0

    def feed(self, data: bytes) -> list[SSEEvent]:
        if not data:
            return []
        self._buffer.add_data(data)
        self._pending += len(data)
        out = []
        try:
            for message in self._buffer:
                self._pending -= message.prelude.total_length
                out.append(_event(message))
        except self._parser_error as exc:
            raise StreamProtocolError(f"event stream frame is not valid: {exc}") from None
        return out

    def close(self) -> list[SSEEvent]:
        if self._pending:
            raise StreamProtocolError("the event stream ended inside a frame")
        return []


def framer() -> EventStreamFramer:
    return EventStreamFramer()
