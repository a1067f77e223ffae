"""A real `redis-server` for tests: its own instance on a free loopback port, persistence off, stopped after.

Tests that need it take the `redis_server` fixture (import it into the test module); when the Debian package
is not installed they skip, saying so (`tests/run.sh` installs it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 10.0


def redis_server_binary() -> str | None:
    """The redis-server executable, or None; Debian puts it in /usr/bin, some images in /usr/sbin."""
    for candidate in (shutil.which("redis-server"), "/usr/bin/redis-server", "/usr/sbin/redis-server"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server process: `url` for orcli, `client()` for the test to look inside (or break it)."""

    def __init__(
        self, workdir: Path, *args: str, password: str | None = None, tls: tuple[Path, Path] | None = None
    ) -> None:
        self.workdir = workdir
        self.args = args
        self.password = password
        self.tls = tls  # (certificate, key): the port speaks TLS only, and `url` is rediss://
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = redis_server_binary()
        if binary is None:
            pytest.skip("redis-server is not installed (Debian package `redis-server`; tests/run.sh installs it)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        argv = [binary, "--save", "", "--appendonly", "no", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.workdir), "--enable-debug-command", "local", *self.args]
        if self.password:
            argv += ["--requirepass", self.password]
        if self.tls:
            cert, key = self.tls
            argv += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert)]
            argv += ["--tls-key-file", str(key), "--tls-auth-clients", "no"]
        log = (self.workdir / "redis.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self.client().ping()
                return self
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    output = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"redis-server did not start on port {self.port}:\n{output}") from None
                time.sleep(0.05)

    def client(self, **kwargs: Any) -> Any:
        import redis

        kwargs.setdefault("password", self.password)
        if self.tls:
            kwargs.update(ssl=True, ssl_ca_certs=str(self.tls[0]))
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, **kwargs)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A started redis-server on 127.0.0.1 (persistence off), stopped after the test."""
    pytest.importorskip("redis", reason="the `redis` client is in the `test` extra: pip install -e '.[test]'")
    with RedisServer(tmp_path / "redis") as server:
        yield server
