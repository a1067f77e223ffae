"""A real third-party OpenAI-compatible server for end-to-end tests: the LiteLLM proxy with mock deployments.

orcli did not write this server: its answers, its streams and its error bodies are LiteLLM's own. Each model
name below is a deployment whose `mock_response` makes LiteLLM answer without any upstream call
(litellm/main.py `mock_completion` and `_handle_mock_potential_exceptions`): a fixed text, or one of the
errors LiteLLM raises for the special strings. Nothing leaves 127.0.0.1: the cost map is the packaged one
(LITELLM_LOCAL_MODEL_COST_MAP), telemetry is off, there is no database, and the process runs in an empty
directory with an allow-listed environment (no .env, no provider keys).

Where the server comes from, first found wins: $ORCLI_TEST_LITELLM (a `litellm` executable), the
`.venv-proxy/bin/litellm` that tests/run.sh installs from pyproject's `real-proxy` extra, or a `litellm` importable
by this interpreter. None of them: the tests skip and say why. It is kept out of the test venv because
`litellm[proxy]` pins rich<14 and would change the versions the product's own tests run with.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

VERSION = "1.106.12"  # the pin in pyproject.toml's `real-proxy` extra
MASTER_KEY = "sk-orcli-proxy-" + "7f3a9c2e5b1d4a6f8e0c2b4d6f8a0c1e"  # orcli's key for the proxy (a canary too)
START_TIMEOUT = 90.0  # seconds; the proxy imports a large code base (~5 s idle, far more on a loaded CI box)
REPO = Path(__file__).resolve().parent.parent

# model name -> mock_response. Strings LiteLLM turns into exceptions are its own (litellm/main.py).
ANSWER = "Hello from the proxy"
ANSWER_B = "Hello from the fallback model"
MOCKS = {
    "good": ANSWER,
    "good-b": ANSWER_B,
    "ratelimited": "litellm.RateLimitError",  # 429 throttling_error
    "toolong": "litellm.ContextWindowExceededError",  # 400 ContextWindowExceededError
    "broken": "litellm.InternalServerError",  # 500
    "midstream": "Exception: mock_streaming_error",  # 529 before any content
}
# An azure/ deployment: LiteLLM maps "content_filter_policy" to ContentPolicyViolationError for Azure only.
AZURE_FILTERED = "azfiltered"


def _config() -> str:
    lines = ["model_list:"]
    for name, mock in MOCKS.items():
        lines += [
            f"  - model_name: {name}",
            "    litellm_params:",
            "      model: openai/gpt-4o-mini",
            "      api_key: sk-mock-not-used",
            f'      mock_response: "{mock}"',
        ]
    lines += [
        f"  - model_name: {AZURE_FILTERED}",
        "    litellm_params:",
        "      model: azure/gpt-4o",
        "      api_key: sk-mock-not-used",
        '      api_base: "http://127.0.0.1:9"',  # never called: the mock answers first
        '      api_version: "2024-10-21"',
        '      mock_response: "Exception: content_filter_policy"',
        "general_settings:",
        f"  master_key: {MASTER_KEY}",
        "litellm_settings:",
        "  num_retries: 0",  # one upstream error is one answer: orcli does the failover, not the proxy
        "  request_timeout: 30",
        "  telemetry: false",
    ]
    return "\n".join(lines) + "\n"


def find_server() -> tuple[list[str] | None, str]:
    """The command that runs `litellm`, or None and why not."""
    explicit = os.environ.get("ORCLI_TEST_LITELLM")
    if explicit:
        if not Path(explicit).is_file():
            return None, f"ORCLI_TEST_LITELLM={explicit} is not a file"
        return [explicit], explicit
    local = REPO / ".venv-proxy" / "bin" / "litellm"
    if local.is_file():
        return [str(local)], str(local)
    if importlib.util.find_spec("litellm") is not None:
        return [
            sys.executable,
            "-c",
            "import sys; from litellm import run_server; sys.exit(run_server())",
        ], sys.executable
    on_path = shutil.which("litellm")
    if on_path:
        return [on_path], on_path
    return None, (
        f"the LiteLLM proxy is not installed: tests/run.sh installs litellm[proxy]=={VERSION} into .venv-proxy "
        "(python3 -m venv .venv-proxy && .venv-proxy/bin/pip install '.[real-proxy]'), or set ORCLI_TEST_LITELLM"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dead_port() -> int:
    """A loopback port nobody listens on: connecting to it is refused at once."""
    return free_port()


@dataclass
class RealProxy:
    """A running LiteLLM proxy; `base_url(name)` makes it usable by tests/upstream.py::write_profile."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path
    started_in: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def base_url(self, provider: str) -> str:
        return self.url  # every provider name is this one server; the upstream model picks the behaviour

    def log_tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def _env(home: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT") if k in os.environ}
    env.update(
        HOME=str(home),
        TMPDIR=str(home),
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # the packaged cost map, no download at start-up
        LITELLM_MODE="PRODUCTION",  # no .env loading
        LITELLM_LOG="ERROR",
        LITELLM_TELEMETRY="False",
        DISABLE_SCHEMA_UPDATE="True",
        PYTHONUNBUFFERED="1",
    )
    return env


def start(workdir: Path) -> Iterator[RealProxy]:
    """Write the config into `workdir`, start the proxy on a free loopback port, wait until it answers, and
    stop it when the generator is closed. Raises (with the server's log) if it does not come up."""
    command, _where = find_server()
    assert command is not None
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "litellm.yaml"
    config.write_text(_config())
    log = workdir / "litellm.log"
    port = free_port()
    t0 = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
            cwd=workdir,
            env=_env(workdir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proxy = RealProxy(port, process, log, 0.0)
    try:
        _wait_ready(proxy, t0)
        proxy.started_in = time.monotonic() - t0
        yield proxy
    finally:
        _stop(process)


def _wait_ready(proxy: RealProxy, t0: float) -> None:
    url = f"http://127.0.0.1:{proxy.port}/health/liveliness"
    while True:
        if proxy.process.poll() is not None:
            raise RuntimeError(f"the LiteLLM proxy exited with {proxy.process.returncode}:\n{proxy.log_tail()}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() - t0 > START_TIMEOUT:
            raise RuntimeError(f"the LiteLLM proxy did not answer within {START_TIMEOUT:.0f} s:\n{proxy.log_tail()}")
        time.sleep(0.25)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the proxy's own process group (it was started in a new session), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
