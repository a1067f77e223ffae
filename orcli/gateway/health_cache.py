"""The gateway's view of endpoint health (docs/gateway.md, "A long-lived process"): the store's outcomes read
at most once a second, this process's own outcomes added the moment they are recorded, and the derived
snapshot reused while nothing changed for a quarter second.

Why: reading the store's window and deriving health for every request cost about as much CPU as relaying a
100-event stream. The next request still routes on the outcome the last one recorded here; outcomes other
processes record (an `ask`, another gateway on a shared store) are seen within a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from orcli.store.backend import HealthBackend
from orcli.types import BudgetSettings, HealthSnapshot, Outcome, Profile, Spend

if TYPE_CHECKING:
    from orcli.store.usage import UsageRow

REREAD_SECONDS = 1.0  # how stale other processes' outcomes may be
REDERIVE_SECONDS = 0.25  # how stale a derived snapshot may be when nothing was recorded (cooldowns tick)


class CachedHealth:
    """A HealthBackend over the real store: records go through (and into the cache); reads come from it."""

    def __init__(self, store: HealthBackend, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()
        self._rows: list[Outcome] = []
        self._read_at = float("-inf")
        self._snapshot: tuple[float, int, HealthSnapshot] | None = None  # (when, version, snapshot)
        self._version = 0  # bumped by every outcome recorded here and every re-read

    def snapshot(self, profile: Profile) -> HealthSnapshot:
        from orcli.routing.health import derive, history_horizon

        now = self.clock()
        with self._lock:
            cached = self._snapshot
            if cached is not None and cached[1] == self._version and now - cached[0] < REDERIVE_SECONDS:
                return cached[2]
            since = now - history_horizon(profile.health)
            if now - self._read_at >= REREAD_SECONDS:
                endpoints = {(e.model, e.provider) for e in profile.endpoints}  # a shared store reads only these
                self._rows = self.store.outcomes(since=since, endpoints=endpoints)
                self._read_at = now
                self._version += 1
            else:
                self._rows = (
                    [o for o in self._rows if o.at >= since] if self._rows and self._rows[0].at < since else self._rows
                )
            snapshot = derive(self._rows, now, profile.health)
            self._snapshot = (now, self._version, snapshot)
            return snapshot

    # -- HealthBackend ------------------------------------------------------------------------------
    def record(self, outcome: Outcome) -> bool:
        with self._lock:  # written and cached together: a re-read between the two would count it twice
            stored = self.store.record(outcome)
            self._rows.append(outcome)
            self._version += 1
        return stored

    def outcomes(self, since: float, endpoints: Collection[tuple[str, str]] | None = None) -> list[Outcome]:
        return self.store.outcomes(since, endpoints)

    def reset(self, provider: str | None = None) -> int | None:
        return self.store.reset(provider)

    def describe(self) -> dict[str, object]:
        return self.store.describe()

    def usage(self, since: float, until: float, by: str) -> tuple[list[UsageRow], UsageRow]:
        return self.store.usage(since, until, by)

    def spend(self, now: float) -> Spend:
        return self.store.spend(now)  # budgets are never read from a cache: a hold must see every spend

    def reserve(self, budget: BudgetSettings, amount: float, now: float, hold_s: float) -> tuple[object, Spend]:
        return self.store.reserve(budget, amount, now, hold_s)

    def settle(self, token: object) -> None:
        self.store.settle(token)

    def take_warnings(self) -> list[str]:
        return self.store.take_warnings()

    def close(self) -> None:
        self.store.close()
