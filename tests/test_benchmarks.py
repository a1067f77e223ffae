"""The benchmark suite runs (benchmarks/run.py): every figure once at its smallest size, so a change that
breaks a benchmark (a renamed function, a new required argument) fails here, not on the day someone measures.
It measures nothing: figures belong to benchmarks/, judged by whoever runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bench(tmp_path: Path, script: str, *args: str, pythonpath: bool = False) -> subprocess.CompletedProcess[str]:
    """benchmarks/`script` run to its end in `tmp_path`, without the caller's ORCLI_ settings; it must succeed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_")}
    if pythonpath:
        env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return done


def test_run_py_quick_runs_every_figure_to_the_end(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    _bench(tmp_path, "run.py", "--quick", "--smoke", "--json", str(out), pythonpath=True)
    figures = [row["figure"] for row in json.loads(out.read_text())["rows"]]
    for expected in ("orcli --version", "providers (JSON + table)", "store write", "gateway latency", "executor"):
        assert any(f.startswith(expected) for f in figures), (expected, figures)


def test_startup_compare_runs_two_checkouts_to_the_end(tmp_path: Path) -> None:
    """benchmarks/startup_compare.py against this checkout itself: every command of both sides runs and the
    table names each one (the figures are for whoever runs it on a quiet machine)."""
    done = _bench(tmp_path, "startup_compare.py", str(ROOT), "--rounds", "1")
    rows = {line.split()[0] for line in done.stdout.splitlines()[3:] if line.strip()}
    assert rows == {"version", "explain", "providers"}, done.stdout
