"""Where orcli keeps its state; separate from the store so that a look-up imports no sqlite."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

FILENAME = "health.sqlite3"


def default_state_dir(env: Mapping[str, str]) -> Path:
    """`ORCLI_STATE_DIR` if set and non-empty, else platformdirs' user state dir for orcli."""
    override = env.get("ORCLI_STATE_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs  # lazy: only when the store is actually used

    return Path(platformdirs.user_state_dir("orcli"))
