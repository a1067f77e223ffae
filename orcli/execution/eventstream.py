"""The "aws-eventstream" framer: AWS's binary event stream (`application/vnd.amazon.eventstream`, what Bedrock's
ConverseStream sends) turned into the neutral events every dialect decodes (docs/dialects.md "Cloud dialects").

The format (AWS "event stream encoding"): each message is a 12-byte prelude (total length, headers length,
CRC32 of those 8 bytes), typed headers (name length, name, type, value), the payload, and a CRC32 of all that
came before. Both checksums are verified; a header of any of the nine types is read, the string ones kept.

The parser is orcli's own, in the standard library (struct, zlib's CRC32: a checksum, no cryptography), rather
than botocore's EventStreamBuffer: botocore's parses a frame in ~9 µs of Python, which made a Bedrock stream
cost 1.6x the client CPU of an OpenAI one (benchmarks/dialect_bench.py); this one does it in ~2 µs.
tests/test_eventstream.py checks it frame for frame against botocore's parser, on the frames of the Bedrock
fake and on generated ones, split at every byte, corrupted anywhere.

A message becomes `SSEEvent(data=<payload text>, event=<:event-type>)`; an exception message
`event="exception:<:exception-type>"`; a protocol error message (`:message-type` error)
`event="exception:<:error-code>"` with its message as a JSON payload. A checksum that does not match, a
length out of bounds, or a stream that ends inside a message is a StreamProtocolError (a broken stream).
"""

from __future__ import annotations

import functools
import json
import struct
import zlib

from orcli.wire.base import SSEEvent, StreamProtocolError

MEDIA_TYPE = "application/vnd.amazon.eventstream"
EXCEPTION = "exception:"
_PRELUDE = struct.Struct(">III")
_CRC = struct.Struct(">I")
_MAX_HEADERS = 128 * 1024  # the format's own limits (botocore enforces the same)
_MAX_PAYLOAD = 24 * 1024 * 1024
# Fixed-size header value types -> their size; 6 (bytes) and 7 (string) carry a 2-byte length.
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}


def _headers(raw: bytes) -> dict[str, str]:
    """The string headers of one message (other types are skipped; a malformed block is a protocol error)."""
    out: dict[str, str] = {}
    i, end = 0, len(raw)
    try:
        while i < end:
            n = raw[i]
            name = raw[i + 1 : i + 1 + n].decode("utf-8")
            kind = raw[i + 1 + n]
            i += 2 + n
            if kind in (6, 7):
                (size,) = struct.unpack_from(">H", raw, i)
                if kind == 7:
                    out[name] = raw[i + 2 : i + 2 + size].decode("utf-8", errors="replace")
                i += 2 + size
            elif kind in _FIXED:
                i += _FIXED[kind]
            else:
                raise StreamProtocolError(f"event stream header {name!r} has unknown type {kind}")
    except (IndexError, struct.error, UnicodeDecodeError):
        raise StreamProtocolError("event stream headers are malformed") from None
    if i != end:
        raise StreamProtocolError("event stream headers overrun their length")
    return out


def _event(headers: dict[str, str], payload: bytes) -> SSEEvent:
    kind = headers.get(":message-type")
    data = payload.decode("utf-8", errors="replace")
    if kind == "exception":
        return SSEEvent(data, EXCEPTION + headers.get(":exception-type", ""))
    if kind == "error":
        said = {"message": headers.get(":error-message", "")}
        return SSEEvent(json.dumps(said), EXCEPTION + headers.get(":error-code", ""))
    return SSEEvent(data, headers.get(":event-type") or "message")


def _event_name(headers: dict[str, str]) -> str | None:
    """The event name of a header block whose messages are plain events (the payload is the data, as is);
    None for the others (exceptions, errors), which `_event` reads whole."""
    if headers.get(":message-type") in ("exception", "error"):
        return None
    return headers.get(":event-type") or "message"


# An SSEEvent from its four fields, built by tuple.__new__ directly (once per message; see wire/sse.py).
_new_event = functools.partial(tuple.__new__, SSEEvent)


class EventStreamFramer:
    """Bytes in, events out, messages reassembled across reads. A stream repeats a few header blocks (one per
    event type), so each distinct block is parsed once per stream."""

    def __init__(self) -> None:
        self._buffer = b""
        # header block -> (its headers, its event name when its messages are plain events)
        self._known: dict[bytes, tuple[dict[str, str], str | None]] = {}

    def feed(self, data: bytes) -> list[SSEEvent]:
        buffer = self._buffer + data if self._buffer else data
        view = memoryview(buffer)
        out: list[SSEEvent] = []
        start, size = 0, len(buffer)
        while size - start >= 12:
            total, head, crc = _PRELUDE.unpack_from(buffer, start)
            if zlib.crc32(view[start : start + 8]) != crc:
                raise StreamProtocolError("event stream prelude checksum does not match")
            if head > _MAX_HEADERS or total - head - 16 > _MAX_PAYLOAD or total < head + 16:
                raise StreamProtocolError("event stream message length is out of bounds")
            if size - start < total:
                break
            end = start + total
            if zlib.crc32(view[start : end - 4]) != _CRC.unpack_from(buffer, end - 4)[0]:
                raise StreamProtocolError("event stream message checksum does not match")
            block = buffer[start + 12 : start + 12 + head]
            known = self._known.get(block)
            if known is None:
                headers = _headers(block)
                known = (headers, _event_name(headers))
                if len(self._known) < 64:
                    self._known[block] = known
            payload = buffer[start + 12 + head : end - 4]
            if known[1] is not None:  # the common case, once per message: an event whose payload is its data
                out.append(_new_event((payload.decode("utf-8", "replace"), known[1], None, None)))
            else:
                out.append(_event(known[0], payload))
            start = end
        self._buffer = buffer[start:]
        return out

    def close(self) -> list[SSEEvent]:
        if self._buffer:
            raise StreamProtocolError("the event stream ended inside a message")
        return []


def framer() -> EventStreamFramer:
    return EventStreamFramer()
