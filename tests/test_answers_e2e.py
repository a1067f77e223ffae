"""Answers beyond text and the shapes real servers send (issue 10, docs/failures.md#failure-classes and docs/commands.md#answers-beyond-text), end to end: the real CLI
against the loopback upstream (tests/upstream.py): tool calls, structured output, reasoning, compressed
bodies, oversized bodies, content_filter after text, reserved options, the user's own --timeout, and the
smaller things (-v numbering, plurals, status 200, -o numbers, Groq usage).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_harness import MODEL, MODEL_B, Cli, store_rows
from upstream import (
    Upstream,
    compressed,
    content_filter_after_text,
    context_length_400,
    groq_usage,
    ok,
    oversized,
    reasoning,
    server_error,
    slow_first_token,
    tool_calls,
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
FAST = {"first_token": 0.6, "idle": 0.6}


@pytest.fixture
def cli(upstream: Upstream, tmp_path: Path) -> Cli:
    return Cli(upstream, tmp_path)


def summary(doc: dict[str, Any]) -> list[tuple[str, str, str | None, int | None]]:
    return [(a["provider"], a["outcome"], a["error_class"], a["status"]) for a in doc["attempts"]]


def counted_failures(cli: Cli, provider: str) -> int:
    """Failures `health` counts against the endpoint (model/request/cancelled outcomes are not counted)."""
    run = cli("health", "--json")
    rows = [e for e in run.json()["endpoints"] if e["provider"] == provider and e["model"] == MODEL]
    return rows[0]["failures"] if rows else 0


def endpoints_with_tools(providers: list[str], tools_at: set[str], extra: tuple[str, ...] = ()) -> list[dict]:
    return [
        {
            "model": MODEL,
            "provider": p,
            "price": {"prompt": float(i), "completion": float(i)},
            "context_length": 8192,
            "parameters": ["temperature", "max_tokens", *(("tools", "tool_choice", *extra) if p in tools_at else ())],
        }
        for i, p in enumerate(providers, start=1)
    ]


# ------------------------------------------------------------------------------------------ tool calls


@pytest.mark.parametrize("mode", [(), ("--no-stream",)])
def test_a_tool_call_answer_is_one_json_array_on_stdout_and_exit_0(cli: Cli, upstream: Upstream, mode) -> None:
    cli.profile(["a", "b"])
    upstream.script("a", tool_calls(("get_weather", '{"city": "Paris"}'), ("get_time", '{"tz": "CET"}')))
    run = cli("ask", "--tools", json.dumps(TOOLS), "-o", "tool_choice=auto", *mode, "weather?")
    assert run.code == 0, run
    assert json.loads(run.out) == [
        {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": '{"tz": "CET"}'}},
    ]
    assert upstream.call_order() == ["a"]  # a valid answer: no failover
    sent = upstream.requests("a")[0].body
    assert sent["tools"] == TOOLS and sent["tool_choice"] == "auto"
    assert counted_failures(cli, "a") == 0
    assert store_rows(cli.state_dir)[-1]["ok"] == 1


def test_text_then_tool_calls_streams_the_text_then_prints_the_array_on_its_own_line(
    cli: Cli, upstream: Upstream
) -> None:
    cli.profile(["a"])
    upstream.script("a", tool_calls(("lookup", '{"q": "x"}'), text="Let me look that up."))
    run = cli("ask", "--tools", json.dumps(TOOLS[0]), "q")  # one tool object is accepted too
    assert run.code == 0, run
    text, calls = run.out.split("\n", 1)
    assert text == "Let me look that up."
    assert json.loads(calls)[0]["function"] == {"name": "lookup", "arguments": '{"q": "x"}'}
    assert run.out.endswith("]\n")


def test_json_carries_tool_calls_and_null_content(cli: Cli, upstream: Upstream, tmp_path: Path) -> None:
    cli.profile(["a"])
    upstream.script("a", tool_calls())
    tools_file = tmp_path / "tools.json"
    tools_file.write_text(json.dumps(TOOLS))
    doc = cli("ask", "--tools", str(tools_file), "--json", "q").json()
    assert doc["content"] is None and doc["finish_reason"] == "tool_calls"
    assert doc["tool_calls"] == [
        {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    ]
    assert doc["reasoning"] is None
    assert summary(doc) == [("a", "success", None, 200)]


def test_plain_answers_have_null_tool_calls_in_json(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a"])
    doc = cli("ask", "--json", "hi").json()
    assert doc["content"] == "Hello from a" and doc["tool_calls"] is None and doc["reasoning"] is None


def test_tools_route_to_the_endpoints_that_support_them(cli: Cli, upstream: Upstream) -> None:
    """docs/routing.md#rejections: tools are soft: the cheaper endpoint without `tools` is rejected when another has it."""
    cli.profile(["a", "b"], endpoints=endpoints_with_tools(["a", "b"], {"b"}))
    upstream.script("b", tool_calls())
    doc = cli("ask", "--tools", json.dumps(TOOLS), "--json", "q").json()
    assert doc["provider"] == "b"
    assert [(r["provider"], r["code"]) for r in doc["rejected"]] == [("a", "missing_parameters")]
    explain = cli("explain-route", "--tools", json.dumps(TOOLS), "--json", "q").json()
    assert "tools" in explain["request"]["parameters"]
    assert [a["provider"] for a in explain["attempts"]] == ["b"]


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("[{", "--tools: the inline JSON is not valid JSON"),
        ("[]", "--tools: expected a tools array"),
        ('{"type": "function"}', 'a function tool needs "function"'),
        ('[{"type": "function", "function": {"name": "f"}}, 3]', "tool 2 is a JSON number"),
        ("no-such-file.json", "--tools: no file"),
    ],
)
def test_bad_tools_are_a_usage_error_before_any_attempt(cli: Cli, upstream: Upstream, value: str, needle: str) -> None:
    cli.profile(["a"])
    run = cli("ask", "--tools", value, "q")
    assert run.code == 2, run
    assert needle in run.err and run.err.count("\n") == 1
    assert upstream.count() == 0 and store_rows(cli.state_dir) == []


# ------------------------------------------------------------------------------------ structured output


def test_schema_is_sent_as_response_format_and_the_answer_is_the_json_text(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"], endpoints=endpoints_with_tools(["a", "b"], {"b"}, extra=("response_format",)))
    upstream.script("b", ok('{"answer": 4}'))
    run = cli("ask", "--schema", json.dumps(SCHEMA), "2+2?")
    assert run.code == 0, run
    assert json.loads(run.out) == {"answer": 4}
    assert upstream.call_order() == ["b"]  # response_format counts: a lacks it and is rejected
    sent = upstream.requests("b")[0].body
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {"name": "response", "schema": SCHEMA}}


def test_a_schema_that_is_not_an_object_is_a_usage_error(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a"])
    run = cli("ask", "--schema", "[1, 2]", "q")
    assert run.code == 2 and "--schema: expected a JSON Schema object" in run.err, run
    assert upstream.count() == 0


# -------------------------------------------------------------------------------------------- reasoning


@pytest.mark.parametrize("key", ["reasoning", "reasoning_content"])
def test_reasoning_longer_than_first_token_is_liveness_not_a_failure(cli: Cli, upstream: Upstream, key: str) -> None:
    cli.profile(["a", "b"], timeouts={"first_token": 0.5, "idle": 0.5})
    upstream.script("a", reasoning("The answer is 4.", duration=1.5, key=key))
    run = cli("ask", "-v", "2+2?")
    assert run.code == 0, run
    assert run.out == "The answer is 4."  # reasoning never reaches stdout
    assert "Let me think" not in run.err  # nor stderr without --reasoning
    assert upstream.call_order() == ["a"]
    assert counted_failures(cli, "a") == 0


def test_reasoning_flag_streams_it_to_stderr_and_json_carries_it(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a"])
    upstream.script("a", reasoning("Four.", duration=0.3, interval=0.1))
    run = cli("ask", "--reasoning", "-o", "reasoning_effort=high", "-v", "2+2?")
    assert run.code == 0, run
    assert run.out == "Four."
    assert run.err.count("Let me think.") >= 3
    assert upstream.requests("a")[0].body["reasoning_effort"] == "high"
    thinking = [line for line in run.err.splitlines() if "Let me think." in line]
    assert len(thinking) == 1 and thinking[0].startswith("Let me think.")  # its own line, closed before notes
    doc = cli("ask", "--json", "2+2?").json()
    assert doc["content"] == "Four." and doc["reasoning"].startswith("Let me think. Let me think.")
    buffered = cli("ask", "--no-stream", "--reasoning", "2+2?")
    assert buffered.out == "Four." and "Let me think." in buffered.err


def test_reasoning_only_is_not_an_answer_and_fails_over(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"])
    upstream.script("a", reasoning(None, duration=0.2))
    doc = cli("ask", "--json", "q").json()
    assert summary(doc) == [("a", "failed", "provider", None), ("b", "success", None, 200)]
    assert "without any content" in doc["attempts"][0]["error"]


# --------------------------------------------------------------------------------------- compression


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
@pytest.mark.parametrize("mode", [(), ("--no-stream",), ("--json",)])
def test_compressed_answers_are_decoded(cli: Cli, upstream: Upstream, encoding: str, mode) -> None:
    cli.profile(["a", "b"])
    upstream.script("a", compressed(ok("Hello compressed world"), encoding))
    run = cli("ask", *mode, "hi")
    assert run.code == 0, run
    content = run.json()["content"] if mode == ("--json",) else run.out
    assert content == "Hello compressed world"
    assert upstream.call_order() == ["a"]
    assert upstream.requests("a")[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("mode", [(), ("--no-stream",)])
def test_a_compressed_context_length_error_falls_back_to_the_next_model(cli: Cli, upstream: Upstream, mode) -> None:
    cli.profile(["a"], models=(MODEL, MODEL_B))
    upstream.script("a", compressed(context_length_400(), "gzip"), ok("from model b"))
    run = cli("ask", "-m", MODEL, "-m", MODEL_B, "-v", *mode, "hi")
    assert run.code == 0, run
    assert run.out == "from model b"
    assert "maximum context length is 8192 tokens" in run.err  # the decoded message, not binary garbage
    assert "\ufffd" not in run.err


@pytest.mark.parametrize("mode", [(), ("--no-stream",)])
def test_a_context_length_error_labelled_gzip_but_sent_plain_still_falls_back_to_the_next_model(
    cli: Cli, upstream: Upstream, mode
) -> None:
    """Proxies label plain error pages `gzip`: the words are read as they came, so the error keeps its class."""
    import dataclasses

    cli.profile(["a"], models=(MODEL, MODEL_B))
    mislabelled = dataclasses.replace(context_length_400(), headers={"Content-Encoding": "gzip"})
    upstream.script("a", mislabelled, ok("from model b"))
    run = cli("ask", "-m", MODEL, "-m", MODEL_B, "-v", "--json", *mode, "hi")
    assert run.code == 0 and run.json()["content"] == "from model b", run
    first = run.json()["attempts"][0]
    assert (first["model"], first["error_class"], first["status"]) == (MODEL, "model", 400), first
    assert "maximum context length is 8192 tokens" in first["error"]


def test_a_body_that_does_not_decompress_is_a_provider_failure(cli: Cli, upstream: Upstream) -> None:
    from upstream import status

    cli.profile(["a", "b"])
    upstream.script("a", status(200, b"not gzip at all", {"Content-Encoding": "gzip"}))
    doc = cli("ask", "--json", "--no-stream", "hi").json()
    assert summary(doc) == [("a", "failed", "provider", None), ("b", "success", None, 200)]
    assert "gzip" in doc["attempts"][0]["error"]


# ------------------------------------------------------------------------------------- oversized bodies

MIB = 1024 * 1024


def peak_rss_run(cli: Cli, *args: str) -> tuple[int, int]:
    """Run orcli in a child that reports its own peak RSS (KiB on Linux) on its last stderr line.

    VmHWM of /proc/self/status, not getrusage's ru_maxrss: Linux carries ru_maxrss over exec from the forking
    parent, so a child of a large pytest process would report pytest's size, not its own.
    """
    code = (
        "import atexit, re, runpy, sys\n"
        "hwm = lambda: re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "atexit.register(lambda: sys.stderr.write(f'\\nPEAK_RSS_KB {hwm()}\\n'))\n"
        f"sys.argv = ['orcli', *{list(cli.argv(*args)[3:])!r}]\n"
        "runpy.run_module('orcli', run_name='__main__')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, env=cli.env, timeout=60, stdin=subprocess.DEVNULL
    )
    err = proc.stderr.decode()
    peak = int(err.rsplit("PEAK_RSS_KB ", 1)[1].split()[0])
    return proc.returncode, peak


@pytest.mark.parametrize(
    ("behaviour", "mode"),
    [
        (lambda: oversized(200 * MIB), ("--no-stream",)),
        (lambda: oversized(200 * MIB), ()),
        (lambda: compressed(oversized(200 * MIB), "gzip"), ("--no-stream",)),  # 200 MiB from ~200 KiB
    ],
    ids=["whole", "stream", "gzip-bomb"],
)
def test_an_oversized_answer_is_a_provider_failure_read_with_bounded_memory(
    cli: Cli, upstream: Upstream, behaviour, mode
) -> None:
    cli.profile(["a", "b"])
    upstream.script("a", behaviour())
    code, peak_kib = peak_rss_run(cli, "ask", "--json", *mode, "hi")
    assert code == 0
    rows = store_rows(cli.state_dir)
    assert [(r["provider"], r["ok"], r["error_class"]) for r in rows] == [("a", 0, "provider"), ("b", 1, None)]
    assert "response too large" in rows[0]["error"]
    # The 200 MiB body is abandoned past 32 MiB: orcli read a little more than the cap, no more, and its
    # peak memory stays far below the body's size (the cap's buffer plus the interpreter).
    sent = upstream.sent_bytes("a")
    assert sent < 48 * MIB, sent
    assert peak_kib < 160 * 1024, peak_kib


# ------------------------------------------------------------------------------ content_filter after text


def test_content_filter_after_streamed_text_keeps_the_partial_answer_exits_1_and_spares_the_provider(
    cli: Cli, upstream: Upstream
) -> None:
    cli.profile(["a", "b"], models=(MODEL, MODEL_B))
    upstream.script("a", content_filter_after_text("Once upon a time "))
    run = cli("ask", "-m", MODEL, "-m", MODEL_B, "hi")
    assert run.code == 1, run
    assert run.out == "Once upon a time "
    assert "content filter stopped the answer after part of it was written" in run.err
    assert upstream.call_order() == ["a"]
    rows = store_rows(cli.state_dir)
    assert [(r["provider"], r["ok"], r["error_class"]) for r in rows] == [("a", 0, "model")]
    assert counted_failures(cli, "a") == 0


@pytest.mark.parametrize("mode", [("--json",), ("--no-stream",)])
def test_content_filter_after_text_buffered_falls_back_to_the_next_model(cli: Cli, upstream: Upstream, mode) -> None:
    cli.profile(["a"], models=(MODEL, MODEL_B))
    upstream.script("a", content_filter_after_text(), ok("clean answer"))
    run = cli("ask", "-m", MODEL, "-m", MODEL_B, *mode, "hi")
    assert run.code == 0, run
    content = run.json()["content"] if mode == ("--json",) else run.out
    assert content == "clean answer"
    assert [(r["model"], r["error_class"]) for r in store_rows(cli.state_dir)] == [(MODEL, "model"), (MODEL_B, None)]


# ------------------------------------------------------------------------------------- reserved options


@pytest.mark.parametrize("option", ["stream=false", "model=gpt-4o", 'messages=[{"role":"user"}]', "stream_options={}"])
@pytest.mark.parametrize("command", ["ask", "explain-route"])
def test_reserved_options_are_usage_errors_before_any_attempt(
    cli: Cli, upstream: Upstream, option: str, command: str
) -> None:
    cli.profile(["a"])
    run = cli(command, "-o", option, "hi")
    assert run.code == 2, run
    assert "is set by orcli" in run.err
    assert upstream.count() == 0
    assert store_rows(cli.state_dir) == []


# ------------------------------------------------------------------------------ the user's own --timeout


def test_the_users_timeout_is_cancelled_and_never_counts_against_the_provider(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"], timeouts={"first_token": 5, "idle": 5, "total": 20})
    upstream.script("a", ok(chunks=["slow ", "but ", "healthy"], chunk_delay=1.0))
    for _ in range(3):
        run = cli("ask", "--timeout", "0.6", "hi")
        assert run.code == 1, run
        assert "--timeout of 0.6s reached" in run.err
    assert upstream.call_order() == ["a", "a", "a"]  # never in cooldown, never failed over
    rows = store_rows(cli.state_dir)
    assert [(r["provider"], r["error_class"]) for r in rows] == [("a", "cancelled")] * 3
    health = [e for e in cli("health", "--json").json()["endpoints"] if e["provider"] == "a"][0]
    assert health["state"] == "healthy" and health["failures"] == 0


def test_a_timeout_before_content_is_cancelled_too(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a", "b"], timeouts={"first_token": 5, "idle": 5, "total": 20})
    upstream.script("a", slow_first_token(3.0))
    doc = cli("ask", "--json", "--timeout", "0.5", "hi").json()
    assert doc["error"]["exit_code"] == 1 and "--timeout" in doc["error"]["message"]
    assert [(a["provider"], a["outcome"], a["error_class"]) for a in doc["attempts"]] == [
        ("a", "cancelled", "cancelled")
    ]


# -------------------------------------------------------------------------------------- smaller things


def test_verbose_numbers_attempts_consecutively_after_a_model_skip(cli: Cli, upstream: Upstream) -> None:
    """Plan ranks would read 1, 4, 5, 6: model A's other two providers are skipped after its context error."""
    cli.profile(["a", "b", "c"], models=(MODEL, MODEL_B))
    upstream.script("a", context_length_400(), server_error(500))
    upstream.script("b", server_error(500))
    run = cli("ask", "-m", MODEL, "-m", MODEL_B, "-v", "hi")
    assert run.code == 0, run
    assert run.out == "Hello from c"
    starts = [line.split(":")[0] for line in run.err.splitlines() if line.startswith("-> attempt")]
    assert starts == ["-> attempt 1", "-> attempt 2", "-> attempt 3", "-> attempt 4"]


def test_one_failed_attempt_is_not_all_1_attempts(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a"])
    upstream.script("a", server_error(500))
    run = cli("ask", "hi")
    assert run.code == 1
    assert "the only attempt failed" in run.err and "all 1 attempts" not in run.err
    explain = cli("explain-route", "hi")
    assert "~1 token (estimated)" in explain.out, explain


def test_a_number_option_is_sent_as_written(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a"])
    assert cli("ask", "-o", "user=1e3", "-o", "temperature=0.50", "hi").code == 0
    raw = upstream.requests("a")[0].raw
    assert b'"user":1e3' in raw and b'"temperature":0.50' in raw


def test_groq_usage_in_x_groq_gives_the_cost(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a"])
    upstream.script("a", groq_usage("Hello from groq"))
    doc = cli("ask", "--json", "hi").json()
    assert doc["usage"]["prompt_tokens"] == 11 and doc["usage"]["completion_tokens"] == 3
    assert doc["cost_usd"] == pytest.approx((11 + 3) * 1.0 / 1e6)


def test_successful_attempts_store_status_200(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a"])
    assert cli("ask", "hi").code == 0
    assert [(r["ok"], r["status"]) for r in store_rows(cli.state_dir)] == [(1, 200)]


def test_one_rejected_candidate_reads_as_one(cli: Cli, upstream: Upstream) -> None:
    cli.profile(["a"], keys=[])  # no key: the one endpoint is rejected (no_credentials)
    run = cli("ask", "hi")
    assert run.code == 3, run
    assert "no route: the only candidate endpoint was rejected before any attempt" in run.err
