"""`orcli serve`'s HTTP server (SPEC §14): the same planner, executor and health store behind an
OpenAI-compatible endpoint.

The standard library's ThreadingHTTPServer: a thread per connection streams with plain writes, notices a
client that went away on its next write (or a peek before it), serves dozens of concurrent streams on
two cores (the work is waiting on upstreams), and costs orcli's other commands nothing at start-up.
"""

from __future__ import annotations

import contextlib
import hmac
import itertools
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

from orcli.errors import OrcliError
from orcli.gateway import openai_api as gateway
from orcli.types import Profile

DEFAULT_MAX_BODY = 8 * 1024 * 1024  # a chat request with a long document, not an upload service
_request_ids = itertools.count(1)


class ServeConfig(NamedTuple):
    host: str = "127.0.0.1"
    port: int = 8765
    profile: str | None = None
    auth_token: str | None = None  # clients must send it as a Bearer token; never logged
    max_body: int = DEFAULT_MAX_BODY
    grace: float = 10.0  # seconds in-flight requests get on SIGTERM / Ctrl-C


class ClientGone(Exception):
    """The client closed its connection: stop the upstream request (recorded as cancelled)."""


class ProfileHolder:
    """The profile, loaded once and reloaded when its file changes or on SIGHUP; a broken edit keeps the old."""

    def __init__(self, spec: str | None, env: Mapping[str, str], warn: Callable[[str], None]) -> None:
        from orcli.profile.resolve import fallback_note, load_profile_file, resolve_profile

        self._load = load_profile_file
        resolved = resolve_profile(spec, env)
        self.path = resolved.path
        self.warn = warn
        if resolved.looked_for:  # SPEC §12: the bundled example standing in for `default` is said, once
            warn(fallback_note(resolved))
        self.lock = threading.Lock()
        self.reload_asked = False
        self.stamp = self._stamp()
        self.profile = self._load(self.path)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def get(self) -> Profile:
        stamp = self._stamp()
        if stamp == self.stamp and not self.reload_asked:
            return self.profile
        with self.lock:
            if stamp != self.stamp or self.reload_asked:
                self.reload_asked = False
                self.stamp = stamp
                try:
                    self.profile = self._load(self.path)
                    self.warn(f"profile reloaded from {self.path}")
                except OrcliError as exc:
                    self.warn(f"profile not reloaded, the old one stays in use: {exc.message}")
            return self.profile


class Gateway:
    """What every request shares: the profile, one HTTP client (a connection pool per provider), the log."""

    def __init__(
        self,
        config: ServeConfig,
        env: Mapping[str, str],
        log: Callable[[Mapping[str, Any]], None],
        warn: Callable[[str], None],
    ) -> None:
        from orcli.execution.transport import make_client

        self.config = config
        self.env = env
        self.log = log
        self.warn = warn
        self.profiles = ProfileHolder(config.profile, env, warn)
        self.client = make_client()
        # One store for the process (thread-safe): opening and closing SQLite per request would cost more
        # than the routing; every outcome is written before the answer goes out, so the next request sees it.
        from orcli.store.health_source import open_health

        self.store, _, notes = open_health(self.profiles.get(), env)
        for note in notes:
            warn(note)
        self.active = 0
        self.idle = threading.Condition()

    def enter(self) -> None:
        with self.idle:
            self.active += 1

    def leave(self) -> None:
        with self.idle:
            self.active -= 1
            self.idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self.idle:
            return self.idle.wait_for(lambda: self.active == 0, timeout)


class Handler(BaseHTTPRequestHandler):
    """One client connection: routes /v1/chat/completions, /v1/models and /health."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall
    server_version = "orcli"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """The access log is ours (one line per request), not http.server's."""

    # -- routing ------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            profile = self.server.gateway.profiles.get()
            self._json(200, {"status": "ok", "profile": profile.name})
            return
        if not self._authorised():
            return
        if path in ("/v1/models", "/models"):
            profile = self.server.gateway.profiles.get()
            models = sorted({e.model for e in profile.endpoints})
            data = [
                {
                    "id": m,
                    "object": "model",
                    "created": 0,
                    "owned_by": "orcli",
                    "providers": sorted({e.provider for e in profile.endpoints if e.model == m}),
                }
                for m in models
            ]
            self._json(200, {"object": "list", "data": data})
            return
        self._json(404, gateway.error_json(404, f"no such path: {path}"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._json(404, gateway.error_json(404, f"no such path: {path}"), close=True)
            return
        if not self._authorised():
            return
        body = self._read_body()
        if body is None:
            return
        gw = self.server.gateway
        gw.enter()
        try:
            Chat(self, gw).run(body)
        finally:
            gw.leave()

    # -- plumbing -----------------------------------------------------------------------------------
    def _authorised(self) -> bool:
        token = self.server.gateway.config.auth_token
        if token is None:
            return True
        given = self.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
            return True
        self._json(401, gateway.error_json(401, "missing or wrong bearer token (see --auth-env)"), close=True)
        return False

    def _read_body(self) -> bytes | None:
        length = self.headers.get("content-length")
        if self.headers.get("transfer-encoding") or length is None or not length.isdigit():
            self._json(411, gateway.error_json(411, "send the body with a Content-Length"), close=True)
            return None
        if int(length) > self.server.gateway.config.max_body:
            limit = self.server.gateway.config.max_body
            self._json(413, gateway.error_json(413, f"the request body is over {limit:,} bytes"), close=True)
            return None
        return self.rfile.read(int(length))

    def _json(
        self, status: int, doc: Mapping[str, Any], headers: Mapping[str, str] | None = None, close: bool = False
    ) -> None:
        data = json.dumps(doc, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def client_gone(self) -> bool:
        """Whether the client closed its side: readable with nothing to read (it sends no more requests while
        waiting for this answer)."""
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True


class Chat:
    """One POST /v1/chat/completions: route, execute, answer (streamed or whole), log."""

    def __init__(self, handler: Handler, gw: Gateway) -> None:
        self.h = handler
        self.gw = gw
        self.started = time.monotonic()
        self.request_id = f"chatcmpl-orcli-{os.getpid()}-{next(_request_ids)}"
        self.created = int(time.time())
        self.current: Any = None  # the attempt being tried
        self.attempt_count = 0
        self.stream_open = False
        self.log: dict[str, Any] = {"method": "POST", "path": "/v1/chat/completions"}

    def run(self, body: bytes) -> None:
        try:
            request = gateway.parse_chat_body(body)
        except gateway.BadRequest as exc:
            self._finish(exc.status, gateway.error_json(exc.status, exc.message))
            return
        self.log["model"] = request.given.overrides.get("models", ("?",))[0]  # type: ignore[index]
        profile = self.gw.profiles.get()
        from orcli.store.health_source import snapshot_from
        from orcli.types import HealthSnapshot

        store = self.gw.store
        snapshot = HealthSnapshot() if store is None else snapshot_from(store, profile)
        try:
            self._route_and_execute(profile, request, store, snapshot)
        finally:
            if store is not None:
                for warning in store.take_warnings():
                    self.gw.warn(warning)

    def _route_and_execute(self, profile: Profile, request: gateway.GatewayRequest, store: Any, snapshot: Any) -> None:
        from orcli.auth import problems_in
        from orcli.execution.budget import OverBudgetError, budget_message, current_spend
        from orcli.execution.executor import Event, EventKind, Failed
        from orcli.execution.run import Caller, check_route, no_route_error, run_route
        from orcli.routing.route import build_route
        from orcli.wire.base import ChatRequest

        env = self.gw.env
        spend = current_spend(store, profile)  # what the profile's [budget] is checked against (docs/usage.md)
        try:
            route = build_route(
                profile,
                request.given,
                request.prompt_text,
                env,
                health=snapshot,
                credentials=problems_in(env),
                spend=spend,
            )
        except OrcliError as exc:
            self._finish(400, gateway.error_json(400, exc.message))
            return
        if not route.plan.attempts:
            metadata = {"rejected": [r.as_json() for r in route.plan.rejected]}
            if budget_message(route.plan.rejected) is not None:  # 402 Payment Required, with ask's words
                headline = no_route_error(route.plan.rejected).message.split("\n", 1)[0]
                self._finish(402, gateway.error_json(402, headline, metadata))
                return
            self._finish(404, gateway.error_json(404, "no route: every candidate endpoint was rejected", metadata))
            return
        try:
            check_route(route)
        except OrcliError as exc:
            self._finish(500, gateway.error_json(500, exc.message))
            return

        def on_event(event: Event) -> None:
            if event.kind is EventKind.START:
                self.current = event.attempt
                self.attempt_count += 1

        options, tools, schema = gateway.split_options(route.options)
        chat = ChatRequest(request.messages, request.system, options, tools, schema)
        caller = Caller(sink=self._stream_delta if request.stream else None, on_event=on_event)
        try:
            result = run_route(route, env, store, caller, stream=request.stream, request=chat, client=self.gw.client)
        except OverBudgetError as over:  # the store refused to hold the expected cost: others spent it first
            rejected = over.extra.get("rejected", []) if over.extra else []
            message = over.message.split("\n", 1)[0]
            self._finish(402, gateway.error_json(402, message, {"rejected": rejected}))
            return
        except Failed as failure:
            self._failed(failure)
            return
        except ClientGone:
            self.log.update(status=499, error="client disconnected")
            self._write_log()
            self.h.close_connection = True
            return
        e = result.attempt.endpoint
        self.log.update(provider=e.provider, model=e.model, cost_usd=result.cost_usd)
        answer = result.answer
        usage = answer.usage.as_json() if answer.usage else None
        if request.stream:
            self._end_stream(answer.finish_reason, usage if request.include_usage else None)
            return
        doc = gateway.completion_json(
            request_id=self.request_id,
            created=self.created,
            model=e.model,
            provider=e.provider,
            content=answer.content,
            finish_reason=answer.finish_reason,
            usage=usage,
            tool_calls=[t.as_json() for t in answer.tool_calls],
            reasoning=answer.reasoning,
        )
        self._finish(200, doc)

    # -- streaming ----------------------------------------------------------------------------------
    def _chunk(self, delta: Mapping[str, Any] | None, finish: str | None = None, usage: Any = None) -> bytes:
        e = self.current.endpoint
        return gateway.sse(
            gateway.chunk_json(
                request_id=self.request_id,
                created=self.created,
                model=e.model,
                provider=e.provider,
                delta=delta,
                finish_reason=finish,
                usage=usage,
            )
        )

    def _stream_delta(self, delta: Any) -> None:
        """The executor's sink: the first delta opens the stream (so failover before it stays invisible and a
        failure before it is a plain HTTP error); content, reasoning and tool-call fragments become chunks."""
        if self.h.client_gone():
            raise ClientGone()
        body = gateway.delta_json(delta.content, delta.reasoning, delta.tool_calls)
        if not body:
            return
        if not self.stream_open:
            self._open_stream()
            body = {"role": "assistant", **body}
        self._write(self._chunk(body))

    def _open_stream(self) -> None:
        h = self.h
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Connection", "close")  # the stream's end is the connection's end
        for name, value in self._route_headers().items():
            h.send_header(name, value)
        h.end_headers()
        h.close_connection = True
        self.stream_open = True
        self.log["status"] = 200

    def _write(self, data: bytes) -> None:
        try:
            self.h.wfile.write(data)
            self.h.wfile.flush()
        except OSError:
            raise ClientGone() from None

    def _end_stream(self, finish: str | None, usage: Mapping[str, Any] | None) -> None:
        with contextlib.suppress(ClientGone):
            if not self.stream_open:  # an answer with no content (tool calls only): open it now
                self._open_stream()
            self._write(self._chunk({}, finish or "stop"))
            if usage is not None:
                self._write(self._chunk(None, usage=usage))
            self._write(gateway.sse("[DONE]"))
        self._write_log()

    # -- endings ------------------------------------------------------------------------------------
    def _route_headers(self) -> dict[str, str]:
        if self.current is None:
            return {"x-orcli-attempts": str(self.attempt_count)}
        return {"x-orcli-provider": self.current.endpoint.provider, "x-orcli-attempts": str(self.attempt_count)}

    def _failed(self, failure: Any) -> None:
        attempts = [a.as_json() for a in failure.attempts]
        last = failure.attempts[-1] if failure.attempts else None
        if self.stream_open and failure.reason == "filtered":
            # SPEC §6: the content filter stopped an answer partly sent: end it as OpenAI does, not as a break.
            self.log["error"] = "content filter"
            self._end_stream("content_filter", None)
            return
        if self.stream_open:  # content was sent: an error chunk the OpenAI SDK raises on, then the end
            doc = gateway.error_json(
                502, f"the stream broke after part of the answer: {failure.message}", {"attempts": attempts}
            )
            with contextlib.suppress(ClientGone):
                self._write(gateway.sse(doc))
            self.log.update(status=200, error="stream broke")
            self._write_log()
            return
        if failure.reason == "request" and last is not None:
            status = last.status if last.status and 400 <= last.status < 500 else 400
            self._finish(
                status,
                gateway.error_json(status, last.error or "the upstream rejected the request", {"attempts": attempts}),
            )
            return
        message = f"all {len(attempts)} attempt{'s' if len(attempts) != 1 else ''} failed"
        if last is not None:
            message += f"; last: {last.provider}: {last.error}"
        self._finish(502, gateway.error_json(502, message, {"attempts": attempts}))

    def _finish(self, status: int, doc: Mapping[str, Any]) -> None:
        self.log["status"] = status
        if status >= 400:
            self.log["error"] = doc.get("error", {}).get("message")
        elif self.current is not None:
            self.log["provider"] = self.current.endpoint.provider
        try:
            self.h._json(status, doc, headers=self._route_headers())
        except OSError:
            self.log["status"] = 499
        self._write_log()

    def _write_log(self) -> None:
        self.log.setdefault("status", 200)
        self.log["attempts"] = self.attempt_count
        self.log["latency_s"] = round(time.monotonic() - self.started, 4)
        self.gw.log(self.log)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # after the grace period, what is still in flight is cut when the process ends
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], gw: Gateway) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Handler)
        self.gateway = gw

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | ClientGone | TimeoutError):
            return  # a client that went away is not the server's error
        self.gateway.warn(f"internal error while serving a request: {type(exc).__name__}: {exc}")


def serve(
    config: ServeConfig,
    env: Mapping[str, str],
    log: Callable[[Mapping[str, Any]], None],
    warn: Callable[[str], None],
    ready: Callable[[str], None],
) -> None:
    """Run until SIGTERM or Ctrl-C, then give in-flight requests `config.grace` seconds to finish."""
    gw = Gateway(config, env, log, warn)
    server = _Server((config.host, config.port), gw)
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    def reload(signum: int, frame: object) -> None:
        gw.profiles.reload_asked = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with contextlib.suppress(AttributeError, ValueError):  # no SIGHUP on some platforms
        signal.signal(signal.SIGHUP, reload)
    host, port = server.server_address[:2]
    shown = host.decode() if isinstance(host, bytes) else str(host)
    ready(f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/v1")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        if not gw.wait_idle(config.grace):
            warn(f"{gw.active} request(s) still in flight after {config.grace:g}s; cutting them")
        server.server_close()
        gw.client.close()
        if gw.store is not None:
            gw.store.close()
