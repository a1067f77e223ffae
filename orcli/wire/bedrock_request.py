"""Bedrock Converse requests (docs/dialects.md "Cloud dialects"), sans-I/O: the neutral request as a Converse
body — `messages` of content blocks, `system`, `inferenceConfig`, `toolConfig`, model-specific fields in
`additionalModelRequestFields` — and the model's URL. orcli/wire/bedrock.py is the dialect around it.
Source: the Bedrock Runtime API reference (Converse, ContentBlock, ToolConfiguration, InferenceConfiguration).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from orcli.types import Endpoint
from orcli.wire.base import ChatRequest
from orcli.wire.native import (
    content_text,
    dumps,
    schema_of,
    stop_list,
    thinking_budget,
    tool_call_json,
    tool_functions,
)
from orcli.wire.text import loads

SCHEMA_TOOL = "orcli_json_answer"  # --schema: a tool the model must call; its input is the answer
MIN_THINKING = 1024  # Claude's smallest thinking budget
DEFAULT_MAX_TOKENS = 4096  # only sent when thinking needs room; otherwise the model's own default applies

# -o options Converse carries in fields of its own, or that orcli maps; OpenAI's own names that no Bedrock model
# takes (a model refuses an unknown field in additionalModelRequestFields with a ValidationException, which
# would stop the whole route as a `request` failure); everything else goes to the model in
# additionalModelRequestFields (top_k, Claude's anthropic_beta, a model's own parameters).
MAPPED_OPTIONS = frozenset(
    {
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning",
        "reasoning_effort",
        "additionalModelRequestFields",
        # OpenAI's (and OpenRouter's) names with no Converse equivalent: dropped
        "n",
        "user",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "service_tier",
        "store",
        "metadata",
        "prediction",
        "modalities",
        "audio",
        "verbosity",
        "web_search_options",
        "provider",
        "transforms",
        "models",
        "route",
        "usage",
        "include_reasoning",
    }
)
NATIVE_TOP = ("guardrailConfig", "performanceConfig", "requestMetadata", "additionalModelResponseFieldPaths")


def model_path(base_url: str, upstream_model: str, stream: bool) -> str:
    """`{base}/model/{id}/converse[-stream]`; the id escaped whole (`:` and the `/` of an ARN included)."""
    return f"{base_url}/model/{quote(upstream_model, safe='-._~')}/{'converse-stream' if stream else 'converse'}"


def _turn(out: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Append a turn; Converse wants user and assistant to alternate, so same-role turns are merged."""
    if not blocks:
        return
    if out and out[-1]["role"] == role:
        out[-1]["content"].extend(blocks)
    else:
        out.append({"role": role, "content": blocks})


def _tool_result(msg: Mapping[str, object]) -> dict[str, Any]:
    text = content_text(msg.get("content"))
    try:
        value = loads(text) if text.strip() else None
    except ValueError:
        value = None
    content = [{"json": value}] if isinstance(value, dict) else [{"text": text}]
    return {"toolResult": {"toolUseId": msg.get("tool_call_id") or "", "content": content}}


def _messages(request: ChatRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI-shaped messages as (system blocks, Converse messages)."""
    system = [{"text": request.system}] if request.system else []
    out: list[dict[str, Any]] = []
    for msg in request.messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            system.append({"text": content_text(msg.get("content"))})
        elif role == "assistant":
            text = content_text(msg.get("content"))
            blocks: list[dict[str, Any]] = [{"text": text}] if text else []
            for call in msg.get("tool_calls") or ():  # type: ignore[attr-defined]
                fn = call.get("function") or {}
                use = {
                    "toolUseId": call.get("id") or "",
                    "name": fn.get("name"),
                    "input": tool_call_json(fn.get("arguments")),
                }
                blocks.append({"toolUse": use})
            _turn(out, "assistant", blocks)
        elif role == "tool":
            _turn(out, "user", [_tool_result(msg)])
        else:
            _turn(out, "user", [{"text": content_text(msg.get("content"))}])
    return [s for s in system if s["text"]], out


def _tool_choice(choice: object) -> dict[str, Any] | None:
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, Mapping):
        fn = choice.get("function")
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            return {"tool": {"name": fn["name"]}}
    return None  # "none" has no Converse form: the model is simply not forced


def _tool_config(request: ChatRequest, thinking: bool) -> dict[str, Any] | None:
    tools: list[dict[str, object]] = [
        {
            "toolSpec": {
                "name": fn["name"],
                **({"description": fn["description"]} if isinstance(fn.get("description"), str) else {}),
                "inputSchema": {"json": fn.get("parameters") or {"type": "object", "properties": {}}},
            }
        }
        for fn in tool_functions(request)
    ]
    choice = _tool_choice(request.options.get("tool_choice"))
    schema = schema_of(request)
    if schema is not None:
        spec: dict[str, object] = {
            "name": SCHEMA_TOOL,
            "description": "Give the answer as this tool's input.",
            "inputSchema": {"json": dict(schema)},
        }
        tools.append({"toolSpec": spec})
        if len(tools) == 1 and choice is None and not thinking:
            choice = {"tool": {"name": SCHEMA_TOOL}}  # forced tool use guarantees the shape; thinking forbids it
    if not tools:
        return None
    return {"tools": tools, **({"toolChoice": choice} if choice else {})}


def _reasoning(endpoint: Endpoint, options: Mapping[str, object], config: dict[str, Any]) -> dict[str, Any]:
    """The model-specific reasoning fields: Claude's `thinking` budget (maxTokens grown to leave room for an
    answer), Nova's `reasoningConfig`; other families get `reasoning_effort` as asked."""
    budget = thinking_budget(options)
    model = endpoint.upstream_model.lower()
    if not budget:
        effort = options.get("reasoning_effort")
        return {"reasoning_effort": effort} if isinstance(effort, str) and "anthropic" not in model else {}
    if "anthropic" in model or "claude" in model:
        budget = max(budget, MIN_THINKING)
        max_tokens = config.get("maxTokens")
        if not isinstance(max_tokens, int) or max_tokens <= budget:
            config["maxTokens"] = budget + DEFAULT_MAX_TOKENS
        config.pop("temperature", None)  # Claude refuses temperature and a low top_p with thinking on
        config.pop("topP", None)
        return {"thinking": {"type": "enabled", "budget_tokens": budget}}
    if "nova" in model:
        effort = "low" if budget <= 2048 else "medium" if budget <= 8192 else "high"
        return {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": effort}}
    effort = options.get("reasoning_effort")
    return {"reasoning_effort": effort} if isinstance(effort, str) else {}


def build_body(endpoint: Endpoint, request: ChatRequest) -> dict[str, Any]:
    """The JSON body of a Converse / ConverseStream request."""
    opts = request.options
    system, messages = _messages(request)
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    config: dict[str, Any] = {}
    asked = opts.get("max_tokens", opts.get("max_completion_tokens"))
    if isinstance(asked, int) and not isinstance(asked, bool):
        config["maxTokens"] = asked
    elif endpoint.max_completion_tokens:
        config["maxTokens"] = endpoint.max_completion_tokens
    for name, native in (("temperature", "temperature"), ("top_p", "topP")):
        if name in opts:
            config[native] = opts[name]
    stops = stop_list(opts.get("stop"))
    if stops:
        config["stopSequences"] = stops
    given = opts.get("additionalModelRequestFields")
    extra: dict[str, object] = dict(given) if isinstance(given, Mapping) else {}
    extra.update(_reasoning(endpoint, opts, config))
    for name, value in opts.items():
        if name not in MAPPED_OPTIONS and name not in NATIVE_TOP:
            extra[name] = value
    if config:
        body["inferenceConfig"] = config
    tools = _tool_config(request, "thinking" in extra)
    if tools:
        body["toolConfig"] = tools
    if extra:
        body["additionalModelRequestFields"] = extra
    for name in NATIVE_TOP:
        if name in opts:
            body[name] = opts[name]
    return body


def encode(body: dict[str, Any]) -> bytes:
    return dumps(body)
