"""Outcomes + now -> HealthSnapshot: window counts, stability, circuit breaker, backoff (docs/health.md#how-health-feeds-routing); pure.

Every outcome gets one verdict (see `verdict`):

- success: `ok`. A request; resets the failure streak; closes the breaker and resets its doubling.
- counted failure: `provider` class (except 429), `stream` class, or a failure with no class (an outcome
  the store could not classify is treated as the provider's fault). A request and a failure; extends the
  streak; drives the breaker; a `retry_after` on it (503) also sets a backoff.
- rate limit: status 429 (class `provider` or none). Not a request, not a failure, does not touch the
  streak, stability or the breaker; sets a backoff until `at + (retry_after or cooldown)`.
- neutral: `model`, `request` and `cancelled` classes. They say nothing about the provider: not counted as
  requests (so they cannot raise or lower the success rate), and they neither break nor reset the streak.

Time ranges:

- `requests`, `failures`, the medians: outcomes with `at >= now - window`.
- `stable`: no counted failure with `at >= now - outage_window`.
- breaker, backoff, `consecutive_failures`, `last_error`: every outcome since `now - history_horizon`,
  which is at least twice the longest open period (1200 s with defaults), so a trip and its half-open probe
  stay visible whatever the window; older outcomes are ignored here even when the caller passes them, so the
  result does not depend on how much history the store happened to return. Read the store with
  `since = now - history_horizon(settings)`. The price of a bounded read: an outage whose breaker chain
  began before the horizon restarts its doubling from the failures still visible (a long-dead endpoint is
  probed after 30, 60, ... s again rather than every 600 s); reading hours of rows on every call would cost
  more than those few extra failed attempts.
- outcomes dated after `now` (clock skew between processes) count as happening at `now`.

Circuit breaker: 3 consecutive counted failures open it for `cooldown` s from the third one's `at`. Counted
failures while it is open do not move the deadline. After the deadline the endpoint is half-open
(`half_open=True`) until an attempt decides: a failure re-trips it at once with double the previous period
(30, 60, 120, ... capped at `max_open_period`: 600 s, or `cooldown` if that is larger); a success closes it
and resets the doubling. A success while still open closes it too (the provider evidently serves).

Backoff (429, and 503 with Retry-After): an absolute deadline; the latest deadline wins, so a shorter or
earlier one never shortens it, and a success does not lift it (the provider asked us to wait). One backoff
is capped at `max_open_period` so it always fits inside the history horizon.

state: COOLDOWN while the breaker is open or a backoff runs (`cooldown_left` = the later deadline - now);
else UNSTABLE when not stable; else HEALTHY. A half-open endpoint is HEALTHY or UNSTABLE by stability
alone, flagged by `half_open`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from operator import attrgetter

from orcli.types import EndpointHealth, FailureClass, HealthSettings, HealthSnapshot, HealthState, Outcome

BREAKER_THRESHOLD = 3
MAX_OPEN_PERIOD = 600.0
_ERROR_CHARS = 120
_AT = attrgetter("at")


class Verdict(Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    RATE_LIMIT = "rate_limit"
    NEUTRAL = "neutral"


_NEUTRAL_CLASSES = frozenset({FailureClass.MODEL, FailureClass.REQUEST, FailureClass.CANCELLED})


def verdict(outcome: Outcome) -> Verdict:
    """What one outcome says about its endpoint's health (module docstring)."""
    if outcome.ok:
        return Verdict.SUCCESS
    cls = outcome.error_class
    if cls in _NEUTRAL_CLASSES:
        return Verdict.NEUTRAL
    if outcome.status == 429 and cls in (FailureClass.PROVIDER, None):
        return Verdict.RATE_LIMIT
    return Verdict.FAILURE


def max_open_period(settings: HealthSettings) -> float:
    """Longest breaker period or backoff: 600 s, or the configured cooldown if larger."""
    return max(MAX_OPEN_PERIOD, settings.cooldown)


def open_period(settings: HealthSettings, trips: int) -> float:
    """Breaker period for the n-th consecutive trip (1-based): cooldown doubled per re-trip, capped."""
    return min(settings.cooldown * 2.0 ** min(trips - 1, 64), max_open_period(settings))


def history_horizon(settings: HealthSettings) -> float:
    """Seconds of history `derive` looks at: the window, or twice the longest period if longer."""
    return max(settings.window, settings.outage_window, 2 * max_open_period(settings))


def short_error(outcome: Outcome) -> str:
    """One line, at most 120 characters, naming what went wrong."""
    if outcome.error:
        text = " ".join(outcome.error.split())
    elif outcome.status is not None:
        text = f"HTTP {outcome.status}"
    elif outcome.error_class is not None:
        text = f"{outcome.error_class.value} failure"
    else:
        text = "failed"
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


def derive(outcomes: Iterable[Outcome], now: float, settings: HealthSettings) -> HealthSnapshot:
    """Health of every (model, provider) with an outcome in the history horizon, as of `now`."""
    start = now - history_horizon(settings)
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for o in outcomes:
        if o.at >= start:
            key = (o.model, o.provider)
            rows = groups.get(key)
            if rows is None:
                groups[key] = [o]
            else:
                rows.append(o)
    endpoints: dict[tuple[str, str], EndpointHealth] = {}
    for key, rows in groups.items():
        rows.sort(key=_AT)  # timsort: near-free on the store's already ordered rows
        endpoints[key] = _derive_endpoint(rows, now, settings)
    return HealthSnapshot(endpoints=endpoints)


def _derive_endpoint(rows: list[Outcome], now: float, settings: HealthSettings) -> EndpointHealth:
    MODEL, REQUEST, CANCELLED = FailureClass.MODEL, FailureClass.REQUEST, FailureClass.CANCELLED
    PROVIDER = FailureClass.PROVIDER
    window_start = now - settings.window
    cap = max_open_period(settings)
    requests = failures = streak = trips = cancelled = 0
    open_until: float | None = None  # None: breaker closed
    backoff_until = float("-inf")
    last_failure_at: float | None = None
    last_error: Outcome | None = None
    ttfts: list[float] = []
    tpss: list[float] = []

    # verdict() inlined: this loop runs once per outcome and must stay cheap (10k outcomes in a few ms).
    for o in rows:
        at = o.at
        if at > now:  # clock skew between processes: an outcome from "the future" happened now
            at = now
        if o.ok:
            streak = trips = 0
            open_until = None
            if at >= window_start:
                requests += 1
                if o.ttft_s is not None:
                    ttfts.append(o.ttft_s)
                if o.tokens_per_s is not None:
                    tpss.append(o.tokens_per_s)
            continue
        cls = o.error_class
        if cls is CANCELLED:
            cancelled += at >= window_start  # shown (a client that keeps leaving is worth seeing), never counted
            continue
        if cls is MODEL or cls is REQUEST:
            continue
        if o.status == 429 and (cls is PROVIDER or cls is None):
            wait = settings.cooldown if o.retry_after is None else max(o.retry_after, 0.0)
            backoff_until = max(backoff_until, at + min(wait, cap))
            last_error = o
            continue
        streak += 1
        last_failure_at = at
        last_error = o
        if at >= window_start:
            requests += 1
            failures += 1
        if open_until is None:
            if streak >= BREAKER_THRESHOLD:
                trips = 1
                open_until = at + open_period(settings, trips)
        elif at >= open_until:
            # docs/health.md#how-health-feeds-routing: the half-open attempt failed: re-trip at once, period doubled.
            trips += 1
            open_until = at + open_period(settings, trips)
        if o.retry_after is not None:
            # docs/failures.md#failure-classes: a 503's Retry-After extends the cooldown; never shortens a later deadline.
            backoff_until = max(backoff_until, at + min(max(o.retry_after, 0.0), cap))

    breaker_left = 0.0 if open_until is None else open_until - now
    cooldown_left = min(max(breaker_left, backoff_until - now, 0.0), cap)  # min: float rounding
    stable = last_failure_at is None or last_failure_at < now - settings.outage_window
    if cooldown_left > 0:
        state = HealthState.COOLDOWN
    elif not stable:
        state = HealthState.UNSTABLE
    else:
        state = HealthState.HEALTHY
    return EndpointHealth(
        state=state,
        stable=stable,
        cooldown_left=cooldown_left,
        requests=requests,
        failures=failures,
        consecutive_failures=streak,
        last_error=None if last_error is None else short_error(last_error),
        last_error_age=None if last_error is None else max(now - last_error.at, 0.0),
        median_ttft=_median(ttfts) if ttfts else None,
        median_tps=_median(tpss) if tpss else None,
        half_open=open_until is not None and now >= open_until,
        cancelled=cancelled,
    )


def _median(values: list[float]) -> float:
    """The median; statistics.median would add ~9 ms of imports to every orcli start."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
