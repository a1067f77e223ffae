"""Wire protocols spoken to providers: the registry of dialects, each with the profile keys it adds.

A dialect registers here with its module (imported only when a provider of that api is called, or needs a
default base URL) and the provider keys it declares; profile validation reads the keys from this table, so
adding a dialect needs no change to the profile code (ARCHITECTURE.md, "Where to add things").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
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
    # The default base URL from the provider's keys, when the dialect derives one: here, so that validating a
    # profile does not import the dialect's module (start-up); the dialect's own default_base_url uses it too.
    base_url: Callable[[Mapping[str, object]], str | None] | None = None
    # Why a provider of this dialect cannot use `api_key_env` (a profile error), when it cannot.
    no_key: str | None = None


def bedrock_base_url(settings: Mapping[str, object]) -> str | None:
    """Bedrock Runtime's endpoint in the provider's `region`."""
    region = settings.get("region")
    return f"https://bedrock-runtime.{region}.amazonaws.com" if isinstance(region, str) and region else None


def vertex_base_url(settings: Mapping[str, object]) -> str | None:
    """Vertex AI's endpoint for the provider's `location` (the global one for `global`)."""
    location = settings.get("location")
    if not isinstance(location, str) or not location:
        return None
    if location == "global":
        return "https://aiplatform.googleapis.com/v1"
    return f"https://{location}-aiplatform.googleapis.com/v1"


VERTEX_KEYS = (
    ProviderKey("project", required=True, help="the Google Cloud project id"),
    ProviderKey("location", required=True, help="the Vertex AI location, e.g. us-east5, us-central1 or global"),
)

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
    # Cloud dialects (docs/dialects.md "Cloud dialects"): the clouds' own credentials when no api_key_env is set.
    "bedrock": Registration(
        "orcli.wire.bedrock",
        (ProviderKey("region", required=True, help="the AWS region, e.g. us-east-1"),),
        keyless_auth="aws-sigv4",  # SigV4 needs botocore (orcli[aws]); a Bedrock API key needs no library
        base_url=bedrock_base_url,
    ),
    "vertex": Registration("orcli.wire.vertex", VERTEX_KEYS, keyless_auth="google-oauth", base_url=vertex_base_url),
    "vertex-anthropic": Registration(
        "orcli.wire.vertex_anthropic",
        (
            *VERTEX_KEYS,
            ProviderKey("anthropic_version", help="the body's anthropic_version (default vertex-2023-10-16)"),
        ),
        keyless_auth="google-oauth",
        base_url=vertex_base_url,
        no_key="Claude on Vertex AI takes Application Default Credentials only (express-mode keys serve Gemini)",
    ),
}
DIALECT_MODULES = {api: r.module for api, r in DIALECTS.items()}


# module -> its DIALECT, once imported: dialect_for runs twice per attempt, and import_module's own lookup
# costs a few microseconds each time. Filled only after an import has finished (import_module waits for
# one another thread has begun), so no caller ever sees a module half imported.
_LOADED: dict[str, Dialect] = {}


def dialect_for(api: str) -> Dialect:
    """The dialect that speaks `api`; KeyError for an api orcli does not know (profiles are validated first)."""
    module = DIALECTS[api].module
    dialect = _LOADED.get(module)
    if dialect is None:
        dialect = _LOADED[module] = importlib.import_module(module).DIALECT
    return dialect
