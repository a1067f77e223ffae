"""How one profile value is checked and shown in an error: URLs, headers, type names, "did you mean". Pure.

The checks catch at load what the HTTP client would otherwise refuse only when a request is made, and the
messages never echo a secret (docs/security.md).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")

# `scheme://user:pass@host`: anything before an `@` in the authority (docs/security.md). Matched on the raw
# text, so that a URL the parser refuses for another reason is still never echoed with its credentials.
URL_USERINFO = re.compile(r"^[^:/?#]*:/*[^/?#]*@")

# Headers orcli or the HTTP client must own (docs/security.md): framing and hop-by-hop headers (a profile's
# Content-Length or Transfer-Encoding beside the client's own is the shape of request smuggling), Host, and
# credentials, which come from api_key_env alone. Compared case-insensitively.
_RESERVED_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "host"}
)
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key"})

_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}


def header_problem(name: str) -> str | None:
    """Why a profile may not set header `name`, or None when it may."""
    lowered = name.lower()
    if lowered in _AUTH_HEADERS:
        return (
            f"{name} carries credentials, which orcli sends from the environment variable named by api_key_env; "
            "remove it from headers"
        )
    if lowered in _RESERVED_HEADERS or lowered.startswith("proxy-"):
        return f"{name} is a connection or framing header that the HTTP client sets itself; remove it from headers"
    return None


def url_problem(url: str) -> str | None:
    """None when `url` can be a provider's base_url, else a note on why not ("" when the scheme says it all)."""
    if _URL_FORBIDDEN.search(url):
        return " (it contains spaces or control characters)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number in 0-65535
        host = parts.hostname
    except ValueError as exc:
        return f" ({exc})"
    if parts.scheme not in ("http", "https") or not host:
        return ""
    try:
        host.encode("idna")
    except UnicodeError:
        return " (its host name is not valid)"
    return None


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """` Did you mean `x`?` for the nearest known word, or "" when none is near."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" Did you mean `{close[0]}`?" if close else ""


def type_name(value: object) -> str:
    """`a string`, `a table`: what a TOML value is, in an error message."""
    if isinstance(value, dict):
        return "a table"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def show(value: object) -> str:
    """A value as an error message quotes it, cut to 40 characters (with "…", not "...": messages end by
    stripping periods)."""
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"
