"""`orcli ask` end to end: the real CLI in a subprocess against the loopback upstream (tests/upstream.py).

Every run gets its own state dir, an environment without real provider keys, and a timeout; every run is
checked for key leaks (stdout and stderr) and, without --debug, for tracebacks (tests/cli_harness.py).
"""

from __future__ import annotations

import os
import select
import shlex
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cli_harness import MODEL, MODEL_B, RUN_TIMEOUT, Cli, Run, leaks, run_all
from upstream import (
    Upstream,
    bad_json,
    bad_request_400,
    billing_400,
    content_filter,
    context_length_400,
    cut_after_content,
    drop_before_content,
    echo_auth_401,
    empty_choices,
    error_chunk_after_content,
    hang,
    key_env,
    moderation_403,
    not_found,
    ok,
    payment_required,
    quota_429,
    rate_limited,
    refused_base_url,
    reset_connection,
    server_error,
    slow_first_token,
    stall_between_chunks,
    unauthorized,
)

FAST = {"first_token": 0.6, "idle": 0.6}  # for tests that wait on a timeout


@pytest.fixture
def cli(upstream: Upstream, tmp_path: Path) -> Cli:
    return Cli(upstream, tmp_path)


def user_content(up: Upstream, provider: str = "a", index: int = -1) -> str:
    return up.requests(provider)[index].body["messages"][-1]["content"]


def attempts_summary(doc: dict[str, Any]) -> list[tuple[str, str, str | None, int | None]]:
    return [(a["provider"], a["outcome"], a["error_class"], a["status"]) for a in doc["attempts"]]


def plan_providers(doc: dict[str, Any]) -> list[str]:
    return [a["provider"] for a in doc["attempts"]]


# ----------------------------------------------------------------------------------------- success


def test_streamed_answer_is_exactly_the_answer_and_flushed_per_chunk(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"])
    upstream.script("a", ok(chunks=["one ", "two ", "three"], chunk_delay=0.5))
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cli.argv("ask", "hi"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], RUN_TIMEOUT)
        assert ready, "no output at all"
        first = os.read(proc.stdout.fileno(), 100)
        still_running = proc.poll() is None
        rest, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = Run(proc.returncode, (first + rest).decode(), err.decode(), time.monotonic() - t0)
    cli.check_hygiene(run)
    # The first chunk reached the pipe while the answer was still streaming: flushed, not buffered.
    assert first == b"one " and still_running, run
    assert run.code == 0, run
    assert run.out == "one two three"  # plain text, no newline added in a pipe, nothing else
    assert run.err == ""  # quiet without -v
    assert upstream.count("a") == 1 and upstream.count("b") == 0
    body = upstream.requests("a")[0].body
    assert body["stream"] is True and body["model"] == MODEL
    assert body["messages"] == [{"role": "user", "content": "hi"}]


def test_no_stream(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a"])
    run = cli("ask", "--no-stream", "hi")
    assert (run.code, run.out, run.err) == (0, "Hello from a", ""), run
    assert upstream.requests("a")[0].body["stream"] is False


def test_json_document_fields(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b", "c"], keys=["a", "b"])
    upstream.script("a", server_error(500))
    run = cli("ask", "--json", "hi")
    assert run.code == 0, run
    assert run.err == ""
    doc = run.json()
    assert doc["content"] == "Hello from b"
    assert (doc["model"], doc["provider"], doc["upstream_model"], doc["finish_reason"]) == (MODEL, "b", MODEL, "stop")
    assert doc["usage"] == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    assert doc["cost_usd"] == pytest.approx((10 * 2.0 + 3 * 2.0) / 1e6)  # b's price is 2/M both ways
    fields = {"model", "provider", "outcome", "error_class", "status", "error", "latency_s", "ttft_s"}
    assert all(fields <= set(a) for a in doc["attempts"])
    assert attempts_summary(doc) == [("a", "failed", "provider", 500), ("b", "success", None, 200)]
    first, second = doc["attempts"]
    assert "Internal server error" in first["error"]
    assert first["latency_s"] >= 0 and first["ttft_s"] is None
    assert second["error"] is None and second["latency_s"] >= second["ttft_s"] > 0
    assert doc["rejected"] == [
        {"model": MODEL, "provider": "c", "code": "no_credentials", "detail": doc["rejected"][0]["detail"]}
    ]
    assert "error" not in doc


def test_verbose_notes_go_to_stderr(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"])
    upstream.script("a", server_error(502))
    run = cli("ask", "-v", "hi")
    assert (run.code, run.out) == (0, "Hello from b"), run
    lines = run.err.splitlines()
    assert "attempt 1" in lines[0] and "via a" in lines[0]
    assert any("failed" in line and "502" in line for line in lines)
    assert any("attempt 2" in line and "via b" in line for line in lines)
    assert any("served by b" in line for line in lines)
    assert "Hello from b" not in run.err


# ------------------------------------------------------------------------------------------ prompt


PROMPT_CASES: dict[str, tuple[list[str], str | None, str]] = {  # id: (arguments, stdin, prompt sent)
    "argument": (["from arg"], None, "from arg"),
    "stdin": ([], "from stdin\n", "from stdin\n"),
    "stdin_then_argument": (["from arg"], "from stdin\n", "from stdin\n\nfrom arg"),
    "dash": (["-"], "stdin alone\n", "stdin alone\n"),
    "no_stdin": (["--no-stdin", "from arg"], "never read\n", "from arg"),
}


def test_prompt_sources(upstream: Upstream, tmp_path: Path, subtests: Any) -> None:
    """Argument, stdin, both (stdin first, blank line, argument), `-`, --no-stdin: as the upstream saw it."""
    clis = {case: Cli(upstream, tmp_path / case) for case in PROMPT_CASES}
    for case, case_cli in clis.items():
        case_cli.profile([f"{case}-a"])
    runs = run_all(
        {case: partial(clis[case], "ask", *args, stdin=stdin) for case, (args, stdin, _) in PROMPT_CASES.items()}
    )
    for case, (_, _, expected) in PROMPT_CASES.items():
        with subtests.test(case=case):
            assert runs[case].code == 0, runs[case]
            assert runs[case].out == f"Hello from {case}-a"
            assert user_content(upstream, f"{case}-a") == expected


def test_no_stdin_with_a_pipe_that_never_closes(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a"])
    proc = subprocess.Popen(
        cli.argv("ask", "--no-stdin", "from arg"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env,
    )
    try:
        code = proc.wait(timeout=RUN_TIMEOUT)  # stdin stays open all along
        out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    finally:
        proc.kill()
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()
    assert (code, out) == (0, "Hello from a"), err
    assert user_content(upstream) == "from arg"


def test_no_prompt_is_a_usage_error(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a"])
    run = cli("ask", stdin="")
    assert run.code == 2, run
    assert run.out == ""
    assert "no prompt" in run.err
    assert upstream.count() == 0


def test_system_options_and_max_tokens_reach_the_body(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a"])
    run = cli("ask", "-s", "be brief", "-o", "temperature=0.2", "-o", 'stop=["END"]', "--max-tokens", "7", "hi")
    assert run.code == 0, run
    body = upstream.requests("a")[0].body
    assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert body["temperature"] == 0.2
    assert body["stop"] == ["END"]
    assert body["max_tokens"] == 7


# ------------------------------------------------------------------------------- provider failover

SLOW = 15.0  # seconds the slow and hanging providers would keep orcli waiting
# provider name: (its behaviour, the status its attempt reports); one provider per docs/failures.md#failure-classes provider row.
FAILOVER_ROWS: dict[str, tuple[Any, int | None]] = {
    "http_500": (server_error(500), 500),
    "http_503": (server_error(503), 503),
    "rate_limited_429": (rate_limited(retry_after=30), 429),
    "quota_429": (quota_429(), 429),
    "auth_401": (unauthorized(), 401),
    "payment_402": (payment_required(), 402),
    "not_found_404": (not_found(), 404),
    "billing_400": (billing_400(), 400),
    "bad_json": (bad_json(), None),
    "empty_choices": (empty_choices(), None),
    "drop_before_content": (drop_before_content(), None),
    "reset_connection": (reset_connection(), None),
    "connection_refused": (ok(), None),  # its base_url is refused_base_url()
    "hang_before_headers": (hang(), None),
    "slow_first_token": (slow_first_token(SLOW), None),  # keep-alive comments meanwhile
}


def test_provider_failures_fail_over_along_the_plan(cli: Cli, upstream: Upstream, subtests: Any) -> None:
    """One streamed ask walks every provider-class row, one provider each, in price order; the last serves."""
    names = [*FAILOVER_ROWS, "last"]
    cli.profile(names, timeouts=FAST, provider_extra={"connection_refused": {"base_url": refused_base_url()}})
    for name, (behaviour, _) in FAILOVER_ROWS.items():
        upstream.script(name, behaviour)
    run = cli("ask", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert (doc["provider"], doc["content"]) == ("last", "Hello from last")
    assert upstream.call_order() == [n for n in names if n != "connection_refused"]  # each exactly once
    # Two first_token timeouts of 0.6 s: keep-alives did not keep the slow provider alive.
    assert run.elapsed < SLOW / 2, run
    attempts = {a["provider"]: a for a in doc["attempts"]}
    assert list(attempts) == names
    for name, (_, code) in FAILOVER_ROWS.items():
        with subtests.test(row=name):
            attempt = attempts[name]
            assert (attempt["outcome"], attempt["error_class"], attempt["status"]) == ("failed", "provider", code)
            assert attempt["error"]
            if name in ("hang_before_headers", "slow_first_token"):
                assert "first_token" in attempt["error"]
                assert attempt["latency_s"] < 2.0


def test_provider_failures_without_stream_walk_the_whole_chain(cli: Cli, upstream: Upstream) -> None:
    """--no-stream: every non-stream form of a provider failure, one provider each, in price order."""
    behaviours = [
        server_error(500),
        unauthorized(),
        payment_required(),
        not_found(),
        billing_400(),
        quota_429(),
        bad_json(),
        empty_choices(),
        drop_before_content(),
        cut_after_content(),
        error_chunk_after_content(),
    ]
    names = [f"p{i:02d}" for i in range(len(behaviours))] + ["last"]
    cli.profile(names)
    for name, behaviour in zip(names, behaviours, strict=False):
        upstream.script(name, behaviour)
    run = cli("ask", "--no-stream", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert (doc["provider"], doc["content"]) == ("last", "Hello from last")
    assert upstream.call_order() == names
    assert all(not r.stream for r in upstream.requests())
    assert [a["error_class"] for a in doc["attempts"]] == ["provider"] * len(behaviours) + [None]


def test_total_timeout_before_content_fails_over_without_stream(cli: Cli, upstream: Upstream) -> None:
    """--no-stream waits for the whole body: only `total` bounds it (a provider failure, docs/failures.md#failure-classes row 1)."""
    cli.profile(["a", "b"], timeouts={"first_token": 5, "idle": 5, "total": 0.5})
    upstream.script("a", hang())
    run = cli("ask", "--no-stream", "-v", "hi")
    assert (run.code, run.out) == (0, "Hello from b"), run
    assert "total time limit" in run.err
    assert run.elapsed < 4.0, run


def test_rate_limit_retry_after_puts_the_provider_last(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"])
    upstream.script("a", rate_limited(retry_after=40), ok())
    assert cli("ask", "hi").out == "Hello from b"
    explain = cli("explain-route", "--json")
    assert explain.code == 0, explain
    doc = explain.json()
    assert plan_providers(doc) == ["b", "a"]
    health = doc["attempts"][1]["health"]
    assert health["state"] == "cooldown"
    assert 30 < health["cooldown_left_s"] <= 40
    assert health["failures"] == 0  # a 429 is a rate limit, not an outage (docs/health.md#how-health-feeds-routing)
    assert "cooldown" in doc["attempts"][1]["reason"]
    run = cli("ask", "-v", "hi")
    assert (run.code, run.out) == (0, "Hello from b"), run
    assert "via b" in run.err.splitlines()[0]
    assert upstream.count("a") == 1


# ---------------------------------------------------------------------------------- model fallback


MODEL_FAILURES = {
    "context_length_400": context_length_400(),
    "moderation_403": moderation_403(),
    "content_filter": content_filter(),
}


def test_model_failure_skips_the_models_other_providers(upstream: Upstream, tmp_path: Path, subtests: Any) -> None:
    """Model class: the model's other providers get no request; the next model is tried."""
    clis = {case: Cli(upstream, tmp_path / case) for case in MODEL_FAILURES}
    for case, behaviour in MODEL_FAILURES.items():
        clis[case].profile([f"{case}-a", f"{case}-b"], models=[MODEL, MODEL_B])
        upstream.script(f"{case}-a", behaviour, ok())
    runs = run_all({case: partial(clis[case], "ask", "--json", "hi") for case in MODEL_FAILURES})
    for case in MODEL_FAILURES:
        with subtests.test(case=case):
            a, b = f"{case}-a", f"{case}-b"
            assert runs[case].code == 0, runs[case]
            doc = runs[case].json()
            assert (doc["model"], doc["provider"], doc["content"]) == (MODEL_B, a, f"Hello from {a}")
            assert [(x["model"], x["provider"], x["error_class"]) for x in doc["attempts"]] == [
                (MODEL, a, "model"),
                (MODEL_B, a, None),
            ]
            assert upstream.count(b) == 0
            assert [r.model for r in upstream.requests(a)] == [MODEL, MODEL_B]


def test_content_filter_while_streaming_falls_back_to_the_next_model(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"], models=[MODEL, MODEL_B])
    upstream.script("a", content_filter(), ok("clean answer"))
    run = cli("ask", "-v", "hi")
    assert (run.code, run.out) == (0, "clean answer"), run
    assert "skipping the other providers of test/model-a" in run.err
    assert upstream.count("b") == 0


# ----------------------------------------------------------------------------------- request class


def test_request_class_stops_and_shows_the_upstream_message(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"], models=[MODEL, MODEL_B])
    upstream.script("a", bad_request_400())
    run = cli("ask", "hi")
    assert run.code == 1, run
    assert run.out == ""
    assert "Invalid value for 'temperature': must be between 0 and 2." in run.err
    assert upstream.call_order() == ["a"]


def test_request_class_json(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"])
    upstream.script("a", bad_request_400("Unknown parameter: 'foo'."))
    run = cli("ask", "--json", "hi")
    assert run.code == 1, run
    doc = run.json()
    assert doc["error"]["kind"] == "request_rejected" and doc["error"]["exit_code"] == 1
    assert "Unknown parameter: 'foo'." in doc["error"]["message"]
    assert attempts_summary(doc) == [("a", "failed", "request", 400)]
    assert upstream.count("b") == 0


# ------------------------------------------------------------------------------------ broken stream

STREAM_BREAKS = {
    "cut": cut_after_content("partial "),
    "error_chunk": error_chunk_after_content("partial "),
    "idle_stall": stall_between_chunks("partial ", stall=SLOW, rest="never"),
}


def test_stream_broken(upstream: Upstream, tmp_path: Path, subtests: Any) -> None:
    """After content reached stdout: stop, exit 1, keep it. With --json or --no-stream (nothing written
    yet) the same breaks are provider failures: one ask per mode walks all of them to a last provider."""
    jobs: dict[str, Callable[[], Run]] = {}
    for brk, behaviour in STREAM_BREAKS.items():
        case_cli = Cli(upstream, tmp_path / brk)
        case_cli.profile([f"{brk}-a", f"{brk}-b"], timeouts=FAST)
        upstream.script(f"{brk}-a", behaviour)
        jobs[brk] = partial(case_cli, "ask", "hi")
    chain = [f"{mode}-{brk}" for mode in ("json", "no_stream") for brk in STREAM_BREAKS]
    for mode, flag in (("json", "--json"), ("no_stream", "--no-stream")):
        mode_cli = Cli(upstream, tmp_path / mode)
        mode_cli.profile([*(f"{mode}-{brk}" for brk in STREAM_BREAKS), f"{mode}-last"], timeouts=FAST)
        for brk, behaviour in STREAM_BREAKS.items():
            upstream.script(f"{mode}-{brk}", behaviour)
        jobs[mode] = partial(mode_cli, "ask", flag, "hi")
    runs = run_all(jobs)
    for brk in STREAM_BREAKS:
        with subtests.test(brk=brk, mode="stream"):
            run = runs[brk]
            assert run.code == 1, run
            assert run.out.startswith("partial ") and run.out.strip() == "partial", run
            assert "stream broke" in run.err
            assert upstream.count(f"{brk}-a") == 1 and upstream.count(f"{brk}-b") == 0
            assert run.elapsed < SLOW / 2, run
    with subtests.test(mode="json"):
        run = runs["json"]
        assert run.code == 0, run
        doc = run.json()
        assert doc["content"] == "Hello from json-last"
        assert [(a["provider"], a["error_class"]) for a in doc["attempts"]] == [
            *((f"json-{brk}", "provider") for brk in STREAM_BREAKS),
            ("json-last", None),
        ]
        assert run.elapsed < SLOW / 2, run
    with subtests.test(mode="no_stream"):
        run = runs["no_stream"]
        assert (run.code, run.out) == (0, "Hello from no_stream-last"), run
        assert run.elapsed < SLOW / 2, run
    for name in chain:
        assert upstream.count(name) == 1, name


# ------------------------------------------------------------------------------ stop, no route, all


def test_no_fallbacks_with_order_stops_after_the_ordered_provider(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"])
    upstream.script("a", server_error(500))
    run = cli("ask", "--no-fallbacks", "--order", "a", "--json", "hi")
    assert run.code == 1, run
    doc = run.json()
    assert attempts_summary(doc) == [("a", "failed", "provider", 500)]
    assert {(r["provider"], r["code"]) for r in doc["rejected"]} == {("b", "not_in_order")}
    assert upstream.call_order() == ["a"]


def test_no_route_exits_3_with_rejections(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"], keys=["b"])
    run = cli("ask", "--only", "a", "--json", "hi")
    assert run.code == 3, run
    doc = run.json()
    assert doc["error"]["kind"] == "no_route" and doc["error"]["exit_code"] == 3
    assert {(r["provider"], r["code"]) for r in doc["rejected"]} == {("a", "no_credentials"), ("b", "not_in_only")}
    assert doc["attempts"] == []
    assert "no route" in run.err
    assert upstream.count() == 0


def test_all_failed_summarises_each_attempt(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"])
    upstream.script("a", server_error(500))
    upstream.script("b", unauthorized())
    run = cli("ask", "hi")
    assert run.code == 1, run
    assert run.out == ""
    err = run.err
    assert "all 2 attempts failed" in err
    assert "1. test/model-a via a: provider failure: HTTP 500" in err
    assert "2. test/model-a via b: provider failure: HTTP 401" in err
    assert upstream.call_order() == ["a", "b"]

    json_run = cli("ask", "--json", "hi")
    assert json_run.code == 1, json_run
    doc = json_run.json()
    assert doc["error"] == {"kind": "all_attempts_failed", "message": doc["error"]["message"], "exit_code": 1}
    assert "all 2 attempts failed" in doc["error"]["message"]
    assert doc["content"] is None
    assert attempts_summary(doc) == [("a", "failed", "provider", 500), ("b", "failed", "provider", 401)]


# ----------------------------------------------------------------------------------------- health


def test_three_failures_put_the_provider_last_and_ask_skips_ahead(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"])
    upstream.script("a", server_error(500))
    for _ in range(3):
        assert cli("ask", "--only", "a", "hi").code == 1
    explain = cli("explain-route", "--json")
    assert explain.code == 0, explain
    doc = explain.json()
    assert plan_providers(doc) == ["b", "a"]
    last = doc["attempts"][1]
    assert last["health"]["state"] == "cooldown"
    assert last["health"]["consecutive_failures"] == 3
    assert "500" in last["health"]["last_error"]
    assert "cooldown" in last["reason"] or "circuit" in last["reason"]
    run = cli("ask", "-v", "hi")
    assert (run.code, run.out) == (0, "Hello from b"), run
    assert "attempt 1" in run.err.splitlines()[0] and "via b" in run.err.splitlines()[0]
    assert upstream.count("a") == 3


# ------------------------------------------------------------------------------------ pipes, keys


def test_closed_pipe_gives_no_traceback(cli: Cli, upstream: Upstream, tmp_path: Path) -> None:
    cli.profile(["a"])
    upstream.script("a", ok(chunks=["hello world "] * 200, chunk_delay=0.005))
    err_file = tmp_path / "stderr.txt"
    command = f"{shlex.join(cli.argv('ask', 'hi'))} 2>{shlex.quote(str(err_file))} | head -c 5"
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        env=cli.env,
        stdin=subprocess.DEVNULL,
        timeout=RUN_TIMEOUT,
    )
    err = err_file.read_text()
    assert proc.stdout == b"hello"
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err, err
    assert proc.returncode in (0, 141), err  # success, or SIGPIPE like any filter


def test_keys_never_leak(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "odd", "b"])
    odd_key = "Zq7plainKeyWithNoKnownShape"  # redacted only because orcli knows its own keys
    cli.set_keys({key_env("odd"): odd_key})
    upstream.script("a", echo_auth_401())
    upstream.script("odd", echo_auth_401())
    asks = [
        ("ask", "-v", "--debug", "hi"),
        ("ask", "--json", "--debug", "hi"),
        ("ask", "--only", "a,odd", "-v", "--debug", "hi"),
        ("ask", "--only", "a,odd", "--json", "hi"),
    ]
    runs = list(run_all({str(i): partial(cli, *args) for i, args in enumerate(asks)}).values())
    runs += [cli("health", "--json"), cli("providers", "--json"), cli("explain-route", "--json", "--debug")]
    assert [r.code for r in runs] == [0, 0, 1, 1, 0, 0, 0], runs
    # The echo path really ran: the upstream saw the keys and its message came back, redacted.
    assert upstream.requests("a")[0].headers["authorization"] == f"Bearer {cli.key('a')}"
    assert upstream.requests("odd")[0].headers["authorization"] == f"Bearer {odd_key}"
    assert "Incorrect API key provided" in runs[2].err and "[REDACTED]" in runs[2].err
    assert "Zq7plain" not in "".join(r.out + r.err for r in runs)
    files = [p for r in runs if r.state_dir for p in r.state_dir.rglob("*") if p.is_file()]  # every run's store
    assert files, "the health store was not written"
    for path in files:
        data = path.read_bytes()
        assert not leaks(data, cli.secrets), path


def test_plain_http_to_a_remote_host_is_refused_before_any_network(cli: Cli, upstream: Upstream) -> None:
    # A proxy pointing at the test upstream: any request orcli sent to example.invalid would land there.
    proxy = {name: upstream.url for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")}
    cli.profile(["a"], provider_extra={"a": {"base_url": "http://example.invalid/v1"}})
    run = cli("ask", "hi", env=proxy)
    assert run.code == 2, run
    assert "allow_insecure" in run.err and "example.invalid" in run.err
    assert run.out == ""
    assert upstream.count() == 0

    cli.profile(["a"], provider_extra={"a": {"base_url": "http://example.invalid/v1", "allow_insecure": True}})
    allowed = cli("ask", "hi", env=proxy)
    assert allowed.code == 0, allowed
    assert [r.path for r in upstream.requests()] == ["http://example.invalid/v1/chat/completions"]
