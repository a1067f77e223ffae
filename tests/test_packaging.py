"""What `pip install .` puts in the wheel: every package of orcli, and its type hints (PEP 561)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_under_orcli_is_installed() -> None:
    """A package missing from the list imports from a checkout but not from an install (`orcli` then fails)."""
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "orcli").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    listed = set(SETUPTOOLS["packages"])
    assert on_disk <= listed, sorted(on_disk - listed)
    assert listed - on_disk <= set(SETUPTOOLS.get("package-dir", {})), sorted(listed - on_disk)  # mapped dirs


def test_the_type_hints_are_installed() -> None:
    assert (ROOT / "orcli" / "py.typed").is_file()
    assert "py.typed" in SETUPTOOLS["package-data"]["orcli"]
