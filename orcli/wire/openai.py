"""The OpenAI chat-completions dialect (docs/dialects.md), sans-I/O: build requests, decode answers, stream events
and error bodies into the neutral types of `orcli.wire.base`. Most providers speak it (OpenAI, Groq, Together,
OpenRouter, vLLM, Ollama, llama.cpp, LiteLLM...), so its error-body parser also knows their shapes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from orcli import __version__
from orcli.routing.options import RESERVED_OPTIONS, NumberText
from orcli.types import Endpoint, Provider
from orcli.wire.base import (
    Answer,
    Auth,
    ChatRequest,
    Delta,
    Dialect,
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
from orcli.wire.text import compact_json, json_or_none, loads, one_line, scrub

# --- requests -------------------------------------------------------------------------------------


def chat_url(base_url: str) -> str:
    """`{base_url}/chat/completions`; a query string on the base URL (a gateway's api-version) stays last."""
    base, sep, query = base_url.partition("?")
    return f"{base.rstrip('/')}/chat/completions{sep}{query}"


def build_messages(prompt: str, system: str | None) -> list[dict[str, Any]]:
    """The chat messages for one prompt, with an optional system message first."""
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    return messages


def request_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """The request's messages with its system prompt first, as chat-completions wants them."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": request.system}] if request.system else []
    messages.extend(dict(m) for m in request.messages)
    return messages


def build_body(
    upstream_model: str,
    messages: list[dict[str, Any]],
    options: Mapping[str, object],
    stream: bool,
    tools: object = None,
    schema: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """The JSON body of a chat-completions request."""
    clash = sorted(RESERVED_OPTIONS.intersection(options))
    if clash:
        raise ValueError(f"option {clash[0]!r} is set by orcli and cannot be given with -o")
    _check_encodable(messages, "the prompt")
    _check_encodable(options, "an -o option")
    body: dict[str, Any] = {"model": upstream_model, "messages": messages, **options, "stream": stream}
    if tools is not None:
        body["tools"] = [dict(t) for t in tools]  # type: ignore[attr-defined]
    if schema is not None:
        # Structured output (docs/commands.md#answers-beyond-text): the schema rides in response_format under a fixed name.
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "response", "schema": dict(schema)}}
    if stream:
        # Without it OpenAI-style servers never send usage in a stream.
        body["stream_options"] = {"include_usage": True}
    return body


def _check_encodable(value: object, what: str) -> None:
    """Refuse text JSON cannot carry as UTF-8 (lone surrogates: bytes that were not UTF-8 on the command line),
    before the network: otherwise every provider would fail the same way and be blamed for it."""
    if isinstance(value, str):
        if value.isascii():
            return  # no copy of a large prompt in the common case
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{what} contains text that is not valid UTF-8 (check the command-line bytes)") from None
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_encodable(key, what)
            _check_encodable(item, what)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_encodable(item, what)


def build_headers(api_key: str | None, extra: Mapping[str, str], stream: bool = False) -> dict[str, str]:
    """Request headers; the profile's extra headers may replace ours, but never the key (a Bearer key, the
    `header` auth scheme, as `orcli/auth` applies it)."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
        "User-Agent": f"orcli/{__version__}",
    }
    for name, value in extra.items():
        for old in [k for k in headers if k.lower() == name.lower()]:
            del headers[old]
        headers[name] = value
    key = (api_key or "").strip()
    if key:
        for old in [k for k in headers if k.lower() == "authorization"]:
            del headers[old]
        headers["Authorization"] = f"Bearer {key}"
    return headers


def encode_body(body: Mapping[str, object]) -> bytes:
    """JSON bytes exactly as httpx's `json=` would send them; ValueError for what JSON cannot carry (NaN).

    An option typed as `NumberText` (`-o user=1e3`) is written as its own literal: JSON encoders spell every
    float their own way, so it goes in as a unique placeholder string that is then replaced by the literal."""
    literals = {k: v for k, v in body.items() if isinstance(v, NumberText)}
    marked = {k: (f"\x00orcli-number:{k}\x00" if k in literals else v) for k, v in body.items()}
    text = compact_json(marked)
    for key, number in literals.items():
        placeholder = json.dumps(marked[key], ensure_ascii=False)
        if text.count(placeholder) != 1:  # the prompt happens to hold the same text: send the plain float
            return compact_json(body).encode("utf-8")
        text = text.replace(placeholder, number.text)
    return text.encode("utf-8")


# --- response bodies ------------------------------------------------------------------------------


def _content_text(content: object) -> str | None:
    """Message/delta content as text: a string, or the text parts of a list; None if not either."""
    if content is None:
        return ""
    if isinstance(content, str):
        return scrub(content)
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return scrub("".join(p for p in parts if isinstance(p, str)))
    return None


def _opt_str(value: object) -> str | None:
    return scrub(value) if isinstance(value, str) else None


def _reasoning(message: Mapping[str, object]) -> str | None:
    """The model thinking aloud: `reasoning` (OpenRouter, Groq, vLLM) or `reasoning_content` (DeepSeek)."""
    for key in ("reasoning", "reasoning_content"):
        text = message.get(key)
        if isinstance(text, str) and text:
            return scrub(text)
    return None


def _arguments(value: object) -> str:
    """Tool-call arguments as JSON text; a server that sends them as an object gets them serialised."""
    if value is None:
        return ""
    if isinstance(value, str):
        return scrub(value)
    try:
        return scrub(json.dumps(value, ensure_ascii=False))
    except (ValueError, RecursionError):
        return ""


def _tool_call_deltas(value: object) -> tuple[ToolCallDelta, ...]:
    """The tool-call fragments of one stream delta."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise StreamProtocolError("stream chunk 'delta.tool_calls' is not a list")
    fragments = []
    for position, item in enumerate(value):
        if not isinstance(item, dict):
            raise StreamProtocolError("stream chunk tool call is not an object")
        index = item.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            index = position
        function = item.get("function")
        function = function if isinstance(function, dict) else {}
        fragments.append(
            ToolCallDelta(
                index, _opt_str(item.get("id")), _opt_str(function.get("name")), _arguments(function.get("arguments"))
            )
        )
    return tuple(fragments)


def _tool_calls(value: object) -> tuple[ToolCall, ...]:
    """The complete tool calls of a non-streamed message."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MalformedResponse("response message 'tool_calls' is not a list")
    calls = []
    for position, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("function"), dict):
            raise MalformedResponse("response tool call has no function object")
        function = item["function"]
        calls.append(
            ToolCall(
                _opt_str(item.get("id")) or f"call_{position}",
                _opt_str(function.get("name")) or "",
                _arguments(function.get("arguments")),
            )
        )
    return tuple(calls)


_USAGE_LIMIT = 1e15  # tokens; anything larger is not a count, and 10**400 would overflow float arithmetic


def _clean_usage(value: object) -> dict[str, Any] | None:
    """The usage object, minus numbers no real count can be (NaN, inf, negative, absurdly large, booleans):
    they would crash or poison the cost arithmetic and make the --json output invalid JSON."""
    if not isinstance(value, dict):
        return None
    clean: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            item = _clean_usage(item)
        elif isinstance(item, bool) or (isinstance(item, int | float) and not 0 <= item <= _USAGE_LIMIT):
            continue  # NaN fails the comparison too; a huge int compares without converting to float
        elif isinstance(item, str):
            item = scrub(item)
        elif not isinstance(item, int | float) and item is not None:
            continue  # lists and the like: nothing orcli reads
        clean[scrub(key)] = item
    return clean


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _usage(obj: Mapping[str, object]) -> Usage | None:
    """The usage of a body or chunk: top-level `usage`, or Groq's `x_groq.usage` in its last stream chunk."""
    value = obj.get("usage")
    if not isinstance(value, dict):
        groq = obj.get("x_groq")
        value = groq.get("usage") if isinstance(groq, dict) else None
    clean = _clean_usage(value)
    if not clean:
        return None
    return Usage(_count(clean.get("prompt_tokens")), _count(clean.get("completion_tokens")), raw=clean)


_DONE = Delta(done=True)


def parse_stream_event(data: str) -> Delta:
    """One SSE `data:` payload of a chat-completions stream.

    Every event of every OpenAI-shaped stream comes through here: the common case (text content, maybe a
    role) is checked with as few lookups as its checks need; anything else takes the general walk."""
    if data[:1] != "{" and data.strip() == "[DONE]":
        return _DONE
    try:
        obj = loads(data)
    except ValueError as exc:
        raise StreamProtocolError(f"stream chunk is not JSON: {exc}") from None
    if type(obj) is not dict:
        raise StreamProtocolError(f"stream chunk is a JSON {type(obj).__name__}, not an object")
    choices = obj.get("choices")
    content, reasoning, finish, error = "", "", None, None
    tool_calls: tuple[ToolCallDelta, ...] = ()
    if choices:
        if type(choices) is not list:
            raise StreamProtocolError("stream chunk 'choices' is not a list")
        choice = choices[0]
        if type(choice) is not dict:
            raise StreamProtocolError("stream chunk choice is not an object")
        delta = choice.get("delta")
        if delta is None:
            delta = {}
        elif type(delta) is not dict:
            raise StreamProtocolError("stream chunk 'delta' is not an object")
        text = delta.get("content")
        if type(text) is str:
            content = text if text.isascii() else scrub(text)
        else:
            text = _content_text(text)
            if text is None:
                raise StreamProtocolError("stream chunk 'delta.content' is neither text nor a list of parts")
            content = text
        if len(delta) > ("content" in delta) + ("role" in delta):  # more than content and role: look further
            reasoning = _reasoning(delta) or ""  # the model thinking aloud, never part of the answer
            if delta.get("tool_calls") is not None:
                tool_calls = _tool_call_deltas(delta["tool_calls"])
        finish = choice.get("finish_reason")
        if finish is not None and type(finish) is not str:
            raise StreamProtocolError("stream chunk 'finish_reason' is not a string")
        choice_error = choice.get("error")
        if choice_error is not None and type(choice_error) in (dict, str):
            error = _error_from(choice_error, data)
    elif choices is not None and type(choices) is not list:
        raise StreamProtocolError("stream chunk 'choices' is not a list")
    if obj.get("error") is not None:
        # OpenRouter's mid-stream error: a top-level error object next to finish_reason "error".
        error = _error_from(obj["error"], data)
    # usage and model only inform; a wrong type there must not cost the answer.
    usage = _usage(obj) if "usage" in obj or "x_groq" in obj else None
    model = obj.get("model")
    if model is not None and not (type(model) is str and model.isascii()):
        model = _opt_str(model)
    return new_delta((content, reasoning, tool_calls, finish, usage, model, error, False))


def parse_completion(body: bytes) -> Answer:
    """A non-streamed chat-completions response body."""
    try:
        # OpenRouter pads bodies with whitespace while the model works; json.loads skips it.
        obj = loads(body)
    except ValueError as exc:
        raise MalformedResponse(f"response is not JSON: {one_line(str(exc))}") from None
    if not isinstance(obj, dict):
        raise MalformedResponse(f"response is a JSON {type(obj).__name__}, not an object")
    if "error" in obj and obj["error"] is not None and not obj.get("choices"):
        raise UpstreamErrorInBody(_error_from(obj["error"], _text(body)))
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse("response has no choices")
    choice = choices[0]
    if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
        raise MalformedResponse("response choice has no message")
    finish = _opt_str(choice.get("finish_reason"))
    if finish == "error":
        # OpenRouter: partial content plus an error (in the choice or at the top); it says what went wrong.
        for err in (choice.get("error"), obj.get("error")):
            if isinstance(err, dict | str):
                raise UpstreamErrorInBody(_error_from(err, _text(body)))
    message = choice["message"]
    content = _content_text(message.get("content"))
    if content is None:
        raise MalformedResponse("response message content is neither text nor a list of parts")
    return Answer(
        content=content,
        tool_calls=_tool_calls(message.get("tool_calls")),
        reasoning=_reasoning(message),
        finish_reason=finish,
        usage=_usage(obj),
        model=_opt_str(obj.get("model")),
    )


# --- error bodies ---------------------------------------------------------------------------------

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _text(body: bytes | str) -> str:
    return body if isinstance(body, str) else body.decode("utf-8", errors="replace")


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _error_from(err: object, raw: str) -> UpstreamError:
    """An UpstreamError from the value of an `error` key (an object, or a bare string as Ollama sends)."""
    if not isinstance(err, dict):
        return UpstreamError(message=one_line(_as_text(err)), raw=raw)
    metadata: dict[str, Any] = err["metadata"] if isinstance(err.get("metadata"), dict) else {}
    detail = _as_text(metadata.get("raw"))
    message = _as_text(err.get("message"))
    if detail and message.strip().lower() == "provider returned error":
        # OpenRouter's generic wrapper: the upstream's own message is the useful one.
        message = parse_error_body(detail).message or message
    reasons = metadata.get("reasons")
    code = err.get("code")
    # OpenRouter puts its typed category in error_type; Google in status.
    typ = err.get("type") or err.get("error_type") or metadata.get("error_type") or err.get("status")
    return UpstreamError(
        message=one_line(message),
        type=_opt_str(typ),
        code=None if code is None or isinstance(code, bool) else _as_text(code),
        raw=raw,
        detail=detail,
        provider=_opt_str(metadata.get("provider_name")),
        reasons=tuple(r for r in reasons if isinstance(r, str)) if isinstance(reasons, list) else (),
    )


def _detail_message(detail: object) -> str:
    """FastAPI's `detail`: a string, or a list of validation errors each with a `msg`."""
    if isinstance(detail, list):
        msgs = [_as_text(d.get("msg")) if isinstance(d, dict) else _as_text(d) for d in detail]
        return "; ".join(m for m in msgs if m)
    if isinstance(detail, dict) and "message" in detail:
        return _as_text(detail["message"])
    return _as_text(detail)


def parse_error_body(body: bytes | str) -> UpstreamError:
    """An upstream error body of any common shape (OpenAI, OpenRouter, FastAPI, plain text, HTML)."""
    raw = _text(body)
    obj = json_or_none(raw)
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        obj = obj[0]  # Google wraps its error object in a one-element list on some endpoints
    if isinstance(obj, dict):
        if obj.get("error") is not None:
            return _error_from(obj["error"], raw)
        if "detail" in obj:
            return UpstreamError(message=one_line(_detail_message(obj["detail"])), raw=raw)
        if "message" in obj:
            code = obj.get("code")
            return UpstreamError(
                message=one_line(_as_text(obj["message"])),
                type=_opt_str(obj.get("type")),
                code=None if code is None or isinstance(code, bool) else _as_text(code),
                raw=raw,
            )
        return UpstreamError(message=one_line(raw), raw=raw)
    text = raw.strip()
    if text.startswith("<"):
        title = _TITLE.search(text)
        text = title.group(1) if title else _TAG.sub(" ", text)
    full = _SPACE.sub(" ", text).strip()
    message = one_line(full)
    # The message is cut for display; keep more of the text so signatures further on still match.
    return UpstreamError(message=message, raw=raw, detail=full[:4096] if len(full) > len(message) else "")


class _EventDecoder:
    """Chat-completions streams carry one delta per event and keep no state between them."""

    def decode(self, event: SSEEvent) -> list[Delta]:
        return [parse_stream_event(event.data)]


class OpenAIDialect:
    """`api = "openai"`: POST {base_url}/chat/completions with a Bearer key (docs/dialects.md)."""

    name = "openai"
    framing = "sse"

    def default_base_url(self, settings: Mapping[str, object]) -> str | None:
        return None  # every OpenAI-compatible server has its own root: the profile names it

    def auth(self, provider: Provider) -> Auth:
        return BEARER

    def build_request(self, provider: Provider, endpoint: Endpoint, request: ChatRequest, stream: bool) -> HttpRequest:
        body = build_body(
            endpoint.upstream_model, request_messages(request), request.options, stream, request.tools, request.schema
        )
        headers = build_headers(None, provider.headers, stream=stream)
        return HttpRequest(chat_url(provider.base_url), headers, encode_body(body))

    def decode_answer(self, body: bytes) -> Answer:
        return parse_completion(body)

    def event_decoder(self) -> _EventDecoder:
        return _EventDecoder()

    def parse_error(self, status: int | None, body: bytes | str) -> UpstreamError:
        return parse_error_body(body)._replace(status=status)


BEARER = Auth()  # Authorization: Bearer KEY
DIALECT: Dialect = OpenAIDialect()  # annotated so a type checker holds the class to the interface
