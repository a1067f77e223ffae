"""Hardening, state: an unusable health store costs a warning, never the command (SPEC §8).

A state folder that cannot be created or written, a corrupt store (garbage, or a real store with damaged
pages), a store written by a newer orcli: `ask` and `explain-route` exit 0 with a warning on stderr (and
`-q` silences it; `--json` keeps stdout one document). As root, chmod does not stop writes: the read-only
folder is a path under a regular file, and, where `unshare -m` works, a real read-only bind mount.
"""

from __future__ import annotations

import shlex
import shutil
import sqlite3
import stat
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from cli_harness import RUN_TIMEOUT, Cli, Run, run_all, store_rows
from upstream import Upstream, server_error

WARNING = "warning: health store"


def _ok(run: Run, provider: str) -> None:
    assert run.code == 0, run
    served = run.json()["provider"] if run.out.startswith("{") else run.out.removeprefix("Hello from ")
    assert served == provider, run


def _cli(upstream: Upstream, tmp_path: Path, name: str) -> Cli:
    """A profile with providers `<name>-a` (cheaper) and `<name>-b`: each test's own upstream scripts."""
    cli = Cli(upstream, tmp_path / name)
    cli.profile([f"{name}-a", f"{name}-b"])
    return cli


def test_a_state_folder_that_cannot_be_created_warns_and_ask_still_answers(upstream: Upstream, tmp_path: Path) -> None:
    under_file = _cli(upstream, tmp_path, "under_file")
    (under_file.tmp / "afile").write_text("not a folder")
    under_file.env["ORCLI_STATE_DIR"] = str(under_file.tmp / "afile" / "state")
    is_file = _cli(upstream, tmp_path, "is_file")
    (is_file.tmp / "state-file").write_text("not a folder either")
    is_file.env["ORCLI_STATE_DIR"] = str(is_file.tmp / "state-file")
    store_is_dir = _cli(upstream, tmp_path, "store_is_dir")
    (store_is_dir.state_dir / "health.sqlite3").mkdir(parents=True)
    runs = run_all(
        {
            "under_file": partial(under_file, "ask", "hi"),
            "under_file_json": partial(under_file, "ask", "--json", "hi"),
            "under_file_quiet": partial(under_file, "ask", "-q", "hi"),
            "is_file": partial(is_file, "ask", "hi"),
            "store_is_dir": partial(store_is_dir, "ask", "hi"),
            "store_is_dir_explain": partial(store_is_dir, "explain-route", "--json"),
        },
        workers=4,
        share_store=True,  # none of these stores can be written: sharing cannot reorder anything
    )
    for name in ("under_file", "under_file_json", "is_file", "store_is_dir"):
        _ok(runs[name], f"{name.removesuffix('_json')}-a")
        assert WARNING in runs[name].err and "without history" in runs[name].err, runs[name]
    assert runs["under_file_quiet"].code == 0 and runs["under_file_quiet"].err == "", runs["under_file_quiet"]
    assert runs["store_is_dir_explain"].code == 0 and WARNING in runs["store_is_dir_explain"].err
    assert runs["store_is_dir_explain"].json()["attempts"], runs["store_is_dir_explain"]


def test_read_only_commands_warn_about_a_state_folder_that_cannot_exist(upstream: Upstream, tmp_path: Path) -> None:
    cli = _cli(upstream, tmp_path, "explain")
    (cli.tmp / "afile").write_text("not a folder")
    cli.env["ORCLI_STATE_DIR"] = str(cli.tmp / "afile" / "state")
    jobs = {args: partial(cli, *args) for args in [("explain-route",), ("providers",), ("health",)]}
    runs = run_all(jobs, share_store=True)  # the store that cannot exist is the subject
    for run in runs.values():
        assert run.code == 0, run
        assert WARNING in run.err, run


def test_a_corrupt_store_is_moved_aside_with_a_warning_and_a_fresh_one_used(upstream: Upstream, tmp_path: Path) -> None:
    garbage = _cli(upstream, tmp_path, "garbage")
    garbage.state_dir.mkdir(parents=True)
    (garbage.state_dir / "health.sqlite3").write_bytes(b"this is not a database\n" * 200)
    damaged = _cli(upstream, tmp_path, "damaged")
    upstream.script("damaged-a", server_error(500))
    assert damaged("ask", "hi").code == 0  # a real store with rows
    db = damaged.state_dir / "health.sqlite3"
    data = bytearray(db.read_bytes())
    assert len(data) >= 3 * 4096, len(data)
    data[4096:] = b"\xa5" * (len(data) - 4096)  # keep the header page, wreck every other page
    db.write_bytes(bytes(data))
    runs = run_all(
        {
            "garbage_explain": partial(garbage, "explain-route", "--json"),
            "damaged_ask": partial(damaged, "ask", "--json", "hi"),
        }
    )
    assert runs["garbage_explain"].code == 0 and runs["garbage_explain"].json()["attempts"], runs["garbage_explain"]
    assert "corrupt" in runs["garbage_explain"].err and "moved it to" in runs["garbage_explain"].err
    assert runs["damaged_ask"].code == 0, runs["damaged_ask"]
    assert "corrupt" in runs["damaged_ask"].err or "malformed" in runs["damaged_ask"].err, runs["damaged_ask"]
    for cli in (garbage, damaged):
        assert list(cli.state_dir.glob("health.sqlite3.corrupt-*")), sorted(cli.state_dir.iterdir())
    after = garbage("ask", "hi")  # the fresh store works: no warning, the outcome recorded
    _ok(after, "garbage-a")
    assert after.err == "", after
    assert [(r["provider"], r["ok"]) for r in store_rows(garbage.state_dir)] == [("garbage-a", 1)]


def test_a_store_from_a_newer_orcli_is_read_not_written(upstream: Upstream, tmp_path: Path) -> None:
    cli = _cli(upstream, tmp_path, "newer")
    upstream.script("newer-a", server_error(500))
    for _ in range(3):  # three failures: a is in cooldown, b goes first
        assert cli("ask", "--only", "newer-a", "hi").code == 1
    db = sqlite3.connect(cli.state_dir / "health.sqlite3")
    with db:
        db.execute("INSERT INTO _migrations (name, applied_at) VALUES ('m999_from_the_future', 0)")
    db.close()
    before = store_rows(cli.state_dir)
    # One store, the subject of the test: the ask must leave it as it was, so the explain reads the same history.
    jobs = {"explain": partial(cli, "explain-route", "--json"), "ask": partial(cli, "ask", "hi")}
    runs = run_all(jobs, share_store=True)
    for run in runs.values():
        assert run.code == 0, run
        assert "newer orcli" in run.err, run
    doc = runs["explain"].json()
    assert [a["provider"] for a in doc["attempts"]] == ["newer-b", "newer-a"]  # the history is still read
    assert doc["attempts"][1]["health"]["state"] == "cooldown"
    _ok(runs["ask"], "newer-b")
    assert store_rows(cli.state_dir) == before  # and nothing is written


def test_the_store_is_private(upstream: Upstream, tmp_path: Path) -> None:
    cli = _cli(upstream, tmp_path, "modes")
    _ok(cli("ask", "hi"), "modes-a")
    assert stat.S_IMODE(cli.state_dir.stat().st_mode) == 0o700
    for path in cli.state_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def _unshare_works(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None or sys.platform != "linux":
        return False
    probe = tmp_path / "ro-probe"
    probe.mkdir()
    script = f"mount --bind {probe} {probe} && mount -o remount,bind,ro {probe} && ! touch {probe}/x 2>/dev/null"
    try:
        done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, timeout=RUN_TIMEOUT)
    except OSError:
        return False
    return done.returncode == 0


def test_a_truly_read_only_state_folder(upstream: Upstream, tmp_path: Path) -> None:
    """orcli runs in a mount namespace where the state folder is a read-only bind mount: the history is read,
    nothing is written, both commands work and warn."""
    if not _unshare_works(tmp_path):
        pytest.skip("no `unshare -m` with bind mounts here; the path-under-a-file test covers the warning")
    cli = _cli(upstream, tmp_path, "readonly")
    upstream.script("readonly-a", server_error(500))
    for _ in range(3):
        assert cli("ask", "--only", "readonly-a", "hi").code == 1
    before = store_rows(cli.state_dir)
    state = shlex.quote(str(cli.state_dir))

    def readonly(*args: str) -> Run:
        command = (
            f"mount --bind {state} {state} && mount -o remount,bind,ro {state} && exec {shlex.join(cli.argv(*args))}"  # type: ignore[arg-type]
        )
        proc = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, env=cli.env,
                              stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT)  # fmt: skip
        run = Run(proc.returncode, proc.stdout, proc.stderr, 0.0, args)
        cli.check_hygiene(run)
        return run

    jobs = {"explain": partial(readonly, "explain-route", "--json"), "ask": partial(readonly, "ask", "hi")}
    runs = run_all(jobs, share_store=True)  # a read-only mount: neither run can write to it
    for run in runs.values():
        assert run.code == 0, run
        assert WARNING in run.err and "read-only" in run.err, run
    assert [a["provider"] for a in runs["explain"].json()["attempts"]] == ["readonly-b", "readonly-a"]
    _ok(runs["ask"], "readonly-b")
    assert store_rows(cli.state_dir) == before
