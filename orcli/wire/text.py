"""Text from the network made safe to show and match: lone surrogates scrubbed, messages cut to one line."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

MESSAGE_CHARS = 300  # error messages are shown on one terminal line

_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACE = re.compile(r"\s+")
_KEYISH = re.compile(r"[^\s\"'`,;:()<>\[\]{}]")  # a character that may belong to a token
_KEYISH_TAIL = re.compile(r"[^\s\"'`,;:()<>\[\]{}]+$")


def scrub(text: str) -> str:
    """`text` with lone surrogates (JSON lets a server send `"\\ud800"`) replaced by U+FFFD: text that cannot
    be encoded as UTF-8 would crash the write to stdout, stderr or the --json document."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


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


# json.dumps with any argument builds a JSONEncoder on every call; request bodies share this one (its
# `encode` keeps no state between calls, so threads may share it too).
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def compact_json(value: object) -> str:
    """json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False), the encoder built once."""
    return _COMPACT.encode(value)


# json's own scanner (C where available), called directly for the common case below; configured as
# json.loads's default decoder is, so it accepts and builds exactly what json.loads does.
_scan_once: Callable[[str, int], tuple[object, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads(text: str | bytes) -> object:
    """json.loads that only ever raises ValueError (deep nesting raises RecursionError otherwise).

    A stream event is a JSON object with nothing around it: that text goes straight to json's scanner, which
    spares json.loads's Python layers (two regex matches and three calls, ~0.5 us of every stream event;
    docs/performance.md). Anything else, and any text the scanner refuses, takes json.loads, so the result
    and the error message are json.loads's own."""
    if type(text) is str and text[:1] == "{":
        try:
            value, end = _scan_once(text, 0)
        except (ValueError, StopIteration, RecursionError):
            pass  # json.loads below says why, in its own words
        else:
            if end == len(text):
                return value
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def json_or_none(text: str) -> object:
    """An error body's JSON value, or None when it is empty or not JSON (an HTML page, plain words): what every
    dialect's error parser starts from before it falls back to the text itself."""
    if not text.strip():
        return None
    try:
        return loads(text)
    except ValueError:
        return None
