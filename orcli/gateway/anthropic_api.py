"""Anthropic's Messages API as a gateway surface, pure (docs/gateway.md, "Anthropic Messages API"): a
`POST /v1/messages` body → orcli's neutral, OpenAI-shaped request, and the router's answer or stream deltas →
Anthropic's message object, SSE events and error envelope. No sockets here.

Translation both ways keeps the neutral model OpenAI-shaped (orcli/wire/base.py): content blocks become text
parts, `tool_use` blocks an assistant's `tool_calls`, `tool_result` blocks `tool` messages; on the way back the
dialect that served the answer has already normalised it, so one mapping serves providers of every dialect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from orcli.gateway.body import BadRequest, GatewayRequest, Kind, check_fields, load_object, whole_number
from orcli.gateway.openai_api import MAX_TOKENS_LIMIT, provider_overrides
from orcli.neutralise import neutralise
from orcli.routing.prompt import estimate_tokens
from orcli.routing.route import RouteInput
from orcli.wire.native import tool_call_json
from orcli.wire.text import compact_json

# Fields the Messages API defines that have no neutral equivalent: accepted, not forwarded.
_ACCEPTED_UNSENT = frozenset(
    {
        "metadata",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
        "cache_control",
        "diagnostics",
        "inference_geo",
        "speed",
        "user_profile_id",
        "workspace_id",
    }
)
# orcli's own routing fields, as on the OpenAI surface: a ranked `models` list and the `provider` object.
_ROUTING_FIELDS = frozenset({"models", "provider"})
FIELD_KINDS: dict[str, Kind] = {
    "model": Kind.STRING,
    "temperature": Kind.NUMBER,
    "top_p": Kind.NUMBER,
    "top_k": Kind.INTEGER,
    "stop_sequences": Kind.STRING_LIST,
    "stream": Kind.BOOLEAN,
    "tools": Kind.OBJECT_LIST,
    "tool_choice": Kind.OBJECT,
    "thinking": Kind.OBJECT,
    "metadata": Kind.OBJECT,
    "messages": Kind.OBJECT_LIST,
    "output_config": Kind.OBJECT,
}
KNOWN_FIELDS = frozenset(FIELD_KINDS) | {"max_tokens", "system"} | _ACCEPTED_UNSENT | _ROUTING_FIELDS

# OpenAI's finish_reason (what every dialect normalises to) → Anthropic's stop_reason.
STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}

# HTTP status → Anthropic's error type (docs.claude.com /en/api/errors).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class MessagesRequest(NamedTuple):
    """A Messages request, translated, and what its answer needs that the neutral request does not carry."""

    request: GatewayRequest
    thinking: bool  # the client enabled thinking: reasoning goes back as thinking blocks


def parse_messages_body(raw: bytes, count_only: bool = False) -> MessagesRequest:
    """Validate and translate a POST /v1/messages body (or /count_tokens: no max_tokens); BadRequest says why."""
    body = load_object(raw)
    extra = sorted(set(body) - KNOWN_FIELDS)
    if extra:
        raise BadRequest(f"{extra[0]}: Extra inputs are not permitted", param=extra[0])
    check_fields(body, FIELD_KINDS)
    models = _models(body)
    max_tokens = whole_number(body, "max_tokens", 1, MAX_TOKENS_LIMIT)
    if max_tokens is None and not count_only:
        raise BadRequest("max_tokens: Field required", param="max_tokens")
    if not body.get("messages"):
        raise BadRequest("messages: a non-empty list of {role, content} messages is required", param="messages")
    messages = to_neutral_messages(body["messages"])
    system = _system_text(body.get("system"))
    options: dict[str, object] = {} if max_tokens is None else {"max_tokens": max_tokens}
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            options[name] = body[name]
    if body.get("stop_sequences"):
        options["stop"] = list(body["stop_sequences"])
    thinking = _thinking(body.get("thinking"), options)
    _output_config(body.get("output_config"), options)
    tools = [_tool(t, i) for i, t in enumerate(body.get("tools") or ())]
    if tools:
        options["tools"] = tools
    _tool_choice(body.get("tool_choice"), options)
    overrides = provider_overrides(body.get("provider"))
    overrides["models"] = models
    texts = [system or "", *(_neutral_text(m) for m in messages)]
    if tools:
        texts.append(json.dumps(tools, ensure_ascii=False))
    request = GatewayRequest(
        given=RouteInput(overrides=overrides, values=options, system=system),
        messages=tuple(messages),
        system=system,
        options=options,
        stream=body.get("stream") is True,
        include_usage=True,
        prompt_text="\n".join(t for t in texts if t),
    )
    return MessagesRequest(request, thinking)


def count_tokens(raw: bytes) -> dict[str, int]:
    """POST /v1/messages/count_tokens: an estimate (about four characters a token), not a tokenizer's count."""
    parsed = parse_messages_body(raw, count_only=True).request
    return {"input_tokens": max(1, estimate_tokens(parsed.prompt_text))}


def _models(body: Mapping[str, Any]) -> tuple[str, ...]:
    names = [body["model"]] if body.get("model") else []
    ranked = body.get("models")
    if ranked is not None:
        if not isinstance(ranked, list) or not all(isinstance(m, str) and m for m in ranked):
            raise BadRequest("models: a list of model names (primary first)", param="models")
        names.extend(ranked)
    if not names:
        raise BadRequest("model: Field required", param="model")
    return tuple(dict.fromkeys(names))


def _system_text(value: object) -> str | None:
    """`system` as one text: a string, or text blocks joined by blank lines (cache_control is not carried)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in value):
        return "\n\n".join(str(b.get("text", "")) for b in value if b.get("text")) or None
    raise BadRequest("system: a string or a list of text blocks", param="system")


def _thinking(value: object, options: dict[str, object]) -> bool:
    """`thinking` as OpenRouter's `reasoning` object, which every dialect maps (Anthropic budget, Gemini budget)."""
    if value is None:
        return False
    assert isinstance(value, dict)
    kind = value.get("type")
    if kind == "disabled":
        return False
    if kind == "enabled":
        budget = whole_number(value, "budget_tokens", 1, MAX_TOKENS_LIMIT)
        if budget is None:
            raise BadRequest("thinking.budget_tokens: Field required", param="thinking.budget_tokens")
        options["reasoning"] = {"max_tokens": budget}
        return True
    if kind == "adaptive":
        options["reasoning"] = {"enabled": True}
        return True
    raise BadRequest("thinking.type: one of enabled, disabled, adaptive", param="thinking.type")


# output_config.effort → OpenRouter's reasoning effort (its scale stops at high).
_EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


def _output_config(config: Mapping[str, Any] | None, options: dict[str, object]) -> None:
    """`output_config`: a JSON Schema format becomes structured output (OpenAI's response_format, which every
    dialect maps); an effort becomes the reasoning effort unless `thinking` already set one."""
    if not config:
        return
    fmt = config.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        options["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt["schema"]}}
    elif fmt is not None:
        raise BadRequest("output_config.format: {type: json_schema, schema: {...}}", param="output_config.format")
    effort = config.get("effort")
    if effort is not None:
        if effort not in _EFFORT:
            raise BadRequest(f"output_config.effort: one of {', '.join(_EFFORT)}", param="output_config.effort")
        options.setdefault("reasoning", {"effort": _EFFORT[effort]})


def _tool(tool: Mapping[str, Any], i: int) -> dict[str, Any]:
    """A custom tool as an OpenAI function tool. Anthropic's server tools (web search, code execution...) run at
    Anthropic only: refused, since another provider cannot run them."""
    name, schema = tool.get("name"), tool.get("input_schema")
    if not isinstance(name, str) or not name or not isinstance(schema, dict):
        raise BadRequest(f"tools.{i}: only custom tools (name, input_schema) can be routed", param=f"tools.{i}")
    function: dict[str, Any] = {"name": name, "parameters": schema}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Mapping[str, Any] | None, options: dict[str, object]) -> None:
    if choice is None:
        return
    match choice.get("type"):
        case "auto":
            options["tool_choice"] = "auto"
        case "any":
            options["tool_choice"] = "required"
        case "none":
            options["tool_choice"] = "none"
        case "tool" if isinstance(choice.get("name"), str):
            options["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
        case _:
            raise BadRequest("tool_choice: {type: auto | any | tool (with name) | none}", param="tool_choice")
    if choice.get("disable_parallel_tool_use") is True:
        options["parallel_tool_calls"] = False


# -- messages --------------------------------------------------------------------------------------------
def to_neutral_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic messages → OpenAI-shaped ones: tool results become `tool` messages (first, as OpenAI wants them
    right after the assistant's calls), tool_use blocks the assistant's `tool_calls`; thinking is not carried."""
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        where = f"messages.{i}"
        if role not in ("user", "assistant"):
            raise BadRequest(f"{where}.role: one of user, assistant", param=f"{where}.role")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
            raise BadRequest(f"{where}.content: a string or a list of content blocks", param=f"{where}.content")
        if role == "user":
            out.extend(_user_turn(content, where))
        else:
            turn = _assistant_turn(content, where)
            if turn is not None:
                out.append(turn)
    if not out:
        raise BadRequest("messages: at least one message with content is required", param="messages")
    return out


def _user_turn(blocks: Sequence[Mapping[str, Any]], where: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "tool_result":
            if not isinstance(block.get("tool_use_id"), str):
                raise BadRequest(f"{where}.content.{j}.tool_use_id: Field required")
            text = _blocks_text(block.get("content"), f"{where}.content.{j}.content")
            results.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": text})
        else:
            parts.append(_part(block, f"{where}.content.{j}"))
    turn: list[dict[str, Any]] = list(results)
    if len(parts) == 1 and parts[0]["type"] == "text":
        turn.append({"role": "user", "content": parts[0]["text"]})
    elif parts:
        turn.append({"role": "user", "content": parts})
    return turn


def _assistant_turn(blocks: Sequence[Mapping[str, Any]], where: str) -> dict[str, Any] | None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise BadRequest(f"{where}.content.{j}: a tool_use block needs an id and a name")
            arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
            calls.append(
                {"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}}
            )
        elif kind not in ("thinking", "redacted_thinking"):  # the provider's own signed text: not carried
            raise BadRequest(f"{where}.content.{j}.type: {kind!r} is not supported in an assistant turn")
    if not texts and not calls:
        return None
    turn: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        turn["tool_calls"] = calls
    return turn


def _part(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A user content block as an OpenAI content part: text, an image (data or URL), a plain-text document."""
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        return {"type": "text", "text": block["text"]}
    source = block.get("source")
    if kind == "image" and isinstance(source, dict):
        if source.get("type") == "base64" and isinstance(source.get("data"), str):
            url = f"data:{source.get('media_type', 'image/png')};base64,{source['data']}"
            return {"type": "image_url", "image_url": {"url": url}}
        if source.get("type") == "url" and isinstance(source.get("url"), str):
            return {"type": "image_url", "image_url": {"url": source["url"]}}
    if kind == "document" and isinstance(source, dict) and source.get("type") == "text":
        return {"type": "text", "text": str(source.get("data", ""))}
    raise BadRequest(f"{where}.type: {kind!r} is not supported (text, image, plain-text document, tool_result)")


def _blocks_text(content: object, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    raise BadRequest(f"{where}: a string or a list of content blocks")


def _neutral_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        text = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    else:
        text = content if isinstance(content, str) else ""
    calls = message.get("tool_calls") or ()
    return text + "".join(str(c["function"]["arguments"]) for c in calls)


# -- answers ---------------------------------------------------------------------------------------------
def stop_reason(finish_reason: str | None) -> str:
    return STOP_REASON.get(finish_reason or "stop", "end_turn")


def usage_json(input_tokens: int | None, output_tokens: int | None) -> dict[str, int]:
    return {"input_tokens": input_tokens or 0, "output_tokens": output_tokens or 0}


def message_json(
    *,
    message_id: str,
    model: str,
    content: str | None,
    tool_calls: Sequence[Any],
    reasoning: str | None,
    finish_reason: str | None,
    usage: tuple[int | None, int | None],
) -> dict[str, Any]:
    """A whole answer as Anthropic's message object (`tool_calls` are the neutral ToolCall values)."""
    blocks: list[dict[str, Any]] = []
    if reasoning:
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    if content:
        blocks.append({"type": "text", "text": content})
    for call in tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": tool_call_json(call.arguments)})
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason(finish_reason),
        "stop_sequence": None,
        "usage": usage_json(*usage),
    }


def error_json(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error envelope; the text (often an upstream's) with control characters neutralised."""
    kind = ERROR_TYPES.get(status) or ("invalid_request_error" if status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": neutralise(message)}}


def event(name: str, doc: Mapping[str, Any]) -> bytes:
    """One server-sent event as the Messages API frames it: a name line and a JSON data line."""
    return f"event: {name}\ndata: {compact_json(doc)}\n\n".encode()
