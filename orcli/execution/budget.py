"""Budgets at the edge (docs/usage.md): read the spend the planner checks, hold the request's expected cost in
the store before anything is sent, release it once the attempts have recorded their real cost.

The planner is pure: it gets the spend as a value, like the health snapshot. Between its check and the send,
other processes may spend too, so the check is made again, atomically with the hold, in the store (a SQLite
write transaction; one EVAL in Redis): of twenty requests started at once against a budget that fits five,
five are held and fifteen are refused with the code `budget`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from orcli.errors import NoRouteError
from orcli.routing.planner import within_budget
from orcli.routing.spend import money
from orcli.types import Plan, Profile, Rejection, RejectionCode, Spend

if TYPE_CHECKING:
    from orcli.store.backend import HealthBackend

MAX_HOLD_S = 3600.0  # a reservation nobody settles (a killed process) lapses after at most this long


class Hold(NamedTuple):
    """A held reservation (`token`, None when nothing is held) and the plan to run: the one given, or one whose
    every candidate is rejected `budget` when the store refused the hold."""

    token: object
    plan: Plan


def current_spend(store: HealthBackend | None, profile: Profile, now: float | None = None) -> Spend | None:
    """What the profile's budgets are checked against; None without a `[budget]` (nothing is read)."""
    if not profile.budget.is_set():
        return None
    if store is None:
        return Spend()
    return store.spend(time.time() if now is None else now)


def hold(
    store: HealthBackend | None, profile: Profile, plan: Plan, timeout: float | None = None, now: float | None = None
) -> Hold:
    """Reserve the expected cost at the plan's first attempt; a refused hold rejects every candidate."""
    if store is None or not plan.attempts or not profile.budget.is_set():
        return Hold(None, plan)
    expected = plan.attempts[0].cost_usd or 0.0  # an unknown price holds nothing: it cannot be known
    limit = profile.timeouts.total * len(plan.attempts) if timeout is None else timeout
    now = time.time() if now is None else now
    token, seen = store.reserve(profile.budget, expected, now, min(MAX_HOLD_S, limit) + 60.0)
    if token is not None:
        return Hold(token, plan)
    refused = within_budget(plan, profile, seen)
    if refused.attempts:  # the store's arithmetic differed at the last digit (Redis's Lua): the store decides
        detail = (
            f"the store refused to hold the expected cost {money(expected)} (spent {money(seen.day_usd)} this "
            f"day, {money(seen.month_usd)} this month, UTC)"
        )
        over = tuple(
            Rejection(a.endpoint.model, a.endpoint.provider, RejectionCode.BUDGET, detail) for a in plan.attempts
        )
        refused = plan._replace(attempts=(), rejected=plan.rejected + over)
    return Hold(None, refused)


def release(store: HealthBackend | None, token: object) -> None:
    if store is not None and token is not None:
        store.settle(token)


class OverBudgetError(NoRouteError):
    """No route because a budget stopped the request (exit 3 like any other; serve answers 402)."""


def budget_message(rejected: Sequence[Rejection]) -> str | None:
    """The one message `ask` and `serve` give when a budget stopped the request; None when none did."""
    for r in rejected:
        if r.code is RejectionCode.BUDGET:
            return f"over budget: {r.detail}; nothing was sent"
    return None
