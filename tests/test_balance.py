"""The effective-price balance (`balance = "effective"`, docs/routing.md): adjusted prices, shares, the draw,
and how the planner and explain-route show them. Properties over generated endpoints (hypothesis)."""

from __future__ import annotations

import json
import random
from collections import Counter
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cli_explain import ALL_KEYS

from orcli.errors import UsageError
from orcli.routing import balance
from orcli.routing.ordering import Candidate
from orcli.routing.planner import plan
from orcli.routing.preferences import merge
from orcli.types import Endpoint, EndpointHealth, HealthSnapshot, HealthState, Price, Profile, Provider, Request

FAST = settings(max_examples=150, deadline=None)


def candidate(
    cost: float,
    ttft: float | None = 0.5,
    tps: float | None = 100.0,
    requests: int = 0,
    failures: int = 0,
    name: str = "p",
) -> Candidate:
    health = EndpointHealth(requests=requests, failures=failures, median_ttft=ttft, median_tps=tps)
    return Candidate(Endpoint("m", name, "m"), cost, health, 0)


STATS = st.tuples(
    st.floats(1e-6, 10.0),  # cost
    st.none() | st.floats(0.01, 30.0),  # ttft
    st.none() | st.floats(1.0, 2000.0),  # tokens/s
    st.integers(0, 50),  # requests
).flatmap(lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.just(t[2]), st.just(t[3]), st.integers(0, t[3])))
GROUPS = st.lists(STATS, min_size=1, max_size=12)


def build(group: list[tuple[float, float | None, float | None, int, int]]) -> list[Candidate]:
    return [candidate(c, t, s, r, f, name=f"p{i}") for i, (c, t, s, r, f) in enumerate(group)]


@FAST
@given(GROUPS)
def test_shares_sum_to_one_and_every_endpoint_keeps_at_least_one_percent(group: list) -> None:
    shares = [w.share for w in balance.weigh(build(group))]
    assert sum(shares) == pytest.approx(1.0)
    assert min(shares) >= balance.FLOOR - 1e-12


@FAST
@given(GROUPS, st.data())
def test_a_faster_endpoint_at_equal_price_gets_a_larger_share(group: list, data: st.DataObject) -> None:
    """Same price and history as another endpoint, but a shorter time to first token or a higher throughput."""
    cost, ttft, tps, requests, failures = data.draw(STATS)
    ttft = ttft or 1.0
    tps = tps or 100.0
    slow = (cost, ttft * data.draw(st.floats(1.5, 10)), tps, requests, failures)
    lazy = (cost, ttft, tps / data.draw(st.floats(1.5, 10)), requests, failures)
    better = (cost, ttft, tps, requests, failures)
    for worse in (slow, lazy):
        assert_ranks_first(group, better, worse)


def assert_ranks_first(group: list, better: tuple, worse: tuple) -> None:
    """`better` is strictly cheaper once adjusted, its share at least as large among any peers (both may sit on
    the floor beside a far cheaper peer, where floats cannot tell them apart), and strictly larger alone."""
    weighed = balance.weigh(build([*group, better, worse]))
    assert weighed[-2].adjusted_usd < weighed[-1].adjusted_usd
    assert weighed[-2].share >= weighed[-1].share
    alone = balance.weigh(build([better, worse]))
    assert alone[0].share > alone[1].share


@FAST
@given(GROUPS, STATS, st.floats(1.2, 20))
def test_a_cheaper_endpoint_at_equal_stats_gets_a_larger_share(group: list, stats: tuple, factor: float) -> None:
    cost, ttft, tps, requests, failures = stats
    assert_ranks_first(group, stats, (cost * factor, ttft, tps, requests, failures))


@FAST
@given(GROUPS, st.floats(1e-4, 1.0), st.integers(1, 20))
def test_recent_failures_shrink_a_share(group: list, cost: float, failures: int) -> None:
    assert_ranks_first(group, (cost, 0.5, 100, 20, 0), (cost, 0.5, 100, 20, failures))


def test_a_little_dearer_costs_little_far_dearer_costs_a_lot() -> None:
    """The fall-off is steep: 10% dearer keeps most of the traffic share; 3x dearer keeps only the floor."""
    near = balance.shares([1.0, 1.1])
    far = balance.shares([1.0, 3.0])
    assert 0.35 < near[1] < 0.5
    assert far[1] < 0.03


def test_an_endpoint_without_observations_is_priced_like_a_typical_peer() -> None:
    unknown = candidate(1.0, ttft=None, tps=None)
    peers = [candidate(1.0, ttft=0.5, tps=100), candidate(1.0, ttft=1.5, tps=300), candidate(1.0, ttft=1.0, tps=200)]
    adjusted = balance.adjusted_prices([*peers, unknown])
    assert adjusted[-1] == pytest.approx(adjusted[2])  # the median peer's factors


@settings(max_examples=12, deadline=None)
@given(st.lists(STATS, min_size=2, max_size=5))
def test_first_choice_frequency_matches_the_share_over_many_seeds(group: list) -> None:
    candidates = build(group)
    shares = [w.share for w in balance.weigh(candidates)]
    n = 4000
    firsts = Counter(balance.draw_order(shares, random.Random(seed))[0] for seed in range(n))
    for i, share in enumerate(shares):
        # Binomial: five standard deviations, plus a little for tiny shares.
        tolerance = 5 * (share * (1 - share) / n) ** 0.5 + 0.002
        assert abs(firsts[i] / n - share) <= tolerance, (i, share, firsts[i] / n)


def test_each_retry_is_drawn_the_same_way_from_those_left() -> None:
    """After the first pick, the second is by share among the rest: P(second = j | first = i) = s_j / (1 - s_i)."""
    shares = [0.6, 0.3, 0.1]
    n = 20_000
    seconds = Counter()
    for seed in range(n):
        order = balance.draw_order(shares, random.Random(seed))
        if order[0] == 0:
            seconds[order[1]] += 1
    total = sum(seconds.values())
    assert seconds[1] / total == pytest.approx(0.3 / 0.4, abs=0.03)


# -- the planner and the preference ---------------------------------------------------------------------
def profile(prices: dict[str, float], balance_value: str | None = "effective") -> Profile:
    providers = {p: Provider(p, f"https://{p}.example/v1") for p in prices}
    endpoints = tuple(Endpoint("m", p, "m", price=Price(c, c)) for p, c in prices.items())
    routing: dict[str, object] = {"models": ["m"]}
    if balance_value is not None:
        routing["balance"] = balance_value
    return Profile("t", "t.toml", MappingProxyType(providers), endpoints, MappingProxyType(routing))


def test_the_plan_gives_each_balanced_attempt_its_share_and_adjusted_price() -> None:
    prof = profile({"a": 1.0, "b": 2.0, "c": 3.0, "d": 1.5})
    health = HealthSnapshot(
        {("m", "d"): EndpointHealth(state=HealthState.UNSTABLE, stable=False, requests=1, failures=1)}
    )
    result = plan(prof, Request(), merge(prof.routing, {}), health, seed=3)
    balanced = [a for a in result.attempts if a.share is not None]
    assert {a.endpoint.provider for a in balanced} == {"a", "b", "c"}
    assert sum(a.share for a in balanced) == pytest.approx(1.0)
    assert all(a.adjusted_usd is not None and a.adjusted_usd >= a.cost_usd for a in balanced)
    assert result.attempts[-1].endpoint.provider == "d" and result.attempts[-1].share is None  # unstable: last
    assert "effective balance" in result.attempts[0].reason


def test_inverse_square_stays_the_default() -> None:
    prof = profile({"a": 1.0, "c": 3.0}, balance_value=None)
    prefs = merge(prof.routing, {})
    assert prefs.balance == "inverse-square"
    firsts = Counter(
        plan(prof, Request(), prefs, HealthSnapshot(), seed=s).attempts[0].endpoint.provider for s in range(2000)
    )
    assert firsts["a"] / 2000 == pytest.approx(0.9, abs=0.03)  # docs/routing.md's example: 1 : 1/9
    attempt = plan(prof, Request(), prefs, HealthSnapshot(), seed=1).attempts[0]
    assert attempt.adjusted_usd is None and attempt.share in (pytest.approx(0.9), pytest.approx(0.1))


def test_a_bad_balance_flag_names_the_choices() -> None:
    with pytest.raises(UsageError, match="--balance: expected one of inverse-square, effective"):
        merge({}, {"balance": "cheapest"})


# -- end to end -----------------------------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path):
    """explain-route's runner (tests/test_cli_explain.py): the real CLI, a scratch state dir, no real keys."""
    import test_cli_explain

    return test_cli_explain.cli.__wrapped__(tmp_path)


def test_explain_route_shows_shares_in_json_and_the_table(cli) -> None:
    run = cli(
        "explain-route", "--balance", "effective", "-m", "meta-llama/llama-3.3-70b-instruct", "--json", keys=ALL_KEYS
    )
    assert run.code == 0, run
    doc = json.loads(run.out)
    assert doc["preferences"]["balance"] == "effective"
    balanced = [a for a in doc["attempts"] if a["share"] is not None]
    assert len(balanced) >= 2
    assert sum(a["share"] for a in balanced) == pytest.approx(1.0, abs=1e-4)
    assert all(a["adjusted_usd"] >= a["price"]["expected_usd"] for a in balanced)
    table = cli("explain-route", "--balance", "effective", "-m", "meta-llama/llama-3.3-70b-instruct", keys=ALL_KEYS)
    assert table.code == 0, table
    for a in balanced:  # the shares do not depend on the draw: the table shows the same ones
        assert f"{a['share']:.0%} share" in table.out, table
    assert "balance" in table.out and "flag" in table.out  # the preferences table names where it came from


def test_a_bad_balance_is_exit_2(cli) -> None:
    run = cli("explain-route", "--balance", "cheap", "-m", "meta-llama/llama-3.3-70b-instruct", keys=ALL_KEYS)
    assert run.code == 2 and "inverse-square, effective" in run.err, run


def test_observed_health_moves_the_shares_in_the_plan() -> None:
    prof = profile({"fast": 1.0, "slow": 1.0, "flaky": 1.0})
    health = HealthSnapshot(
        {
            ("m", "fast"): EndpointHealth(requests=10, median_ttft=0.2, median_tps=200),
            ("m", "slow"): EndpointHealth(requests=10, median_ttft=3.0, median_tps=200),
            ("m", "flaky"): EndpointHealth(requests=10, failures=4, median_ttft=0.2, median_tps=200),
        }
    )
    attempts = plan(prof, Request(), merge(prof.routing, {}), health, seed=1).attempts
    share = {a.endpoint.provider: a.share for a in attempts}
    assert share["fast"] > share["flaky"] > share["slow"] >= 0.01


def test_an_unknown_price_stays_outside_the_effective_draw() -> None:
    prof = profile({"a": 1.0, "b": 2.0})
    prof = prof._replace(
        providers=MappingProxyType({**prof.providers, "u": Provider("u", "https://u.example/v1")}),
        endpoints=(*prof.endpoints, Endpoint("m", "u", "m")),
    )
    attempts = plan(prof, Request(), merge(prof.routing, {}), HealthSnapshot(), seed=2).attempts
    assert attempts[-1].endpoint.provider == "u" and attempts[-1].share is None
    assert attempts[-1].reason == "price unknown: after priced stable endpoints"
    assert sum(a.share for a in attempts[:-1]) == pytest.approx(1.0)
