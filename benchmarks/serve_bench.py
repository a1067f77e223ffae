"""`orcli serve` benchmark: what the gateway adds per request, and how many stream events it relays per CPU
second (docs/gateway.md, docs/performance.md).

    python benchmarks/serve_bench.py [--rounds N] [--json PATH] [--baseline DIR] [--quick]

Stream figures, every relay in the same run against the same fake upstream: a minimal asyncio pass-through
(benchmarks/passthrough.py, the floor), `orcli serve` from this tree, `orcli serve` from `--baseline DIR` (an
older checkout, for "x times yesterday's"), and the LiteLLM proxy when tests/run.sh installed it
(.venv-proxy; otherwise the column is skipped and said so). Each relay carries streams of 100 events at 10, 50
and 100 concurrent: streams/s (wall clock), events per CPU-second of the relay's own process (utime + stime
from /proc, whatever the load generator costs), and its peak RSS.

Every figure is a ratio against a reference taken in the same run, interleaved: the same request sent
straight to the loopback fake upstream (tests/upstream.py) and through a running `orcli serve` in front of
it. A "short completion" answers after 50 ms (a small model's short reply); the instant answer shows the
gateway's absolute cost in milliseconds, where the ratio only says how fast loopback is.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "tests")]

import httpx  # noqa: E402
from upstream import Upstream, fake_keys, ok, slow_first_token, write_profile  # noqa: E402

BODY = {"model": "test/model-a", "messages": [{"role": "user", "content": "Say hello."}]}
TARGET_RATIO = 1.1


def start_gateway(tmp: Path, profile: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_")}
    env.update(fake_keys(["alpha"]), ORCLI_STATE_DIR=str(tmp / "state"), XDG_CONFIG_HOME=str(tmp / "config"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "orcli", "serve", "--port", "0", "--profile", str(profile), "--json", "-q"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["listening"]


def timed(client: httpx.Client, url: str, body: dict) -> float:
    started = time.perf_counter()
    response = client.post(url, json=body)
    response.raise_for_status()
    return time.perf_counter() - started


def latency_figures(up: Upstream, gateway: str, rounds: int) -> list[dict]:
    direct = f"{up.base_url('alpha')}/chat/completions"
    via = f"{gateway}/chat/completions"
    rows = []
    for label, behaviour in (
        ("short completion (50 ms)", slow_first_token(0.05, "Hello there!")),
        ("instant answer", ok("Hello there!")),
    ):
        up.script("alpha", behaviour)
        times: dict[str, list[float]] = {"direct": [], "gateway": []}
        with httpx.Client(timeout=30) as client:
            for _ in range(5):  # warm both paths (connections, imports)
                timed(client, direct, BODY), timed(client, via, BODY)
            for i in range(rounds):
                order = [("direct", direct), ("gateway", via)][:: 1 if i % 2 else -1]
                for name, url in order:
                    times[name].append(timed(client, url, BODY))
        d, g = statistics.median(times["direct"]), statistics.median(times["gateway"])
        rows.append(
            {
                "figure": f"gateway latency, {label}",
                "direct_ms": d * 1000,
                "gateway_ms": g * 1000,
                "added_ms": (g - d) * 1000,
                "ratio": g / d,
            }
        )
    return rows


def throughput_figure(up: Upstream, gateway: str, streams: int = 50) -> dict:
    up.script("alpha", ok("one two three four five six seven eight", chunk_delay=0.05))

    def run(url: str) -> float:
        def one(_: int) -> None:
            with httpx.stream("POST", url, json={**BODY, "stream": True}, timeout=60) as response:
                for _line in response.iter_lines():
                    pass

        started = time.perf_counter()
        with ThreadPoolExecutor(streams) as pool:
            list(pool.map(one, range(streams)))
        return time.perf_counter() - started

    direct = run(f"{up.base_url('alpha')}/chat/completions")
    via = run(f"{gateway}/chat/completions")
    return {
        "figure": f"{streams} concurrent streams (8 chunks, 50 ms apart)",
        "direct_s": direct,
        "gateway_s": via,
        "ratio": via / direct,
        "gateway_streams_per_s": streams / via,
    }


def bench(rounds: int) -> list[dict]:
    """Every figure: the gateway's added latency (short completion, instant answer) and 50 concurrent streams."""
    with tempfile.TemporaryDirectory() as tmp_name, Upstream() as up:
        tmp = Path(tmp_name)
        profile = write_profile(tmp / "profile.toml", up, ["alpha"])
        proc, gateway = start_gateway(tmp, profile)
        try:
            rows = latency_figures(up, gateway, rounds)
            rows.append(throughput_figure(up, gateway))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--baseline", type=Path, help="an older orcli checkout to compare events per CPU-second")
    parser.add_argument("--quick", action="store_true", help="fewer streams (noisier)")
    parser.add_argument("--streams-only", action="store_true", help="skip the latency figures")
    args = parser.parse_args()
    rows = [] if args.streams_only else bench(args.rounds)
    from stream_bench import print_stream_rows, stream_bench

    stream_rows = stream_bench(args.baseline, quick=args.quick)
    print_stream_rows(stream_rows)
    rows += stream_rows
    for row in rows:
        if "relay" in row:
            continue
        if "added_ms" in row:
            verdict = ("PASS" if row["ratio"] <= TARGET_RATIO else "FAIL") if "50 ms" in row["figure"] else "-"
            print(
                f"{row['figure']:<40} direct {row['direct_ms']:7.2f} ms  gateway {row['gateway_ms']:7.2f} ms  "
                f"+{row['added_ms']:.2f} ms  {row['ratio']:.2f}x  (target <= {TARGET_RATIO}x: {verdict})"
            )
        else:
            print(
                f"{row['figure']:<40} direct {row['direct_s']:.2f} s  gateway {row['gateway_s']:.2f} s  "
                f"{row['ratio']:.2f}x  ({row['gateway_streams_per_s']:.0f} streams/s through the gateway)"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
