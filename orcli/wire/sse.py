"""Server-sent events (WHATWG), dialect-independent: bytes as they arrive in, complete `SSEEvent`s out."""

from __future__ import annotations

import functools
import re

from orcli.wire.base import SSEEvent, StreamProtocolError

MAX_LINE_BYTES = 1 << 20  # one SSE line; a server that never sends a newline must not exhaust memory
MAX_EVENT_BYTES = 1 << 20  # one SSE event's accumulated data

_EOL = re.compile(rb"\r\n?|\n")


# An SSEEvent from its four fields in order, built by tuple.__new__ directly: the NamedTuple's own
# constructor is a Python-level call (with keyword handling), once per event of every stream.
_event = functools.partial(tuple.__new__, SSEEvent)


_EVENT_FIELDS = frozenset({"data", "event", "retry"})  # the fields an event keeps until it is dispatched


class SSEDecoder:
    """Incremental SSE decoder (WHATWG rules): feed bytes as they arrive, get complete events."""

    def __init__(self, max_line: int = MAX_LINE_BYTES, max_event: int = MAX_EVENT_BYTES) -> None:
        self.max_line = max_line
        self.max_event = max_event
        # A chunk no longer than this is within both limits whatever its lines: the fast paths take only such.
        self._fast_max = min(max_line, max_event)
        self.bytes_fed = 0  # every byte counts as a sign of life, keep-alives included
        self.comments = 0  # keep-alive/comment lines seen; they yield no event
        self.last_event_id: str | None = None
        self._buf = bytearray()
        self._error: StreamProtocolError | None = None  # raised on the next call (see `feed`)
        self._first_line = True
        self._reset_event()

    def _reset_event(self) -> None:
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        self._retry: int | None = None
        self._clean = True  # no field of the next event seen yet: what the fast paths need

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Decode a chunk; returns the events it completed.

        A protocol error after some complete events in the same chunk is raised on the next call: the
        events before it belong to the stream whatever the split, so the verdict never depends on it.
        """
        if self._error is not None:
            raise self._error
        size = len(data)
        self.bytes_fed += size
        if (
            data.startswith(b"data: ")
            and data.find(b"\n") == size - 2  # the first line break is the last but one byte...
            and data.endswith(b"\n\n")  # ...and the last is one too: exactly one line, then a blank one
            and not self._buf
            and self._clean
            and not self._first_line
            and b"\r" not in data
            and size <= self._fast_max
        ):
            # The usual chunk, exactly one `data:` line and its blank line: one event, no line machinery, no
            # further call (this runs once per chunk of every stream; docs/performance.md).
            return [_event((data[6:-2].decode("utf-8", "replace"), "message", self.last_event_id, None))]
        if data.startswith(b"event: "):
            named = self._named_event(data, size)
            if named is not None:
                return named
        events: list[SSEEvent] = []
        try:
            return self._feed(data, events)
        except StreamProtocolError as exc:
            if not events:
                raise
            self._error = exc
            return events

    def _named_event(self, data: bytes, size: int) -> list[SSEEvent] | None:
        """The usual chunk of a stream with named events (Anthropic's): an `event:` line, a `data:` line and the
        blank line, whole, in a clean state: one event without the line machinery. None for anything else."""
        eol = data.find(b"\n")
        if (
            data.startswith(b"data: ", eol + 1)
            and data.find(b"\n", eol + 1) == size - 2
            and data.endswith(b"\n\n")
            and not self._buf
            and self._clean
            and not self._first_line
            and b"\r" not in data
            and size <= self._fast_max
        ):
            name = data[7:eol].decode("utf-8", "replace") or "message"
            return [_event((data[eol + 7 : -2].decode("utf-8", "replace"), name, self.last_event_id, None))]
        return None

    def _feed(self, data: bytes, events: list[SSEEvent]) -> list[SSEEvent]:
        if (
            data.startswith(b"data: ")
            and data.endswith(b"\r\n\r\n")
            and data.count(b"\n") == 2
            and data.count(b"\r") == 2
            and not self._buf
            and self._clean
            and not self._first_line
            and len(data) <= self._fast_max
        ):
            # The same with CRLF line ends, as Gemini frames its stream (docs/dialects.md).
            events.append(_event((data[6:-4].decode("utf-8", errors="replace"), "message", self.last_event_id, None)))
            return events
        if not self._buf and data.endswith(b"\n") and b"\r" not in data:
            # The common case, a chunk of whole `\n`-ended lines: split it, no buffering, no regex.
            for raw in data.split(b"\n")[:-1]:
                self._line(raw, events)
            return events
        buf = self._buf
        # Only the new bytes (and a held-back '\r') can hold a line end: no rescan of a long partial line.
        start = max(len(buf) - 1, 0)
        buf += data
        pos = 0
        for m in _EOL.finditer(buf, start):
            if m.end() == len(buf) and m.end() - m.start() == 1 and buf[m.start()] == 0x0D:
                break  # a '\r' at the end may be the first half of '\r\n'
            self._line(bytes(buf[pos : m.start()]), events)
            pos = m.end()
        del buf[:pos]
        # A held-back '\r' is a line end, not part of the line: split points must not change the verdict.
        if len(buf) - buf.endswith(b"\r") > self.max_line:
            raise StreamProtocolError(f"SSE line longer than {self.max_line} bytes")
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: flush a last line and an event that lacked its blank line."""
        if self._error is not None:
            raise self._error
        events: list[SSEEvent] = []
        if self._buf:
            line = bytes(self._buf).rstrip(b"\r")
            self._buf.clear()
            try:
                self._line(line, events)
            except StreamProtocolError:
                # An unfinished last event over the limits is dropped, as WHATWG drops every unfinished event
                # at the end of a stream: the caller sees a stream that ended early, never an exception here.
                self._reset_event()
                return events
        self._dispatch(events)
        return events

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        if len(raw) > self.max_line:
            raise StreamProtocolError(f"SSE line longer than {self.max_line} bytes")
        # Line ends are ASCII, so decoding per line never splits a multi-byte character.
        line = raw.decode("utf-8", errors="replace")
        if self._first_line:
            self._first_line = False
            line = line.removeprefix("\ufeff")
        if not line:
            self._dispatch(events)
            return
        if line[0] == ":":
            self.comments += 1
            return
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name in _EVENT_FIELDS:
            self._clean = False  # the event under way has a field: the next chunk must join it, not start anew
        if name == "data":
            self._data_size += len(raw) + 1
            if self._data_size > self.max_event:
                raise StreamProtocolError(f"SSE event larger than {self.max_event} bytes")
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(
                SSEEvent(
                    data="\n".join(self._data),
                    event=self._event or "message",
                    id=self.last_event_id,
                    retry=self._retry,
                )
            )
        self._reset_event()
