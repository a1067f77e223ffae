"""Hardening, outputs: a stdout or stderr that cannot be written (docs/failures.md#exit-codes).

stdout on a full disk (/dev/full) or closed: exit 1 and one clean line on stderr, never "Exception ignored"
or exit 120, for every command. A closed or full stderr never changes the result: notes are best effort, the
answer still arrives, exit codes stay what they would be. (`| head`, a reader that goes away, stays exit 0
and quiet: tests/test_hardening_signals.py.)
"""

from __future__ import annotations

import os
import shlex
import subprocess
from functools import partial
from pathlib import Path

import pytest
from cli_harness import RUN_TIMEOUT, Cli, Run, run_all
from upstream import Upstream, ok, server_error

FULL = "/dev/full"
ONE_LINE = "orcli: error: cannot write to standard output: No space left on device\n"

needs_dev_full = pytest.mark.skipif(not os.path.exists(FULL), reason="this system has no /dev/full to fill stdout")


def _shell(cli: Cli, args: tuple[str, ...], redirects: str) -> Run:
    """orcli with shell redirections (`>/dev/full`, `2>&-`): what a user's shell does to its streams."""
    command = f"exec {shlex.join(str(a) for a in cli.argv(*args))} {redirects}"
    proc = subprocess.run(
        ["sh", "-c", command], capture_output=True, env=cli.env, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL
    )
    run = Run(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
        0.0,
        (*args, redirects),
    )
    cli.check_hygiene(run)
    return run


@needs_dev_full
def test_stdout_on_a_full_disk_is_exit_1_with_one_clean_line_for_every_command(
    upstream: Upstream, tmp_path: Path
) -> None:
    cli = Cli(upstream, tmp_path)
    cli.profile(["a", "b"])
    commands = {
        "ask": ("ask", "hi"),
        "ask_no_stream": ("ask", "--no-stream", "hi"),
        "ask_json": ("ask", "--json", "hi"),
        "explain": ("explain-route",),
        "explain_json": ("explain-route", "--json"),
        "providers": ("providers",),
        "health_json": ("health", "--json"),
    }
    runs = run_all({name: partial(_shell, cli, argv, f">{FULL}") for name, argv in commands.items()})
    for name, run in runs.items():
        assert (run.code, run.err) == (1, ONE_LINE), (name, run)
    # The answer went nowhere, but provider `a` served it: no failover to `b` for a local problem.
    assert upstream.call_order() == ["a", "a", "a"]
    # A failed command whose --json document cannot be written still says why, with its own exit code.
    upstream.script("a", server_error(500))
    upstream.script("b", server_error(500))
    failed = _shell(cli, ("ask", "--json", "hi"), f">{FULL}")
    assert failed.code == 1 and failed.err.startswith("orcli: error: all 2 attempts failed"), failed
    assert "Exception ignored" not in failed.err and failed.err.count("orcli: error:") == 1, failed


def test_a_closed_stdout_is_exit_1_with_one_clean_line(upstream: Upstream, tmp_path: Path) -> None:
    cli = Cli(upstream, tmp_path)
    cli.profile(["a"])
    run = _shell(cli, ("ask", "hi"), ">&-")
    assert (run.code, run.err) == (1, "orcli: error: cannot write to standard output: standard output is closed\n")


def test_a_closed_or_full_stderr_never_changes_the_result(upstream: Upstream, tmp_path: Path) -> None:
    """-v writes notes before the first request: with stderr closed they are dropped, the request still goes out
    and the answer arrives; failures keep their exit codes."""
    cli = Cli(upstream, tmp_path)
    cli.profile(["a", "b", "down"])
    upstream.script("a", server_error(500))
    upstream.script("b", ok("answer despite stderr"))
    upstream.script("down", server_error(500))
    full_stderr = [f"2>{FULL}"] if os.path.exists(FULL) else []
    jobs = {}
    for redirect in ["2>&-", *full_stderr]:
        jobs[(redirect, "verbose")] = partial(_shell, cli, ("ask", "-v", "hi"), redirect)
        jobs[(redirect, "json")] = partial(_shell, cli, ("ask", "--json", "-v", "hi"), redirect)
        jobs[(redirect, "failed")] = partial(_shell, cli, ("ask", "-v", "--only", "a,down", "hi"), redirect)
        jobs[(redirect, "no_route")] = partial(_shell, cli, ("ask", "--only", "nobody", "hi"), redirect)
        jobs[(redirect, "usage")] = partial(_shell, cli, ("ask", "-o", "temperature=1e999", "hi"), redirect)
    runs = run_all(jobs)  # type: ignore[arg-type]
    for (redirect, name), run in runs.items():
        expected = {"verbose": 0, "json": 0, "failed": 1, "no_route": 3, "usage": 2}[name]
        assert run.code == expected, (redirect, name, run)
        assert run.err == "", run
    for redirect in ["2>&-", *full_stderr]:
        assert runs[(redirect, "verbose")].out == "answer despite stderr"
        assert runs[(redirect, "json")].json()["content"] == "answer despite stderr"
        assert runs[(redirect, "failed")].out == ""


@needs_dev_full
def test_version_help_and_usage_errors_on_a_full_stdout_are_one_line_too(tmp_path: Path) -> None:
    """What runs before any command (--version, --help, a bad flag with --json) fails the same way."""
    cli = Cli(None, tmp_path)
    runs = run_all(
        {
            argv: partial(_shell, cli, argv, f">{FULL}")
            for argv in (("--version",), ("--help",), ("ask", "--help"), ("ask", "--bogus", "--json"))
        }
    )
    line = "orcli: error: cannot write the output: No space left on device\n"
    for argv, run in runs.items():
        assert run.code == 1 and "Exception ignored" not in run.err, run
        if "--bogus" in argv:  # the usage message went to stderr before the JSON document failed to flush
            assert run.err.startswith("Usage: ") and "No such option: --bogus" in run.err and run.err.endswith(line)
        else:
            assert run.err == line, run
