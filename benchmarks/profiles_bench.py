"""Profile import and online check benchmark (docs/profiles.md): each figure against a reference in the same run.

    python benchmarks/profiles_bench.py [--rounds N] [--json PATH]

- Importing from a generated models.dev catalogue of ~5,000 offerings (50 providers x 100 models, the size of
  the real one): parsing it and joining one model across every provider, against `json.loads` of the same
  text; and the whole `orcli profiles import models.dev --dry-run` process against a Python process that only
  `json.load`s the file.
- `profiles check --online` over 20 loopback fake providers (tests/fake_model_lists.py, in a process of its own
  so its threads do not share the measured GIL), each answering its list after 50 ms, as a provider across
  the internet would: orcli's concurrent listing against 20
  sequential GETs of the same lists; and the whole `check --online` process against that same loop.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "tests"), str(HERE), str(ROOT)]

from timing import interleaved  # noqa: E402

PROVIDERS, MODELS_EACH, LIST_DELAY = 50, 100, 0.05
ONLINE_PROVIDERS = 20


def catalogue(providers: int = PROVIDERS, models: int = MODELS_EACH) -> dict:
    """A real-shaped catalogue: every provider serves model-0..N-1 of a few vendors under its own spelling."""
    doc = {}
    for p in range(providers):
        spell = ("{v}/Model-{i}-Instruct-Turbo", "{v}/model-{i}", "accounts/p{p}/models/model-{i}-instruct")[p % 3]
        entries = {}
        for i in range(models):
            native = spell.format(v=f"Vendor{i % 7}", i=i, p=p)
            entries[native] = {
                "id": native,
                "name": f"Model {i}",
                "family": "model",
                "attachment": False,
                "reasoning": i % 5 == 0,
                "temperature": True,
                "tool_call": True,
                "structured_output": i % 2 == 0,
                "release_date": "2026-01-01",
                "last_updated": "2026-01-01",
                "modalities": {"input": ["text"], "output": ["text"]},
                "open_weights": True,
                "cost": {"input": 0.1 + p / 100, "output": 0.3 + i / 1000, "cache_read": 0.01},
                "limit": {"context": 131072, "output": 8192},
            }
        doc[f"prov{p}"] = {
            "id": f"prov{p}",
            "name": f"Provider {p}",
            "env": [f"PROV{p}_API_KEY"],
            "npm": "@ai-sdk/openai-compatible",
            "api": f"https://api.prov{p}.example/v1",
            "doc": "https://example.com",
            "models": entries,
        }
    return doc


def import_figures(rounds: int, tmp: Path) -> list[dict]:
    from orcli.profile import models_dev

    text = json.dumps(catalogue())
    path = tmp / "api.json"
    path.write_text(text)
    offerings = sum(len(p["models"]) for p in json.loads(text).values())

    def parse_and_join() -> None:
        parsed = models_dev.parse(text, "api.json")
        found = models_dev.to_profile(parsed, ["vendor3/model-10"], [], ("openai",), {})
        assert len(found.endpoints) == PROVIDERS, len(found.endpoints)

    samples = interleaved({"orcli": parse_and_join, "json": lambda: json.loads(text)}, rounds, warmup=2)
    rows = [_row(f"import models.dev: parse + join one model ({offerings:,} offerings)", samples, "json.loads")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_")}
    env.update(ORCLI_STATE_DIR=str(tmp / "state"), XDG_CONFIG_HOME=str(tmp / "config"), PYTHONPATH=str(ROOT))
    orcli = [
        sys.executable,
        "-m",
        "orcli",
        "profiles",
        "import",
        "models.dev",
        "--from",
        str(path),
        "-m",
        "vendor3/model-10",
        "--into",
        str(tmp / "bench.toml"),
        "--dry-run",
        "-q",
    ]
    reference = [sys.executable, "-c", f"import json; json.load(open({str(path)!r}))"]
    processes = interleaved(
        {
            "orcli": lambda: subprocess.run(orcli, env=env, check=True, capture_output=True),
            "json": lambda: subprocess.run(reference, env=env, check=True, capture_output=True),
        },
        max(3, rounds),
        warmup=1,
    )
    rows.append(_row("  the whole `profiles import models.dev --dry-run` process", processes, "python -c json.load"))
    return rows


def online_figures(rounds: int, tmp: Path) -> list[dict]:
    import httpx

    from orcli.profile.model_lists import Target, list_all

    names = [f"p{i}" for i in range(ONLINE_PROVIDERS)]
    shapes = {n: ("openai", "together", "anthropic", "gemini")[i % 4] for i, n in enumerate(names)}
    spec = {
        n: {"shape": shapes[n], "ids": [f"model-{j}" for j in range(200)], "delay": LIST_DELAY, "page": 100}
        for n in names
    }
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_model_lists.py"), json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        apis = {"openai": "openai", "together": "openai", "anthropic": "anthropic", "gemini": "gemini"}
        version = {"gemini": "v1beta"}
        base = {n: f"http://127.0.0.1:{port}/{n}/{version.get(shapes[n], 'v1')}" for n in names}
        targets = [Target(n, apis[shapes[n]], base[n], "bench-key") for n in names]

        def concurrent() -> None:
            got = list_all(targets)
            assert all(v.ids is not None and len(v.ids) == 200 for v in got.values()), got

        def sequential() -> None:  # the reference: one GET per provider, one after the other (first pages only)
            with httpx.Client() as client:
                for t in targets:
                    client.get(f"{t.base_url}/models", headers={"Authorization": "Bearer bench-key"}).raise_for_status()

        samples = interleaved({"orcli": concurrent, "json": sequential}, rounds, warmup=2)
        rows = [
            _row(
                f"check --online listing, {ONLINE_PROVIDERS} providers ({LIST_DELAY * 1000:.0f} ms each, "
                "half of them paged)",
                samples,
                f"{ONLINE_PROVIDERS} sequential GETs",
            )
        ]
        profile = tmp / "online.toml"
        profile.write_text(
            "".join(
                f'[providers.{t.name}]\nbase_url = "{t.base_url}"\napi = "{t.api}"\napi_key_env = "{t.name.upper()}_KEY"\n'
                f'[[endpoint]]\nmodel = "m/{t.name}"\nprovider = "{t.name}"\nupstream_model = "model-7"\n'
                f"price = {{ prompt = 1, completion = 1 }}\n"
                for t in targets
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_")}
        env.update(
            {f"{n.upper()}_KEY": "bench-key" for n in names},
            PYTHONPATH=str(ROOT),
            ORCLI_STATE_DIR=str(tmp / "state"),
            XDG_CONFIG_HOME=str(tmp / "config"),
        )
        check = [sys.executable, "-m", "orcli", "profiles", "check", str(profile), "--online", "-q"]
        processes = interleaved(
            {"orcli": lambda: subprocess.run(check, env=env, check=True, capture_output=True), "json": sequential},
            max(3, rounds),
            warmup=1,
        )
        rows.append(_row("  the whole `profiles check --online` process", processes, "the same sequential GETs"))
    finally:
        server.communicate(timeout=10)
    return rows


def _row(figure: str, samples: dict[str, list[float]], reference: str) -> dict:
    measured, ref = statistics.median(samples["orcli"]), statistics.median(samples["json"])
    return {"figure": figure, "orcli_s": measured, "reference": reference, "reference_s": ref, "ratio": measured / ref}


def bench(rounds: int) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="orcli-profiles-bench-") as tmp_name:
        tmp = Path(tmp_name)
        return import_figures(rounds, tmp) + online_figures(rounds, tmp)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    started = time.time()
    rows = bench(args.rounds)
    for r in rows:
        print(
            f"{r['figure']}: {r['orcli_s'] * 1000:,.1f} ms vs {r['reference']} {r['reference_s'] * 1000:,.1f} ms "
            f"= {r['ratio']:.2f}x"
        )
    print(f"({time.time() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
