"""Properties of the planner over generated profiles, preferences, requests and health (hypothesis).

The hard filters are re-implemented here from docs/routing.md#rejections, independently of the planner's own filter functions,
so the tests check the planner against the contract rather than against itself.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from types import MappingProxyType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orcli.routing.planner import plan
from orcli.types import (
    Endpoint,
    EndpointHealth,
    HealthSnapshot,
    HealthState,
    MaxPrice,
    Partition,
    Plan,
    Preferences,
    Price,
    Profile,
    Provider,
    RejectionCode,
    Request,
    Sort,
)

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PROVIDER_NAMES = ["a", "a/x", "aa", "b", "b/y", "c"]  # "aa": a base name is not a prefix
RULE_NAMES = [*PROVIDER_NAMES, "zz", "a/q"]  # includes names no provider bears
MODELS = ["m1", "m2"]
PARAMS = ["temperature", "top_p", "max_tokens", "seed", "tools", "tool_choice", "response_format"]
SOFT = {"tools", "tool_choice", "response_format"}
QUANTS = [None, "fp8", "bf16", "fp16", "mxfp8", "mxfp4", "int4"]
# Endpoints support most parameters (all but up to two); requests use few: otherwise the parameter filters
# alone would reject nearly everything.
ENDPOINT_PARAMS = st.sets(st.sampled_from(PARAMS), max_size=2).map(lambda drop: frozenset(PARAMS) - drop)
REQUEST_PARAMS = st.sets(st.sampled_from(PARAMS), max_size=2).map(frozenset)

# Strategies are built once: building them inside @st.composite on every draw dominated the run time.
PRICES = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.0, 3.0]), st.floats(0, 20, allow_nan=False))
ENDPOINT_FIELDS = st.tuples(
    PRICES,
    PRICES,
    st.sampled_from([0.0, 0.0, 0.0, 0.001]),
    st.none() | st.sampled_from([1000, 4000, 32_000, 200_000]),
    st.none() | st.sampled_from([500, 2000, 16_000]),
    st.sampled_from(QUANTS),
    ENDPOINT_PARAMS,
    st.none() | st.floats(0.05, 3.0),
    st.none() | st.floats(5.0, 500.0),
    st.sampled_from([True, True, True, True, False]),  # priced; False: the profile gives no price (unknown)
)
PROVIDER_FIELDS = st.tuples(st.booleans(), st.sampled_from(["allow", "deny"]), st.booleans())
PROVIDER_SETS = st.lists(st.sampled_from(PROVIDER_NAMES), min_size=2, max_size=5, unique=True)
OFTEN = st.sampled_from([True, True, False])
# Filters are drawn "off" more often than "on": with every filter a coin toss almost no endpoint would survive
# them all, and the properties about planned endpoints would rarely be exercised.
RARELY = st.sampled_from([False, False, False, True])
NAMES = {n: st.lists(st.sampled_from(RULE_NAMES), min_size=1, max_size=n, unique=True).map(tuple) for n in (2, 3)}
QUANT_PREFS = st.lists(st.sampled_from(["fp8", "bf16", "fp4", "int4"]), min_size=1, max_size=2, unique=True).map(tuple)
MODEL_PREFS = st.lists(st.sampled_from([*MODELS, "m9"]), min_size=1, max_size=3, unique=True).map(tuple)
CAP = st.one_of(st.none(), st.sampled_from([0.0, 0.1, 0.45, 0.5, 0.95, 1.0, 5.0]))  # at or just under PRICES
POLICY_PREFS = st.tuples(
    st.sampled_from([True, True, False]), RARELY, st.sampled_from(["allow", "allow", "deny"]), RARELY, st.booleans()
)
SOFT_PREFS = st.tuples(st.none() | st.sampled_from([0.3, 1.0]), st.none() | st.sampled_from([50.0, 200.0]))
SORTS = st.none() | st.sampled_from(list(Sort))
PARTITIONS = st.sampled_from(list(Partition))
HEALTH_KINDS = st.sampled_from(["healthy", "unstable", "cooldown", "half_open", "half_open_unstable", "backoff"])
HEALTH_FIELDS = st.tuples(
    HEALTH_KINDS,
    st.none() | st.floats(0.01, 5.0),
    st.none() | st.floats(1.0, 1000.0),
    st.booleans(),
    st.floats(1.0, 600.0),
)
# Sizes near the generated limits (context 1000/4000/32000, max completion 500/2000/16000) hit the boundaries.
PROMPT_TOKENS = st.one_of(
    st.sampled_from([1, 500, 999, 1000, 1001, 2000, 3000, 3500, 4000, 30_000]), st.integers(1, 60_000)
)
MAX_TOKENS = st.one_of(st.none(), st.sampled_from([500, 501, 1000, 2000, 2001, 16_000]), st.integers(1, 20_000))
REQUEST_FIELDS = st.tuples(PROMPT_TOKENS, MAX_TOKENS, REQUEST_PARAMS, st.booleans())
SMALL_REQUEST_FIELDS = st.tuples(st.integers(1, 900), st.just(None), st.just(frozenset()), st.booleans())


# -- strategies ---------------------------------------------------------------------------------------
def make_endpoint(model: str, provider: str, fields: tuple) -> Endpoint:
    prompt, completion, request, context, max_out, quant, params, latency, throughput, priced = fields
    return Endpoint(
        model=model,
        provider=provider,
        upstream_model=f"{provider}:{model}",
        price=Price(prompt, completion, request) if priced else None,
        context_length=context,
        max_completion_tokens=max_out,
        quantization=quant,
        parameters=params,
        latency=latency,
        throughput=throughput,
    )


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    names = draw(PROVIDER_SETS)
    providers = {}
    for n in names:
        keyed, policy, zdr = draw(PROVIDER_FIELDS)
        providers[n] = Provider(
            name=n,
            base_url=f"https://{n.replace('/', '-')}.example/v1",
            api_key_env=f"{n.replace('/', '_').upper()}_KEY" if keyed else None,
            data_collection=policy,
            zdr=zdr,
        )
    pairs = [(m, n) for n in names for m in MODELS if draw(OFTEN)]
    eps = tuple(make_endpoint(m, p, draw(ENDPOINT_FIELDS)) for m, p in pairs)
    return Profile(
        name="gen", path="gen.toml", providers=MappingProxyType(providers), endpoints=eps, routing=MappingProxyType({})
    )


@st.composite
def preferences(draw: st.DrawFn, sort: Sort | None | str = "any", filters: bool = True) -> Preferences:
    """With filters=False only ordering preferences (and skip_unhealthy) vary: nearly everything is planned."""
    chosen = draw(SORTS) if sort == "any" else sort
    if filters:
        allow_fallbacks, require_parameters, data_collection, zdr, skip_unhealthy = draw(POLICY_PREFS)
    else:
        allow_fallbacks, require_parameters, data_collection, zdr, skip_unhealthy = True, False, "allow", False, False
        skip_unhealthy = draw(RARELY)
    maybe = RARELY if filters else st.just(False)
    max_latency, min_throughput = draw(SOFT_PREFS)
    return Preferences(
        models=draw(MODEL_PREFS),
        sort=chosen,  # type: ignore[arg-type]
        # partition "none" needs a sort (preferences.merge refuses it otherwise)
        partition=draw(PARTITIONS) if chosen is not None else Partition.MODEL,
        order=draw(NAMES[3]) if draw(st.booleans()) else (),
        allow_fallbacks=allow_fallbacks,
        only=draw(NAMES[3]) if draw(maybe) else (),
        ignore=draw(NAMES[2]) if draw(maybe) else (),
        require_parameters=require_parameters,
        data_collection=data_collection,
        zdr=zdr,
        quantizations=draw(QUANT_PREFS) if draw(maybe) else (),
        max_price=MaxPrice(draw(CAP), draw(CAP), draw(CAP)) if draw(maybe) else MaxPrice(),
        preferred_max_latency=max_latency,
        preferred_min_throughput=min_throughput,
        skip_unhealthy=skip_unhealthy,
    )


def make_request(fields: tuple) -> Request:
    prompt_tokens, max_tokens, params, prompt_given = fields
    if max_tokens is not None:
        params = params | {"max_tokens"}  # as route.py does for --max-tokens
    return Request(prompt_tokens=prompt_tokens, max_tokens=max_tokens, parameters=params, prompt_given=prompt_given)


def make_health(fields: tuple) -> EndpointHealth:
    """Consistent with health.py: COOLDOWN while a breaker period or backoff runs; half-open is HEALTHY or
    UNSTABLE (COOLDOWN plus half_open = a Retry-After backoff still running after the breaker period)."""
    kind, ttft, tps, coin, left = fields
    state = {
        "healthy": HealthState.HEALTHY,
        "half_open": HealthState.HEALTHY,
        "unstable": HealthState.UNSTABLE,
        "half_open_unstable": HealthState.UNSTABLE,
    }.get(kind, HealthState.COOLDOWN)
    stable = kind in ("healthy", "half_open") or (kind in ("backoff", "cooldown") and coin)
    return EndpointHealth(
        state=state,
        stable=stable,
        cooldown_left=left if state is HealthState.COOLDOWN else 0.0,
        requests=3,
        failures=0 if kind == "healthy" else 1,
        last_error=None if kind == "healthy" else "HTTP 503",
        last_error_age=None if kind == "healthy" else 5.0,
        median_ttft=ttft,
        median_tps=tps,
        half_open=kind in ("half_open", "half_open_unstable", "backoff"),
    )


@st.composite
def scenarios(draw: st.DrawFn, sort: Sort | None | str = "any", filters: bool = True):
    """(profile, request, preferences, health, providers with their key set, seed)."""
    profile = draw(profiles())
    snapshot = HealthSnapshot({e.key: make_health(draw(HEALTH_FIELDS)) for e in profile.endpoints if draw(OFTEN)})
    names = list(profile.providers)
    # providers whose key env var is unset
    keyless = draw(st.sets(st.sampled_from(names), max_size=2)) if filters else set()
    request = make_request(draw(REQUEST_FIELDS if filters else SMALL_REQUEST_FIELDS))
    return profile, request, draw(preferences(sort, filters)), snapshot, set(names) - keyless, draw(SEEDS)


SEEDS = st.integers(0, 2**32)


def has_key_for(keyed: set[str]) -> Callable[[Provider], bool]:
    return lambda p: p.api_key_env is None or p.name in keyed


# -- docs/routing.md#rejections re-implemented ---------------------------------------------------------------------------
def matches(rule: str, name: str) -> bool:
    """A base name matches every variant; a full name only itself."""
    return rule == name or ("/" not in rule and name.split("/")[0] == rule)


# orcli documents that a requested fp4/fp8 also admits the finer formats OpenRouter files under it.
FAMILY = {"fp4": {"mxfp4", "nvfp4"}, "fp8": {"mxfp8"}}


def policy_code(e: Endpoint, p: Provider, prefs: Preferences) -> RejectionCode | None:
    """The first of the provider/policy filters of docs/routing.md#rejections this endpoint fails, in table order."""
    if any(matches(r, p.name) for r in prefs.ignore):
        return RejectionCode.IGNORED
    if prefs.only and not any(matches(r, p.name) for r in prefs.only):
        return RejectionCode.NOT_IN_ONLY
    if not prefs.allow_fallbacks and prefs.order and not any(matches(r, p.name) for r in prefs.order):
        return RejectionCode.NOT_IN_ORDER
    if prefs.data_collection == "deny" and p.data_collection == "allow":
        return RejectionCode.DATA_COLLECTION
    if prefs.zdr and not p.zdr:
        return RejectionCode.ZDR
    if prefs.quantizations:
        q = e.quantization or "unknown"
        if not any(q == w or q in FAMILY.get(w, set()) for w in prefs.quantizations):
            return RejectionCode.QUANTIZATION
    return None


def expected_code(
    e: Endpoint, profile: Profile, request: Request, prefs: Preferences, snapshot: HealthSnapshot, keyed: set[str]
) -> RejectionCode | None:
    """The code docs/routing.md#rejections gives this candidate (the first failing filter in table order), or None: planned."""
    p = profile.providers[e.provider]
    code = policy_code(e, p, prefs)
    if code:
        return code
    needed = set(request.parameters) if prefs.require_parameters else set()
    siblings = [
        f for f in profile.endpoints if f.model == e.model and not policy_code(f, profile.providers[f.provider], prefs)
    ]
    needed |= {s for s in request.parameters & SOFT if any(s in f.parameters for f in siblings)}
    if needed - e.parameters:
        return RejectionCode.MISSING_PARAMETERS
    if e.context_length is not None and request.prompt_tokens + (request.max_tokens or 0) > e.context_length:
        return RejectionCode.CONTEXT_LENGTH
    mct = e.max_completion_tokens
    if request.max_tokens is not None and mct is not None and request.max_tokens > mct:
        return RejectionCode.MAX_TOKENS
    if e.price is None and prefs.max_price.is_set():
        return RejectionCode.MAX_PRICE  # unknown is not free: no ceiling can be checked against it
    for part in ("prompt", "completion", "request"):
        cap = getattr(prefs.max_price, part)
        if cap is not None and e.price is not None and getattr(e.price, part) > cap:
            return RejectionCode.MAX_PRICE
    if not has_key_for(keyed)(p):
        return RejectionCode.NO_CREDENTIALS
    if prefs.skip_unhealthy and snapshot.get(e.model, e.provider).state is not HealthState.HEALTHY:
        return RejectionCode.UNHEALTHY
    return None


def cost(e: Endpoint, request: Request) -> float | None:
    if e.price is None:
        return None
    completion = request.max_tokens if request.max_tokens is not None else 1000
    return (e.price.prompt * request.prompt_tokens + e.price.completion * completion) / 1e6 + e.price.request


def run(profile, request, prefs, snapshot, keyed, seed) -> Plan:
    return plan(profile, request, prefs, snapshot, seed=seed, has_key=has_key_for(keyed))


def candidates(profile: Profile, prefs: Preferences) -> list[tuple[str, str]]:
    return [e.key for e in profile.endpoints if e.model in prefs.models]


# -- properties ---------------------------------------------------------------------------------------
# Generating a scenario costs far more than planning it, so the invariants share one @given: each is a
# named check below, and a failure names the check that broke.
def check_every_candidate_appears_exactly_once(scenario, p: Plan) -> None:
    profile, request, prefs, snapshot, keyed, seed = scenario
    planned = [a.endpoint.key for a in p.attempts]
    rejected = [(r.model, r.provider) for r in p.rejected]
    counts = Counter(planned + rejected)
    assert set(counts) == set(candidates(profile, prefs))
    assert all(n == 1 for n in counts.values()), counts
    assert not set(planned) & set(rejected)


def check_every_planned_endpoint_passes_every_hard_filter(scenario, p: Plan) -> None:
    profile, request, prefs, snapshot, keyed, seed = scenario
    for a in p.attempts:
        e = a.endpoint
        prov = profile.providers[e.provider]
        assert not any(matches(r, prov.name) for r in prefs.ignore)
        assert not prefs.only or any(matches(r, prov.name) for r in prefs.only)
        assert prefs.allow_fallbacks or not prefs.order or any(matches(r, prov.name) for r in prefs.order)
        assert prefs.data_collection == "allow" or prov.data_collection == "deny"
        assert not prefs.zdr or prov.zdr
        assert policy_code(e, prov, prefs) is None  # quantization too
        assert not prefs.require_parameters or request.parameters <= e.parameters
        assert e.context_length is None or request.prompt_tokens + (request.max_tokens or 0) <= e.context_length
        mct = e.max_completion_tokens
        assert request.max_tokens is None or mct is None or request.max_tokens <= mct
        assert e.price is not None or not prefs.max_price.is_set()
        for part in ("prompt", "completion", "request"):
            cap = getattr(prefs.max_price, part)
            assert cap is None or getattr(e.price, part) <= cap
        assert has_key_for(keyed)(prov)
        assert not prefs.skip_unhealthy or a.health.state is HealthState.HEALTHY
        assert a.health == snapshot.get(e.model, e.provider)
        expected = cost(e, request)
        assert (a.cost_usd is None) == (expected is None), "an unknown price has no expected cost, never 0"
        assert expected is None or math.isclose(a.cost_usd, expected, rel_tol=1e-9, abs_tol=1e-15)


def check_every_candidate_gets_the_code_of_the_first_filter_it_fails(scenario, p: Plan) -> None:
    profile, request, prefs, snapshot, keyed, seed = scenario
    codes = {(r.model, r.provider): r.code for r in p.rejected}
    for e in profile.endpoints:
        if e.model in prefs.models:
            assert codes.get(e.key) == expected_code(e, profile, request, prefs, snapshot, keyed), e.key
    assert all(r.detail for r in p.rejected)


def check_soft_parameters_are_all_or_nothing_within_a_model(scenario, p: Plan) -> None:
    profile, request, prefs, snapshot, keyed, seed = scenario
    for model in prefs.models:
        planned = [a.endpoint for a in p.attempts if a.endpoint.model == model]
        for s in request.parameters & SOFT:
            assert len({s in e.parameters for e in planned}) <= 1


def check_the_same_seed_gives_the_same_plan(scenario, p: Plan) -> None:
    profile, request, prefs, snapshot, keyed, seed = scenario
    assert run(*scenario) == p
    again = plan(profile, request, prefs, snapshot, has_key=has_key_for(keyed), rng=random.Random(seed))
    assert [a.endpoint.key for a in again.attempts] == [a.endpoint.key for a in p.attempts]


def check_ranks_are_one_to_n(scenario, p: Plan) -> None:
    assert [a.rank for a in p.attempts] == list(range(1, len(p.attempts) + 1))


def check_models_in_preference_order_with_cooldown_last_in_each(scenario, p: Plan) -> None:
    profile, request, prefs, snapshot, keyed, seed = scenario
    if prefs.partition is Partition.MODEL:
        ranks = [prefs.models.index(a.endpoint.model) for a in p.attempts]
        assert ranks == sorted(ranks)
    for group in _groups(p, prefs):
        cooling = [a.health.state is HealthState.COOLDOWN for a in group]
        assert cooling == sorted(cooling), "endpoints in cooldown go last"


INVARIANTS = [
    check_every_candidate_appears_exactly_once,
    check_every_planned_endpoint_passes_every_hard_filter,
    check_every_candidate_gets_the_code_of_the_first_filter_it_fails,
    check_soft_parameters_are_all_or_nothing_within_a_model,
    check_the_same_seed_gives_the_same_plan,
    check_ranks_are_one_to_n,
    check_models_in_preference_order_with_cooldown_last_in_each,
]


@settings(FAST, max_examples=150)
@given(scenarios())
def test_planner_invariants_hold_for_generated_profiles_preferences_and_health(scenario) -> None:
    p = run(*scenario)
    for check in INVARIANTS:
        check(scenario, p)


@FAST
@given(scenarios(filters=False))
def test_planner_invariants_hold_when_only_ordering_preferences_vary(scenario) -> None:
    p = run(*scenario)
    for check in INVARIANTS:
        check(scenario, p)


def _misses_soft(a, prefs: Preferences) -> bool:
    h, e = a.health, a.endpoint
    latency = h.median_ttft if h.median_ttft is not None else e.latency
    throughput = h.median_tps if h.median_tps is not None else e.throughput
    slow = prefs.preferred_max_latency is not None and latency is not None and latency > prefs.preferred_max_latency
    thin = (
        prefs.preferred_min_throughput is not None
        and throughput is not None
        and throughput < prefs.preferred_min_throughput
    )
    return slow or thin


def _groups(p: Plan, prefs: Preferences) -> list[list]:
    if prefs.partition is Partition.NONE:
        return [list(p.attempts)]
    return [[a for a in p.attempts if a.endpoint.model == m] for m in prefs.models]


@FAST
@given(scenarios(sort=Sort.PRICE, filters=False))
def test_sort_price_is_non_decreasing_in_expected_cost_within_each_segment(scenario) -> None:
    """Within a model (or the whole plan with partition none) the price sort holds segment by segment.

    Segments, as ordering.py builds them (docs/routing.md#ordering): endpoints pinned by `order` come first in `order`'s
    order, not by price (docs/routing.md), so they are excluded; the rest are sorted by price with unstable endpoints
    (a recent outage) after the stable ones (docs/routing.md), then those missing a soft preference are moved after those
    that meet it (docs/routing.md), and then every endpoint in cooldown (state COOLDOWN, half-open or not) is moved to
    the back keeping its relative order (docs/routing.md). Each move can put a cheaper endpoint after a dearer one, so
    the non-decreasing check runs within each (in cooldown, misses a soft preference, unstable) segment of
    the unpinned endpoints, and the segments must come in that order.
    """
    profile, request, prefs, snapshot, keyed, seed = scenario
    p = run(*scenario)
    for group in _groups(p, prefs):
        pinned_done = False
        last_segment = (False, False, False)
        last_cost: dict[tuple[bool, bool, bool], float] = {}
        for a in group:
            cooling = a.health.state is HealthState.COOLDOWN
            pinned = any(matches(r, a.endpoint.provider) for r in prefs.order)
            if pinned:
                if not cooling:
                    assert not pinned_done, "order-pinned endpoints come before the sorted rest"
                continue
            if not cooling:
                pinned_done = True
            segment = (cooling, _misses_soft(a, prefs), not a.health.stable)
            assert segment >= last_segment, "segments out of order"
            last_segment = segment
            known = math.inf if a.cost_usd is None else a.cost_usd  # unknown prices go last (docs/routing.md#ordering)
            assert known >= last_cost.get(segment, -1.0), [(x.endpoint.key, x.cost_usd) for x in group]
            last_cost[segment] = known


@settings(FAST, max_examples=50)
@given(scenarios(sort=None, filters=False))
def test_the_default_draw_puts_unstable_after_stable_cheapest_first(scenario) -> None:
    profile, request, prefs, snapshot, keyed, seed = scenario
    p = run(*scenario)
    for group in _groups(p, prefs):
        free = [
            a
            for a in group
            if a.health.state is not HealthState.COOLDOWN
            and not _misses_soft(a, prefs)
            and not any(matches(r, a.endpoint.provider) for r in prefs.order)
        ]
        stable = [a.health.stable for a in free]
        assert stable == sorted(stable, reverse=True)
        unknown_last = [a.cost_usd is None for a in free if a.health.stable]
        assert unknown_last == sorted(unknown_last), "a stable endpoint of unknown price is drawn after the priced"
        unstable_costs = [math.inf if a.cost_usd is None else a.cost_usd for a in free if not a.health.stable]
        assert unstable_costs == sorted(unstable_costs)
