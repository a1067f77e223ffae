"""Health store write cost: mean ms per `Store.record`, alone and with 8 concurrent writer processes.

Run: python benchmarks/store_bench.py [writers] [per_writer]
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from orcli.store import FILENAME, Store
from orcli.types import FailureClass, Outcome

_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from orcli.store import Store
    from orcli.types import FailureClass, Outcome
    store, warnings = Store.open(Path(sys.argv[1]))
    n = int(sys.argv[2])
    lost = 0
    start = time.perf_counter()
    for i in range(n):
        ok = i % 5 != 0
        outcome = Outcome(
            at=time.time(), model="m", provider=f"p{sys.argv[3]}", ok=ok,
            error_class=None if ok else FailureClass.PROVIDER, status=None if ok else 502,
            latency_s=0.8, ttft_s=0.2, tokens_per_s=90.0, error=None if ok else "bad gateway",
        )
        lost += not store.record(outcome)
    elapsed = time.perf_counter() - start
    store.close()
    print(elapsed, lost, len(warnings) + len(store.take_warnings()))
    """
)


def bench_single(n: int = 2000) -> float:
    """Mean ms per write for one process writing alone."""
    with tempfile.TemporaryDirectory() as tmp:
        store, _ = Store.open(Path(tmp))
        assert store is not None
        start = time.perf_counter()
        for i in range(n):
            store.record(
                Outcome(at=time.time(), model="m", provider="p", ok=i % 5 != 0, error_class=FailureClass.PROVIDER)
            )
        elapsed = time.perf_counter() - start
        store.close()
    mean_ms = elapsed / n * 1000
    print(f"1 writer x {n}: {mean_ms:.3f} ms/write")
    return mean_ms


def bench_concurrent(writers: int = 8, per_writer: int = 200) -> tuple[float, int]:
    """Mean ms per write with `writers` processes writing at once; returns (mean ms, rows counted)."""
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp) / "state"
        Store.open(state_dir)[0].close()  # type: ignore[union-attr]  # time writes, not creation
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WRITER, str(state_dir), str(per_writer), str(n)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(writers)
        ]
        results = [p.communicate()[0].split() for p in procs]
        with sqlite3.connect(state_dir / FILENAME) as db:
            rows = db.execute("SELECT count(*) FROM outcomes").fetchone()[0]
    total_s = sum(float(r[0]) for r in results)
    lost = sum(int(r[1]) for r in results)
    warnings = sum(int(r[2]) for r in results)
    mean_ms = total_s / (writers * per_writer) * 1000
    print(
        f"{writers} writers x {per_writer}: {mean_ms:.3f} ms/write, rows {rows}/{writers * per_writer}, "
        f"lost {lost}, warnings {warnings}"
    )
    return mean_ms, rows


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    bench_single()
    bench_concurrent(*args)
