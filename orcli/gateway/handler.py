"""One client connection of `orcli serve` (docs/gateway.md): bounded reads, browser safety, client auth, and
the routes — OpenAI's /v1/chat/completions and /v1/models, Anthropic's /v1/messages, /health.

Every check that can refuse a request runs before its body is read, cheapest first: Host and Origin (403),
the path (404), the token (401), the content type (415), the length (411, 413); then the body must arrive
within the read timeout (408).
"""

from __future__ import annotations

import contextlib
import hmac
import io
import itertools
import json
import os
import socket
import sys
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from orcli.gateway import anthropic_api, guard, openai_api
from orcli.gateway.body import BadRequest
from orcli.gateway.deadline import RequestDeadline
from orcli.gateway.relay import ClientGone

if TYPE_CHECKING:
    from orcli.gateway.state import Gateway

_request_ids = itertools.count(1)
_MAX_REQUEST_LINE = 65536

# POST routes: path → surface. The OpenAI SDK's base URL ends in /v1, Anthropic's is the server root.
POST_ROUTES = {
    "/v1/chat/completions": "openai",
    "/chat/completions": "openai",
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "count_tokens",
}


class Handler(BaseHTTPRequestHandler):
    """One client connection: requests read within the read timeout, checked, then routed."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall
    server_version = "orcli"
    sys_version = ""
    server: GatewayServer

    def log_message(self, format: str, *args: Any) -> None:
        """The access log is ours (one line per request), not http.server's."""

    def setup(self) -> None:
        super().setup()
        self.deadline = RequestDeadline(self.connection)
        buffered = self.rfile
        self.rfile = io.BufferedReader(self.deadline)
        buffered.close()
        self.cors: dict[str, str] = {}
        self.served = 0  # requests answered on this connection

    def handle_one_request(self) -> None:
        """http.server's own, with the whole request (line, headers, body) under one deadline."""
        self.cors = {}
        self.path, self.requestline, self.command = "", "", ""
        self.request_version = "HTTP/1.1"  # answers before the request line is in (408, 414) have headers too
        self.deadline.arm(self.server.gateway.config.read_timeout)
        try:
            self.raw_requestline = self.rfile.readline(_MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > _MAX_REQUEST_LINE:
                self.send_json(414, openai_api.error_json(414, "the request line is too long"), close=True)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self.send_json(405, openai_api.error_json(405, f"method {self.command} is not served"), close=True)
                return
            method()
            self.served += 1
        except TimeoutError:
            self._timed_out()

    def _timed_out(self) -> None:
        self.close_connection = True
        if self.deadline.received == 0 and self.served:
            return  # an idle keep-alive connection: closed without a word, as servers do
        seconds = self.server.gateway.config.read_timeout
        message = f"the request did not arrive within {seconds:g}s (--read-timeout)"
        with contextlib.suppress(OSError):
            self._refuse(408, message)

    def end_headers(self) -> None:
        for name, value in self.cors.items():
            self.send_header(name, value)
        super().end_headers()

    # -- checks -------------------------------------------------------------------------------------
    def _route_path(self) -> str:
        return self.path.split("?", 1)[0]

    def _error_doc(self, status: int, message: str, code: str | None = None) -> dict[str, Any]:
        """The error envelope of the API the path belongs to."""
        if self._route_path().startswith("/v1/messages"):
            return anthropic_api.error_json(status, message)
        return openai_api.error_json(status, message, code=code)

    def _refuse(self, status: int, message: str, code: str | None = None) -> None:
        """An error answer before any routing, logged like every answer (a refused page or a slow sender is
        worth seeing in the access log); the connection is closed, its body unread."""
        self.send_json(status, self._error_doc(status, message, code), close=True)
        entry = {"method": self.command, "path": self._route_path()[:200], "status": status, "error": message}
        self.server.gateway.log({**entry, "attempts": 0, "latency_s": 0.0})

    def _browser_safe(self) -> bool:
        """Host and Origin (docs/gateway.md, "Browser safety"); an allowed origin's answers carry CORS headers."""
        config = self.server.gateway.config
        origin = self.headers.get("origin")
        refusal = guard.check_host(self.headers.get("host"), config.host, config.auth_token is not None)
        refusal = refusal or guard.check_origin(origin, config.allow_origins)
        if refusal is not None:
            self._refuse(refusal.status, refusal.message)
            return False
        self.cors = guard.cors_headers(origin, config.allow_origins)
        return True

    def _authorised(self) -> bool:
        """With --auth-env, the token as `Authorization: Bearer` (OpenAI's SDKs) or `x-api-key` (Anthropic's)."""
        token = self.server.gateway.config.auth_token
        if token is None:
            return True
        scheme, _, value = self.headers.get("authorization", "").partition(" ")
        given = value.strip() if scheme.lower() == "bearer" else self.headers.get("x-api-key", "").strip()
        if given and hmac.compare_digest(given.encode(), token.encode()):
            return True
        self._refuse(401, "missing or wrong token: send it as `Authorization: Bearer` or `x-api-key` (--auth-env)")
        return False

    def _read_body(self) -> bytes | None:
        refusal = guard.check_json_content_type(self.headers.get("content-type"))
        if refusal is not None:
            self._refuse(refusal.status, refusal.message)
            return None
        length = self.headers.get("content-length")
        if self.headers.get("transfer-encoding") or length is None or not length.isdigit():
            self._refuse(411, "send the body with a Content-Length")
            return None
        limit = self.server.gateway.config.max_body
        if int(length) > limit:
            self._refuse(413, f"the request body is over {limit:,} bytes")
            return None
        body = self.rfile.read(int(length))  # bounded by the request's deadline
        if len(body) < int(length):
            self.close_connection = True
            return None  # the client closed before sending its whole body: no one to answer
        self.deadline.disarm()
        return body

    # -- routes -------------------------------------------------------------------------------------
    def do_OPTIONS(self) -> None:
        if not self._browser_safe():
            return
        origin = self.headers.get("origin")
        headers = {"Allow": guard.ALLOWED_METHODS}
        if origin is not None:  # allowed, or _browser_safe had refused it: a CORS preflight
            self.cors = {}
            headers.update(
                guard.preflight_headers(
                    origin, self.server.gateway.config.allow_origins, self.headers.get("access-control-request-headers")
                )
            )
        self.send_response(204)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if not self._browser_safe():
            return
        path = self._route_path()
        if path == "/health":
            self.send_json(200, {"status": "ok", "profile": self.server.gateway.profiles.get().name})
            return
        if not self._authorised():
            return
        if path in ("/v1/models", "/models"):
            self.send_json(200, {"object": "list", "data": self._model_objects()})
        elif path.startswith(("/v1/models/", "/models/")):
            wanted = unquote(path.split("/models/", 1)[1])  # ids contain `/`, sent raw or percent-encoded
            found = [m for m in self._model_objects() if m["id"] == wanted]
            if found:
                self.send_json(200, found[0])
            else:
                self._refuse(404, f"the model {wanted!r} does not exist in this profile", code="model_not_found")
        else:
            self._refuse(404, f"no such path: {path}")

    def _model_objects(self) -> list[dict[str, Any]]:
        endpoints = self.server.gateway.profiles.get().endpoints
        return [
            {
                "id": model,
                "object": "model",
                "created": 0,
                "owned_by": "orcli",
                "providers": sorted({e.provider for e in endpoints if e.model == model}),
            }
            for model in sorted({e.model for e in endpoints})
        ]

    def do_POST(self) -> None:
        if not self._browser_safe():
            return
        route = POST_ROUTES.get(self._route_path())
        if route is None:
            self._refuse(404, f"no such path: {self._route_path()}")
            return
        if not self._authorised():
            return
        body = self._read_body()
        if body is None:
            return
        if route == "count_tokens":
            self._count_tokens(body)
            return
        from orcli.gateway.relay import Relay
        from orcli.gateway.surfaces import MessagesSurface, OpenAISurface, Surface

        number = next(_request_ids)
        surface: Surface
        if route == "messages":
            surface = MessagesSurface(f"msg_orcli_{os.getpid()}_{number}")
        else:
            surface = OpenAISurface(f"chatcmpl-orcli-{os.getpid()}-{number}", int(time.time()))
        gw = self.server.gateway
        gw.enter()
        try:
            Relay(self, gw, surface).run(body)
        finally:
            gw.leave()

    def _count_tokens(self, body: bytes) -> None:
        try:
            self.send_json(200, anthropic_api.count_tokens(body))
        except BadRequest as exc:
            self.send_json(exc.status, anthropic_api.error_json(exc.status, exc.message))

    # -- plumbing -----------------------------------------------------------------------------------
    def send_json(
        self, status: int, doc: Mapping[str, Any], headers: Mapping[str, str] | None = None, close: bool = False
    ) -> None:
        """A JSON answer. A 5xx comes after serve's own failover: `x-should-retry: false` stops the SDKs from
        running the whole plan again (they retry 5xx twice by default)."""
        data = json.dumps(doc, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status >= 500:
            self.send_header("x-should-retry", "false")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)


class GatewayServer(ThreadingHTTPServer):
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
