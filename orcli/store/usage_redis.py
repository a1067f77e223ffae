"""Usage in the shared Redis store: per-day counters that every machine increments atomically (docs/usage.md).

Keys, beside the health outcomes and under the same `orcli:<namespace>:` prefix:

- `usage:<YYYY-MM-DD>`: a hash per UTC day. Field `<counter>:<profile>:<model>:<provider>` (names
  percent-encoded), counters `r` (requests), `rm` (requests per model), `rp` (requests per provider), `a`
  (attempts), `f` (failures), `pt`/`ct` (prompt/completion tokens), `c` (known cost, a float), `u` (attempts of
  unknown cost), `e` (attempts with estimated tokens). It expires `retention_days` after its day.
- `spend:<YYYY-MM-DD>` and `spend:<YYYY-MM>`: the known spend of the day and of the month, so a budget check
  is one read whatever the size of the fleet.
- `reservations`: a sorted set of the expected costs of requests still running (score: when the hold lapses,
  member: `<id>:<amount>`).

The counters are incremented in the same EVAL that records the outcome (orcli/store/redis.py); a reservation is
checked and held in one EVAL, so twenty machines cannot all pass a budget that fits five of them.
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import quote, unquote

from orcli.store.resp import RespError
from orcli.store.usage import DAY_S, SPEND_KEPT_DAYS, UsageRow, day_name
from orcli.types import BudgetSettings, Outcome, Spend

# KEYS: reservations, day spend, month spend. ARGV: now, amount, hold until, member, daily limit, monthly
# limit ("" = none). Returns {1 or 0, day spend + held, month spend + held} (floats as strings: a Lua number
# becomes an integer reply).
RESERVE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local held = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  held = held + (tonumber(string.match(m, ':(.*)$')) or 0)
end
local day = (tonumber(redis.call('GET', KEYS[2])) or 0) + held
local month = (tonumber(redis.call('GET', KEYS[3])) or 0) + held
local amount = tonumber(ARGV[2])
local fits = 1
if ARGV[5] ~= '' and day + amount > tonumber(ARGV[5]) + 1e-12 then fits = 0 end
if ARGV[6] ~= '' and month + amount > tonumber(ARGV[6]) + 1e-12 then fits = 0 end
if fits == 1 then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  local ttl = redis.call('PTTL', KEYS[1])
  local want = math.ceil((tonumber(ARGV[3]) - tonumber(ARGV[1])) * 1000) + 1000
  if ttl < want then redis.call('PEXPIRE', KEYS[1], want) end
end
return {fits, tostring(day), tostring(month)}
"""

# Appended to the outcome-recording script: KEYS[2] usage hash, KEYS[3] day spend, KEYS[4] month spend.
# ARGV[6] seconds the usage hash lives, ARGV[7] known cost, ARGV[8] seconds the spend keys live (a month at
# least, whatever retention_days says: budgets read them), ARGV[9] how many field/increment pairs follow.
RECORD_USAGE = """
local pairs_at = 10
for i = 0, tonumber(ARGV[9]) - 1 do
  local field = ARGV[pairs_at + 2 * i]
  local by = ARGV[pairs_at + 2 * i + 1]
  if string.sub(field, 1, 2) == 'c:' then
    redis.call('HINCRBYFLOAT', KEYS[2], field, by)
  else
    redis.call('HINCRBY', KEYS[2], field, by)
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[6])
if tonumber(ARGV[7]) > 0 then
  redis.call('INCRBYFLOAT', KEYS[3], ARGV[7])
  redis.call('EXPIRE', KEYS[3], ARGV[8])
  redis.call('INCRBYFLOAT', KEYS[4], ARGV[7])
  redis.call('EXPIRE', KEYS[4], ARGV[8])
end
"""


def usage_key(namespace: str, day: int) -> str:
    return f"orcli:{namespace}:usage:{day_name(day)}"


def spend_keys(namespace: str, now: float) -> tuple[str, str]:
    """The day's and the month's spend keys of `now` (UTC)."""
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    return f"orcli:{namespace}:spend:{day}", f"orcli:{namespace}:spend:{day[:7]}"


def reservations_key(namespace: str) -> str:
    return f"orcli:{namespace}:reservations"


def record_args(namespace: str, outcome: Outcome, retention_days: int) -> tuple[list[str], list[object]]:
    """The extra KEYS and ARGV of the recording EVAL for one attempt's usage."""
    day = int(outcome.at // DAY_S)
    names = ":".join(quote(n, safe="") for n in (outcome.profile or "", outcome.model, outcome.provider))
    counts = {
        "r": outcome.first_of_request,
        "rm": outcome.first_on_model,
        "rp": outcome.first_at_provider,
        "a": 1,
        "f": not outcome.ok,
        "pt": outcome.prompt_tokens or 0,
        "ct": outcome.completion_tokens or 0,
        "u": outcome.cost_usd is None,
        "e": outcome.tokens_estimated,
    }
    fields: list[object] = []
    for counter, by in counts.items():
        if by:
            fields += [f"{counter}:{names}", int(by)]
    if outcome.cost_usd:
        fields += [f"c:{names}", repr(outcome.cost_usd)]
    # A day's counters live `retention_days` past the end of their day.
    ttl = max(1, int((day + 1) * DAY_S + retention_days * DAY_S - outcome.at))
    keys = [usage_key(namespace, day), *spend_keys(namespace, outcome.at)]
    spend_ttl = max(ttl, int(SPEND_KEPT_DAYS * DAY_S))
    return keys, [ttl, repr(outcome.cost_usd or 0.0), spend_ttl, len(fields) // 2, *fields]


_REQUESTS = {"provider": "rp", "model": "rm", "endpoint": "a", "day": "r", "profile": "r"}


def report(
    client: Any, namespace: str, since: float, until: float, by: str, kept: tuple[float, int]
) -> tuple[list[UsageRow], UsageRow]:
    """Every UTC day overlapping [since, until) read in one pipeline, grouped by `by` in Python. Only days
    whose counters can still exist (`kept`: now, retention_days) are read: never one HGETALL per day since 1970."""
    now, retention_days = kept
    since, until = max(since, now - (retention_days + 2) * DAY_S), min(until, now + DAY_S)
    if until <= since:
        return [], UsageRow("total")
    first, last = int(since // DAY_S), int((until - 1e-6) // DAY_S)
    days = list(range(first, last + 1))
    replies = _checked(client.call([["HGETALL", usage_key(namespace, day)] for day in days]))
    rows: dict[str, UsageRow] = {}
    total = UsageRow("total")
    requests_counter = _REQUESTS[by]
    for day, flat in zip(days, replies, strict=True):
        for raw, raw_value in zip(flat[::2], flat[1::2], strict=True):  # HGETALL: field, value, field, ...
            counter, profile, model, provider = _field(raw)
            value = float(raw_value) if counter == "c" else int(raw_value)
            key = {
                "provider": provider,
                "model": model,
                "endpoint": f"{model} @ {provider}",
                "day": day_name(day),
                "profile": profile,
            }[by]
            row = rows.get(key) or UsageRow(key)
            rows[key] = row.plus(_one(counter, value, requests_counter))
            total = total.plus(_one(counter, value, "r"))
    return [rows[k] for k in sorted(rows)], total


def _field(raw: bytes | str) -> tuple[str, str, str, str]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    counter, profile, model, provider = text.split(":")
    return counter, unquote(profile), unquote(model), unquote(provider)


def _one(counter: str, value: float, requests_counter: str) -> UsageRow:
    """A row holding one counter's value in its column (requests only from the grouping's own counter)."""
    column = {"a": 2, "f": 3, "pt": 4, "ct": 5, "c": 6, "u": 7}.get(counter)
    values: list[Any] = ["", 0, 0, 0, 0, 0, 0.0, 0]
    if counter == requests_counter:
        values[1] = int(value)
    if column is not None:
        values[column] = value
    return UsageRow(*values)


def spend(client: Any, namespace: str, now: float) -> Spend:
    """The day's and the month's known spend plus the holds that have not lapsed, in one pipeline."""
    day_key, month_key = spend_keys(namespace, now)
    day, month, held_members = _checked(
        client.call(
            [["GET", day_key], ["GET", month_key], ["ZRANGEBYSCORE", reservations_key(namespace), f"({now!r}", "+inf"]]
        )
    )
    held = sum(_amount(m) for m in held_members)
    return Spend(float(day or 0) + held, float(month or 0) + held)


def _amount(member: bytes | str) -> float:
    text = member.decode() if isinstance(member, bytes) else member
    return float(text.rpartition(":")[2] or 0)


def reserve(
    client: Any, namespace: str, budget: BudgetSettings, amount: float, now: float, hold_s: float
) -> tuple[str | None, Spend]:
    """Check the budgets against the fleet's spend and hold `amount` in one EVAL: (member for `settle`, spend
    seen) or (None, the spend that refused it)."""
    member = f"{os.urandom(6).hex()}:{amount!r}"
    limits = ["" if v is None else repr(v) for v in (budget.daily_usd, budget.monthly_usd)]
    ((fits, day, month),) = _checked(
        client.call(
            [
                [
                    "EVAL",
                    RESERVE,
                    3,
                    reservations_key(namespace),
                    *spend_keys(namespace, now),
                    repr(now),
                    repr(amount),
                    repr(now + hold_s),
                    member,
                    *limits,
                ]
            ]
        )
    )
    seen = Spend(float(day), float(month))
    return (member if int(fits) == 1 else None), seen


def settle(client: Any, namespace: str, member: str) -> None:
    """Release a hold (a member `reserve` added)."""
    _checked(client.call([["ZREM", reservations_key(namespace), member]]))


def _checked(replies: list[Any]) -> list[Any]:
    """The replies of one pipeline, or the first error reply raised (the store falls back on it)."""
    for reply in replies:
        if isinstance(reply, RespError):
            raise reply
    return replies
