"""Shared health on Redis vs the local SQLite store, on loopback, as ratios measured in one run (SPEC §13).

- plan-time read: `outcomes(since, endpoints)` of 100 endpoints x 10 outcomes each, Redis / SQLite;
- the same read against one Redis PING: how many round trips' worth it costs (1 pipeline = ~1 round trip);
- record-time: one `record(outcome)`, Redis / SQLite;
- the whole `orcli explain-route` process with ORCLI_HEALTH_URL set vs local (the `redis` import shows here).

Run: python benchmarks/redis_bench.py [n]   (needs redis-server and the `redis` extra)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from timing import interleaved  # noqa: E402 - benchmarks/ is on sys.path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]  # this checkout's orcli; tests/redis_server.py

from redis_server import RedisServer, redis_server_binary  # noqa: E402

from orcli.store.backend import open_store  # noqa: E402
from orcli.types import FailureClass, HealthSettings, Outcome  # noqa: E402

ENDPOINTS = [(f"vendor/model-{i % 20}", f"provider-{i}") for i in range(100)]
PER_ENDPOINT = 10


def _interleaved(fns: dict[str, Callable[[], object]], n: int, warmup: int = 20) -> dict[str, float]:
    """Median seconds per call of each function, run interleaved with the order alternating every round."""
    return {name: statistics.median(values) for name, values in interleaved(fns, n, warmup).items()}


def _outcome(i: int, model: str = "m", provider: str = "p") -> Outcome:
    ok = i % 5 != 0
    return Outcome(
        at=time.time(),
        model=model,
        provider=provider,
        ok=ok,
        error_class=None if ok else FailureClass.PROVIDER,
        status=None if ok else 502,
        latency_s=0.8,
        ttft_s=0.2,
        tokens_per_s=90.0,
        error=None if ok else "bad gateway",
    )


def bench(n: int = 300, rounds: int = 7) -> dict[str, float]:
    """The figures above, in seconds (medians) and ratios."""
    if redis_server_binary() is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="orcli-redis-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with RedisServer(tmp / "redis") as server:
            settings = HealthSettings(store_timeout=2.0)
            local, _ = open_store(settings, {"ORCLI_STATE_DIR": str(tmp / "local")})
            shared, _ = open_store(settings, {"ORCLI_STATE_DIR": str(tmp / "x"), "ORCLI_HEALTH_URL": server.url})
            assert local is not None and shared is not None
            for model, provider in ENDPOINTS:
                for i in range(PER_ENDPOINT):
                    local.record(_outcome(i, model, provider))
                    shared.record(_outcome(i, model, provider))
            since = time.time() - 1200
            wanted = set(ENDPOINTS)
            client = server.client()
            read = _interleaved(
                {
                    "sqlite": lambda: local.outcomes(since, wanted),
                    "redis": lambda: shared.outcomes(since, wanted),
                    "ping": client.ping,
                },
                n,
            )
            assert len(shared.outcomes(since, wanted)) == len(ENDPOINTS) * PER_ENDPOINT
            counter = iter(range(10**9))
            write = _interleaved(
                {
                    "sqlite": lambda: local.record(_outcome(next(counter))),
                    "redis": lambda: shared.record(_outcome(next(counter))),
                },
                n,
            )
            assert shared.take_warnings() == [] and shared.describe()["kind"] == "redis"
            local.close()
            shared.close()
            process = _process(server.url, tmp, rounds)
    return {
        "read_sqlite_s": read["sqlite"],
        "read_redis_s": read["redis"],
        "ping_s": read["ping"],
        "read_ratio": read["redis"] / read["sqlite"],
        "read_in_pings": read["redis"] / read["ping"],
        "write_sqlite_s": write["sqlite"],
        "write_redis_s": write["redis"],
        "write_ratio": write["redis"] / write["sqlite"],
        **process,
    }


def _process(url: str, tmp: Path, rounds: int) -> dict[str, float]:
    """Median wall time of `orcli explain-route` with the shared store vs the local one (interleaved)."""
    import os
    import re

    from orcli.profile.resolve import bundled_profiles_dir

    text = (bundled_profiles_dir() / "example.toml").read_text()
    keys = {name: "sk-bench-not-a-key" for name in re.findall(r'^api_key_env\s*=\s*"(\w+)"', text, re.M)}
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_")}
    argv = [sys.executable, "-m", "orcli", "explain-route", "--profile", "example", "--no-stdin", "--json"]
    envs = {
        "local": {**base, **keys, "ORCLI_STATE_DIR": str(tmp / "p-local")},
        "redis": {**base, **keys, "ORCLI_STATE_DIR": str(tmp / "p-redis"), "ORCLI_HEALTH_URL": url},
    }
    fns = {
        name: (lambda env=env: subprocess.run(argv, env=env, cwd=HERE.parent, capture_output=True, check=True))
        for name, env in envs.items()
    }
    medians = _interleaved(fns, rounds, warmup=2)
    return {
        "process_local_s": medians["local"],
        "process_redis_s": medians["redis"],
        "process_ratio": medians["redis"] / medians["local"],
    }


if __name__ == "__main__":
    figures = bench(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
    for name, value in figures.items():
        shown = f"{value * 1000:.3f} ms" if name.endswith("_s") else f"{value:.2f}x"
        print(f"{name:18} {shown}")
