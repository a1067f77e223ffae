"""The "header" scheme: a key from the environment variable `api_key_env`, in the header the dialect names
(Authorization: Bearer, x-api-key, api-key, x-goog-api-key). Nothing to fetch, nothing to sign."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from orcli.auth import CredentialError
from orcli.routing.policy import key_problem
from orcli.wire import dialect_for
from orcli.wire.base import with_key

if TYPE_CHECKING:
    import httpx

    from orcli.types import Provider
    from orcli.wire.base import HttpRequest


def problem(provider: Provider, env: Mapping[str, str]) -> str | None:
    return key_problem(provider, env)


class HeaderKey:
    """A static key, placed by the dialect's `Auth` (header and prefix)."""

    def __init__(self, provider: Provider, key: str) -> None:
        self.provider = provider
        self.key = key

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.key,)

    def authorize(self, request: HttpRequest, deadline: float, client: httpx.Client) -> HttpRequest:
        return with_key(request, dialect_for(self.provider.api).auth(self.provider), self.key)


class NoCredentials:
    """A provider that needs none (a local server without a key)."""

    secrets: tuple[str, ...] = ()

    def authorize(self, request: HttpRequest, deadline: float, client: httpx.Client) -> HttpRequest:
        return request


def credentials(provider: Provider, env: Mapping[str, str]) -> HeaderKey | NoCredentials:
    key = env.get(provider.api_key_env or "", "").strip()
    if key and key_problem(provider, env) is not None:
        # The planner rejects such a provider (no_credentials); a plan built without that check must still
        # not hand an unusable key to the HTTP client, whose error would quote it (docs/security.md).
        raise CredentialError(f"${provider.api_key_env} cannot be sent in an HTTP header")
    return HeaderKey(provider, key) if key else NoCredentials()
