"""The health snapshot a command routes with: read from the configured store, or empty (with a warning)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from orcli.types import HealthSnapshot, Profile, Spend

if TYPE_CHECKING:
    from orcli.store.backend import HealthBackend


def open_health(
    profile: Profile, env: Mapping[str, str], now: float | None = None, create: bool = True
) -> tuple[HealthBackend | None, HealthSnapshot, list[str]]:
    """Open the store and derive the snapshot; never raises on a broken store: routing without history
    beats not routing. The caller closes the store (it stays open so `ask` can record outcomes)."""
    from orcli.store.backend import open_store

    store, warnings = open_store(profile.health, env, create=create, usage_days=profile.budget.retention_days)
    if store is None:
        return None, HealthSnapshot(), warnings
    snapshot = snapshot_from(store, profile, now)
    warnings.extend(store.take_warnings())
    return store, snapshot, warnings


def snapshot_from(store: HealthBackend, profile: Profile, now: float | None = None) -> HealthSnapshot:
    """Derive the health of the profile's endpoints from what the store holds within the history horizon."""
    from orcli.routing.health import derive, history_horizon

    now = time.time() if now is None else now
    endpoints = {(e.model, e.provider) for e in profile.endpoints}
    return derive(store.outcomes(since=now - history_horizon(profile.health), endpoints=endpoints), now, profile.health)


def load_snapshot(
    profile: Profile, env: Mapping[str, str], now: float | None = None
) -> tuple[HealthSnapshot, list[str]]:
    snapshot, _spend, warnings = load_state(profile, env, now)
    return snapshot, warnings


def load_state(
    profile: Profile, env: Mapping[str, str], now: float | None = None
) -> tuple[HealthSnapshot, Spend | None, list[str]]:
    """Health and, when the profile has a `[budget]`, the spend so far (None: no budget), read without
    creating a store; what explain-route plans with."""
    store, snapshot, warnings = open_health(profile, env, now, create=False)
    spent = Spend() if profile.budget.is_set() else None
    if store is not None:
        if spent is not None:
            spent = store.spend(time.time() if now is None else now)
        warnings.extend(store.take_warnings())
        store.close()
    return snapshot, spent, warnings
