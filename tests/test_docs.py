"""The docs say what orcli does: every internal link resolves, every shell example that can run offline runs
(page by page, from a fresh home, against the bundled profiles), and every output the docs show is what the
command prints, in a pipe or in a real terminal. The rules: docs/development.md, "The docs and their tests"."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from docs_examples import (
    ROOT,
    SHELL_FENCES,
    Ran,
    anchors,
    captured,
    captures,
    commands,
    doc_pages,
    links,
    matches,
    run_page,
    split_page,
)

PAGES = doc_pages()
PAGE_IDS = [str(p.relative_to(ROOT)) for p in PAGES]
# What may keep an example from running offline, and how few such blocks the docs may have.
OFFLINE_CAUSES = ("real provider", "network", "server", "install", "test suite", "benchmark")
NEEDS_THE_WORLD = re.compile(
    r"orcli ask|--probe|orcli serve|pip install|profiles import openrouter|tests/run\.sh|benchmarks/|"
    r"ORCLI_HEALTH_URL|OPENAI_BASE_URL|-m pytest"
)
MOST_OFFLINE_BLOCKS = 16
_RUNS: dict[Path, list[Ran]] = {}


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], list[Ran]]:
    """Each page's examples, run once per test module (a page is one shell session)."""

    def of(page: Path) -> list[Ran]:
        if shutil.which("jq") is None and re.search(r"\| *jq\b", page.read_text(encoding="utf-8")):
            pytest.skip("jq is not installed (Debian package `jq`; tests/run.sh installs it): the examples use it")
        if page not in _RUNS:
            _RUNS[page] = run_page(page, tmp_path_factory.mktemp(page.stem))
        return _RUNS[page]

    return of


# -- links ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_internal_link_resolves_to_a_file_and_an_anchor_it_has(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: — not ours to check offline
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists() or ROOT not in (resolved, *resolved.parents):
            broken.append(f"{target}: no such file in the repository")
        elif anchor and (resolved.suffix != ".md" or anchor not in anchors(resolved)):
            broken.append(f"{target}: no heading with the anchor #{anchor} in {resolved.name}")
    assert broken == [], f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_anchors_are_slugged_as_github_renders_them(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "# The gateway: `orcli serve`\n## Load balancing: the inverse-square draw\n## Ordering\n## Ordering\n"
        "```sh\n# not a heading\n```\n## [ask](x.md) and **JSON**\n",
        encoding="utf-8",
    )
    assert anchors(page) == {
        "the-gateway-orcli-serve",
        "load-balancing-the-inverse-square-draw",
        "ordering",
        "ordering-1",
        "ask-and-json",
    }


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n[b](b.md#missing) [self](#a) `[code](nowhere.md)`\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# B\n", encoding="utf-8")
    assert links(tmp_path / "a.md") == ["b.md#missing", "#a"]
    assert "missing" not in anchors(tmp_path / "b.md")


# -- examples -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_offline_example_runs_and_exits_as_the_page_says(page: Path, ran: Callable[[Path], list[Ran]]) -> None:
    wrong = []
    for r in ran(page):
        where = f"{r.command.block.where}: $ {r.command.text}"
        if r.code != r.command.expected_exit:
            wrong.append(f"{where}\n  exit {r.code}, expected {r.command.expected_exit}\n{r.out}\n{r.err}")
        elif "Traceback" in r.out + r.err:
            wrong.append(f"{where}\n  printed a traceback\n{r.err}")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_output_shown_under_a_command_is_what_it_prints(page: Path, ran: Callable[[Path], list[Ran]]) -> None:
    wrong = []
    for r in ran(page):
        shown = r.command.shown
        if shown is None:  # an `sh` block shows no output
            continue
        if not matches(shown, r.out.splitlines()):
            lines = "\n".join(shown)
            wrong.append(f"{r.command.block.where}: $ {r.command.text}\n--- shown\n{lines}\n--- printed\n{r.out}")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_capture_is_what_its_command_prints_there(
    page: Path, tmp_path: Path, ran: Callable[[Path], list[Ran]]
) -> None:
    for capture, source in captures(page):
        assert source.offline is None, f"{capture.where}: shows the output of an example that does not run"
        printed = captured(capture, source, ran(page), tmp_path)
        assert matches(capture.lines, printed.splitlines()), f"{capture.where} ({capture.capture}) printed\n{printed}"


def test_examples_that_cannot_run_offline_are_few_and_say_why() -> None:
    marked = [b for page in PAGES for b in split_page(page)[1] if b.offline is not None]
    shell = [b for page in PAGES for b in split_page(page)[1] if b.lang in SHELL_FENCES]
    assert len(marked) <= MOST_OFFLINE_BLOCKS, [b.where for b in marked]
    assert len(marked) * 2 < len(shell), "most shell examples must run offline"
    for block in marked:
        reason = re.fullmatch(r"no \((.+)\)", block.offline or "")
        assert reason, f"{block.where}: write `<!-- offline: no (why) -->`, got {block.offline!r}"
        assert any(cause in reason.group(1) for cause in OFFLINE_CAUSES), f"{block.where}: {reason.group(1)}"
        assert any(NEEDS_THE_WORLD.search(c.text) for c in commands(block)), (
            f"{block.where}: nothing in this block needs the network, a provider or a server: let it run"
        )


def test_console_blocks_are_parsed_into_commands_and_their_output(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "<!-- offline: no (network) -->\n```console\n$ a \\\n  b   # two lines (exit 3)\nout 1\n…\n$ c\n```\n"
        "```sh\n# a comment\nd\n\n```\n",
        encoding="utf-8",
    )
    first, second = split_page(page)[1]
    assert first.offline == "no (network)" and second.offline is None
    a, c = commands(first)
    assert a.text == "a \\\n  b   # two lines (exit 3)" and a.shown == ["out 1", "…"] and a.expected_exit == 3
    assert c.shown == [] and c.expected_exit == 0
    assert [d.text for d in commands(second)] == ["d"] and commands(second)[0].shown is None
    assert matches(["x", "…", "z"], ["x", "y", "y", "z"]) and not matches(["x", "z"], ["x", "y", "z"])


# -- no reference outside the repository ----------------------------------------------------------------------

OUTSIDE = ("../" + "shared", "SPEC" + ".md", "SPEC" + " §")


def test_no_reference_outside() -> None:
    """A clone has no contract file beside it: the code and docs cite docs/ pages instead."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    found = []
    for name in tracked.splitlines():
        path = ROOT / name
        if not path.is_file() or path.suffix in (".json", ".sqlite3") or path == Path(__file__):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if name == "CHANGELOG.md":  # released history stays as it was written
            text = text.split("\n## 0.", 1)[0]
        found += [f"{name}: {needle}" for needle in OUTSIDE if needle in text]
    assert found == [], "\n".join(found)


def test_every_docs_page_the_code_cites_has_the_anchor_cited() -> None:
    """Comments cite docs/PAGE.md#anchor; a renamed heading must not leave them pointing nowhere."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    missing = []
    for name in tracked.splitlines():
        path = ROOT / name
        if not name.endswith((".py", ".sh", ".toml", ".md")) or not path.is_file():
            continue
        for page, anchor in re.findall(r"\bdocs/([a-z-]+\.md)(?:#([a-z0-9-]+))?", path.read_text(encoding="utf-8")):
            target = ROOT / "docs" / page
            if not target.is_file() or (anchor and anchor not in anchors(target)):
                missing.append(f"{name}: docs/{page}{'#' + anchor if anchor else ''}")
    assert missing == [], "\n".join(missing)
