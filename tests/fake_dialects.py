"""Loopback fakes of the Anthropic, Gemini and Azure OpenAI APIs (and OpenAI's, via tests/upstream.py) on one
127.0.0.1 server, scripted per provider like `Upstream`, for end-to-end tests of the dialects of docs/dialects.md.

    with DialectUpstream() as up:
        up.script("anthropic", overloaded(), ok("fine"))   # 529 overloaded_error, then an answer
        url = up.base_url("anthropic", "anthropic")        # http://127.0.0.1:PORT/anthropic/v1
        ...                                                # POST {url}/messages
        assert up.count("anthropic") == 2

Routes (the provider is the first path segment(s), as in tests/upstream.py):
    POST /{provider}/v1/messages                                         Anthropic Messages
    POST /{provider}/v1beta/models/{model}:generateContent               Gemini
    POST /{provider}/v1beta/models/{model}:streamGenerateContent?alt=sse Gemini, streamed
    POST /{provider}/openai/deployments/{deployment}/chat/completions?api-version=V   Azure OpenAI
    POST /{provider}/v1/chat/completions                                 OpenAI (tests/upstream.py's Exchange)

Behaviours answer in the dialect of the request: `ok()` is a Messages answer on the Anthropic route and a
GenerateContentResponse on the Gemini one. The fakes refuse what the real services refuse (a missing key or
version header, Anthropic's unknown top-level fields or missing max_tokens, Gemini's unknown fields, an Azure
call without api-version), so a dialect that drifts from the real shape fails its tests.

Shapes are written from the providers' public references:
- Anthropic: https://docs.anthropic.com/en/api/messages, https://docs.anthropic.com/en/api/messages-streaming,
  https://docs.anthropic.com/en/docs/build-with-claude/streaming, https://docs.claude.com/en/api/errors
- Gemini: https://ai.google.dev/api/generate-content, https://ai.google.dev/gemini-api/docs/thinking,
  https://ai.google.dev/gemini-api/docs/function-calling, https://ai.google.dev/gemini-api/docs/generate-content/api-errors
- Azure OpenAI: https://learn.microsoft.com/azure/ai-services/openai/reference,
  https://learn.microsoft.com/azure/ai-services/openai/concepts/content-filter
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import upstream as up
from upstream import Behaviour, Exchange, RecordedRequest, Upstream, _Server, _split_words

_ids = itertools.count(1)

_ANTHROPIC = re.compile(r"^/(?P<provider>.+)/v1/messages$")
_GEMINI = re.compile(
    r"^/(?P<provider>.+)/v1beta/(?:models|tunedModels)/(?P<model>[^/:]+)"
    r":(?P<method>generateContent|streamGenerateContent)$"
)
_AZURE = re.compile(r"^/(?P<provider>.+)/openai/deployments/(?P<deployment>[^/]+)/chat/completions$")

# The Messages API's top-level request fields; anything else is a 400.
ANTHROPIC_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_k",
        "top_p",
        "tools",
        "tool_choice",
        "thinking",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
    }
)
GEMINI_FIELDS = frozenset(
    {
        "contents",
        "systemInstruction",
        "generationConfig",
        "tools",
        "toolConfig",
        "safetySettings",
        "cachedContent",
        "labels",
    }
)


@dataclass(frozen=True)
class DialectRequest(RecordedRequest):
    """A recorded request plus what its URL says: the dialect, the model or deployment, streaming, the query."""

    dialect: str = "openai"
    url_model: str | None = None
    url_stream: bool | None = None
    query: Mapping[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str | None:
        if self.url_model is not None:
            return self.url_model
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def stream(self) -> bool:
        if self.url_stream is not None:
            return self.url_stream
        return isinstance(self.body, dict) and bool(self.body.get("stream"))


class DialectExchange(Exchange):
    """Routes a request to its dialect, checks auth the way that service does, then runs the behaviour."""

    req: DialectRequest

    @property
    def dialect(self) -> str:
        return self.req.dialect

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        path = split.path  # matched as sent: an escaped `/` (%2F) stays inside its segment
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        routes = (("anthropic", _ANTHROPIC), ("gemini", _GEMINI), ("azure", _AZURE))
        route = next(((name, m) for name, pattern in routes if (m := pattern.match(path))), None)
        if route is None:
            super().do_POST()  # OpenAI chat completions, as tests/upstream.py serves them
            return
        dialect, m = route
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        groups = {k: unquote(v) if v else v for k, v in m.groupdict().items()}
        self.req = DialectRequest(
            path=split.path + (f"?{split.query}" if split.query else ""),
            headers=headers,
            body=body,
            provider=groups["provider"],
            raw=raw,
            dialect=dialect,
            url_model=groups.get("model") or groups.get("deployment"),
            url_stream=groups.get("method") == "streamGenerateContent" if dialect == "gemini" else None,
            query=query,
        )
        refusal = getattr(self, f"_refuse_{dialect}")()
        if refusal is not None:
            # Recorded and counted, but the script does not move on: the model never saw the request.
            upstream = self.server.upstream
            with upstream._lock:
                upstream._log.append(self.req)
            self.send_json(*refusal)
            return
        self.server.upstream._next_behaviour(self.req).serve(self)

    # -- what each service refuses before looking at the model

    def _refuse_anthropic(self) -> tuple[int, Any] | None:
        h, body = self.req.headers, self.req.body
        # The API takes the key in x-api-key (what orcli sends) or, from recent SDKs, as a Bearer token.
        if not h.get("x-api-key") and not h.get("authorization", "").startswith("Bearer "):
            return 401, anthropic_error("authentication_error", "x-api-key header is required")
        if not h.get("anthropic-version"):
            return 400, anthropic_error("invalid_request_error", "anthropic-version: header is required")
        if not isinstance(body, dict):
            return 400, anthropic_error("invalid_request_error", "The request body is not valid JSON.")
        extra = sorted(set(body) - ANTHROPIC_FIELDS)
        if extra:
            return 400, anthropic_error("invalid_request_error", f"{extra[0]}: Extra inputs are not permitted")
        for name in ("model", "messages", "max_tokens"):
            if name not in body:
                return 400, anthropic_error("invalid_request_error", f"{name}: Field required")
        if any(isinstance(m, dict) and m.get("role") == "system" for m in body["messages"]):
            return 400, anthropic_error(
                "invalid_request_error",
                'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, '
                'not "system" as an input message role.',
            )
        return None

    def _refuse_gemini(self) -> tuple[int, Any] | None:
        h, body = self.req.headers, self.req.body
        if not h.get("x-goog-api-key") and "key" not in self.req.query:
            return 403, google_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        if not isinstance(body, dict):
            return 400, google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        extra = sorted(set(body) - GEMINI_FIELDS)
        if extra:
            return 400, google_error(
                400, "INVALID_ARGUMENT", f'Invalid JSON payload received. Unknown name "{extra[0]}": Cannot find field.'
            )
        if self.req.url_stream and self.req.query.get("alt") != "sse":
            return 400, google_error(400, "INVALID_ARGUMENT", "this fake streams only with alt=sse")
        return None

    def _refuse_azure(self) -> tuple[int, Any] | None:
        if "api-version" not in self.req.query:
            return 404, {"error": {"code": "404", "message": "Resource not found"}}
        if not self.req.headers.get("api-key"):
            return 401, {
                "error": {
                    "code": "401",
                    "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                    "provide a valid key for an active subscription and use a correct regional API endpoint "
                    "for your resource.",
                }
            }
        if not isinstance(self.req.body, dict):
            return 400, {"error": {"code": "BadRequest", "message": "The request body is not valid JSON."}}
        return None

    # -- SSE in each dialect's framing

    def named_event(self, name: str, payload: Mapping[str, Any]) -> None:
        """Anthropic's framing: `event: <type>` then `data: <json>`."""
        self._write_chunk(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())

    def gemini_event(self, payload: Mapping[str, Any]) -> None:
        """Gemini's framing: one `data:` line per response object, frames ended with CRLF."""
        self._write_chunk(f"data: {json.dumps(payload)}\r\n\r\n".encode())

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")


class DialectUpstream(Upstream):
    """`Upstream` whose server also speaks Anthropic, Gemini and Azure OpenAI (see the module docstring)."""

    def start(self) -> DialectUpstream:
        self._server = _Server(self)
        self._server.RequestHandlerClass = DialectExchange  # type: ignore[assignment]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-dialects", daemon=True
        )
        self._thread.start()
        return self

    def __enter__(self) -> DialectUpstream:
        return self.start()

    def _next_behaviour(self, req: RecordedRequest) -> Behaviour:
        """As Upstream's, but an unscripted provider answers ok() in its own dialect."""
        with self._lock:
            self._log.append(req)
            queue = self._scripts.get(req.provider)
            if not queue:
                return Ok()
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def base_url(self, provider: str, api: str = "openai") -> str:  # type: ignore[override]
        """The base_url a profile gives a provider of `api` served here."""
        root = f"{self.url}/{provider}"
        return {"openai": f"{root}/v1", "anthropic": f"{root}/v1", "gemini": f"{root}/v1beta", "azure": root}[api]


# ------------------------------------------------------------------------------------------ payloads


def anthropic_error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": f"req_{next(_ids):024d}"}


def google_error(code: int, status: str, message: str, details: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


def bedrock_error(status: int, kind: str, message: str) -> tuple[int, Any, Mapping[str, str]]:
    """Bedrock's error: the status, `x-amzn-errortype: <Kind>:<namespace>`, and {"message"}."""
    namespace = "http://internal.amazon.com/coral/com.amazon.bedrock/"
    return status, {"message": message}, {"x-amzn-errortype": f"{kind}:{namespace}"}


def _error_info(reason: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }


def _usage(pieces: Sequence[str], usage: Mapping[str, int] | bool | None) -> tuple[int, int] | None:
    if usage is False:
        return None
    if isinstance(usage, Mapping):
        return usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return 10, len(pieces)


def _anthropic_message(
    ex: DialectExchange, blocks: list[dict], stop_reason: str, usage: tuple[int, int] | None
) -> dict:
    return {
        "id": f"msg_{next(_ids):024d}",
        "type": "message",
        "role": "assistant",
        "model": ex.req.model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0] if usage else 0, "output_tokens": usage[1] if usage else 0},
    }


def _gemini_response(parts: list[dict], finish: str | None, usage: tuple[int, int] | None, thoughts: int = 0) -> dict:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": "gemini-fake-001",
        "responseId": f"r{next(_ids)}",
    }
    if usage:
        meta = {
            "promptTokenCount": usage[0],
            "candidatesTokenCount": usage[1],
            "totalTokenCount": sum(usage) + thoughts,
        }
        if thoughts:
            meta["thoughtsTokenCount"] = thoughts
        body["usageMetadata"] = meta
    return body


_FILTER_OK = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}


def _azure_prompt_filter_chunk() -> dict:
    """The first chunk of an Azure stream: prompt filter results only, empty choices, empty id and model."""
    return {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _FILTER_OK}],
    }


def _azure_chunk(ex: DialectExchange, delta: Mapping[str, Any], finish: str | None = None) -> dict:
    chunk = ex.chunk(delta, finish)
    chunk["model"] = "gpt-4o-mini-2024-07-18"
    chunk["choices"][0]["content_filter_results"] = {} if finish else _FILTER_OK
    return chunk


# ---------------------------------------------------------------------------------------- behaviours


class DialectBehaviour(Behaviour):
    """A behaviour rendered in the dialect of the request it answers."""

    def serve(self, ex: Exchange) -> None:
        dialect = getattr(ex, "dialect", "openai") if isinstance(ex, DialectExchange) else "openai"
        if dialect == "openai" or not hasattr(ex, "req") or not isinstance(ex.req, DialectRequest):
            self.openai(ex)
        else:
            getattr(self, dialect)(ex)

    def openai(self, ex: Exchange) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no OpenAI form")

    def anthropic(self, ex: DialectExchange) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no Anthropic form")

    def gemini(self, ex: DialectExchange) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no Gemini form")

    def azure(self, ex: DialectExchange) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no Azure form")

    def bedrock(self, ex: DialectExchange) -> None:
        from fake_bedrock import render  # the Bedrock forms live beside the Bedrock fake (tests/fake_clouds.py)

        render(self, ex)


@dataclass
class Ok(DialectBehaviour):
    """A normal answer, streamed or not as the request asks; `reasoning` adds thinking before the text."""

    text: str | None = None  # default: "Hello from <provider>"
    chunks: Sequence[str] | None = None
    usage: Mapping[str, int] | bool | None = None
    reasoning: str | None = None
    chunk_delay: float = 0.0

    def pieces(self, ex: Exchange) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        return _split_words(self.text if self.text is not None else f"Hello from {ex.provider}")

    def _paused(self, ex: Exchange, i: int) -> bool:
        return bool(i and self.chunk_delay and not ex.pause(self.chunk_delay))

    def openai(self, ex: Exchange) -> None:
        up.Ok(self.text, self.chunks, self.usage, self.chunk_delay).serve(ex)

    def anthropic(self, ex: DialectExchange) -> None:
        pieces = self.pieces(ex)
        usage = _usage(pieces, self.usage)
        if not ex.stream:
            blocks = [{"type": "thinking", "thinking": self.reasoning, "signature": "c2ln"}] if self.reasoning else []
            blocks.append({"type": "text", "text": "".join(pieces)})
            ex.send_json(200, _anthropic_message(ex, blocks, "end_turn", usage))
            return
        ex.start_stream()
        start = _anthropic_message(ex, [], None, usage)  # type: ignore[arg-type]
        start["usage"]["output_tokens"] = 1
        ex.named_event("message_start", {"type": "message_start", "message": start})
        index = 0
        if self.reasoning:
            ex.named_event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
            )
            ex.named_event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": self.reasoning},
                },
            )
            ex.named_event(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "c2ln"}},
            )
            ex.named_event("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        ex.named_event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
        )
        ex.named_event("ping", {"type": "ping"})
        for i, piece in enumerate(pieces):
            if self._paused(ex, i):
                return
            ex.named_event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}},
            )
        ex.named_event("content_block_stop", {"type": "content_block_stop", "index": index})
        ex.named_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage[1] if usage else 0},
            },
        )
        ex.named_event("message_stop", {"type": "message_stop"})
        ex.end_stream()

    def gemini(self, ex: DialectExchange) -> None:
        pieces = self.pieces(ex)
        usage = _usage(pieces, self.usage)
        thoughts = 5 if self.reasoning else 0
        if not ex.stream:
            parts = [{"text": self.reasoning, "thought": True}] if self.reasoning else []
            parts.append({"text": "".join(pieces)})
            ex.send_json(200, _gemini_response(parts, "STOP", usage, thoughts))
            return
        ex.start_stream()
        if self.reasoning:
            ex.gemini_event(_gemini_response([{"text": self.reasoning, "thought": True}], None, None))
        for i, piece in enumerate(pieces):
            if self._paused(ex, i):
                return
            last = i == len(pieces) - 1
            ex.gemini_event(
                _gemini_response([{"text": piece}], "STOP" if last else None, usage if last else None, thoughts)
            )
        ex.end_stream()

    def azure(self, ex: DialectExchange) -> None:
        pieces = self.pieces(ex)
        usage = _usage(pieces, self.usage)
        usage_obj = (
            {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)} if usage else None
        )
        if not ex.stream:
            body = ex.completion("".join(pieces), "stop", usage_obj)
            body["model"] = "gpt-4o-mini-2024-07-18"
            body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": _FILTER_OK}]
            body["choices"][0]["content_filter_results"] = _FILTER_OK
            ex.send_json(200, body)
            return
        ex.start_stream()
        ex.event(_azure_prompt_filter_chunk())
        ex.event(_azure_chunk(ex, {"role": "assistant", "content": ""}))
        for i, piece in enumerate(pieces):
            if self._paused(ex, i):
                return
            ex.event(_azure_chunk(ex, {"content": piece}))
        ex.event(_azure_chunk(ex, {}, "stop"))
        if usage_obj:
            ex.event({**ex._envelope("chat.completion.chunk"), "choices": [], "usage": usage_obj})
        ex.done()


@dataclass
class ToolCallAnswer(DialectBehaviour):
    """The model calls one tool (`arguments` as a JSON object), streamed in fragments where the dialect does."""

    name: str = "get_weather"
    arguments: Mapping[str, Any] = field(default_factory=lambda: {"city": "Paris"})

    def anthropic(self, ex: DialectExchange) -> None:
        call_id = f"toolu_{next(_ids):020d}"
        if not ex.stream:
            block = {"type": "tool_use", "id": call_id, "name": self.name, "input": dict(self.arguments)}
            ex.send_json(200, _anthropic_message(ex, [block], "tool_use", (10, 5)))
            return
        ex.start_stream()
        ex.named_event("message_start", {"type": "message_start", "message": _anthropic_message(ex, [], None, (10, 1))})  # type: ignore[arg-type]
        ex.named_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": call_id, "name": self.name, "input": {}},
            },
        )
        text = json.dumps(dict(self.arguments))
        for piece in ("", text[: len(text) // 2], text[len(text) // 2 :]):
            ex.named_event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                },
            )
        ex.named_event("content_block_stop", {"type": "content_block_stop", "index": 0})
        ex.named_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 5},
            },
        )
        ex.named_event("message_stop", {"type": "message_stop"})
        ex.end_stream()

    def gemini(self, ex: DialectExchange) -> None:
        parts = [{"functionCall": {"name": self.name, "args": dict(self.arguments)}}]
        if not ex.stream:
            ex.send_json(200, _gemini_response(parts, "STOP", (10, 5)))
            return
        ex.start_stream()
        ex.gemini_event(_gemini_response(parts, "STOP", (10, 5)))
        ex.end_stream()

    def azure(self, ex: DialectExchange) -> None:
        call = {
            "id": f"call_{next(_ids)}",
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(dict(self.arguments))},
        }
        if not ex.stream:
            body = ex.completion(None, "tool_calls", {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
            body["choices"][0]["message"]["tool_calls"] = [call]
            ex.send_json(200, body)
            return
        ex.start_stream()
        ex.event(_azure_prompt_filter_chunk())
        ex.event(_azure_chunk(ex, {"role": "assistant", "content": None, "tool_calls": [{"index": 0, **call}]}))
        ex.event(_azure_chunk(ex, {}, "tool_calls"))
        ex.done()


@dataclass
class HttpError(DialectBehaviour):
    """An HTTP error in the request's dialect: `bodies` maps a dialect to (status, payload, headers)."""

    bodies: Mapping[str, tuple[int, Any, Mapping[str, str]]]

    def _send(self, ex: Exchange, dialect: str) -> None:
        if dialect not in self.bodies:
            raise NotImplementedError(f"no {dialect} form of this error")
        status, payload, headers = self.bodies[dialect]
        ex.send_json(status, payload, headers)

    def openai(self, ex: Exchange) -> None:
        self._send(ex, "openai")

    def anthropic(self, ex: DialectExchange) -> None:
        self._send(ex, "anthropic")

    def gemini(self, ex: DialectExchange) -> None:
        self._send(ex, "gemini")

    def azure(self, ex: DialectExchange) -> None:
        self._send(ex, "azure")


@dataclass
class RefusedPrompt(DialectBehaviour):
    """The service's moderation refuses the prompt: Gemini's promptFeedback.blockReason (200, no candidates),
    Azure's content_filter 400, Anthropic's `refusal` stop reason before any text."""

    reason: str = "SAFETY"

    def anthropic(self, ex: DialectExchange) -> None:
        if not ex.stream:
            ex.send_json(200, _anthropic_message(ex, [], "refusal", (10, 0)))
            return
        ex.start_stream()
        ex.named_event("message_start", {"type": "message_start", "message": _anthropic_message(ex, [], None, (10, 0))})  # type: ignore[arg-type]
        ex.named_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "refusal", "stop_sequence": None},
                "usage": {"output_tokens": 0},
            },
        )
        ex.named_event("message_stop", {"type": "message_stop"})
        ex.end_stream()

    def gemini(self, ex: DialectExchange) -> None:
        body = {
            "promptFeedback": {"blockReason": self.reason},
            "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10},
        }
        if not ex.stream:
            ex.send_json(200, body)
            return
        ex.start_stream()
        ex.gemini_event(body)
        ex.end_stream()

    def azure(self, ex: DialectExchange) -> None:
        ex.send_json(400, AZURE_CONTENT_FILTER_400)


@dataclass
class RefusedAnswer(DialectBehaviour):
    """The answer is stopped by the service's filter after `text`: finishReason SAFETY (Gemini),
    finish_reason content_filter (Azure)."""

    text: str = "Sure, here is "

    def gemini(self, ex: DialectExchange) -> None:
        if not ex.stream:
            ex.send_json(200, _gemini_response([{"text": self.text}], "SAFETY", (10, 3)))
            return
        ex.start_stream()
        ex.gemini_event(_gemini_response([{"text": self.text}], None, None))
        ex.gemini_event(_gemini_response([], "SAFETY", (10, 3)))
        ex.end_stream()

    def azure(self, ex: DialectExchange) -> None:
        if not ex.stream:
            ex.send_json(200, ex.completion(self.text, "content_filter"))
            return
        ex.start_stream()
        ex.event(_azure_prompt_filter_chunk())
        ex.event(_azure_chunk(ex, {"content": self.text}))
        ex.event(_azure_chunk(ex, {}, "content_filter"))
        ex.done()


@dataclass
class ErrorAfterContent(DialectBehaviour):
    """A stream that fails after some text: Anthropic's mid-stream `error` event (overloaded_error), Gemini's
    error object as an SSE event. A non-streamed request gets the same error as an HTTP status."""

    text: str = "partial "

    def anthropic(self, ex: DialectExchange) -> None:
        if not ex.stream:
            ex.send_json(529, anthropic_error("overloaded_error", "Overloaded"))
            return
        ex.start_stream()
        ex.named_event("message_start", {"type": "message_start", "message": _anthropic_message(ex, [], None, (10, 1))})  # type: ignore[arg-type]
        ex.named_event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
        ex.named_event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": self.text}},
        )
        ex.named_event("error", anthropic_error("overloaded_error", "Overloaded"))
        ex.end_stream()

    def gemini(self, ex: DialectExchange) -> None:
        error = google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
        if not ex.stream:
            ex.send_json(503, error)
            return
        ex.start_stream()
        ex.gemini_event(_gemini_response([{"text": self.text}], None, None))
        ex.gemini_event(error)
        ex.end_stream()


AZURE_CONTENT_FILTER_400 = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
        "Please modify your prompt and retry. To learn more about our content filtering policies please read our "
        "documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": False, "severity": "safe"},
                "jailbreak": {"filtered": False, "detected": False},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": True, "severity": "high"},
            },
        },
    }
}


# ------------------------------------------------------------------------------------- constructors


def ok(
    text: str | None = None,
    chunks: Sequence[str] | None = None,
    usage: Mapping[str, int] | bool | None = None,
    reasoning: str | None = None,
    chunk_delay: float = 0.0,
) -> Ok:
    """A normal answer in the request's dialect (`usage` as prompt_tokens/completion_tokens)."""
    return Ok(text, chunks, usage, reasoning, chunk_delay)


def tool_call(name: str = "get_weather", arguments: Mapping[str, Any] | None = None) -> ToolCallAnswer:
    return ToolCallAnswer(name, dict(arguments or {"city": "Paris"}))


def rate_limited(retry_after: float = 2) -> HttpError:
    """429 as each service sends it: Anthropic rate_limit_error + retry-after; Gemini RESOURCE_EXHAUSTED with a
    RetryInfo detail (no header); Azure's 429 with retry-after and retry-after-ms."""
    seconds = f"{retry_after:g}"
    return HttpError(
        {
            "anthropic": (
                429,
                anthropic_error(
                    "rate_limit_error",
                    "This request would exceed the rate limit for your organization of 50,000 input tokens per minute.",
                ),
                {"retry-after": seconds, "anthropic-ratelimit-requests-remaining": "0"},
            ),
            "gemini": (
                429,
                google_error(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "Resource has been exhausted (e.g. check quota).",
                    [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{int(retry_after)}s"}],
                ),
                {},
            ),
            "bedrock": bedrock_error(429, "ThrottlingException", "Too many requests, please wait before trying again."),
            "azure": (
                429,
                {
                    "error": {
                        "code": "429",
                        "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
                        f"2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
                        f"Please retry after {seconds} seconds.",
                    }
                },
                {"retry-after": seconds, "retry-after-ms": str(int(retry_after * 1000))},
            ),
        }
    )


def overloaded() -> HttpError:
    """Anthropic's 529 overloaded_error; Gemini's 503 UNAVAILABLE; Azure's 503."""
    return HttpError(
        {
            "anthropic": (529, anthropic_error("overloaded_error", "Overloaded"), {}),
            "gemini": (503, google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."), {}),
            "bedrock": bedrock_error(503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
            "azure": (
                503,
                {
                    "error": {
                        "code": "ServiceUnavailable",
                        "message": "The service is temporarily unable to process your request.",
                    }
                },
                {},
            ),
        }
    )


def server_error() -> HttpError:
    """500: Anthropic api_error, Gemini INTERNAL, Azure InternalServerError."""
    return HttpError(
        {
            "anthropic": (500, anthropic_error("api_error", "Internal server error"), {}),
            "gemini": (500, google_error(500, "INTERNAL", "An internal error has occurred."), {}),
            "bedrock": bedrock_error(500, "InternalServerException", "The server encountered an internal error."),
            "azure": (
                500,
                {"error": {"code": "InternalServerError", "message": "Backend returned unexpected response."}},
                {},
            ),
        }
    )


def prompt_too_long() -> HttpError:
    """The prompt exceeds the context window, in each service's words."""
    return HttpError(
        {
            "anthropic": (
                400,
                anthropic_error("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
                {},
            ),
            "gemini": (
                400,
                google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
                ),
                {},
            ),
            "bedrock": bedrock_error(400, "ValidationException", "Input is too long for requested model."),
            "azure": (
                400,
                {
                    "error": {
                        "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
                        "type": "invalid_request_error",
                        "param": "messages",
                        "code": "context_length_exceeded",
                    }
                },
                {},
            ),
        }
    )


def bad_key() -> HttpError:
    """An invalid key: Anthropic 401 authentication_error; Gemini 400 INVALID_ARGUMENT, reason API_KEY_INVALID."""
    return HttpError(
        {
            "anthropic": (401, anthropic_error("authentication_error", "invalid x-api-key"), {}),
            "gemini": (
                400,
                google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "API key not valid. Please pass a valid API key.",
                    [_error_info("API_KEY_INVALID")],
                ),
                {},
            ),
            "bedrock": bedrock_error(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            ),
            "azure": (
                401,
                {
                    "error": {
                        "code": "401",
                        "message": "Access denied due to invalid subscription key or wrong API endpoint.",
                    }
                },
                {},
            ),
        }
    )


def refused_prompt(reason: str = "SAFETY") -> RefusedPrompt:
    return RefusedPrompt(reason)


def refused_answer(text: str = "Sure, here is ") -> RefusedAnswer:
    return RefusedAnswer(text)


def error_after_content(text: str = "partial ") -> ErrorAfterContent:
    return ErrorAfterContent(text)


def content_filter_400() -> HttpError:
    """Azure's filtered prompt: 400, code content_filter, innererror ResponsibleAIPolicyViolation."""
    return HttpError({"azure": (400, AZURE_CONTENT_FILTER_400, {})})


__all__ = [
    "AZURE_CONTENT_FILTER_400",
    "DialectExchange",
    "DialectRequest",
    "DialectUpstream",
    "anthropic_error",
    "bad_key",
    "content_filter_400",
    "error_after_content",
    "google_error",
    "ok",
    "overloaded",
    "prompt_too_long",
    "rate_limited",
    "refused_answer",
    "refused_prompt",
    "server_error",
    "tool_call",
]
