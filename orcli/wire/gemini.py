"""The Google Gemini API dialect (docs/dialects.md), sans-I/O: request building, answer and stream decoding, errors.

Sources: ai.google.dev /api/generate-content, /gemini-api/docs/thinking, /gemini-api/docs/structured-output,
/gemini-api/docs/function-calling, /gemini-api/docs/generate-content/api-errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

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
    wants_json,
)
from orcli.wire.text import json_or_none, loads, one_line, scrub

# -o options under OpenAI's names -> generationConfig fields.
GENERATION_OPTIONS = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "max_tokens": "maxOutputTokens",
    "max_completion_tokens": "maxOutputTokens",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}
# -o options already under Gemini's own names pass through (into generationConfig, or the top level);
# every other option is dropped: the API refuses unknown fields.
NATIVE_GENERATION = (
    "topP",
    "topK",
    "maxOutputTokens",
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "thinkingConfig",
    "presencePenalty",
    "frequencyPenalty",
    "responseModalities",
    "mediaResolution",
)
NATIVE_TOP = ("safetySettings", "toolConfig", "cachedContent", "labels")

FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
}


def finish_reason(reason: object, tool_calls: bool) -> str | None:
    """Gemini's finishReason under OpenAI's values; a STOP after a functionCall is `tool_calls`."""
    if not isinstance(reason, str):
        return None
    mapped = FINISH.get(reason, reason.lower())
    return "tool_calls" if mapped == "stop" and tool_calls else mapped


# --- requests -------------------------------------------------------------------------------------


def _contents(request: ChatRequest) -> tuple[str | None, list[dict[str, Any]]]:
    """OpenAI-shaped messages as (system text, Gemini contents): assistant is `model`, tool calls are
    functionCall parts and tool results functionResponse parts (named after the call they answer)."""
    system = [request.system] if request.system else []
    contents: list[dict[str, Any]] = []
    call_names: dict[object, str | None] = {}
    for msg in request.messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            system.append(content_text(msg.get("content")))
        elif role == "assistant":
            parts: list[dict[str, Any]] = []
            text = content_text(msg.get("content"))
            if text:
                parts.append({"text": text})
            for call in msg.get("tool_calls") or ():  # type: ignore[attr-defined]
                fn = call.get("function") or {}
                call_names[call.get("id")] = fn.get("name")
                parts.append({"functionCall": {"name": fn.get("name"), "args": tool_call_json(fn.get("arguments"))}})
            if parts:
                contents.append({"role": "model", "parts": parts})
        elif role == "tool":
            text = content_text(msg.get("content"))
            try:
                value = loads(text)
            except ValueError:
                value = None
            response = value if isinstance(value, dict) else {"result": text}
            name = call_names.get(msg.get("tool_call_id")) or msg.get("name") or ""
            part = {"functionResponse": {"name": name, "response": response}}
            last = contents[-1] if contents else None
            if last and last["role"] == "user" and all("functionResponse" in p for p in last["parts"]):
                last["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
        else:
            contents.append({"role": "user", "parts": [{"text": content_text(msg.get("content"))}]})
    return ("\n\n".join(s for s in system if s) or None), contents


def _tool_config(choice: object) -> dict[str, Any] | None:
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    if isinstance(choice, str) and choice in modes:
        return {"functionCallingConfig": {"mode": modes[choice]}}
    if isinstance(choice, Mapping):
        fn = choice.get("function")
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [fn["name"]]}}
    return None


def build_body(request: ChatRequest) -> dict[str, Any]:
    """The JSON body of a generateContent / streamGenerateContent request."""
    opts = request.options
    system, contents = _contents(request)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    config: dict[str, Any] = {}
    for name, native in GENERATION_OPTIONS.items():
        if name in opts and native not in config:
            config[native] = opts[name]
    stops = stop_list(opts.get("stop"))
    if stops:
        config["stopSequences"] = stops
    schema = schema_of(request)
    if wants_json(request):
        config["responseMimeType"] = "application/json"
    if schema is not None:
        # responseJsonSchema takes JSON Schema as --schema gives it; responseSchema only an OpenAPI subset.
        config["responseJsonSchema"] = dict(schema)
    budget = thinking_budget(opts)
    if budget is not None:
        config["thinkingConfig"] = {"thinkingBudget": budget, **({"includeThoughts": True} if budget else {})}
    for name in NATIVE_GENERATION:
        if name in opts:
            config[name] = opts[name]
    if config:
        body["generationConfig"] = config
    declarations = [
        {
            "name": fn["name"],
            **({"description": fn["description"]} if isinstance(fn.get("description"), str) else {}),
            **({"parametersJsonSchema": fn["parameters"]} if isinstance(fn.get("parameters"), Mapping) else {}),
        }
        for fn in tool_functions(request)
    ]
    if declarations:
        body["tools"] = [{"functionDeclarations": declarations}]
        tool_config = _tool_config(opts.get("tool_choice"))
        if tool_config:
            body["toolConfig"] = tool_config
    for name in NATIVE_TOP:
        if name in opts:
            body[name] = opts[name]
    return body


def model_path(upstream_model: str) -> str:
    """The model's resource name: `models/{id}` for a bare id, else as given (`models/x`, `tunedModels/x`)."""
    name = upstream_model if "/" in upstream_model else f"models/{upstream_model}"
    return "/".join(quote(part, safe="-._~") for part in name.split("/"))


# --- answers --------------------------------------------------------------------------------------


def _usage(meta: object) -> Usage | None:
    """usageMetadata as prompt/completion tokens; thinking tokens are billed as output, so they count."""
    if not isinstance(meta, Mapping):
        return None
    completion = add_counts(count(meta.get("candidatesTokenCount")), count(meta.get("thoughtsTokenCount")))
    return Usage(count(meta.get("promptTokenCount")), completion)


def _blocked(obj: Mapping[str, Any], raw: str) -> UpstreamError | None:
    """The prompt itself was blocked (promptFeedback.blockReason, no candidates): a moderation failure,
    reported as an error object with code `content_filter` so the classifier makes it `model` class."""
    feedback = obj.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, Mapping) else None
    if not isinstance(reason, str) or obj.get("candidates"):
        return None
    message = feedback.get("blockReasonMessage")  # type: ignore[union-attr]
    text = f"the prompt was blocked ({reason})" + (f": {message}" if isinstance(message, str) else "")
    return UpstreamError(message=one_line(text), type=reason, code="content_filter", raw=raw)


class _Parts:
    """What one candidate's parts say: answer text, thought text, function calls."""

    def __init__(self, candidate: Mapping[str, Any]) -> None:
        self.text: list[str] = []
        self.thoughts: list[str] = []
        self.calls: list[tuple[str | None, str, str]] = []
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, Mapping) else None
        if parts is None:
            return  # a candidate stopped before any content (e.g. finishReason SAFETY) has none
        if not isinstance(parts, list):
            raise MalformedResponse("candidate content parts is not a list")
        for part in parts:
            if not isinstance(part, Mapping):
                continue
            call = part.get("functionCall")
            if isinstance(call, Mapping):
                args = call.get("args") if isinstance(call.get("args"), Mapping) else {}
                self.calls.append((opt_str(call.get("id")), text_of(call.get("name")), dumps(args).decode()))
            elif isinstance(part.get("text"), str):
                (self.thoughts if part.get("thought") is True else self.text).append(text_of(part["text"]))


def _first_candidate(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    candidates = obj.get("candidates")
    if candidates is None:
        return None
    if not isinstance(candidates, list):
        raise MalformedResponse("response 'candidates' is not a list")
    if not candidates:
        return None
    if not isinstance(candidates[0], Mapping):
        raise MalformedResponse("response candidate is not an object")
    return candidates[0]


def _error_obj(obj: Mapping[str, Any]) -> object:
    return obj.get("error") if obj.get("error") is not None and not obj.get("candidates") else None


def decode_answer(body: bytes) -> Answer:
    """A whole generateContent response. A blocked prompt raises UpstreamErrorInBody (code content_filter)."""
    obj = body_object(body)
    raw = as_text(body)
    err = _error_obj(obj)
    if err is not None:
        raise UpstreamErrorInBody(_error_from(err, raw, None))
    blocked = _blocked(obj, raw)
    if blocked is not None:
        raise UpstreamErrorInBody(blocked)
    candidate = _first_candidate(obj)
    if candidate is None:
        raise MalformedResponse("response has no candidates")
    parts = _Parts(candidate)
    calls = tuple(ToolCall(cid or f"call_{i}", name, args) for i, (cid, name, args) in enumerate(parts.calls))
    return Answer(
        content="".join(parts.text) if parts.text or not calls else None,
        tool_calls=calls,
        reasoning="".join(parts.thoughts) or None,
        finish_reason=finish_reason(candidate.get("finishReason"), bool(calls)),
        usage=_usage(obj.get("usageMetadata")),
        model=opt_str(obj.get("modelVersion")),
    )


def _plain_text_piece(obj: dict[str, Any]) -> Delta | None:
    """The usual mid-stream event, one candidate with one plain text part and no finish, no error, no block,
    decoded without the general walk (a stream is mostly these); None for anything else."""
    candidates = obj.get("candidates")
    if type(candidates) is not list or len(candidates) != 1 or "error" in obj or "promptFeedback" in obj:
        return None
    candidate = candidates[0]
    if type(candidate) is not dict or "finishReason" in candidate:
        return None
    content = candidate.get("content")
    parts = content.get("parts") if type(content) is dict else None
    if type(parts) is not list or len(parts) != 1:
        return None
    part = parts[0]
    text = part.get("text") if type(part) is dict else None
    if type(text) is not str or part.get("thought") is True or "functionCall" in part:
        return None
    model = obj.get("modelVersion")
    return Delta(
        content=scrub(text),
        usage=_usage(obj["usageMetadata"]) if "usageMetadata" in obj else None,
        model=scrub(model) if type(model) is str else None,
    )


class EventDecoder:
    """One streamGenerateContent?alt=sse stream: each event is a whole response object holding the next
    piece. Gemini sends no end marker: the event with a finishReason is the last, so a `done` follows it."""

    def __init__(self) -> None:
        self.calls = 0

    def decode(self, event: SSEEvent) -> list[Delta]:
        obj = event_object(event.data)
        fast = _plain_text_piece(obj)
        if fast is not None:
            return [fast]
        err = _error_obj(obj)
        if err is not None:
            return [Delta(error=_error_from(err, event.data, None))]
        blocked = _blocked(obj, event.data)
        if blocked is not None:
            return [Delta(error=blocked)]
        usage = _usage(obj.get("usageMetadata"))
        model = opt_str(obj.get("modelVersion"))
        try:
            candidate = _first_candidate(obj)
            parts = _Parts(candidate) if candidate is not None else None
        except MalformedResponse as exc:
            raise StreamProtocolError(str(exc)) from None
        if parts is None or candidate is None:
            return [Delta(usage=usage, model=model)]
        calls = []
        for cid, name, args in parts.calls:
            calls.append(ToolCallDelta(self.calls, cid or f"call_{self.calls}", name, args))
            self.calls += 1
        finish = finish_reason(candidate.get("finishReason"), self.calls > 0)
        delta = Delta(
            content="".join(parts.text),
            reasoning="".join(parts.thoughts),
            tool_calls=tuple(calls),
            finish_reason=finish,
            usage=usage,
            model=model,
        )
        # A `done` delta carries nothing else (a reader stops at it): the end gets a delta of its own.
        return [delta] if finish is None else [delta, Delta(done=True)]


# --- errors ---------------------------------------------------------------------------------------

_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def _error_from(err: object, raw: str, status: int | None) -> UpstreamError:
    """Google's error object {"code", "message", "status", "details"}: `status` (RESOURCE_EXHAUSTED,
    INVALID_ARGUMENT) is the code, ErrorInfo `reason`s (API_KEY_INVALID) go in `reasons`."""
    if not isinstance(err, Mapping):
        message, detail = plain_error_text(str(err))
        return UpstreamError(message=message, raw=raw, detail=detail, status=status)
    rpc_status = opt_str(err.get("status"))
    reasons: list[str] = []
    details = err.get("details")
    for item in details if isinstance(details, list) else ():
        if (
            isinstance(item, Mapping)
            and isinstance(item.get("reason"), str)
            and item.get("@type") in (_ERROR_INFO, None)
        ):
            reasons.append(text_of(item["reason"]))
    if status is None:
        numeric = err.get("code")
        status = numeric if isinstance(numeric, int) and not isinstance(numeric, bool) else None
    said = err.get("message")
    return UpstreamError(
        message=one_line(said if isinstance(said, str) else ""),
        type=rpc_status,
        code=rpc_status,
        raw=raw,
        reasons=tuple(reasons),
        status=status,
    )


def parse_error(status: int | None, body: bytes | str) -> UpstreamError:
    """An error response: {"error": {...}} (or that in a one-element list), or any other text."""
    raw = as_text(body)
    obj = json_or_none(raw)
    if isinstance(obj, list) and obj and isinstance(obj[0], Mapping):
        obj = obj[0]
    if isinstance(obj, Mapping) and obj.get("error") is not None:
        err = _error_from(obj["error"], raw, status)
        return err._replace(status=status)
    message, detail = plain_error_text(raw)
    return UpstreamError(message=message, raw=raw, detail=detail, status=status)


DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
API_KEY = Auth(header="x-goog-api-key", prefix="")  # never `?key=`: URLs end up in logs


class GeminiDialect:
    """`api = "gemini"`: POST {base_url}/models/{model}:generateContent or :streamGenerateContent?alt=sse,
    key in x-goog-api-key (never `?key=`: URLs end up in logs)."""

    name = "gemini"
    framing = "sse"

    def default_base_url(self, settings: Mapping[str, object]) -> str | None:
        return DEFAULT_BASE_URL

    def auth(self, provider: Provider) -> Auth:
        return API_KEY

    def build_request(self, provider: Provider, endpoint: Endpoint, request: ChatRequest, stream: bool) -> HttpRequest:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{provider.base_url}/{model_path(endpoint.upstream_model)}:{method}"
        hdrs = headers(provider.headers, {}, stream)
        return HttpRequest(url, hdrs, dumps(build_body(request)))

    def decode_answer(self, body: bytes) -> Answer:
        return decode_answer(body)

    def event_decoder(self) -> EventDecoder:
        return EventDecoder()

    def parse_error(self, status: int | None, body: bytes | str) -> UpstreamError:
        return parse_error(status, body)


DIALECT = GeminiDialect()
