"""Usage figures (docs/usage.md): `orcli usage` over a store of 1M recorded attempts, and what recording usage
adds to an attempt's write (the outcome alone, as before usage existed, against the outcome with its usage
row and its day's spend, interleaved).

Run: python benchmarks/usage_bench.py [attempts] [writes]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import interleaved

from orcli.store import sqlite as sqlite_store
from orcli.store import usage
from orcli.store.sqlite import Store
from orcli.store.usage import DAY_S, day_values, usage_values
from orcli.store.values import outcome_values
from orcli.types import Outcome

PROVIDERS = [f"provider-{i}" for i in range(40)]
MODELS = [f"vendor/model-{i}" for i in range(12)]
PROFILES = ("work", "ci", "laptop")


def fill(state_dir: Path, attempts: int, days: int = 30) -> float:
    """Write `attempts` usage rows spread over the last `days` (bulk, in one transaction); seconds taken."""
    store, _ = Store.open(state_dir)
    assert store is not None
    now = time.time()
    start = time.perf_counter()
    db = store._db
    assert db is not None
    rows = []
    for i in range(attempts):
        at = now - (i / attempts) * days * DAY_S
        cost = None if i % 97 == 0 else 0.0001 * (i % 13)
        outcome = Outcome(
            at=at,
            model=MODELS[i % len(MODELS)],
            provider=PROVIDERS[i % len(PROVIDERS)],
            ok=i % 11 != 0,
            prompt_tokens=200 + i % 50,
            completion_tokens=40 + i % 30,
            cost_usd=cost,
            profile=PROFILES[i % 3],
            request_id=f"{i // 2:x}",
            first_of_request=i % 2 == 0,
        )
        rows.append(outcome)
    db.execute("BEGIN")  # what Store.record writes, attempt by attempt, in one transaction
    db.executemany(usage._INSERT, (usage_values(o, int(o.at // DAY_S)) for o in rows))
    db.executemany(usage._DAYS, (day_values(o, int(o.at // DAY_S)) for o in rows))
    db.execute("COMMIT")
    store.close()
    return time.perf_counter() - start


def bench_report(attempts: int = 1_000_000, runs: int = 5) -> dict[str, float]:
    """Median seconds of `orcli usage --since 30d` (the whole process) over `attempts` rows, per grouping."""
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        fill(state, attempts)
        env = {**os.environ, "ORCLI_STATE_DIR": str(state), "XDG_CONFIG_HOME": str(Path(tmp) / "config")}
        figures = {}
        for by in ("provider", "day"):
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, "-m", "orcli", "usage", "-q", "--since", "30d", "--by", by, "--json"],
                    env=env,
                    capture_output=True,
                    check=True,
                )
                times.append(time.perf_counter() - t0)
                assert b'"attempts": ' in proc.stdout
            figures[by] = statistics.median(times)
        return figures


def bench_record(n: int = 2000) -> tuple[float, float]:
    """Mean ms per write: the outcome alone (the write before usage), and `Store.record` (outcome + usage +
    spend), interleaved in one store."""
    with tempfile.TemporaryDirectory() as tmp:
        store, _ = Store.open(Path(tmp))
        assert store is not None
        outcome = Outcome(
            at=time.time(),
            model="m",
            provider="p",
            ok=True,
            latency_s=0.8,
            ttft_s=0.2,
            tokens_per_s=90.0,
            prompt_tokens=120,
            completion_tokens=40,
            cost_usd=0.00031,
            profile="work",
            request_id="ab12",
        )
        at, *rest = outcome_values(outcome)
        row = (at, outcome.model, outcome.provider, *rest)

        def health_only() -> None:
            store._run(lambda db: sqlite_store._write(db, sqlite_store._INSERT, row), 0, "bench")

        def with_usage() -> None:
            store.record(outcome)

        samples = interleaved({"health": health_only, "usage": with_usage}, n, warmup=50)
        store.close()
    return statistics.mean(samples["health"]) * 1000, statistics.mean(samples["usage"]) * 1000


def bench_hold(n: int = 2000) -> float:
    """Mean ms to read the spend, hold a request's expected cost and release it: what a budget adds to an ask
    before and after its attempts."""
    from orcli.types import BudgetSettings

    budget = BudgetSettings(daily_usd=1e9, monthly_usd=1e9)
    with tempfile.TemporaryDirectory() as tmp:
        store, _ = Store.open(Path(tmp))
        assert store is not None
        start = time.perf_counter()
        for _ in range(n):
            now = time.time()
            store.spend(now)
            token, _ = store.reserve(budget, 0.001, now, 60.0)
            store.settle(token)
        elapsed = time.perf_counter() - start
        store.close()
    return elapsed / n * 1000


if __name__ == "__main__":
    attempts = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    writes = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    for by, seconds in bench_report(attempts).items():
        print(f"orcli usage --by {by} over {attempts:,} attempts: {seconds * 1000:.0f} ms (whole process)")
    before, after = bench_record(writes)
    print(f"write per attempt: {before:.3f} ms outcome only, {after:.3f} ms with usage ({after - before:+.3f} ms)")
    print(f"budget: spend read + hold + release {bench_hold(writes):.3f} ms per request")
