"""Wire protocols spoken to providers: the registry that picks a provider's dialect from its `api`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orcli.wire.base import Dialect

# api value (SPEC §10) -> module exposing `DIALECT`; imported only when a provider of that api is called.
DIALECT_MODULES = {
    "openai": "orcli.wire.openai",
    "anthropic": "orcli.wire.anthropic",
    "gemini": "orcli.wire.gemini",
    "azure": "orcli.wire.azure",
}


def dialect_for(api: str) -> Dialect:
    """The dialect that speaks `api`; KeyError for an api orcli does not know (profiles are validated first)."""
    return importlib.import_module(DIALECT_MODULES[api]).DIALECT  # type: ignore[no-any-return]
