"""Browser safety for the gateway, pure (docs/gateway.md, "Browser safety"): which Host, Origin and Content-Type
a request may carry, and the CORS answers for an allowed origin.

Why: a gateway on loopback without a token would otherwise spend the user's provider credits for any web page
the user visits (a "simple" cross-origin POST needs no preflight) and, through DNS rebinding, let such a page
read answers and the model list. Browsers always send `Host` (the attacker's name after a rebinding) and
`Origin` on cross-origin requests; programs (SDKs, curl, agents) send no `Origin`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from typing import NamedTuple

_PORT = re.compile(r"[0-9]{1,5}")
_TOKEN_LIST = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*")
ALLOWED_METHODS = "GET, POST, OPTIONS"
# What an allowed page's script may read of an answer besides the CORS-safelisted headers.
EXPOSED_HEADERS = "x-orcli-provider, x-orcli-attempts, x-should-retry, retry-after"
PREFLIGHT_MAX_AGE = "600"


class Refusal(NamedTuple):
    status: int
    message: str


def host_name(host_header: str) -> str | None:
    """The name of a `Host` header without its port, lower case (`[::1]:8765` → `::1`); None if malformed."""
    value = host_header.strip().lower()
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and _PORT.fullmatch(rest[1:]))):
            return None
        return name
    name, sep, port = value.partition(":")
    if sep and not _PORT.fullmatch(port):
        return None
    return name.rstrip(".") or None


def is_loopback_name(name: str) -> bool:
    """`localhost`, a `*.localhost` name (RFC 6761: never resolved by DNS) or a loopback address."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_host(host_header: str | None, bound_host: str, token_required: bool) -> Refusal | None:
    """A `Host` that is neither the bound address nor a loopback name is refused unless a token is required
    (then the token, not the name, is the protection). A request without `Host` comes from no browser."""
    if token_required or host_header is None:
        return None
    name = host_name(host_header)
    bound = bound_host.strip("[]").lower()
    if name is not None and (name == bound or is_loopback_name(name)):
        return None
    shown = (host_header or "")[:100]
    return Refusal(
        403,
        f"Host {shown!r} is not the gateway's address: requests through other names are refused (a DNS-rebinding "
        "page could otherwise use the gateway); use 127.0.0.1 or localhost, or require a token with --auth-env",
    )


def origin_allowed(origin: str, allowed: Collection[str]) -> bool:
    """Whether `--allow-origin` lets this origin in (`*` lets every origin in); compared without a final `/`."""
    return "*" in allowed or origin.rstrip("/").lower() in {a.rstrip("/").lower() for a in allowed}


def check_origin(origin: str | None, allowed: Collection[str]) -> Refusal | None:
    """A request carrying an `Origin` (a web page's) is refused unless that origin was allowed."""
    if origin is None or origin_allowed(origin, allowed):
        return None
    return Refusal(403, "requests from web pages are refused; allow this page's origin with --allow-origin ORIGIN")


def check_json_content_type(content_type: str | None) -> Refusal | None:
    """A POST body must be declared `application/json` (parameters such as charset allowed): the other types
    are those a page may send cross-origin without a preflight."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json":
        return None
    shown = media or "none"
    return Refusal(415, f"send the body as Content-Type: application/json (got {shown})")


def cors_headers(origin: str | None, allowed: Collection[str]) -> dict[str, str]:
    """The headers an answer to an allowed origin carries (none without an Origin)."""
    if origin is None or not origin_allowed(origin, allowed):
        return {}
    return {
        "Access-Control-Allow-Origin": "*" if "*" in allowed else origin,
        "Access-Control-Expose-Headers": EXPOSED_HEADERS,
        "Vary": "Origin",
    }


def preflight_headers(origin: str, allowed: Collection[str], asked_headers: str | None) -> dict[str, str]:
    """The answer to an allowed origin's CORS preflight: our methods, and the headers it asked to send (SDKs send
    their own `x-stainless-*` and `anthropic-*` headers), when they are a well-formed list."""
    headers = cors_headers(origin, allowed)
    headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    asked = (asked_headers or "").strip()
    if asked and _TOKEN_LIST.fullmatch(asked):
        headers["Access-Control-Allow-Headers"] = asked
    headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return headers
