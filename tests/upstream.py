"""A scriptable OpenAI-compatible chat-completions server on 127.0.0.1 for end-to-end tests.

    with Upstream() as up:
        up.script("groq", rate_limited(retry_after=1), ok("fine"))
        url = up.base_url("groq")            # http://127.0.0.1:PORT/groq/v1
        ...                                  # POST {url}/chat/completions
        assert up.count("groq") == 2

Each provider has a queue of behaviours: every request pops the next one and the last one repeats forever.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import select
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHAT_PATH = "/v1/chat/completions"
_ids = itertools.count(1)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the upstream received it."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or None when the body was not JSON
    provider: str = ""
    method: str = "POST"
    raw: bytes = b""

    @property
    def model(self) -> str | None:
        """The requested model, if any."""
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def stream(self) -> bool:
        """Whether the client asked for an SSE stream."""
        return isinstance(self.body, dict) and bool(self.body.get("stream"))


# --------------------------------------------------------------------------------------------- server


_ENCODING_HEADER = {"raw-deflate": "deflate"}


def _compressor(encoding: str) -> Any:
    """gzip, deflate (zlib-wrapped, as RFC 9110 says) or raw-deflate (what some servers send as deflate)."""
    wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}[encoding]
    return zlib.compressobj(6, zlib.DEFLATED, wbits)


class Exchange(BaseHTTPRequestHandler):
    """One connection; behaviours answer through its helpers (send_json, start_stream, event, ...)."""

    protocol_version = "HTTP/1.1"  # keep-alive for JSON answers, like real providers
    disable_nagle_algorithm = True  # headers and body go out in separate writes: avoid 40 ms delayed-ACK stalls
    server: _Server
    req: RecordedRequest
    encoding: str | None = None  # set by compressed(): the body is sent with this Content-Encoding
    _compressor: Any = None
    sent_body_bytes: int = 0  # body bytes written so far (after compression)

    # -- plumbing

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the test output is for the code under test."""

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            # The client went away or the server is stopping: both are expected in these tests.
            self.close_connection = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        provider = path[1 : -len(CHAT_PATH)] if path.endswith(CHAT_PATH) else ""
        if not provider:
            self.send_json(404, {"error": {"message": f"no route for POST {path}", "code": 404}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.req = RecordedRequest(path, headers, body, provider, "POST", raw)
        try:
            self.server.upstream._next_behaviour(self.req).serve(self)
        finally:
            self.server.upstream._count_sent(provider, self.sent_body_bytes)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        provider = path[1 : -len("/v1/models")] if path.endswith("/v1/models") else ""
        listed = self.server.upstream.listed(provider) if provider else None
        if listed is None:
            self.send_json(404, {"error": {"message": f"no route for GET {self.path}", "code": 404}})
            return
        self.send_json(
            200, {"object": "list", "data": [{"id": i, "object": "model", "owned_by": provider} for i in listed]}
        )

    # -- facts about the request

    @property
    def stream(self) -> bool:
        return self.req.stream

    @property
    def model(self) -> str:
        return self.req.model or "unknown-model"

    @property
    def provider(self) -> str:
        return self.req.provider

    # -- plain responses

    def send_head(self, status: int, content_type: str, length: int, headers: Mapping[str, str] | None = None) -> None:
        """Status line and headers with a Content-Length (the body may then fall short of it)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        if self.encoding:
            self.send_header("Content-Encoding", _ENCODING_HEADER.get(self.encoding, self.encoding))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def send_bytes(self, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        if self.encoding:
            compressor = _compressor(self.encoding)
            data = compressor.compress(data) + compressor.flush()
        self.send_head(status, content_type, len(data), headers)
        self.wfile.write(data)
        self.sent_body_bytes += len(data)

    def send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    # -- SSE (chunked transfer encoding, so an abrupt close is a visible protocol error to the client)

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        if self.encoding:
            self.send_header("Content-Encoding", _ENCODING_HEADER.get(self.encoding, self.encoding))
            self._compressor = _compressor(self.encoding)
        self.end_headers()
        self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        if self._compressor is not None:
            # Compressed and flushed per event, as real servers' gzip middleware does: it still streams.
            data = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.sent_body_bytes += len(data)

    def event(self, payload: Any) -> None:
        """One `data:` event; strings are sent verbatim, anything else as JSON."""
        data = payload if isinstance(payload, str) else json.dumps(payload)
        self._write_chunk(f"data: {data}\n\n".encode())

    def comment(self, text: str = "keep-alive") -> None:
        self._write_chunk(f": {text}\n\n".encode())

    def done(self) -> None:
        """`data: [DONE]` and the end of the chunked body."""
        self.event("[DONE]")
        if self._compressor is not None:
            tail = self._compressor.flush()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(tail), tail))
        self.wfile.write(b"0\r\n\r\n")

    # -- ways to stop talking

    def abort(self) -> None:
        """Close the socket (FIN) after this handler returns, whatever was promised."""
        self.close_connection = True

    def reset(self) -> None:
        """Close the socket with an RST after this handler returns."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.server.resets.add(self.connection)
        self.close_connection = True

    def pause(self, seconds: float) -> bool:
        """Wait up to `seconds`; False as soon as the client disconnects or the server stops."""
        deadline = time.monotonic() + seconds
        while not self.server.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if self._client_gone(min(remaining, 0.05)):
                self.server.upstream.note_disconnect(self.provider)
                return False
        return False

    def _client_gone(self, wait: float) -> bool:
        readable, _, _ = select.select([self.connection], [], [], wait)
        if not readable:
            return False
        try:
            peeked = self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True
        if peeked:  # the client sent more bytes: still there; don't spin on a readable socket
            time.sleep(wait)
        return not peeked

    # -- OpenAI-shaped payloads

    def _envelope(self, obj: str) -> dict[str, Any]:
        return {"id": f"chatcmpl-test{next(_ids)}", "object": obj, "created": int(time.time()), "model": self.model}

    def chunk(self, delta: Mapping[str, Any] | None = None, finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": dict(delta or {}), "finish_reason": finish_reason}
        return {**self._envelope("chat.completion.chunk"), "choices": [choice]}

    def completion(
        self, content: str | None, finish_reason: str = "stop", usage: Mapping[str, int] | None = None
    ) -> dict[str, Any]:
        message = {"role": "assistant", "content": content}
        body = {
            **self._envelope("chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        }
        if usage is not None:
            body["usage"] = dict(usage)
        return body

    def role_chunk(self) -> None:
        # OpenAI sends content "" with the role: an empty string is not a content token.
        self.event(self.chunk({"role": "assistant", "content": ""}))

    def content_chunks(self, pieces: Iterable[str], delay: float = 0.0) -> bool:
        """Send content deltas; False if the client went away during a delay."""
        for i, piece in enumerate(pieces):
            if i and delay and not self.pause(delay):
                return False
            self.event(self.chunk({"content": piece}))
        return True

    def finish_chunks(self, finish_reason: str, usage: Mapping[str, int] | None) -> None:
        """Finish chunk, usage-only chunk (choices: []), [DONE]."""
        self.event(self.chunk({}, finish_reason))
        if usage is not None:
            self.event({**self._envelope("chat.completion.chunk"), "choices": [], "usage": dict(usage)})
        self.done()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of concurrent clients (the gateway's 50 streams) must not be reset

    def __init__(self, upstream: Upstream, host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.stopping = threading.Event()
        self.resets: set[socket.socket] = set()
        self._live: dict[socket.socket, threading.Thread] = {}
        self._lock = threading.Lock()
        super().__init__((host, 0), Exchange)

    def track(self, conn: socket.socket) -> None:
        with self._lock:
            self._live[conn] = threading.current_thread()

    def untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._live.pop(conn, None)

    def live_connections(self) -> int:
        with self._lock:
            return len(self._live)

    def shutdown_request(self, request: Any) -> None:
        if request in self.resets:
            # Skip the polite shutdown(SHUT_WR): with SO_LINGER 0, close() then sends an RST, not a FIN.
            self.resets.discard(request)
            self.close_request(request)
        else:
            super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that went away is not an error worth a traceback
        super().handle_error(request, client_address)

    def close_everything(self, timeout: float) -> None:
        """Wake every handler (idle keep-alive reads included) and wait for them to end."""
        with self._lock:
            live = dict(self._live)
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in live.values():
            thread.join(max(0.0, deadline - time.monotonic()))


class Upstream:
    """OpenAI-compatible server on 127.0.0.1 whose answers are scripted per provider.

    `host` binds it elsewhere on this machine (e.g. its own non-loopback address, for the plain-http policy)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Behaviour]] = {}
        self._log: list[RecordedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sent: dict[str, int] = {}
        self._model_lists: dict[str, list[str]] = {}
        self._disconnects: list[tuple[str, float]] = []

    def note_disconnect(self, provider: str) -> None:
        """A client closed its connection while a behaviour waited (hedging's loser, a cancelled request)."""
        with self._lock:
            self._disconnects.append((provider, time.monotonic()))

    def disconnects(self, provider: str | None = None) -> list[float]:
        """When clients of `provider` (all when None) went away mid-answer, in time.monotonic() seconds."""
        with self._lock:
            return [t for p, t in self._disconnects if provider is None or p == provider]

    def _count_sent(self, provider: str, n: int) -> None:
        with self._lock:
            self._sent[provider] = self._sent.get(provider, 0) + n

    def sent_bytes(self, provider: str) -> int:
        """Response body bytes written to `provider`'s clients (as sent: compressed when compressed)."""
        with self._lock:
            return self._sent.get(provider, 0)

    def start(self) -> Upstream:
        self._server = _Server(self, self.host)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="upstream", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop promptly: slow behaviours see the stop event, open sockets are shut down."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.close_everything(timeout=2.0)
        server.server_close()
        if self._thread:
            self._thread.join(2.0)

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "Upstream is not running"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, provider: str) -> str:
        """The OpenAI base URL for `provider` (names with a slash work: `deepinfra/turbo`)."""
        return f"{self.url}/{provider}/v1"

    def script(self, provider: str, *behaviours: Behaviour) -> None:
        """Queue behaviours for `provider`; the last repeats forever; none = default ok()."""
        with self._lock:
            self._scripts[provider] = list(behaviours)

    def list_models(self, provider: str, ids: Iterable[str]) -> None:
        """Answer `GET {base_url}/models` for `provider` with these ids (OpenAI's list shape); unset: 404."""
        with self._lock:
            self._model_lists[provider] = list(ids)

    def listed(self, provider: str) -> list[str] | None:
        with self._lock:
            return self._model_lists.get(provider)

    def requests(self, provider: str | None = None) -> list[RecordedRequest]:
        """Chat requests received, in arrival order (all providers when `provider` is None)."""
        with self._lock:
            return [r for r in self._log if provider is None or r.provider == provider]

    def count(self, provider: str | None = None) -> int:
        return len(self.requests(provider))

    def call_order(self) -> list[str]:
        """Provider of every chat request, in arrival order: handy for asserting failover order."""
        return [r.provider for r in self.requests()]

    def live_connections(self) -> int:
        """Connections a handler is still serving (0 once clients and slow behaviours are gone)."""
        return self._server.live_connections() if self._server else 0

    def _next_behaviour(self, req: RecordedRequest) -> Behaviour:
        with self._lock:
            self._log.append(req)
            queue = self._scripts.get(req.provider)
            if not queue:
                return Ok()
            return queue.pop(0) if len(queue) > 1 else queue[0]


# ----------------------------------------------------------------------------------------- behaviours


class Behaviour:
    """How the upstream answers one request."""

    def serve(self, ex: Exchange) -> None:
        raise NotImplementedError


def _split_words(text: str) -> list[str]:
    # Word by word, spaces kept, so "".join(pieces) == text.
    return re.findall(r"\S+\s*|\s+", text) or [text]


@dataclass
class Ok(Behaviour):
    """A normal answer, streamed or not as the request asks."""

    text: str | None = None  # default: "Hello from <provider>"
    chunks: Sequence[str] | None = None  # stream pieces; default: word by word
    usage: Mapping[str, int] | bool | None = None  # None/True: computed; False: no usage at all
    chunk_delay: float = 0.0

    def pieces(self, ex: Exchange) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        return _split_words(self.text if self.text is not None else f"Hello from {ex.provider}")

    def usage_for(self, pieces: list[str]) -> Mapping[str, int] | None:
        if self.usage is False:
            return None
        if isinstance(self.usage, Mapping):
            return self.usage
        return {"prompt_tokens": 10, "completion_tokens": len(pieces), "total_tokens": 10 + len(pieces)}

    def serve(self, ex: Exchange) -> None:
        if not ex.stream:
            pieces = self.pieces(ex)
            ex.send_json(200, ex.completion("".join(pieces), "stop", self.usage_for(pieces)))
            return
        ex.start_stream()
        self.stream_body(ex)

    def stream_body(self, ex: Exchange) -> None:
        """Everything after the SSE headers: role, content, finish, usage, [DONE]."""
        pieces = self.pieces(ex)
        ex.role_chunk()
        if ex.content_chunks(pieces, self.chunk_delay):
            ex.finish_chunks("stop", self.usage_for(pieces))


@dataclass
class Status(Behaviour):
    """Any HTTP status with a JSON error body (also for stream requests, as real providers do)."""

    code: int
    # dict: sent as JSON; str: becomes {"error": {"message": str, "code": code}}; bytes: sent as is;
    # callable: called with the RecordedRequest and returns one of those.
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def serve(self, ex: Exchange) -> None:
        body = self.body(ex.req) if callable(self.body) else self.body
        if body is None:
            body = f"upstream returned HTTP {self.code}"
        if isinstance(body, str):
            body = {"error": {"message": body, "code": self.code}}
        if isinstance(body, bytes):
            ex.send_bytes(self.code, body, "text/plain", self.headers)
        else:
            ex.send_json(self.code, body, self.headers)


@dataclass
class BadJson(Behaviour):
    """200 whose body is not JSON (stream: `data: not-json`, then [DONE])."""

    def serve(self, ex: Exchange) -> None:
        if ex.stream:
            ex.start_stream()
            ex.event("not-json")
            ex.done()
        else:
            ex.send_bytes(200, b"<html>this is not json</html>", "application/json")


@dataclass
class EmptyChoices(Behaviour):
    """200 with `choices: []` (stream: one chunk without choices, then [DONE])."""

    def serve(self, ex: Exchange) -> None:
        if ex.stream:
            ex.start_stream()
            ex.event({**ex.chunk(), "choices": []})
            ex.done()
        else:
            ex.send_json(200, {"choices": []})


@dataclass
class DropBeforeContent(Behaviour):
    """200 headers (and the role chunk), then the socket closes; non-stream: headers, no body."""

    role_chunk: bool = True

    def serve(self, ex: Exchange) -> None:
        if ex.stream:
            ex.start_stream()
            if self.role_chunk:
                ex.role_chunk()
        else:
            ex.send_head(200, "application/json", 512)
        ex.abort()


@dataclass
class CutAfterContent(Behaviour):
    """Some content, then the socket closes; non-stream: half the promised body."""

    text: str = "partial "

    def serve(self, ex: Exchange) -> None:
        if ex.stream:
            ex.start_stream()
            ex.role_chunk()
            ex.content_chunks(_split_words(self.text))
        else:
            body = json.dumps(ex.completion(self.text + "and the rest")).encode()
            ex.send_head(200, "application/json", len(body))
            ex.wfile.write(body[: len(body) // 2])
        ex.abort()


@dataclass
class ErrorChunkAfterContent(Behaviour):
    """Content, then an OpenRouter-style mid-stream error chunk (finish_reason "error"), then [DONE]."""

    text: str = "partial "
    message: str = "Provider returned error"
    code: int = 502

    def serve(self, ex: Exchange) -> None:
        error = {"message": self.message, "code": self.code}
        if not ex.stream:
            # Non-stream form: a 200 whose only choice finished with "error" and an error object.
            ex.send_json(200, {**ex.completion(self.text, "error"), "error": error})
            return
        ex.start_stream()
        ex.role_chunk()
        ex.content_chunks(_split_words(self.text))
        ex.event({**ex.chunk({}, "error"), "error": error})
        ex.done()


@dataclass
class ContentFilter(Behaviour):
    """Finishes with finish_reason "content_filter" and no content."""

    def serve(self, ex: Exchange) -> None:
        usage = {"prompt_tokens": 10, "completion_tokens": 0, "total_tokens": 10}
        if not ex.stream:
            ex.send_json(200, ex.completion(None, "content_filter", usage))
            return
        ex.start_stream()
        ex.role_chunk()
        ex.finish_chunks("content_filter", usage)


@dataclass
class SlowFirstToken(Behaviour):
    """SSE headers, `: keep-alive` comments every `interval` s for `delay` s, then the answer."""

    delay: float
    answer: Ok = field(default_factory=Ok)
    interval: float = 0.1

    def serve(self, ex: Exchange) -> None:
        if not ex.stream:
            # JSON has no keep-alive: just answer late.
            if ex.pause(self.delay):
                self.answer.serve(ex)
            return
        ex.start_stream()
        deadline = time.monotonic() + self.delay
        while (remaining := deadline - time.monotonic()) > 0:
            ex.comment("keep-alive")
            if not ex.pause(min(self.interval, remaining)):
                return
        self.answer.stream_body(ex)


@dataclass
class StallBetweenChunks(Behaviour):
    """Content, silence for `stall` s (or until the client leaves), then the rest."""

    after_text: str = "first "
    stall: float = 5.0
    rest: str = "second"

    def serve(self, ex: Exchange) -> None:
        if not ex.stream:
            body = json.dumps(ex.completion(self.after_text + self.rest)).encode()
            ex.send_head(200, "application/json", len(body))
            ex.wfile.write(body[: len(body) // 2])
            if ex.pause(self.stall):
                ex.wfile.write(body[len(body) // 2 :])
            else:
                ex.abort()
            return
        ex.start_stream()
        ex.role_chunk()
        ex.content_chunks(_split_words(self.after_text))
        if not ex.pause(self.stall):
            ex.abort()
            return
        pieces = _split_words(self.after_text) + _split_words(self.rest)
        ex.content_chunks(_split_words(self.rest))
        ex.finish_chunks("stop", Ok().usage_for(pieces))


@dataclass
class Hang(Behaviour):
    """Read the request, never answer (until the client goes away or the server stops)."""

    def serve(self, ex: Exchange) -> None:
        ex.pause(float("inf"))
        ex.abort()


@dataclass
class ResetConnection(Behaviour):
    """Read the request, then reset the connection (RST) without a response."""

    def serve(self, ex: Exchange) -> None:
        ex.reset()


@dataclass
class Compressed(Behaviour):
    """Another behaviour whose body (answer or error, streamed or not) is sent with a Content-Encoding."""

    inner: Behaviour
    encoding: str = "gzip"  # gzip, deflate (zlib-wrapped) or raw-deflate (sent as `deflate`)

    def serve(self, ex: Exchange) -> None:
        ex.encoding = self.encoding
        self.inner.serve(ex)


@dataclass
class Reasoning(Behaviour):
    """Reasoning deltas (`reasoning` as OpenRouter/Groq/vLLM, or `reasoning_content` as DeepSeek) for
    `duration` s, one every `interval` s, then the answer; non-stream: both in one message."""

    text: str | None = "The answer is 4."  # None: reasoning only, no answer at all
    thought: str = "Let me think. "
    duration: float = 1.0
    interval: float = 0.1
    key: str = "reasoning"

    def serve(self, ex: Exchange) -> None:
        usage = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
        if not ex.stream:
            body = ex.completion(self.text, "stop", usage)
            body["choices"][0]["message"][self.key] = self.thought * 3
            ex.send_json(200, body)
            return
        ex.start_stream()
        ex.role_chunk()
        deadline = time.monotonic() + self.duration
        while True:
            # DeepSeek sends content null beside reasoning_content; OpenRouter an empty string.
            ex.event(ex.chunk({"content": None if self.key == "reasoning_content" else "", self.key: self.thought}))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if not ex.pause(min(self.interval, remaining)):
                return
        if self.text is not None:
            ex.content_chunks(_split_words(self.text))
        ex.finish_chunks("stop", usage)


@dataclass
class ToolCalls(Behaviour):
    """An answer made of tool calls (finish_reason tool_calls), optionally after some text; streamed as
    OpenAI does: id and name first, then the arguments in small fragments."""

    calls: Sequence[tuple[str, str]] = (("get_weather", '{"city": "Paris"}'),)
    text: str | None = None

    def serve(self, ex: Exchange) -> None:
        usage = {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22}
        if not ex.stream:
            calls = [
                {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": arguments}}
                for i, (name, arguments) in enumerate(self.calls)
            ]
            message = {"role": "assistant", "content": self.text, "tool_calls": calls}
            choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
            ex.send_json(200, {**ex._envelope("chat.completion"), "choices": [choice], "usage": usage})
            return
        ex.start_stream()
        ex.role_chunk()
        if self.text:
            ex.content_chunks(_split_words(self.text))
        for i, (name, arguments) in enumerate(self.calls):
            head = {"index": i, "id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": ""}}
            ex.event(ex.chunk({"content": None, "tool_calls": [head]}))
            for j in range(0, len(arguments), 5):
                ex.event(ex.chunk({"tool_calls": [{"index": i, "function": {"arguments": arguments[j : j + 5]}}]}))
        ex.finish_chunks("tool_calls", usage)


@dataclass
class ContentFilterAfterText(Behaviour):
    """Some text, then finish_reason content_filter (Azure's filter stopping an answer midway)."""

    text: str = "Once upon a time "

    def serve(self, ex: Exchange) -> None:
        usage = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
        if not ex.stream:
            ex.send_json(200, ex.completion(self.text, "content_filter", usage))
            return
        ex.start_stream()
        ex.role_chunk()
        ex.content_chunks(_split_words(self.text))
        ex.finish_chunks("content_filter", usage)


@dataclass
class Oversized(Behaviour):
    """A 200 answer of `size` bytes, generated piece by piece as the client reads (never held in memory);
    it stops when the client goes away. Non-stream: one JSON body, chunked; stream: content events."""

    size: int = 40 * 1024 * 1024
    piece: int = 64 * 1024

    def serve(self, ex: Exchange) -> None:
        filler = "x" * self.piece
        if ex.stream:
            ex.start_stream()
            ex.role_chunk()
            sent = 0
            while sent < self.size and not ex.server.stopping.is_set():
                ex.event(ex.chunk({"content": filler}))
                sent += self.piece
            ex.finish_chunks("stop", None)
            return
        ex.send_response(200)
        ex.send_header("Content-Type", "application/json")
        ex.send_header("Transfer-Encoding", "chunked")
        ex.send_header("Connection", "close")
        if ex.encoding:
            ex.send_header("Content-Encoding", _ENCODING_HEADER.get(ex.encoding, ex.encoding))
            ex._compressor = _compressor(ex.encoding)
        ex.end_headers()
        ex.close_connection = True
        ex._write_chunk(b'{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"')
        sent = 0
        while sent < self.size and not ex.server.stopping.is_set():
            ex._write_chunk(filler.encode())
            sent += self.piece
        ex._write_chunk(b'"},"finish_reason":"stop"}]}')
        if ex._compressor is not None:
            tail = ex._compressor.flush()
            ex.wfile.write(b"%x\r\n%s\r\n" % (len(tail), tail))
        ex.wfile.write(b"0\r\n\r\n")


@dataclass
class GroqUsage(Behaviour):
    """A stream whose usage comes only as Groq sends it: `x_groq.usage` in the last chunk, no usage chunk."""

    text: str = "Hello from groq"

    def serve(self, ex: Exchange) -> None:
        pieces = _split_words(self.text)
        usage = {"prompt_tokens": 11, "completion_tokens": len(pieces), "total_tokens": 11 + len(pieces)}
        if not ex.stream:
            ex.send_json(200, ex.completion(self.text, "stop", usage))
            return
        ex.start_stream()
        ex.role_chunk()
        ex.content_chunks(pieces)
        ex.event({**ex.chunk({}, "stop"), "x_groq": {"id": "req_01test", "usage": usage}})
        ex.done()


# -------------------------------------------------------------------- behaviour constructors (use these)


def compressed(inner: Behaviour, encoding: str = "gzip") -> Compressed:
    """`inner`, its body sent compressed: gzip, deflate or raw-deflate (a raw stream labelled deflate)."""
    return Compressed(inner, encoding)


def reasoning(
    text: str | None = "The answer is 4.", duration: float = 1.0, key: str = "reasoning", interval: float = 0.1
) -> Reasoning:
    """Reasoning deltas under `key` for `duration` s, then `text` (None: no answer at all)."""
    return Reasoning(text, duration=duration, key=key, interval=interval)


def tool_calls(*calls: tuple[str, str], text: str | None = None) -> ToolCalls:
    """An answer of tool calls, each (name, arguments JSON text); default one get_weather call."""
    return ToolCalls(calls or ToolCalls.calls, text)


def content_filter_after_text(text: str = "Once upon a time ") -> ContentFilterAfterText:
    """`text`, then finish_reason content_filter."""
    return ContentFilterAfterText(text)


def oversized(size: int = 40 * 1024 * 1024) -> Oversized:
    """A 200 answer of `size` bytes, generated lazily."""
    return Oversized(size)


def groq_usage(text: str = "Hello from groq") -> GroqUsage:
    """A stream with usage only in Groq's x_groq.usage."""
    return GroqUsage(text)


def ok(
    text: str | None = None,
    chunks: Sequence[str] | None = None,
    usage: Mapping[str, int] | bool | None = None,
    chunk_delay: float = 0.0,
) -> Ok:
    """A normal answer; `text` defaults to "Hello from <provider>", streamed word by word."""
    return Ok(text, chunks, usage, chunk_delay)


def status(code: int, body: Any = None, headers: Mapping[str, str] | None = None) -> Status:
    """Any HTTP status; `body` is a dict, an error message str, raw bytes or a callable(request)."""
    return Status(code, body, dict(headers or {}))


def rate_limited(retry_after: float | None = 2) -> Status:
    """429 with `Retry-After: <retry_after>` (None: no header)."""
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    error = {
        "message": "Rate limit reached for requests per minute. Please try again later.",
        "type": "requests",
        "code": "rate_limit_exceeded",
    }
    return status(429, {"error": error}, headers)


def server_error(code: int = 500, retry_after: float | None = None) -> Status:
    """5xx with a generic server error body (optionally Retry-After, e.g. for 503)."""
    messages = {500: "Internal server error", 502: "Bad gateway", 503: "Service unavailable"}
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    error = {"message": messages.get(code, f"Server error {code}"), "type": "server_error", "code": code}
    return status(code, {"error": error}, headers)


def unauthorized() -> Status:
    """401 invalid API key (OpenAI style)."""
    error = {
        "message": "Incorrect API key provided. You can find your API key in your account settings.",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
    }
    return status(401, {"error": error})


def payment_required() -> Status:
    """402 out of credits (OpenRouter style)."""
    return status(402, {"error": {"message": "Insufficient credits. Add more credits to continue.", "code": 402}})


def not_found() -> Status:
    """404 model not found; the message names the requested model."""

    def body(req: RecordedRequest) -> dict[str, Any]:
        message = f"The model `{req.model}` does not exist or you do not have access to it."
        return {"error": {"message": message, "type": "invalid_request_error", "code": "model_not_found"}}

    return status(404, body)


def billing_400() -> Status:
    """400 whose error is a billing/quota refusal (a provider failure, not a bad request)."""
    error = {
        "message": "Your credit balance is too low to access the API. "
        "Please go to Plans & Billing to upgrade or purchase credits.",
        "type": "invalid_request_error",
        "code": "insufficient_quota",
    }
    return status(400, {"error": error})


def quota_429() -> Status:
    """429 insufficient_quota, as OpenAI really sends it (no Retry-After: waiting will not help)."""
    error = {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "code": "insufficient_quota",
    }
    return status(429, {"error": error})


def context_length_400(limit: int = 8192, requested: int = 9000) -> Status:
    """400 context_length_exceeded (OpenAI style)."""
    error = {
        "message": f"This model's maximum context length is {limit} tokens. However, your messages resulted "
        f"in {requested} tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
    return status(400, {"error": error})


def moderation_403(reasons: Sequence[str] = ("violence",)) -> Status:
    """403 input flagged by moderation (OpenRouter style, with metadata.reasons)."""

    def body(req: RecordedRequest) -> dict[str, Any]:
        message = f"{req.model} requires moderation. Your input was flagged for {', '.join(reasons)}."
        metadata = {
            "reasons": list(reasons),
            "flagged_input": "...",
            "provider_name": req.provider,
            "model_slug": req.model,
        }
        return {"error": {"code": 403, "message": message, "metadata": metadata}}

    return status(403, body)


def bad_request_400(message: str = "Invalid value for 'temperature': must be between 0 and 2.") -> Status:
    """A plain 400 the request itself caused."""
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": "invalid_value"}
    return status(400, {"error": error})


def echo_auth_401() -> Status:
    """401 whose message echoes the received Authorization header verbatim (for key-leak tests)."""

    def body(req: RecordedRequest) -> dict[str, Any]:
        received = req.headers.get("authorization", "")
        message = f"Incorrect API key provided: {received}"
        return {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}}

    return status(401, body)


def bad_json() -> BadJson:
    """200 with a body that is not JSON (stream: `data: not-json`)."""
    return BadJson()


def empty_choices() -> EmptyChoices:
    """200 with no choices (stream: a chunk with `choices: []`, then [DONE])."""
    return EmptyChoices()


def drop_before_content(role_chunk: bool = True) -> DropBeforeContent:
    """SSE headers (and the role chunk), then an abrupt close."""
    return DropBeforeContent(role_chunk)


def cut_after_content(text: str = "partial ") -> CutAfterContent:
    """Stream `text`, then an abrupt close (no finish, no [DONE])."""
    return CutAfterContent(text)


def error_chunk_after_content(
    text: str = "partial ", message: str = "Provider returned error", code: int = 502
) -> ErrorChunkAfterContent:
    """Stream `text`, then an error chunk with finish_reason "error", then [DONE]."""
    return ErrorChunkAfterContent(text, message, code)


def content_filter() -> ContentFilter:
    """finish_reason "content_filter", no content."""
    return ContentFilter()


def slow_first_token(delay: float, text: str | None = None, interval: float = 0.1) -> SlowFirstToken:
    """Keep-alive comments for `delay` s before the answer (non-stream: answer after `delay`)."""
    return SlowFirstToken(delay, Ok(text), interval)


def stall_between_chunks(after_text: str = "first ", stall: float = 5.0, rest: str = "second") -> StallBetweenChunks:
    """Stream `after_text`, stay silent for `stall` s, then `rest`."""
    return StallBetweenChunks(after_text, stall, rest)


def hang() -> Hang:
    """Never answer."""
    return Hang()


def reset_connection() -> ResetConnection:
    """Reset the connection right after reading the request."""
    return ResetConnection()


# ------------------------------------------------------------------------------------ other helpers


_REFUSING: list[socket.socket] = []


def refused_base_url() -> str:
    """An http://127.0.0.1:PORT/v1 URL where nothing listens (connection refused).

    The port stays bound, never listening, for the rest of the test process: a port given back at once could
    be taken by any other server on the machine before orcli connects (and then it would answer)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    _REFUSING.append(s)
    return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def own_non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (from `ip -4 addr`, else the host name), or None.

    Tests that need "another host" bind to it: traffic to it never leaves this machine."""
    import ipaddress
    import subprocess

    candidates: list[str] = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        shown = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, timeout=5).stdout
        candidates += re.findall(r"\binet (\d+\.\d+\.\d+\.\d+)/", shown)
    with contextlib.suppress(OSError):
        candidates += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    for address in candidates:
        if ipaddress.ip_address(address).is_loopback:
            continue
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))  # it is ours only if we can listen on it
            return address
    return None


def key_env(provider: str) -> str:
    """The env var write_profile names for `provider`'s key: ORCLI_TEST_KEY_<NAME>."""
    return "ORCLI_TEST_KEY_" + re.sub(r"[^A-Z0-9]", "_", provider.upper())


def fake_key(provider: str) -> str:
    """A recognisable fake key for `provider` (grep for it in outputs to prove it never leaks)."""
    return f"sk-test-{re.sub(r'[^a-z0-9]', '-', provider.lower())}-SECRET-0123456789"


def fake_keys(providers: Iterable[str]) -> dict[str, str]:
    """Environment entries {key_env(p): fake_key(p)} to pass to the orcli subprocess."""
    return {key_env(p): fake_key(p) for p in providers}


DEFAULT_PARAMETERS = ["temperature", "top_p", "max_tokens", "stop", "seed"]
# Short so tests that hit a hang() fail over quickly; override with timeouts=.
DEFAULT_TIMEOUTS = {"connect": 2, "first_token": 3, "idle": 3, "total": 20}


def write_profile(
    path: str | Path,
    upstream: Upstream,
    providers: Sequence[str],
    models: Sequence[str] = ("test/model-a",),
    extra_routing: Mapping[str, Any] | None = None,
    *,
    endpoints: Sequence[Mapping[str, Any]] | None = None,
    no_key: Iterable[str] = (),
    provider_extra: Mapping[str, Mapping[str, Any]] | None = None,
    timeouts: Mapping[str, Any] | None = None,
    health: Mapping[str, Any] | None = None,
) -> Path:
    """Write a docs/profiles.md#the-format profile serving `models` from `providers` on `upstream`; returns the path.

    Without `endpoints`, every (model, provider) pair gets an endpoint whose price is the provider's
    1-based position in `providers` (so sort=price follows the list). `endpoints` replaces them verbatim.
    """
    no_key = set(no_key)
    provider_tables: dict[str, dict[str, Any]] = {}
    for name in providers:
        table: dict[str, Any] = {"base_url": upstream.base_url(name), "api": "openai"}
        if name not in no_key:
            table["api_key_env"] = key_env(name)
        table.update((provider_extra or {}).get(name, {}))
        provider_tables[name] = table
    if endpoints is None:
        endpoints = [
            {
                "model": model,
                "provider": name,
                "price": {"prompt": float(rank), "completion": float(rank)},
                "context_length": 8192,
                "max_completion_tokens": 4096,
                "parameters": list(DEFAULT_PARAMETERS),
            }
            for model in models
            for rank, name in enumerate(providers, start=1)
        ]
    doc = {
        "routing": {"models": list(models), **(extra_routing or {})},
        "timeouts": {**DEFAULT_TIMEOUTS, **(timeouts or {})},
        "health": dict(health or {}),
        "providers": provider_tables,
        "endpoint": [dict(e) for e in endpoints],
    }
    if not doc["health"]:
        del doc["health"]
    path = Path(path)
    path.write_text(dumps_toml(doc))
    return path


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # inf/nan spell the same in TOML
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML: {value!r}")


def dumps_toml(doc: Mapping[str, Any]) -> str:
    """Tiny TOML writer in the profile layout of docs/profiles.md: [tables], [parent.child] tables, [[arrays]], inline values."""
    lines: list[str] = []

    def table(header: str, body: Mapping[str, Any]) -> None:
        lines.append(header)
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in body.items())
        lines.append("")

    scalars = {k: v for k, v in doc.items() if not _is_table(v) and not _is_table_array(v)}
    lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars.items())
    if scalars:
        lines.append("")
    for key, value in doc.items():
        if _is_table_array(value):
            for item in value:
                table(f"[[{_toml_key(key)}]]", item)
        elif _is_table(value) and value and all(_is_table(v) for v in value.values()):
            for sub, body in value.items():  # e.g. [providers.groq]
                table(f"[{_toml_key(key)}.{_toml_key(sub)}]", body)
        elif _is_table(value):
            table(f"[{_toml_key(key)}]", value)
    return "\n".join(lines)


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(v, Mapping) for v in value)


__all__ = [
    "Behaviour",
    "Exchange",
    "RecordedRequest",
    "Upstream",
    "bad_json",
    "bad_request_400",
    "billing_400",
    "content_filter",
    "context_length_400",
    "cut_after_content",
    "drop_before_content",
    "dumps_toml",
    "echo_auth_401",
    "empty_choices",
    "error_chunk_after_content",
    "fake_key",
    "fake_keys",
    "hang",
    "key_env",
    "moderation_403",
    "not_found",
    "ok",
    "own_non_loopback_address",
    "payment_required",
    "quota_429",
    "rate_limited",
    "refused_base_url",
    "reset_connection",
    "server_error",
    "slow_first_token",
    "stall_between_chunks",
    "status",
    "unauthorized",
    "write_profile",
]
