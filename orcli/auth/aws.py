"""AWS credentials for Bedrock: the standard credential chain and SigV4 signing, by botocore (the optional
`orcli[aws]` extra, imported only when a Bedrock provider is attempted). docs/dialects.md "Cloud dialects".

Planning must not touch the network, so `problem` only looks for credentials that exist locally:
the environment (`AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`, a web-identity token file, a container
credentials URI) or the named profile (`AWS_PROFILE`, else `default`) in the shared credentials or config
file with something botocore can turn into credentials (static keys, a role, SSO, a credential process).
Instance metadata is never probed while planning. The attempt then resolves the chain with botocore exactly
as the AWS CLI would (assume-role and SSO calls happen there, inside the attempt), signs the whole request
(service `bedrock`, the provider's region) and adds the session token: botocore's SigV4, its canonical form
kept per request shape (orcli/auth/sigv4.py).
"""

from __future__ import annotations

import configparser
import functools
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orcli.auth import CredentialError
from orcli.types import MissingExtra, Provider
from orcli.wire.base import HttpRequest

if TYPE_CHECKING:
    from orcli.auth.sigv4 import Signer

EXTRA_HINT = "pip install 'orcli[aws]' (botocore)"
# Keys of a profile from which botocore can build credentials without the instance-metadata service.
_PROFILE_KEYS = (
    "aws_access_key_id",
    "role_arn",
    "sso_session",
    "sso_start_url",
    "credential_process",
    "web_identity_token_file",
    "login_session",
)

_lock = threading.Lock()
# id(env) -> (env, its credentials, those frozen if they never change)
_by_mapping: dict[int, tuple[Mapping[str, str], Any, Any]] = {}


def _files(env: Mapping[str, str]) -> tuple[Path, Path]:
    home = Path(env.get("HOME") or Path.home())
    credentials = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials").expanduser()
    config = Path(env.get("AWS_CONFIG_FILE") or home / ".aws" / "config").expanduser()
    return credentials, config


def profile_name(env: Mapping[str, str]) -> str:
    return env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"


def _section(path: Path, name: str) -> Mapping[str, str] | None:
    """A section of an AWS ini file, or None when the file or the section is missing (or unreadable)."""
    parser = configparser.RawConfigParser()
    try:
        if not parser.read(path, encoding="utf-8"):
            return None
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    return dict(parser[name]) if parser.has_section(name) else None


def profile_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The active profile's settings from both files (the config file says `[profile NAME]` except for default)."""
    credentials, config = _files(env)
    name = profile_name(env)
    merged: dict[str, str] = {}
    for path, section in ((config, name if name == "default" else f"profile {name}"), (credentials, name)):
        found = _section(path, section)
        if found:
            merged.update(found)
    return merged


def region_from(env: Mapping[str, str]) -> str | None:
    """The region as the AWS CLI finds it: AWS_REGION, AWS_DEFAULT_REGION, then the profile's `region`."""
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or profile_settings(env).get("region") or None


def local_source(env: Mapping[str, str]) -> str | None:
    """Where credentials would come from, found without any network call; None when nowhere."""
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return "environment variables"
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") and env.get("AWS_ROLE_ARN"):
        return "web identity token file"
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        return "container credentials"
    settings = profile_settings(env)
    if any(settings.get(key) for key in _PROFILE_KEYS):
        return f"profile {profile_name(env)!r}"
    return None


def local_settings(env: Mapping[str, str]) -> dict[str, object] | bool:
    """`profiles init`: False without local credentials; else the region the AWS CLI would use, if any."""
    if local_source(env) is None:
        return False
    region = region_from(env)
    return {"region": region} if region else {}


def problem(provider: Provider, env: Mapping[str, str]) -> str | None:
    """Why no AWS credentials can be used, or None. Network-free; imports nothing."""
    missing = missing_extra()
    if missing is not None:
        return missing
    if local_source(env) is not None:
        return None
    return (
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile in "
        "the AWS credentials or config file (instance metadata is not looked up while planning)"
    )


def current(env: Mapping[str, str]) -> Any:
    """The credentials to sign with now, frozen (botocore's ReadOnlyCredentials). The chain is resolved once per
    environment mapping for the life of the process, as an AWS SDK client resolves it once; static keys are
    frozen then, refreshable ones (roles, SSO) asked each time, and may renew over the network here. Raises
    CredentialError saying what was tried.

    Keys in `env` are taken as the chain's first link takes them from the process environment; for the other
    links botocore reads the process environment itself (which `env` is, outside tests and benchmarks)."""
    _, found, frozen = _remembered(env)
    return frozen or found.get_frozen_credentials()


def _remembered(env: Mapping[str, str]) -> tuple[Mapping[str, str], Any, Any]:
    seen = _by_mapping.get(id(env))  # asked every attempt: one lookup, no lock, once resolved
    if seen is not None and seen[0] is env:
        return seen
    import botocore.credentials

    with _lock:  # one resolution at a time: a role or SSO profile calls AWS to resolve
        seen = _by_mapping.get(id(env))
        if seen is not None and seen[0] is env:
            return seen
        found = _resolve(env)
        static = type(found) is botocore.credentials.Credentials  # not RefreshableCredentials: never changes
        if len(_by_mapping) >= 64:
            _by_mapping.clear()
        # The mapping itself kept: its id is never another's while cached.
        seen = _by_mapping[id(env)] = (env, found, found.get_frozen_credentials() if static else None)
        return seen


def _resolve(env: Mapping[str, str]) -> Any:
    """botocore's credentials from its chain for `env`; CredentialError saying what was tried."""
    import botocore.credentials
    import botocore.session
    from botocore.exceptions import BotoCoreError

    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return botocore.credentials.Credentials(
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN") or None, "env"
        )
    session = botocore.session.Session()
    for name, variable in (
        ("profile", "AWS_PROFILE"),
        ("credentials_file", "AWS_SHARED_CREDENTIALS_FILE"),
        ("config_file", "AWS_CONFIG_FILE"),
    ):
        if env.get(variable):
            session.set_config_variable(name, env[variable])
    try:
        found = session.get_credentials()
    except BotoCoreError as exc:
        raise CredentialError(f"AWS credentials could not be resolved ({local_source(env)}): {exc}") from None
    if found is None:
        raise CredentialError(f"AWS credentials could not be resolved from {local_source(env) or 'any source'}")
    return found


class SigV4Credentials:
    """Signs each request with the chain's current credentials (service `bedrock`, the provider's region)."""

    def __init__(self, env: Mapping[str, str], region: str) -> None:
        self.env = env  # the process environment, or the executor's own mapping: both outlive the attempt
        self.region = region
        self.secrets: tuple[str, ...] = ()

    def authorize(self, request: HttpRequest, deadline: float, client: object) -> HttpRequest:
        try:
            frozen = current(self.env)
        except Exception as exc:
            from botocore.exceptions import BotoCoreError  # imported here: this runs every attempt

            if not isinstance(exc, BotoCoreError):
                raise
            raise CredentialError(f"AWS credentials could not be refreshed ({local_source(self.env)}): {exc}") from None
        self.secrets = (frozen.secret_key, frozen.token) if frozen.token else (frozen.secret_key,)
        # Accept-Encoding is set by the exchange after signing (what orcli can decode): never signed.
        headers = signer(self.region).sign(request.method, request.url, request.headers, request.body, frozen)
        return HttpRequest(request.url, headers, request.body, request.method)


_signers: dict[str, Signer] = {}


def signer(region: str) -> Signer:
    """One SigV4 signer per region for the process: its shapes and signing keys outlive an attempt. Imported
    here, at the first signature: planning reads this module, and hashlib alone would cost it ~3 ms."""
    found = _signers.get(region)
    if found is None:
        from orcli.auth.sigv4 import Signer

        found = _signers.setdefault(region, Signer(region))
    return found


def credentials(provider: Provider, env: Mapping[str, str]) -> SigV4Credentials:
    """Lazy: the chain is resolved (maybe over the network, for roles and SSO) when the attempt authorizes."""
    missing = missing_extra()
    if missing is not None:
        raise CredentialError(missing)
    return SigV4Credentials(env, str(provider.settings.get("region") or ""))


@functools.cache  # asked per attempt; whether a library is installed does not change while orcli runs
def missing_extra() -> MissingExtra | None:
    """A message naming the pip install when botocore is not installed; None when it is. Imports nothing."""
    import importlib.util

    return None if importlib.util.find_spec("botocore") else MissingExtra(f"Bedrock needs botocore: {EXTRA_HINT}")
