"""A running `orcli serve` for end-to-end tests: the real process on a free loopback port, its JSON access log,
and the health store it wrote (read back to prove what was recorded)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from upstream import Upstream, fake_keys, write_profile

MODEL_A, MODEL_B = "test/model-a", "test/model-b"
PROVIDERS = ["alpha", "beta"]


class Gateway:
    """A running `orcli serve` on a free loopback port."""

    def __init__(self, proc: subprocess.Popen[str], url: str, state: Path) -> None:
        self.proc = proc
        self.url = url  # http://127.0.0.1:PORT/v1
        self.state = state

    @property
    def root(self) -> str:
        """The server's root URL (Anthropic's SDKs take it as their base URL)."""
        return self.url.removesuffix("/v1")

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.root.removeprefix("http://").rpartition(":")
        return host, int(port)

    def client(self, **kw: Any) -> Any:
        import openai

        kw.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.url, api_key=kw.pop("api_key", "unused"), **kw)

    def anthropic(self, **kw: Any) -> Any:
        import anthropic

        kw.setdefault("max_retries", 0)
        return anthropic.Anthropic(base_url=self.root, api_key=kw.pop("api_key", "unused"), **kw)

    def log_lines(self) -> list[dict[str, Any]]:
        """Stop the server and return its JSON access log."""
        self.stop()
        assert self.proc.stderr is not None
        return [json.loads(line) for line in self.proc.stderr.read().splitlines() if line.startswith("{")]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def outcomes(self) -> list[tuple[str, str, int, str | None]]:
        db = sqlite3.connect(self.state / "health.sqlite3")
        try:
            return db.execute("SELECT model, provider, ok, error_class FROM outcomes ORDER BY id").fetchall()
        finally:
            db.close()


@contextmanager
def serving(
    tmp_path: Path,
    up: Upstream,
    *extra: str,
    env_extra: dict[str, str] | None = None,
    models: tuple[str, ...] = (MODEL_A, MODEL_B),
    providers: Sequence[str] = PROVIDERS,
    provider_extra: Mapping[str, Mapping[str, Any]] | None = None,
    endpoints: Sequence[Mapping[str, Any]] | None = None,
) -> Iterator[Gateway]:
    """`orcli serve --json` over a profile of `providers` on `up`; stopped (killed if need be) on exit."""
    # No test here is about deadlines: generous ones, so a loaded machine does not fail over by itself.
    profile = write_profile(
        tmp_path / "profile.toml",
        up,
        providers,
        models=models,
        extra_routing={"sort": "price"},
        timeouts={"connect": 10, "first_token": 20, "idle": 20, "total": 60},
        provider_extra=provider_extra,
        endpoints=endpoints,
    )
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_") and not k.endswith("_API_KEY")}
    env.update(fake_keys(providers), ORCLI_STATE_DIR=str(state), XDG_CONFIG_HOME=str(tmp_path / "config"))
    env.update(env_extra or {})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orcli",
            "serve",
            "--port",
            "0",
            "--profile",
            str(profile),
            "--json",
            "--grace",
            "5",
            *extra,
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first, f"orcli serve did not start: {proc.stderr.read() if proc.stderr else ''}"
        doc = json.loads(first)
        yield Gateway(proc, doc["listening"], state)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
