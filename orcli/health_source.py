"""The health snapshot a command routes with: read from the store, or empty (with a warning) without one."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from orcli.types import HealthSnapshot, Profile

if TYPE_CHECKING:
    from orcli.store import Store


def open_health(
    profile: Profile, env: Mapping[str, str], now: float | None = None, create: bool = True
) -> tuple[Store | None, HealthSnapshot, list[str]]:
    """Open the store and derive the snapshot; never raises on a broken store: routing without history
    beats not routing. The caller closes the store (it stays open so `ask` can record outcomes)."""
    from orcli.paths import FILENAME, default_state_dir

    state_dir = default_state_dir(env)
    if not create and not os.path.lexists(state_dir / FILENAME):  # a link is reported, never followed
        # No history yet: nothing to read, no sqlite to load. Say so only if history could never be kept.
        return None, HealthSnapshot(), _unreachable(state_dir)
    from orcli.store import Store

    now = time.time() if now is None else now
    store, warnings = Store.open(state_dir)
    if store is None:
        return None, HealthSnapshot(), warnings
    snapshot = snapshot_from(store, profile, now)
    warnings.extend(store.take_warnings())
    return store, snapshot, warnings


def snapshot_from(store: Store, profile: Profile, now: float | None = None) -> HealthSnapshot:
    from orcli.health import derive, history_horizon

    now = time.time() if now is None else now
    return derive(store.outcomes(since=now - history_horizon(profile.health)), now, profile.health)


def load_snapshot(
    profile: Profile, env: Mapping[str, str], now: float | None = None
) -> tuple[HealthSnapshot, list[str]]:
    store, snapshot, warnings = open_health(profile, env, now, create=False)
    if store is not None:
        store.close()
    return snapshot, warnings


def _unreachable(state_dir: Path) -> list[str]:
    """A warning when the state folder cannot be created: its nearest existing ancestor is not a folder."""
    ancestor = state_dir
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.is_dir():
        return []
    return [
        f"health store unavailable: cannot create {state_dir} ({ancestor} is not a folder); routing without history"
    ]
