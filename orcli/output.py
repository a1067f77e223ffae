"""Where a command's words go, decided once: stdout for the answer or JSON, stderr for notes (SPEC §5).

One object decides whether each stream is a terminal, whether colour is allowed (--no-color, NO_COLOR,
FORCE_COLOR, TERM=dumb) and the width tables get; it is built by the command wrapper and handed to whatever
prints. Rich is imported only when a terminal is drawn on.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import IO, Any

from orcli.errors import OrcliError

DEFAULT_PIPE_WIDTH = 200  # a table in a pipe is one line per row; COLUMNS overrides


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
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.force_color = bool(env.get("FORCE_COLOR"))
        self.dumb = env.get("TERM") == "dumb"
        self.no_color = no_color or "NO_COLOR" in env or self.dumb
        self.stdout_tty = _isatty(self.stdout)
        self.stderr_tty = _isatty(self.stderr)
        columns = env.get("COLUMNS", "")
        self.pipe_width = int(columns) if columns.isdigit() and int(columns) > 0 else DEFAULT_PIPE_WIDTH
        self._consoles: dict[bool, Any] = {}

    # -- decisions ----------------------------------------------------------------------------------
    def styled(self, stderr: bool) -> bool:
        """Rich drawing (colour, boxes) only where a person looks: a terminal, or FORCE_COLOR."""
        return self.force_color or (self.stderr_tty if stderr else self.stdout_tty)

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
    def note(self, text: str, style: str = "dim") -> None:
        if self.quiet:
            return
        if self.styled(stderr=True):
            self.err.print(text, style=style, markup=False, highlight=False)
        else:
            self.stderr.write(text + "\n")
            self.stderr.flush()

    def warn(self, text: str) -> None:
        self.note(f"warning: {text}", style="yellow")

    def table(self, table: Any) -> None:
        """A table on stdout: drawn by Rich on a terminal, as plain ASCII in pipes (and fast there)."""
        from orcli.tables import plain, to_rich

        if self.styled(stderr=False):
            self.out.print(to_rich(table, self.out))
        else:
            self.stdout.write(plain(table))
            self.stdout.flush()

    def json(self, doc: Mapping[str, Any]) -> None:
        self.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        self.stdout.flush()

    def error(self, exc: OrcliError) -> None:
        """A failed command: its JSON document on stdout with --json, and one message on stderr."""
        if self.as_json:
            self.json(exc.document())
        self.stderr.write(f"orcli: error: {exc.message}\n")
        self.stderr.flush()
