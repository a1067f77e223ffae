"""Shared health on Redis vs the local SQLite store, on loopback, as ratios measured in one run (docs/health.md#sharing-health-across-machines).

- plan-time read: `outcomes(since, endpoints)` of 100 endpoints x 10 outcomes each, Redis / SQLite;
- the same read against one Redis PING: how many round trips' worth it costs (1 pipeline = ~1 round trip);
- record-time: one `record(outcome)`, Redis / SQLite;
- whole `orcli explain-route` and `orcli ask` processes with ORCLI_HEALTH_URL set vs local, interleaved in one
  run: what shared health adds to a command (target: <= +25 ms, paired median).

Run: python benchmarks/redis_bench.py [n] [rounds]   (needs redis-server; redis-py only for the PING reference)
"""

from __future__ import annotations

import resource
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


def _seed(url: str, tmp: Path, local_dirs: set[str], ask_profile: Path) -> None:
    """The same recent history in both stores: ten outcomes per endpoint of the example profile and of the ask
    profile, in Redis and in each local state folder, so that the SQLite reference reads a real store (a
    folder without one would skip the store altogether and measure less than SQLite)."""
    from orcli.profile.resolve import load_profile, load_profile_file

    endpoints = {(e.model, e.provider) for e in load_profile("example", {}).endpoints}
    endpoints |= {(e.model, e.provider) for e in load_profile_file(ask_profile).endpoints}
    settings = HealthSettings(store_timeout=2.0)
    targets = [{"ORCLI_STATE_DIR": str(tmp / "seed-x"), "ORCLI_HEALTH_URL": url}]
    targets += [{"ORCLI_STATE_DIR": str(tmp / name)} for name in sorted(local_dirs)]
    for env in targets:
        store, _ = open_store(settings, env)
        assert store is not None
        for model, provider in endpoints:
            for i in range(PER_ENDPOINT):
                store.record(_outcome(i, model, provider))
        store.close()


def _process(url: str, tmp: Path, rounds: int) -> dict[str, float]:
    """Whole `orcli explain-route` and `orcli ask` processes with the shared store vs the local one, all four
    interleaved in one run; the cost of shared health is the median of the paired differences."""
    import os
    import re

    from upstream import Upstream, fake_keys, ok, write_profile

    from orcli.profile.resolve import bundled_profiles_dir

    text = (bundled_profiles_dir() / "example.toml").read_text()
    keys = {name: "sk-bench-not-a-key" for name in re.findall(r'^api_key_env\s*=\s*"(\w+)"', text, re.M)}
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_")}
    explain = [sys.executable, "-m", "orcli", "explain-route", "--profile", "example", "--no-stdin", "--json"]
    with Upstream() as upstream:
        upstream.script("alpha", ok("shared health costs little"))
        profile = write_profile(tmp / "ask.toml", upstream, ["alpha"], extra_routing={"sort": "price"})
        ask = [sys.executable, "-m", "orcli", "ask", "--no-stdin", "--profile", str(profile), "hello"]
        ask_keys = fake_keys(["alpha"])
        _seed(url, tmp, {"e-local", "a-local"}, profile)
        runs = {
            "explain_local": (explain, {**base, **keys, "ORCLI_STATE_DIR": str(tmp / "e-local")}),
            "explain_redis": (
                explain,
                {**base, **keys, "ORCLI_STATE_DIR": str(tmp / "e-redis"), "ORCLI_HEALTH_URL": url},
            ),
            "ask_local": (ask, {**base, **ask_keys, "ORCLI_STATE_DIR": str(tmp / "a-local")}),
            "ask_redis": (ask, {**base, **ask_keys, "ORCLI_STATE_DIR": str(tmp / "a-redis"), "ORCLI_HEALTH_URL": url}),
        }
        cpu: dict[str, list[float]] = {name: [] for name in runs}

        def run(name: str) -> None:
            """One process; its CPU time (user + system) is kept too: on a loaded machine wall time is mostly
            waiting for a core, CPU time is what the process itself spent."""
            argv, env = runs[name]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(argv, env=env, cwd=HERE.parent, capture_output=True, check=True, stdin=subprocess.DEVNULL)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)

        samples = interleaved({name: (lambda name=name: run(name)) for name in runs}, rounds, warmup=2)
    for name in ("e-redis", "a-redis"):
        assert not (tmp / name / "health.sqlite3").exists(), "the Redis runs fell back to the local store"
    figures: dict[str, float] = {}
    for command in ("explain", "ask"):
        local, shared = samples[f"{command}_local"], samples[f"{command}_redis"]
        figures[f"{command}_local_s"] = statistics.median(local)
        figures[f"{command}_redis_s"] = statistics.median(shared)
        figures[f"{command}_delta_s"] = statistics.median(b - a for a, b in zip(local, shared, strict=True))
        local_cpu, shared_cpu = cpu[f"{command}_local"][2:], cpu[f"{command}_redis"][2:]  # after the warm-up
        figures[f"{command}_cpu_local_s"] = statistics.median(local_cpu)
        figures[f"{command}_cpu_delta_s"] = statistics.median(b - a for a, b in zip(local_cpu, shared_cpu, strict=True))
    return figures


if __name__ == "__main__":
    figures = bench(int(sys.argv[1]) if len(sys.argv) > 1 else 300, int(sys.argv[2]) if len(sys.argv) > 2 else 7)
    for name, value in figures.items():
        shown = (
            f"{value * 1000:+.1f} ms"
            if name.endswith("_delta_s")
            else (f"{value * 1000:.3f} ms" if name.endswith("_s") else f"{value:.2f}x")
        )
        print(f"{name:18} {shown}")
