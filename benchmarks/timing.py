"""Interleaved timing shared by the benchmark scripts: every figure is judged against a reference run in turn."""

from __future__ import annotations

import time
from collections.abc import Callable


def interleaved(fns: dict[str, Callable[[], object]], n: int, warmup: int = 20) -> dict[str, list[float]]:
    """Run each function n times, interleaved, the order alternating every round; raw seconds per name."""
    return interleaved_cpu(fns, n, warmup)[0]


def interleaved_cpu(
    fns: dict[str, Callable[[], object]], n: int, warmup: int = 20
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """As `interleaved`, and this process's CPU seconds per call too (time.process_time): on a shared machine
    CPU time holds steady while wall time swings with everyone else's load. It counts only this process, so
    a server the calls talk to must run in another one. The order rotates every round (each function gets
    each place in turn), so no function always runs right after the same other one."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    items = list(fns.items())
    for i in range(n):
        shift = i % len(items)
        for name, fn in items[shift:] + items[:shift]:
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            cpu[name].append(time.process_time() - start_cpu)
            wall[name].append(time.perf_counter() - start)
    return wall, cpu
