"""The health-store interface, and which store a command uses: local SQLite, or Redis when configured.

docs/health.md#the-store. The shared store's URL comes from env `ORCLI_HEALTH_URL`, else the profile's `[health] store`:
the environment wins, because it is per machine (a CI runner, a laptop) and is the only place a password may
be given. Every problem with a shared store ends in the local SQLite store plus one warning: health sharing
never fails a command that routes. Nothing here imports sqlite3 or redis until a store is opened.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from orcli.types import BudgetSettings, HealthSettings, Outcome, Spend, StickyBinding

if TYPE_CHECKING:
    from orcli.store.usage import UsageRow

ENV_URL = "ORCLI_HEALTH_URL"
PROFILE_KEY = "[health] store"


class HealthBackend(Protocol):
    """A health store: outcomes in, outcomes out. Never raises on its environment (problems become warnings)."""

    kind: str  # "sqlite" or "redis"
    shared: (
        bool  # other machines read it too: `health reset` asks first (docs/health.md#sharing-health-across-machines)
    )

    def record(self, outcome: Outcome) -> bool:
        """Store one outcome; False (and a warning) when it could not be stored."""
        ...

    def outcomes(self, since: float, endpoints: Collection[tuple[str, str]] | None = None) -> list[Outcome]:
        """Outcomes with `at >= since` of at least these (model, provider) endpoints (None: all)."""
        ...

    def reset(self, provider: str | None = None) -> int | None:
        """Forget every outcome, or one provider's (and its variants'); how many, or None when it failed."""
        ...

    def bind_session(self, session: str, model: str, provider: str, at: float) -> bool:
        """Remember that `provider` served `model` in `session` at `at` (a success renews the binding)."""
        ...

    def session_bindings(self, session: str, now: float) -> dict[str, StickyBinding]:
        """The session's bindings still in force at `now`, per model (docs/routing.md, "Sticky sessions")."""
        ...

    def describe(self) -> dict[str, object]:
        """Which store this is: `{"kind": "sqlite", "path": ...}` or `{"kind": "redis", "url": ...}`."""
        ...

    def usage(self, since: float, until: float, by: str) -> tuple[list[UsageRow], UsageRow]:
        """`orcli usage`: attempts with since <= at < until grouped by `by`, and their total (docs/usage.md)."""
        ...

    def spend(self, now: float) -> Spend:
        """What everyone sharing the store spent this UTC day and month, running requests' reservations included."""
        ...

    def reserve(self, budget: BudgetSettings, amount: float, now: float, hold_s: float) -> tuple[object, Spend]:
        """Check the budget and hold `amount` atomically: (a token for `settle`, spend), or (None, the spend
        that refused it)."""
        ...

    def settle(self, token: object) -> None:
        """The request is over (its attempts recorded their real cost): release its reservation."""
        ...

    def take_warnings(self) -> list[str]:
        """Warnings gathered since the last call, for the caller to show once."""
        ...

    def close(self) -> None: ...


def configured_url(settings: HealthSettings, env: Mapping[str, str]) -> tuple[str | None, str]:
    """The shared store's URL (None: local only) and where it came from; the environment wins."""
    from_env = env.get(ENV_URL, "").strip()
    if from_env:
        return from_env, ENV_URL
    return settings.store, PROFILE_KEY


def open_store(
    settings: HealthSettings,
    env: Mapping[str, str],
    *,
    create: bool = True,
    clock: Callable[[], float] = time.time,
    usage_days: int = BudgetSettings().retention_days,
) -> tuple[HealthBackend | None, list[str]]:
    """Open the configured store; None (with warnings) when no store can be used. With `create=False` a local
    store that does not exist yet is not created (a command that only reads has nothing to read).
    `usage_days`: how long usage is kept, apart from the health window (`[budget] retention_days`)."""
    url, origin = configured_url(settings, env)
    if url is None:
        return open_local(env, settings, create=create, clock=clock, usage_days=usage_days)
    from orcli.store_url import BadStoreURL, parse

    try:
        target = parse(url)
    except BadStoreURL as exc:
        store, warnings = open_local(env, settings, create=create, clock=clock, usage_days=usage_days)
        return store, [f"{origin}: {exc}; keeping health on this machine only, in the local store", *warnings]
    from orcli.routing.health import history_horizon
    from orcli.store.redis import RedisStore, connect

    client = connect(target, settings.store_timeout)

    return (
        RedisStore(
            client,
            target,
            retention=history_horizon(settings),
            timeout=settings.store_timeout,
            fallback=lambda: open_local(env, settings, create=create, clock=clock, usage_days=usage_days),
            clock=clock,
            usage_days=usage_days,
        ),
        [],
    )


def open_local(
    env: Mapping[str, str],
    settings: HealthSettings,
    *,
    create: bool = True,
    clock: Callable[[], float] = time.time,
    usage_days: int = BudgetSettings().retention_days,
) -> tuple[HealthBackend | None, list[str]]:
    """The local SQLite store in the state folder (docs/health.md#the-store)."""
    from orcli.paths import FILENAME, default_state_dir

    state_dir = default_state_dir(env)
    if not create and not os.path.lexists(state_dir / FILENAME):  # a link is reported, never followed
        # No history yet: nothing to read, no sqlite to load. Say so only if history could never be kept.
        return None, _unreachable(state_dir)
    from orcli.routing.health import history_horizon
    from orcli.store.sqlite import DEFAULT_RETENTION, Store

    retention = max(DEFAULT_RETENTION, history_horizon(settings))
    return Store.open(state_dir, retention=retention, clock=clock, usage_days=usage_days)


def describe(store: HealthBackend | None, env: Mapping[str, str]) -> dict[str, object]:
    """Which store a command read, for `orcli health`: the open one's own description, or the local file that
    does not exist yet (a read-only command does not create it)."""
    if store is not None:
        return store.describe()
    from orcli.paths import FILENAME, default_state_dir

    path = default_state_dir(env) / FILENAME
    return {"kind": "sqlite", "path": str(path), "exists": path.exists()}


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
