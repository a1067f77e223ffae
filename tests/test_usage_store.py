"""Usage in the stores (docs/usage.md): a store written before usage existed migrates in place with nothing
lost; usage outlives the health window and is pruned by its own rule; a fleet on one real redis-server sees
every machine's usage and spend, and holds a budget across machines."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer

from orcli.store.backend import open_store
from orcli.store.sqlite import FILENAME, Store
from orcli.types import BudgetSettings, FailureClass, HealthSettings, Outcome, Spend

FIXTURE = Path(__file__).parent / "data" / "stores" / "health-v1.sqlite3"
FIXTURE_NOW = 1_780_000_000.0  # when the fixture's outcomes were recorded (make_health_v1.py)
DAY = 86400.0


def attempt(at: float, provider: str = "p", *, cost: float | None = 0.01, ok: bool = True, **kw: Any) -> Outcome:
    return Outcome(
        at=at,
        model=kw.pop("model", "m"),
        provider=provider,
        ok=ok,
        error_class=None if ok else FailureClass.PROVIDER,
        prompt_tokens=kw.pop("prompt", 10),
        completion_tokens=kw.pop("completion", 5),
        cost_usd=cost,
        profile=kw.pop("profile", "work"),
        **kw,
    )


def test_a_store_of_the_schema_before_usage_migrates_in_place_with_nothing_lost(tmp_path: Path) -> None:
    shutil.copy(FIXTURE, tmp_path / FILENAME)
    store, warnings = Store.open(tmp_path, clock=lambda: FIXTURE_NOW, retention=10 * DAY)
    assert store is not None and warnings == [] and not store.read_only
    outcomes = store.outcomes(0)
    assert [(o.model, o.provider, o.ok, o.status) for o in outcomes] == [
        ("gpt", "alpha", True, 200),
        ("gpt", "beta", False, 503),
        ("claude", "gamma/turbo", True, 200),
    ]
    assert outcomes[1].error == "HTTP 503: overloaded" and outcomes[1].retry_after == 10.0
    rows, total = store.usage(0, FIXTURE_NOW + 1, "provider")
    # Recorded before usage existed: attempts of unknown tokens and cost, never invented as free.
    assert [(r.key, r.attempts, r.failures, r.unknown_cost_attempts) for r in rows] == [
        ("alpha", 1, 0, 1),
        ("beta", 1, 1, 1),
        ("gamma/turbo", 1, 0, 1),
    ]
    assert (total.attempts, total.cost_usd, total.prompt_tokens) == (3, 0.0, 0)
    assert store.record(attempt(FIXTURE_NOW, "alpha", model="gpt"))
    store.close()
    db = sqlite3.connect(tmp_path / FILENAME)
    assert [n for (n,) in db.execute("SELECT name FROM _migrations ORDER BY rowid")] == ["m001_initial", "m002_usage"]
    assert db.execute("SELECT count(*) FROM outcomes").fetchone() == (4,)
    db.close()


def test_usage_outlives_the_health_window_and_is_pruned_by_its_own_rule(tmp_path: Path) -> None:
    now = time.time()
    store, _ = Store.open(tmp_path)
    assert store is not None
    for age_days in (500, 390, 2, 0):
        store.record(attempt(now - age_days * DAY))
    store.close()
    # Opened again later: health keeps a day, usage keeps its 400 days (pruned once past a tenth more).
    store, _ = Store.open(tmp_path, retention=DAY, usage_days=400)
    assert store is not None
    assert len(store.outcomes(0)) == 1, "health is pruned to its window"
    _, total = store.usage(0, now + 1, "day")
    assert total.attempts == 3, "usage older than 400 days is gone, the rest stays"
    store.close()
    store, _ = Store.open(tmp_path, usage_days=30)
    assert store is not None
    assert store.usage(0, now + 1, "day")[1].attempts == 2, "a shorter retention_days prunes more"
    store.close()


def test_spend_counts_the_utc_day_and_the_calendar_month(tmp_path: Path) -> None:
    now = time.time()
    store, _ = Store.open(tmp_path)
    assert store is not None
    today = now - now % DAY
    store.record(attempt(today + 1, cost=0.25))
    store.record(attempt(today - 1, cost=0.5))  # yesterday: this month unless today is the 1st
    store.record(attempt(today + 2, cost=None))  # unknown: not in the spend
    spend = store.spend(now)
    first_of_month = time.gmtime(now).tm_mday == 1
    assert spend.day_usd == pytest.approx(0.25)
    assert spend.month_usd == pytest.approx(0.25 if first_of_month else 0.75)
    token, seen = store.reserve(BudgetSettings(daily_usd=0.5), 0.25, now, 60)
    assert token is not None and seen.day_usd == pytest.approx(0.25)
    assert store.spend(now).day_usd == pytest.approx(0.5), "a held reservation counts until it is settled"
    refused, _ = store.reserve(BudgetSettings(daily_usd=0.5), 0.01, now, 60)
    assert refused is None
    assert store.spend(now + 61).day_usd == pytest.approx(0.25), "an unsettled hold lapses"
    store.settle(token)
    assert store.spend(now).day_usd == pytest.approx(0.25)
    store.close()


# -- the fleet on Redis ---------------------------------------------------------------------------------
def machine(server: RedisServer, tmp_path: Path, name: str) -> Any:
    env = {"ORCLI_HEALTH_URL": server.url, "ORCLI_STATE_DIR": str(tmp_path / name)}
    store, warnings = open_store(HealthSettings(), env)
    assert store is not None and warnings == [] and store.kind == "redis"
    return store


def test_every_machine_sees_the_fleets_usage_and_spend(redis_server: RedisServer, tmp_path: Path) -> None:
    pytest.importorskip("redis")
    now = time.time()
    a, b = machine(redis_server, tmp_path, "a"), machine(redis_server, tmp_path, "b")
    # machine a: a request that failed over from p to q; machine b: one on q with an unknown price
    assert a.record(attempt(now, "p", ok=False, cost=0.0, prompt=0, completion=0))
    assert a.record(attempt(now, "q", cost=0.125, first_of_request=False, first_on_model=False))
    assert b.record(attempt(now, "q", cost=None, profile="ci", tokens_estimated=True))
    for store in (a, b):
        rows, total = store.usage(now - 3600, now + 1, "provider")
        assert [(r.key, r.requests, r.attempts, r.failures, r.unknown_cost_attempts) for r in rows] == [
            ("p", 1, 1, 1, 0),
            ("q", 2, 2, 0, 1),
        ]
        assert (total.requests, total.attempts, total.prompt_tokens) == (2, 3, 20)
        assert total.cost_usd == pytest.approx(0.125)
        models, _ = store.usage(now - 3600, now + 1, "model")
        assert [(r.key, r.requests, r.attempts) for r in models] == [("m", 2, 3)]
        profiles, _ = store.usage(now - 3600, now + 1, "profile")
        assert [(r.key, r.requests) for r in profiles] == [("ci", 1), ("work", 1)]
        assert store.spend(now) == Spend(pytest.approx(0.125), pytest.approx(0.125))
    keys = {k.decode() for k in redis_server.client().keys("orcli:default:usage:*")}
    assert keys == {f"orcli:default:usage:{time.strftime('%Y-%m-%d', time.gmtime(now))}"}, "one hash per day"
    assert redis_server.client().ttl(next(iter(keys))) > 399 * DAY, "kept for retention_days, not the health window"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists(), "nothing fell back to local"


def test_a_budget_holds_across_machines(redis_server: RedisServer, tmp_path: Path) -> None:
    pytest.importorskip("redis")
    now = time.time()
    budget = BudgetSettings(daily_usd=0.03)
    stores = [machine(redis_server, tmp_path, f"m{i}") for i in range(5)]
    held = [s.reserve(budget, 0.01, now, 60) for s in stores]
    assert [token is not None for token, _ in held] == [True, True, True, False, False]
    token, _ = held[0]
    stores[0].record(attempt(now, cost=0.004))  # the real cost, then the hold is settled
    stores[0].settle(token)
    assert stores[4].spend(now).day_usd == pytest.approx(0.024)
    again, _ = stores[4].reserve(budget, 0.006, now, 60)
    assert again is not None, "what settling freed can be spent by another machine"


def test_whole_days_from_aggregates_and_partial_days_from_rows_add_up_exactly(tmp_path: Path) -> None:
    """A report mixes the per-day aggregates (whole days) with per-attempt rows (the partial days at its ends):
    for ranges cut anywhere, every column must equal what the recorded attempts add up to."""
    import random

    rng = random.Random(24)
    store, _ = Store.open(tmp_path)
    assert store is not None
    base = 1_780_000_000.0 - 1_780_000_000.0 % DAY
    recorded = []
    for i in range(600):
        o = attempt(
            base + rng.uniform(0, 6 * DAY),
            rng.choice("pq"),
            model=rng.choice(["m", "n"]),
            ok=rng.random() > 0.2,
            cost=None if rng.random() < 0.1 else round(rng.uniform(0, 0.01), 6),
            prompt=rng.randint(0, 99),
            completion=rng.randint(0, 99),
            first_of_request=i % 3 == 0,
            first_at_provider=i % 2 == 0,
        )
        recorded.append(o)
        store.record(o)
    for _ in range(25):
        since, until = sorted(rng.uniform(base - DAY, base + 7 * DAY) for _ in range(2))
        inside = [o for o in recorded if since <= o.at < until]
        rows, total = store.usage(since, until, "provider")
        for row in rows:
            mine = [o for o in inside if o.provider == row.key]
            assert row.attempts == len(mine) and row.failures == sum(not o.ok for o in mine)
            assert row.requests == sum(o.first_at_provider for o in mine)
            assert row.prompt_tokens == sum(o.prompt_tokens or 0 for o in mine)
            assert row.cost_usd == pytest.approx(sum(o.cost_usd or 0 for o in mine))
            assert row.unknown_cost_attempts == sum(o.cost_usd is None for o in mine)
        assert total.attempts == len(inside) and total.requests == sum(o.first_of_request for o in inside)
        assert {r.key for r in rows} == {o.provider for o in inside}
        days, _ = store.usage(since, until, "day")
        assert sum(r.attempts for r in days) == len(inside)
    store.close()
