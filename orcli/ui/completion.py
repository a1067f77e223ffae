"""Shell completion values (issue 14): profile names, and the models and providers of the active profile.

Called by Typer's completion (`_ORCLI_COMPLETE=...`) with the Click context parsed so far; the active profile
is the `--profile` given on the line (before or after the command), else ORCLI_PROFILE, else the default.
Completion must never fail loudly: any problem gives no candidates.
"""

from __future__ import annotations

import os
from typing import Any


def profile_names(incomplete: str) -> list[str]:
    from orcli.profile.resolve import bundled_profiles_dir, user_profiles_dir

    names: set[str] = set()
    for directory in (user_profiles_dir(), bundled_profiles_dir()):
        if directory.is_dir():
            names.update(p.stem for p in directory.glob("*.toml"))
    return sorted(n for n in names if n.startswith(incomplete))


def _active_profile(ctx: Any) -> Any:
    from orcli.profile.resolve import load_profile

    spec = None
    while ctx is not None and spec is None:
        spec = (getattr(ctx, "params", None) or {}).get("profile")
        ctx = getattr(ctx, "parent", None)
    return load_profile(spec, os.environ)


def _with_list_prefix(incomplete: str, names: list[str]) -> list[str]:
    """List flags take `a,b`: complete the part after the last comma, keeping what comes before."""
    head, sep, tail = incomplete.rpartition(",")
    done = set(head.split(",")) if sep else set()
    return [f"{head}{sep}{n}" for n in names if n.startswith(tail) and n not in done]


def model_names(ctx: Any, incomplete: str) -> list[str]:
    try:
        profile = _active_profile(ctx)
    except Exception:  # noqa: BLE001 - a broken profile completes to nothing
        return []
    return _with_list_prefix(incomplete, sorted({e.model for e in profile.endpoints}))


def provider_names(ctx: Any, incomplete: str) -> list[str]:
    try:
        profile = _active_profile(ctx)
    except Exception:  # noqa: BLE001
        return []
    return _with_list_prefix(incomplete, sorted(profile.providers))


def preset_names(ctx: Any, incomplete: str) -> list[str]:
    try:
        profile = _active_profile(ctx)
    except Exception:  # noqa: BLE001
        return []
    return sorted(n for n in profile.presets if n.startswith(incomplete))
