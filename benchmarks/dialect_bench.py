"""The executor per wire dialect: one streamed and one whole completion through each native dialect, as a ratio
against the same answer through the OpenAI dialect, measured interleaved in the same run (docs/dialects.md: no dialect
may be slower than the OpenAI one beyond noise). Judged on the client's CPU time per request.

Run: python benchmarks/dialect_bench.py [rounds]   (200 by default: ~70 s)

The fakes (tests/fake_dialects.py, tests/fake_clouds.py) run in another process, so their threads do not share
the measured client's GIL; every dialect answers the same words in the same number of stream events. The cloud
dialects sign every request (Bedrock: SigV4 with botocore, the stream read by orcli's event-stream framer,
checked frame for frame against botocore's in tests/test_eventstream.py)
or carry an OAuth2 token (Vertex: fetched once, in the warm-up, then reused as in any process). The
`bedrock-key` row is Bedrock with a Bedrock API key instead of SigV4: the dialect without the signature.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from upstream import fake_keys, key_env, write_profile  # noqa: E402

DIALECTS = ("openai", "anthropic", "gemini", "azure", "bedrock", "bedrock-key", "vertex", "vertex-anthropic")
# Each row's dialect: the row's name, but for `bedrock-key`, Bedrock with a Bedrock API key instead of SigV4
# (what the dialect costs without the signature).
API = {"bedrock-key": "bedrock"}
CLOUD = {
    "bedrock": {"region": "us-east-1"},
    "bedrock-key": {"region": "us-east-1"},
    "vertex": {"project": "bench", "location": "us-central1"},
    "vertex-anthropic": {"project": "bench", "location": "us-east5"},
}
AWS = ("AKIDBENCH", "bench-secret-key", "bench-session-token")
BEDROCK_KEY = "bench-bedrock-api-key"
ANSWER = " ".join(f"word{i}" for i in range(200))  # 200 stream events of one word each
TARGET = 1.1  # the median of a dialect's per-round CPU time over OpenAI's

_SERVER = """
import sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from fake_clouds import CloudUpstream
from fake_dialects import ok
up = CloudUpstream().start()
up.split_frames = False
up.aws.add(*sys.argv[3:6])
up.aws.api_keys.add(sys.argv[6])
folder = tempfile.mkdtemp()
sa = up.google.service_account_file(Path(folder), up.token_uri, "bench")
for name in sys.argv[7:]:
    up.script(name, ok(sys.argv[2]))
print(up.url, sa, flush=True)
sys.stdin.read()
up.stop()
"""


class _Remote:
    """The dialect fakes in their own process; `base_url` as DialectUpstream gives it."""

    def __enter__(self) -> _Remote:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(ROOT / "tests"), ANSWER, *AWS, BEDROCK_KEY, *DIALECTS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url, _, self.service_account = self.proc.stdout.readline().strip().partition(" ")
        if not self.url.startswith("http://"):
            raise RuntimeError("the fake server process did not start")
        return self

    def base_url(self, provider: str, api: str = "openai") -> str:
        root = f"{self.url}/{provider}"
        roots = {"openai": "/v1", "anthropic": "/v1", "gemini": "/v1beta", "vertex": "/v1", "vertex-anthropic": "/v1"}
        return root + roots.get(api, "")

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def _interleaved(
    fns: dict[str, Callable[[], object]], n: int, warmup: int = 10
) -> dict[str, tuple[float, float, float]]:
    """Per function, run n times each, interleaved, the order rotating every round: (median wall seconds,
    median CPU seconds of this process, median over the rounds of its CPU time over OpenAI's in that round).

    CPU time counts only the client's own work (the fakes run in another process), so it is the steadier
    figure on a shared machine; wall time includes waiting for the server. The ratio is taken round by round:
    the two requests of a round ran a few milliseconds apart, on the same machine state, whereas the ratio of
    two medians compares different rounds (on 2026-12-07 signed Bedrock's per-round ratio stayed within
    1.05-1.08 over twelve runs; the ratio of medians read 1.07-1.23 for code that reads ~1.07 per round;
    docs/performance.md#per-dialect)."""
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
    base = cpu["openai"]
    return {
        name: (
            statistics.median(wall[name]),
            statistics.median(cpu[name]),
            statistics.median(mine / theirs for mine, theirs in zip(cpu[name], base, strict=True)),
        )
        for name in fns
    }


def bench(n: int = 200) -> list[dict[str, object]]:
    """Rows: dialect, streamed median, whole median, each as a ratio to OpenAI's."""
    from orcli.auth import credentials_for
    from orcli.execution.exchange import Exchange
    from orcli.execution.executor import Executor
    from orcli.execution.transport import make_client
    from orcli.profile.resolve import load_profile_file
    from orcli.types import HEALTHY, PlannedAttempt
    from orcli.wire import dialect_for
    from orcli.wire.base import ChatRequest

    request = ChatRequest(({"role": "user", "content": "hello"},))
    keyed = [name for name in DIALECTS if name not in CLOUD]
    keys = fake_keys(keyed)
    keys[key_env("bedrock-key")] = BEDROCK_KEY
    with _Remote() as remote, make_client() as client, tempfile.TemporaryDirectory() as tmp:
        keys.update(AWS_ACCESS_KEY_ID=AWS[0], AWS_SECRET_ACCESS_KEY=AWS[1], AWS_SESSION_TOKEN=AWS[2])
        keys.update(GOOGLE_APPLICATION_CREDENTIALS=remote.service_account, HOME=tmp)
        extra = {
            name: {
                "api": API.get(name, name),
                "base_url": remote.base_url(name, API.get(name, name)),
                **CLOUD.get(name, {}),
            }
            for name in DIALECTS
        }
        endpoints = [
            {"model": "bench/model", "provider": name, "upstream_model": "bench-model", "max_completion_tokens": 4096}
            for name in DIALECTS
        ]
        path = write_profile(
            Path(tmp) / "bench.toml",
            remote,
            list(DIALECTS),
            ["bench/model"],
            endpoints=endpoints,
            provider_extra=extra,  # type: ignore[arg-type]
            no_key=[name for name in CLOUD if name != "bedrock-key"],
        )
        profile = load_profile_file(path)
        executor = Executor(client, profile.providers, keys, profile.timeouts, reader=Exchange, sink=lambda d: None)
        attempt = {e.provider: PlannedAttempt(1, e, 0.0, HEALTHY, "bench") for e in profile.endpoints}

        def run(name: str, stream: bool) -> Callable[[], None]:
            def go() -> None:
                result = executor.run([attempt[name]], request, stream=stream)
                assert result.content == ANSWER, (name, result)

            return go

        def raw(name: str) -> Callable[[], None]:
            """Diagnostic: the same streamed answer's bytes read with plain httpx, nothing parsed (a request built
            and signed once, then sent again and again): what the wire alone costs, the floor of the ratio."""
            provider, endpoint = profile.providers[name], attempt[name].endpoint
            http = dialect_for(provider.api).build_request(provider, endpoint, request, True)
            http = credentials_for(provider, keys).authorize(http, time.monotonic() + 10, client)

            def go() -> None:
                with client.stream("POST", http.url, content=http.body, headers=dict(http.headers)) as response:
                    assert response.status_code == 200, (name, response.status_code)
                    for _ in response.iter_raw():
                        pass

            return go

        streamed = _interleaved({name: run(name, True) for name in DIALECTS}, n)
        whole = _interleaved({name: run(name, False) for name in DIALECTS}, n)
        wire = _interleaved({name: raw(name) for name in DIALECTS}, n)
    return [
        {
            "dialect": name,
            "streamed_s": streamed[name][0],
            "streamed_cpu_s": streamed[name][1],
            "streamed_ratio": streamed[name][0] / streamed["openai"][0],
            "streamed_cpu_ratio": streamed[name][2],
            "whole_s": whole[name][0],
            "whole_cpu_s": whole[name][1],
            "whole_ratio": whole[name][0] / whole["openai"][0],
            "whole_cpu_ratio": whole[name][2],
            "wire_cpu_s": wire[name][1],
            "wire_cpu_ratio": wire[name][2],
        }
        for name in DIALECTS
    ]


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    rows = bench(n)
    print(f"executor per dialect, {n} rounds, 200-event answer; CPU ratio to openai, per round (target: <= {TARGET}x)")
    print(
        f"{'dialect':<16} {'streamed wall':>14} {'cpu':>8} {'cpu ratio':>9} {'bytes alone':>11} "
        f"{'whole wall':>11} {'cpu':>8} {'cpu ratio':>9}"
    )
    for r in rows:
        print(
            f"{r['dialect']:<16} {r['streamed_s'] * 1000:>12.2f}ms {r['streamed_cpu_s'] * 1000:>6.2f}ms "  # type: ignore[operator]
            f"{r['streamed_cpu_ratio']:>8.2f}x {r['wire_cpu_ratio']:>10.2f}x "
            f"{r['whole_s'] * 1000:>9.2f}ms {r['whole_cpu_s'] * 1000:>6.2f}ms "  # type: ignore[operator]
            f"{r['whole_cpu_ratio']:>8.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
