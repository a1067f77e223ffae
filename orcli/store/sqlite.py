"""The local health store: outcomes in SQLite, safe under many concurrent orcli processes (docs/health.md#the-store).

Never raises on environmental problems. `Store.open` returns (store or None, warnings); later problems
land in `Store.warnings` (drain them with `take_warnings`) and the call returns a neutral value, so
callers route without history rather than fail:

- folder missing: created 0700. Folder or file unusable: None, or a read-only store when the file can
  still be read.
- file created 0600 (os.open before SQLite touches it; -wal/-shm inherit its mode); WAL; synchronous=NORMAL
  (an outcome may be lost on power failure, never on a crash, and writes cost well under a millisecond).
- corrupt (not a database, malformed), at open or later: moved aside to `health.sqlite3.corrupt-<UTC time>`
  (its -wal and -shm too, so SQLite cannot replay them into the fresh file), one warning, a fresh store.
  Once, whoever does it: opening holds a shared flock on `health.sqlite3.lock`, recovery an exclusive one and
  moves the file only if it is still the one found corrupt (device, inode); the others open the fresh store.
- symbolic links: the store, its -wal/-shm or the lock file as a link is reported and never followed (docs/security.md).
- written by a newer orcli (a migration we do not know): opened query-only; outcomes are read if the
  columns we know still exist; nothing is recorded or migrated.
- concurrency: busy_timeout 5 s, writes in BEGIN IMMEDIATE, and a jittered retry on busy/locked for up to
  10 s more; "database is locked" never reaches the caller (after the budget the outcome is dropped with a
  warning).
- pruning: at open, if the oldest row is older than twice `retention`, rows older than `retention` are
  deleted. One index lookup per open; the delete runs about once per retention period. (A per-process write
  counter would never fire: most orcli processes record a handful of outcomes.)
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from orcli.paths import FILENAME, default_state_dir  # noqa: F401 - re-exported
from orcli.store import usage
from orcli.store.migrations import MIGRATIONS, Migration, SchemaTooNew, check, migrate
from orcli.store.sessions import SqliteSessions
from orcli.store.transaction import immediate
from orcli.store.values import outcome_values
from orcli.types import BudgetSettings, FailureClass, Outcome, Spend

DEFAULT_RETENTION = 86400.0  # seconds; callers with a longer health window pass a larger one
BUSY_TIMEOUT_MS = 5000
LOCK_RETRY_BUDGET_S = 10.0

_T = TypeVar("_T")
_COLUMNS = "at, model, provider, ok, error_class, status, latency_s, ttft_s, tokens_per_s, error, retry_after"
_INSERT = f"INSERT INTO outcomes ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SELECT = f"SELECT {_COLUMNS} FROM outcomes WHERE at >= ? ORDER BY at, id"
_CLASSES = {c.value: c for c in FailureClass}
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_READONLY = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH}


def _code(exc: sqlite3.Error) -> int:
    """Primary SQLite result code of an exception (extended codes folded), or -1 when unknown."""
    code = getattr(exc, "sqlite_errorcode", None)
    return -1 if code is None else code & 0xFF


class _Unusable(Exception):
    """The store cannot be opened at all; the message is the user-facing warning."""


class Store(SqliteSessions):
    """An open health store; build it with `Store.open`."""

    kind = "sqlite"
    shared = False  # one machine's history: `health reset` needs no confirmation (docs/health.md#sharing-health-across-machines)

    def __init__(
        self,
        db: sqlite3.Connection,
        path: Path,
        *,
        read_only: bool,
        clock: Callable[[], float],
        migrations: Sequence[Migration],
    ) -> None:
        self.path = path
        self.read_only = read_only
        self.warnings: list[str] = []
        self._db: sqlite3.Connection | None = db
        self._ident = _ident(path)
        self._clock = clock
        self._migrations = migrations
        self._lock = threading.Lock()  # one connection shared by threads (health --probe)
        self._rng = random.Random()

    # --- opening -------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        state_dir: Path,
        *,
        retention: float = DEFAULT_RETENTION,
        clock: Callable[[], float] = time.time,
        migrations: Sequence[Migration] = MIGRATIONS,
        usage_days: int = BudgetSettings().retention_days,
    ) -> tuple[Store | None, list[str]]:
        """Open (creating, migrating or recovering) `state_dir/health.sqlite3`; never raises on the environment."""
        path = state_dir.absolute() / FILENAME
        warnings: list[str] = []
        try:
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            return None, [
                f"health store unavailable: cannot create {state_dir}: {_reason(exc)}; routing without history"
            ]
        for attempt in range(2):
            corrupt: sqlite3.DatabaseError | None = None
            with _store_lock(path, exclusive=False):  # no recovery moves files while we open them
                seen = _ident(path)
                try:
                    store = cls._open_path(path, clock=clock, migrations=migrations)
                except _Unusable as exc:
                    return None, [*warnings, str(exc)]
                except sqlite3.DatabaseError as exc:
                    if _code(exc) not in _CORRUPT or attempt == 1:
                        return None, [*warnings, f"health store {path} unusable: {exc}; routing without history"]
                    corrupt = exc
                except OSError as exc:
                    return None, [*warnings, f"health store {path} unusable: {_reason(exc)}; routing without history"]
            if corrupt is not None:
                warnings.extend(_recover_once(path, seen, corrupt, clock))
                continue
            if not store.read_only:
                store._maybe_prune(retention)
                store._run(lambda db: usage.prune(db, clock(), usage_days), None, "prune usage")
            return store, [*warnings, *store.take_warnings()]
        raise AssertionError("unreachable")  # pragma: no cover

    @classmethod
    def _open_path(cls, path: Path, *, clock: Callable[[], float], migrations: Sequence[Migration]) -> Store:
        _refuse_links(path)
        if not os.path.lexists(path):
            try:
                # docs/health.md#the-store: 0600 from the first byte; os.open before SQLite creates it with the umask's mode.
                # O_EXCL|O_NOFOLLOW: never create through a link planted since the check (docs/security.md).
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
            except FileExistsError:
                pass  # another orcli created it first: open theirs
            except OSError as exc:
                raise _Unusable(
                    f"health store unavailable: cannot create {path}: {_reason(exc)}; routing without history"
                ) from exc
        _tighten_mode(path)
        if not os.access(path, os.W_OK):
            return cls._open_read_only(path, clock=clock, migrations=migrations)
        try:
            db = _connect(path)
            return cls._prepare(db, path, clock=clock, migrations=migrations)
        except sqlite3.DatabaseError as exc:
            if _code(exc) not in _READONLY:
                raise
        return cls._open_read_only(path, clock=clock, migrations=migrations)

    @classmethod
    def _prepare(
        cls, db: sqlite3.Connection, path: Path, *, clock: Callable[[], float], migrations: Sequence[Migration]
    ) -> Store:
        try:
            try:
                _with_retry(lambda: check(db, migrations), random.Random())
            except SchemaTooNew as exc:
                db.execute("PRAGMA query_only = ON")
                store = cls(db, path, read_only=True, clock=clock, migrations=migrations)
                store.warnings.append(
                    f"health store {path} was written by a newer orcli ({exc}); reading it without recording outcomes"
                )
                return store
            rng = random.Random()
            _with_retry(lambda: db.execute("PRAGMA journal_mode = WAL").fetchone(), rng)
            _with_retry(lambda: migrate(db, migrations), rng)
            db.execute("PRAGMA synchronous = NORMAL")
        except SchemaTooNew:
            db.close()  # a newer orcli migrated it between our check and our write lock: open again
            return cls._prepare(_connect(path), path, clock=clock, migrations=migrations)
        except BaseException:
            db.close()
            raise
        return cls(db, path, read_only=False, clock=clock, migrations=migrations)

    @classmethod
    def _open_read_only(cls, path: Path, *, clock: Callable[[], float], migrations: Sequence[Migration]) -> Store:
        # A WAL file in a folder we cannot write opens with mode=ro only if its -shm exists; immutable=1
        # reads it without the shared-memory index.
        last: Exception | None = None
        for query in ("mode=ro", "immutable=1"):
            db = None
            try:
                db = sqlite3.connect(
                    f"{path.as_uri()}?{query}", uri=True, isolation_level=None, check_same_thread=False
                )
                db.execute("PRAGMA query_only = ON")
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                if db is not None:
                    db.close()
                last = exc
                continue
            store = cls(db, path, read_only=True, clock=clock, migrations=migrations)
            store.warnings.append(
                f"health store {path} is read-only here; routing with its history but recording nothing"
            )
            return store
        raise _Unusable(f"health store {path} unusable: {last}; routing without history")

    # --- the API -------------------------------------------------------------------------------------

    def record(self, outcome: Outcome) -> bool:
        """Insert one outcome in one short transaction; False (and a warning) when it could not be stored."""
        if self.read_only:
            return False
        at, *rest = outcome_values(outcome)
        row = (at, outcome.model, outcome.provider, *rest)
        return self._run(lambda db: usage.record(db, outcome, row, _INSERT) == 1, False, "record an outcome")

    def usage(self, since: float, until: float, by: str) -> tuple[list[usage.UsageRow], usage.UsageRow]:
        """`orcli usage`: attempts with since <= at < until grouped by `by`, and their total."""
        nothing: tuple[list[usage.UsageRow], usage.UsageRow] = ([], usage.UsageRow("total"))
        return self._run(lambda db: usage.report(db, since, until, by), nothing, "read usage")

    def spend(self, now: float) -> Spend:
        """Today's and this month's spend (UTC) with the reservations of running requests; 0 if unreadable."""
        return self._run(lambda db: usage.spend(db, now), Spend(), "read the spend")

    def reserve(self, budget: BudgetSettings, amount: float, now: float, hold_s: float) -> tuple[object, Spend]:
        """Hold `amount` against the budget atomically: (a token for `settle`, spend) or (None, the spend that
        refused it). A store that cannot be written holds nothing and refuses nothing (a warning says so)."""
        if self.read_only:
            return "unrecorded", self.spend(now)
        held: tuple[object, Spend] = ("unrecorded", Spend())
        return self._run(lambda db: usage.reserve(db, budget, amount, now, hold_s), held, "reserve")

    def settle(self, token: object) -> None:
        """Release a hold `reserve` made (the attempts have recorded their real cost)."""
        if isinstance(token, int) and not self.read_only:
            self._run(lambda db: usage.settle(db, token), None, "settle a reservation")

    def outcomes(self, since: float, endpoints: Collection[tuple[str, str]] | None = None) -> list[Outcome]:
        """Every outcome with `at >= since`, oldest first; [] when nothing can be read. All endpoints' rows are
        returned whatever `endpoints` asks (the interface allows more): one indexed range scan beats a filter."""
        return self._run(lambda db: _read(db, since), [], "read outcomes")

    def reset(self, provider: str | None = None) -> int:
        """Forget every outcome, or one provider's; a base name also matches its variants. Returns rows deleted."""
        if self.read_only:
            self.warnings.append(f"health store {self.path} is read-only: history not reset")
            return 0
        if provider is None:
            self.forget_bindings()  # every session sticks anew
            return self._run(lambda db: _write(db, "DELETE FROM outcomes", ()), 0, "reset")
        # docs/routing.md#rejections variant matching: `deepinfra` also means `deepinfra/turbo`; a full name only itself.
        where, args = "WHERE provider = ? OR substr(provider, 1, ?) = ?", (provider, len(provider) + 1, provider + "/")
        self.forget_bindings(where, args)
        return self._run(lambda db: _write(db, f"DELETE FROM outcomes {where}", args), 0, "reset")

    def prune(self, before: float) -> int:
        """Delete outcomes older than `before`; returns rows deleted."""
        if self.read_only:
            return 0
        self.forget_bindings("WHERE at < ?", (before,))
        return self._run(lambda db: _write(db, "DELETE FROM outcomes WHERE at < ?", (before,)), 0, "prune")

    def describe(self) -> dict[str, object]:
        """Which store this is, for `orcli health` (text and JSON)."""
        return {"kind": self.kind, "path": str(self.path)}

    def take_warnings(self) -> list[str]:
        """Warnings gathered since the last call, for the caller to show once."""
        taken, self.warnings = self.warnings, []
        return taken

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals -----------------------------------------------------------------------------------

    def _maybe_prune(self, retention: float) -> None:
        now = self._clock()
        oldest = self._run(lambda db: db.execute("SELECT min(at) FROM outcomes").fetchone()[0], None, "prune")
        if oldest is not None and oldest < now - 2 * retention:
            self.prune(now - retention)

    def _run(self, op: Callable[[sqlite3.Connection], _T], fallback: _T, what: str) -> _T:
        """Run `op` with lock retries; on corruption recover once; on any other failure warn and fall back."""
        with self._lock:
            for attempt in range(2):
                if self._db is None:
                    return fallback
                try:
                    return _with_retry(lambda: op(self._db), self._rng)  # type: ignore[arg-type]
                except sqlite3.Error as exc:
                    code = _code(exc)
                    if code in _CORRUPT and attempt == 0 and not self.read_only:
                        self._recover(exc)
                        continue
                    if code in _READONLY and not self.read_only:
                        self.read_only = True
                        self.warnings.append(
                            f"health store {self.path} became read-only ({exc}); recording nothing more"
                        )
                    elif code in _BUSY:
                        self.warnings.append(f"health store {self.path} stayed busy: could not {what}")
                    elif self.read_only and isinstance(exc, sqlite3.OperationalError):
                        pass  # read-only store of another schema, or without tables yet: nothing to read
                    else:
                        self.warnings.append(f"health store {self.path}: could not {what}: {exc}")
                    return fallback
                except OSError as exc:
                    self.warnings.append(f"health store {self.path}: could not {what}: {_reason(exc)}")
                    return fallback
            return fallback

    def _recover(self, exc: sqlite3.Error) -> None:
        assert self._db is not None
        self._db.close()
        self._db = None
        self.warnings.extend(_recover_once(self.path, self._ident, exc, self._clock))
        store, warnings = Store.open(self.path.parent, clock=self._clock, migrations=self._migrations)
        self.warnings.extend(warnings)
        if store is None:
            self.read_only = True
            return
        self._db, self._ident, self.read_only = store._db, store._ident, store.read_only
        store._db = None


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return db


def _with_retry(op: Callable[[], _T], rng: random.Random) -> _T:
    """Run `op`, retrying busy/locked errors with jittered backoff for up to LOCK_RETRY_BUDGET_S."""
    deadline = time.monotonic() + LOCK_RETRY_BUDGET_S
    delay = 0.002
    while True:
        try:
            return op()
        except sqlite3.OperationalError as exc:
            if _code(exc) not in _BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(delay * rng.uniform(0.5, 1.5))
        delay = min(delay * 2, 0.1)


def _write(db: sqlite3.Connection, sql: str, args: tuple[object, ...]) -> int:
    with immediate(db):
        count: int = db.execute(sql, args).rowcount
    return count


def _read(db: sqlite3.Connection, since: float) -> list[Outcome]:
    return [
        Outcome(
            at=at,
            model=model,
            provider=provider,
            ok=bool(ok),
            error_class=None if error_class is None else _CLASSES.get(error_class),
            status=status,
            latency_s=latency_s,
            ttft_s=ttft_s,
            tokens_per_s=tokens_per_s,
            error=error,
            retry_after=retry_after,
        )
        for at, model, provider, ok, error_class, status, latency_s, ttft_s, tokens_per_s, error, retry_after in (
            db.execute(_SELECT, (since,))
        )
    ]


@contextlib.contextmanager
def _store_lock(path: Path, *, exclusive: bool) -> Iterator[None]:
    """flock on `<store>.lock`: shared while a process opens the store, exclusive while one recovers it, so a
    corrupt store is moved aside once and never while another process opens the fresh one (docs/health.md#the-store). Where
    no lock file can be opened (a read-only folder) there is no lock: nothing can be moved there either."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not a POSIX system
        yield
        return
    lock = path.with_name(path.name + ".lock")
    fd = -1
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
        with contextlib.suppress(OSError):
            fd = os.open(lock, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            break
    try:
        if fd >= 0:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        if fd >= 0:
            os.close(fd)  # releases the lock


def _recover_once(
    path: Path, seen: tuple[int, int] | None, exc: sqlite3.Error, clock: Callable[[], float]
) -> list[str]:
    """Move the corrupt store aside unless another process already did: under the exclusive lock, the file
    at `path` is still the one found corrupt (`seen`: device and inode) or it is a fresh store to keep."""
    with _store_lock(path, exclusive=True):
        if seen is None or _ident(path) != seen:
            return []  # recovered by another orcli: use its fresh store
        return [_move_aside(path, exc, clock)]


def _move_aside(path: Path, exc: sqlite3.Error, clock: Callable[[], float]) -> str:
    """Rename a corrupt store (and its -wal/-shm) out of the way; returns the one warning to show."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(clock()))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while os.path.lexists(target):
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    try:
        path.rename(target)
    except FileNotFoundError:
        return f"health store {path} was corrupt ({exc}); another orcli already replaced it"
    except OSError as exc2:
        return f"health store {path} is corrupt ({exc}) and could not be moved aside: {_reason(exc2)}"
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        with contextlib.suppress(OSError):  # absent, or already moved by another process
            side.rename(target.with_name(target.name + suffix))
    return f"health store {path} was corrupt ({exc}); moved it to {target.name} and started a fresh one"


def _ident(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _refuse_links(path: Path) -> None:
    """Raise _Unusable when the store or its -wal/-shm is a symbolic link: a state file is never followed
    through one, to write or to chmod (docs/security.md): as root, a link to a system file would change that file."""
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}.lock"):
        if os.path.islink(path.with_name(name)):
            raise _Unusable(
                f"health store {path.with_name(name)} is a symbolic link, which orcli never follows for its state "
                "files; routing without history (remove the link, or set ORCLI_STATE_DIR to another folder)"
            )


def _tighten_mode(path: Path) -> None:
    """Make the store 0600 if it is looser, through a descriptor opened without following links; raise
    _Unusable when it is not a regular file (a link planted since the check, a FIFO, a folder)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            _refuse_links(path)
        return  # unreadable, or gone: SQLite says so in its own words
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _Unusable(f"health store {path} is not a regular file; routing without history")
        if os.fstat(fd).st_mode & 0o077:
            with contextlib.suppress(
                OSError
            ):  # not ours to change; docs/health.md#the-store asks 0600 of the files orcli creates
                os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
