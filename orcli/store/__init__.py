"""The health store: outcomes in local SQLite (default) or a shared Redis (docs/health.md#the-store).

`backend` chooses and opens one; `sqlite` and `redis` are the two implementations. The names below stay
importable from `orcli.store` as before the package split, loaded on first use so that importing the
package costs no sqlite3.
"""

from __future__ import annotations

from typing import Any

_SQLITE_NAMES = ("Store", "DEFAULT_RETENTION", "FILENAME", "default_state_dir")


def __getattr__(name: str) -> Any:
    if name in _SQLITE_NAMES:
        import orcli.store.sqlite

        return getattr(orcli.store.sqlite, name)
    raise AttributeError(f"module 'orcli.store' has no attribute {name!r}")
