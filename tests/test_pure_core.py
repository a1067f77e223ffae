"""The pure core imports nothing but the standard library and itself (read with `ast`, nothing is imported).

Pure: no I/O, no clock, no third-party code; given values in, values out, so it is tested with plain values and
typed strictly (pyproject [tool.mypy]). Every import counts, at any depth of a module (a lazy import is an import).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "orcli"

# The pure core, by path below orcli/: a folder ending in "/" is pure as a whole (every module in it, present
# and future); single files stand where a folder mixes pure rules with I/O.
PURE_PATHS = (
    "__init__.py",  # the package itself runs on every import of the others
    "types.py",
    "errors.py",
    "redact.py",
    "routing/",  # the planner and everything it decides with
    "execution/classify.py",  # the failure-class table (docs/failures.md): values in, values out
    "wire/__init__.py",  # the dialect registry: it names the dialect modules, and imports one only when asked
    "wire/base.py",
    "wire/text.py",
    "profile/parse.py",  # a profile's text -> Profile; profile/resolve.py finds and reads the files
    "profile/fields.py",  # the declaration of every profile key
    "profile/readers.py",  # one reader per kind of value
    "profile/values.py",
    "profile/lines.py",
    "store_url.py",  # a shared store's URL, checked when a profile names one
    "gateway/body.py",  # request bodies: JSON that cannot hurt the process, typed fields
    "gateway/guard.py",  # browser safety: which Host, Origin and Content-Type a request may carry
)


def _pure_modules() -> tuple[str, ...]:
    found: list[str] = []
    for pattern in PURE_PATHS:
        paths = sorted((PACKAGE / pattern).rglob("*.py")) if pattern.endswith("/") else [PACKAGE / pattern]
        for path in paths:
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return tuple(found)


PURE = _pure_modules()

# The standard library modules the pure core may use: computation only. A new one is a decision made here
# (no os, io, socket, sqlite3, subprocess, threading, time: those are the impure edges' business).
STDLIB = frozenset(
    {
        "__future__",
        "collections",
        "dataclasses",
        "difflib",
        "email",  # email.utils parses Retry-After's HTTP-date
        "enum",
        "functools",
        "gc",  # the planner pauses the cyclic collector while it builds a plan (nothing to free; see plan())
        "http",  # HTTPStatus
        "importlib",  # the wire registry's lazy dialect import
        "ipaddress",
        "itertools",
        "json",
        "math",
        "operator",
        "random",  # seeded Random objects are passed in; nothing draws from the global one
        "re",
        "tomllib",  # parses text handed in; the files are read by profile/resolve.py
        "types",
        "typing",
        "unicodedata",
        "urllib",  # urllib.parse only (checked below)
    }
)


def _path(module: str) -> Path:
    base = PACKAGE.parent.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _imports(module: str, tree: ast.AST) -> list[str]:
    """Every module an import statement anywhere in `tree` names (`from a import b` names a, and a.b when that
    is a module: always outside orcli, where it cannot be told from a name without importing it)."""
    found = []
    package = module if _path(module).name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.append(base)
            subs = [f"{base}.{alias.name}" for alias in node.names]
            found += [s for s in subs if not s.startswith("orcli") or _path(s).exists()]
    return found


def test_the_allowed_standard_library_is_the_standard_library() -> None:
    assert sys.stdlib_module_names >= STDLIB, sorted(STDLIB - sys.stdlib_module_names)


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_imports_only_the_standard_library_and_the_pure_core(module: str) -> None:
    path = _path(module)
    if not path.exists():
        pytest.skip(f"{module} does not exist yet ({path.relative_to(PACKAGE.parent)})")
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    wrong = []
    for name in _imports(module, tree):
        top = name.partition(".")[0]
        if top == "orcli":
            allowed = name in PURE
        else:
            allowed = top in STDLIB and (top != "urllib" or name.split(".")[:2] in (["urllib"], ["urllib", "parse"]))
        if not allowed:
            wrong.append(name)
    assert not wrong, f"{module} imports {wrong}: neither the allowed standard library nor the pure core"
