"""Shared-store URLs (`redis://`, `rediss://`): parse, check and show without the password (docs/security.md, docs/health.md#sharing-health-across-machines)."""

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
    """Whether `text` names a shared store (any case of the scheme, docs/security.md)."""
    return text.split(":", 1)[0].lower() in SCHEMES if ":" in text else False


# Options redis-py reads from a URL that orcli does not: named when refused (they are not secrets). Any other
# unknown option is refused without its name, which could be a password typed where a name was expected.
FOREIGN_OPTIONS = frozenset(
    [
        "db",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "retry_on_timeout",
        "timeout",
        "max_connections",
        "health_check_interval",
        "client_name",
        "protocol",
        "decode_responses",
        "encoding",
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_ca_path",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_check_hostname",
    ]
)
CREDENTIAL_OPTIONS = ("username", "password")  # accepted in the query as redis-py does; the user part wins
SHOWN_OPTIONS = frozenset({"namespace"})  # the one option whose value is shown; every other value is `***`
UNDERSTOOD = "only `namespace`, `username` and `password` are understood"


def parse(url: str) -> RedisTarget:
    """`redis[s]://[user[:password]@]host[:port][/db][?namespace=NAME&username=U&password=P]` -> RedisTarget;
    BadStoreURL otherwise. A user part in the authority wins over `username`/`password` in the query, as in
    redis-py."""
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
    options = _options(url, parts.query)
    username = unquote(parts.username) if parts.username else options.get("username") or None
    password = unquote(parts.password) if parts.password is not None else options.get("password")
    return RedisTarget(
        host=parts.hostname,
        port=port or DEFAULT_PORT,
        db=int(path) if path else 0,
        tls=scheme == "rediss",
        username=username,
        password=password,
        namespace=options.get("namespace", DEFAULT_NAMESPACE),
        shown=redact(url),
    )


def _options(url: str, query: str) -> dict[str, str]:
    """The query's options, checked: namespace's shape, credentials, nothing else (and nothing twice)."""
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in FOREIGN_OPTIONS:
            raise BadStoreURL(f"{redact(url)}: unknown URL option `{key}` ({UNDERSTOOD})")
        if key != "namespace" and key not in CREDENTIAL_OPTIONS:
            raise BadStoreURL(
                f"{redact(url)}: an unknown URL option, not named here in case it is a secret ({UNDERSTOOD})"
            )
        if key in options:
            raise BadStoreURL(f"{redact(url)}: the URL option `{key}` is given twice")
        if key == "namespace" and not _NAMESPACE.fullmatch(value):
            raise BadStoreURL(f"{redact(url)}: namespace must be 1-64 letters, digits, `_`, `.` or `-`")
        options[key] = value
    return options


def has_password(url: str) -> bool:
    """Whether the URL carries a password (in its user part or as `?password=`); unparsable URLs count as
    carrying one."""
    try:
        parts = urlsplit(url.strip())
        return parts.password is not None or any(k == "password" for k, _ in parse_qsl(parts.query, True))
    except ValueError:
        return True


def redact(url: str) -> str:
    """The URL as it may be shown: no password in the user part, every query value but the namespace `***`,
    query names orcli does not know `***` too, no fragment (`redis://user@host:6379/0?password=***`); never
    raises."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        return "<not a URL>" if "@" in text or "?" in text else text
    # Split at the last `@` of the whole rest, not of the authority: a password with an unencoded `/`, `?`
    # or `#` would otherwise end the authority early and leave its tail in the path we show.
    userinfo, at, hostpart = rest.rpartition("@")
    if at:
        user = userinfo.split(":", 1)[0]
        if "?" in user or "#" in user or "/" in user:  # no user part at all: the `@` sits in the query
            userinfo, hostpart = "", rest
        else:
            hostpart = f"{user}@{hostpart}" if user else hostpart
    hostpart = hostpart.split("#", 1)[0]
    base, question, query = hostpart.partition("?")
    if not question:
        return f"{scheme}{sep}{base}"
    return f"{scheme}{sep}{base}?{_redacted_query(query)}"


def _redacted_query(query: str) -> str:
    shown = []
    for item in query.split("&"):
        key, equals, value = item.partition("=")
        known = key in SHOWN_OPTIONS or key in CREDENTIAL_OPTIONS or key in FOREIGN_OPTIONS
        name = key if known else "***"
        if not equals:
            shown.append(name)
        elif key in SHOWN_OPTIONS and _NAMESPACE.fullmatch(value):
            shown.append(f"{name}={value}")
        else:
            shown.append(f"{name}=***")
    return "&".join(shown)
