"""Remove API keys and credentials from text that may be shown, stored or logged (docs/security.md)."""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"
MIN_SECRET = 4  # shorter strings would blank out ordinary words

# `Authorization: Bearer x`, `"x-api-key": "x"`, `?api_key=x`: keep the name, hide the value.
_NAMED = re.compile(
    r"""(?ix)
    \b(
        (?:proxy-)?authorization | x-api-key | x-goog-api-key | api[-_]?key | apikey
        | (?:access|refresh|auth|id)[-_]token | client[-_]secret | password | secret[-_]key
    )
    (["']?\s*[:=]\s*["']?)          # separator as in headers, JSON, query strings
    ((?:bearer|basic|token)\s+)?+   # an auth scheme stays readable
    (?!\[REDACTED\])[^\s"',;&}\]]+
    """
)
# A bearer token anywhere; a digit or length 20+ tells a credential from a word ("bearer authentication").
_BEARER = re.compile(r"(?i)\b(bearer\s+)(?=[A-Za-z0-9._~+/=-]*\d|[A-Za-z0-9._~+/=-]{20})[A-Za-z0-9._~+/=-]{8,}")
# Well-known key shapes: OpenAI/Anthropic/OpenRouter sk-, Groq gsk_, Google AIza, HF hf_, xAI, JWTs.
_KEY_SHAPES = re.compile(
    r"""(?x)
    \b(?:
        sk-[A-Za-z0-9_-]{16,}
        | gsk_[A-Za-z0-9]{20,}
        | AIza[0-9A-Za-z_-]{30,}
        | hf_[A-Za-z0-9]{20,}
        | xai-[A-Za-z0-9]{20,}
        | pplx-[A-Za-z0-9]{20,}
        | nvapi-[A-Za-z0-9_-]{20,}
        | r8_[A-Za-z0-9]{20,}
        | fw_[A-Za-z0-9]{20,}
        | eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}
    )
    """
)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every given secret and anything shaped like a credential replaced by [REDACTED]."""
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _NAMED.sub(lambda m: f"{m[1]}{m[2]}{m[3] or ''}{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m[1]}{REDACTED}", text)
    return _KEY_SHAPES.sub(REDACTED, text)
