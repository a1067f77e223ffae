"""`-o KEY=VALUE` request options: split, typed, and checked for numbers no API accepts. Pure."""

from __future__ import annotations

import json
import math
import re

# Keys orcli sets itself: an -o option may not silently replace them (it would break the wire exchange).
RESERVED_OPTIONS = frozenset({"model", "messages", "stream", "stream_options"})

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
_INT64 = 1 << 63


def parse_option(text: str) -> tuple[str, object]:
    """Split `KEY=VALUE` on the first `=` and type the value."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"option {text!r}: expected KEY=VALUE, e.g. temperature=0.2")
    key = key.strip()
    if not key:
        raise ValueError(f"option {text!r}: the key before '=' is empty")
    return key, parse_option_value(value)


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
            value = json.loads(raw)
        except (ValueError, RecursionError):
            pass  # e.g. a stop sequence like "[END]": keep the text as given
        else:
            _check_numbers(value, raw)
            return value
    return raw


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
