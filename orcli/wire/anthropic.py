"""The Anthropic Messages dialect (docs/dialects.md), sans-I/O: request building, answer and stream decoding, errors.

Sources: docs.anthropic.com /en/api/messages, /en/api/messages-streaming, /en/api/errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orcli.types import Endpoint, Provider
from orcli.wire.base import (
    Answer,
    Auth,
    ChatRequest,
    Delta,
    HttpRequest,
    MalformedResponse,
    SSEEvent,
    StreamProtocolError,
    ToolCall,
    ToolCallDelta,
    UpstreamError,
    UpstreamErrorInBody,
    Usage,
    new_delta,
)
from orcli.wire.native import (
    add_counts,
    as_text,
    body_object,
    content_text,
    count,
    dumps,
    event_object,
    headers,
    opt_str,
    plain_error_text,
    schema_of,
    stop_list,
    text_of,
    thinking_budget,
    tool_call_json,
    tool_functions,
)
from orcli.wire.text import json_or_none, one_line

DEFAULT_BASE_URL = "https://api.anthropic.com/v1"
API_KEY = Auth(header="x-api-key", prefix="")
DEFAULT_VERSION = "2023-06-01"  # the `anthropic-version` header; provider key `anthropic_version` overrides
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; docs/dialects.md: the request's, the endpoint's, else this
MIN_THINKING = 1024  # the smallest budget_tokens the API accepts
# --schema has no native field: it becomes a tool the model is made to call, and its input is the answer.
SCHEMA_TOOL = "orcli_json_answer"

# -o options already under Anthropic's own names pass through; the OpenAI names below are mapped; any other
# option is dropped, because the Messages API refuses unknown top-level fields with a 400.
NATIVE_OPTIONS = ("top_k", "metadata", "service_tier", "stop_sequences", "thinking")

FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: object) -> str | None:
    """Anthropic's stop_reason under OpenAI's finish_reason values (an unknown one is kept as it is)."""
    if not isinstance(stop_reason, str):
        return None
    return FINISH.get(stop_reason, stop_reason)


# --- requests -------------------------------------------------------------------------------------


def _messages(request: ChatRequest) -> tuple[str | None, list[dict[str, Any]]]:
    """OpenAI-shaped messages as (system, Anthropic messages): system text goes top-level, tool calls become
    tool_use blocks and tool results tool_result blocks in a user turn."""
    system = [request.system] if request.system else []
    out: list[dict[str, Any]] = []
    for msg in request.messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            system.append(content_text(msg.get("content")))
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            text = content_text(msg.get("content"))
            if text:
                blocks.append({"type": "text", "text": text})
            for call in msg.get("tool_calls") or ():  # type: ignore[attr-defined]
                fn = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id"),
                        "name": fn.get("name"),
                        "input": tool_call_json(fn.get("arguments")),
                    }
                )
            if blocks == [{"type": "text", "text": text}]:
                out.append({"role": "assistant", "content": text})
            elif blocks:
                out.append({"role": "assistant", "content": blocks})
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": msg.get("tool_call_id"),
                "content": content_text(msg.get("content")),
            }
            last = out[-1] if out else None
            if last and last["role"] == "user" and isinstance(last["content"], list):
                last["content"].append(result)  # parallel tool results share one user turn
            else:
                out.append({"role": "user", "content": [result]})
        else:
            out.append({"role": "user", "content": content_text(msg.get("content"))})
    return ("\n\n".join(s for s in system if s) or None), out


def _tool_choice(choice: object) -> dict[str, Any] | None:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, Mapping):
        fn = choice.get("function")
        if choice.get("type") == "function" and isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            return {"type": "tool", "name": fn["name"]}
        if choice.get("type") in ("auto", "any", "tool", "none"):
            return dict(choice)  # already Anthropic's shape
    return None


def build_body(endpoint: Endpoint, request: ChatRequest, stream: bool) -> dict[str, Any]:
    """The JSON body of a Messages request."""
    opts = request.options
    system, messages = _messages(request)
    asked = opts.get("max_tokens", opts.get("max_completion_tokens"))
    user_max = asked if isinstance(asked, int) and not isinstance(asked, bool) else None
    max_tokens = user_max or endpoint.max_completion_tokens or DEFAULT_MAX_TOKENS

    budget = thinking_budget(opts)
    thinking: dict[str, Any] | None = None
    if budget and "thinking" not in opts:
        budget = max(budget, MIN_THINKING)
        if user_max is None and budget >= max_tokens:
            # max_tokens counts the thinking too: make room for an answer after it, within the endpoint's cap.
            cap = endpoint.max_completion_tokens
            max_tokens = min(budget + DEFAULT_MAX_TOKENS, cap) if cap else budget + DEFAULT_MAX_TOKENS
        # The answer keeps room after the thinking: 4096 tokens, or half of a smaller max_tokens.
        budget = min(budget, max_tokens - min(DEFAULT_MAX_TOKENS, max_tokens // 2))
        if budget >= MIN_THINKING:  # else the request cannot express it: dropped
            thinking = {"type": "enabled", "budget_tokens": budget}

    body: dict[str, Any] = {"model": endpoint.upstream_model, "max_tokens": max_tokens}
    if system:
        body["system"] = system
    body["messages"] = messages
    for name in ("temperature", "top_p"):
        if name in opts:
            body[name] = opts[name]
    stops = stop_list(opts.get("stop"))
    if stops:
        body["stop_sequences"] = stops
    for name in NATIVE_OPTIONS:
        if name in opts:
            body[name] = opts[name]
    asked = opts.get("thinking")
    if thinking or isinstance(asked, Mapping) and asked.get("type") == "enabled":
        # With thinking on the API refuses temperature and top_k, and top_p below 0.95: those are dropped
        # (an option the dialect cannot express), rather than failing a request other providers would serve.
        body.pop("temperature", None)
        body.pop("top_k", None)
        top_p = body.get("top_p")
        if isinstance(top_p, int | float) and top_p < 0.95:
            del body["top_p"]
    if thinking:
        body["thinking"] = thinking

    tools = [
        {
            "name": fn["name"],
            **({"description": fn["description"]} if isinstance(fn.get("description"), str) else {}),
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        for fn in tool_functions(request)
    ]
    choice = _tool_choice(opts.get("tool_choice"))
    schema = schema_of(request)
    if schema is not None:
        tools.append(
            {"name": SCHEMA_TOOL, "description": "Give the answer as this tool's input.", "input_schema": dict(schema)}
        )
        if len(tools) == 1 and choice is None and not thinking and "thinking" not in opts:
            # Forced tool use is how the Messages API guarantees the shape; thinking forbids forcing.
            choice = {"type": "tool", "name": SCHEMA_TOOL}
    if tools:
        body["tools"] = tools
        if opts.get("parallel_tool_calls") is False:
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if choice:
            body["tool_choice"] = choice
    if stream:
        body["stream"] = True
    return body


# --- answers --------------------------------------------------------------------------------------


def _usage(usage: object, prompt: int | None = None) -> Usage | None:
    """Anthropic usage as prompt/completion tokens; cache writes and reads are prompt tokens too."""
    if not isinstance(usage, Mapping):
        return None
    prompt_now = add_counts(
        count(usage.get("input_tokens")),
        count(usage.get("cache_creation_input_tokens")),
        count(usage.get("cache_read_input_tokens")),
    )
    return Usage(prompt_now if prompt_now is not None else prompt, count(usage.get("output_tokens")))


def _error_from(err: object, raw: str, status: int | None = None) -> UpstreamError:
    """An UpstreamError from the `error` object of Anthropic's envelope; `error.type` is the machine word."""
    if not isinstance(err, Mapping):
        message, detail = plain_error_text(str(err) if err is not None else raw)
        return UpstreamError(message=message, raw=raw, detail=detail, status=status)
    typ = opt_str(err.get("type"))
    said = err.get("message")
    # A monthly spend limit is a 429 rate_limit_error too, told apart by details.error_code
    # (enforced_spend_limit_reached): the finer word is the code, so it classifies as quota, not rate.
    details = err.get("details")
    finer = opt_str(details.get("error_code")) if isinstance(details, Mapping) else None
    return UpstreamError(
        message=one_line(said if isinstance(said, str) else ""),
        type=typ,
        code=finer or typ,
        raw=raw,
        status=status,
    )


def decode_answer(body: bytes) -> Answer:
    """A whole Messages response."""
    obj = body_object(body)
    if obj.get("type") == "error" or ("error" in obj and "content" not in obj):
        raise UpstreamErrorInBody(_error_from(obj.get("error"), as_text(body)))
    blocks = obj.get("content")
    if not isinstance(blocks, list):
        raise MalformedResponse("response has no content blocks")
    text: list[str] = []
    thinking: list[str] = []
    calls: list[ToolCall] = []
    for block in blocks:
        if not isinstance(block, Mapping):
            raise MalformedResponse("response content block is not an object")
        kind = block.get("type")
        if kind == "text":
            text.append(text_of(block.get("text")))
        elif kind == "thinking":
            thinking.append(text_of(block.get("thinking")))
        elif kind == "tool_use":
            args = dumps(block.get("input") if isinstance(block.get("input"), Mapping) else {}).decode()
            if block.get("name") == SCHEMA_TOOL:
                text.append(args)
            else:
                calls.append(ToolCall(text_of(block.get("id")), text_of(block.get("name")), args))
    finish = finish_reason(obj.get("stop_reason"))
    if finish == "tool_calls" and not calls:
        finish = "stop"  # only the --schema tool was called: that is the answer, not a tool call
    return Answer(
        content="".join(text) if text or not calls else None,
        tool_calls=tuple(calls),
        reasoning="".join(thinking) or None,
        finish_reason=finish,
        usage=_usage(obj.get("usage")),
        model=opt_str(obj.get("model")),
    )


# Named SSE events whose data orcli reads; "message" is the SSE default, an event without an `event:` line.
_READ_EVENTS = frozenset(
    {"message", "message_start", "content_block_start", "content_block_delta", "message_delta", "message_stop", "error"}
)


class EventDecoder:
    """One Messages stream: block kinds by index, tool-call numbering, and the prompt count from message_start."""

    def __init__(self) -> None:
        self.kinds: dict[int, str] = {}
        self.tool_index: dict[int, int] = {}
        self.prompt_tokens: int | None = None

    def decode(self, event: SSEEvent) -> list[Delta]:
        if event.event not in _READ_EVENTS:
            # ping, content_block_stop and event types added later (the API's versioning policy): ignored
            # whatever their data, JSON or not, so a new event never fails a provider that answers well.
            return []
        obj = event_object(event.data)
        kind = obj.get("type") if isinstance(obj.get("type"), str) else event.event
        if kind == "content_block_delta":
            return self._block_delta(obj)
        if kind == "content_block_start":
            return self._block_start(obj)
        if kind == "message_start":
            found = obj.get("message")
            msg = found if isinstance(found, Mapping) else {}
            usage = _usage(msg.get("usage"))
            self.prompt_tokens = usage.prompt_tokens if usage else None
            return [Delta(model=opt_str(msg.get("model")))]
        if kind == "message_delta":
            found = obj.get("delta")
            delta = found if isinstance(found, Mapping) else {}
            finish = finish_reason(delta.get("stop_reason"))
            if finish == "tool_calls" and not self.tool_index:
                finish = "stop"
            return [Delta(finish_reason=finish, usage=_usage(obj.get("usage"), self.prompt_tokens))]
        if kind == "message_stop":
            return [Delta(done=True)]
        if kind == "error":
            return [Delta(error=_error_from(obj.get("error"), event.data))]
        return []  # an unnamed event of a type orcli does not read

    def _index(self, obj: Mapping[str, Any]) -> int:
        index = obj.get("index")
        if isinstance(index, bool) or not isinstance(index, int):
            raise StreamProtocolError("stream content block event has no index")
        return index

    def _block_start(self, obj: Mapping[str, Any]) -> list[Delta]:
        index = self._index(obj)
        block = obj.get("content_block")
        if not isinstance(block, Mapping):
            raise StreamProtocolError("content_block_start has no content_block")
        kind = block.get("type")
        if kind == "text":
            self.kinds[index] = "text"
            text = text_of(block.get("text"))
            return [Delta(content=text)] if text else []
        if kind == "thinking":
            self.kinds[index] = "thinking"
            text = text_of(block.get("thinking"))
            return [Delta(reasoning=text)] if text else []
        if kind == "tool_use":
            if block.get("name") == SCHEMA_TOOL:
                self.kinds[index] = "json"
                return []
            self.kinds[index] = "tool"
            tool = self.tool_index[index] = len(self.tool_index)
            return [Delta(tool_calls=(ToolCallDelta(tool, text_of(block.get("id")), text_of(block.get("name"))),))]
        self.kinds[index] = str(kind)
        return []

    def _block_delta(self, obj: Mapping[str, Any]) -> list[Delta]:
        delta = obj.get("delta")
        if type(delta) is dict and delta.get("type") == "text_delta" and type(obj.get("index")) is int:
            # Most events of a stream: exact-type checks (no ABC isinstance), the delta built without keywords.
            return [new_delta((text_of(delta.get("text")), "", (), None, None, None, None, False))]
        index = self._index(obj)
        if not isinstance(delta, Mapping):
            raise StreamProtocolError("content_block_delta has no delta")
        kind = delta.get("type")
        if kind == "text_delta":
            return [new_delta((text_of(delta.get("text")), "", (), None, None, None, None, False))]
        if kind == "thinking_delta":
            return [Delta(reasoning=text_of(delta.get("thinking")))]
        if kind == "input_json_delta":
            fragment = text_of(delta.get("partial_json"))
            if self.kinds.get(index) == "json":
                return [Delta(content=fragment)]
            if index not in self.tool_index:
                raise StreamProtocolError("input_json_delta for a block that is not a tool_use")
            return [Delta(tool_calls=(ToolCallDelta(self.tool_index[index], arguments=fragment),))]
        return []  # signature_delta, citations_delta: nothing orcli shows


# --- errors ---------------------------------------------------------------------------------------


def parse_error(status: int | None, body: bytes | str) -> UpstreamError:
    """An error response: Anthropic's envelope {"type": "error", "error": {"type", "message"}}, or any text."""
    raw = as_text(body)
    obj = json_or_none(raw)
    if isinstance(obj, dict) and obj.get("error") is not None:
        return _error_from(obj["error"], raw, status)
    if isinstance(obj, dict) and isinstance(obj.get("message"), str):
        return UpstreamError(message=one_line(obj["message"]), raw=raw, status=status)
    message, detail = plain_error_text(raw)
    return UpstreamError(message=message, raw=raw, detail=detail, status=status)


class AnthropicDialect:
    """`api = "anthropic"`: POST {base_url}/messages with x-api-key and anthropic-version."""

    name = "anthropic"
    framing = "sse"

    def default_base_url(self, settings: Mapping[str, object]) -> str | None:
        return DEFAULT_BASE_URL

    def auth(self, provider: Provider) -> Auth:
        return API_KEY

    def build_request(self, provider: Provider, endpoint: Endpoint, request: ChatRequest, stream: bool) -> HttpRequest:
        version = str(provider.settings.get("anthropic_version") or DEFAULT_VERSION)
        # The profile's headers may replace anthropic-version (a beta header rides along the same way), never the key.
        hdrs = headers({"anthropic-version": version, **provider.headers}, {}, stream)
        return HttpRequest(f"{provider.base_url}/messages", hdrs, dumps(build_body(endpoint, request, stream)))

    def decode_answer(self, body: bytes) -> Answer:
        return decode_answer(body)

    def event_decoder(self) -> EventDecoder:
        return EventDecoder()

    def parse_error(self, status: int | None, body: bytes | str) -> UpstreamError:
        return parse_error(status, body)


DIALECT = AnthropicDialect()
