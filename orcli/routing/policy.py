"""Transport policy (docs/security.md): which base URLs may carry a key, and which keys can be sent at all. Standard
library only, so explain-route can warn without loading httpx; one place used by ask, health --probe and
explain-route (and, for keys, the planner's no_credentials filter)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from orcli.errors import UsageError
from orcli.types import Provider


def is_loopback_host(url: str) -> bool:
    """Whether `url` names this machine: `localhost` or a loopback address (127.0.0.0/8, ::1). A name that
    merely starts like one (`127.example.com`, `localhost.example.com`) is somebody else's host."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()  # urlsplit lower-cases; be explicit anyway
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_plain_http(url: str) -> bool:
    """Schemes compare case-insensitively (`HTTP://` is `http://`, docs/security.md)."""
    return urlsplit(url.strip()).scheme.lower() == "http"


def insecure_reason(provider: Provider, profile_path: str) -> str | None:
    """Why `provider`'s key must not be sent to its base_url, or None when it may."""
    try:
        insecure = is_plain_http(provider.base_url) and not is_loopback_host(provider.base_url)
    except ValueError as exc:  # a host the URL parser refuses: a profile mistake, not an internal error
        return (
            f"provider `{provider.name}`: base_url is not a usable URL ({exc}); "
            f"fix [providers.{provider.name}] in {profile_path}."
        )
    if insecure and not provider.allow_insecure:
        return (
            f"provider `{provider.name}` uses plain http:// to a non-loopback host ({provider.base_url}): "
            "keys and prompts would cross the network in clear text. Use https://, or set "
            f"allow_insecure = true in [providers.{provider.name}] of {profile_path} if you must."
        )
    return None


def check_transport_security(providers: Iterable[Provider], profile_path: str) -> None:
    """Refuse (UsageError) the first provider whose key would travel in clear text to another machine."""
    for provider in providers:
        reason = insecure_reason(provider, profile_path)
        if reason is not None:
            raise UsageError(reason)


def usable_key(value: str) -> bool:
    """Whether a key can be sent in an HTTP header: printable ASCII on one line once surrounding whitespace is
    trimmed (docs/security.md). A newline inside would split the header; curly quotes pasted from a web page do not
    encode; either would fail every request to the provider, or show part of the key in the error."""
    key = value.strip()
    return bool(key) and key.isascii() and key.isprintable()


def key_problem(provider: Provider, env: Mapping[str, str]) -> str | None:
    """None when `provider` needs no key or has a usable one in `env`; else the no_credentials detail (docs/routing.md#rejections),
    which names the variable and never shows its value."""
    if provider.api_key_env is None:
        return None
    value = env.get(provider.api_key_env, "")
    if not value.strip():
        return f"${provider.api_key_env} is not set"
    if not usable_key(value):
        return (
            f"${provider.api_key_env} cannot be sent in an HTTP header (a line break, a control character or a "
            "non-ASCII character such as a curly quote); set it again with the key alone"
        )
    return None
