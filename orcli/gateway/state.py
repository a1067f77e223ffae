"""What every request of one `orcli serve` process shares (docs/gateway.md): the profile (reloaded when it
changes), one HTTP client, one health store, the client watch, and the count of requests in flight."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from orcli.errors import OrcliError
from orcli.types import Profile

DEFAULT_MAX_BODY = 8 * 1024 * 1024  # a chat request with a long document, not an upload service


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
        from orcli.profile.resolve import fallback_note, load_profile_file, resolve_profile

        self._load = load_profile_file
        resolved = resolve_profile(spec, env)
        self.path = resolved.path
        self.warn = warn
        if resolved.looked_for:  # docs/profiles.md: the bundled example standing in for `default` is said, once
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
        from orcli.gateway.health_cache import CachedHealth
        from orcli.store.health_source import open_health

        store, _, notes = open_health(self.profiles.get(), env)
        self.store = None if store is None else CachedHealth(store)
        for note in notes:
            warn(note)
        self.active = 0
        self.idle = threading.Condition()
        from orcli.gateway.watch import CLIENT_LEFT, ClientWatch

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
