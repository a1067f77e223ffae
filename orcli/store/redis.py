"""The shared health store on Redis: one sorted set of outcomes per endpoint, trimmed to the horizon (docs/health.md#sharing-health-across-machines).

Key layout, all under `orcli:<namespace>:` so two teams can share one Redis (`?namespace=` in the URL):

- `orcli:<ns>:sticky:<session digest>`: a session's sticky bindings, model -> `[provider, time]`, expiring
  STICKY_TTL seconds after its last success (docs/routing.md, "Sticky sessions"; store/sessions.py).
- `orcli:<ns>:outcomes:<model>:<provider>`: a sorted set, score = the outcome's time, member = the outcome as
  a JSON array (the columns of the SQLite store, then a random nonce so equal outcomes stay two members).
  Model and provider are percent-encoded so a `:` in a name cannot shift the fields.

Cost: a plan's read is one pipeline (one round trip) returning every endpoint's outcomes since the horizon; an
attempt's write is one EVAL that adds the outcome, drops members older than the horizon, keeps at most
MAX_PER_ENDPOINT, and sets the key to expire one horizon after its last write. Nothing grows without bound.

Never in the way: the client (orcli/store/resp.py, orcli's own: importing redis-py cost more than the whole
rest of a Redis-backed `ask`) has no retries and gives each operation one deadline, `store_timeout`, for
resolving, connecting, the handshake and every byte of the reply together. The first failure of any kind (refused, slow, paused, auth, out of memory, read-only replica, a key of
another type, a member orcli cannot read) switches this process to the local SQLite store, with one warning;
outcomes recorded after that stay local. A process that lives on (`orcli serve`) tries Redis again every
RETRY_SHARED_AFTER seconds and, when it answers, says so and uses it again.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Collection
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from orcli.store import usage_redis
from orcli.store.resp import ProtocolError, RespClient, RespError, StoreTimeout, Unresolved
from orcli.store.sessions import BadBinding, RedisSessions
from orcli.store.usage import UsageRow
from orcli.store.values import outcome_values
from orcli.store_url import RedisTarget
from orcli.types import BudgetSettings, FailureClass, Outcome, Spend

PREFIX = "orcli"
_T = TypeVar("_T")
RETRY_SHARED_AFTER = 30.0  # seconds on the local store before a fallen-back process tries Redis again
MAX_PER_ENDPOINT = 10_000  # newest kept; derive() needs far fewer, and a hot endpoint stays small
MAX_SCAN_PAGES = 10_000  # of 1000 keys each: a server whose cursor never comes back to 0 cannot loop orcli forever
_CLASSES = {c.value: c for c in FailureClass}
_NUMBER = (int, float)  # exact types: a JSON true is a bool, not a number

# KEYS[1]: the endpoint's sorted set. ARGV: score, member, oldest score kept, seconds to live, members kept;
# then the attempt's usage counters (orcli/store/usage_redis.py), in the same atomic script.
_RECORD = (
    """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -1 - tonumber(ARGV[5]))
redis.call('EXPIRE', KEYS[1], ARGV[4])
"""
    + usage_redis.RECORD_USAGE
    + "return 1\n"
)

# KEYS: keys to delete. Returns how many outcomes they held (a key of another type counts 0).
_RESET = """
local n = 0
for i = 1, #KEYS do
  if redis.call('TYPE', KEYS[i]).ok == 'zset' then
    n = n + redis.call('ZCARD', KEYS[i])
  end
  redis.call('DEL', KEYS[i])
end
return n
"""


class Garbage(ValueError):
    """Redis answered with something that is not what orcli stored."""


def key_prefix(namespace: str) -> str:
    return f"{PREFIX}:{namespace}:outcomes:"


def outcome_key(namespace: str, model: str, provider: str) -> str:
    """The sorted set holding one endpoint's outcomes."""
    return key_prefix(namespace) + quote(model, safe="/") + ":" + quote(provider, safe="/")


def endpoint_of(key: str, namespace: str) -> tuple[str, str] | None:
    """(model, provider) of a key made by `outcome_key`, or None for any other key."""
    prefix = key_prefix(namespace)
    if not key.startswith(prefix):
        return None
    model, sep, provider = key[len(prefix) :].rpartition(":")
    return (unquote(model), unquote(provider)) if sep else None


def encode(outcome: Outcome, nonce: str) -> str:
    """One outcome as a sorted-set member: the SQLite store's columns, no model/provider (they are the key)."""
    return json.dumps(
        [*outcome_values(outcome), nonce],
        separators=(",", ":"),
        ensure_ascii=False,
    )


def decode(member: bytes | str, model: str, provider: str) -> Outcome:
    """A member written by `encode` -> Outcome; Garbage for anything else."""
    return decode_many([member], model, provider)[0]


def decode_many(members: list[bytes | str], model: str, provider: str) -> list[Outcome]:
    """Members written by `encode` -> Outcomes, parsed as one JSON array (one C call, not one per member: a plan
    reads a thousand of them); Garbage for anything orcli did not write."""
    try:
        raw = [m if isinstance(m, bytes) else m.encode() for m in members]
        rows = json.loads(b"[" + b",".join(raw) + b"]")
    except (ValueError, UnicodeError, AttributeError) as exc:
        raise Garbage(f"a member of {model} @ {provider} is not JSON") from exc
    if len(rows) != len(members):  # a member like `1],[2` would otherwise pass as two
        raise Garbage(f"a member of {model} @ {provider} is not one outcome")
    out: list[Outcome] = []
    append = out.append
    for fields in rows:
        if type(fields) is not list or len(fields) != 10:
            raise Garbage(f"a member of {model} @ {provider} has an unknown shape")
        at, ok, error_class, status, latency_s, ttft_s, tokens_per_s, error, retry_after, _nonce = fields
        if (
            type(at) not in _NUMBER
            or (ok != 0 and ok != 1)
            or type(ok) is not int
            or (error_class is not None and error_class not in _CLASSES)
            or (status is not None and type(status) is not int)
            or (latency_s is not None and type(latency_s) not in _NUMBER)
            or (ttft_s is not None and type(ttft_s) not in _NUMBER)
            or (tokens_per_s is not None and type(tokens_per_s) not in _NUMBER)
            or (retry_after is not None and type(retry_after) not in _NUMBER)
            or (error is not None and type(error) is not str)
        ):
            raise Garbage(f"a member of {model} @ {provider} has fields of the wrong type")
        append(
            Outcome(
                float(at),
                model,
                provider,
                ok == 1,
                None if error_class is None else _CLASSES[error_class],
                status,
                latency_s,
                ttft_s,
                tokens_per_s,
                error,
                retry_after,
            )
        )
    return out


def connect(target: RedisTarget, timeout: float) -> RespClient:
    """orcli's own client for `target` (orcli/store/resp.py): no retries, one deadline of `timeout` for each
    operation as a whole; no I/O yet."""
    return RespClient(target, timeout)


class RedisStore(RedisSessions):
    """Outcomes in a shared Redis; on any failure, the local store (Redis is tried again now and then)."""

    kind = "redis"
    shared = True

    def __init__(
        self,
        client: Any,
        target: RedisTarget,
        *,
        retention: float,
        timeout: float,
        fallback: Callable[[], tuple[Any, list[str]]],
        clock: Callable[[], float] = time.time,
        retry_after: float = RETRY_SHARED_AFTER,
        usage_days: int = BudgetSettings().retention_days,
    ) -> None:
        self.warnings: list[str] = []
        self._usage_days = usage_days
        self.target = target
        self._retry_after = retry_after
        self._retry_at = 0.0  # monotonic time after which a fallen-back store tries Redis once more
        self._client = client
        self._retention = retention
        self._timeout = timeout
        self._open_fallback = fallback
        self._clock = clock
        self._lock = threading.Lock()  # health --probe records from a thread pool
        self._failed = False
        self._local: Any = None  # the local store once fallen back (None if it cannot be opened either)

    # --- the HealthBackend interface -------------------------------------------------------------------

    def record(self, outcome: Outcome) -> bool:
        """One EVAL: add the outcome, trim the endpoint's set to the horizon and the cap, renew its expiry."""
        if self._shared():
            key = outcome_key(self.target.namespace, outcome.model, outcome.provider)
            member = encode(outcome, os.urandom(6).hex())
            cutoff = self._clock() - self._retention
            ttl = max(int(self._retention) + 1, 1)
            usage_keys, usage_args = usage_redis.record_args(self.target.namespace, outcome, self._usage_days)
            try:
                (reply,) = self._client.call(
                    [
                        [
                            "EVAL",
                            _RECORD,
                            1 + len(usage_keys),
                            key,
                            *usage_keys,
                            repr(outcome.at),
                            member,
                            repr(cutoff),
                            ttl,
                            MAX_PER_ENDPOINT,
                            *usage_args,
                        ]
                    ]
                )
                if isinstance(reply, RespError):
                    raise reply
                if reply != 1:
                    raise Garbage(f"recording answered {type(reply).__name__}")
                self._back()
                return True
            except (
                Exception
            ) as exc:  # translated once, here: Redis never fails an ask (docs/health.md#sharing-health-across-machines)
                self._fall_back(exc, "record an outcome")
        local = self._local
        return False if local is None else local.record(outcome)

    def outcomes(self, since: float, endpoints: Collection[tuple[str, str]] | None = None) -> list[Outcome]:
        """One round trip returning every asked endpoint's outcomes since `since` (None: every endpoint, via SCAN)."""
        if self._shared():
            try:
                outcomes = self._read(since, endpoints)
                self._back()
                return outcomes
            except Exception as exc:  # see record()
                self._fall_back(exc, "read outcomes")
        local = self._local
        return [] if local is None else local.outcomes(since, endpoints)

    def usage(self, since: float, until: float, by: str) -> tuple[list[UsageRow], UsageRow]:
        """The fleet's usage from the per-day counters: whole UTC days (docs/usage.md)."""
        ns = self.target.namespace
        nothing: tuple[list[UsageRow], UsageRow] = ([], UsageRow("total"))
        kept = (self._clock(), self._usage_days)
        return self._shared_or_local(
            lambda: usage_redis.report(self._client, ns, since, until, by, kept),
            lambda local: local.usage(since, until, by),
            nothing,
            "read usage",
        )

    def spend(self, now: float) -> Spend:
        """The fleet's spend of the day and the month (one pipeline), holds of running requests included."""
        ns = self.target.namespace
        return self._shared_or_local(
            lambda: usage_redis.spend(self._client, ns, now), lambda local: local.spend(now), Spend(), "read the spend"
        )

    def reserve(self, budget: BudgetSettings, amount: float, now: float, hold_s: float) -> tuple[object, Spend]:
        """Check the fleet's budget and hold `amount` in one EVAL (usage_redis.RESERVE)."""
        ns = self.target.namespace
        nothing: tuple[object, Spend] = ("unrecorded", Spend())
        return self._shared_or_local(
            lambda: usage_redis.reserve(self._client, ns, budget, amount, now, hold_s),
            lambda local: local.reserve(budget, amount, now, hold_s),
            nothing,
            "reserve the request's expected cost",
        )

    def settle(self, token: object) -> None:
        """Release a hold: a Redis member (str), or the local store's id when the hold was made there."""
        if isinstance(token, str) and token != "unrecorded":
            ns = self.target.namespace
            self._shared_or_local(
                lambda: usage_redis.settle(self._client, ns, token), lambda local: local.settle(token), None, "settle"
            )
        elif self._local is not None:
            self._local.settle(token)

    def _shared_or_local(self, shared: Callable[[], _T], local: Callable[[Any], _T], fallback: _T, what: str) -> _T:
        """Run `shared` on Redis; on any failure (or once fallen back) run `local` on the local store."""
        if self._shared():
            try:
                result = shared()
                self._back()
                return result
            except Exception as exc:  # see record()
                self._fall_back(exc, what)
        return fallback if self._local is None else local(self._local)

    def reset(self, provider: str | None = None) -> int | None:
        """Delete the namespace's outcome sets (all, or one provider's and its variants'); None on failure.
        Never falls back: resetting the local store instead would report a reset that did not happen."""
        if self._failed:
            self.warnings.append(f"shared health store {self.target.shown} was not reached: nothing reset")
            return None
        try:
            keys = [key for key in self._keys() if _provider_matches(key, self.target.namespace, provider)]
            if provider is None:  # every session sticks anew (one provider's bindings expire on their own)
                self.forget_sessions()
            deleted = 0
            for start in range(0, len(keys), 500):
                batch = keys[start : start + 500]
                (reply,) = self._client.call([["EVAL", _RESET, len(batch), *batch]])
                if isinstance(reply, RespError):
                    raise reply
                if type(reply) is not int:
                    raise Garbage(f"resetting answered {type(reply).__name__}")
                deleted += reply
            return deleted
        except Exception as exc:
            why = _why(exc, self._timeout, key_prefix(self.target.namespace))
            self.warnings.append(f"shared health store {self.target.shown} {why}, so orcli could not reset it")
            return None

    def describe(self) -> dict[str, object]:
        shared: dict[str, object] = {"kind": self.kind, "url": self.target.shown, "namespace": self.target.namespace}
        if not self._failed:
            return shared
        local = {"kind": "none"} if self._local is None else self._local.describe()
        return {**local, "fallback_from": shared}

    def take_warnings(self) -> list[str]:
        with self._lock:
            taken, self.warnings = self.warnings, []
        if self._local is not None:
            taken.extend(self._local.take_warnings())
        return taken

    def close(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            self._client.close()
        if self._local is not None:
            self._local.close()

    def __enter__(self) -> RedisStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------------------

    def _read(self, since: float, endpoints: Collection[tuple[str, str]] | None) -> list[Outcome]:
        ns = self.target.namespace
        if endpoints is None:
            pairs = [pair for key in self._keys() if (pair := endpoint_of(key, ns)) is not None]
        else:
            pairs = list(dict.fromkeys(endpoints))
        if not pairs:
            return []
        # A pipeline, not a script: one round trip as well, and it still reads from a replica or a full server
        # (Redis 7 refuses a script without a `no-writes` flag there, and Redis 6 knows no flags).
        since_arg = repr(since)
        reply = self._client.call([["ZRANGEBYSCORE", outcome_key(ns, m, p), since_arg, "+inf"] for m, p in pairs])
        out: list[Outcome] = []
        for (model, provider), members in zip(pairs, reply, strict=True):
            if isinstance(members, RespError):
                raise members
            if not isinstance(members, list):
                raise Garbage(f"{model} @ {provider}: not a list of outcomes")
            if members:
                out.extend(decode_many(members, model, provider))
        return out

    def _keys(self) -> list[str]:
        return self._scan(key_prefix(self.target.namespace))

    def _scan(self, prefix: str) -> list[str]:
        """Every key under `prefix` (SCAN, never KEYS: a big shared Redis stays responsive)."""
        pattern = prefix.replace("\\", "\\\\")
        for ch in "*?[]":
            pattern = pattern.replace(ch, "\\" + ch)
        keys: list[str] = []
        cursor: bytes | str = "0"
        for _page in range(MAX_SCAN_PAGES):
            (reply,) = self._client.call([["SCAN", cursor, "MATCH", pattern + "*", "COUNT", 1000]])
            if isinstance(reply, RespError):
                raise reply
            if not (isinstance(reply, list) and len(reply) == 2 and isinstance(reply[0], bytes)):
                raise Garbage("SCAN answered something other than a cursor and keys")
            cursor, found = reply
            if not isinstance(found, list) or not all(isinstance(k, bytes) for k in found):
                raise Garbage("SCAN answered keys that are not strings")
            keys.extend(k.decode("utf-8", "replace") for k in found)
            if cursor == b"0":
                return keys
        raise Garbage(f"SCAN did not finish within {MAX_SCAN_PAGES} pages")

    def _shared(self) -> bool:
        """Whether to use Redis now: until it fails, then once every `retry_after` seconds (a long-lived
        `orcli serve` must not lose shared health to one blip; a CLI process rarely lives that long)."""
        return not self._failed or time.monotonic() >= self._retry_at

    def _back(self) -> None:
        """Redis answered: if this store had fallen back, use Redis again from now on."""
        if self._failed:
            with self._lock:
                if self._failed:
                    self._failed = False
                    self.warnings.append(
                        f"shared health store {self.target.shown} answers again; outcomes go there again"
                    )

    def _fall_back(self, exc: BaseException, what: str) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + self._retry_after
            if self._failed:
                return  # a retry that failed again: still local, no second warning
            why = _why(exc, self._timeout, key_prefix(self.target.namespace))
            self.warnings.append(
                f"shared health store {self.target.shown} {why}, so orcli could not {what} there; it uses the "
                "local health store for the rest of this run (outcomes recorded now stay on this machine)"
            )
            if self._local is None:
                self._local, warnings = self._open_fallback()
                self.warnings.extend(warnings)
            self._failed = True  # last: a thread that sees it set also sees the local store


def _provider_matches(key: str, namespace: str, provider: str | None) -> bool:
    """docs/routing.md#rejections variant matching for reset: `deepinfra` covers `deepinfra/turbo`; foreign keys always go."""
    if provider is None:
        return True
    pair = endpoint_of(key, namespace)
    return pair is not None and (pair[1] == provider or pair[1].startswith(provider + "/"))


def _why(exc: BaseException, timeout: float, prefix: str) -> str:
    """What went wrong, in words: from the exception's type and Redis's error code, not its free text alone."""
    text = " ".join(str(exc).split())
    code = exc.code if isinstance(exc, RespError) else ""
    if isinstance(exc, Unresolved):
        return f"is unreachable: {_clean(str(exc))}"
    if isinstance(exc, StoreTimeout):
        return f"did not answer within {timeout * 1000:.0f} ms"
    if code in ("NOAUTH", "WRONGPASS", "NOPERM") or (code == "ERR" and "AUTH" in text):
        return "refused orcli's credentials (the password comes from ORCLI_HEALTH_URL)"
    if code == "OOM":
        return "is out of memory (maxmemory reached) and refuses writes"
    if code == "READONLY":
        return "is a read-only replica"
    if code == "WRONGTYPE" or isinstance(exc, Garbage | BadBinding):
        return f"holds data under {prefix} that orcli did not write ({_clean(text)})"
    if isinstance(exc, ProtocolError):
        return f"does not answer as Redis does ({_clean(text)})"
    if isinstance(exc, OSError):
        return f"is unreachable ({_clean(exc.strerror or text or type(exc).__name__)})"
    return f"failed ({type(exc).__name__}: {_clean(text)})"


def _clean(text: str, limit: int = 160) -> str:
    """Text from the network, shown with control characters neutralised and cut (docs/security.md)."""
    safe = "".join(ch if ch.isprintable() else "?" for ch in text)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"
