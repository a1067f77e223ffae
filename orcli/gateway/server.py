"""`orcli serve`'s HTTP server (docs/gateway.md): the same planner, executor and health store behind
OpenAI's and Anthropic's APIs; the process, its shared state and its shutdown (connections: handler.py).

The standard library's ThreadingHTTPServer: a thread per connection streams with plain writes, notices a
client that went away on its next write (or a peek before it), serves dozens of concurrent streams on
two cores (the work is waiting on upstreams), and costs orcli's other commands nothing at start-up.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import ThreadingHTTPServer
from typing import Any, NamedTuple

from orcli.errors import OrcliError
from orcli.gateway.handler import Handler
from orcli.gateway.relay import ClientGone
from orcli.types import Profile

DEFAULT_MAX_BODY = 8 * 1024 * 1024  # a chat request with a long document, not an upload service
CUT_WAIT = 2.0  # seconds cut requests get to tell their clients and record their outcome


class ServeConfig(NamedTuple):
    host: str = "127.0.0.1"
    port: int = 8765
    profile: str | None = None
    auth_token: str | None = None  # clients must send it (Bearer or x-api-key); never logged
    max_body: int = DEFAULT_MAX_BODY
    grace: float = 10.0  # seconds in-flight requests get on SIGTERM / Ctrl-C
    read_timeout: float = 10.0  # seconds a request's headers and body may take to arrive
    allow_origins: tuple[str, ...] = ()  # web origins allowed to call (CORS); none by default


class ProfileHolder:
    """The profile, loaded once and reloaded when its file changes or on SIGHUP; a broken edit keeps the old."""

    def __init__(self, spec: str | None, env: Mapping[str, str], warn: Callable[[str], None]) -> None:
        from orcli.profile.parse import fallback_note, load_profile_file, resolve_profile

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
        from orcli.gateway.relay import CLIENT_LEFT
        from orcli.gateway.watch import ClientWatch

        self.clients = ClientWatch(CLIENT_LEFT)
        self.watch = self.clients.watch

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
    """Run until SIGTERM or Ctrl-C, then give in-flight requests `config.grace` seconds to finish; cut the
    rest (their clients get an error event or a 503; their attempts are recorded `cancelled`)."""
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
            from orcli.gateway.relay import SHUTTING_DOWN

            warn(f"{gw.active} request(s) still in flight after {config.grace:g}s; cutting them")
            gw.clients.cancel_all(SHUTTING_DOWN)  # each ends its stream with an error event, recorded cancelled
            gw.wait_idle(CUT_WAIT)
        server.server_close()
        gw.client.close()
        if gw.store is not None:
            gw.store.close()
