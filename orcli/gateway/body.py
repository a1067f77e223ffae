"""Request bodies as the gateway accepts them, pure: JSON that cannot hurt the process (no NaN, no nesting deep
enough to exhaust the stack) and typed fields checked from a declaration, shared by the OpenAI and the
Anthropic surfaces (docs/gateway.md, "Bad requests")."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from enum import Enum
from typing import Any, NamedTuple

from orcli.routing.route import RouteInput

# Deep enough for any real request (a tool's JSON Schema nests a few levels per property), shallow enough that
# no later step (the planner, a dialect, the JSON encoder) can run out of stack on what it was given.
MAX_DEPTH = 64


class BadRequest(Exception):
    """A request body the gateway cannot route: answered with `status` (400 unless said) and this message.

    `code` is a machine word for the OpenAI envelope (`model_not_found`); `param` names the field at fault."""

    def __init__(self, message: str, status: int = 400, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param


class Kind(Enum):
    """What a field's value must be."""

    NUMBER = "a number"
    INTEGER = "a whole number"
    BOOLEAN = "true or false"
    STRING = "a string"
    STRINGS = "a string or a list of strings"
    STRING_LIST = "a list of strings"
    OBJECT = "an object"
    LIST = "a list"
    OBJECT_LIST = "a list of objects"
    STRING_OR_OBJECT = "a string or an object"


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"{text} is beyond the range of a JSON number orcli can send on")
    return value


def load_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; BadRequest for anything else (invalid JSON, NaN/Infinity, deep nesting)."""
    try:
        body = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise BadRequest(f"the request body nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    if depth_over(body, MAX_DEPTH):
        raise BadRequest(f"the request body nests deeper than {MAX_DEPTH} levels")
    return body


def depth_over(value: object, limit: int) -> bool:
    """Whether `value` nests objects and lists more than `limit` deep (iterative: no recursion to exhaust)."""
    stack: list[tuple[object, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))
    return False


def is_kind(value: object, kind: Kind) -> bool:
    """Whether a JSON value is of `kind` (a bool is never a number here, as in JSON)."""
    match kind:
        case Kind.NUMBER:
            return isinstance(value, int | float) and not isinstance(value, bool)
        case Kind.INTEGER:
            return isinstance(value, int) and not isinstance(value, bool)
        case Kind.BOOLEAN:
            return isinstance(value, bool)
        case Kind.STRING:
            return isinstance(value, str)
        case Kind.STRINGS:
            return isinstance(value, str) or is_kind(value, Kind.STRING_LIST)
        case Kind.STRING_LIST:
            return isinstance(value, list) and all(isinstance(v, str) for v in value)
        case Kind.OBJECT:
            return isinstance(value, dict)
        case Kind.LIST:
            return isinstance(value, list)
        case Kind.OBJECT_LIST:
            return isinstance(value, list) and all(isinstance(v, dict) for v in value)
        case Kind.STRING_OR_OBJECT:
            return isinstance(value, str | dict)
    return False


def check_fields(body: Mapping[str, Any], kinds: Mapping[str, Kind], where: str = "") -> None:
    """Every field of `kinds` present in `body` (null aside) has its kind; BadRequest names the first that has not."""
    for name, kind in kinds.items():
        value = body.get(name)
        if value is not None and not is_kind(value, kind):
            raise BadRequest(f"`{where}{name}` must be {kind.value}", param=f"{where}{name}")


def whole_number(body: Mapping[str, Any], name: str, low: int, high: int | None = None) -> int | None:
    """An optional whole-number field within [low, high]; BadRequest otherwise."""
    value = body.get(name)
    if value is None:
        return None
    if not is_kind(value, Kind.INTEGER) or value < low or (high is not None and value > high):
        bound = f"from {low:,} to {high:,}" if high is not None else f">= {low:,}"
        raise BadRequest(f"`{name}` must be a whole number {bound}", param=name)
    return int(value)


class GatewayRequest(NamedTuple):
    """One request of either surface, translated: who may serve it, and what to send (OpenAI-shaped)."""

    given: RouteInput
    messages: tuple[Mapping[str, Any], ...]  # without the system prompt
    system: str | None
    options: Mapping[str, object]  # passed upstream as is: temperature, max_tokens, tools, response_format …
    stream: bool
    include_usage: bool
    prompt_text: str  # all message text, for the context-size estimate

    @property
    def models(self) -> tuple[str, ...]:
        return self.given.overrides.get("models", ())  # type: ignore[return-value]
