"""A one-line spinner on stderr while `ask` waits for the first token (issue 14; terminal only, docs/commands.md#common-options).

It names the route being tried, the attempt number and the time waited, redraws a few times a second from a
daemon thread, and erases its line before anything else is written: the answer's first chunk, a -v note,
an error. The command decides whether there is a terminal (`Output.live_progress`); nothing here is ever
drawn into a pipe, with -q, --json or TERM=dumb.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TypeVar

_T = TypeVar("_T")  # what the wrapped callable takes: a Delta, an Event

FRAMES_UTF = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
FRAMES_ASCII = "|/-\\"
TICK_S = 0.1
CLEAR = "\r\x1b[2K"  # back to column 0, erase the line


class Spinner:
    """`show(text)` starts or updates the line; `stop()` erases it for good; `paused()` around other writes."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        encoding = (getattr(stream, "encoding", None) or "").lower()
        self.frames = FRAMES_UTF if encoding.startswith("utf") else FRAMES_ASCII
        self.text = ""
        self.since = time.monotonic()
        self.drawn = False
        self.stopped = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def show(self, text: str) -> None:
        """Spin with `text`; the elapsed time restarts (it is the wait of this attempt)."""
        with self._lock:
            if self.stopped:
                return
            self.text = _printable(text)
            self.since = time.monotonic()
            self._draw()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="orcli-spinner", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Erase the line and end the thread; later `show` calls do nothing."""
        with self._lock:
            if self.stopped:
                return
            self.stopped = True
            self._erase()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(1.0)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Erase the line while the caller writes a whole line of its own; the next tick redraws below it."""
        with self._lock:
            self._erase()
            yield

    def _run(self) -> None:
        while not self._wake.wait(TICK_S):
            with self._lock:
                if self.stopped:
                    return
                self._draw()

    def _draw(self) -> None:
        elapsed = time.monotonic() - self.since
        frame = self.frames[int(elapsed / TICK_S) % len(self.frames)]
        line = (
            f"{frame} {self.text} · {elapsed:.1f}s"
            if self.frames is FRAMES_UTF
            else f"{frame} {self.text} {elapsed:.1f}s"
        )
        width = shutil.get_terminal_size((80, 24)).columns - 1  # a wrapped line could not be erased with \r
        if len(line) > width:
            line = line[: max(0, width - 1)] + ("…" if self.frames is FRAMES_UTF else "~")
        try:
            self.stream.write(CLEAR + line)
            self.stream.flush()
            self.drawn = True
        except (OSError, ValueError):
            self.stopped = True

    def _erase(self) -> None:
        if not self.drawn:
            return
        try:
            self.stream.write(CLEAR)
            self.stream.flush()
        except (OSError, ValueError):
            pass
        self.drawn = False


def attempt_text(rank: int, total: int, model: str, provider: str, failures: int = 0) -> str:
    """What the spinner says while one attempt waits for its first token."""
    after = f" (after {failures} failure{'s' if failures != 1 else ''})" if failures else ""
    return f"attempt {rank} of {total}: {model} via {provider}{after}, waiting for the first token"


def stop_once(spinner: Spinner) -> Callable[[], None]:
    """A call to make before every write of the answer: the first erases the spinner, later ones cost a flag
    test. Only the first touches the spinner: a later write may come while it is paused for a note."""
    state = {"waiting": True}

    def before_write() -> None:
        if state["waiting"]:
            state["waiting"] = False
            spinner.stop()

    return before_write


def following_attempts(spinner: Spinner, total: int, inner: Callable[[_T], None]) -> Callable[[_T], None]:
    """An executor `on_event` that moves the spinner to each attempt's route, then calls `inner` (the -v
    notes) with the spinner's line erased; a served attempt ends the spinner."""
    failures = 0

    def on_event(event: _T) -> None:
        nonlocal failures
        kind = getattr(event, "kind", "")
        kind = str(getattr(kind, "value", kind))  # a str, or an Enum whose values are these strings
        attempt = getattr(event, "attempt", None)
        with spinner.paused():
            inner(event)
        if kind == "start" and attempt is not None:
            e = attempt.endpoint
            spinner.show(attempt_text(attempt.rank, total, e.model, e.provider, failures))
        elif kind == "failed" and attempt is not None:
            failures += 1
            if attempt.rank < total:  # until the next attempt starts (a Retry-After wait, say)
                spinner.show(f"attempt {attempt.rank} of {total} failed; moving to the next route")
        elif kind == "served":
            spinner.stop()

    return on_event


def _printable(text: str) -> str:
    """Control characters (a name in a profile could hold one) as `?`: only the spinner moves the cursor."""
    return "".join("?" if ord(ch) < 32 or 127 <= ord(ch) < 160 else ch for ch in text)
