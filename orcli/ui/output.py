"""Where a command's words go, decided once: stdout for the answer or JSON, stderr for notes (docs/commands.md#common-options).

One object decides whether each stream is a terminal, whether colour is allowed (--no-color, NO_COLOR,
FORCE_COLOR, TERM=dumb) and the width tables get; it is built by the command wrapper and handed to whatever
prints. Rich is imported only when a terminal is drawn on.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Mapping
from typing import IO, Any

from orcli.errors import OrcliError
from orcli.neutralise import neutralise, neutralise_cell, neutralise_json

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 and C1 but tab and newline
DEFAULT_PIPE_WIDTH = 200  # a table in a pipe is one line per row; COLUMNS overrides


class StdoutUnwritable(Exception):
    """Standard output refused a write (a full disk, a closed descriptor): exit 1 with one line on stderr."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Stdout:
    """Standard output as every writer sees it: a failed write other than a broken pipe (`| head`, handled
    quietly by the command wrapper) becomes StdoutUnwritable, so that it is reported once, cleanly."""

    def __init__(self, stream: IO[str] | None) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        written: int = self._guarded(lambda s: s.write(text))
        return written

    def flush(self) -> None:
        self._guarded(lambda s: s.flush())

    def _guarded(self, op: Any) -> Any:
        if self._stream is None:
            raise StdoutUnwritable("standard output is closed")
        try:
            return op(self._stream)
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:  # ValueError: the stream object was closed
            raise StdoutUnwritable(getattr(exc, "strerror", None) or str(exc)) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Stderr:
    """Standard error for notes, warnings and error lines: best effort. A closed or failing stderr never
    changes what a command does or its exit code (docs/failures.md#exit-codes)."""

    def __init__(self, stream: IO[str] | None) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)  # type: ignore[union-attr]
        except (OSError, ValueError, AttributeError):
            silence(self._stream)
            return 0

    def flush(self) -> None:
        try:
            self._stream.flush()  # type: ignore[union-attr]
        except (OSError, ValueError, AttributeError):
            silence(self._stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def silence(stream: Any) -> None:
    """Point a failed stream's descriptor at /dev/null: what is still buffered in it then goes nowhere,
    quietly, at the interpreter's final flush (which would otherwise fail and exit 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    finally:
        os.close(devnull)


def to_stderr(text: str) -> None:
    """Write to the process's stderr, best effort (it may be closed or full)."""
    stream = _Stderr(sys.stderr)
    stream.write(text)
    stream.flush()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Output:
    """The streams, the terminal and colour decisions, and the writers every command uses."""

    def __init__(
        self,
        *,
        as_json: bool = False,
        quiet: bool = False,
        no_color: bool = False,
        debug: bool = False,
        env: Mapping[str, str] | None = None,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.as_json = as_json
        self.quiet = quiet
        self.debug = debug
        self.stdout: Any = _Stdout(stdout if stdout is not None else sys.stdout)
        self.stderr: Any = _Stderr(stderr if stderr is not None else sys.stderr)
        self.stderr_open = (stderr if stderr is not None else sys.stderr) is not None
        self.force_color = bool(env.get("FORCE_COLOR"))
        self.dumb = env.get("TERM") == "dumb"
        self.no_color = no_color or "NO_COLOR" in env or self.dumb
        self.stdout_tty = _isatty(self.stdout)
        self.stderr_tty = _isatty(self.stderr)
        columns = env.get("COLUMNS", "")
        self.pipe_width = int(columns) if columns.isdigit() and int(columns) > 0 else DEFAULT_PIPE_WIDTH
        self._consoles: dict[bool, Any] = {}
        self._tables_shown = 0

    # -- decisions ----------------------------------------------------------------------------------
    def styled(self, stderr: bool) -> bool:
        """Rich drawing (colour, boxes) only where a person looks: a terminal, or FORCE_COLOR."""
        if stderr and not self.stderr_open:
            return False  # no Rich console on a closed stderr (it would fall back to stdout)
        return self.force_color or (self.stderr_tty if stderr else self.stdout_tty)

    def colour(self, stderr: bool) -> bool:
        """Colour on a stream: drawn by Rich, and no --no-color, NO_COLOR or TERM=dumb."""
        return self.styled(stderr) and not self.no_color

    @property
    def live_progress(self) -> bool:
        """Spinners and progress bars: a terminal on stderr, not quiet, not JSON, not TERM=dumb."""
        return self.stderr_tty and not self.quiet and not self.as_json and not self.dumb

    def console(self, stderr: bool = False) -> Any:
        """A Rich Console for one stream, built on first use with this object's decisions."""
        if stderr not in self._consoles:
            from rich.console import Console

            stream = self.stderr if stderr else self.stdout
            tty = self.stderr_tty if stderr else self.stdout_tty
            self._consoles[stderr] = Console(
                file=stream,
                no_color=self.no_color,
                color_system=None if self.no_color or not (tty or self.force_color) else "auto",
                force_terminal=True if self.force_color and not self.no_color else None,
                width=None if tty else self.pipe_width,
                highlight=False,
                soft_wrap=False,
                emoji=False,
            )
        return self._consoles[stderr]

    @property
    def out(self) -> Any:
        return self.console(stderr=False)

    @property
    def err(self) -> Any:
        return self.console(stderr=True)

    # -- writers ------------------------------------------------------------------------------------
    # Every writer but the answer's neutralises control characters (docs/security.md): notes, errors and tables carry
    # text that came from the network (upstream messages, model names, health rows).
    def note(self, text: str, style: str = "dim") -> None:
        if self.quiet:
            return
        text = neutralise(text)
        if self.styled(stderr=True):
            with contextlib.suppress(OSError, ValueError):
                self.err.print(text, style=style, markup=False, highlight=False)
        else:
            self.stderr.write(text + "\n")
            self.stderr.flush()

    def reasoning(self, text: str) -> None:
        """The model's reasoning (--reasoning) on stderr as it streams: no newline added, dim on a terminal,
        control characters neutralised (it is text from the network, docs/security.md); shown even with --quiet,
        since it was asked for."""
        text = _CONTROL.sub("\ufffd", text)
        if self.colour(stderr=True):
            text = f"\x1b[2m{text}\x1b[22m"
        self.stderr.write(text)
        self.stderr.flush()

    def warn(self, text: str) -> None:
        self.note(f"warning: {text}", style="yellow")

    def paragraph(self, text: str) -> None:
        """Text on stdout. On a terminal each long line is wrapped at spaces, continuing indented, so a word, a
        name, a URL or a path is never broken by the terminal; in a pipe every line stays whole (greppable)."""
        text = neutralise(text)
        if self.stdout_tty:
            import shutil
            import textwrap

            wrapper = textwrap.TextWrapper(
                shutil.get_terminal_size().columns,
                subsequent_indent="  ",
                break_long_words=False,
                break_on_hyphens=False,
            )
            text = "\n".join("\n".join(wrapper.wrap(line) or [""]) for line in text.splitlines())
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def table(self, table: Any, wide: bool = False) -> None:
        """A table on stdout, laid out to fit (orcli.ui.tables): styled on a terminal, plain text in pipes.

        `wide`: every column at full length. A dim note on stderr names the columns a narrow width hid.
        """
        from orcli.ui.tables import layout

        table = neutral_table(table)
        if self._tables_shown:  # a blank line between the tables of one command
            self.stdout.write("\n")
        self._tables_shown += 1
        if self.styled(stderr=False):
            from rich.text import Text

            console = self.out
            laid = layout(table, None if wide else console.width, terminal=True)
            for line in laid.lines:
                console.print(Text.assemble(*line.parts), soft_wrap=True)
        else:
            laid = layout(table, None if wide else self.pipe_width, terminal=False)
            self.stdout.write("".join(line.text + "\n" for line in laid.lines))
            self.stdout.flush()
        if laid.hidden:
            text = f"hidden: {', '.join(laid.hidden)} (--wide or --json shows all)"
            if self.stderr_tty:  # wrapped at a word, never by the terminal inside one
                import shutil
                import textwrap

                text = "\n".join(textwrap.wrap(text, shutil.get_terminal_size().columns, subsequent_indent="  "))
            self.note(text)

    def json(self, doc: Mapping[str, Any]) -> None:
        self.stdout.write(neutralise_json(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n")
        self.stdout.flush()

    def error(self, exc: OrcliError) -> None:
        """A failed command: its JSON document on stdout with --json, and one message on stderr."""
        try:
            if self.as_json:
                self.json(exc.document())
        finally:  # the message is written even when stdout is unwritable
            text = f"orcli: error: {neutralise(exc.message)}"
            if self.stderr_tty:  # a person reads it: long lines continue, between sentences, on the next
                from orcli.ui.words import wrap_message

                text = wrap_message(text)
            self.stderr.write(text + "\n")
            self.stderr.flush()


def neutral_table(table: Any) -> Any:
    """A copy of a TableData with control characters neutralised in its title, column names and cells."""
    return table._replace(
        title=neutralise_cell(table.title),
        columns=tuple(c._replace(name=neutralise_cell(c.name)) for c in table.columns),
        rows=[tuple(neutralise_cell(cell) for cell in row) for row in table.rows],
    )
