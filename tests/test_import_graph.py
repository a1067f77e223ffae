"""Start-up guards that need no clock: what a command imports (benchmarks/run.py does the timing)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

# Runs the CLI in process, as the console script does, then writes the modules it loaded to a file
# (taken before `json` is imported here, so the list is the command's own).
_PROBE = """
import sys
argv, out_path = sys.argv[1:-1], sys.argv[-1]
sys.argv = ["orcli", *argv]
from orcli.__main__ import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
modules = sorted(sys.modules)
import json
with open(out_path, "w") as f:
    json.dump({"exit": code, "modules": modules}, f)
"""


def _example_keys() -> dict[str, str]:
    from orcli.profile.resolve import bundled_profiles_dir

    text = (bundled_profiles_dir() / "example.toml").read_text()
    return {name: "sk-test-not-a-key" for name in re.findall(r'^api_key_env\s*=\s*"(\w+)"', text, re.M)}


def _modules_after(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> tuple[int, set[str], str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_")}
    base.update(ORCLI_STATE_DIR=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv, str(out)],
        env={**base, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.exists(), done.stderr
    doc = json.loads(out.read_text())
    return doc["exit"], set(doc["modules"]), done.stdout


def _loaded(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


def test_explain_route_does_not_import_httpx(tmp_path: Path) -> None:
    code, modules, stdout = _modules_after(
        tmp_path, "explain-route", "--profile", "example", "--no-stdin", env=_example_keys()
    )
    assert code == 0 and "Attempt plan" in stdout, stdout
    assert "orcli.routing.planner" in modules  # the probe really ran the command
    assert not _loaded(modules, "httpx"), "explain-route needs no network: " + ", ".join(_loaded(modules, "httpx"))
    assert not _loaded(modules, "httpcore") and not _loaded(modules, "orcli.execution.executor")


def test_version_imports_neither_typer_nor_rich(tmp_path: Path) -> None:
    code, modules, stdout = _modules_after(tmp_path, "--version")
    assert code == 0 and stdout.startswith("orcli "), stdout
    heavy = _loaded(modules, "typer") + _loaded(modules, "rich") + _loaded(modules, "httpx")
    assert not heavy, "--version must answer before the CLI stack is imported: " + ", ".join(heavy)


def test_planning_a_bedrock_provider_imports_no_signing_library(tmp_path: Path) -> None:
    # The AWS scheme is asked whether credentials exist (network-free); signing, and the hashing behind it,
    # is imported by the first attempt only (docs/dialects.md "Cloud dialects").
    env = {**_example_keys(), "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-a-secret"}
    argv = ("explain-route", "--profile", "example", "-m", "anthropic/claude-sonnet-4.5", "--no-stdin", "--json")
    code, modules, stdout = _modules_after(tmp_path, *argv, env=env)
    assert code == 0 and '"amazon-bedrock"' in stdout, stdout
    assert "orcli.auth.aws" in modules  # the probe really asked the AWS scheme
    signing = _loaded(modules, "botocore") + _loaded(modules, "orcli.auth.sigv4") + _loaded(modules, "hashlib")
    assert not signing, "planning signs nothing: " + ", ".join(signing)
