"""`mypy --strict` over the whole package: the typed API that py.typed promises (docs/development.md), and the
habit that keeps a bare `dict` or an untyped function from coming back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_whole_package_passes_mypy_strict() -> None:
    pytest.importorskip("mypy", reason="mypy is in the test extra (pyproject); this venv lacks it")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", "/dev/null"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout
