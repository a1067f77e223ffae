"""Cancellation through `orcli serve` (docs/gateway.md, "Cancellation"): a client that leaves at any stage has
its upstream request cut within about a second and recorded `cancelled`; SIGTERM's grace running out ends
cut streams with an error event, recorded `cancelled`; `orcli health --json` shows cancelled attempts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_harness import MODEL_A, Gateway, serving
from upstream import Upstream, ok, slow_first_token


@pytest.fixture
def up() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


def post(gw: Gateway, body: dict, path: str = "/v1/chat/completions") -> socket.socket:
    data = json.dumps(body).encode()
    sock = socket.create_connection(gw.address, timeout=15)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    return sock


def wait_until_upstream_idle(up: Upstream, seconds: float) -> float:
    """Seconds until the upstream has no live connection (the gateway cut it), or `seconds` if it never does."""
    started = time.monotonic()
    while up.live_connections() and time.monotonic() - started < seconds:
        time.sleep(0.02)
    return time.monotonic() - started


def wait_for_request(up: Upstream) -> None:
    deadline = time.monotonic() + 10
    while up.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert up.count() == 1


CHAT = {"model": MODEL_A, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (CHAT, "/v1/chat/completions"),  # a whole answer that takes 12 s
        ({**CHAT, "stream": True}, "/v1/chat/completions"),  # a stream still waiting for its first token
        ({**CHAT, "max_tokens": 10}, "/v1/messages"),  # the same through the Messages API
    ],
    ids=["whole", "stream-before-first-token", "messages"],
)
def test_a_client_that_leaves_before_its_answer_cancels_the_upstream_within_a_second(
    tmp_path: Path, up: Upstream, body: dict, path: str
) -> None:
    up.script("alpha", slow_first_token(12, "late"))
    with serving(tmp_path, up) as gw:
        sock = post(gw, body, path)
        wait_for_request(up)
        time.sleep(0.3)
        sock.close()  # the client gives up
        took = wait_until_upstream_idle(up, 5)
        log = gw.log_lines()
        outcomes = gw.outcomes()
    assert took < 1.5, f"the upstream request went on {took:.1f}s after the client left"
    assert [e["status"] for e in log if e.get("path")] == [499]
    assert outcomes == [(MODEL_A, "alpha", 0, "cancelled")]
    assert up.count("beta") == 0  # a cancelled run does not fail over


def test_sigterm_grace_running_out_ends_cut_streams_with_an_error_event_recorded_cancelled(
    tmp_path: Path, up: Upstream
) -> None:
    up.script("alpha", ok(chunks=[f"w{i} " for i in range(200)], chunk_delay=0.1))  # 20 s if read to the end
    with serving(tmp_path, up, "--grace", "1") as gw:
        sock = post(gw, {**CHAT, "stream": True})
        received = b""
        while b"w1 " not in received:
            received += sock.recv(65536)
        signalled = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        sock.settimeout(10)
        while chunk := sock.recv(65536):
            received += chunk
        ended = time.monotonic() - signalled
        code = gw.proc.wait(timeout=10)
        outcomes = gw.outcomes()
    events = [line.removeprefix(b"data: ") for line in received.split(b"\n") if line.startswith(b"data: {")]
    last = json.loads(events[-1])
    assert "error" in last and "shutting down" in last["error"]["message"]
    assert b"[DONE]" not in received
    assert 0.9 < ended < 4, f"the stream ended {ended:.1f}s after SIGTERM (grace 1 s)"
    assert code == 0
    assert outcomes == [(MODEL_A, "alpha", 0, "cancelled")]


def test_health_json_shows_cancelled_attempts_per_endpoint(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", slow_first_token(12, "late"))
    with serving(tmp_path, up) as gw:
        sock = post(gw, CHAT)
        wait_for_request(up)
        sock.close()
        wait_until_upstream_idle(up, 5)
        gw.stop()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_")}
        env["ORCLI_STATE_DIR"] = str(gw.state)
        done = subprocess.run(
            [sys.executable, "-m", "orcli", "health", "--json", "--profile", str(tmp_path / "profile.toml")],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    rows = json.loads(done.stdout)["endpoints"]
    [alpha] = [r for r in rows if (r["provider"], r["model"]) == ("alpha", MODEL_A)]
    assert (alpha["cancelled"], alpha["failures"], alpha["state"]) == (1, 0, "healthy")


def test_sigterm_grace_running_out_answers_a_waiting_whole_request_503_recorded_cancelled(
    tmp_path: Path, up: Upstream
) -> None:
    up.script("alpha", slow_first_token(12, "late"))
    with serving(tmp_path, up, "--grace", "1") as gw:
        sock = post(gw, CHAT)
        wait_for_request(up)
        gw.proc.send_signal(signal.SIGTERM)
        sock.settimeout(10)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        code = gw.proc.wait(timeout=10)
        outcomes = gw.outcomes()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503") and b"x-should-retry: false" in head.lower()
    assert "shutting down" in json.loads(body)["error"]["message"]
    assert code == 0
    assert outcomes == [(MODEL_A, "alpha", 0, "cancelled")]
    assert up.count("beta") == 0
