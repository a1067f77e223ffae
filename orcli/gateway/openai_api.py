"""The gateway's wire (docs/gateway.md), pure: an OpenAI chat-completions request body → what the router needs, and
the router's results → OpenAI-shaped answers, stream chunks and error envelopes. No sockets here."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from orcli.errors import UsageError
from orcli.gateway.body import BadRequest, GatewayRequest, Kind, check_fields, is_kind, load_object, whole_number
from orcli.neutralise import neutralise
from orcli.routing.preferences import BY_NAME, PER_REQUEST_KEYS, ValueKind, parse_max_price
from orcli.routing.route import RouteInput

# The OpenRouter-style `provider` object: the routing preferences a request may override, as their
# declaration marks them (`per_request`, routing/preferences.py).
PROVIDER_KEYS = PER_REQUEST_KEYS
# Set by the gateway itself, never passed upstream as options.
_OWN_KEYS = frozenset(
    {"model", "models", "messages", "stream", "stream_options", "provider", "n", "session_id", "preset", "hedge"}
)
PRESET_MODEL = "@preset/"  # `"model": "@preset/NAME"` routes with the profile's [presets.NAME] (docs/gateway.md)
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

# The chat-completions fields whose type the gateway checks before routing (a wrong type is a 400 here, not a
# failure blamed on a provider). A field not named passes upstream unchecked; add one here to check it.
OPTION_KINDS: dict[str, Kind] = {
    "temperature": Kind.NUMBER,
    "top_p": Kind.NUMBER,
    "top_k": Kind.INTEGER,
    "min_p": Kind.NUMBER,
    "frequency_penalty": Kind.NUMBER,
    "presence_penalty": Kind.NUMBER,
    "repetition_penalty": Kind.NUMBER,
    "seed": Kind.INTEGER,
    "stop": Kind.STRINGS,
    "tools": Kind.OBJECT_LIST,
    "tool_choice": Kind.STRING_OR_OBJECT,
    "parallel_tool_calls": Kind.BOOLEAN,
    "response_format": Kind.OBJECT,
    "logprobs": Kind.BOOLEAN,
    "top_logprobs": Kind.INTEGER,
    "logit_bias": Kind.OBJECT,
    "user": Kind.STRING,
    "reasoning_effort": Kind.STRING,
    "reasoning": Kind.OBJECT,
    "metadata": Kind.OBJECT,
    "store": Kind.BOOLEAN,
    "modalities": Kind.STRING_LIST,
    "service_tier": Kind.STRING,
    "prediction": Kind.OBJECT,
    "stream": Kind.BOOLEAN,
    "stream_options": Kind.OBJECT,
    "n": Kind.INTEGER,
}
MAX_TOKENS_LIMIT = 1_000_000_000  # as `ask`'s: no answer is a billion tokens long


def parse_chat_body(raw: bytes) -> GatewayRequest:
    """Validate and translate a POST /v1/chat/completions body; BadRequest says what is wrong."""
    body = load_object(raw)
    models, preset = _models(body)
    check_fields(body, OPTION_KINDS)
    if (whole_number(body, "n", 1) or 1) > 1:
        raise BadRequest(
            "`n` > 1 is not served: orcli serve returns one choice per request; send n requests", param="n"
        )
    messages, system = _messages(body.get("messages"))
    overrides = provider_overrides(body.get("provider"))
    if models:
        overrides["models"] = models
    if body.get("hedge") is not None:
        overrides["hedge"] = _hedge(body["hedge"])
    stream = body.get("stream") is True
    stream_options = body.get("stream_options") or {}
    include_usage = stream_options.get("include_usage") is True
    options = {k: v for k, v in body.items() if k not in _OWN_KEYS and v is not None}
    for name in ("max_tokens", "max_completion_tokens"):
        whole_number(options, name, 1, MAX_TOKENS_LIMIT)
    return GatewayRequest(
        given=RouteInput(overrides=overrides, values=options, preset=preset, session=_session(body)),
        messages=tuple(messages),
        system=system,
        options=options,
        stream=stream,
        include_usage=include_usage,
        prompt_text="\n".join(_text_of(m.get("content")) for m in messages),
    )


def _hedge(raw: object) -> float:
    """`hedge`: seconds without content before the next attempt starts beside the running one (docs/gateway.md)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw < float("inf"):
        raise BadRequest("`hedge` must be a number of seconds >= 0", param="hedge")
    return float(raw)


def _session(body: Mapping[str, Any]) -> str | None:
    """`session_id` (docs/gateway.md): at most 256 printable characters; the relay falls back on `x-session-id`."""
    from orcli.routing.sticky import SessionIdError, check_session_id

    raw = body.get("session_id")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise BadRequest("`session_id` must be a string", param="session_id")
    try:
        return check_session_id(raw)
    except SessionIdError as exc:
        raise BadRequest(f"`session_id`: {exc}", param="session_id") from None


def _models(body: Mapping[str, Any]) -> tuple[tuple[str, ...], str | None]:
    """The ranked model names, and the preset named by `"model": "@preset/NAME"` or `"preset": "NAME"`."""
    model, models = body.get("model"), body.get("models")
    preset = body.get("preset")
    if preset is not None and (not isinstance(preset, str) or not preset):
        raise BadRequest("`preset` must be the name of one of the profile's presets", param="preset")
    if isinstance(model, str) and model.startswith(PRESET_MODEL):
        preset, model = model[len(PRESET_MODEL) :], None
        if not preset:
            raise BadRequest(f"`model`: name the preset after {PRESET_MODEL}", param="model")
    names: list[str] = []
    if models is not None:
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise BadRequest("`models` must be a list of model names (primary first)", param="models")
        names.extend(models)
    if model is not None:
        if not isinstance(model, str) or not model:
            raise BadRequest("`model` must be a model name", param="model")
        names.insert(0, model)
    if not names and preset is None:
        raise BadRequest(
            "name a model: `model` (a profile model name, or @preset/NAME) or `models` (a ranked list)", param="model"
        )
    return tuple(dict.fromkeys(names)), preset


def _messages(value: object) -> tuple[list[Mapping[str, Any]], str | None]:
    if not isinstance(value, list) or not value:
        raise BadRequest("`messages` must be a non-empty list of {role, content} objects", param="messages")
    system_parts: list[str] = []
    rest: list[Mapping[str, Any]] = []
    for i, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise BadRequest(
                f"messages[{i}] must be an object with a role ({', '.join(sorted(_ROLES))})", param=f"messages[{i}]"
            )
        _check_message(message, f"messages[{i}].")
        if message["role"] in ("system", "developer") and not rest:
            system_parts.append(_text_of(message.get("content")))
        else:
            rest.append(message)
    if not rest:
        raise BadRequest("`messages` has only a system prompt: add a user message", param="messages")
    return rest, ("\n\n".join(p for p in system_parts if p) or None)


_MESSAGE_KINDS = {"tool_calls": Kind.OBJECT_LIST, "tool_call_id": Kind.STRING, "name": Kind.STRING}


def _check_message(message: Mapping[str, Any], where: str) -> None:
    """A message's content is text, a list of parts, or (an assistant calling tools) absent."""
    content = message.get("content")
    if content is not None and not isinstance(content, str) and not is_kind(content, Kind.OBJECT_LIST):
        raise BadRequest(f"`{where}content` must be a string or a list of content parts", param=f"{where}content")
    check_fields(message, _MESSAGE_KINDS, where)
    if message["role"] == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise BadRequest(
            f"`{where}tool_call_id` must name the tool call this result answers", param=f"{where}tool_call_id"
        )


def _text_of(content: object) -> str:
    """The text of a message's content: a string, or the text parts of a content array."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def provider_overrides(value: object) -> dict[str, object]:
    """The `provider` object as preference overrides, checked like the profile's [routing] (docs/gateway.md)."""
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
    neutral request's own fields, so every dialect can map them (docs/dialects.md); they stay routing parameters."""
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


def error_json(
    status: int, message: str, metadata: Mapping[str, Any] | None = None, code: str | None = None
) -> dict[str, Any]:
    """The error envelope of docs/gateway.md (OpenRouter's): `code` is the HTTP status, or a machine word
    OpenAI clients match (`model_not_found`). Its text often comes from an upstream: control characters are
    neutralised, so no escape sequence reaches a client's terminal (docs/security.md)."""
    error: dict[str, Any] = {"code": code or status, "message": neutralise(message)}
    if code == "model_not_found":
        error.update(type="invalid_request_error", param="model")  # as OpenAI's own answer
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
