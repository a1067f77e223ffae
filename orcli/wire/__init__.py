"""Wire protocols spoken to providers: the registry of dialects, each with the profile keys it adds.

A dialect registers here with its module (imported only when a provider of that api is called, or needs a
default base URL) and the provider keys it declares; profile validation reads the keys from this table, so
adding a dialect needs no change to the profile code (ARCHITECTURE.md, "Where to add things").
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from orcli.wire.base import ProviderKey

if TYPE_CHECKING:
    from orcli.wire.base import Dialect


class Registration(NamedTuple):
    module: str  # exposes `DIALECT`
    keys: tuple[ProviderKey, ...] = ()  # profile keys of this dialect, beyond the common ones
    # How a provider without `api_key_env` is authorised: None = not at all (a local server), or an
    # `orcli/auth` scheme ("aws-sigv4", "google-oauth") whose credentials come from the cloud's own chain.
    # Declared here so planning can tell whether credentials exist without importing the dialect.
    keyless_auth: str | None = None


# api value (docs/dialects.md) -> its registration.
DIALECTS: Mapping[str, Registration] = {
    "openai": Registration("orcli.wire.openai"),
    "anthropic": Registration(
        "orcli.wire.anthropic",
        (ProviderKey("anthropic_version", help="the anthropic-version header (default 2023-06-01)"),),
    ),
    "gemini": Registration("orcli.wire.gemini"),
    "azure": Registration(
        "orcli.wire.azure", (ProviderKey("api_version", help="the api-version query value (default 2024-10-21)"),)
    ),
}
DIALECT_MODULES = {api: r.module for api, r in DIALECTS.items()}


def dialect_for(api: str) -> Dialect:
    """The dialect that speaks `api`; KeyError for an api orcli does not know (profiles are validated first)."""
    return importlib.import_module(DIALECTS[api].module).DIALECT  # type: ignore[no-any-return]
