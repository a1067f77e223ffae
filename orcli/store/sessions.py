"""Sticky-session bindings in the health stores (docs/routing.md, "Sticky sessions"): which provider last
served a model in a session, and when. What both backends share: the session id is kept only as a digest
(an id may be a user's name or an e-mail), and a binding is over STICKY_TTL seconds after its last success.
The SQLite side is a mixin of store/sqlite.Store; Redis keeps one hash per session (store/redis.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from orcli.routing.sticky import STICKY_TTL
from orcli.types import StickyBinding

if TYPE_CHECKING:
    import sqlite3

__all__ = ["STICKY_TTL", "BadBinding", "RedisSessions", "SqliteSessions", "decode_bindings", "session_key"]

_T = TypeVar("_T")
_BIND = "INSERT OR REPLACE INTO sticky_sessions (session, model, provider, at) VALUES (?, ?, ?, ?)"
_READ = "SELECT model, provider, at FROM sticky_sessions WHERE session = ? AND at > ?"


class BadBinding(ValueError):
    """A stored binding orcli did not write."""


def session_key(session: str) -> str:
    """The digest a store keeps instead of the session id."""
    return hashlib.sha256(session.encode("utf-8", "surrogatepass")).hexdigest()


class SqliteSessions:
    """bind_session and session_bindings of the local store; `_run` is the store's own (retries, recovery)."""

    read_only: bool

    def _run(self, op: Callable[[sqlite3.Connection], _T], fallback: _T, what: str) -> _T:
        raise NotImplementedError  # store/sqlite.Store runs it

    def bind_session(self, session: str, model: str, provider: str, at: float) -> bool:
        """Upsert the session's binding for `model`: one statement, atomic in autocommit."""
        if self.read_only:
            return False
        args = (session_key(session), model, provider, at)
        return self._run(lambda db: db.execute(_BIND, args).rowcount == 1, False, "bind a session")

    def session_bindings(self, session: str, now: float) -> dict[str, StickyBinding]:
        """The session's bindings still in force at `now`, per model."""
        args = (session_key(session), now - STICKY_TTL)
        rows: list[Any] = self._run(lambda db: db.execute(_READ, args).fetchall(), [], "read session bindings")
        return {m: StickyBinding(p, max(0.0, now - at)) for m, p, at in rows}

    def forget_bindings(self, where: str = "", args: tuple[object, ...] = ()) -> None:
        """Delete bindings (all, or those matching `where`): `health reset` and pruning."""
        if not self.read_only:
            self._run(lambda db: db.execute(f"DELETE FROM sticky_sessions {where}", args).rowcount, 0, "forget")


class RedisSessions:
    """bind_session and session_bindings of the shared store: one hash per session, `<prefix>:sticky:<digest>`,
    expiring STICKY_TTL seconds after the session's last success; a mixin of store/redis.RedisStore, whose
    fallback to the local store (`_shared_or_local`) it uses like every other operation."""

    target: Any
    _client: Any

    def _shared_or_local(self, shared: Callable[[], _T], local: Callable[[Any], _T], fallback: _T, what: str) -> _T:
        raise NotImplementedError  # store/redis.RedisStore runs it

    def _scan(self, prefix: str) -> list[str]:
        raise NotImplementedError

    def sticky_key(self, session: str) -> str:
        return f"orcli:{self.target.namespace}:sticky:{session_key(session)}"

    def bind_session(self, session: str, model: str, provider: str, at: float) -> bool:
        """HSET and EXPIRE in one round trip."""
        key, value = self.sticky_key(session), json.dumps([provider, at], ensure_ascii=False)
        commands: list[list[Any]] = [["HSET", key, model, value], ["EXPIRE", key, int(STICKY_TTL)]]
        return self._shared_or_local(
            lambda: bool(self._call(commands)),
            lambda local: bool(local.bind_session(session, model, provider, at)),
            False,
            "bind a session",
        )

    def session_bindings(self, session: str, now: float) -> dict[str, StickyBinding]:
        """One HGETALL: the session's bindings still in force."""
        nothing: dict[str, StickyBinding] = {}
        return self._shared_or_local(
            lambda: decode_bindings(self._call([["HGETALL", self.sticky_key(session)]])[0], now),
            lambda local: dict(local.session_bindings(session, now)),
            nothing,
            "read session bindings",
        )

    def forget_sessions(self) -> None:
        """Delete every session's bindings (`health reset`); errors go to the caller."""
        keys = self._scan(f"orcli:{self.target.namespace}:sticky:")
        for start in range(0, len(keys), 500):
            self._call([["DEL", *keys[start : start + 500]]])

    def _call(self, commands: list[list[Any]]) -> list[Any]:
        """One round trip; an error reply raises."""
        from orcli.store.resp import RespError

        replies: list[Any] = self._client.call(commands)
        for reply in replies:
            if isinstance(reply, RespError):
                raise reply
        return replies


def decode_bindings(reply: object, now: float) -> dict[str, StickyBinding]:
    """Redis HGETALL's answer (field, value, field, value, ...) -> the bindings still in force; BadBinding for
    anything orcli did not write."""
    if not isinstance(reply, list) or len(reply) % 2 or not all(isinstance(x, bytes) for x in reply):
        raise BadBinding("reading session bindings answered something other than a hash")
    out: dict[str, StickyBinding] = {}
    for field, raw in zip(reply[::2], reply[1::2], strict=True):
        model = field.decode("utf-8", "replace")
        try:
            provider, at = json.loads(raw)
        except (ValueError, TypeError):
            raise BadBinding(f"a session binding of {model} is not one orcli wrote") from None
        if not isinstance(provider, str) or type(at) not in (int, float):
            raise BadBinding(f"a session binding of {model} is not one orcli wrote")
        if now - at < STICKY_TTL:
            out[model] = StickyBinding(provider, max(0.0, now - at))
    return out
