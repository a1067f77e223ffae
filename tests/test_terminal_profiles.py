"""`profiles show`, `profiles list` and `profiles check` in real tmux panes at 80 and 120 columns: the same
layout engine as explain-route and providers, so names, URLs and paths are whole or not shown (with the
`hidden:` note), lists of names wrap between names, and nothing is broken by the terminal (issue 25)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_harness import Cli
from test_terminal_tables import _assert_fits
from tmux_pane import Pane, require_tmux

SIZES = [(80, 40), (120, 50)]
KEYS = {"GROQ_API_KEY": "k-groq-test", "DEEPINFRA_API_KEY": "k-deepinfra-test"}


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    runner = Cli(None, tmp_path)
    runner.set_keys(KEYS)
    return runner


def _pane(cli: Cli, size: tuple[int, int], tmp_path: Path, *args: str) -> tuple[int | None, str]:
    with Pane(*size, tmp_path) as pane:
        pane.run(cli.argv(*args), cli.env)
        text = pane.wait_done()
    return pane.code, text


def _tokens(text: str) -> set[str]:
    return {t.strip(",") for t in text.split()}


@pytest.mark.parametrize("size", [*SIZES, (160, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_profiles_show_fits_with_whole_names_and_urls_whole_or_hidden(
    cli: Cli, tmp_path: Path, size: tuple[int, int]
) -> None:
    require_tmux()
    doc = cli("profiles", "show", "example", "--json").json()
    code, text = _pane(cli, size, tmp_path, "profiles", "show", "example")
    assert code == 0, text
    _assert_fits(text, size[0])
    tokens = _tokens(text)
    for p in doc["providers"]:
        assert p["name"] in tokens, p["name"]
    for m in doc["models"]:
        assert m["model"] in tokens and set(m["providers"]) <= tokens, m  # each provider name whole
    urls = [p["base_url"] for p in doc["providers"]]
    if "hidden: " in text and "base_url" in text.split("hidden: ")[1].splitlines()[0]:
        assert not any(u in text or "https://api" in text for u in urls), "hidden means not shown at all"
    else:
        assert all(u in tokens for u in urls), text
    if size[0] >= 160:  # the cloud providers' URLs (Bedrock's, Vertex's) need more than 120 columns
        assert all(u in tokens for u in urls) and "hidden:" not in text, "room for every URL at 160 columns"
    assert set(doc["routing_models"]) <= tokens
    assert "GROQ_API_KEY set" in text and "CEREBRAS_API_KEY MISSING" in text


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_profiles_list_shows_a_long_path_whole_or_not_at_all(cli: Cli, tmp_path: Path, size: tuple[int, int]) -> None:
    require_tmux()
    mine = Path(cli.env["XDG_CONFIG_HOME"]) / "orcli" / "profiles"
    mine.mkdir(parents=True)
    long_name = "a-team-profile-with-a-rather-long-descriptive-name"
    (mine / f"{long_name}.toml").write_text(Path("profiles/local.toml").read_text())
    path = str(mine / f"{long_name}.toml")
    code, text = _pane(cli, size, tmp_path, "profiles", "list")
    assert code == 0, text
    _assert_fits(text, size[0])
    assert long_name in _tokens(text) and "example" in _tokens(text)
    table = text.split("note:")[0]
    if len(path) + len(long_name) + 20 > size[0]:  # no room for the path on its row
        assert path not in table and "/orcli/profiles/" not in table and "path" in text.split("hidden: ")[1], text
    else:
        assert path in _tokens(table), text


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_profiles_check_wraps_details_between_words(cli: Cli, tmp_path: Path, size: tuple[int, int]) -> None:
    require_tmux()
    profile = tmp_path / "lint.toml"
    endpoints = "".join(
        f'[[endpoint]]\nmodel = "vendor/a-model-with-a-long-name-{n}"\nprovider = "alpha"\n' for n in range(3)
    )
    profile.write_text(
        '[providers.alpha]\nbase_url = "https://alpha.example/v1"\napi_key_env = "ALPHA_KEY_THAT_IS_NOT_SET"\n'
        '[providers.idle-provider-with-no-endpoints]\nbase_url = "https://idle.example/v1"\n' + endpoints
    )
    doc = cli("profiles", "check", str(profile), "--json").json()
    code, text = _pane(cli, size, tmp_path, "profiles", "check", str(profile))
    assert code == 1 and doc["problems"], text
    _assert_fits(text, size[0])
    flat = " ".join(text.split())
    for problem in doc["problems"]:
        assert problem["code"] in _tokens(text) and problem["subject"] in flat, problem
        assert " ".join(problem["detail"].split()) in flat, problem  # every word of it, in order
    assert re.search(rf"{len(doc['problems'])} problems? in ", flat) and "(s)" not in text


def test_in_a_pipe_every_row_stays_one_greppable_line(cli: Cli) -> None:
    run = cli("profiles", "show", "example", env={"COLUMNS": "80"})
    doc = cli("profiles", "show", "example", "--json").json()
    for p in doc["providers"]:
        assert any(line.split()[:1] == [p["name"]] for line in run.out.splitlines()), p["name"]
    for m in doc["models"]:
        row = next(line for line in run.out.splitlines() if line.startswith(m["model"] + " "))
        assert row.endswith(", ".join(m["providers"])), row
