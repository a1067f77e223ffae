"""Small helpers the native dialects (anthropic, gemini) share: JSON in and out, clean text, headers, counts.

Standard library only, like the dialects themselves (docs/dialects.md: dialects are sans-I/O).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orcli import __version__
from orcli.wire.base import ChatRequest, MalformedResponse, StreamProtocolError, WireError
from orcli.wire.text import compact_json, loads, one_line, scrub

TOKEN_LIMIT = 10**15  # a token count above this is not a count; it would poison the cost arithmetic

_SPACE = re.compile(r"\s+")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def dumps(value: object) -> bytes:
    """Compact UTF-8 JSON for a request body; ValueError for what JSON cannot carry: text that is not UTF-8
    (lone surrogates) or a number that is not finite (NaN, which a gateway client's JSON may hold)."""
    try:
        return compact_json(value).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the request contains text that is not valid UTF-8 (check the command-line bytes)") from None
    except ValueError:
        raise ValueError("the request contains a number JSON cannot carry (NaN or infinity)") from None


def _json_object(text: bytes | str, what: str, error: type[WireError]) -> dict[str, Any]:
    """`text` as a JSON object, or `error` saying what it was instead."""
    try:
        obj = loads(text)
    except ValueError as exc:
        raise error(f"{what} is not JSON: {one_line(str(exc))}") from None
    if not isinstance(obj, dict):
        raise error(f"{what} is a JSON {type(obj).__name__}, not an object")
    return obj


def body_object(body: bytes, what: str = "response") -> dict[str, Any]:
    """A 200 body as a JSON object, or MalformedResponse."""
    return _json_object(body, what, MalformedResponse)


def event_object(data: str) -> dict[str, Any]:
    """One SSE event's data as a JSON object, or StreamProtocolError."""
    return _json_object(data, "stream event", StreamProtocolError)


def text_of(value: object) -> str:
    return scrub(value) if isinstance(value, str) else ""


def opt_str(value: object) -> str | None:
    return scrub(value) if isinstance(value, str) else None


def count(value: object) -> int | None:
    """A token count, or None for anything no real count can be (bool, negative, float junk, huge)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= TOKEN_LIMIT else None


def add_counts(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def as_text(body: bytes | str) -> str:
    return body if isinstance(body, str) else body.decode("utf-8", errors="replace")


def plain_error_text(raw: str) -> tuple[str, str]:
    """(message, detail) for a body that is not the dialect's JSON error: plain text or an HTML page."""
    text = raw.strip()
    if text.startswith("<"):
        title = _TITLE.search(text)
        text = title.group(1) if title else _TAG.sub(" ", text)
    full = _SPACE.sub(" ", scrub(text)).strip()
    message = one_line(full)
    return message, (full[:4096] if len(full) > len(message) else "")


def headers(extra: Mapping[str, str], auth: Mapping[str, str], stream: bool) -> dict[str, str]:
    """Request headers: ours, then the profile's extras (which may replace ours), then auth (which they may not)."""
    out = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
        "User-Agent": f"orcli/{__version__}",
    }
    for name, value in [*extra.items(), *auth.items()]:
        for old in [k for k in out if k.lower() == name.lower()]:
            del out[old]
        out[name] = value
    return out


def schema_of(request: ChatRequest) -> Mapping[str, object] | None:
    """The structured-output JSON Schema: `--schema`, else an OpenAI `response_format` json_schema option."""
    if request.schema is not None:
        return request.schema
    fmt = request.options.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        if isinstance(spec, Mapping) and isinstance(spec.get("schema"), Mapping):
            schema: Mapping[str, object] = spec["schema"]
            return schema
    return None


def wants_json(request: ChatRequest) -> bool:
    """True when the answer must be JSON (a schema, or `response_format` json_object)."""
    fmt = request.options.get("response_format")
    return schema_of(request) is not None or (isinstance(fmt, Mapping) and fmt.get("type") == "json_object")


def stop_list(value: object) -> list[str] | None:
    """OpenAI's `stop` (a string or a list of strings) as a list; None when it is neither."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(s, str) for s in value):
        return list(value)
    return None


def content_text(content: object) -> str:
    """OpenAI message content as text: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list | tuple):
        return "".join(
            p["text"]
            for p in content
            if isinstance(p, Mapping) and p.get("type") == "text" and isinstance(p.get("text"), str)
        )
    return ""


def tool_functions(request: ChatRequest) -> list[Mapping[str, object]]:
    """The `function` objects of an OpenAI tools array (other tool types have no equivalent: dropped)."""
    out = []
    for tool in request.tools or ():
        fn = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            out.append(fn)
    return out


def tool_call_json(arguments: object) -> object:
    """An OpenAI tool call's `arguments` JSON text as a value (an object for the native dialects)."""
    if isinstance(arguments, str):
        try:
            value = loads(arguments) if arguments.strip() else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return arguments if isinstance(arguments, dict) else {}


# reasoning_effort -> thinking token budget (Anthropic budget_tokens, Gemini thinkingBudget); 0 = off.
EFFORT_BUDGET = {"none": 0, "minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}


def thinking_budget(options: Mapping[str, object]) -> int | None:
    """The thinking budget the request asks for (`reasoning_effort`, or OpenRouter's `reasoning` object);
    None when it asks nothing. OpenRouter's {"reasoning": {"max_tokens": N}} gives the budget directly."""
    reasoning = options.get("reasoning")
    if isinstance(reasoning, Mapping):
        budget = reasoning.get("max_tokens")
        if isinstance(budget, int) and not isinstance(budget, bool) and budget >= 0:
            return budget
        if reasoning.get("enabled") is False:
            return 0
        effort = reasoning.get("effort")
        if isinstance(effort, str) and effort in EFFORT_BUDGET:
            return EFFORT_BUDGET[effort]
    effort = options.get("reasoning_effort")
    if isinstance(effort, str) and effort in EFFORT_BUDGET:
        return EFFORT_BUDGET[effort]
    return None
