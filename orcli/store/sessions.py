"""Sticky-session bindings in the health stores (docs/routing.md, "Sticky sessions"): which provider last
served a model in a session, and when. What both backends share: the session id is kept only as a digest
(an id may be a user's name or an e-mail), and a binding is over STICKY_TTL seconds after its last success."""

from __future__ import annotations

import hashlib

from orcli.routing.sticky import STICKY_TTL

__all__ = ["STICKY_TTL", "session_key"]


def session_key(session: str) -> str:
    """The digest a store keeps instead of the session id."""
    return hashlib.sha256(session.encode("utf-8", "surrogatepass")).hexdigest()
