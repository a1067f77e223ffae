"""The OpenAI chat-completions protocol, sans-I/O: build requests, decode SSE, parse bodies and errors."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import NamedTuple

from orcli import __version__

MAX_LINE_BYTES = 1 << 20  # one SSE line; a server that never sends a newline must not exhaust memory
MAX_EVENT_BYTES = 1 << 20  # one SSE event's accumulated data
MESSAGE_CHARS = 300  # error messages are shown on one terminal line

# Keys orcli sets itself: an -o option may not silently replace them (it would break the wire exchange).
RESERVED_OPTIONS = frozenset({"model", "messages", "stream", "stream_options"})


class WireError(Exception):
    """Anything the upstream sent that does not follow the protocol."""


class StreamProtocolError(WireError):
    """An SSE stream or one of its chunks is not valid."""


class MalformedResponse(WireError):
    """A 200 body that is not a chat completion."""


class UpstreamErrorInBody(WireError):
    """A 200 body that carries an error object instead of a completion."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message or "error object in a 200 response")
        self.error = error


class ApiError(NamedTuple):
    """An upstream error, whatever shape it came in; `detail` is extra text worth matching (metadata.raw)."""

    message: str
    type: str | None = None
    code: str | None = None
    raw: str = ""
    detail: str = ""
    provider: str | None = None
    reasons: tuple[str, ...] = ()


class SSEEvent(NamedTuple):
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class StreamChunk(NamedTuple):
    done: bool = False
    content: str = ""
    finish_reason: str | None = None
    usage: dict | None = None
    model: str | None = None
    error: ApiError | None = None


class Completion(NamedTuple):
    content: str
    finish_reason: str | None
    usage: dict | None
    model: str | None


# --- requests -------------------------------------------------------------------------------------


def build_messages(prompt: str, system: str | None) -> list[dict]:
    """The chat messages for one prompt, with an optional system message first."""
    messages: list[dict] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    return messages


def build_body(upstream_model: str, messages: list[dict], options: Mapping[str, object], stream: bool) -> dict:
    """The JSON body of a chat-completions request."""
    clash = sorted(RESERVED_OPTIONS.intersection(options))
    if clash:
        raise ValueError(f"option {clash[0]!r} is set by orcli and cannot be given with -o")
    _check_encodable(messages, "the prompt")
    _check_encodable(options, "an -o option")
    body: dict = {"model": upstream_model, "messages": messages, **options, "stream": stream}
    if stream:
        # Without it OpenAI-style servers never send usage in a stream.
        body["stream_options"] = {"include_usage": True}
    return body


def _check_encodable(value: object, what: str) -> None:
    """Refuse text JSON cannot carry as UTF-8 (lone surrogates: bytes that were not UTF-8 on the command line),
    before the network: otherwise every provider would fail the same way and be blamed for it."""
    if isinstance(value, str):
        if value.isascii():
            return  # no copy of a large prompt in the common case
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{what} contains text that is not valid UTF-8 (check the command-line bytes)") from None
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_encodable(key, what)
            _check_encodable(item, what)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_encodable(item, what)


def build_headers(api_key: str | None, extra: Mapping[str, str], stream: bool = False) -> dict[str, str]:
    """Request headers; the profile's extra headers may replace ours, but never the key."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
        "User-Agent": f"orcli/{__version__}",
    }
    for name, value in extra.items():
        for old in [k for k in headers if k.lower() == name.lower()]:
            del headers[old]
        headers[name] = value
    key = (api_key or "").strip()
    if key:
        for old in [k for k in headers if k.lower() == "authorization"]:
            del headers[old]
        headers["Authorization"] = f"Bearer {key}"
    return headers


_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")


def parse_option_value(raw: str) -> object:
    """A typed value for `-o KEY=VALUE`: int, float, bool, null, JSON list/object/string, else the text.

    Raises ValueError for numbers JSON cannot carry or no API accepts: not finite (1e999, NaN), or integers
    beyond 64 bits (they would also overflow the cost arithmetic)."""
    if _INT.fullmatch(raw):
        return _checked_number(int(raw), raw)
    if _FLOAT.fullmatch(raw):
        return _checked_number(float(raw), raw)
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    if raw[:1] in ("[", "{", '"'):
        try:
            value = _loads(raw)
        except ValueError:
            pass  # e.g. a stop sequence like "[END]": keep the text as given
        else:
            _check_numbers(value, raw)
            return value
    return raw


_INT64 = 1 << 63


def _checked_number(value: int | float, raw: str) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{raw!r} is not a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        raise ValueError(f"{raw[:20]}{'…' if len(raw) > 20 else ''} is out of range (a 64-bit integer at most)")
    return value


def _check_numbers(value: object, raw: str) -> None:
    if isinstance(value, int | float):
        _checked_number(value, raw)
    elif isinstance(value, dict):
        for item in value.values():
            _check_numbers(item, raw)
    elif isinstance(value, list):
        for item in value:
            _check_numbers(item, raw)


def parse_option(text: str) -> tuple[str, object]:
    """Split `KEY=VALUE` on the first `=` and type the value."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"option {text!r}: expected KEY=VALUE, e.g. temperature=0.2")
    key = key.strip()
    if not key:
        raise ValueError(f"option {text!r}: the key before '=' is empty")
    return key, parse_option_value(value)


# --- server-sent events ---------------------------------------------------------------------------

_EOL = re.compile(rb"\r\n?|\n")


class SSEDecoder:
    """Incremental SSE decoder (WHATWG rules): feed bytes as they arrive, get complete events."""

    def __init__(self, max_line: int = MAX_LINE_BYTES, max_event: int = MAX_EVENT_BYTES) -> None:
        self.max_line = max_line
        self.max_event = max_event
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

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Decode a chunk; returns the events it completed.

        A protocol error after some complete events in the same chunk is raised on the next call: the
        events before it belong to the stream whatever the split, so the verdict never depends on it.
        """
        if self._error is not None:
            raise self._error
        self.bytes_fed += len(data)
        events: list[SSEEvent] = []
        try:
            return self._feed(data, events)
        except StreamProtocolError as exc:
            if not events:
                raise
            self._error = exc
            return events

    def _feed(self, data: bytes, events: list[SSEEvent]) -> list[SSEEvent]:
        if (
            data.startswith(b"data: ")
            and data.endswith(b"\n\n")
            and data.count(b"\n") == 2
            and not self._buf
            and not self._data
            and not self._first_line
            and b"\r" not in data
            and len(data) <= self.max_line
        ):
            # The usual chunk, exactly one `data:` line and its blank line: one event, no line machinery.
            events.append(SSEEvent(data[6:-2].decode("utf-8", errors="replace"), id=self.last_event_id))
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


# --- response bodies ------------------------------------------------------------------------------


def _loads(text: str | bytes) -> object:
    """json.loads that only ever raises ValueError (deep nesting raises RecursionError otherwise)."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def _content_text(content: object) -> str | None:
    """Message/delta content as text: a string, or the text parts of a list; None if not either."""
    if content is None:
        return ""
    if isinstance(content, str):
        return scrub(content)
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return scrub("".join(p for p in parts if isinstance(p, str)))
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub(text: str) -> str:
    """`text` with lone surrogates (JSON lets a server send `"\\ud800"`) replaced by U+FFFD: text that cannot
    be encoded as UTF-8 would crash the write to stdout, stderr or the --json document."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def _opt_str(value: object) -> str | None:
    return scrub(value) if isinstance(value, str) else None


_USAGE_LIMIT = 1e15  # tokens; anything larger is not a count, and 10**400 would overflow float arithmetic


def _usage(value: object) -> dict | None:
    """The usage object, minus numbers no real count can be (NaN, inf, negative, absurdly large, booleans):
    they would crash or poison the cost arithmetic and make the --json output invalid JSON."""
    if not isinstance(value, dict):
        return None
    clean: dict = {}
    for key, item in value.items():
        if isinstance(item, dict):
            item = _usage(item)
        elif isinstance(item, bool) or (isinstance(item, int | float) and not 0 <= item <= _USAGE_LIMIT):
            continue  # NaN fails the comparison too; a huge int compares without converting to float
        elif isinstance(item, str):
            item = scrub(item)
        elif not isinstance(item, int | float) and item is not None:
            continue  # lists and the like: nothing orcli reads
        clean[scrub(key)] = item
    return clean


def parse_stream_event(data: str) -> StreamChunk:
    """One SSE `data:` payload of a chat-completions stream."""
    if data.strip() == "[DONE]":
        return StreamChunk(done=True)
    try:
        obj = _loads(data)
    except ValueError as exc:
        raise StreamProtocolError(f"stream chunk is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise StreamProtocolError(f"stream chunk is a JSON {type(obj).__name__}, not an object")
    choices = obj.get("choices")
    if choices is None:
        choices = []
    if not isinstance(choices, list):
        raise StreamProtocolError("stream chunk 'choices' is not a list")
    content, finish, error = "", None, None
    if choices:
        choice = choices[0]
        if not isinstance(choice, dict):
            raise StreamProtocolError("stream chunk choice is not an object")
        delta = choice.get("delta")
        if delta is None:
            delta = {}
        if not isinstance(delta, dict):
            raise StreamProtocolError("stream chunk 'delta' is not an object")
        # reasoning / reasoning_content are the model thinking aloud, not the answer: ignored.
        text = _content_text(delta.get("content"))
        if text is None:
            raise StreamProtocolError("stream chunk 'delta.content' is neither text nor a list of parts")
        content = text
        finish = choice.get("finish_reason")
        if finish is not None and not isinstance(finish, str):
            raise StreamProtocolError("stream chunk 'finish_reason' is not a string")
        if isinstance(choice.get("error"), dict | str):
            error = _error_from(choice["error"], data)
    if "error" in obj and obj["error"] is not None:
        # OpenRouter's mid-stream error: a top-level error object next to finish_reason "error".
        error = _error_from(obj["error"], data)
    # usage and model only inform; a wrong type there must not cost the answer.
    return StreamChunk(
        content=content,
        finish_reason=finish,
        usage=_usage(obj.get("usage")),
        model=_opt_str(obj.get("model")),
        error=error,
    )


def parse_completion(body: bytes) -> Completion:
    """A non-streamed chat-completions response body."""
    try:
        # OpenRouter pads bodies with whitespace while the model works; json.loads skips it.
        obj = _loads(body)
    except ValueError as exc:
        raise MalformedResponse(f"response is not JSON: {one_line(str(exc))}") from None
    if not isinstance(obj, dict):
        raise MalformedResponse(f"response is a JSON {type(obj).__name__}, not an object")
    if "error" in obj and obj["error"] is not None and not obj.get("choices"):
        raise UpstreamErrorInBody(_error_from(obj["error"], _text(body)))
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse("response has no choices")
    choice = choices[0]
    if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
        raise MalformedResponse("response choice has no message")
    finish = _opt_str(choice.get("finish_reason"))
    if finish == "error":
        # OpenRouter: partial content plus an error (in the choice or at the top); it says what went wrong.
        for err in (choice.get("error"), obj.get("error")):
            if isinstance(err, dict | str):
                raise UpstreamErrorInBody(_error_from(err, _text(body)))
    content = _content_text(choice["message"].get("content"))
    if content is None:
        raise MalformedResponse("response message content is neither text nor a list of parts")
    return Completion(
        content=content,
        finish_reason=finish,
        usage=_usage(obj.get("usage")),
        model=_opt_str(obj.get("model")),
    )


# --- error bodies ---------------------------------------------------------------------------------

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _text(body: bytes | str) -> str:
    return body if isinstance(body, str) else body.decode("utf-8", errors="replace")


def one_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    """Whitespace collapsed to single spaces, cut at a word boundary to at most `limit` characters."""
    text = _SPACE.sub(" ", scrub(text)).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # Cut between words: half a key is still a leak, and a whole one is what redaction recognises. A run of
    # key-like characters that the cut would split is dropped whole, however long, even if nothing is left.
    if _KEYISH.match(text, limit - 1):
        cut = _KEYISH_TAIL.sub("", cut)
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


_KEYISH = re.compile(r"[^\s\"'`,;:()<>\[\]{}]")  # a character that may belong to a token
_KEYISH_TAIL = re.compile(r"[^\s\"'`,;:()<>\[\]{}]+$")


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _error_from(err: object, raw: str) -> ApiError:
    """An ApiError from the value of an `error` key (an object, or a bare string as Ollama sends)."""
    if not isinstance(err, dict):
        return ApiError(message=one_line(_as_text(err)), raw=raw)
    metadata = err.get("metadata") if isinstance(err.get("metadata"), dict) else {}
    detail = _as_text(metadata.get("raw"))
    message = _as_text(err.get("message"))
    if detail and message.strip().lower() == "provider returned error":
        # OpenRouter's generic wrapper: the upstream's own message is the useful one.
        message = parse_error_body(detail).message or message
    reasons = metadata.get("reasons")
    code = err.get("code")
    # OpenRouter puts its typed category in error_type; Google in status.
    typ = err.get("type") or err.get("error_type") or metadata.get("error_type") or err.get("status")
    return ApiError(
        message=one_line(message),
        type=_opt_str(typ),
        code=None if code is None or isinstance(code, bool) else _as_text(code),
        raw=raw,
        detail=detail,
        provider=_opt_str(metadata.get("provider_name")),
        reasons=tuple(r for r in reasons if isinstance(r, str)) if isinstance(reasons, list) else (),
    )


def _detail_message(detail: object) -> str:
    """FastAPI's `detail`: a string, or a list of validation errors each with a `msg`."""
    if isinstance(detail, list):
        msgs = [_as_text(d.get("msg")) if isinstance(d, dict) else _as_text(d) for d in detail]
        return "; ".join(m for m in msgs if m)
    if isinstance(detail, dict) and "message" in detail:
        return _as_text(detail["message"])
    return _as_text(detail)


def parse_error_body(body: bytes | str) -> ApiError:
    """An upstream error body of any common shape (OpenAI, OpenRouter, FastAPI, plain text, HTML)."""
    raw = _text(body)
    try:
        obj = _loads(raw) if raw.strip() else None
    except ValueError:
        obj = None
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        obj = obj[0]  # Google wraps its error object in a one-element list on some endpoints
    if isinstance(obj, dict):
        if obj.get("error") is not None:
            return _error_from(obj["error"], raw)
        if "detail" in obj:
            return ApiError(message=one_line(_detail_message(obj["detail"])), raw=raw)
        if "message" in obj:
            code = obj.get("code")
            return ApiError(
                message=one_line(_as_text(obj["message"])),
                type=_opt_str(obj.get("type")),
                code=None if code is None or isinstance(code, bool) else _as_text(code),
                raw=raw,
            )
        return ApiError(message=one_line(raw), raw=raw)
    text = raw.strip()
    if text.startswith("<"):
        title = _TITLE.search(text)
        text = title.group(1) if title else _TAG.sub(" ", text)
    full = _SPACE.sub(" ", text).strip()
    message = one_line(full)
    # The message is cut for display; keep more of the text so signatures further on still match.
    return ApiError(message=message, raw=raw, detail=full[:4096] if len(full) > len(message) else "")
