"""Usage in the local store: one row per attempt (kept `retention_days`, apart from the health window), a
spend total per UTC day (what budgets read), and the reservations of requests still running (docs/usage.md).

Every function takes an open connection in autocommit mode and runs inside the caller's retry and
corruption handling (`Store._run`); the writes that must agree (an attempt's row and its day's spend, a
budget check and its reservation) share one BEGIN IMMEDIATE transaction, so concurrent processes serialise
on SQLite's write lock and a budget cannot be overrun by requests that all read the same spend.
"""

from __future__ import annotations

import calendar
import math
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from orcli.store.transaction import immediate
from orcli.types import BudgetSettings, Outcome, Spend

if TYPE_CHECKING:  # the Redis store imports UsageRow from here: a shared store loads no sqlite3
    import sqlite3

DAY_S = 86400
SPEND_KEPT_DAYS = 32  # a day's spend outlives a shorter retention_days: a monthly budget reads the whole month
GROUPS = ("provider", "model", "endpoint", "day", "profile")

_INSERT = (
    "INSERT INTO usage (at, day, profile, model, provider, ok, prompt_tokens, completion_tokens, estimated, "
    "cost_usd, request_id, first_of_request, first_on_model, first_at_provider) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SPEND = (
    "INSERT INTO spend_days (day, cost_usd) VALUES (?, ?) "
    "ON CONFLICT (day) DO UPDATE SET cost_usd = cost_usd + excluded.cost_usd"
)
_DAYS = (
    "INSERT INTO usage_days (day, profile, model, provider, requests, model_requests, provider_requests, attempts, "
    "failures, prompt_tokens, completion_tokens, cost_usd, unknown_cost_attempts) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?) "
    "ON CONFLICT (day, profile, model, provider) DO UPDATE SET requests = requests + excluded.requests, "
    "model_requests = model_requests + excluded.model_requests, "
    "provider_requests = provider_requests + excluded.provider_requests, attempts = attempts + 1, "
    "failures = failures + excluded.failures, prompt_tokens = prompt_tokens + excluded.prompt_tokens, "
    "completion_tokens = completion_tokens + excluded.completion_tokens, cost_usd = cost_usd + excluded.cost_usd, "
    "unknown_cost_attempts = unknown_cost_attempts + excluded.unknown_cost_attempts"
)
# The key each grouping reports under, and what counts as one request in it: a request that failed over
# counts once per model and once per provider it reached; an endpoint is tried at most once per request.
# (per-attempt rows, per-day aggregates)
_KEY = {
    "provider": "provider",
    "model": "model",
    "endpoint": "model || ' @ ' || provider",
    "day": "day",
    "profile": "coalesce(profile, '')",
}
_REQUESTS = {
    "provider": ("first_at_provider", "provider_requests"),
    "model": ("first_on_model", "model_requests"),
    "endpoint": ("1", "attempts"),
    "day": ("first_of_request", "requests"),
    "profile": ("first_of_request", "requests"),
}
_ROW_SUMS = (
    "sum(first_of_request), count(*), sum(ok = 0), coalesce(sum(prompt_tokens), 0), "
    "coalesce(sum(completion_tokens), 0), coalesce(sum(cost_usd), 0.0), sum(cost_usd IS NULL)"
)
_DAY_SUMS = (
    "sum(requests), sum(attempts), sum(failures), sum(prompt_tokens), sum(completion_tokens), sum(cost_usd), "
    "sum(unknown_cost_attempts)"
)


class UsageRow(NamedTuple):
    """One line of `orcli usage`: a key (provider, model, `model @ provider`, a UTC date, a profile name)."""

    key: str
    requests: int = 0
    attempts: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0  # known costs only; `unknown_cost_attempts` says how many are not in it
    unknown_cost_attempts: int = 0

    def plus(self, other: UsageRow) -> UsageRow:
        return UsageRow(
            self.key,
            self.requests + other.requests,
            self.attempts + other.attempts,
            self.failures + other.failures,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost_usd + other.cost_usd,
            self.unknown_cost_attempts + other.unknown_cost_attempts,
        )


def day_name(day: int) -> str:
    """Days since the epoch -> `YYYY-MM-DD` (UTC)."""
    return time.strftime("%Y-%m-%d", time.gmtime(day * DAY_S))


def month_start(now: float) -> int:
    """The first day (days since the epoch) of `now`'s UTC calendar month."""
    t = time.gmtime(now)
    return calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0)) // DAY_S


def record(db: sqlite3.Connection, outcome: Outcome, health_row: tuple[object, ...], health_insert: str) -> int:
    """The attempt's health row, its usage row and its day's spend, in one transaction."""
    day = int(outcome.at // DAY_S)
    with immediate(db):
        count = db.execute(health_insert, health_row).rowcount
        db.execute(_INSERT, usage_values(outcome, day))
        db.execute(_DAYS, day_values(outcome, day))
        if outcome.cost_usd:
            db.execute(_SPEND, (day, outcome.cost_usd))
    return count


def usage_values(outcome: Outcome, day: int) -> tuple[object, ...]:
    return (
        outcome.at,
        day,
        outcome.profile,
        outcome.model,
        outcome.provider,
        1 if outcome.ok else 0,
        outcome.prompt_tokens,
        outcome.completion_tokens,
        1 if outcome.tokens_estimated else 0,
        outcome.cost_usd,
        outcome.request_id,
        1 if outcome.first_of_request else 0,
        1 if outcome.first_on_model else 0,
        1 if outcome.first_at_provider else 0,
    )


def day_values(outcome: Outcome, day: int) -> tuple[object, ...]:
    return (
        day,
        outcome.profile or "",
        outcome.model,
        outcome.provider,
        1 if outcome.first_of_request else 0,
        1 if outcome.first_on_model else 0,
        1 if outcome.first_at_provider else 0,
        0 if outcome.ok else 1,
        outcome.prompt_tokens or 0,
        outcome.completion_tokens or 0,
        outcome.cost_usd or 0.0,
        1 if outcome.cost_usd is None else 0,
    )


def report(db: sqlite3.Connection, since: float, until: float, by: str) -> tuple[list[UsageRow], UsageRow]:
    """Rows grouped by `by` (ordered by key) and the total, over attempts with since <= at < until: whole UTC
    days from the per-day aggregates (a few rows per endpoint and day, whatever the traffic), the partial days
    at either end from the per-attempt rows (docs/usage.md: a report over 1M attempts stays well under 1 s)."""
    first_full, end_full = math.ceil(since / DAY_S), math.floor(until / DAY_S)
    key = _KEY[by]
    row_requests, day_requests = _REQUESTS[by]
    parts: list[tuple[Any, ...]] = []
    if first_full < end_full:
        parts += db.execute(
            f"SELECT {key}, sum({day_requests}), {_DAY_SUMS} FROM usage_days WHERE day >= ? AND day < ? GROUP BY 1",
            (first_full, end_full),
        ).fetchall()
        edges = [(since, first_full * DAY_S), (end_full * DAY_S, until)]
    else:
        edges = [(since, until)]
    for start, end in edges:
        if start < end:
            parts += db.execute(
                f"SELECT {key}, sum({row_requests}), {_ROW_SUMS} FROM usage WHERE at >= ? AND at < ? GROUP BY 1",
                (start, end),
            ).fetchall()
    rows: dict[str, UsageRow] = {}
    total = UsageRow("total")
    for k, requests, all_requests, *sums in parts:
        name = day_name(k) if by == "day" else str(k)
        row = UsageRow(name, requests or 0, *(v or 0 for v in sums))
        rows[name] = rows[name].plus(row) if name in rows else row
        total = total.plus(row._replace(requests=all_requests or 0))
    return [rows[k] for k in sorted(rows)], total


def spend(db: sqlite3.Connection, now: float) -> Spend:
    """Known spend of today and this month (UTC), plus the reservations of requests still running."""
    today = int(now // DAY_S)
    day, month = db.execute(
        "SELECT coalesce(sum(CASE WHEN day = ? THEN cost_usd END), 0.0), coalesce(sum(cost_usd), 0.0) "
        "FROM spend_days WHERE day >= ? AND day <= ?",
        (today, month_start(now), today),
    ).fetchone()
    (held,) = db.execute("SELECT coalesce(sum(amount), 0.0) FROM reservations WHERE expires > ?", (now,)).fetchone()
    return Spend(day + held, month + held)


def reserve(
    db: sqlite3.Connection, budget: BudgetSettings, amount: float, now: float, hold_s: float
) -> tuple[int | None, Spend]:
    """Check the budget and hold `amount` in one write transaction: (reservation id, spend before it), or
    (None, the spend that refused it). A reservation a crashed process never settled lapses after `hold_s`."""
    from orcli.routing.spend import check_budget

    with immediate(db):
        db.execute("DELETE FROM reservations WHERE expires <= ?", (now,))
        seen = spend(db, now)
        if not check_budget(budget, seen, amount).fits:
            return None, seen  # (committed on leaving the block: the lapsed holds stay deleted)
        rid = db.execute("INSERT INTO reservations (amount, expires) VALUES (?, ?)", (amount, now + hold_s)).lastrowid
    return rid, seen


def settle(db: sqlite3.Connection, reservation: int) -> None:
    """The request is over: its real cost is in its attempts' rows, so its reservation goes."""
    db.execute("DELETE FROM reservations WHERE id = ?", (reservation,))


def prune(db: sqlite3.Connection, now: float, retention_days: int) -> None:
    """Delete usage older than `retention_days`, but only once the oldest row is a tenth older than that: one
    indexed lookup per open, a delete about once per tenth of the retention."""
    cutoff = now - retention_days * DAY_S
    (oldest,) = db.execute("SELECT min(at) FROM usage").fetchone()
    if oldest is None or oldest >= cutoff - retention_days * DAY_S / 10:
        return
    with immediate(db):
        db.execute("DELETE FROM usage WHERE at < ?", (cutoff,))
        db.execute("DELETE FROM usage_days WHERE day < ?", (int(cutoff // DAY_S),))
        spend_cutoff = min(cutoff, now - SPEND_KEPT_DAYS * DAY_S)
        db.execute("DELETE FROM spend_days WHERE day < ?", (int(spend_cutoff // DAY_S),))
