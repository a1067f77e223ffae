"""Health store schema: numbered migrations, applied once in order and recorded by name (after llm's)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence

from orcli.store.transaction import immediate

Migration = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Register `fn` as the next migration; its name is what `_migrations` records, so never rename one."""
    MIGRATIONS.append(fn)
    return fn


class SchemaTooNew(Exception):
    """The store records migrations this orcli does not know: a newer orcli wrote it."""

    def __init__(self, unknown: Sequence[str]) -> None:
        super().__init__(f"unknown migrations: {', '.join(unknown)}")
        self.unknown = tuple(unknown)


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    # docs/health.md#the-store and docs/security.md: outcomes only; no prompt, answer or key has a column to land in.
    db.execute(
        """
        CREATE TABLE outcomes (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            ok INTEGER NOT NULL,
            error_class TEXT,
            status INTEGER,
            latency_s REAL,
            ttft_s REAL,
            tokens_per_s REAL,
            error TEXT,
            retry_after REAL
        )
        """
    )
    db.execute("CREATE INDEX outcomes_at ON outcomes (at)")
    db.execute("CREATE INDEX outcomes_provider ON outcomes (provider)")


@migration
def m002_usage(db: sqlite3.Connection) -> None:
    # docs/usage.md: one row per attempt, kept apart from the health window (retention_days), the spend of each
    # UTC day that budgets read, and the reservations of requests still running. Outcomes recorded before
    # usage existed become attempts of unknown tokens and cost: nothing is lost, nothing is invented.
    db.execute(
        """
        CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            day INTEGER NOT NULL,
            profile TEXT,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            ok INTEGER NOT NULL,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            estimated INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            request_id TEXT,
            first_of_request INTEGER NOT NULL DEFAULT 1,
            first_on_model INTEGER NOT NULL DEFAULT 1,
            first_at_provider INTEGER NOT NULL DEFAULT 1
        )
        """
    )
    db.execute("CREATE INDEX usage_at ON usage (at)")
    # Per UTC day and endpoint: what `orcli usage` reads for whole days, whatever the traffic.
    db.execute(
        """
        CREATE TABLE usage_days (
            day INTEGER NOT NULL,
            profile TEXT NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            requests INTEGER NOT NULL,
            model_requests INTEGER NOT NULL,
            provider_requests INTEGER NOT NULL,
            attempts INTEGER NOT NULL,
            failures INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            cost_usd REAL NOT NULL,
            unknown_cost_attempts INTEGER NOT NULL,
            PRIMARY KEY (day, profile, model, provider)
        )
        """
    )
    db.execute("CREATE TABLE spend_days (day INTEGER PRIMARY KEY, cost_usd REAL NOT NULL)")
    db.execute("CREATE TABLE reservations (id INTEGER PRIMARY KEY, amount REAL NOT NULL, expires REAL NOT NULL)")
    db.execute(
        "INSERT INTO usage (at, day, model, provider, ok) "
        "SELECT at, CAST(at / 86400 AS INTEGER), model, provider, ok FROM outcomes ORDER BY id"
    )
    db.execute(
        "INSERT INTO usage_days SELECT day, '', model, provider, count(*), count(*), count(*), count(*), "
        "sum(ok = 0), 0, 0, 0.0, count(*) FROM usage GROUP BY day, model, provider"
    )


@migration
def m003_sticky_sessions(db: sqlite3.Connection) -> None:
    # docs/routing.md "Sticky sessions": a session id digest, never the id; one row per (session, model).
    # Numbered after m002_usage (the usage table, built beside this): a store records names, not numbers,
    # so either may be applied first.
    db.execute(
        """
        CREATE TABLE sticky_sessions (
            session TEXT NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (session, model)
        )
        """
    )
    db.execute("CREATE INDEX sticky_sessions_at ON sticky_sessions (at)")


def applied(db: sqlite3.Connection) -> list[str]:
    """Names of the migrations recorded in `db`, oldest first; empty for a fresh database."""
    has_table = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'").fetchone()
    if not has_table:
        return []
    return [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY rowid")]


def check(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Names still to apply; raises SchemaTooNew when `db` records a migration not in `migrations`."""
    done = applied(db)
    known = [m.__name__ for m in migrations]
    unknown = [name for name in done if name not in known]
    if unknown:
        raise SchemaTooNew(unknown)
    return [name for name in known if name not in done]


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply pending migrations in one transaction (`db` in autocommit mode); returns the names applied now."""
    if not check(db, migrations):  # raises SchemaTooNew, before any write
        return []
    with immediate(db):  # the write lock, then what is applied is read again: a fresh store migrates once
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
        pending = set(check(db, migrations))
        done: list[str] = []
        for fn in migrations:
            if fn.__name__ in pending:
                fn(db)
                db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (fn.__name__, time.time()))
                done.append(fn.__name__)
    return done
