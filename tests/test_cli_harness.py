"""The harness's promise to every end-to-end suite: runs side by side never share a health store by accident."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from cli_harness import Cli, Run, run_all


def _seeded(tmp_path: Path) -> Cli:
    cli = Cli(None, tmp_path)
    cli.state_dir.mkdir()
    (cli.state_dir / "history").write_text("before")
    return cli


def test_runs_side_by_side_each_get_a_copy_of_the_store_and_leave_it_alone(tmp_path: Path) -> None:
    cli = _seeded(tmp_path)
    alone = Cli(None, tmp_path / "alone")
    runs = run_all(
        {"a": partial(cli, "--version"), "b": partial(cli, "--version"), "alone": partial(alone, "--version")}
    )
    own = {runs["a"].state_dir, runs["b"].state_dir}
    assert len(own) == 2 and cli.state_dir not in own, own
    for store in own:
        assert store is not None and (store / "history").read_text() == "before"
        (store / "history").write_text("changed")
    assert (cli.state_dir / "history").read_text() == "before"
    assert runs["alone"].state_dir == alone.state_dir  # nobody to share with: its Cli's own store


def _version(cli: Cli) -> Run:
    return cli("--version")


def test_a_helper_given_the_cli_runs_with_a_copy_of_the_store_too(tmp_path: Path) -> None:
    cli = _seeded(tmp_path)
    runs = run_all({"a": partial(_version, cli), "b": partial(cli, "--version"), "c": partial(_version, cli)})
    own = {run.state_dir for run in runs.values()}
    assert len(own) == 3 and cli.state_dir not in own, own
    assert all(store is not None and (store / "history").read_text() == "before" for store in own)


def test_sharing_is_asked_for(tmp_path: Path) -> None:
    cli = _seeded(tmp_path)
    runs = run_all({"a": partial(cli, "--version"), "b": partial(cli, "--version")}, share_store=True)
    assert {run.state_dir for run in runs.values()} == {cli.state_dir}

    def not_a_cli() -> Run:
        return cli("--version")

    with pytest.raises(TypeError, match="share_store=True"):
        run_all({"a": not_a_cli})
    (tmp_path / "afile").write_text("")
    cli.env["ORCLI_STATE_DIR"] = str(tmp_path / "afile" / "state")
    with pytest.raises(ValueError, match="share_store=True"):
        run_all({"a": partial(cli, "--version"), "b": partial(cli, "--version")})
