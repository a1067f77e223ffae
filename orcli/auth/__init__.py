"""Credentials: how a request proves who sends it (docs/security.md, docs/dialects.md).

A dialect declares the scheme (`wire.base.Auth`, and `Registration.keyless_auth` for providers without a
key); this package carries it out. Two questions, asked at two times:
- planning (`credential_problem`): are there credentials at all? Answered from the environment and local
  files only, never the network, so `explain-route` stays offline; a problem becomes `no_credentials`.
- sending (`credentials_for(...).authorize`): the request with its credentials, which may mean signing the
  whole request with a clock (AWS SigV4) or fetching an access token within the attempt's deadline (Google
  OAuth2). A failure there is `CredentialError`, a provider-class failure of that attempt.
Each scheme lives in its own module, imported only when a provider of that scheme is planned or called.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from orcli.wire import DIALECTS

if TYPE_CHECKING:
    import httpx

    from orcli.types import Provider
    from orcli.wire.base import HttpRequest

# scheme -> module with `problem(provider, env)` and `credentials(provider, env)`.
SCHEMES = {
    "header": "orcli.auth.keys",
    "aws-sigv4": "orcli.auth.aws",
    "google-oauth": "orcli.auth.google",
}


class CredentialError(Exception):
    """Credentials could not be had or applied; the message says what was tried and never holds a secret."""


class Credentials(Protocol):
    """What an attempt holds to authorise its request."""

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value in play (keys, tokens): redacted from whatever an attempt reports."""
        ...

    def authorize(self, request: HttpRequest, deadline: float, client: httpx.Client) -> HttpRequest:
        """`request` with its credentials; may use `client` for a token before `deadline` (monotonic)."""
        ...


def scheme_of(provider: Provider) -> str | None:
    """The scheme this provider uses: its key when it names one, else its dialect's keyless scheme."""
    if provider.api_key_env:
        return "header"
    return DIALECTS[provider.api].keyless_auth


_LOADED: dict[str, _Scheme] = {}  # module -> the module, once its import has finished (asked every attempt)


def _module(scheme: str) -> _Scheme:
    name = SCHEMES[scheme]
    module = _LOADED.get(name)
    if module is None:
        module = _LOADED[name] = importlib.import_module(name)
    return module


def credential_problem(provider: Provider, env: Mapping[str, str]) -> str | None:
    """Why `provider` has no usable credentials (the no_credentials detail), or None. Network-free. A scheme
    whose library is not installed answers with a `MissingExtra` (the missing_extra code, orcli/types.py)."""
    scheme = scheme_of(provider)
    return None if scheme is None else _module(scheme).problem(provider, env)


# How `providers` and `profiles show` name a keyless scheme's credentials.
SCHEME_LABELS = {"aws-sigv4": "AWS credentials", "google-oauth": "Google ADC"}


def problems_in(env: Mapping[str, str]) -> Callable[[Provider], str | None]:
    """`credential_problem` over `env`, asked once per provider (planning many endpoints of one provider)."""
    seen: dict[str, str | None] = {}

    def problem(provider: Provider) -> str | None:
        if provider.name not in seen:
            seen[provider.name] = credential_problem(provider, env)
        return seen[provider.name]

    return problem


def credentials_for(provider: Provider, env: Mapping[str, str]) -> Credentials:
    """The credentials an attempt on `provider` signs with; raises CredentialError (never a secret in it)."""
    scheme = scheme_of(provider)
    if scheme is None:
        from orcli.auth.keys import NoCredentials

        return NoCredentials()
    return _module(scheme).credentials(provider, env)


def local_cloud_settings(table: Mapping[str, object], env: Mapping[str, str]) -> dict[str, object] | bool | None:
    """For `profiles init`, about a profile's provider table without a key: None when its dialect signs with
    no cloud credentials; False when it does and none exist locally; else the settings found beside them
    (an AWS region, a Google Cloud project) to write into the table. Network-free, like planning."""
    api = table.get("api", "openai")
    registration = DIALECTS.get(api) if isinstance(api, str) else None
    scheme = registration.keyless_auth if registration is not None else None
    if scheme is None:
        return None
    found: dict[str, object] | bool = _module(scheme).local_settings(env)
    return found


class _Scheme(Protocol):
    def problem(self, provider: Provider, env: Mapping[str, str]) -> str | None: ...

    def credentials(self, provider: Provider, env: Mapping[str, str]) -> Credentials: ...

    def local_settings(self, env: Mapping[str, str]) -> dict[str, object] | bool: ...
