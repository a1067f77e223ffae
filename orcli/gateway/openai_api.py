"""The gateway's wire (SPEC §14), pure: an OpenAI chat-completions request body → what the router needs, and
the router's results → OpenAI-shaped answers, stream chunks and error envelopes. No sockets here."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from orcli.errors import UsageError
from orcli.neutralise import neutralise
from orcli.routing.preferences import BY_NAME, PER_REQUEST_KEYS, ValueKind, parse_max_price
from orcli.routing.route import RouteInput

# The OpenRouter-style `provider` object: the routing preferences a request may override, as their
# declaration marks them (`per_request`, routing/preferences.py).
PROVIDER_KEYS = PER_REQUEST_KEYS
# Set by the gateway itself, never passed upstream as options.
_OWN_KEYS = frozenset({"model", "models", "messages", "stream", "stream_options", "provider"})
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


class BadRequest(Exception):
    """A request body the gateway cannot route: answered with 400 (or `status`) and this message."""

    def __init__(self, message: str, status: int = 400, code: str = "bad_request") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class GatewayRequest(NamedTuple):
    """One chat-completions request, translated: who may serve it, and what to send."""

    given: RouteInput
    messages: tuple[Mapping[str, Any], ...]  # without the system prompt
    system: str | None
    options: Mapping[str, object]  # passed upstream as is: temperature, max_tokens, tools, response_format …
    stream: bool
    include_usage: bool
    prompt_text: str  # all message text, for the context-size estimate


def parse_chat_body(raw: bytes) -> GatewayRequest:
    """Validate and translate a POST /v1/chat/completions body; BadRequest says what is wrong."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    models = _models(body)
    messages, system = _messages(body.get("messages"))
    overrides = provider_overrides(body.get("provider"))
    overrides["models"] = models
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("`stream` must be true or false")
    stream_options = body.get("stream_options") or {}
    include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage") is True
    options = {k: v for k, v in body.items() if k not in _OWN_KEYS}
    max_tokens = options.get("max_tokens", options.get("max_completion_tokens"))
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise BadRequest("`max_tokens` must be a whole number >= 1")
    return GatewayRequest(
        given=RouteInput(overrides=overrides, values=options),
        messages=tuple(messages),
        system=system,
        options=options,
        stream=stream,
        include_usage=include_usage,
        prompt_text="\n".join(_text_of(m.get("content")) for m in messages),
    )


def _models(body: Mapping[str, Any]) -> tuple[str, ...]:
    model, models = body.get("model"), body.get("models")
    names: list[str] = []
    if models is not None:
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise BadRequest("`models` must be a list of model names (primary first)")
        names.extend(models)
    if model is not None:
        if not isinstance(model, str) or not model:
            raise BadRequest("`model` must be a model name")
        names.insert(0, model)
    if not names:
        raise BadRequest("name a model: `model` (a profile model name) or `models` (a ranked list)")
    return tuple(dict.fromkeys(names))


def _messages(value: object) -> tuple[list[Mapping[str, Any]], str | None]:
    if not isinstance(value, list) or not value:
        raise BadRequest("`messages` must be a non-empty list of {role, content} objects")
    system_parts: list[str] = []
    rest: list[Mapping[str, Any]] = []
    for i, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise BadRequest(f"messages[{i}] must be an object with a role ({', '.join(sorted(_ROLES))})")
        if message["role"] in ("system", "developer") and not rest:
            system_parts.append(_text_of(message.get("content")))
        else:
            rest.append(message)
    if not rest:
        raise BadRequest("`messages` has only a system prompt: add a user message")
    return rest, ("\n\n".join(p for p in system_parts if p) or None)


def _text_of(content: object) -> str:
    """The text of a message's content: a string, or the text parts of a content array."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def provider_overrides(value: object) -> dict[str, object]:
    """The `provider` object as preference overrides, checked like the profile's [routing] (SPEC §14)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("`provider` must be an object (order, only, ignore, sort, allow_fallbacks, ...)")
    out: dict[str, object] = {}
    for key, raw in value.items():
        if key not in PROVIDER_KEYS:
            raise BadRequest(f"provider.{key} is not a routing preference orcli knows ({', '.join(PROVIDER_KEYS)})")
        pref = BY_NAME[key]
        where = f"provider.{key}"
        match pref.kind:
            case ValueKind.NAMES:
                if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
                    raise BadRequest(f"{where} must be a list of names")
                out[key] = tuple(raw)
            case ValueKind.SWITCH:
                if not isinstance(raw, bool):
                    raise BadRequest(f"{where} must be true or false")
                out[key] = raw
            case ValueKind.CHOICE | ValueKind.SORT:
                if isinstance(raw, dict) and pref.kind is ValueKind.SORT:  # { by, partition }
                    table: dict[str, Any] = raw
                    raw = table.get("by")
                    if table.get("partition") is not None:
                        out["partition"] = table["partition"]
                if not isinstance(raw, str) or raw not in pref.choices:
                    raise BadRequest(f"{where} must be one of {', '.join(pref.choices)}")
                out[key] = raw
            case ValueKind.PRICES:
                out[key] = _max_price(raw, where)
            case ValueKind.NUMBER:
                out[key] = raw
    return out


def _max_price(raw: object, where: str) -> object:
    if not isinstance(raw, dict) or not all(
        k in ("prompt", "completion", "request") and isinstance(v, int | float) and not isinstance(v, bool)
        for k, v in raw.items()
    ):
        raise BadRequest(f"{where} must be an object of prompt/completion/request prices (USD per 1M tokens)")
    try:
        return parse_max_price(",".join(f"{k}={v}" for k, v in raw.items()))
    except UsageError as exc:
        raise BadRequest(f"{where}: {exc.message}") from None


def split_options(options: Mapping[str, object]) -> tuple[dict[str, object], Any, Any]:
    """(options, tools, schema) for a ChatRequest: tools and a json_schema response format travel as the
    neutral request's own fields, so every dialect can map them (SPEC §10); they stay routing parameters."""
    rest = dict(options)
    tools = rest.pop("tools", None)
    schema = None
    fmt = rest.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        schema = fmt["json_schema"].get("schema")
        if isinstance(schema, dict):
            rest.pop("response_format")
        else:
            schema = None
    return rest, (tuple(tools) if isinstance(tools, list) else None), schema


def delta_json(content: str, reasoning: str, tool_calls: Sequence[Any]) -> dict[str, Any]:
    """One neutral stream delta in OpenAI's chunk `delta` shape (reasoning as OpenRouter sends it)."""
    delta: dict[str, Any] = {}
    if content:
        delta["content"] = content
    if reasoning:
        delta["reasoning"] = reasoning
    if tool_calls:
        delta["tool_calls"] = [
            {
                "index": t.index,
                **({"id": t.id, "type": "function"} if t.id else {}),
                "function": {**({"name": t.name} if t.name else {}), "arguments": t.arguments},
            }
            for t in tool_calls
        ]
    return delta


# -- answers ------------------------------------------------------------------------------------------
def completion_json(
    *,
    request_id: str,
    created: int,
    model: str,
    provider: str,
    content: str | None,
    finish_reason: str | None,
    usage: Mapping[str, Any] | None,
    tool_calls: Sequence[Mapping[str, Any]] = (),
    reasoning: str | None = None,
) -> dict[str, Any]:
    """A whole answer in OpenAI's chat.completion shape, with `provider` naming who served it."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = list(tool_calls)
    if reasoning:
        message["reasoning"] = reasoning
    doc: dict[str, Any] = {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "provider": provider,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason or "stop"}],
    }
    if usage:
        doc["usage"] = dict(usage)
    return doc


def chunk_json(
    *,
    request_id: str,
    created: int,
    model: str,
    provider: str,
    delta: Mapping[str, Any] | None = None,
    finish_reason: str | None = None,
    usage: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One chat.completion.chunk; a usage chunk has empty `choices` (OpenAI's include_usage shape)."""
    choices = [] if delta is None else [{"index": 0, "delta": dict(delta), "finish_reason": finish_reason}]
    doc: dict[str, Any] = {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "provider": provider,
        "choices": choices,
    }
    if usage is not None:
        doc["usage"] = dict(usage)
    return doc


def error_json(status: int, message: str, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """SPEC §14's error envelope (OpenRouter's): `code` is the HTTP status. Its text often comes from an
    upstream: control characters are neutralised, so no escape sequence reaches a client's terminal (§9)."""
    error: dict[str, Any] = {"code": status, "message": neutralise(message)}
    if metadata:
        error["metadata"] = _neutralised(dict(metadata))
    return {"error": error}


def _neutralised(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, dict):
        return {k: _neutralised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_neutralised(v) for v in value]
    return value


def sse(doc: Mapping[str, Any] | str) -> bytes:
    """One server-sent event carrying `doc` (a JSON object, or the literal [DONE])."""
    data = doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return f"data: {data}\n\n".encode()
