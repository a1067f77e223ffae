"""Tables that fit: real tmux panes at 80x24, 120x40 and 200x50 (whole names, every row, no word broken by
the terminal, a note naming hidden columns), the plain layout of a pipe, and the layout rules themselves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_harness import MODEL, Cli
from hypothesis import given
from hypothesis import strategies as st
from tmux_pane import Pane, require_tmux, words_cut_at_the_edge
from upstream import Status, Upstream

from orcli.ui.render import format_cost, money_pair
from orcli.ui.tables import Column, TableData, layout, plain

SIZES = [(80, 24), (120, 40), (200, 50)]
EXAMPLE_KEYS = {"GROQ_API_KEY": "k-groq-test", "DEEPINFRA_API_KEY": "k-deepinfra-test"}


@pytest.fixture
def example(tmp_path: Path) -> Cli:
    runner = Cli(None, tmp_path)
    runner.set_keys(EXAMPLE_KEYS)
    return runner


def _in_pane(cli: Cli, size: tuple[int, int], tmp_path: Path, *args: str) -> str:
    with Pane(*size, tmp_path) as pane:
        pane.run(cli.argv(*args), cli.env)
        text = pane.wait_done()
    assert pane.code == 0, text
    return text


def _assert_fits(text: str, width: int) -> None:
    assert all(len(line) <= width for line in text.splitlines())
    assert words_cut_at_the_edge(text, width) == [], f"the terminal broke a word:\n{text}"
    assert "…" not in text and "..." not in text, f"a cut cell:\n{text}"


def _lines_of(text: str, title: str) -> list[str]:
    """The lines of one table: from its title to the next blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_explain_route_fits_each_terminal_with_whole_names_and_every_row(
    example: Cli, tmp_path: Path, size: tuple[int, int]
) -> None:
    require_tmux()
    doc = example("explain-route", "-p", "example", "--no-stdin", "--seed", "1", "--json").json()
    text = _in_pane(example, size, tmp_path, "explain-route", "-p", "example", "--no-stdin", "--seed", "1")
    _assert_fits(text, size[0])
    assert "Attempt plan (profile example)" in text
    plan = _lines_of(text, "Attempt plan")
    for a in doc["attempts"]:  # one row per attempt: its rank and its whole provider name on one line
        row = rf"\s*{a['rank']}\s.*\s{re.escape(a['provider'])}(\s|$)"
        assert any(re.match(row, ln) for ln in plan), (a, text)
        assert any(a["model"] in ln for ln in plan), a["model"]  # as a column or as a group heading
    rejected = _lines_of(text, "Rejected")
    for r in doc["rejected"]:
        assert any(re.search(rf"\b{re.escape(r['provider'])}\s+{r['code']}\b", ln) for ln in rejected), r
    assert "$CEREBRAS_API_KEY is not set" in text
    if size[0] >= 120:  # room for every "why here" on its row's line
        for a in doc["attempts"]:
            assert any(re.match(rf"\s*{a['rank']}\s", ln) and a["reason"] in ln for ln in plan), (a, text)
    if size[0] == 200:
        assert "hidden:" not in text and "llama-3.3-70b-versatile" in text and "$0.59/$0.79" in text
    if size[0] == 80:
        assert re.search(r"hidden: (api, )?upstream model", text) and "--wide or --json shows all" in text
        why = [ln for ln in plan if "weighted draw" in ln]
        assert why and all(len(ln) <= 80 for ln in why)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_providers_fits_each_terminal_and_names_the_profile(
    example: Cli, tmp_path: Path, size: tuple[int, int]
) -> None:
    require_tmux()
    doc = example("providers", "-p", "example", "--json").json()
    text = _in_pane(example, size, tmp_path, "providers", "-p", "example")
    _assert_fits(text, size[0])
    assert "Providers (profile example)" in text
    rows = sum(len(p["endpoints"]) for p in doc["providers"])
    models = {e["model"] for p in doc["providers"] for e in p["endpoints"]}
    body = [ln for ln in text.splitlines() if any(m in ln.split() for m in models)]
    assert len(body) == rows, text  # one line per endpoint, each with its whole model name
    for p in doc["providers"]:
        assert re.search(rf"(^|\s){re.escape(p['name'])}\s", text, re.M), p["name"]
    assert "GROQ_API_KEY set" in text and "CEREBRAS_API_KEY MISSING" in text
    assert len(text.splitlines()) < 70  # was ~300 lines at 80 columns


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_health_with_a_long_error_stays_readable(upstream: Upstream, tmp_path: Path, size: tuple[int, int]) -> None:
    require_tmux()
    cli = Cli(upstream, tmp_path)
    cli.profile(["a", "b"])
    message = "the upstream is overloaded right now and asks every client to come back later, in a minute or two"
    upstream.script("a", Status(502, message.strip()))
    assert cli("ask", "--no-stdin", "-m", MODEL, "--order", "a", "hi").code == 0
    text = _in_pane(cli, size, tmp_path, "health")
    _assert_fits(text, size[0])
    assert len(text.splitlines()) <= 14, text  # 4 endpoints; the error is not one word per line
    flat = " ".join(text.split())
    assert "come back later" in flat and "502" in flat


def test_wide_shows_every_column_and_the_pipe_keeps_one_line_per_row(example: Cli) -> None:
    narrow = example("explain-route", "-p", "example", "--no-stdin", env={"COLUMNS": "80"})
    wide = example("explain-route", "-p", "example", "--no-stdin", "--wide", env={"COLUMNS": "80"})
    doc = example("explain-route", "-p", "example", "--no-stdin", "--json").json()
    assert "hidden: " in narrow.err and "hidden" not in wide.err
    assert "llama-3.3-70b-versatile" not in narrow.out and "llama-3.3-70b-versatile" in wide.out
    for run in (narrow, wide):
        plan = _lines_of(run.out, "Attempt plan")
        assert len(plan) == 2 + len(doc["attempts"]), run.out  # title, header, one line per attempt
        for a in doc["attempts"]:  # greppable: model and provider on the row itself
            assert any(a["model"] in ln and f"  {a['provider']}  " in ln for ln in plan)
    rejected = _lines_of(narrow.out, "Rejected")  # names whole even past the width: no wrap in a pipe
    assert len(rejected) == 2 + len(doc["rejected"]) and "meta-llama/llama-3.3-70b-instruct  cerebras" in narrow.out
    assert "\x1b" not in narrow.out + wide.out and not any(ch in narrow.out for ch in "╭│─")


def test_json_is_unchanged_by_width(example: Cli) -> None:
    a = example("providers", "-p", "example", "--json", env={"COLUMNS": "60"}).json()
    b = example("providers", "-p", "example", "--json", "--wide").json()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# -- the layout rules ---------------------------------------------------------------------------------
def _table() -> TableData:
    columns = (
        Column("model", group=True),
        Column("provider"),
        Column("upstream model", drop=2),
        Column("context", right=True, drop=1),
        Column("why", prose=True),
    )
    rows = [
        (
            "org/a-very-long-model-name-of-thirty-five",
            "provider-one",
            "upstream/a-long-name",
            "128K",
            "first because it is the cheapest of the three stable endpoints serving it",
        ),
        ("org/a-very-long-model-name-of-thirty-five", "provider-two", "upstream/another", "32K", "second"),
    ]
    return TableData("T", columns, rows)


def test_layout_drops_the_highest_drop_first_and_never_cuts_names() -> None:
    laid = layout(_table(), 110, terminal=False)
    assert laid.hidden == ("upstream model",)
    text = "\n".join(line.text for line in laid.lines)
    assert "org/a-very-long-model-name-of-thirty-five" in text and "provider-two" in text
    assert len(laid.lines) == 4  # title, header, two rows: one line each in a pipe


def test_terminal_layout_groups_then_wraps_prose_at_word_boundaries() -> None:
    laid = layout(_table(), 70, terminal=True)
    lines = [line.text for line in laid.lines]
    assert lines[2] == "org/a-very-long-model-name-of-thirty-five"  # the group heading, once
    assert sum("org/a-very" in ln for ln in lines) == 1
    assert len(lines) == 6 and all(len(ln) <= 70 for ln in lines)  # title, header, heading, 2 + 1 row lines
    at = lines[1].index("why")
    pieces = [ln[at:].strip() for ln in lines[3:5]]
    assert " ".join(pieces) == _table().rows[0][4]  # every word whole, in order, on two lines
    assert lines[5].endswith("second")


def test_prose_too_long_for_two_lines_moves_under_its_row() -> None:
    table = _table()
    long = "word " * 60
    table.rows[1] = (*table.rows[1][:4], long.strip())
    lines = [line.text for line in layout(table, 80, terminal=True).lines]
    assert any(ln.rstrip().endswith("(below)") for ln in lines)
    assert any(ln.startswith("    why: word word") for ln in lines)
    assert all(len(ln) <= 80 for ln in lines)


def test_wide_keeps_every_column_at_full_length() -> None:
    laid = layout(_table(), None, terminal=True)
    assert laid.hidden == () and "upstream/a-long-name" in laid.lines[2].text
    assert plain(_table()).count("\n") == 4


def test_compact_prices_and_costs() -> None:
    assert money_pair(0.4, 0.8) == "$0.40/$0.80"
    assert money_pair(0, 0) == "free"
    assert money_pair(0.055, 0.12) == "$0.055/$0.12"
    assert format_cost(0.000523) == "$0.00052"
    assert format_cost(0.0123) == "$0.012"
    assert format_cost(2.5) == "$2.50"
    assert format_cost(0) == "free"
    assert format_cost(None) == "?" and money_pair(None, 0.8) == "?/$0.80"  # an unknown price is not free


@pytest.mark.parametrize(
    "argv",
    [
        ["explain-route", "-p", "example", "--no-stdin"],
        ["providers", "-p", "example"],
        ["health", "-p", "example"],
        ["--help"],
        ["ask", "--help"],
    ],
    ids=["explain-route", "providers", "health", "help", "ask-help"],
)
def test_rich_stays_off_the_pipe_path(tmp_path: Path, argv: list[str]) -> None:
    from test_import_graph import _example_keys, _loaded, _modules_after

    code, modules, stdout = _modules_after(tmp_path, *argv, env=_example_keys())
    assert code == 0 and stdout.strip(), stdout
    assert not _loaded(modules, "rich"), "a table or help in a pipe must not import Rich"


# -- properties of the layout, over generated tables --------------------------------------------------
_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/-.", min_size=1, max_size=14)
_prose = st.lists(_word, min_size=1, max_size=14).map(" ".join)


@st.composite
def _tables(draw: st.DrawFn) -> TableData:
    columns = [Column("model", group=True), Column("provider")]
    extra = draw(st.integers(0, 3))
    columns += [Column(f"c{k}", right=draw(st.booleans()), drop=k + 1) for k in range(extra)]
    columns.append(Column("why", prose=True))
    models = draw(st.lists(_word, min_size=1, max_size=3))
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        cells = [draw(st.sampled_from(models)), draw(_word)] + [draw(_word) for _ in range(extra)] + [draw(_prose)]
        rows.append(tuple(cells))
    return TableData("T", tuple(columns), rows)


@given(_tables(), st.integers(30, 200), st.booleans())
def test_every_row_and_every_word_is_shown_whole(table: TableData, width: int, terminal: bool) -> None:
    laid = layout(table, width, terminal=terminal)
    text = "\n".join(line.text for line in laid.lines)
    tokens = set(text.split())
    shown = [i for i, c in enumerate(table.columns) if c.name not in laid.hidden]
    assert [c.name for c in table.columns if c.name in laid.hidden] == list(laid.hidden)
    for row in table.rows:
        for i in shown:
            for word in row[i].split():
                assert word in tokens, (word, text)  # whole: never cut, at any width
    if not terminal:  # a pipe: title, header, then exactly one line per row
        assert len(laid.lines) == 2 + len(table.rows)
        for line, row in zip(laid.lines[2:], table.rows, strict=True):
            assert all(row[i] in line.text for i in shown)
    names_fit = sum(
        max(len(c.name), *(len(r[i]) for r in table.rows))
        for i, c in enumerate(table.columns)
        if not c.prose and c.drop == 0
    )
    if terminal and names_fit + 40 <= width:  # the essential columns fit: so does every line
        assert all(len(line.text) <= width for line in laid.lines), text


@given(_tables())
def test_wide_hides_nothing(table: TableData) -> None:
    assert layout(table, None, terminal=True).hidden == () and layout(table, None, terminal=False).hidden == ()
