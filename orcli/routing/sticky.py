"""Sticky sessions (docs/routing.md, "Sticky sessions"): a conversation stays on the provider that last served
it, so the provider's prompt cache keeps paying off. Pure: the bindings come from the health store.

After a success from provider P for model M in session S, later requests for M in S put P first for
`STICKY_TTL` seconds after that success (each success renews it), unless the request gives `order`, or P is
rejected or unhealthy now; then the usual order stands, and the next success rebinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from orcli.routing.ordering import Ranked
from orcli.types import HealthState, StickyBinding

STICKY_TTL = 600.0  # seconds after the last success that a binding holds (OpenRouter's 10 minutes)
MAX_SESSION_ID = 256  # characters, as OpenRouter's session_id


class SessionIdError(ValueError):
    """A session id orcli cannot use."""


Binding = StickyBinding  # model -> Binding: which provider last served it in the session, how long ago


def check_session_id(raw: str) -> str:
    """A session id as given: non-empty, at most MAX_SESSION_ID characters, no control characters."""
    if not raw.strip():
        raise SessionIdError("the session id is empty")
    if len(raw) > MAX_SESSION_ID:
        raise SessionIdError(f"the session id is longer than {MAX_SESSION_ID} characters ({len(raw)})")
    if not raw.isprintable():
        raise SessionIdError("the session id contains control characters")
    return raw


def live(bindings: Mapping[str, Binding]) -> dict[str, Binding]:
    """The bindings still in force."""
    return {model: b for model, b in bindings.items() if 0 <= b.age < STICKY_TTL}


def age_words(seconds: float) -> str:
    """`served 40 s ago`, `served 2 min ago`: how explain-route says how fresh a binding is."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"served {seconds:.0f} s ago"
    return f"served {seconds // 60:.0f} min ago"


def shown_id(session: str) -> str:
    """The session id as a reason shows it: cut to 40 characters."""
    return session if len(session) <= 40 else session[:39] + "…"


class StickyRule(NamedTuple):
    """What the planner needs to apply stickiness: the session id, and its bindings (model -> provider)."""

    session: str
    bindings: Mapping[str, Binding]


def stick(ranked: Ranked, rule: StickyRule) -> Ranked:
    """Move each model's bound provider to the front of that model's attempts, with the reason why.

    A bound provider that is not in the list (it was rejected), or is unstable or in cooldown now, leaves the
    order as it was: the usual order stands, and the next success rebinds.
    """
    out = list(ranked)
    for model, binding in rule.bindings.items():
        first = None  # index of the model's first attempt
        bound = None
        for i, (c, _) in enumerate(out):
            if c.endpoint.model != model:
                continue
            if first is None:
                first = i
            if c.endpoint.provider == binding.provider:
                bound = i if c.health.state is HealthState.HEALTHY and not c.health.half_open else None
                break
        if first is None or bound is None:
            continue
        c, why = out.pop(bound)
        reason = f"sticky: session {shown_id(rule.session)} {age_words(binding.age)} (was: {why})"
        out.insert(first, (c, reason))
    return out
