"""orcli benchmark suite: every figure is a ratio against a reference measured in the same run.

    python benchmarks/run.py [--quick] [--rounds N] [--json PATH] [--strict] [--only NAME ...]

The machines are shared and noisy, so absolute times drift: process figures are run interleaved with their
reference (the order rotates every round), medians are compared, and only the ratio is judged. A missed
target is reported, not fatal (exit 0), unless --strict. Benchmarks are not tests: CI does not run this.

Process figures run the console script users run (`orcli`, found next to sys.executable); if it is missing
they fall back to `sys.executable -m orcli` and the table says so. Every orcli subprocess gets its own
ORCLI_STATE_DIR and XDG_CONFIG_HOME (temp dirs); commands that read a prompt get `--no-stdin`. In-process
figures talk to tests/upstream.py's server running in another process (as a real provider would), so the
server's threads do not share the measured code's GIL. Failover is shown for the whole `ask`, but process
noise (tens of ms) dwarfs its 5 ms target, so it is judged in process.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from timing import interleaved, interleaved_cpu  # noqa: E402 - benchmarks/ is on sys.path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "tests"), str(HERE)]  # tests/upstream.py (loopback server), store_bench.py, dialect_bench.py

from upstream import Upstream, fake_keys, ok, refused_base_url, write_profile  # noqa: E402

FLOOR_CODE = "import typer, rich.table, httpx, platformdirs"


def _example_key_names() -> tuple[str, ...]:
    """The api_key_env names of the bundled `example` profile: set, so explain-route plans every endpoint."""
    from orcli.profile.resolve import bundled_profiles_dir

    text = (bundled_profiles_dir() / "example.toml").read_text()
    return tuple(sorted(set(re.findall(r'^api_key_env\s*=\s*"(\w+)"', text, re.M))))


EXAMPLE_KEYS = _example_key_names()
ANSWER = "The quick brown fox jumps over the lazy dog. " * 6  # 54 words: 54 content chunks when streamed


@dataclass
class Row:
    figure: str
    measured: str
    reference: str
    result: str
    target: str
    passed: bool | None  # None: informational
    data: dict = field(default_factory=dict)  # raw numbers for --json


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _status(passed: bool | None) -> str:
    return "-" if passed is None else "PASS" if passed else "FAIL"


# ------------------------------------------------------------------------------------ process figures


def orcli_command() -> tuple[list[str], str]:
    script = Path(sys.executable).parent / ("orcli.exe" if os.name == "nt" else "orcli")
    if script.is_file():
        return [str(script)], f"console script {script}"
    return [sys.executable, "-m", "orcli"], f"{sys.executable} -m orcli (no console script next to the interpreter)"


def _clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_") and k not in EXAMPLE_KEYS}
    env["XDG_CONFIG_HOME"] = str(tmp / "config")  # no user profiles shadow the bundled `example`
    env["ORCLI_STATE_DIR"] = str(tmp / "state-default")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@dataclass
class Proc:
    """One command of the rotation: argv, env, what it must print, and its timings."""

    name: str
    argv: list[str]
    env: dict[str, str]
    expect: str | None = None
    before: Callable[[], None] | None = None  # untimed set-up before each run (e.g. forget health)
    times: list[float] = field(default_factory=list)

    def run(self, record: bool = True) -> float:
        if self.before:
            self.before()
        start = time.perf_counter()
        done = subprocess.run(self.argv, env=self.env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0 or (self.expect is not None and self.expect not in done.stdout):
            raise RuntimeError(
                f"{self.name}: exit {done.returncode}\n$ {' '.join(self.argv)}\n"
                f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"
            )
        if record:
            self.times.append(elapsed)
        return elapsed

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def _forget_health(state_dir: Path) -> Callable[[], None]:
    """Reset the store between failover runs: a remembered failure would demote the dead provider."""

    def reset() -> None:
        from orcli.store import Store

        store, _ = Store.open(state_dir)
        if store is not None:
            store.reset()
            store.close()

    return reset


def process_figures(rounds: int, tmp: Path, wanted: set[str]) -> tuple[list[Row], str]:
    orcli, how = orcli_command()
    base = _clean_env(tmp)

    def env_with(state: str, **extra: str) -> dict[str, str]:
        return {**base, "ORCLI_STATE_DIR": str(tmp / state), **extra}

    example_keys = {k: "sk-bench-not-a-real-key" for k in EXAMPLE_KEYS}  # every endpoint has credentials
    procs: dict[str, Proc] = {
        "floor": Proc("floor", [sys.executable, "-c", FLOOR_CODE], dict(base)),
        "version": Proc("version", [*orcli, "--version"], env_with("s-version"), expect="orcli "),
        "explain": Proc(
            "explain",
            [*orcli, "explain-route", "--profile", "example", "--no-stdin", "--seed", "1"],
            env_with("s-explain", **example_keys),
            expect="Attempt plan",
        ),
    }
    if "explain_big" in wanted:
        big, big_keys = big_profile(tmp, BIG_EXPLAIN_ENDPOINTS)
        procs["explain_big"] = Proc(
            "explain_big",
            [*orcli, "explain-route", "--profile", str(big), "--no-stdin", "--seed", "1"],
            env_with("s-explain-big", **big_keys),
            expect="Attempt plan",
        )
    upstream = Upstream().start()
    try:
        keys = fake_keys(["dead", "alpha"])
        profiles = tmp / "profiles"
        profiles.mkdir(exist_ok=True)
        ask_profile = write_profile(profiles / "ask.toml", upstream, ["alpha"], extra_routing={"sort": "price"})
        dead = {"dead": {"base_url": refused_base_url()}}
        failover_profile = write_profile(
            profiles / "failover.toml",
            upstream,
            ["dead", "alpha"],
            extra_routing={"sort": "price"},
            provider_extra=dead,
        )
        upstream.script("alpha", ok(ANSWER))
        ask = ["ask", "--no-stdin", "hello"]
        ask_argv = [*orcli, *ask, "--profile", str(ask_profile)]
        procs["ask"] = Proc("ask", ask_argv, env_with("s-ask", **keys), ANSWER[:20])
        procs["failover"] = Proc(
            "failover",
            [*orcli, *ask, "--profile", str(failover_profile)],
            env_with("s-failover", **keys),
            ANSWER[:20],
            before=_forget_health(tmp / "s-failover"),
        )
        procs["no_dead"] = Proc(
            "no_dead",
            [*orcli, *ask, "--profile", str(ask_profile)],
            env_with("s-no-dead", **keys),
            ANSWER[:20],
            before=_forget_health(tmp / "s-no-dead"),
        )
        selected = [
            p
            for p in procs.values()
            if p.name == "floor" or (p.name in ("failover", "no_dead") and "failover" in wanted) or p.name in wanted
        ]
        for p in selected:  # warm-up: bytecode caches, page cache, store creation; not timed
            p.run(record=False)
            p.run(record=False)
        if "failover" in wanted:  # the failover run really fails over: dead first, then alpha serves
            check = procs["failover"]
            check.before()  # type: ignore[misc]
            done = subprocess.run(
                [*check.argv, "--json"],
                env=check.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=True,
            )
            tried = [(a["provider"], a["outcome"]) for a in json.loads(done.stdout)["attempts"]]
            if tried != [("dead", "failed"), ("alpha", "success")]:
                raise RuntimeError(f"failover run did not fail over as planned: {tried}")
        rng = random.Random(7)
        for r in range(rounds):
            order = list(selected)
            rng.shuffle(order)
            if r % 2:
                order.reverse()
            for p in order:
                p.run()
            print(f"\r  process figures: round {r + 1}/{rounds}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        calls = upstream.count("alpha")
    finally:
        upstream.stop()

    floor = procs["floor"].median
    rows: list[Row] = []
    for name, label, target in (
        ("version", "orcli --version", 0.35),
        ("explain", "orcli explain-route -p example", 1.0),
        ("explain_big", f"orcli explain-route, {BIG_EXPLAIN_ENDPOINTS:,}-endpoint profile (cached)", 0.7),
        ("ask", "orcli ask (loopback, streamed)", 1.5),
    ):
        if name not in wanted:
            continue
        p = procs[name]
        ratio = p.median / floor
        rows.append(
            Row(
                f"{label}",
                _ms(p.median),
                f"floor {_ms(floor)}",
                f"{ratio:.2f}x",
                f"<= {target}x",
                ratio <= target,
                {
                    "median_s": p.median,
                    "reference_median_s": floor,
                    "ratio": ratio,
                    "target_ratio": target,
                    "times_s": p.times,
                    "reference_times_s": procs["floor"].times,
                },
            )
        )
    if "failover" in wanted:
        f, n = procs["failover"], procs["no_dead"]
        paired = [a - b for a, b in zip(f.times, n.times, strict=True)]
        delta = statistics.median(paired)
        q1, _, q3 = statistics.quantiles(paired, n=4) if len(paired) > 1 else (delta, delta, delta)
        # Process noise here is tens of ms, far above the 5 ms target: shown, but judged in process below.
        rows.append(
            Row(
                "failover past refused conn (ask)",
                _ms(f.median),
                f"without it {_ms(n.median)}",
                f"{delta * 1000:+.1f} ms paired median (IQR {q1 * 1000:+.0f}..{q3 * 1000:+.0f} ms)",
                "<= +5 ms (judged in process)",
                None,
                {
                    "median_s": f.median,
                    "reference_median_s": n.median,
                    "paired_delta_median_s": delta,
                    "delta_of_medians_s": f.median - n.median,
                    "target_delta_s": 0.005,
                    "times_s": f.times,
                    "reference_times_s": n.times,
                    "upstream_requests": calls,
                },
            )
        )
    return rows, how


# ----------------------------------------------------------------------------------- in-process figures


_SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
from upstream import Upstream, ok
up = Upstream().start()
up.script("alpha", ok(sys.argv[2]))
print(up.url, flush=True)
sys.stdin.read()
up.stop()
"""


class _RemoteUpstream:
    """tests/upstream.py's server in its own process: in-process figures then time the client alone, as
    with a real provider, instead of sharing one GIL with the server's threads."""

    def __enter__(self) -> _RemoteUpstream:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(ROOT / "tests"), ANSWER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError("the upstream server process did not start")
        return self

    def base_url(self, provider: str) -> str:
        return f"{self.url}/{provider}/v1"

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def _median_of(fns: dict[str, Callable[[], object]], n: int, warmup: int = 20) -> dict[str, list[float]]:
    """Run each function n times, interleaved, the order alternating every round; raw samples per name."""
    return interleaved(fns, n, warmup)


def executor_figures(n: int, tmp: Path, wanted: set[str]) -> list[Row]:
    import queue
    import threading

    import httpx

    from orcli.execution.exchange import Exchange
    from orcli.execution.executor import Executor
    from orcli.execution.transport import make_client
    from orcli.profile.resolve import load_profile_file
    from orcli.store import Store
    from orcli.types import HEALTHY, PlannedAttempt
    from orcli.wire import openai as wire
    from orcli.wire.base import ChatRequest
    from orcli.wire.sse import SSEDecoder

    rows: list[Row] = []
    keys = fake_keys(["dead", "alpha"])
    messages = wire.build_messages("hello", None)
    request = ChatRequest(({"role": "user", "content": "hello"},))
    with _RemoteUpstream() as upstream, httpx.Client(follow_redirects=False) as client:
        dead = {"dead": {"base_url": refused_base_url()}}
        path = write_profile(tmp / "inproc.toml", upstream, ["dead", "alpha"], provider_extra=dead)  # type: ignore[arg-type]
        profile = load_profile_file(path)
        attempts = {e.provider: PlannedAttempt(1, e, 0.0, HEALTHY, "bench") for e in profile.endpoints}
        alpha = attempts["alpha"]

        if "executor" in wanted:
            # The executor as `ask` runs it: the production client (orcli.execution.transport: the lazy TLS
            # transport, each connection's thread noted for cancellation) and the production reader.
            production_client = make_client()
            executor = Executor(
                production_client, profile.providers, keys, profile.timeouts, reader=Exchange, sink=lambda d: None
            )
            plain = Executor(client, profile.providers, keys, profile.timeouts, reader=Exchange, sink=lambda d: None)
            url = f"{profile.providers['alpha'].base_url}/chat/completions"
            body = wire.build_body(alpha.endpoint.upstream_model, messages, {}, True)
            headers = wire.build_headers(keys["ORCLI_TEST_KEY_ALPHA"], {}, stream=True)

            def raw() -> None:
                with client.stream("POST", url, json=body, headers=headers) as response:
                    for _ in response.iter_raw():
                        pass

            def minimal_client() -> None:
                """The reference: the least a streaming chat client must do with raw httpx (SSE lines,
                JSON per event, the content joined), with none of orcli's checks, deadlines or records."""
                parts = []
                with client.stream("POST", url, json=body, headers=headers) as response:
                    for line in response.iter_lines():
                        if line.startswith("data: ") and line != "data: [DONE]":
                            choices = json.loads(line[6:]).get("choices")
                            if choices:
                                parts.append(choices[0].get("delta", {}).get("content") or "")
                assert "".join(parts) == ANSWER

            def raw_via_thread() -> None:
                """Diagnostic: the raw request read on a thread, chunks handed over a queue (as exchange.Pump does)."""
                chunks: queue.Queue[bytes | None] = queue.Queue()

                def pump() -> None:
                    with client.stream("POST", url, json=body, headers=headers) as response:
                        for chunk in response.iter_raw():
                            chunks.put(chunk)
                    chunks.put(None)

                threading.Thread(target=pump, daemon=True).start()
                while chunks.get(timeout=30) is not None:
                    pass

            def orcli_run() -> None:
                result = executor.run([alpha], request, stream=True)
                assert result.content == ANSWER

            def plain_client_run() -> None:
                """Diagnostic: the same over a plain httpx client (what the connection tracking costs)."""
                result = plain.run([alpha], request, stream=True)
                assert result.content == ANSWER

            with client.stream("POST", url, json=body, headers=headers) as response:
                stream_bytes = response.read()

            def parse_only() -> None:
                """Diagnostic: SSE decoding and JSON parsing of the same stream, no network."""
                decoder = SSEDecoder()
                for event in decoder.feed(stream_bytes) + decoder.close():
                    wire.parse_stream_event(event.data)

            fns = {
                "orcli": orcli_run,
                "minimal": minimal_client,
                "raw": raw,
                "thread": raw_via_thread,
                "parse": parse_only,
                "plain": plain_client_run,
            }
            wall_samples, cpu_samples = interleaved_cpu(fns, n)
            production_client.close()
            wall = {k: statistics.median(v) for k, v in wall_samples.items()}
            cpu = {k: statistics.median(v) for k, v in cpu_samples.items()}
            # Judged on the client's CPU time (the server runs in another process): wall time on a shared
            # machine swings with everyone else's load, CPU time much less. The wall ratio is shown too.
            ratio = cpu["orcli"] / cpu["minimal"]
            wall_ratio = wall["orcli"] / wall["minimal"]
            rows.append(
                Row(
                    "executor, 1 streamed completion (client CPU)",
                    _ms(cpu["orcli"]),
                    f"minimal httpx client {_ms(cpu['minimal'])}",
                    f"{ratio:.2f}x (wall {wall_ratio:.2f}x; bytes alone {_ms(cpu['raw'])}; thread hand-off would add "
                    f"{(cpu['thread'] - cpu['raw']) * 1000:+.2f} ms; orcli's SSE+JSON parse {cpu['parse'] * 1000:.2f} ms; "
                    f"production client vs a plain httpx.Client {(cpu['orcli'] - cpu['plain']) * 1000:+.2f} ms)",
                    "<= 1.1x",
                    ratio <= 1.1,
                    {
                        "cpu_median_s": cpu["orcli"],
                        "reference_cpu_median_s": cpu["minimal"],
                        "ratio": ratio,
                        "target_ratio": 1.1,
                        "median_s": wall["orcli"],
                        "reference_median_s": wall["minimal"],
                        "wall_ratio": wall_ratio,
                        "n": n,
                        "raw_bytes_cpu_median_s": cpu["raw"],
                        "raw_via_thread_cpu_median_s": cpu["thread"],
                        "parse_only_cpu_median_s": cpu["parse"],
                        "plain_client_cpu_median_s": cpu["plain"],
                        "stream_bytes": len(stream_bytes),
                        "answer_words": len(ANSWER.split()),
                    },
                )
            )

        if "failover" in wanted:
            # The same failover in process, with the store recording outcomes as ask does: no process noise.
            store, _ = Store.open(tmp / "s-inproc")
            assert store is not None
            executor = Executor(
                client,
                profile.providers,
                keys,
                profile.timeouts,
                reader=Exchange,
                sink=lambda d: None,
                on_outcome=store.record,
            )
            with_dead = [attempts["dead"], PlannedAttempt(2, alpha.endpoint, 0.0, HEALTHY, "bench")]
            samples = _median_of(
                {
                    "dead": lambda: executor.run(with_dead, request),
                    "alive": lambda: executor.run([alpha], request),
                },
                n,
            )
            store.close()
            fo, base = statistics.median(samples["dead"]), statistics.median(samples["alive"])
            delta = fo - base
            rows.append(
                Row(
                    "failover past refused conn (in process)",
                    _ms(fo),
                    f"without it {_ms(base)}",
                    f"{delta * 1000:+.2f} ms",
                    "<= +5 ms",
                    delta <= 0.005,
                    {"median_s": fo, "reference_median_s": base, "delta_s": delta, "n": n},
                )
            )
    return rows


# ------------------------------------------------------------------------------------------- planner


def synthetic_profile_text(n: int) -> tuple[str, list[str]]:
    """A profile of `n` endpoints: n/20 models, each on 20 of n/10 providers; prices, limits, parameters vary."""
    models = max(1, n // 20)
    providers = max(20, n // 10)
    lines = ["[routing]", 'models = ["m0"]', ""]
    for p in range(providers):
        lines += [
            f"[providers.p{p}]",
            f'base_url = "https://p{p}.example.com/v1"',
            f'api_key_env = "P{p}_KEY"',
            f'data_collection = "{"deny" if p % 3 else "allow"}"',
            f"zdr = {'true' if p % 4 == 0 else 'false'}",
            "",
        ]
    quants = ["fp8", "bf16", "fp16", "int4"]
    for i in range(n):
        m, j = divmod(i, 20)
        p = (m * 7 + j * 13) % providers
        lines += [
            "[[endpoint]]",
            f'model = "org/model-{m}"',
            f'provider = "p{p}"',
            f"price = {{ prompt = {0.05 + (i * 37 % 200) / 100:.2f}, completion = {0.1 + (i * 53 % 400) / 100:.2f} }}",
            f"context_length = {[8192, 32768, 131072][i % 3]}",
            f'quantization = "{quants[i % 4]}"',
            f"parameters = {json.dumps(['temperature', 'max_tokens'] + (['tools'] if i % 2 else []))}",
            f"latency = {0.2 + (i % 10) / 10:.1f}",
            "",
        ]
    # Ensure one profile-level rule of each kind works over many models: every model is requested.
    return "\n".join(lines), [f"org/model-{m}" for m in range(models)]


def planner_figures(sizes: Sequence[int], repeats: int) -> list[Row]:
    """plan() over every endpoint (all models requested: the worst case), sizes interleaved so drift hits
    all alike; with the collector on (what a process sees) and off (the planner's own work), plus a
    3-model request (the usual case: a scan of the profile) and tracemalloc's peak."""
    from orcli.profile.parse import parse_profile
    from orcli.routing.planner import plan
    from orcli.routing.preferences import merge
    from orcli.types import EndpointHealth, HealthSnapshot, HealthState, Request

    request = Request(prompt_tokens=2000, max_tokens=None, parameters=frozenset({"temperature", "tools"}))
    bad = EndpointHealth(state=HealthState.UNSTABLE, stable=False, requests=3, failures=2)
    cases: dict[int, dict] = {}
    for n in sizes:
        text, models = synthetic_profile_text(n)
        t0 = time.perf_counter()
        profile = parse_profile(text, f"<synthetic {n}>")
        parse_s = time.perf_counter() - t0
        gc.freeze()  # as orcli's load_profile does: the profile lives for the whole process
        del text
        assert len(profile.endpoints) == n
        routing = {"ignore": ["p5"], "order": ["p1", "p2"], "data_collection": "deny", "max_price": {"prompt": 1.8}}
        health = HealthSnapshot({e.key: bad for e in profile.endpoints[::50]})
        no_key = frozenset(name for i, name in enumerate(profile.providers) if i % 9 == 0)

        def has_key(p, _skip=no_key):
            return p.name not in _skip

        cases[n] = {
            "profile": profile,
            "parse_s": parse_s,
            "all": merge({"models": models, **routing}, {}),
            "few": merge({"models": models[:3], **routing}, {}),
            "health": health,
            "has_key": has_key,
        }
        print(f"  planner: {n:,}-endpoint profile parsed in {parse_s:.2f} s", file=sys.stderr)

    def once(n: int, which: str = "all"):
        c = cases[n]
        return plan(c["profile"], request, c[which], c["health"], seed=1, has_key=c["has_key"])

    results = {n: once(n) for n in sizes}
    on: dict[int, list[float]] = {n: [] for n in sizes}
    off: dict[int, list[float]] = {n: [] for n in sizes}
    few: dict[int, list[float]] = {n: [] for n in sizes}
    for r in range(repeats):
        for n in sizes if r % 2 == 0 else reversed(sizes):
            gc.collect()
            start = time.perf_counter()
            once(n)
            on[n].append(time.perf_counter() - start)
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                once(n)
                off[n].append(time.perf_counter() - start)
            finally:
                gc.enable()
            start = time.perf_counter()
            once(n, "few")
            few[n].append(time.perf_counter() - start)
    rows: list[Row] = []
    previous: int | None = None
    growth_ok = True
    for n in sizes:
        gc.collect()
        tracemalloc.start()
        once(n)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        t_on, t_off, t_few = (statistics.median(x[n]) for x in (on, off, few))
        growth = ""
        if previous is not None:
            g = t_on / statistics.median(on[previous])
            growth_ok &= g <= 1.3 * n / previous
            growth = f"; x{g:.1f} for x{n // previous}"
        last = n == sizes[-1]
        rows.append(
            Row(
                f"planner, {n:,} endpoints",
                _ms(t_on),
                "-",
                f"{t_on / n * 1e6:.1f} us/endpoint{growth}; gc off {_ms(t_off)}; peak {peak / 2**20:.1f} MiB; "
                f"3 models {_ms(t_few)}",
                "linear; < 1 s" if last else "linear",
                (t_on < 1.0 and growth_ok) if last else None,
                {
                    "endpoints": n,
                    "median_s": t_on,
                    "gc_off_median_s": t_off,
                    "three_models_median_s": t_few,
                    "samples_s": on[n],
                    "peak_bytes": peak,
                    "profile_parse_s": cases[n]["parse_s"],
                    "attempts": len(results[n].attempts),
                    "rejected": len(results[n].rejected),
                },
            )
        )
        previous = n
    return rows


# ------------------------------------------------------------------------------------ profiles at scale

BIG_EXPLAIN_ENDPOINTS = 2_000


def big_profile(tmp: Path, n: int) -> tuple[Path, dict[str, str]]:
    """A synthetic n-endpoint profile requesting 3 of its models, and a key for every provider in it."""
    text, models = synthetic_profile_text(n)
    text = text.replace('models = ["m0"]', f"models = {json.dumps(models[:3])}", 1)
    path = tmp / f"big-{n}.toml"
    path.write_text(text)
    keys = {name: "sk-bench-not-a-real-key" for name in set(re.findall(r'^api_key_env = "(\w+)"', text, re.M))}
    return path, keys


def _invalid(text: str) -> str:
    """Every endpoint's prompt price negative: one error per endpoint, as a bad bulk edit would make."""
    return text.replace("price = { prompt = ", "price = { prompt = -")


def _scaling_rows(
    label: str, n: int, t: float, ref_label: str, ref: float, previous: dict[str, tuple[int, float]], extra: str = ""
) -> Row:
    """One figure at one size, judged as its ratio to a reference measured on the same data in the same run:
    linear means the ratio holds as the size grows x10 (within 1.5x). Both pay the same memory-hierarchy
    costs of many Python objects, which raw per-endpoint times at 1k vs 100k would mistake for a bad algorithm."""
    ratio = t / ref
    growth, ok = "", None
    if label in previous:
        n0, r0 = previous[label]
        ok = ratio / r0 <= 1.5
        growth = f"; ratio x{ratio / r0:.2f} for x{n // n0} endpoints"
    previous[label] = (n, ratio)
    return Row(
        f"{label}, {n:,} endpoints",
        _ms(t),
        f"{ref_label} {_ms(ref)}",
        f"{ratio:.2f}x ({t / n * 1e6:.1f} us/endpoint{growth}){extra}",
        "ratio holds (linear)",
        ok,
        {"endpoints": n, "median_s": t, "reference_median_s": ref, "ratio": ratio},
    )


def profile_figures(sizes: Sequence[int], repeats: int, tmp: Path) -> list[Row]:
    """Loading a profile at scale: TOML + validation (what every command paid before the cache), the cached
    load (what it pays now), and reporting an invalid profile (one error per endpoint), each against the
    same run's floor for that work: tomllib.loads of the same text, or unmarshalling the cache's plain data."""
    import marshal
    import tomllib

    from orcli.errors import ProfileError
    from orcli.profile.cache import load_cached
    from orcli.profile.resolve import load_profile_file

    rows: list[Row] = []
    previous: dict[str, tuple[int, float]] = {}
    for n in sizes:
        text, _ = synthetic_profile_text(n)
        valid = tmp / f"load-{n}.toml"
        valid.write_text(text)
        invalid = tmp / f"invalid-{n}.toml"
        invalid.write_text(_invalid(text))
        state = tmp / f"s-load-{n}"
        load_cached(valid, state, load_profile_file, min_size=0)  # writes the cache

        def report_invalid(path: Path = invalid) -> None:
            try:
                load_profile_file(path)
            except ProfileError:
                return
            raise RuntimeError("the invalid profile was accepted")

        def without_gc(fn: Callable[[], object]) -> Callable[[], object]:
            """As orcli's load_profile runs a load: the collector off until the profile is built."""

            def run() -> object:
                gc.disable()
                try:
                    return fn()
                finally:
                    gc.enable()

            return run

        from orcli.profile.cache import cache_file

        blob = cache_file(state, valid).read_bytes()
        cases = {
            "tomllib": without_gc(lambda text=text: tomllib.loads(text)),
            # What any cache of this size pays: unmarshalling the plain tuples, before any Profile is built.
            "unmarshal": without_gc(lambda blob=blob: marshal.loads(marshal.loads(blob)[2])),
            "parse": without_gc(lambda path=valid: load_profile_file(path)),
            "cached": without_gc(lambda path=valid, st=state: load_cached(path, st, load_profile_file, min_size=0)),
            "invalid": without_gc(report_invalid),
        }
        gc.collect()
        samples = _median_of(cases, repeats, warmup=1)
        m = {k: statistics.median(v) for k, v in samples.items()}
        rows.append(
            _scaling_rows("profile load, TOML + validation", n, m["parse"], "tomllib.loads", m["tomllib"], previous)
        )
        rows.append(
            _scaling_rows(
                "profile load, cached",
                n,
                m["cached"],
                "marshal.loads",
                m["unmarshal"],
                previous,
                f"; {m['parse'] / m['cached']:.0f}x faster than TOML + validation",
            )
        )
        rows.append(
            _scaling_rows(
                "profile load, invalid (1 error/endpoint)", n, m["invalid"], "tomllib.loads", m["tomllib"], previous
            )
        )
        print(f"  profiles: {n:,} endpoints measured", file=sys.stderr)
    return rows


def providers_figures(sizes: Sequence[int], repeats: int) -> list[Row]:
    """`orcli providers` at scale, in process: the JSON document and the plain table from a loaded profile,
    against the least any listing does: one dict per endpoint, built in the same run."""
    from orcli.profile.parse import parse_profile
    from orcli.types import HealthSnapshot
    from orcli.ui import render
    from orcli.ui.tables import plain

    rows: list[Row] = []
    previous: dict[str, tuple[int, float]] = {}
    for n in sizes:
        text, _ = synthetic_profile_text(n)
        profile = parse_profile(text, f"<synthetic {n}>")
        gc.collect()
        gc.freeze()  # as orcli's load_profile does: the profile lives for the whole process
        env = {f"P{p}_KEY": "k" for p in range(0, len(profile.providers), 2)}

        def once(profile=profile, env=env) -> None:
            plain(render.providers_table(render.providers_json(profile, env, HealthSnapshot()), profile.name))

        def baseline(profile=profile) -> None:
            [{"model": e.model, "provider": e.provider, "parameters": sorted(e.parameters)} for e in profile.endpoints]

        samples = _median_of({"providers": once, "baseline": baseline}, repeats, warmup=1)
        t, ref = statistics.median(samples["providers"]), statistics.median(samples["baseline"])
        rows.append(_scaling_rows("providers (JSON + table)", n, t, "a dict per endpoint", ref, previous))
    return rows


# ------------------------------------------------------------------------------------------------ peers

PEERS_REFERENCE = (
    "reference figures measured 2026-11-24 against a ~146 ms floor on this project's machine, not re-run "
    "(not installed here): llm --version ~704 ms (4.8x), sgpt --version ~1,520 ms (10.4x), "
    "python -c 'import litellm' ~3,234 ms (22x)"
)


def peer_figures(rounds: int, tmp: Path) -> tuple[list[Row], str]:
    """Start-up of peers that are installed, against the same floor in the same run; the dated reference
    figures for those that are not."""
    import importlib.util
    import shutil

    peers: dict[str, list[str]] = {}
    for tool in ("llm", "sgpt"):
        found = shutil.which(tool) or (
            str(Path(sys.executable).parent / tool) if (Path(sys.executable).parent / tool).is_file() else None
        )
        if found:
            peers[f"{tool} --version"] = [found, "--version"]
    if importlib.util.find_spec("litellm") is not None:
        peers["python -c 'import litellm'"] = [sys.executable, "-c", "import litellm"]
    if not peers:
        return [], PEERS_REFERENCE
    env = _clean_env(tmp)
    procs = {"floor": Proc("floor", [sys.executable, "-c", FLOOR_CODE], env)}
    procs.update({label: Proc(label, argv, env) for label, argv in peers.items()})
    for p in procs.values():
        p.run(record=False)
    for r in range(rounds):
        order = list(procs.values())
        if r % 2:
            order.reverse()
        for p in order:
            p.run()
    floor = procs["floor"].median
    rows = [
        Row(
            f"peer: {label}",
            _ms(procs[label].median),
            f"floor {_ms(floor)}",
            f"{procs[label].median / floor:.1f}x",
            "-",
            None,
            {"median_s": procs[label].median, "reference_median_s": floor},
        )
        for label in peers
    ]
    missing = [t for t in ("llm --version", "sgpt --version", "python -c 'import litellm'") if t not in peers]
    note = "peers re-measured in this run" + (f"; not installed: {', '.join(missing)}" if missing else "")
    return rows, note


# --------------------------------------------------------------------------------------------- store


def store_figures(per_writer: int, single_n: int) -> list[Row]:
    import store_bench

    with contextlib.redirect_stdout(io.StringIO()):
        single = store_bench.bench_single(single_n)
        writers = 8
        conc, rows_counted = store_bench.bench_concurrent(writers, per_writer)
    expected = writers * per_writer
    return [
        Row(
            "store write, 1 process",
            f"{single:.3f} ms/write",
            "-",
            f"{single_n:,} writes",
            "< 2 ms",
            single < 2.0,
            {"mean_ms": single, "writes": single_n},
        ),
        Row(
            f"store write, {writers} writer processes",
            f"{conc:.3f} ms/write",
            "-",
            f"rows {rows_counted:,}/{expected:,}",
            "< 2 ms; no lost rows",
            conc < 2.0 and rows_counted == expected,
            {"mean_ms": conc, "rows": rows_counted, "expected_rows": expected, "writers": writers},
        ),
    ]


def usage_figures(attempts: int, writes: int) -> list[Row]:
    """`orcli usage` over a store of `attempts` recorded attempts (whole process), and what recording usage adds
    to an attempt's write (docs/usage.md)."""
    import usage_bench

    report = usage_bench.bench_report(attempts, runs=3)
    before, after = usage_bench.bench_record(writes)
    hold = usage_bench.bench_hold(writes)
    rows = [
        Row(
            f"orcli usage --by {by}, {attempts:,} attempts",
            _ms(seconds),
            "-",
            "whole process, --since 30d",
            "< 1 s",
            seconds < 1.0,
            {"seconds": seconds, "attempts": attempts},
        )
        for by, seconds in report.items()
    ]
    rows.append(
        Row(
            "attempt write with usage",
            f"{after:.3f} ms/write",
            f"{before:.3f} ms outcome only",
            f"{after - before:+.3f} ms",
            "< 0.5 ms more",
            after - before < 0.5,
            {"with_usage_ms": after, "outcome_only_ms": before, "writes": writes},
        )
    )
    rows.append(
        Row(
            "budget: spend read + hold + release",
            f"{hold:.3f} ms/request",
            "-",
            "SQLite, per request with a [budget]",
            "< 1 ms",
            hold < 1.0,
            {"mean_ms": hold, "requests": writes},
        )
    )
    return rows


def dialect_figures(n: int) -> list[Row]:
    """The executor through each native dialect against its fake, as a ratio to the OpenAI dialect (docs/dialects.md)."""
    import dialect_bench

    rows = []
    for r in dialect_bench.bench(n):
        if r["dialect"] == "openai":
            continue
        worst = max(r["streamed_cpu_ratio"], r["whole_cpu_ratio"])
        rows.append(
            Row(
                f"executor, {r['dialect']} dialect (client CPU)",
                f"{_ms(r['streamed_cpu_s'])} streamed, {_ms(r['whole_cpu_s'])} whole",
                "the openai dialect, same answer",
                f"{r['streamed_cpu_ratio']:.2f}x streamed, {r['whole_cpu_ratio']:.2f}x whole "
                f"(wall {r['streamed_ratio']:.2f}x, {r['whole_ratio']:.2f}x; the stream's bytes alone "
                f"{r['wire_cpu_ratio']:.2f}x)",
                f"<= {dialect_bench.TARGET}x",
                worst <= dialect_bench.TARGET,
                dict(r),
            )
        )
    return rows


def serve_figures(rounds: int) -> list[Row]:
    """`orcli serve` in front of the loopback upstream vs calling it directly (benchmarks/serve_bench.py)."""
    import serve_bench

    rows = []
    for r in serve_bench.bench(rounds):
        if "added_ms" in r:
            judged = (
                "50 ms" in r["figure"]
            )  # the instant answer shows the absolute cost; its ratio only says loopback is fast
            rows.append(
                Row(
                    r["figure"],
                    f"{r['gateway_ms']:.2f} ms (+{r['added_ms']:.2f} ms)",
                    f"direct {r['direct_ms']:.2f} ms",
                    f"{r['ratio']:.2f}x",
                    f"<= {serve_bench.TARGET_RATIO}x" if judged else "-",
                    r["ratio"] <= serve_bench.TARGET_RATIO if judged else None,
                    dict(r),
                )
            )
        else:
            rows.append(
                Row(
                    r["figure"],
                    f"{r['gateway_s']:.2f} s",
                    f"direct {r['direct_s']:.2f} s",
                    f"{r['ratio']:.2f}x ({r['gateway_streams_per_s']:.0f} streams/s)",
                    "-",
                    None,
                    dict(r),
                )
            )
    return rows


REDIS_PROCESS_BUDGET_S = 0.025  # what shared health may add to a whole command over SQLite (issue 25)


def _redis_process_rows(f: dict[str, float], command: str) -> list[Row]:
    """A whole command with the shared store vs SQLite: wall time (judged) and CPU time (steadier under load)."""
    label = {"explain": "explain-route", "ask": "ask (loopback)"}[command]
    return [
        Row(
            f"{label} process, ORCLI_HEALTH_URL set",
            _ms(f[f"{command}_redis_s"]),
            f"SQLite {_ms(f[f'{command}_local_s'])}",
            f"{f[f'{command}_delta_s'] * 1000:+.1f} ms paired median",
            f"<= +{REDIS_PROCESS_BUDGET_S * 1000:.0f} ms",
            f[f"{command}_delta_s"] <= REDIS_PROCESS_BUDGET_S,
            {k: v for k, v in f.items() if k.startswith(command + "_")},
        ),
        Row(
            "  the same, CPU time (user + system)",
            _ms(f[f"{command}_cpu_local_s"] + f[f"{command}_cpu_delta_s"]),
            f"SQLite {_ms(f[f'{command}_cpu_local_s'])}",
            f"{f[f'{command}_cpu_delta_s'] * 1000:+.1f} ms paired median",
            "- (steadier than wall time on a loaded machine)",
            None,
        ),
    ]


def redis_figures(n: int, rounds: int) -> list[Row]:
    """Shared health on Redis vs the local SQLite store, on loopback (benchmarks/redis_bench.py)."""
    import redis_bench

    f = redis_bench.bench(n, rounds)
    shape = f"{len(redis_bench.ENDPOINTS)} endpoints x {redis_bench.PER_ENDPOINT} outcomes"
    return [
        Row(
            f"plan-time read, Redis ({shape})",
            _ms(f["read_redis_s"]),
            f"SQLite {_ms(f['read_sqlite_s'])}",
            f"{f['read_ratio']:.2f}x",
            "< 3x SQLite",
            f["read_ratio"] < 3.0,
            f,
        ),
        Row(
            "  the same read vs one PING (the rest is decoding)",
            _ms(f["read_redis_s"]),
            f"PING {f['ping_s'] * 1000:.3f} ms",
            f"{f['read_in_pings']:.1f}x",
            "1 round trip: tests/test_redis_store.py",
            None,
        ),
        Row(
            "record-time write, Redis",
            f"{f['write_redis_s'] * 1000:.3f} ms",
            f"SQLite {f['write_sqlite_s'] * 1000:.3f} ms",
            f"{f['write_ratio']:.2f}x",
            "< 5x SQLite",
            f["write_ratio"] < 5.0,
        ),
        *(row for command in ("explain", "ask") for row in _redis_process_rows(f, command)),
    ]


def import_figures(rounds: int) -> list[Row]:
    """`profiles import models.dev` on a 5,000-offering catalogue and `profiles check --online` over 20 fake
    providers, each against a reference in the same run (benchmarks/profiles_bench.py)."""
    import profiles_bench

    rows = []
    for r in profiles_bench.bench(rounds):
        rows.append(
            Row(
                r["figure"],
                _ms(r["orcli_s"]),
                f"{r['reference']} {_ms(r['reference_s'])}",
                f"{r['ratio']:.2f}x",
                "-",
                None,
                dict(r),
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------- main

ALL = (
    "version",
    "explain",
    "explain_big",
    "ask",
    "failover",
    "executor",
    "planner",
    "profiles",
    "providers",
    "store",
    "usage",
    "redis",
    "dialects",
    "serve",
    "imports",
    "peers",
    "balance",
    "hedge",
)


def hedge_figures(n: int) -> list[Row]:
    """p50/p99 time to first token with one of four providers stalling 10% of the time, hedged or not."""
    import hedge_bench

    rows = []
    for r in hedge_bench.bench(n):
        hedged = r["mode"] == "hedge 80 ms"
        rows.append(
            Row(
                f"first token p99, {r['mode']}",
                _ms(r["p99_s"]),
                f"p50 {_ms(r['p50_s'])}",
                f"p99/p50 x{r['p99_over_p50']:.2f}",
                f"<= {hedge_bench.TARGET}x" if hedged else "-",
                r["p99_over_p50"] <= hedge_bench.TARGET if hedged else None,
                r,
            )
        )
    return rows


def balance_figures(repeats: int) -> list[Row]:
    """`balance = "effective"` against inverse-square: one model on n providers, all in the draw."""
    import balance_bench

    rows = []
    for r in balance_bench.bench((1_000, 10_000), repeats):
        n = r["endpoints"]
        rows.append(
            Row(
                f"plan, effective balance, {n:,} endpoints",
                _ms(r["effective_s"]),
                _ms(r["inverse_square_s"]),
                f"x{r['ratio']:.2f} inverse-square",
                f"<= {balance_bench.TARGET}x",
                r["ratio"] <= balance_bench.TARGET,
                r,
            )
        )
    return rows


def render(rows: list[Row]) -> str:
    header = ("figure", "measured", "reference", "ratio / result", "target", "pass")
    table = [header] + [(r.figure, r.measured, r.reference, r.result, r.target, _status(r.passed)) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    out = []
    for i, line in enumerate(table):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run; noisier)")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="with --quick: every figure once at its smallest size (the test suite's check)",
    )
    ap.add_argument("--rounds", type=int, help="process rounds (default 20, --quick 5)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    ap.add_argument("--only", nargs="+", choices=ALL, help="run only these figures")
    args = ap.parse_args(argv)
    wanted = set(args.only or ALL)
    rounds = args.rounds or (1 if args.smoke else 5 if args.quick else 20)
    inproc_n = 5 if args.smoke else 50 if args.quick else 300
    sizes = (1_000,) if args.smoke else (1_000, 10_000, 100_000)
    small = args.quick or args.smoke
    started = time.time()
    rows: list[Row] = []
    how = "-"
    with tempfile.TemporaryDirectory(prefix="orcli-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if wanted & {"version", "explain", "explain_big", "ask", "failover"}:
            process_rows, how = process_figures(rounds, tmp, wanted)
            rows += process_rows
        if wanted & {"executor", "failover"}:
            rows += executor_figures(inproc_n, tmp, wanted)
        if "planner" in wanted:
            rows += planner_figures(sizes, 1 if args.smoke else 3 if small else 7)
        if "profiles" in wanted:
            rows += profile_figures(sizes, 1 if small else 3, tmp)
        if "providers" in wanted:
            rows += providers_figures(sizes, 1 if small else 3)
        if "store" in wanted:
            rows += store_figures(
                10 if args.smoke else 50 if small else 200, 50 if args.smoke else 500 if small else 2000
            )
        if "usage" in wanted:
            rows += usage_figures(
                10_000 if args.smoke else 100_000 if small else 1_000_000, 100 if args.smoke else 500 if small else 2000
            )
        if "redis" in wanted:
            rows += redis_figures(10 if args.smoke else 50 if small else 300, 1 if args.smoke else 3 if small else 15)
        if "dialects" in wanted:
            rows += dialect_figures(5 if args.smoke else 20 if small else 100)
        if "serve" in wanted:
            rows += serve_figures(3 if args.smoke else 20 if small else 60)
        if "imports" in wanted:
            rows += import_figures(2 if args.smoke else 4 if small else 10)
        if "hedge" in wanted:
            rows += hedge_figures(40 if args.quick else 100)
        if "balance" in wanted:
            rows += balance_figures(5 if args.quick else 15)
        peers_note = PEERS_REFERENCE
        if "peers" in wanted:
            peer_rows, peers_note = peer_figures(rounds, tmp)
            rows += peer_rows
    print(render(rows))
    print(f"\nprocess figures: {how}; median of {rounds} interleaved rounds. Peers: {peers_note}.")
    missed = [r.figure for r in rows if r.passed is False]
    if missed:
        print(f"missed: {', '.join(missed)}")
    if args.json:
        doc = {
            "started": started,
            "seconds": round(time.time() - started, 1),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "orcli_command": how,
            "rounds": rounds,
            "in_process_n": inproc_n,
            "rows": [{**asdict(r), "status": _status(r.passed)} for r in rows],
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
