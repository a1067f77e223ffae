"""Hardening, state: an unusable health store costs a warning, never the command (docs/health.md#the-store).

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
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cli_harness import MODEL, RUN_TIMEOUT, Cli, Run, run_all, store_rows
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
        proc = subprocess.run(
            ["unshare", "-m", "sh", "-c", command],
            capture_output=True,
            text=True,
            env=cli.env,
            stdin=subprocess.DEVNULL,
            timeout=RUN_TIMEOUT,
        )
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


@pytest.mark.parametrize("link", ["health.sqlite3", "health.sqlite3-wal", "health.sqlite3-shm", "health.sqlite3.lock"])
def test_a_state_file_that_is_a_symlink_is_never_followed_nor_chmodded(
    upstream: Upstream, tmp_path: Path, link: str
) -> None:
    """docs/security.md: a link where a state file belongs (as root, pointing at /etc/shadow, say) is reported and
    routed around; its target keeps its bytes and its mode, whether it is a database or not."""
    cli = _cli(upstream, tmp_path, "link")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious system file\n")
    victim.chmod(0o644)
    other = _cli(upstream, tmp_path, "elsewhere")  # a real store in another folder, 0644 as a link target
    _ok(other("ask", "hi"), "elsewhere-a")
    database = other.state_dir / "health.sqlite3"
    database.chmod(0o644)
    if link != "health.sqlite3":
        _ok(cli("ask", "hi"), "link-a")  # a real store whose -wal/-shm is the link
        for side in ("health.sqlite3-wal", "health.sqlite3-shm"):
            (cli.state_dir / side).unlink(missing_ok=True)
    cli.state_dir.mkdir(parents=True, exist_ok=True)
    targets = {"file": victim, "database": database, "dangling": tmp_path / "nothing-here"}
    before = {name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for name, p in targets.items() if p.exists()}
    rows_before = store_rows(other.state_dir)
    for name, target in targets.items():
        (cli.state_dir / link).unlink(missing_ok=True)
        (cli.state_dir / link).symlink_to(target)
        runs = run_all(
            {
                "ask": partial(cli, "ask", "hi"),
                "ask_json": partial(cli, "ask", "--json", "hi"),
                "explain": partial(cli, "explain-route", "--json"),
                "health": partial(cli, "health", "--json"),
            }
        )
        for run in runs.values():
            assert run.code == 0, (name, run)
            assert f"{link} is a symbolic link" in run.err and "routing without history" in run.err, (name, run)
        _ok(runs["ask"], "link-a")
        reset = cli("health", "reset")
        assert reset.code == 2 and "symbolic link" in reset.err, reset
        assert (cli.state_dir / link).is_symlink()
    after = {name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for name, p in targets.items() if p.exists()}
    assert after == before
    assert store_rows(other.state_dir) == rows_before
    assert not targets["dangling"].exists()


def _open_and_record(state_dir: str, barrier: Any, i: int, results: Any) -> None:
    """One process of the race: open the (corrupt) store when all are ready, record one outcome, close."""
    from orcli.store import Store
    from orcli.types import Outcome

    barrier.wait(timeout=60)
    store, warnings = Store.open(Path(state_dir))
    recorded = False
    if store is not None:
        recorded = store.record(Outcome(at=time.time(), model=MODEL, provider=f"p{i}", ok=True))
        warnings += store.take_warnings()
        store.close()
    results.put((i, recorded, warnings))


def _damaged_store(state_dir: Path) -> None:
    """A real store with rows whose pages past the header are wrecked: found corrupt at open or at a write."""
    from orcli.store import Store
    from orcli.types import Outcome

    store, _ = Store.open(state_dir)
    assert store is not None
    for k in range(1500):
        store.record(Outcome(at=time.time(), model=MODEL, provider=f"old{k}", ok=True, error="x" * 40))
    store.close()
    db = state_dir / "health.sqlite3"
    data = bytearray(db.read_bytes())
    data[4096:] = b"\xa5" * (len(data) - 4096)
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["garbage", "garbage", "pages", "pages"])
def test_a_corrupt_store_is_recovered_once_by_64_racing_processes_and_no_outcome_is_lost(
    tmp_path: Path, damage: str
) -> None:
    """docs/health.md#the-store: 64 processes open a corrupt store at the same instant (a barrier) and record one outcome each.
    One moves it aside; every other uses the fresh store: 64 rows in it, exactly one corrupt-* copy, one warning.
    (Before the recovery lock, some runs moved another process's fresh store aside, or two copies onto one
    name, and outcomes were lost.) Forked processes: interpreter start-up would only spread the race out."""
    import multiprocessing

    n = 64
    state = tmp_path / "state"
    state.mkdir()
    if damage == "garbage":
        (state / "health.sqlite3").write_bytes(b"this is not a database\n" * 300)
    else:
        _damaged_store(state)
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_open_and_record, args=(str(state), barrier, i, results)) for i in range(n)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=RUN_TIMEOUT * 2) for _ in procs]
    for proc in procs:
        proc.join(RUN_TIMEOUT)
    assert [p.exitcode for p in procs] == [0] * n
    assert [i for i, recorded, _ in outcomes if not recorded] == [], outcomes
    rows = [r for r in store_rows(state) if not r["provider"].startswith("old")]
    assert sorted(r["provider"] for r in rows) == sorted(f"p{i}" for i in range(n))
    assert len(list(state.glob("health.sqlite3.corrupt-*[0-9Z]"))) == 1, sorted(p.name for p in state.iterdir())
    moved = [w for _, _, warnings in outcomes for w in warnings if "moved it to" in w]
    assert len(moved) == 1, moved
    others = [w for _, _, warnings in outcomes for w in warnings if "moved it to" not in w]
    assert others == [], others


ASKS = 16  # real processes on 2 shared cores: 64 interpreter start-ups take ~30 s; the forked test above runs 64


def test_racing_asks_on_a_corrupt_store_all_answer_and_all_are_recorded(upstream: Upstream, tmp_path: Path) -> None:
    """The same race through the real CLI: `ask` processes started at once on a corrupt store (one provider,
    patient timeouts: under this load a slow answer must not turn into a failover)."""
    cli = Cli(upstream, tmp_path / "race")
    cli.profile(["race-a"], timeouts={"connect": 60, "first_token": 60, "idle": 60, "total": 120})
    cli.state_dir.mkdir(parents=True)
    (cli.state_dir / "health.sqlite3").write_bytes(b"this is not a database\n" * 300)
    procs = [cli.popen("ask", "--json", f"hi {i}") for i in range(ASKS)]
    runs = []
    for proc in procs:
        out, err = proc.communicate(timeout=RUN_TIMEOUT * 4)
        runs.append(Run(proc.returncode, out.decode(), err.decode(), 0.0, ("ask",)))
    for run in runs:
        cli.check_hygiene(run)
        _ok(run, "race-a")
    rows = store_rows(cli.state_dir)
    assert len(rows) == ASKS and {r["provider"] for r in rows} == {"race-a"}, len(rows)
    assert len(list(cli.state_dir.glob("health.sqlite3.corrupt-*[0-9Z]"))) == 1
    assert sum("moved it to" in run.err for run in runs) == 1
