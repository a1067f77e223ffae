"""Start-up of two checkouts of orcli, measured interleaved in one run: did a change make it slower?

    python benchmarks/startup_compare.py BEFORE_DIR [AFTER_DIR] [--rounds N]

BEFORE_DIR and AFTER_DIR are checkouts (AFTER_DIR defaults to this one), for example a scratch worktree of an
older commit: `git worktree add /tmp/orcli-before COMMIT`. Each command runs as `python -m orcli` with
PYTHONPATH set to one checkout, so nothing needs installing. Every round runs every (checkout, command) pair
and the import floor in a new shuffled order; both wall time and the child's CPU time (user + system, from
getrusage) are kept. CPU time is the steadier figure on a shared machine: it does not count time spent
waiting for a core. Reported: medians per checkout, after/before ratios, and each against the floor
(`python -c "import typer, rich.table, httpx, platformdirs"`) measured in the same rounds.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLOOR_CODE = "import typer, rich.table, httpx, platformdirs"


def _example_keys(tree: Path) -> dict[str, str]:
    """Every api_key_env of the checkout's bundled `example` profile, set: explain-route plans every endpoint."""
    text = (tree / "profiles" / "example.toml").read_text()
    return {name: "sk-bench-not-a-real-key" for name in re.findall(r'^api_key_env\s*=\s*"(\w+)"', text, re.M)}


def _commands() -> dict[str, list[str]]:
    return {
        "version": ["--version"],
        "explain": ["explain-route", "--profile", "example", "--no-stdin", "--seed", "1"],
        "providers": ["providers", "--profile", "example"],
    }


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one run; raises if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {' '.join(argv)}\n{done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def compare(before: Path, after: Path, rounds: int) -> dict[str, dict[str, dict[str, float]]]:
    """Medians per (figure, checkout): {"version": {"before": {"wall": s, "cpu": s}, ...}, "floor": ...}."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_") and k != "PYTHONPATH"}
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    runs: dict[tuple[str, str], tuple[list[str], dict[str, str]]] = {}
    with tempfile.TemporaryDirectory(prefix="orcli-startup-") as tmp:
        for label, tree in (("before", before), ("after", after)):
            for name, args in _commands().items():
                env = {
                    **base,
                    **_example_keys(tree),
                    "PYTHONPATH": str(tree),
                    "XDG_CONFIG_HOME": f"{tmp}/config-{label}",  # no user profile shadows `example`
                    "ORCLI_STATE_DIR": f"{tmp}/state-{label}-{name}",
                }
                runs[(name, label)] = ([sys.executable, "-m", "orcli", *args], env)
        runs[("floor", "-")] = ([sys.executable, "-c", FLOOR_CODE], dict(base))
        for argv, env in runs.values():  # warm-up: bytecode caches, profile caches, page cache
            _timed(argv, env)
            _timed(argv, env)
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {key: [] for key in runs}
        rng = random.Random(19)
        order = list(runs)
        for r in range(rounds):
            rng.shuffle(order)
            for key in order:
                samples[key].append(_timed(*runs[key]))
            print(f"\r  round {r + 1}/{rounds}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    result: dict[str, dict[str, dict[str, float]]] = {}
    for (name, label), values in samples.items():
        result.setdefault(name, {})[label] = {
            "wall": statistics.median(w for w, _ in values),
            "cpu": statistics.median(c for _, c in values),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path, help="the checkout to compare against")
    ap.add_argument("after", type=Path, nargs="?", default=HERE.parent, help="default: this checkout")
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args(argv)
    figures = compare(args.before.resolve(), args.after.resolve(), args.rounds)
    floor = figures.pop("floor")["-"]
    print(f"{args.rounds} interleaved rounds; before {args.before}, after {args.after}; medians")
    print(f"floor ({FLOOR_CODE}): wall {floor['wall'] * 1000:.1f} ms, CPU {floor['cpu'] * 1000:.1f} ms")
    print(
        f"{'command':<10} {'':>4} {'before':>9} {'after':>9} {'after/before':>13} {'before/floor':>13} {'after/floor':>12}"
    )
    for name, by in figures.items():
        for clock in ("cpu", "wall"):
            b, a, f = by["before"][clock], by["after"][clock], floor[clock]
            print(
                f"{name:<10} {clock:>4} {b * 1000:>7.1f}ms {a * 1000:>7.1f}ms {a / b:>12.2f}x {b / f:>12.2f}x {a / f:>11.2f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
