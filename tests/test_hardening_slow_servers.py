"""Hardening, slow and partial servers for each network client orcli has, on loopback.

- Redis (the shared health store): health sharing never blocks an ask (docs/health.md). Every Redis operation
  has one deadline (the store budget, 200 ms by default) for connecting, the handshake and every byte of the
  reply, after which the connection is dropped and the process routes on the local store with one warning. A
  per-read timeout is not enough: a server trickling a valid reply one byte every 150 ms never trips it
  (issue 25: an ask waited over 40 s). Trickling, partial, mute, non-RESP and huge replies; `ask`, `serve`.
- Providers: a body or a stream trickled one byte at a time, or cut half-way and left open, ends at the
  executor's own deadlines (first token, total) and the next provider serves (docs/failures.md#deadlines).
  (Hangs, stalls between chunks and streams cut after content: tests/test_ask_e2e.py.)
- Model lists and token endpoints (profiles import --verify, cloud credentials) get their families here when
  their clients exist.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_harness import Cli, store_rows
from fake_redis import FakeRedis, Reply, garbage, huge, mute, partial, prompt, trickle
from upstream import Behaviour, Exchange, Upstream

from orcli.store.backend import open_store
from orcli.types import FailureClass, HealthSettings, Outcome

BUDGET_MS = 200

MISBEHAVIOURS: dict[str, tuple[Reply, str]] = {
    "trickles a valid reply one byte every 150 ms": (trickle(0.15), f"did not answer within {BUDGET_MS} ms"),
    "sends half a reply and stalls": (partial, f"did not answer within {BUDGET_MS} ms"),
    "reads and never answers": (mute, f"did not answer within {BUDGET_MS} ms"),
    "answers as an HTTP server": (garbage, "does not answer as Redis does"),
    "announces a 4 GiB reply": (huge, "does not answer as Redis does"),
}


def failure(at: float) -> Outcome:
    return Outcome(at, "m", "a", False, FailureClass.PROVIDER, 502, 0.05, None, None, "HTTP 502", None)


@pytest.mark.parametrize("server", list(MISBEHAVIOURS))
def test_a_misbehaving_redis_costs_one_budget_and_one_warning(server: str, tmp_path: Path) -> None:
    reply, says = MISBEHAVIOURS[server]
    with FakeRedis(reply) as fake:
        env = {"ORCLI_HEALTH_URL": fake.url, "ORCLI_STATE_DIR": str(tmp_path / "local")}
        store, warnings = open_store(HealthSettings(), env)
        assert store is not None and warnings == []
        endpoints = {("m", f"p{n}") for n in range(10)}  # a whole reply trickled would take 40 x 150 ms = 6 s
        started = time.monotonic()
        assert store.outcomes(time.time() - 10, endpoints) == []
        elapsed = time.monotonic() - started
        sent = fake.commands
        assert store.record(failure(time.time())) is True  # kept locally
        (warning,) = store.take_warnings()
        store.close()
    assert elapsed < 1.0, f"{server}: the read took {elapsed:.2f}s (budget 0.2 s, then the local store opens)"
    assert says in warning and "local health store" in warning, warning
    assert sent == len(endpoints) and fake.commands == sent, "one read was sent; the record did not wait on Redis"


def test_an_ask_with_a_trickling_redis_finishes_well_under_a_second_later_than_without(
    upstream: Upstream, tmp_path: Path
) -> None:
    cli = Cli(upstream, tmp_path / "m")
    cli.profile(["a", "b"])
    assert cli("ask", "--no-stdin", "warm-up").code == 0
    normal = _timed(lambda: cli("ask", "--no-stdin", "hi"))
    with FakeRedis(trickle(0.15)) as fake:
        cli.env["ORCLI_HEALTH_URL"] = fake.url
        started = time.monotonic()
        run = cli("ask", "--no-stdin", "hi")
        slow = time.monotonic() - started
    assert run.code == 0 and "Hello from a" in run.out, run
    assert run.err.count("warning:") == 1 and f"did not answer within {BUDGET_MS} ms" in run.err, run
    assert slow - normal < 0.8, f"ask took {slow:.2f}s with a trickling Redis, {normal:.2f}s without"
    assert len(store_rows(cli.state_dir)) == 3, "the outcome went to the local store"


def test_a_gateway_whose_redis_turns_slow_answers_the_next_request_within_the_budget(
    upstream: Upstream, tmp_path: Path
) -> None:
    import httpx

    gateway = Cli(upstream, tmp_path / "gateway")
    gateway.profile(["a", "b"])
    with FakeRedis(prompt) as fake:
        gateway.env["ORCLI_HEALTH_URL"] = fake.url
        proc = gateway.popen("serve", "--port", "0", "--json", "--grace", "2", text=True)
        try:
            assert proc.stdout is not None
            url = json.loads(proc.stdout.readline())["listening"]
            body = {"model": "test/model-a", "messages": [{"role": "user", "content": "hi"}]}
            assert httpx.post(f"{url}/chat/completions", json=body, timeout=30).status_code == 200
            before = fake.commands
            fake.reply = trickle(0.15)
            started = time.monotonic()
            reply = httpx.post(f"{url}/chat/completions", json=body, timeout=30)
            elapsed = time.monotonic() - started
            later = _timed(lambda: httpx.post(f"{url}/chat/completions", json=body, timeout=30))
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
    assert before >= 2, "the first request read and recorded through Redis"
    assert reply.status_code == 200 and elapsed < 1.0, f"{elapsed:.2f}s"
    assert later < 0.5, "after falling back, requests do not wait on Redis again"
    assert err.count(f"did not answer within {BUDGET_MS} ms") == 1, err


def _timed(call: Callable[[], object]) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


# -- providers -----------------------------------------------------------------------------------------


class TrickledBody(Behaviour):
    """A valid completion (JSON, or SSE when streamed) sent one byte every `delay` seconds."""

    def __init__(self, delay: float = 0.1) -> None:
        self.delay = delay

    def serve(self, ex: Exchange) -> None:
        if ex.stream:
            ex.start_stream()
            body = b'data: {"choices":[{"index":0,"delta":{"content":"late"},"finish_reason":null}]}\n\n'
            for byte in body:
                if not ex.pause(self.delay):
                    return
                ex._write_chunk(bytes([byte]))
            return
        body = json.dumps(ex.completion("late", "stop", None)).encode()
        ex.send_head(200, "application/json", len(body))
        for byte in body:
            if not ex.pause(self.delay):
                return
            ex.wfile.write(bytes([byte]))
            ex.wfile.flush()


class HalfThenSilence(Behaviour):
    """Headers and half of a valid completion, then nothing, the connection left open."""

    def serve(self, ex: Exchange) -> None:
        if ex.stream:
            ex.start_stream()
            ex._write_chunk(b'data: {"choices":[{"index":0,"delta":{"con')
        else:
            body = json.dumps(ex.completion("never finished", "stop", None)).encode()
            ex.send_head(200, "application/json", len(body))
            ex.wfile.write(body[: len(body) // 2])
            ex.wfile.flush()
        ex.pause(10)


@pytest.mark.parametrize("mode", [(), ("--no-stream",)], ids=["stream", "no-stream"])
@pytest.mark.parametrize("server", ["trickled", "half then silence"])
def test_a_slow_or_partial_provider_ends_at_the_deadline_and_the_next_one_serves(
    upstream: Upstream, tmp_path: Path, server: str, mode: tuple[str, ...]
) -> None:
    cli = Cli(upstream, tmp_path)
    cli.profile(["a", "b"], timeouts={"first_token": 0.6, "idle": 5, "total": 1.0})
    upstream.script("a", TrickledBody() if server == "trickled" else HalfThenSilence())
    run = cli("ask", "--json", *mode, "hi")
    assert run.code == 0 and run.json()["content"] == "Hello from b", run
    first = run.json()["attempts"][0]
    assert (first["provider"], first["error_class"]) == ("a", "provider"), first
    assert run.elapsed < 4.0, f"{run.elapsed:.1f}s: the deadline is 1 s"
