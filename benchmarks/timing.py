"""Interleaved timing shared by the benchmark scripts: every figure is judged against a reference run in turn."""

from __future__ import annotations

import time
from collections.abc import Callable


def interleaved(fns: dict[str, Callable[[], object]], n: int, warmup: int = 20) -> dict[str, list[float]]:
    """Run each function n times, interleaved, the order alternating every round; raw seconds per name."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    items = list(fns.items())
    for i in range(n):
        for name, fn in items if i % 2 == 0 else reversed(items):
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return samples
