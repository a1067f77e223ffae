"""A real terminal for tests: a tmux pane of a given size on a private tmux server, read with capture-pane.

    with Pane(80, 24, tmp_path) as pane:
        pane.run(cli.argv("explain-route"), env=cli.env)
        text = pane.wait_done()           # the screen and its scrollback, as a person would see it

The command runs through a small shell script (its environment written out explicitly), then prints an end
marker with its exit code, so a test waits for the end instead of sleeping.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

DONE = "__ORCLI_PANE_DONE__"
_TERMINAL_OWN = ("TERM", "COLUMNS", "LINES")  # the pane decides these, as a real terminal does


def require_tmux() -> str:
    path = shutil.which("tmux")
    if path is None:
        pytest.skip(
            "tmux is not installed (Debian package `tmux`; tests/run.sh installs it): no real terminal to test in"
        )
    return path


class Pane:
    """One tmux session of `width` x `height` on its own server socket, killed on exit."""

    def __init__(self, width: int, height: int, tmp: Path) -> None:
        self.tmux = require_tmux()
        self.width, self.height = width, height
        self.tmp = tmp
        self.socket = f"orcli-test-{os.getpid()}-{secrets.token_hex(4)}"
        self.session = "t"

    def __enter__(self) -> Pane:
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run([self.tmux, "-L", self.socket, "kill-server"], capture_output=True, timeout=10)

    def _tmux(self, *args: str) -> str:
        done = subprocess.run([self.tmux, "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def run(self, argv: Sequence[str | bytes], env: Mapping[str, str], cwd: str | Path | None = None) -> None:
        """Start `argv` in a fresh pane with exactly `env`, less what the terminal itself sets (TERM, COLUMNS)."""
        script = self.tmp / f"pane-{secrets.token_hex(3)}.sh"
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items() if k not in _TERMINAL_OWN)
        command = " ".join(shlex.quote(a if isinstance(a, str) else a.decode()) for a in argv)
        script.write_text(
            f'cd {shlex.quote(str(cwd or os.getcwd()))}\n{exports}{command}\necho "{DONE} $?"\nsleep 600\n'
        )
        self._tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            self.session,
            "-x",
            str(self.width),
            "-y",
            str(self.height),
            f"env -i PATH={shlex.quote(os.environ.get('PATH', ''))} "
            f"HOME={shlex.quote(env.get('HOME', '/tmp'))} TERM=xterm-256color bash --noprofile --norc {script}",
        )
        self._tmux("set-option", "-t", self.session, "history-limit", "5000")

    def send_keys(self, *keys: str) -> None:
        """Type into the pane, as a person would (`C-c` is Ctrl-C)."""
        self._tmux("send-keys", "-t", self.session, *keys)

    def capture(self, escapes: bool = False) -> str:
        """The visible screen and the scrollback, trailing blank lines removed (`escapes`: with the colour
        and style sequences the program drew)."""
        flags = ["-e"] if escapes else []
        return self._tmux("capture-pane", "-p", *flags, "-t", self.session, "-S", "-5000").rstrip("\n")

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 20.0, every: float = 0.05) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.capture()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"pane never matched within {timeout}s; it shows:\n{text}")
            time.sleep(every)

    def wait_done(self, timeout: float = 30.0) -> str:
        """The pane's text once the command ended (the end marker is removed); exit code in `self.code`."""
        text = self.wait_for(lambda t: DONE in t, timeout)
        match = re.search(rf"{DONE} (\d+)", text)
        assert match is not None
        self.code = int(match.group(1))
        return text[: text.index(DONE)].rstrip("\n")


def words_cut_at_the_edge(text: str, width: int) -> list[str]:
    """Lines exactly `width` long whose last character and the next line's first are both word characters:
    a word the terminal (not orcli) broke in two. A single word longer than the whole width (a long path)
    cannot be shown whole and is not counted."""
    lines = text.splitlines()
    cut = []
    for line, following in zip(lines, lines[1:], strict=False):
        if len(line) == width and line[-1].isalnum() and following[:1].isalnum() and " " in line.strip():
            cut.append(line)
    return cut
