"""Hedged requests (`ask --hedge SECONDS`, `[routing] hedge`, serve's `hedge`; docs/routing.md): when the
running attempt has no content after SECONDS, the next planned attempt starts beside it; the first to produce
content wins, the other is cancelled at once (its connection closed, recorded `cancelled`, no health penalty).

End to end: the real CLI against loopback fakes with controllable time to first token and failures, which log
when a client disconnects (tests/upstream.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cli_harness import MODEL, Cli, store_rows
from hypothesis import given, settings
from hypothesis import strategies as st
from test_serve_e2e import serving
from upstream import Behaviour, Exchange, Ok, SlowFirstToken, Upstream, ok, slow_first_token

STALL = 8.0  # a stalled provider; every test that wins around it ends long before


@dataclass
class LateStatus(Behaviour):
    """Wait `delay` s (keep-alive comments when streaming), then fail with HTTP `code`."""

    delay: float
    code: int = 500

    def serve(self, ex: Exchange) -> None:
        if not ex.pause(self.delay):
            return
        ex.send_json(self.code, {"error": {"message": f"late failure {self.code}", "code": self.code}})


def slow(delay: float, text: str, chunk_delay: float = 0.0) -> SlowFirstToken:
    return SlowFirstToken(delay, Ok(text, chunk_delay=chunk_delay))


@pytest.fixture
def cli(upstream: Upstream, tmp_path: Path) -> Cli:
    c = Cli(upstream, tmp_path)
    c.profile(["a", "b", "c"], timeouts={"first_token": 20, "idle": 20, "total": 60})
    return c


def summary(doc: dict) -> list[tuple[str, str, bool]]:
    return [(a["provider"], a["outcome"], a["hedge"]) for a in doc["attempts"]]


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_a_stalled_attempt_is_hedged_and_the_hedge_wins(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", slow_first_token(STALL, "from a"))
    upstream.script("b", ok("from b"))
    run = cli("ask", "--hedge", "0.3", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert doc["content"] == "from b" and doc["provider"] == "b"
    assert sorted(summary(doc)) == [("a", "cancelled", False), ("b", "success", True)]
    assert run.elapsed < STALL / 2, run
    # The loser's connection was closed at once: the fake saw its client go.
    assert wait_for(lambda: len(upstream.disconnects("a")) == 1)
    # Cancelled is not a failure: a stays healthy, first in the next plan.
    rows = [r for r in store_rows(cli.state_dir) if r["provider"] == "a"]
    assert [r["error_class"] for r in rows] == ["cancelled"]
    plan = cli("explain-route", "--json")
    assert plan.json()["attempts"][0]["provider"] == "a"
    assert plan.json()["attempts"][0]["health"]["state"] == "healthy"


def test_the_first_attempt_can_still_win_after_the_hedge_started(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", slow(0.8, "from a"))
    upstream.script("b", slow(STALL, "from b"))
    run = cli("ask", "--hedge", "0.2", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert doc["content"] == "from a"
    assert sorted(summary(doc)) == [("a", "success", False), ("b", "cancelled", True)]
    assert wait_for(lambda: len(upstream.disconnects("b")) == 1)


def test_no_hedge_when_content_comes_in_time(cli: Cli, upstream: Upstream) -> None:
    run = cli("ask", "--hedge", "2", "--json", "hi")
    assert run.code == 0 and run.json()["provider"] == "a", run
    assert upstream.count("b") == 0
    assert summary(run.json()) == [("a", "success", False)]


def test_one_failing_leaves_the_other_running(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", LateStatus(0.6))
    upstream.script("b", slow(1.2, "from b"))
    run = cli("ask", "--hedge", "0.2", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert doc["content"] == "from b"
    assert sorted(summary(doc)) == [("a", "failed", False), ("b", "success", True)]
    assert upstream.count("c") == 0


def test_both_failing_lets_the_plan_go_on(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", LateStatus(0.6))
    upstream.script("b", LateStatus(0.5, 502))
    upstream.script("c", ok("from c"))
    run = cli("ask", "--hedge", "0.2", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert doc["content"] == "from c"
    outcomes = {a["provider"]: a["outcome"] for a in doc["attempts"]}
    assert outcomes == {"a": "failed", "b": "failed", "c": "success"}


def test_only_the_winners_text_reaches_stdout_and_v_says_when_a_hedge_started(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", slow(1.5, "AAAA AAAA AAAA", chunk_delay=0.05))
    upstream.script("b", slow(0.1, "BBBB BBBB BBBB", chunk_delay=0.05))
    run = cli("ask", "--hedge", "0.3", "-v", "hi")
    assert run.code == 0, run
    assert run.out == "BBBB BBBB BBBB"
    assert "hedge" in run.err.lower() and "b" in run.err, run


def test_no_stream_the_first_complete_answer_wins(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", slow_first_token(STALL, "from a"))  # non-stream: answers after the delay
    upstream.script("b", ok("from b"))
    run = cli("ask", "--no-stream", "--hedge", "0.3", "hi")
    assert (run.code, run.out) == (0, "from b"), run
    assert run.elapsed < STALL / 2
    assert all(r.body["stream"] is False for r in upstream.requests())


def test_the_profile_can_hedge_every_ask(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"], extra_routing={"hedge": 0.3})
    upstream.script("a", slow_first_token(STALL, "from a"))
    run = cli("ask", "--json", "hi")
    assert run.code == 0 and run.json()["provider"] == "b", run


@settings(max_examples=10, deadline=None)
@given(st.floats(0.0, 0.8), st.floats(0.0, 0.8), st.floats(0.0, 0.06), st.floats(0.0, 0.06), st.floats(0.05, 0.5))
def test_texts_never_mix_whatever_the_timings(
    tmp_path_factory: pytest.TempPathFactory,
    ttft_a: float,
    ttft_b: float,
    pace_a: float,
    pace_b: float,
    hedge: float,
) -> None:
    texts = {"a": "alpha " * 6, "b": "bravo " * 6}
    with Upstream() as up:
        c = Cli(up, tmp_path_factory.mktemp("mix"))
        c.profile(["a", "b"])
        up.script("a", slow(ttft_a, texts["a"], pace_a))
        up.script("b", slow(ttft_b, texts["b"], pace_b))
        run = c("ask", "--hedge", f"{hedge:.3f}", "-v", "hi")
    assert run.code == 0, run
    assert run.out in texts.values(), run
    shown = next(p for p, text in texts.items() if text == run.out)
    assert f"served by {shown} " in run.err, run  # the route reported is the one whose text was shown


def test_serve_hedges_with_a_request_field(tmp_path: Path, upstream: Upstream) -> None:
    upstream.script("alpha", slow_first_token(STALL, "from alpha"))
    upstream.script("beta", ok("from beta"))
    with serving(tmp_path, upstream) as gw:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "hedge": 0.3}
        t0 = time.monotonic()
        reply = httpx.post(f"{gw.url}/chat/completions", json=body, timeout=30)
        assert reply.status_code == 200, reply.text
        assert reply.json()["provider"] == "beta" and time.monotonic() - t0 < STALL / 2
        assert reply.headers["x-orcli-attempts"] == "2"
        assert wait_for(lambda: len(upstream.disconnects("alpha")) == 1)
        bad = httpx.post(f"{gw.url}/chat/completions", json={**body, "hedge": -1}, timeout=30)
        assert bad.status_code == 400


def test_a_bad_hedge_flag_is_exit_2(cli: Cli) -> None:
    run = cli("ask", "--hedge", "soon", "hi")
    assert run.code == 2 and "--hedge" in run.err, run


def test_ctrl_c_with_two_in_flight_cuts_both_and_records_them_cancelled(cli: Cli, upstream: Upstream) -> None:
    import signal

    upstream.script("a", slow_first_token(STALL, "from a"))
    upstream.script("b", slow_first_token(STALL, "from b"))
    proc = cli.popen("ask", "--hedge", "0.2", "hi")
    try:
        assert wait_for(lambda: upstream.count() == 2, timeout=15), "the hedge never started"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert wait_for(lambda: {"a", "b"} <= {p for p in ("a", "b") if upstream.disconnects(p)})
    rows = store_rows(cli.state_dir)
    assert sorted((r["provider"], r["error_class"]) for r in rows) == [("a", "cancelled"), ("b", "cancelled")]


@pytest.mark.parametrize("winner", ["alpha", "beta"])
def test_serve_streams_only_the_winner_and_its_chunks_name_it(tmp_path: Path, upstream: Upstream, winner: str) -> None:
    """Both ways: the hedge (beta) answering first, and the first attempt (alpha) answering after the hedge
    started; the chunks name whoever answered, not the attempt started last."""
    import json

    loser = "beta" if winner == "alpha" else "alpha"
    upstream.script(winner, slow(0.1 if winner == "beta" else 0.7, f"from {winner}", chunk_delay=0.05))
    upstream.script(loser, slow(STALL, f"from {loser}"))
    with serving(tmp_path, upstream) as gw:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "hedge": 0.3, "stream": True}
        with httpx.stream("POST", f"{gw.url}/chat/completions", json=body, timeout=30) as reply:
            assert reply.status_code == 200
            assert reply.headers["x-orcli-attempts"] == "2"
            events = [line[6:] for line in reply.iter_lines() if line.startswith("data: ")]
    chunks = [json.loads(e) for e in events if e != "[DONE]"]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
    assert text == f"from {winner}"
    assert {c["provider"] for c in chunks} == {winner}
    assert wait_for(lambda: len(upstream.disconnects(loser)) == 1)


def test_timeout_with_two_in_flight_cancels_both(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", slow_first_token(STALL, "from a"))
    upstream.script("b", slow_first_token(STALL, "from b"))
    run = cli("ask", "--hedge", "0.2", "--timeout", "1", "--json", "hi")
    assert run.code == 1, run
    assert run.elapsed < STALL / 2, run
    assert "--timeout of 1s reached" in run.json()["error"]["message"]
    assert sorted(summary(run.json())) == [("a", "cancelled", False), ("b", "cancelled", True)]
    assert upstream.count("c") == 0
    rows = store_rows(cli.state_dir)
    assert sorted((r["provider"], r["error_class"]) for r in rows) == [("a", "cancelled"), ("b", "cancelled")]


def test_a_request_error_stops_the_run_and_cuts_the_other(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", LateStatus(0.6, 400))
    upstream.script("b", slow_first_token(STALL, "from b"))
    run = cli("ask", "--hedge", "0.2", "--json", "hi")
    assert run.code == 1, run
    assert run.elapsed < STALL / 2, run
    assert sorted(summary(run.json())) == [("a", "failed", False), ("b", "cancelled", True)]
    assert run.json()["attempts"][0]["error_class"] == "request"
    assert wait_for(lambda: len(upstream.disconnects("b")) == 1)
    assert upstream.count("c") == 0
