"""The SQLite health store (docs/health.md#the-store): round trip, modes, WAL, recovery, schema versions, concurrency."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from orcli.store import FILENAME, Store, default_state_dir
from orcli.store.migrations import MIGRATIONS, applied, check, migrate, migration
from orcli.types import FailureClass, Outcome


def _outcome(at: float = 1.0, provider: str = "p", **kw: object) -> Outcome:
    return Outcome(at=at, model="m", provider=provider, ok=True, **kw)  # type: ignore[arg-type]


def _open(state_dir: Path, **kw: object) -> Store:
    store, warnings = Store.open(state_dir, **kw)  # type: ignore[arg-type]
    assert store is not None
    assert warnings == []
    return store


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM outcomes").fetchone()[0]


# --- location -----------------------------------------------------------------------------------------


def test_state_dir_comes_from_orcli_state_dir(tmp_path: Path) -> None:
    assert default_state_dir({"ORCLI_STATE_DIR": str(tmp_path)}) == tmp_path


def test_state_dir_defaults_to_platformdirs_user_state_dir() -> None:
    import platformdirs

    expected = Path(platformdirs.user_state_dir("orcli"))
    assert default_state_dir({}) == expected
    assert default_state_dir({"ORCLI_STATE_DIR": ""}) == expected


# --- round trip ---------------------------------------------------------------------------------------


def test_outcomes_round_trip_with_every_field(tmp_path: Path) -> None:
    full = Outcome(
        at=100.5,
        model="meta-llama/llama-3.3-70b-instruct",
        provider="deepinfra/turbo",
        ok=False,
        error_class=FailureClass.PROVIDER,
        status=503,
        latency_s=1.25,
        ttft_s=0.5,
        tokens_per_s=42.0,
        error="service unavailable",
        retry_after=30.0,
    )
    others = [
        Outcome(at=101.0 + i, model="m", provider="p", ok=False, error_class=cls) for i, cls in enumerate(FailureClass)
    ]
    bare = _outcome(at=200.0)
    with _open(tmp_path) as store:
        for o in [bare, full, *others]:
            assert store.record(o) is True
        assert store.outcomes(0) == [full, *others, bare]  # ordered by time
        assert store.outcomes(150) == [bare]


def test_rows_hold_no_prompt_answer_or_key_column(tmp_path: Path) -> None:
    with _open(tmp_path):
        pass
    with sqlite3.connect(tmp_path / FILENAME) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(outcomes)")]
    assert columns == [
        "id",
        "at",
        "model",
        "provider",
        "ok",
        "error_class",
        "status",
        "latency_s",
        "ttft_s",
        "tokens_per_s",
        "error",
        "retry_after",
    ]


def test_many_threads_share_one_store(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        threads = [threading.Thread(target=lambda: [store.record(_outcome(at=i)) for i in range(50)]) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(store.outcomes(0)) == 400
        assert store.take_warnings() == []


def test_a_closed_store_records_nothing_and_does_not_raise(tmp_path: Path) -> None:
    store = _open(tmp_path)
    store.close()
    assert store.record(_outcome()) is False
    assert store.outcomes(0) == []


# --- files: modes, WAL --------------------------------------------------------------------------------


def test_folder_is_created_0700_and_file_0600_whatever_the_umask(tmp_path: Path) -> None:
    state_dir = tmp_path / "a" / "state"
    old = os.umask(0)
    try:
        store = _open(state_dir)
    finally:
        os.umask(old)
    store.record(_outcome())
    store.close()
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((state_dir / FILENAME).stat().st_mode) == 0o600


def test_an_existing_world_readable_file_is_tightened_to_0600(tmp_path: Path) -> None:
    _open(tmp_path).close()
    (tmp_path / FILENAME).chmod(0o644)
    _open(tmp_path).close()
    assert stat.S_IMODE((tmp_path / FILENAME).stat().st_mode) == 0o600


def test_store_uses_wal(tmp_path: Path) -> None:
    with _open(tmp_path), sqlite3.connect(tmp_path / FILENAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --- corruption ---------------------------------------------------------------------------------------


def test_a_file_that_is_not_a_database_is_moved_aside_with_one_warning(tmp_path: Path) -> None:
    garbage = b"this is not sqlite" * 500
    (tmp_path / FILENAME).write_bytes(garbage)
    store, warnings = Store.open(tmp_path, clock=lambda: 0.0)
    assert store is not None
    assert len(warnings) == 1 and "corrupt" in warnings[0]
    moved = tmp_path / f"{FILENAME}.corrupt-19700101T000000Z"
    assert moved.read_bytes() == garbage
    assert moved.name in warnings[0]
    assert store.record(_outcome()) is True
    assert len(store.outcomes(0)) == 1
    store.close()


def test_a_malformed_database_is_moved_aside_and_a_fresh_one_started(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        for i in range(500):
            store.record(_outcome(at=i, error="x" * 100))
    path = tmp_path / FILENAME
    data = bytearray(path.read_bytes())
    page = 4096
    for n in range(2, len(data) // page):
        data[n * page : (n + 1) * page] = b"\xff" * page
    path.write_bytes(bytes(data))
    store, warnings = Store.open(tmp_path)
    assert store is not None
    assert len(warnings) == 1 and "corrupt" in warnings[0]
    assert len(list(tmp_path.glob(f"{FILENAME}.corrupt-*"))) == 1
    assert store.outcomes(0) == []
    assert store.record(_outcome()) is True
    store.close()


class _CorruptConnection:
    """Stands in for a connection whose next read hits a malformed page."""

    in_transaction = False

    def execute(self, *args: object) -> None:
        exc = sqlite3.DatabaseError("database disk image is malformed")
        exc.sqlite_errorcode = sqlite3.SQLITE_CORRUPT  # type: ignore[attr-defined]
        raise exc

    def close(self) -> None:
        pass


def test_corruption_found_after_open_is_recovered_once(tmp_path: Path) -> None:
    store = _open(tmp_path)
    store.record(_outcome())
    store._db.close()  # type: ignore[union-attr]
    store._db = _CorruptConnection()  # type: ignore[assignment]
    (tmp_path / FILENAME).write_bytes(b"\x00garbage" * 2000)  # same inode: still the file we opened
    assert store.outcomes(0) == []
    warnings = store.take_warnings()
    assert len(warnings) == 1 and "corrupt" in warnings[0]
    assert len(list(tmp_path.glob(f"{FILENAME}.corrupt-*"))) == 1
    assert store.record(_outcome(at=2)) is True
    assert store.outcomes(0) == [_outcome(at=2)]
    store.close()


# --- unusable locations -------------------------------------------------------------------------------


def test_a_state_dir_under_a_regular_file_gives_no_store_and_a_warning(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store, warnings = Store.open(blocker / "state")
    assert store is None
    assert len(warnings) == 1 and "without history" in warnings[0]


def test_a_store_path_that_is_a_folder_gives_no_store_and_a_warning(tmp_path: Path) -> None:
    (tmp_path / FILENAME).mkdir()
    store, warnings = Store.open(tmp_path)
    assert store is None
    assert len(warnings) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 0500; covered by the regular-file case")
def test_a_read_only_folder_with_history_gives_a_read_only_store(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        store.record(_outcome())
    tmp_path.chmod(0o500)
    try:
        store, warnings = Store.open(tmp_path)
        assert store is not None and store.read_only
        assert len(warnings) == 1 and "read-only" in warnings[0]
        assert len(store.outcomes(0)) == 1
        assert store.record(_outcome(at=2)) is False
        store.close()
    finally:
        tmp_path.chmod(0o700)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 0500; covered by the regular-file case")
def test_a_read_only_empty_folder_gives_no_store_and_a_warning(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        store, warnings = Store.open(tmp_path)
        assert store is None and len(warnings) == 1
    finally:
        tmp_path.chmod(0o700)


# --- migrations and schema versions -------------------------------------------------------------------


def test_migrations_are_named_in_order_and_applied_once(tmp_path: Path) -> None:
    names = [m.__name__ for m in MIGRATIONS]
    assert names[0] == "m001_initial"
    assert names == sorted(names)
    _open(tmp_path).close()
    db = sqlite3.connect(tmp_path / FILENAME, isolation_level=None)
    assert applied(db) == names
    assert migrate(db) == []
    assert check(db) == []
    db.close()


def test_the_migration_decorator_registers_in_order() -> None:
    before = list(MIGRATIONS)
    try:

        @migration
        def m999_test(db: sqlite3.Connection) -> None:
            pass

        assert [*before, m999_test] == MIGRATIONS
    finally:
        MIGRATIONS[:] = before


def _future_schema(tmp_path: Path, *, drop_outcomes: bool = False) -> None:
    def m002_future(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE outcomes ADD COLUMN region TEXT")
        if drop_outcomes:
            db.execute("ALTER TABLE outcomes RENAME TO outcomes_v2")

    db = sqlite3.connect(tmp_path / FILENAME, isolation_level=None)
    migrate(db, [*MIGRATIONS, m002_future])
    table = "outcomes_v2" if drop_outcomes else "outcomes"
    db.execute(f"INSERT INTO {table} (at, model, provider, ok, region) VALUES (1, 'm', 'p', 1, 'eu')")
    db.close()


def test_a_newer_schema_is_read_but_never_written(tmp_path: Path) -> None:
    _future_schema(tmp_path)
    before = (tmp_path / FILENAME).read_bytes()
    store, warnings = Store.open(tmp_path)
    assert store is not None and store.read_only
    assert len(warnings) == 1 and "newer orcli" in warnings[0] and "m002_future" in warnings[0]
    assert store.outcomes(0) == [_outcome()]
    assert store.record(_outcome(at=2)) is False
    assert store.reset() == 0
    store.close()
    assert list(tmp_path.glob("*.corrupt-*")) == []
    db = sqlite3.connect(tmp_path / FILENAME)
    assert applied(db) == [*(m.__name__ for m in MIGRATIONS), "m002_future"]  # every migration orcli knows, then it
    assert db.execute("SELECT count(*) FROM outcomes").fetchone()[0] == 1
    db.close()
    assert (tmp_path / FILENAME).read_bytes() == before


def test_a_newer_schema_without_our_table_reads_as_empty(tmp_path: Path) -> None:
    _future_schema(tmp_path, drop_outcomes=True)
    store, warnings = Store.open(tmp_path)
    assert store is not None and store.read_only and len(warnings) == 1
    assert store.outcomes(0) == []
    assert store.take_warnings() == []
    store.close()


# --- reset and prune ----------------------------------------------------------------------------------

RESET = [
    (None, set()),
    ("deepinfra", {"deepinfrax", "groq"}),
    ("deepinfra/turbo", {"deepinfra", "deepinfrax", "groq"}),
    ("groq", {"deepinfra", "deepinfra/turbo", "deepinfrax"}),
    ("absent", {"deepinfra", "deepinfra/turbo", "deepinfrax", "groq"}),
]


@pytest.mark.parametrize(("provider", "left"), RESET)
def test_reset_forgets_all_or_one_provider_with_its_variants(
    tmp_path: Path, provider: str | None, left: set[str]
) -> None:
    names = ["deepinfra", "deepinfra/turbo", "deepinfrax", "groq"]
    with _open(tmp_path) as store:
        for name in names:
            store.record(_outcome(provider=name))
        assert store.reset(provider) == len(names) - len(left)
        assert {o.provider for o in store.outcomes(0)} == left


def test_prune_deletes_only_older_rows(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        for at in (1, 2, 3, 4):
            store.record(_outcome(at=at))
        assert store.prune(3) == 2
        assert [o.at for o in store.outcomes(0)] == [3, 4]


def test_open_prunes_when_the_oldest_row_is_older_than_twice_the_retention(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        for at in (0, 150, 195):
            store.record(_outcome(at=at))
    with _open(tmp_path, retention=100.0, clock=lambda: 200.0) as store:
        assert [o.at for o in store.outcomes(0)] == [0, 150, 195]  # oldest is 200 s old: not over 2 x 100
    with _open(tmp_path, retention=100.0, clock=lambda: 201.0) as store:
        assert [o.at for o in store.outcomes(0)] == [150, 195]  # older than 201 - 100 went


# --- concurrency --------------------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from orcli.store import Store
    from orcli.types import Outcome
    store, warnings = Store.open(Path(sys.argv[1]))
    for w in warnings:
        print("WARNING", w)
    for i in range(int(sys.argv[2])):
        if not store.record(Outcome(at=time.time(), model="m", provider=f"p{sys.argv[3]}", ok=True)):
            print("LOST", i)
    for w in store.take_warnings():
        print("WARNING", w)
    store.close()
    """
)


def test_eight_processes_writing_at_once_lose_nothing_and_never_see_locked(tmp_path: Path) -> None:
    state_dir = tmp_path / "fresh"  # not created yet: the writers also race to create and migrate it
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(state_dir), "200", str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(8)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outputs
    assert not any("locked" in out for out in outputs), outputs
    assert all(out == "" for out in outputs), outputs
    assert _rows(state_dir / FILENAME) == 1600
    with sqlite3.connect(state_dir / FILENAME) as db:
        per_writer = dict(db.execute("SELECT provider, count(*) FROM outcomes GROUP BY provider"))
        assert per_writer == {f"p{n}": 200 for n in range(8)}
        assert db.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)
