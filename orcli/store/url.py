"""Shared-store URLs (`redis://`, `rediss://`): parse, check and show without the password (SPEC §9, §13)."""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

SCHEMES = ("redis", "rediss")
DEFAULT_PORT = 6379
DEFAULT_NAMESPACE = "default"
_NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class BadStoreURL(ValueError):
    """A store URL orcli cannot use; the message never contains the URL's password."""


class RedisTarget(NamedTuple):
    """Where a Redis store lives and under which key namespace; `shown` is the URL without its password."""

    host: str
    port: int
    db: int
    tls: bool
    username: str | None
    password: str | None
    namespace: str
    shown: str


def is_store_url(text: str) -> bool:
    """Whether `text` names a shared store (any case of the scheme, SPEC §9)."""
    return text.split(":", 1)[0].lower() in SCHEMES if ":" in text else False


def parse(url: str) -> RedisTarget:
    """`redis[s]://[user[:password]@]host[:port][/db][?namespace=NAME]` -> RedisTarget; BadStoreURL otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise BadStoreURL(f"{redact(url)} is not a URL orcli can read") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise BadStoreURL(f"{redact(url)}: expected a redis:// or rediss:// URL")
    if not parts.hostname:
        raise BadStoreURL(f"{redact(url)}: the URL names no host")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise BadStoreURL(f"{redact(url)}: the path must be a database number, like /0")
    namespace = DEFAULT_NAMESPACE
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "namespace":
            # redis-py would read ?password= from here too; orcli takes only what it documents.
            raise BadStoreURL(f"{redact(url)}: unknown URL option `{key}` (only `namespace` is understood)")
        if not _NAMESPACE.fullmatch(value):
            raise BadStoreURL(f"{redact(url)}: namespace must be 1-64 letters, digits, `_`, `.` or `-`")
        namespace = value
    return RedisTarget(
        host=parts.hostname,
        port=port or DEFAULT_PORT,
        db=int(path) if path else 0,
        tls=scheme == "rediss",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        namespace=namespace,
        shown=redact(url),
    )


def has_password(url: str) -> bool:
    """Whether the URL carries a password (in its user part); unparsable URLs count as carrying one."""
    try:
        return urlsplit(url.strip()).password is not None
    except ValueError:
        return True


def redact(url: str) -> str:
    """The URL with any password removed (`redis://user@host:6379/0`); never raises."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        return "<not a URL>" if "@" in text else text
    # Split at the last `@` of the whole rest, not of the authority: a password with an unencoded `/`, `?`
    # or `#` would otherwise end the authority early and leave its tail in the path we show.
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        return text
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}@{hostpart}" if user else f"{scheme}{sep}{hostpart}"
