"""Writes tests/data/stores/health-v1.sqlite3 with the schema of migration m001 (before usage)."""

import shutil
import sys
import tempfile
from pathlib import Path

from orcli.store.sqlite import Store
from orcli.types import FailureClass, Outcome

tmp = Path(tempfile.mkdtemp())
store, w = Store.open(tmp, clock=lambda: 1_780_000_000.0)
assert store is not None, w
t = 1_780_000_000.0
rows = [
    Outcome(
        at=t - 3600, model="gpt", provider="alpha", ok=True, status=200, latency_s=1.5, ttft_s=0.3, tokens_per_s=40.0
    ),
    Outcome(
        at=t - 1800,
        model="gpt",
        provider="beta",
        ok=False,
        error_class=FailureClass.PROVIDER,
        status=503,
        latency_s=0.2,
        error="HTTP 503: overloaded",
        retry_after=10.0,
    ),
    Outcome(
        at=t - 60,
        model="claude",
        provider="gamma/turbo",
        ok=True,
        status=200,
        latency_s=2.0,
        ttft_s=0.5,
        tokens_per_s=55.5,
    ),
]
for o in rows:
    assert store.record(o)
store.close()
out = Path(sys.argv[1])
shutil.copy(tmp / "health.sqlite3", out)
print(out)
