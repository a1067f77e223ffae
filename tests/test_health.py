"""Health derivation (docs/health.md#how-health-feeds-routing): window counts, stability, circuit breaker, 429 backoff, medians."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orcli.routing.health import Verdict, derive, history_horizon, max_open_period, open_period, short_error, verdict
from orcli.types import EndpointHealth, FailureClass, HealthSettings, HealthState, Outcome

S = HealthSettings(window=300.0, outage_window=30.0, cooldown=30.0)
P, M, R, C, X = (
    FailureClass.PROVIDER,
    FailureClass.MODEL,
    FailureClass.REQUEST,
    FailureClass.CANCELLED,
    FailureClass.STREAM,
)


def ok(at: float, **kw: object) -> Outcome:
    return Outcome(at=at, model="m", provider="p", ok=True, **kw)  # type: ignore[arg-type]


def fail(at: float, cls: FailureClass | None = P, status: int | None = 500, **kw: object) -> Outcome:
    return Outcome(at=at, model="m", provider="p", ok=False, error_class=cls, status=status, **kw)  # type: ignore[arg-type]


def limited(at: float, retry_after: float | None = None) -> Outcome:
    return fail(at, P, 429, retry_after=retry_after, error="rate limited")


def health(outcomes: list[Outcome], now: float, hs: HealthSettings = S) -> EndpointHealth:
    return derive(outcomes, now, hs).get("m", "p")


# --- verdicts -----------------------------------------------------------------------------------------

VERDICTS = [
    ("success", ok(0), Verdict.SUCCESS),
    ("provider 500", fail(0, P, 500), Verdict.FAILURE),
    ("provider no status (timeout)", fail(0, P, None), Verdict.FAILURE),
    ("broken stream", fail(0, X, None), Verdict.FAILURE),
    ("unclassified failure", fail(0, None, None), Verdict.FAILURE),
    ("503", fail(0, P, 503, retry_after=5), Verdict.FAILURE),
    ("429", limited(0), Verdict.RATE_LIMIT),
    ("429 without class", fail(0, None, 429), Verdict.RATE_LIMIT),
    ("model class", fail(0, M, 400), Verdict.NEUTRAL),
    ("model class 429", fail(0, M, 429), Verdict.NEUTRAL),
    ("request class", fail(0, R, 422), Verdict.NEUTRAL),
    ("cancelled", fail(0, C, None), Verdict.NEUTRAL),
]


@pytest.mark.parametrize(("outcome", "expected"), [v[1:] for v in VERDICTS], ids=[v[0] for v in VERDICTS])
def test_verdict_of_each_kind_of_outcome(outcome: Outcome, expected: Verdict) -> None:
    assert verdict(outcome) is expected


# --- circuit breaker ----------------------------------------------------------------------------------

BREAKER = [
    # (id, outcomes, now, expected fields)
    (
        "one failure does not open",
        [fail(0)],
        1,
        dict(state=HealthState.UNSTABLE, consecutive_failures=1, cooldown_left=0.0),
    ),
    (
        "two failures do not open",
        [fail(0), fail(1)],
        2,
        dict(state=HealthState.UNSTABLE, consecutive_failures=2, cooldown_left=0.0),
    ),
    (
        "three failures open for cooldown from the third",
        [fail(0), fail(1), fail(2)],
        3,
        dict(state=HealthState.COOLDOWN, consecutive_failures=3, cooldown_left=29.0, half_open=False),
    ),
    (
        "three broken streams open",
        [fail(0, X, None), fail(1, X, None), fail(2, X, None)],
        3,
        dict(state=HealthState.COOLDOWN, cooldown_left=29.0),
    ),
    (
        "a success resets the streak",
        [fail(0), fail(1), ok(2), fail(3)],
        4,
        dict(state=HealthState.UNSTABLE, consecutive_failures=1, cooldown_left=0.0),
    ),
    (
        "model failure neither breaks nor resets",
        [fail(0), fail(1), fail(2, M, 400), fail(3)],
        4,
        dict(state=HealthState.COOLDOWN, consecutive_failures=3, cooldown_left=29.0),
    ),
    (
        "request and cancelled neither break nor reset",
        [fail(0), fail(1, R, 422), fail(2, C, None), fail(3), fail(4)],
        5,
        dict(state=HealthState.COOLDOWN, consecutive_failures=3, cooldown_left=29.0),
    ),
    (
        "429 neither breaks nor resets",
        [fail(0), fail(1), limited(2, 1), fail(4)],
        5,
        dict(state=HealthState.COOLDOWN, consecutive_failures=3, cooldown_left=29.0),
    ),
    (
        "model failures alone never open",
        [fail(t, M, 400) for t in range(5)],
        5,
        dict(state=HealthState.HEALTHY, consecutive_failures=0, requests=0),
    ),
    (
        "failures while open keep the deadline",
        [fail(0), fail(1), fail(2), fail(10)],
        11,
        dict(state=HealthState.COOLDOWN, consecutive_failures=4, cooldown_left=21.0),
    ),
    (
        "half-open at the deadline exactly",
        [fail(0), fail(1), fail(2)],
        32,
        dict(state=HealthState.UNSTABLE, half_open=True, cooldown_left=0.0),
    ),
    (
        "half-open and stable is healthy",
        [fail(0), fail(1), fail(2)],
        100,
        dict(state=HealthState.HEALTHY, stable=True, half_open=True),
    ),
    (
        "half-open probe fails: re-trip doubled at once",
        [fail(0), fail(1), fail(2), fail(40)],
        41,
        dict(state=HealthState.COOLDOWN, cooldown_left=59.0, half_open=False, consecutive_failures=4),
    ),
    (
        "half-open probe succeeds: closed",
        [fail(0), fail(1), fail(2), ok(40)],
        41,
        dict(state=HealthState.HEALTHY, cooldown_left=0.0, half_open=False, consecutive_failures=0),
    ),
    (
        "neutral attempt does not decide half-open",
        [fail(0), fail(1), fail(2), fail(40, M, 400)],
        41,
        dict(half_open=True, cooldown_left=0.0),
    ),
    (
        "success while open closes",
        [fail(0), fail(1), fail(2), ok(5)],
        6,
        dict(cooldown_left=0.0, half_open=False, consecutive_failures=0),
    ),
    (
        "success resets the doubling",
        [fail(0), fail(1), fail(2), fail(40), ok(200), fail(201), fail(202), fail(203)],
        204,
        dict(state=HealthState.COOLDOWN, cooldown_left=29.0),
    ),
]


@pytest.mark.parametrize(("outcomes", "now", "expected"), [b[1:] for b in BREAKER], ids=[b[0] for b in BREAKER])
def test_breaker(outcomes: list[Outcome], now: float, expected: dict[str, object]) -> None:
    h = health(outcomes, now)
    assert {k: getattr(h, k) for k in expected} == expected


@pytest.mark.parametrize(
    ("retrips", "period"), [(0, 30), (1, 60), (2, 120), (3, 240), (4, 480), (5, 600), (6, 600), (9, 600)]
)
def test_each_failed_half_open_probe_doubles_the_period_capped_at_600(retrips: int, period: float) -> None:
    hs = HealthSettings(window=10_000)  # keep the whole chain inside the history horizon
    outcomes = [fail(0), fail(1), fail(2)]
    until = 2 + 30.0
    for _ in range(retrips):
        outcomes.append(fail(until))  # the probe, right when the breaker half-opens
        until = until + open_period(hs, len(outcomes) - 2)
    probe_at = outcomes[-1].at
    h = health(outcomes, probe_at + 1, hs)
    assert h.state is HealthState.COOLDOWN
    assert h.cooldown_left == pytest.approx(period - 1)


def test_a_breaker_chain_older_than_the_horizon_restarts_from_the_visible_failures() -> None:
    # Documented trade-off of the bounded read (module docstring): 1200 s of history by default.
    outcomes = [fail(0), fail(1), fail(2), fail(32), fail(92), fail(212), fail(452), fail(932), fail(1532)]
    full = health(outcomes, 1533, HealthSettings(window=10_000))
    bounded = health(outcomes, 1533)
    assert full.cooldown_left == 599
    assert bounded.cooldown_left == 29  # 452, 932, 1532 visible: a fresh trip
    assert bounded.consecutive_failures == 3


def test_outcomes_from_the_future_count_as_now() -> None:
    h = health([limited(1000)], 0)
    assert h.cooldown_left == 30
    assert h.last_error_age == 0


def test_open_period_doubles_from_cooldown_and_caps_at_600() -> None:
    assert [open_period(S, n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 600, 600]
    assert open_period(HealthSettings(cooldown=10), 3) == 40


def test_cooldown_longer_than_600_is_honoured_not_capped() -> None:
    hs = HealthSettings(cooldown=900)
    assert max_open_period(hs) == 900
    assert health([fail(0), fail(1), fail(2)], 3, hs).cooldown_left == 899


# --- 429 and Retry-After ------------------------------------------------------------------------------

BACKOFF = [
    ("429 Retry-After sets the backoff", [limited(0, 120)], 10, 110.0),
    ("429 without Retry-After waits cooldown", [limited(0)], 10, 20.0),
    ("a shorter later 429 never shortens the deadline", [limited(0, 120), limited(10, 5)], 20, 100.0),
    ("a longer later 429 extends it", [limited(0, 5), limited(10, 60)], 20, 50.0),
    ("deadline is absolute: passed means over", [limited(0, 5)], 6, 0.0),
    ("success does not lift a backoff", [limited(0, 120), ok(10)], 20, 100.0),
    ("a Retry-After beyond 600 s is capped", [limited(0, 86400)], 10, 590.0),
    ("503 Retry-After extends the cooldown", [fail(0, P, 503, retry_after=90)], 10, 80.0),
    ("breaker deadline wins over a shorter 503 wait", [fail(0), fail(1), fail(2, P, 503, retry_after=5)], 3, 29.0),
    ("a 503 wait beyond the breaker wins", [fail(0), fail(1), fail(2, P, 503, retry_after=100)], 3, 99.0),
]


@pytest.mark.parametrize(("outcomes", "now", "left"), [b[1:] for b in BACKOFF], ids=[b[0] for b in BACKOFF])
def test_backoff_deadline(outcomes: list[Outcome], now: float, left: float) -> None:
    h = health(outcomes, now)
    assert h.cooldown_left == pytest.approx(left)
    assert (h.state is HealthState.COOLDOWN) == (left > 0)


def test_429_does_not_lower_success_rate_or_make_unstable() -> None:
    h = health([ok(0), ok(1), limited(2, 1), limited(3, 1), ok(4)], 10)
    assert (h.requests, h.failures, h.success_rate) == (3, 0, 1.0)
    assert h.stable
    assert h.state is HealthState.HEALTHY
    assert h.last_error == "rate limited"


def test_503_counts_as_a_failure() -> None:
    h = health([ok(0), fail(1, P, 503, retry_after=2)], 5)
    assert (h.requests, h.failures, h.success_rate) == (2, 1, 0.5)
    assert not h.stable


# --- stability, counts, window ------------------------------------------------------------------------

STABILITY = [
    ("failure inside outage window", [fail(70)], 100, False, HealthState.UNSTABLE),
    ("failure exactly outage_window ago", [fail(70)], 100, False, HealthState.UNSTABLE),
    ("failure just before outage window", [fail(69.9)], 100, True, HealthState.HEALTHY),
    ("model failure is not an outage", [fail(99, M, 400)], 100, True, HealthState.HEALTHY),
    ("request failure is not an outage", [fail(99, R, 400)], 100, True, HealthState.HEALTHY),
    ("cancel is not an outage", [fail(99, C, None)], 100, True, HealthState.HEALTHY),
    ("broken stream is an outage", [fail(99, X, None)], 100, False, HealthState.UNSTABLE),
    ("a later success does not make it stable", [fail(90), ok(95)], 100, False, HealthState.UNSTABLE),
]


@pytest.mark.parametrize(
    ("outcomes", "now", "stable", "state"), [s[1:] for s in STABILITY], ids=[s[0] for s in STABILITY]
)
def test_stability(outcomes: list[Outcome], now: float, stable: bool, state: HealthState) -> None:
    h = health(outcomes, now)
    assert (h.stable, h.state) == (stable, state)


def test_neutral_failures_are_not_requests() -> None:
    h = health([ok(0), fail(1, M, 400), fail(2, R, 422), fail(3, C, None), fail(4)], 100)
    assert (h.requests, h.failures, h.success_rate) == (2, 1, 0.5)


def test_window_cutoff_counts_only_recent_outcomes_inclusive() -> None:
    outcomes = [fail(699), ok(700), fail(800), ok(900)]
    h = health(outcomes, 1000)  # window 300: [700, 1000]
    assert (h.requests, h.failures) == (3, 1)


def test_breaker_sees_failures_older_than_the_window() -> None:
    hs = HealthSettings(window=10, outage_window=5, cooldown=30)
    h = health([fail(0), fail(1), fail(2)], 20, hs)
    assert (h.requests, h.failures, h.success_rate) == (0, 0, None)
    assert h.state is HealthState.COOLDOWN
    assert h.cooldown_left == 12
    assert h.consecutive_failures == 3


def test_outcomes_older_than_the_history_horizon_are_ignored() -> None:
    horizon = history_horizon(S)
    assert horizon == 1200
    snap = derive([fail(0), fail(1), fail(2)], 2 + horizon + 1, S)
    assert snap.endpoints == {}
    assert snap.get("m", "p") == EndpointHealth()


def test_medians_of_successful_attempts_in_the_window() -> None:
    outcomes = [
        ok(0, ttft_s=100.0, tokens_per_s=1.0),  # outside the window
        ok(800, ttft_s=1.0, tokens_per_s=10.0),
        ok(801, ttft_s=3.0, tokens_per_s=20.0),
        ok(802, ttft_s=2.0),
        fail(803, ttft_s=50.0, tokens_per_s=1000.0),
    ]
    h = health(outcomes, 1000)
    assert (h.median_ttft, h.median_tps) == (2.0, 15.0)
    assert health([fail(1)], 2).median_ttft is None


def test_last_error_is_the_latest_provider_relevant_failure() -> None:
    h = health([fail(10, error="upstream 502"), fail(20, M, 400, error="context too long")], 25)
    assert (h.last_error, h.last_error_age) == ("upstream 502", 15.0)
    assert health([ok(1)], 2).last_error is None


def test_short_error_is_one_line_and_bounded() -> None:
    assert short_error(fail(0, error="a\n  b\tc")) == "a b c"
    assert short_error(fail(0, P, 502)) == "HTTP 502"
    assert short_error(fail(0, X, None)) == "stream failure"
    long = short_error(fail(0, error="x" * 500))
    assert len(long) == 120 and long.endswith("…")


def test_endpoints_are_kept_apart_and_input_order_does_not_matter() -> None:
    other = [Outcome(at=t, model="m", provider="q", ok=True) for t in (1, 2, 3)]
    mine = [fail(3), fail(1), fail(2)]
    snap = derive(other + mine, 4, S)
    assert snap.get("m", "p").state is HealthState.COOLDOWN
    assert snap.get("m", "q").state is HealthState.HEALTHY
    assert snap.get("m", "q").success_rate == 1.0
    assert snap.get("other", "p") == EndpointHealth()


def test_ten_thousand_outcomes_derive_quickly() -> None:
    rng = random.Random(7)
    classes = [P, M, X, None]
    outcomes = sorted(
        (
            Outcome(
                at=1e6 - rng.random() * 1200,
                model=f"m{rng.randrange(5)}",
                provider=f"p{rng.randrange(8)}",
                ok=rng.random() < 0.8,
                error_class=rng.choice(classes),
                status=rng.choice([429, 500, None]),
                ttft_s=rng.random(),
                tokens_per_s=rng.random() * 100,
            )
            for _ in range(10_000)
        ),
        key=lambda o: o.at,
    )
    best = min(_timed(lambda: derive(outcomes, 1e6, S)) for _ in range(3))
    assert best < 0.1  # a few ms on a laptop; generous for loaded CI machines


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


# --- properties ---------------------------------------------------------------------------------------

_outcome = st.builds(
    Outcome,
    at=st.floats(0, 2000, allow_nan=False),
    model=st.just("m"),
    provider=st.sampled_from(["p", "q"]),
    ok=st.booleans(),
    error_class=st.none() | st.sampled_from(FailureClass),
    status=st.none() | st.sampled_from([400, 429, 500, 503]),
    ttft_s=st.none() | st.floats(0, 10),
    tokens_per_s=st.none() | st.floats(0, 500),
    retry_after=st.none() | st.floats(0, 10_000),
)
_settings = st.builds(
    HealthSettings, window=st.floats(1, 1000), outage_window=st.floats(0, 100), cooldown=st.floats(0, 1000)
)


@given(st.lists(_outcome, max_size=60), st.floats(0, 3000), _settings)
@settings(max_examples=300, deadline=None)
def test_derived_health_is_always_coherent(outcomes: list[Outcome], now: float, hs: HealthSettings) -> None:
    for h in derive(outcomes, now, hs).endpoints.values():
        assert 0 <= h.failures <= h.requests
        assert h.success_rate is None or 0.0 <= h.success_rate <= 1.0
        assert 0.0 <= h.cooldown_left <= max_open_period(hs)
        assert (h.state is HealthState.COOLDOWN) == (h.cooldown_left > 0)
        assert h.state is not HealthState.UNSTABLE or not h.stable
        assert h.consecutive_failures >= 0


@given(st.lists(_outcome, max_size=40), st.lists(_outcome, max_size=20), st.floats(0, 3000))
@settings(max_examples=200, deadline=None)
def test_model_request_and_cancelled_outcomes_change_nothing(
    outcomes: list[Outcome], extra: list[Outcome], now: float
) -> None:
    neutral = [
        Outcome(at=o.at, model=o.model, provider=o.provider, ok=False, error_class=cls, status=o.status)
        for o, cls in zip(extra, [M, R, C] * len(extra), strict=False)
    ]
    # Sorting is stable, so place neutrals after equal-time outcomes either way.
    base = derive(outcomes, now, S).endpoints
    mixed = derive(outcomes + neutral, now, S).endpoints
    for key, h in base.items():
        # Cancelled attempts are shown (counted apart, in the window), and change nothing else.
        assert mixed[key]._replace(cancelled=h.cancelled) == h
    for key, h in mixed.items():
        window_start = now - S.window
        added = [
            o for o in neutral if (o.model, o.provider) == key and o.error_class is C and min(o.at, now) >= window_start
        ]
        assert h.cancelled == (base[key].cancelled if key in base else 0) + len(added)
    for key in mixed.keys() - base.keys():
        assert mixed[key].requests == 0 and mixed[key].state is HealthState.HEALTHY


@given(st.lists(_outcome, max_size=40, unique_by=lambda o: o.at), st.floats(0, 3000), st.randoms())
@settings(max_examples=200, deadline=None)
def test_input_order_does_not_matter(outcomes: list[Outcome], now: float, rnd: random.Random) -> None:
    shuffled = list(outcomes)
    rnd.shuffle(shuffled)
    assert derive(shuffled, now, S) == derive(outcomes, now, S)
