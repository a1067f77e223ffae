"""The docs as data for tests/test_docs.py: headings and their GitHub anchors, links, and the shell examples,
run page by page in one bash from a fresh home (the rules are written in docs/development.md, "The docs and
their tests").

When orcli's output changes on purpose, `python tests/docs_examples.py [PAGE ...]` (PYTHONPATH at the checkout)
writes what the commands print now under them, and the terminal captures again; read the diff before committing.

A page's examples run in order in one shell, as a reader would type them: an `export` in one block holds for
the next. Each command's output, exit code, environment and working folder are kept, so a capture of a command
in a real terminal can run it again later with exactly what it had.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tmux_pane import Pane, require_tmux

ROOT = Path(__file__).resolve().parent.parent
SHELL_FENCES = ("sh", "console", "bash", "shell")
SHOWN_HOME = "/home/me"  # how the docs write the reader's home folder
SHOWN_CHECKOUT = "…"  # how the docs write wherever orcli is installed
ANY_LINES = "…"  # an expected-output line that stands for any number of lines
EXPECTED_EXIT = re.compile(r"\(exit (\d+)\)\s*$")
MARKER = re.compile(r"^<!--\s*(offline|capture):\s*(.*?)\s*-->$")
FENCE = re.compile(r"^(```+|~~~+)\s*([\w-]*)")
LINK = re.compile(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)\)")


def doc_pages() -> list[Path]:
    """Every page whose links and examples are held to the code: the README, the map of the code, the changelog
    and docs/ (docs/examples/ holds files, not pages)."""
    return [ROOT / "README.md", ROOT / "ARCHITECTURE.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass
class Block:
    """One fenced block, with the marker comment on the line before it, if any."""

    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    lines: list[str]
    offline: str | None = None  # the reason given by `<!-- offline: no (reason) -->`
    capture: str | None = None  # `pipe` or `tty COLUMNS`

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


@dataclass
class Command:
    """One command of a shell block, and the output the page shows for it (console blocks only)."""

    block: Block
    text: str
    shown: list[str] | None  # None: an `sh` block, which shows no output
    raw: list[str] = field(default_factory=list)  # the command's lines as the page writes them
    index: int = 0

    @property
    def expected_exit(self) -> int:
        match = EXPECTED_EXIT.search(self.text)
        return int(match.group(1)) if match else 0


def split_page(page: Path) -> tuple[list[str], list[Block]]:
    """The lines outside fences (prose and headings) and the fenced blocks of one page."""
    prose: list[str] = []
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            prose.append(lines[i])
            i += 1
            continue
        fence, start = opening.group(1), i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith(fence):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        block = Block(page, start + 1, opening.group(2).lower(), body)
        marker = MARKER.match(lines[start - 1].strip()) if start else None
        if marker and marker.group(1) == "offline":
            block.offline = marker.group(2)
        elif marker:
            block.capture = marker.group(2)
        blocks.append(block)
    return prose, blocks


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: its rendered text lower-cased, punctuation dropped, spaces as hyphens."""
    text = LINK.sub(r"\1", heading).replace("`", "").replace("**", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """Every anchor of a page, repeated headings numbered as GitHub numbers them (`-1`, `-2`)."""
    prose, _ = split_page(page)
    seen: dict[str, int] = {}
    found = set()
    for line in prose:
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading is None:
            continue
        slug = github_anchor(heading.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(found)


def links(page: Path) -> list[str]:
    """The link targets of a page's prose (inline code and fenced blocks are not links)."""
    prose, _ = split_page(page)
    text = re.sub(r"`[^`]*`", "", "\n".join(prose))
    return [target for _, target in LINK.findall(text)]


def commands(block: Block) -> list[Command]:
    """A console block's `$ ` lines with the output shown under each; every logical line of an `sh` block. A
    command may go on over lines ending in a backslash; output lines are taken as they are."""
    found: list[Command] = []
    pending: list[str] = []  # the lines of a command still going on
    for raw in block.lines:
        is_command = bool(pending) or block.lang != "console" or raw.startswith("$ ")
        if is_command and raw.endswith("\\"):
            pending.append(raw)
            continue
        if is_command:
            lines, pending = [*pending, raw], []
            text = "\n".join(lines)  # bash reads the backslashes as the reader's shell would
            if block.lang == "console":
                found.append(Command(block, text[2:], [], lines))
            elif text.strip() and not text.lstrip().startswith("#"):
                found.append(Command(block, text, None, lines))
        elif found and found[-1].shown is not None:
            found[-1].shown.append(raw)
    return found


@dataclass
class Ran:
    """What one command did when its page ran."""

    command: Command
    code: int
    out: str  # stdout (console blocks: stdout and stderr as a terminal interleaves them)
    err: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = ""


def page_environment(home: Path, bin_dir: Path) -> dict[str, str]:
    """A reader's fresh machine: orcli on PATH (this checkout), an empty home and state folder, no keys."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "orcli"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m orcli "$@"\n')
    wrapper.chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "ORCLI_STATE_DIR": str(home / ".local" / "state" / "orcli"),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",  # stdout and stderr interleaved in the order a terminal shows them
        "LC_ALL": "C.UTF-8",
    }


def run_page(page: Path, tmp: Path) -> list[Ran]:
    """Every command of the page's runnable shell blocks, in order, in one bash."""
    todo = [c for b in split_page(page)[1] if b.lang in SHELL_FENCES and b.offline is None for c in commands(b)]
    home, work, out = tmp / "home", tmp / "work", tmp / "out"
    for folder in (home, out):
        folder.mkdir(parents=True)
    shutil.copytree(ROOT / "docs" / "examples", work)  # the files a reader has beside them
    script = ["set -o pipefail", f"cd {shlex.quote(str(work))}"]
    for i, command in enumerate(todo):
        command.index = i
        stem = shlex.quote(str(out / str(i)))
        errors = "2>&1" if command.shown is not None else f"2>{stem}.err"
        script += [
            f"{{ {command.text}\n}} >{stem}.out {errors} </dev/null",
            f"echo $? >{stem}.rc; env -0 >{stem}.env; pwd >{stem}.pwd",
        ]
    env = page_environment(home, tmp / "bin")
    subprocess.run(["bash", "--noprofile", "--norc", "-c", "\n".join(script)], env=env, cwd=work, timeout=300)
    return [_what_it_did(command, out / str(i), home) for i, command in enumerate(todo)]


def _what_it_did(command: Command, stem: Path, home: Path) -> Ran:
    """One command's exit code, output, environment and folder, from the files the page's shell wrote."""

    def read(suffix: str) -> str:
        path = stem.with_suffix(suffix)
        return path.read_bytes().decode(errors="replace") if path.exists() else ""

    if not read(".rc"):
        return Ran(command, -1, "", "the page's shell stopped before this command")
    pairs = (item.split("=", 1) for item in read(".env").split("\0") if "=" in item)
    env = {name: value for name, value in pairs}
    out, err = shown_text(read(".out"), home), shown_text(read(".err"), home)
    return Ran(command, int(read(".rc")), out, err, env, read(".pwd").strip())


def shown_text(text: str, home: Path) -> str:
    """Output as the docs write it: the home folder as /home/me, the checkout as …, no trailing blanks."""
    text = text.replace(str(home), SHOWN_HOME).replace(str(ROOT), SHOWN_CHECKOUT)
    return "\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n")


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line for line, where an expected line holding only … stands for any number of actual lines."""

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(expected):
            return j == len(actual)
        if expected[i] == ANY_LINES:
            return match(i + 1, j) or (j < len(actual) and match(i, j + 1))
        return j < len(actual) and expected[i].rstrip() == actual[j] and match(i + 1, j + 1)

    return match(0, 0)


def in_terminal(command: str, done: Ran, width: int, tmp: Path) -> str:
    """The command again, in a real terminal `width` wide, with the environment and folder it had on its page."""
    require_tmux()
    env = {k: v for k, v in done.env.items() if k not in ("_", "SHLVL", "PWD", "OLDPWD")}
    with Pane(width, 50, tmp) as pane:
        pane.run(["bash", "--noprofile", "--norc", "-c", command], env=env, cwd=done.cwd)
        text = pane.wait_done()
    assert pane.code == 0, text
    return shown_text(text, Path(env["HOME"]))


def captured(capture: Block, source: Block, ran: list[Ran], tmp: Path) -> str:
    """What the capture block should show: the last command of `source`, in a pipe or in a terminal."""
    done = [r for r in ran if r.command.block.line == source.line][-1]
    how = (capture.capture or "").split()
    if how == ["pipe"]:
        return done.out
    assert len(how) == 2 and how[0] == "tty" and how[1].isdigit(), f"{capture.where}: capture {how}"
    return in_terminal(done.command.text, done, int(how[1]), tmp)


def captures(page: Path) -> list[tuple[Block, Block]]:
    """(a capture block, the shell block whose last command it shows)."""
    blocks = split_page(page)[1]
    found = []
    for i, block in enumerate(blocks):
        if block.capture is not None:
            before = [b for b in blocks[:i] if b.lang in SHELL_FENCES]
            assert before, f"{block.where}: a capture with no shell example before it"
            found.append((block, before[-1]))
    return found


def update_page(page: Path, tmp: Path) -> bool:
    """Write under each console command what it prints now, and every capture again; True if the page changed."""
    ran = run_page(page, tmp / "run")
    bodies: dict[int, list[str]] = {}
    for r in ran:
        if r.command.shown is None:
            continue
        body = bodies.setdefault(r.command.block.line, [])
        keep = ANY_LINES in r.command.shown and matches(r.command.shown, r.out.splitlines())
        body += [*r.command.raw, *(r.command.shown if keep else r.out.splitlines())]
    for capture, source in captures(page):
        bodies[capture.line] = captured(capture, source, ran, tmp).splitlines()
    lines = page.read_text(encoding="utf-8").splitlines()
    for block in sorted(split_page(page)[1], key=lambda b: -b.line):
        if block.line in bodies:
            lines[block.line : block.line + len(block.lines)] = bodies[block.line]
    text = "\n".join(lines) + "\n"
    changed = text != page.read_text(encoding="utf-8")
    page.write_text(text, encoding="utf-8")
    return changed


if __name__ == "__main__":
    import tempfile

    chosen = [Path(arg).resolve() for arg in sys.argv[1:]] or doc_pages()
    with tempfile.TemporaryDirectory() as scratch:
        for n, page in enumerate(chosen):
            if update_page(page, Path(scratch) / str(n)):
                print(f"updated {page.relative_to(ROOT)}")
