"""The spinner of `ask` while it waits for the first token: seen in a real terminal (tmux), gone once the
answer starts, moved to the next route on failover, and never drawn into a pipe, with -q or TERM=dumb."""

from __future__ import annotations

import io
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from cli_harness import MODEL, Cli
from tmux_pane import Pane, require_tmux
from upstream import Upstream, server_error, slow_first_token

from orcli.ui.progress import CLEAR, Spinner, following_attempts, stop_once

DELAY = 2.5  # seconds the fake upstream waits before its first token


@pytest.fixture
def cli(upstream: Upstream, tmp_path: Path) -> Cli:
    require_tmux()
    runner = Cli(upstream, tmp_path)
    runner.profile(["a", "b"])
    return runner


def _spinning(text: str) -> bool:
    return "waiting for the first token" in text


def _waited(text: str) -> float:
    """The elapsed seconds the spinner shows (0 when none is shown)."""
    found = re.findall(r"waiting for the first token\W+(\d+\.\d)s", text)
    return float(found[-1]) if found else 0.0


def test_spinner_names_route_attempt_and_time_then_disappears_when_the_answer_starts(
    cli: Cli, upstream: Upstream, tmp_path: Path
) -> None:
    upstream.script("a", slow_first_token(DELAY, "the answer arrived"))
    with Pane(120, 40, tmp_path) as pane:
        pane.run(cli.argv("ask", "--no-stdin", "-m", MODEL, "hi"), cli.env)
        waiting = pane.wait_for(_spinning, timeout=15)
        line = next(ln for ln in waiting.splitlines() if _spinning(ln))
        assert f"attempt 1 of 2: {MODEL} via a" in line, line
        pane.wait_for(lambda t: _waited(t) >= 1.0)  # the elapsed time moves while it waits
        text = pane.wait_done()
    assert pane.code == 0, text
    assert "the answer arrived" in text
    assert not _spinning(text), f"the spinner line was left behind:\n{text}"
    assert text.splitlines()[-1] == "the answer arrived"  # the answer starts at column 0 of a clean line


def test_spinner_moves_to_the_next_route_on_failover(cli: Cli, upstream: Upstream, tmp_path: Path) -> None:
    upstream.script("a", server_error(500))
    upstream.script("b", slow_first_token(DELAY, "served by b"))
    with Pane(120, 40, tmp_path) as pane:
        pane.run(cli.argv("ask", "--no-stdin", "-m", MODEL, "hi"), cli.env)
        waiting = pane.wait_for(lambda t: "via b" in t, timeout=15)
        line = next(ln for ln in waiting.splitlines() if _spinning(ln))
        assert f"attempt 2 of 2: {MODEL} via b (after 1 failure)" in line, line
        text = pane.wait_done()
    assert pane.code == 0 and "served by b" in text and not _spinning(text), text


def test_ctrl_c_while_waiting_erases_the_spinner(cli: Cli, upstream: Upstream, tmp_path: Path) -> None:
    upstream.script("a", slow_first_token(20.0))
    with Pane(120, 40, tmp_path) as pane:
        pane.run(cli.argv("ask", "--no-stdin", "-m", MODEL, "hi"), cli.env)
        pane.wait_for(_spinning, timeout=15)
        pane.send_keys("C-c")
        text = pane.wait_done()
    assert pane.code == 130, text
    assert "orcli: interrupted" in text and not _spinning(text), text


def test_verbose_notes_and_the_spinner_share_the_screen_cleanly(cli: Cli, upstream: Upstream, tmp_path: Path) -> None:
    upstream.script("a", slow_first_token(1.0, "fine"))
    with Pane(120, 40, tmp_path) as pane:
        pane.run(cli.argv("ask", "--no-stdin", "-v", "-m", MODEL, "hi"), cli.env)
        text = pane.wait_done()
    lines = text.splitlines()
    assert any(ln.startswith("-> attempt 1: ") for ln in lines), text  # the note starts its own line
    assert "fine" in lines and not _spinning(text), text


@pytest.mark.parametrize(
    ("extra", "env"),
    [(("-q",), {}), (("--json",), {}), ((), {"TERM": "dumb"})],
    ids=["quiet", "json", "term-dumb"],
)
def test_no_spinner_with_quiet_json_or_a_dumb_terminal(
    cli: Cli, upstream: Upstream, tmp_path: Path, extra: tuple[str, ...], env: dict[str, str]
) -> None:
    upstream.script("a", slow_first_token(1.5, "quiet answer"))
    with Pane(120, 40, tmp_path) as pane:
        argv = cli.argv("ask", "--no-stdin", *extra, "-m", MODEL, "hi")
        if env:
            argv = ["env", *(f"{k}={v}" for k, v in env.items()), *argv]
        pane.run(argv, cli.env)
        seen = []
        while True:  # watch the whole wait, not only the end
            text = pane.capture()
            seen.append(text)
            if "__ORCLI_PANE_DONE__" in text:
                break
        text = pane.wait_done()
    assert pane.code == 0 and "quiet answer" in text, text
    assert not any(_spinning(t) for t in seen), "a spinner was drawn"


def test_no_spinner_bytes_in_a_pipe(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", slow_first_token(1.0, "piped answer"))
    run = cli("ask", "--no-stdin", "-m", MODEL, "hi")
    assert run.code == 0 and run.out == "piped answer", run
    assert run.err == "" and "\r" not in run.out and "\x1b" not in run.out + run.err, run


def test_no_stream_spins_until_the_whole_answer_arrives(cli: Cli, upstream: Upstream, tmp_path: Path) -> None:
    upstream.script("a", slow_first_token(DELAY, "all at once"))
    with Pane(120, 40, tmp_path) as pane:
        pane.run(cli.argv("ask", "--no-stdin", "--no-stream", "-m", MODEL, "hi"), cli.env)
        pane.wait_for(_spinning, timeout=15)
        text = pane.wait_done()
    assert pane.code == 0 and text.splitlines()[-1] == "all at once" and not _spinning(text), text


def test_health_probe_shows_progress_on_a_terminal_only(cli: Cli, upstream: Upstream, tmp_path: Path) -> None:
    upstream.script("a", slow_first_token(DELAY))
    with Pane(120, 40, tmp_path) as pane:
        pane.run(cli.argv("health", "--probe"), cli.env)
        pane.wait_for(lambda t: "probing 2 endpoints" in t, timeout=15)
        text = pane.wait_done()
    assert pane.code == 0, text
    assert "probing" not in text, "the bar is erased when done"
    assert "Endpoint health" in text and "probed 2 endpoints: 2 ok, 0 failed" in text
    upstream.script("a", slow_first_token(0.5))
    piped = cli("health", "--probe")
    assert piped.code == 0 and "probing" not in piped.err and "\x1b" not in piped.out + piped.err, piped


# -- the spinner's parts, without a terminal ----------------------------------------------------------
class _Stream(io.StringIO):
    encoding = "utf-8"


def _event(kind: str, rank: int, provider: str) -> SimpleNamespace:
    endpoint = SimpleNamespace(model=MODEL, provider=provider)
    return SimpleNamespace(kind=kind, attempt=SimpleNamespace(rank=rank, endpoint=endpoint), detail="")


def test_the_first_chunk_erases_the_spinner_once_and_every_chunk_is_written() -> None:
    stream, answer = _Stream(), []
    spinner = Spinner(stream)
    before_write = stop_once(spinner)

    def sink(chunk: str) -> None:
        before_write()
        answer.append(chunk)

    spinner.show("attempt 1 of 1: m via p, waiting for the first token")
    drawn = stream.getvalue()
    assert drawn.startswith(CLEAR) and "attempt 1 of 1" in drawn
    sink("one ")
    sink("two")
    assert answer == ["one ", "two"] and spinner.stopped
    assert stream.getvalue() == drawn + CLEAR  # erased exactly once, nothing drawn after
    spinner.show("too late")
    assert stream.getvalue() == drawn + CLEAR


def test_events_move_the_spinner_and_notes_are_written_on_an_erased_line() -> None:
    stream = _Stream()
    spinner = Spinner(stream)
    notes: list[str] = []

    def note(event: object) -> None:
        notes.append(stream.getvalue()[-len(CLEAR) :])  # what the line was left as when the note was written

    on_event = following_attempts(spinner, 2, note)
    on_event(_event("start", 1, "a"))
    assert "attempt 1 of 2: test/model-a via a, waiting" in stream.getvalue()
    on_event(_event("failed", 1, "a"))
    assert "attempt 1 of 2 failed; moving to the next route" in stream.getvalue()
    on_event(_event("start", 2, "b"))
    assert "attempt 2 of 2: test/model-a via b (after 1 failure)" in stream.getvalue()
    on_event(_event("served", 2, "b"))
    assert spinner.stopped and stream.getvalue().endswith(CLEAR)
    assert notes[1:] == [CLEAR, CLEAR, CLEAR]  # every note after the first drawing found the line erased
    spinner.stop()


def test_control_characters_in_a_name_are_not_sent_to_the_terminal() -> None:
    stream = _Stream()
    spinner = Spinner(stream)
    spinner.show("attempt 1 of 1: evil\x1b]0;title\x07\rmodel via p")
    spinner.stop()
    drawn = stream.getvalue().replace(CLEAR, "")
    assert "\x1b" not in drawn and "\r" not in drawn and "\x07" not in drawn and "evil?]0;title??model" in drawn


def test_plain_frames_when_the_stream_is_not_utf8() -> None:
    stream = _Stream()
    stream.encoding = "ascii"  # type: ignore[misc]
    spinner = Spinner(stream)
    spinner.show("waiting")
    spinner.stop()
    assert stream.getvalue().encode("ascii")  # nothing outside ASCII
