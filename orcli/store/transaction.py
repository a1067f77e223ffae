"""One write transaction on a store connection (opened in autocommit mode): every writer of the SQLite store
goes through `immediate`, so the lock, the commit and the rollback are spelled once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # usage.py (imported by the Redis store too) uses this without loading sqlite3
    import sqlite3


@contextlib.contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE, the block, COMMIT; ROLLBACK on any exception, which goes on.

    IMMEDIATE takes the write lock up front: a deferred transaction that upgrades from read to write can fail
    with SQLITE_BUSY_SNAPSHOT without waiting on busy_timeout, and processes racing to migrate a fresh store
    re-read what is applied under the lock, so they migrate it exactly once."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # SQLite may already have rolled back (disk full, I/O error)
            db.execute("ROLLBACK")
        raise
