"""Stream relay figures for serve_bench.py: events per CPU-second, streams/s at 10/50/100 concurrent, peak
RSS, for orcli serve beside a minimal async pass-through (and an older orcli, and LiteLLM when installed).

The load generator is asyncio over raw sockets in this process (cheap, so the relays get the cores); each
relay's CPU time is read from /proc for its own process, so what the generator and the fake upstream cost is
not counted against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "tests")]

from upstream import Upstream, fake_keys, ok, write_profile  # noqa: E402

EVENTS = 100  # content events per stream
CHUNK_DELAY = 0.005  # seconds between them at the upstream: a fast model, 200 tokens/s
LEVELS = (10, 50, 100)
TARGET_VS_BASELINE = 1.3  # events per CPU-second against the older orcli
TARGET_VS_LITELLM = 4.0  # streams/s at 100 concurrent against LiteLLM
TARGET_RSS_MB = 50.0  # peak RSS at 100 concurrent streams
BODY = {"model": "test/model-a", "messages": [{"role": "user", "content": "Stream please."}], "stream": True}
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# What every relay is sent as its client key: LiteLLM's master key; orcli serve and the pass-through ignore it.
BENCH_KEY = "sk-bench-" + "4d2f8a6c0e1b3d5f7a9c2e4b6d8f0a1c"


async def _one(host: str, port: int, path: str) -> int:
    data = json.dumps(BODY).encode()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {BENCH_KEY}\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
        + data
    )
    received = bytearray()
    while chunk := await reader.read(65536):
        received += chunk
    writer.close()
    return received.count(b'"content"')


async def _load(url: str, concurrency: int, total: int) -> tuple[float, int]:
    rest = url.removeprefix("http://")
    hostport, _, base = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    path = f"/{base}/chat/completions"
    gate = asyncio.Semaphore(concurrency)

    async def one() -> int:
        async with gate:
            return await _one(host, int(port), path)

    started = time.perf_counter()
    counts = await asyncio.gather(*(one() for _ in range(total)))
    return time.perf_counter() - started, sum(counts)


def _one_level(pid: int, url: str, level: int, total: int) -> tuple[float, int, float]:
    cpu0 = cpu_seconds(pid)
    wall, events = asyncio.run(_load(url, level, total))
    return wall, events, cpu_seconds(pid) - cpu0


def measure(relays: dict[str, tuple[int, str]], rounds: int, quick: bool) -> list[dict[str, Any]]:
    """Each level, round after round, every relay in turn (the order reversed each round): a machine whose load
    drifts during the run treats every relay alike. One row per relay and level, the rounds summed."""
    for _pid, url in relays.values():
        asyncio.run(_load(url, 10, 10))  # warm-up: imports, connection pools
    sums: dict[tuple[str, int], list[float]] = {}
    for level in LEVELS:
        total = level if quick else 2 * level
        for i in range(rounds):
            for name in list(relays)[:: 1 if i % 2 == 0 else -1]:
                wall, events, cpu = _one_level(*relays[name], level, total)
                acc = sums.setdefault((name, level), [0.0, 0.0, 0.0, 0.0])
                acc[0] += wall
                acc[1] += events
                acc[2] += cpu
                acc[3] += total
    rows = []
    for (name, level), (wall, events, cpu, streams) in sums.items():
        rows.append(
            {
                "relay": name,
                "concurrent": level,
                "streams": int(streams),
                "events": int(events),
                "wall_s": wall,
                "streams_per_s": streams / wall,
                "cpu_s": cpu,
                "events_per_cpu_s": events / cpu if cpu else float("inf"),
                "peak_rss_mb": peak_rss_mb(relays[name][0]),
            }
        )
    return rows


@contextmanager
def orcli_serve(tmp: Path, profile: Path, pythonpath: Path) -> Iterator[tuple[int, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_")}
    env.update(
        fake_keys(["alpha"]),
        ORCLI_STATE_DIR=str(tmp / f"state-{pythonpath.name}"),
        XDG_CONFIG_HOME=str(tmp / "config"),
        PYTHONPATH=str(pythonpath),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "orcli", "serve", "--port", "0", "--profile", str(profile), "--json", "-q"],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.pid, json.loads(proc.stdout.readline())["listening"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def passthrough(upstream_url: str) -> Iterator[tuple[int, str]]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "passthrough.py"), upstream_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc.pid, json.loads(proc.stdout.readline())["listening"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def litellm(tmp: Path, upstream_url: str) -> Iterator[tuple[int, str] | None]:
    """The LiteLLM proxy forwarding to the same fake upstream, if tests/run.sh installed it; else None."""
    import real_proxy

    command, where = real_proxy.find_server()
    if command is None:
        yield None
        return
    config = tmp / "litellm-bench.yaml"
    config.write_text(
        "model_list:\n  - model_name: test/model-a\n    litellm_params:\n      model: openai/test/model-a\n"
        f"      api_base: {upstream_url}\n      api_key: sk-bench\n"
        f"general_settings:\n  master_key: {BENCH_KEY}\n"  # the proxy refuses to start without one
    )
    port = real_proxy.free_port()
    log = tmp / "litellm.log"  # its output, shown if it does not come up
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
            cwd=tmp,
            env=real_proxy._env(tmp),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        proxy = real_proxy.RealProxy(port, proc, log, 0.0)  # type: ignore[arg-type]
        real_proxy._wait_ready(proxy, time.monotonic())
        yield proc.pid, f"http://127.0.0.1:{port}/v1"
    finally:
        real_proxy._stop(proc)  # type: ignore[arg-type]


def stream_bench(baseline: Path | None, quick: bool = False) -> list[dict[str, Any]]:
    """Every relay against one fake upstream, interleaved; rows per relay and level, then the verdicts."""
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        up = stack.enter_context(Upstream())
        up.script("alpha", ok(chunks=["tok "] * EVENTS, chunk_delay=CHUNK_DELAY))
        profile = write_profile(tmp / "profile.toml", up, ["alpha"])
        relays = {
            "async pass-through": stack.enter_context(passthrough(up.base_url("alpha"))),
            "orcli serve": stack.enter_context(orcli_serve(tmp, profile, ROOT)),
        }
        if baseline is not None:
            relays[f"orcli serve ({baseline.name})"] = stack.enter_context(
                orcli_serve(tmp, profile, baseline.resolve())
            )
        proxy = stack.enter_context(litellm(tmp, up.base_url("alpha")))
        if proxy is None:
            rows.append(
                {
                    "relay": "LiteLLM proxy",
                    "skipped": "not installed here (tests/run.sh puts it in .venv-proxy; or set ORCLI_TEST_LITELLM): "
                    "column skipped",
                }
            )
        else:
            relays["LiteLLM proxy"] = proxy
        rows = measure(relays, 1 if quick else 3, quick) + rows
    return rows + verdicts(rows)


def verdicts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The targets: >= 1.3x the older orcli's events per CPU-second, >= 4x LiteLLM's streams/s at 100
    concurrent, <= 50 MB peak RSS at 100 streams."""
    at100 = {r["relay"]: r for r in rows if r.get("concurrent") == 100}
    ours = at100.get("orcli serve")
    out = []
    if ours is None:
        return out
    out.append(
        {
            "relay": "verdict",
            "figure": "peak RSS at 100 streams",
            "value": ours["peak_rss_mb"],
            "target": f"<= {TARGET_RSS_MB:g} MB",
            "passed": ours["peak_rss_mb"] <= TARGET_RSS_MB,
        }
    )
    per_cpu = _events_per_cpu_second(rows)
    for name, r in at100.items():
        if name.startswith("orcli serve ("):
            ratio = per_cpu["orcli serve"] / per_cpu[name]
            out.append(
                {
                    "relay": "verdict",
                    "figure": f"events per CPU-second (all levels) vs {name}",
                    "value": ratio,
                    "target": f">= {TARGET_VS_BASELINE}x",
                    "passed": ratio >= TARGET_VS_BASELINE,
                }
            )
        if name == "LiteLLM proxy":
            ratio = ours["streams_per_s"] / r["streams_per_s"]
            out.append(
                {
                    "relay": "verdict",
                    "figure": "streams/s vs LiteLLM at 100",
                    "value": ratio,
                    "target": f">= {TARGET_VS_LITELLM}x",
                    "passed": ratio >= TARGET_VS_LITELLM,
                }
            )
    return out


def _events_per_cpu_second(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per relay, every level's events over every level's CPU time: more CPU ticks, less noise."""
    totals: dict[str, list[float]] = {}
    for r in rows:
        if "concurrent" in r:
            events_cpu = totals.setdefault(r["relay"], [0.0, 0.0])
            events_cpu[0] += r["events"]
            events_cpu[1] += r["cpu_s"]
    return {name: events / cpu if cpu else float("inf") for name, (events, cpu) in totals.items()}


def print_stream_rows(rows: list[dict[str, Any]]) -> None:
    print(f"{'relay':<28} {'conc':>4} {'streams/s':>10} {'events/CPU-s':>13} {'CPU s':>7} {'peak RSS':>9}")
    for r in rows:
        if "skipped" in r:
            print(f"{r['relay']:<28} {r['skipped']}")
        elif r["relay"] == "verdict":
            mark = "PASS" if r["passed"] else "FAIL"
            print(f"{'':<28} {r['figure']}: {r['value']:.2f} (target {r['target']}): {mark}")
        else:
            print(
                f"{r['relay']:<28} {r['concurrent']:>4} {r['streams_per_s']:>10.1f} {r['events_per_cpu_s']:>13,.0f} "
                f"{r['cpu_s']:>7.2f} {r['peak_rss_mb']:>7.1f} MB"
            )
