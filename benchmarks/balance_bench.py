"""Planning cost of `balance = "effective"` against the default inverse-square draw (docs/routing.md).

One model served by n providers, no sort and no order: every endpoint is in the load-balanced draw, the
worst case for the balance (a few in twenty have a recent failure, half have observed TTFT and throughput).
Both rules plan the same profile, interleaved, seeds varying; only the ratio is judged.

Run: python benchmarks/balance_bench.py [sizes...]   (also `benchmarks/run.py --only balance`)
"""

from __future__ import annotations

import statistics
import sys
from types import MappingProxyType

from timing import interleaved

TARGET = 2.0  # effective may cost at most twice the inverse-square plan


def one_model_profile(n: int):
    from orcli.types import Endpoint, EndpointHealth, HealthSnapshot, HealthState, Price, Profile, Provider

    providers = {f"p{i}": Provider(f"p{i}", f"https://p{i}.example.com/v1") for i in range(n)}
    endpoints = tuple(
        Endpoint(
            "m",
            f"p{i}",
            "m",
            price=Price(0.1 + (i * 37 % 200) / 100, 0.2 + (i * 53 % 400) / 100),
            latency=0.2 + (i % 10) / 10,
            throughput=40.0 + (i % 7) * 30,
        )
        for i in range(n)
    )
    health = {}
    for i in range(0, n, 2):
        failed = i % 20 == 0
        health[("m", f"p{i}")] = EndpointHealth(
            state=HealthState.UNSTABLE if failed else HealthState.HEALTHY,
            stable=not failed,
            requests=20,
            failures=3 if failed else i % 3,
            median_ttft=0.3 + (i % 13) / 10,
            median_tps=50.0 + i % 90,
        )
    profile = Profile("bench", "<bench>", MappingProxyType(providers), endpoints, MappingProxyType({"models": ["m"]}))
    return profile, HealthSnapshot(health)


def bench(sizes: tuple[int, ...] = (1_000, 10_000), repeats: int = 15) -> list[dict]:
    from orcli.routing.planner import plan
    from orcli.routing.preferences import merge
    from orcli.types import Request

    request = Request(prompt_tokens=2000)
    out = []
    for n in sizes:
        profile, health = one_model_profile(n)
        prefs = {b: merge(profile.routing, {"balance": b}) for b in ("inverse-square", "effective")}
        seeds = iter(range(10**9))
        fns = {
            b: (lambda p=p, prof=profile, h=health, s=seeds: plan(prof, request, p, h, seed=next(s)))
            for b, p in prefs.items()
        }
        samples = interleaved(fns, repeats, warmup=2)
        inverse, effective = (statistics.median(samples[b]) for b in ("inverse-square", "effective"))
        out.append(
            {"endpoints": n, "inverse_square_s": inverse, "effective_s": effective, "ratio": effective / inverse}
        )
    return out


if __name__ == "__main__":
    sizes = tuple(int(a) for a in sys.argv[1:]) or (1_000, 10_000)
    for r in bench(sizes):
        print(
            f"{r['endpoints']:>7,} endpoints: inverse-square {r['inverse_square_s'] * 1000:8.2f} ms, "
            f"effective {r['effective_s'] * 1000:8.2f} ms, ratio {r['ratio']:.2f} (target <= {TARGET})"
        )
