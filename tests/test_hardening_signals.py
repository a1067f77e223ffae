"""Hardening, signals and pipes: Ctrl-C, SIGTERM and a closed stdout in the middle of a stream.

orcli runs as a real process against the loopback upstream; the signal is sent once the answer is visibly
under way (its first bytes are on orcli's stdout, the upstream is holding the rest back) or while orcli waits
for the first token. The process must end at once with its code (130, 143; 0 for a reader that went away),
keep what it already printed, print no traceback, and record the attempt as `cancelled`, which docs/health.md#the-store does
not count against the provider: `orcli health --json` must show no failure.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cli_harness import RUN_TIMEOUT, Cli, Run, endpoint_health, store_rows
from upstream import Upstream, ok, slow_first_token, stall_between_chunks

SLOW = 20.0  # how long the upstream would hold back; the tests must end long before
TIMEOUTS = {"first_token": 15, "idle": 15, "total": 30}


def _read_until(proc: subprocess.Popen[bytes], marker: bytes, timeout: float = RUN_TIMEOUT) -> bytes:
    """Read orcli's stdout until `marker` has arrived (the process keeps running)."""
    assert proc.stdout is not None
    got = b""
    deadline = time.monotonic() + timeout
    while marker not in got:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} on stdout within {timeout}s (got {got!r})"
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            data = os.read(proc.stdout.fileno(), 4096)
            assert data, f"stdout closed before {marker!r} (got {got!r})"
            got += data
    return got


def _finish(cli: Cli, proc: subprocess.Popen[bytes], already: bytes, t0: float) -> Run:
    try:
        rest, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    run = Run(proc.returncode, (already + rest).decode(), err.decode(), time.monotonic() - t0)
    cli.check_hygiene(run)
    assert "Exception ignored" not in run.err and "Error" not in run.err, run
    return run


def _assert_cancelled_not_counted(cli: Cli, provider: str = "a") -> None:
    rows = [r for r in store_rows(cli.state_dir) if r["provider"] == provider]
    assert [(r["ok"], r["error_class"]) for r in rows] == [(0, "cancelled")], rows
    health = cli("health", "--json")
    assert health.code == 0, health
    row = endpoint_health(health, provider)
    assert (row["failures"], row["consecutive_failures"], row["state"]) == (0, 0, "healthy"), row
    assert row["last_error"] is None, row


@pytest.mark.parametrize(
    ("signum", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_signal_mid_stream_keeps_the_output_and_records_a_cancelled_attempt(
    upstream: Upstream, tmp_path: Path, signum: int, code: int, word: str
) -> None:
    cli = Cli(upstream, tmp_path)
    cli.profile(["a", "b"], timeouts=TIMEOUTS)
    upstream.script("a", stall_between_chunks("first words ", stall=SLOW, rest="never sent"))
    t0 = time.monotonic()
    proc = cli.popen("ask", "hi")
    first = _read_until(proc, b"first words ")
    proc.send_signal(signum)
    run = _finish(cli, proc, first, t0)
    assert run.code == code, run
    assert run.out == "first words ", run  # what was printed stays; nothing is added to the answer
    assert f"orcli: {word}" in run.err, run
    assert run.elapsed < SLOW / 2, run
    assert upstream.count("b") == 0  # an interruption is not a reason to fail over
    _assert_cancelled_not_counted(cli)


def test_ctrl_c_while_waiting_for_the_first_token(upstream: Upstream, tmp_path: Path) -> None:
    cli = Cli(upstream, tmp_path)
    cli.profile(["a", "b"], timeouts=TIMEOUTS)
    upstream.script("a", slow_first_token(SLOW))  # keep-alive comments only
    t0 = time.monotonic()
    proc = cli.popen("ask", "--json", "hi")
    deadline = time.monotonic() + RUN_TIMEOUT
    while upstream.count("a") == 0:
        assert time.monotonic() < deadline and proc.poll() is None, "the request never reached the upstream"
        time.sleep(0.02)
    time.sleep(0.3)  # let a few keep-alives through: orcli is now waiting on the stream
    proc.send_signal(signal.SIGINT)
    run = _finish(cli, proc, b"", t0)
    assert run.code == 130, run
    # docs/commands.md#common-options: --json prints exactly one JSON document, also when interrupted; no answer was written
    assert json.loads(run.out) == {
        "error": {"kind": "interrupted", "message": "interrupted by a signal", "exit_code": 130}
    }, run
    assert "orcli: interrupted" in run.err
    assert upstream.count("b") == 0
    _assert_cancelled_not_counted(cli)


def test_a_reader_that_goes_away_ends_orcli_quietly(upstream: Upstream, tmp_path: Path) -> None:
    """`orcli ask ... | head -c 10` while the answer is still streaming: exit 0, nothing on stderr."""
    cli = Cli(upstream, tmp_path)
    cli.profile(["a", "b"], timeouts=TIMEOUTS)
    upstream.script("a", ok(chunks=["0123456789 "] * 400, chunk_delay=0.005))
    t0 = time.monotonic()
    proc = cli.popen("ask", "hi")
    assert proc.stdout is not None
    head = subprocess.Popen(["head", "-c", "10"], stdin=proc.stdout, stdout=subprocess.PIPE)
    proc.stdout.close()  # head holds the only read end now
    try:
        shown, _ = head.communicate(timeout=RUN_TIMEOUT)
        err = proc.stderr.read() if proc.stderr else b""
        proc.wait(timeout=RUN_TIMEOUT)
    finally:
        for p in (proc, head):
            if p.poll() is None:
                p.kill()
        if proc.stderr:
            proc.stderr.close()
    run = Run(proc.returncode, "", err.decode(), time.monotonic() - t0)
    cli.check_hygiene(run)
    assert shown == b"0123456789"
    assert run.code == 0, run
    assert run.err == "", run
    assert run.elapsed < 400 * 0.005, run  # it stopped early, not at the end of the answer
    assert upstream.count("b") == 0
    _assert_cancelled_not_counted(cli)
