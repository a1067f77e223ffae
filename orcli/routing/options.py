"""`-o KEY=VALUE` request options: split, typed, and checked for numbers no API accepts. Pure."""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Keys orcli sets itself: an -o option may not silently replace them (it would break the wire exchange).
RESERVED_OPTIONS = frozenset({"model", "messages", "stream", "stream_options"})

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
_INT64 = 1 << 63
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")


class NumberText(float):
    """A float `-o` value kept with the text it was written as (`1e3`, `0.50`): sent as that JSON number
    literal, not as Python's spelling of the float (`1000.0`). It is the same number for every JSON reader."""

    text: str

    def __new__(cls, text: str) -> NumberText:
        number = super().__new__(cls, text)
        number.text = text
        return number


def parse_tools(value: object) -> tuple[dict[str, Any], ...]:
    """--tools: an OpenAI-style tools array, or one tool object; ValueError says what is wrong (docs/commands.md#answers-beyond-text)."""
    tools = [value] if isinstance(value, dict) else value
    if not isinstance(tools, list) or not tools:
        raise ValueError(
            "expected a tools array (or one tool object), e.g. "
            '[{"type": "function", "function": {"name": "get_weather", "parameters": {...}}}]'
        )
    for i, tool in enumerate(tools):
        where = f"tool {i + 1}" if len(tools) > 1 else "the tool"
        if not isinstance(tool, dict):
            raise ValueError(f"{where} is a JSON {_json_type(tool)}, not an object")
        kind = tool.get("type", "function")
        if not isinstance(kind, str):
            raise ValueError(f'{where}: "type" must be a string such as "function"')
        if kind == "function":
            function = tool.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
                raise ValueError(f'{where}: a function tool needs "function": {{"name": ..., "parameters": ...}}')
            parameters = function.get("parameters")
            if parameters is not None and not isinstance(parameters, dict):
                raise ValueError(f"{where}: function.parameters must be a JSON Schema object")
    return tuple(tools)


def parse_schema(value: object) -> dict[str, Any]:
    """--schema: a JSON Schema, which is a JSON object (docs/commands.md#answers-beyond-text)."""
    if not isinstance(value, dict):
        raise ValueError(
            f'expected a JSON Schema object, e.g. {{"type": "object", ...}}, not a JSON {_json_type(value)}'
        )
    return value


def _json_type(value: object) -> str:
    return {list: "array", dict: "object", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


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

    A number that is a JSON number literal is sent exactly as written (`1e3` stays `1e3`, never `1000.0`);
    other spellings Python reads as numbers (`+1`, `.5`, `1.`) are sent as the number they denote.

    Raises ValueError for numbers JSON cannot carry or no API accepts: not finite (1e999, NaN), or integers
    beyond 64 bits (they would also overflow the cost arithmetic)."""
    if _INT.fullmatch(raw):
        return _checked_number(int(raw), raw)
    if _FLOAT.fullmatch(raw):
        number = _checked_number(float(raw), raw)
        if _JSON_NUMBER.fullmatch(raw) and repr(number) != raw:
            return NumberText(raw)  # sent as written (a JSON number literal), e.g. user=1e3 stays 1e3
        return number
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
