"""Hardening, input sizes and encodings: a 10 MB prompt on stdin, stdin that is not UTF-8, empty prompts.

A prompt too large for an endpoint rejects that endpoint before any request (code `context_length`, with the
estimate shown); when nothing fits, explain-route and ask exit 3 and the upstream hears nothing. One that
fits goes through whole. Bytes that are not UTF-8, on stdin or on the command line, and empty prompts are
usage errors (exit 2) with a clear message, never a request.
"""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path

from cli_harness import MODEL, Cli, run_all, store_rows
from upstream import Upstream

MIB = 1024 * 1024
BIG = ("0123456789abcdef" * (10 * MIB // 16))[: 10 * MIB - 5] + "\nend\n"  # exactly 10 MiB of text
BIG_TOKENS = 10 * MIB // 4  # the documented estimate: 4 characters per token
NOT_UTF8 = b"caf\xe9 au lait\n"  # latin-1


def _endpoints(contexts: dict[str, int]) -> list[dict[str, object]]:
    return [
        {"model": MODEL, "provider": name, "price": {"prompt": 1.0, "completion": 1.0}, "context_length": context}
        for name, context in contexts.items()
    ]


def test_a_10_mb_prompt_is_rejected_where_it_cannot_fit_with_the_estimate_shown(
    upstream: Upstream, tmp_path: Path
) -> None:
    small = Cli(upstream, tmp_path / "small")
    small.profile(["a", "b"], endpoints=_endpoints({"a": 8192, "b": 128_000}))
    big = Cli(upstream, tmp_path / "big")
    big.profile(["small", "large"], endpoints=_endpoints({"small": 8192, "large": 4 * MIB}))
    runs = run_all(
        {
            "explain_json": partial(small, "explain-route", "--json", stdin=BIG),
            "explain": partial(small, "explain-route", stdin=BIG),
            "ask": partial(small, "ask", stdin=BIG),
            "ask_json": partial(small, "ask", "--json", "-", stdin=BIG),
            "fits": partial(big, "ask", "--json", stdin=BIG),
        }
    )
    doc = runs["explain_json"].json()
    assert runs["explain_json"].code == 3, runs["explain_json"]
    assert doc["request"]["prompt_tokens"] == BIG_TOKENS
    assert doc["attempts"] == []
    assert {r["provider"]: r["code"] for r in doc["rejected"]} == {"a": "context_length", "b": "context_length"}
    for rejection in doc["rejected"]:
        assert f"{BIG_TOKENS:,}" in rejection["detail"], rejection  # the estimate, not just "too long"
    assert runs["explain"].code == 3 and f"{BIG_TOKENS:,}" in runs["explain"].out, runs["explain"]
    for name in ("ask", "ask_json"):
        assert runs[name].code == 3, runs[name]
        assert "context_length" in runs[name].err, runs[name]
    assert {r["code"] for r in runs["ask_json"].json()["rejected"]} == {"context_length"}
    assert upstream.count("a") == upstream.count("b") == 0

    fits = runs["fits"]
    assert fits.code == 0, fits
    assert fits.json()["provider"] == "large"
    assert [r["code"] for r in fits.json()["rejected"]] == ["context_length"]
    sent = upstream.requests("large")[0].body["messages"][-1]["content"]
    assert len(sent) == len(BIG) and hashlib.sha256(sent.encode()).digest() == hashlib.sha256(BIG.encode()).digest()
    assert upstream.count("small") == 0


def test_stdin_or_arguments_that_are_not_utf8_are_usage_errors(upstream: Upstream, tmp_path: Path) -> None:
    cli = Cli(upstream, tmp_path)
    cli.profile(["a"])
    runs = run_all(
        {
            "ask": partial(cli, "ask", stdin=NOT_UTF8),
            "ask_dash_json": partial(cli, "ask", "--json", "-", stdin=NOT_UTF8),
            "ask_with_argument": partial(cli, "ask", "and a question", stdin=NOT_UTF8),
            "explain": partial(cli, "explain-route", stdin=NOT_UTF8),
            "binary": partial(cli, "ask", stdin=b"\x00\xff\xfe\x80" * 64),
            "argument": partial(cli, "ask", b"caf\xe9"),  # bytes on the command line that are not UTF-8
            "system": partial(cli, "ask", "-s", b"be \xff brief", "hi"),
        }
    )
    for name in ("ask", "ask_dash_json", "ask_with_argument", "explain", "binary"):
        run = runs[name]
        assert run.code == 2, run
        assert "not UTF-8" in run.err and "offset" in run.err, run
    assert runs["ask_dash_json"].json()["error"]["kind"] == "usage"
    for name in ("argument", "system"):
        run = runs[name]
        assert run.code in (1, 2), run
        assert "not valid UTF-8" in run.err, run
    assert runs["argument"].code == 2, runs["argument"]  # the prompt itself: a usage error
    assert upstream.count() == 0
    rows = [row for run in runs.values() for row in store_rows(run.state_dir)]  # each run had its own store
    assert all(r["error_class"] in (None, "request") for r in rows), rows  # no provider blamed for our bytes


def test_empty_prompts_are_usage_errors(upstream: Upstream, tmp_path: Path) -> None:
    cli = Cli(upstream, tmp_path)
    cli.profile(["a"])
    cases = {
        "no_stdin_no_argument": ("ask",),
        "empty_stdin": ("ask",),
        "blank_stdin": ("ask",),
        "empty_argument": ("ask", ""),
        "blank_argument": ("ask", "  \n\t"),
        "dash_empty": ("ask", "-"),
        "no_stdin_flag": ("ask", "--no-stdin"),
        "json": ("ask", "--json"),
    }
    stdins: dict[str, str | None] = {
        "no_stdin_no_argument": None,
        "empty_stdin": "",
        "blank_stdin": " \n\n\t\n",
        "dash_empty": "",
        "no_stdin_flag": "ignored",
        "json": "",
    }
    runs = run_all({name: partial(cli, *args, stdin=stdins.get(name, "")) for name, args in cases.items()})
    for name, run in runs.items():
        assert run.code == 2, (name, run)
        assert "no prompt" in run.err, (name, run)
        assert run.out == "" or name == "json", (name, run)
    assert runs["json"].json()["error"]["kind"] == "usage"
    assert upstream.count() == 0


def test_an_absurd_max_tokens_is_a_usage_error(upstream: Upstream, tmp_path: Path) -> None:
    cli = Cli(upstream, tmp_path)
    cli.profile(["a"])
    huge = "1" + "0" * 400
    runs = run_all(
        {
            "flag": partial(cli, "explain-route", "--max-tokens", huge, check=False),
            "option": partial(cli, "explain-route", "-o", f"max_tokens={huge}", check=False),
        }
    )
    for run in runs.values():
        assert run.code == 2 and "internal error" not in run.err, run
