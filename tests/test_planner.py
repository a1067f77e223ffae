"""docs/routing.md#rejections (filters, rejection codes, name matching, warnings) and docs/routing.md (ordering) on the pure planner."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from types import MappingProxyType

import pytest

from orcli.errors import UsageError
from orcli.routing.planner import expected_cost, plan
from orcli.routing.preferences import merge
from orcli.types import (
    Endpoint,
    EndpointHealth,
    HealthSnapshot,
    HealthState,
    MaxPrice,
    MissingExtra,
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

NO_HEALTH = HealthSnapshot()


# -- builders -----------------------------------------------------------------------------------------
def prov(name: str, *, data_collection: str = "deny", zdr: bool = True, key: str | None = "auto") -> Provider:
    env = f"{name.replace('/', '_').upper()}_KEY" if key == "auto" else key
    return Provider(
        name=name,
        base_url=f"https://{name.replace('/', '-')}.example/v1",
        api_key_env=env,
        data_collection=data_collection,
        zdr=zdr,
    )


def ep(model: str, provider: str, prompt: float = 1.0, completion: float | None = None, **kw: object) -> Endpoint:
    price = Price(
        prompt=prompt, completion=prompt if completion is None else completion, request=float(kw.pop("request", 0.0))
    )  # type: ignore[arg-type]
    kw.setdefault("parameters", frozenset({"temperature", "top_p", "max_tokens"}))
    kw["parameters"] = frozenset(kw["parameters"])  # type: ignore[arg-type]
    return Endpoint(model=model, provider=provider, upstream_model=f"{provider}:{model}", price=price, **kw)  # type: ignore[arg-type]


def make_profile(endpoints: list[Endpoint], providers: list[Provider] | None = None) -> Profile:
    if providers is None:
        providers = [prov(name) for name in dict.fromkeys(e.provider for e in endpoints)]
    return Profile(
        name="t",
        path="t.toml",
        providers=MappingProxyType({p.name: p for p in providers}),
        endpoints=tuple(endpoints),
        routing=MappingProxyType({}),
    )


def prefs(models: tuple[str, ...] = ("m",), **kw: object) -> Preferences:
    return Preferences(models=models, **kw)  # type: ignore[arg-type]


def health(**by_provider: EndpointHealth) -> HealthSnapshot:
    return HealthSnapshot({("m", p.replace("__", "/")): h for p, h in by_provider.items()})


UNSTABLE = EndpointHealth(
    state=HealthState.UNSTABLE,
    stable=False,
    requests=1,
    failures=1,
    consecutive_failures=1,
    last_error="HTTP 503",
    last_error_age=10.0,
)
COOLDOWN = EndpointHealth(
    state=HealthState.COOLDOWN,
    stable=False,
    cooldown_left=25.0,
    requests=3,
    failures=3,
    consecutive_failures=3,
    last_error="HTTP 502",
    last_error_age=5.0,
)
HALF_OPEN = EndpointHealth(
    state=HealthState.HEALTHY,
    stable=True,
    requests=3,
    failures=3,
    consecutive_failures=3,
    last_error="HTTP 502",
    last_error_age=40.0,
    half_open=True,
)


def providers_of(p: Plan) -> list[str]:
    return [a.endpoint.provider for a in p.attempts]


def rejection(p: Plan, provider: str, model: str = "m"):
    hits = [r for r in p.rejected if (r.model, r.provider) == (model, provider)]
    assert len(hits) == 1, f"{provider} rejected {len(hits)} times: {p.rejected}"
    return hits[0]


# -- docs/routing.md#rejections: one table row per rejection code --------------------------------------------------------
# `bad` offends exactly one filter per row; `good` passes every one, so it must be planned.
GOOD = ep(
    "m",
    "good",
    1.0,
    context_length=200_000,
    max_completion_tokens=100_000,
    quantization="bf16",
    parameters={"temperature", "top_p", "max_tokens", "tools"},
)
BAD = ep(
    "m",
    "bad",
    5.0,
    context_length=4096,
    max_completion_tokens=1000,
    quantization="fp8",
    parameters={"temperature", "max_tokens"},
)
CODE_PROFILE = make_profile([GOOD, BAD], [prov("good"), prov("bad", data_collection="allow", zdr=False)])

CODE_TABLE: list[tuple[RejectionCode, dict[str, object], Request, HealthSnapshot, Callable[[Provider], bool], str]] = [
    (RejectionCode.IGNORED, {"ignore": ("bad",)}, Request(), NO_HEALTH, lambda p: True, "ignore"),
    (RejectionCode.NOT_IN_ONLY, {"only": ("good",)}, Request(), NO_HEALTH, lambda p: True, "only"),
    (
        RejectionCode.NOT_IN_ORDER,
        {"order": ("good",), "allow_fallbacks": False},
        Request(),
        NO_HEALTH,
        lambda p: True,
        "allow_fallbacks = false",
    ),
    (RejectionCode.DATA_COLLECTION, {"data_collection": "deny"}, Request(), NO_HEALTH, lambda p: True, "train"),
    (RejectionCode.ZDR, {"zdr": True}, Request(), NO_HEALTH, lambda p: True, "zero-data-retention"),
    (RejectionCode.QUANTIZATION, {"quantizations": ("bf16",)}, Request(), NO_HEALTH, lambda p: True, "fp8"),
    (
        RejectionCode.MISSING_PARAMETERS,
        {"require_parameters": True},
        Request(parameters=frozenset({"temperature", "top_p"})),
        NO_HEALTH,
        lambda p: True,
        "top_p",
    ),
    (RejectionCode.CONTEXT_LENGTH, {}, Request(prompt_tokens=5000), NO_HEALTH, lambda p: True, "4,096"),
    (
        RejectionCode.MAX_TOKENS,
        {},
        Request(max_tokens=2000, parameters=frozenset({"max_tokens"})),
        NO_HEALTH,
        lambda p: True,
        "1,000",
    ),
    (RejectionCode.MAX_PRICE, {"max_price": MaxPrice(prompt=2.0)}, Request(), NO_HEALTH, lambda p: True, "prompt"),
    (RejectionCode.NO_CREDENTIALS, {}, Request(), NO_HEALTH, lambda p: p.name != "bad", "$BAD_KEY"),
    (RejectionCode.UNHEALTHY, {"skip_unhealthy": True}, Request(), health(bad=COOLDOWN), lambda p: True, "cooldown"),
    (RejectionCode.MISSING_EXTRA, {}, Request(), NO_HEALTH, lambda p: p.name != "bad", "pip install 'orcli[aws]'"),
]


def test_the_code_table_covers_every_rejection_code() -> None:
    # `budget` rejects every candidate at once, not one offender: tests/test_budget.py holds its cases.
    assert {row[0] for row in CODE_TABLE} | {RejectionCode.BUDGET} == set(RejectionCode)


@pytest.mark.parametrize(
    ("code", "overrides", "request_", "snapshot", "has_key", "detail"),
    CODE_TABLE,
    ids=[row[0].value for row in CODE_TABLE],
)
def test_each_rejection_code_rejects_the_offending_endpoint_and_keeps_the_other(
    code: RejectionCode,
    overrides: dict[str, object],
    request_: Request,
    snapshot: HealthSnapshot,
    has_key: Callable[[Provider], bool],
    detail: str,
) -> None:
    problem = None
    if code is RejectionCode.MISSING_EXTRA:  # a credential problem that is a library not installed

        def problem(p: Provider) -> str | None:
            return None if has_key(p) else MissingExtra("api = 'bedrock' needs botocore: pip install 'orcli[aws]'")

    p = plan(CODE_PROFILE, request_, prefs(**overrides), snapshot, seed=1, has_key=has_key, key_problem=problem)
    assert providers_of(p) == ["good"]
    r = rejection(p, "bad")
    assert r.code is code
    assert detail in r.detail


def test_without_preferences_nothing_is_rejected() -> None:
    p = plan(CODE_PROFILE, Request(), prefs(), NO_HEALTH, seed=1)
    assert sorted(providers_of(p)) == ["bad", "good"] and p.rejected == ()


def test_ignored_provider_is_rejected_with_code_ignored() -> None:
    p = plan(CODE_PROFILE, Request(), prefs(ignore=("bad",)), NO_HEALTH, seed=1)
    assert rejection(p, "bad").code is RejectionCode.IGNORED


def test_when_several_filters_apply_the_first_code_in_spec_order_wins() -> None:
    p = plan(
        CODE_PROFILE,
        Request(prompt_tokens=50_000),
        prefs(ignore=("bad",), zdr=True),
        NO_HEALTH,
        has_key=lambda p: False,
    )
    assert rejection(p, "bad").code is RejectionCode.IGNORED
    p = plan(CODE_PROFILE, Request(prompt_tokens=50_000), prefs(zdr=True, data_collection="deny"), NO_HEALTH)
    assert rejection(p, "bad").code is RejectionCode.DATA_COLLECTION
    p = plan(CODE_PROFILE, Request(prompt_tokens=50_000), prefs(), NO_HEALTH, has_key=lambda p: False)
    assert rejection(p, "bad").code is RejectionCode.CONTEXT_LENGTH
    assert rejection(p, "good").code is RejectionCode.NO_CREDENTIALS


def test_endpoints_of_models_not_requested_are_not_candidates() -> None:
    profile = make_profile([ep("m", "a"), ep("other", "a"), ep("other", "b")])
    p = plan(profile, Request(), prefs(ignore=("b",)), NO_HEALTH)
    assert [(a.endpoint.model, a.endpoint.provider) for a in p.attempts] == [("m", "a")]
    assert p.rejected == ()


# -- provider names and variants ----------------------------------------------------------------------
VARIANTS = make_profile([ep("m", "deepinfra", 0.2), ep("m", "deepinfra/turbo", 0.1), ep("m", "groq", 0.5)])


def test_a_base_name_in_ignore_matches_every_variant() -> None:
    p = plan(VARIANTS, Request(), prefs(ignore=("deepinfra",)), NO_HEALTH)
    assert providers_of(p) == ["groq"]
    assert {r.provider for r in p.rejected if r.code is RejectionCode.IGNORED} == {"deepinfra", "deepinfra/turbo"}


def test_a_full_variant_name_in_ignore_matches_that_variant_alone() -> None:
    p = plan(VARIANTS, Request(), prefs(ignore=("deepinfra/turbo",)), NO_HEALTH, seed=3)
    assert sorted(providers_of(p)) == ["deepinfra", "groq"]
    assert rejection(p, "deepinfra/turbo").code is RejectionCode.IGNORED


def test_a_base_name_in_only_admits_every_variant() -> None:
    p = plan(VARIANTS, Request(), prefs(only=("deepinfra",)), NO_HEALTH, seed=3)
    assert sorted(providers_of(p)) == ["deepinfra", "deepinfra/turbo"]
    assert rejection(p, "groq").code is RejectionCode.NOT_IN_ONLY


def test_a_full_variant_name_in_only_admits_that_variant_alone() -> None:
    p = plan(VARIANTS, Request(), prefs(only=("deepinfra/turbo",)), NO_HEALTH)
    assert providers_of(p) == ["deepinfra/turbo"]
    assert rejection(p, "deepinfra").code is RejectionCode.NOT_IN_ONLY


def test_a_base_name_in_order_pins_every_variant_cheapest_first() -> None:
    p = plan(VARIANTS, Request(), prefs(order=("deepinfra",), allow_fallbacks=False), NO_HEALTH)
    assert providers_of(p) == ["deepinfra/turbo", "deepinfra"]
    assert rejection(p, "groq").code is RejectionCode.NOT_IN_ORDER


def test_a_full_variant_name_in_order_pins_that_variant_alone() -> None:
    p = plan(VARIANTS, Request(), prefs(order=("deepinfra/turbo",), allow_fallbacks=False), NO_HEALTH)
    assert providers_of(p) == ["deepinfra/turbo"]
    assert rejection(p, "deepinfra").code is RejectionCode.NOT_IN_ORDER


def test_a_base_name_prefix_is_not_a_match() -> None:
    p = plan(VARIANTS, Request(), prefs(ignore=("deep",)), NO_HEALTH, seed=1)
    assert len(p.attempts) == 3
    assert any("`deep`" in w for w in p.warnings)


def test_a_variant_name_does_not_match_its_base_provider() -> None:
    profile = make_profile([ep("m", "deepinfra"), ep("m", "groq")])
    p = plan(profile, Request(), prefs(ignore=("deepinfra/turbo",)), NO_HEALTH, seed=1)
    assert sorted(providers_of(p)) == ["deepinfra", "groq"]
    assert any("deepinfra/turbo" in w for w in p.warnings)


@pytest.mark.parametrize("field", ["order", "only", "ignore"])
def test_an_unknown_name_warns_with_the_nearest_known_name(field: str) -> None:
    p = plan(VARIANTS, Request(), prefs(**{field: ("grok",)}), NO_HEALTH, seed=1)
    assert len(p.warnings) == 1
    warning = p.warnings[0]
    assert field in warning and "`grok`" in warning and "did you mean `groq`" in warning


def test_an_unknown_name_without_a_near_match_still_warns() -> None:
    p = plan(VARIANTS, Request(), prefs(order=("zzzzzz",)), NO_HEALTH, seed=1)
    assert len(p.warnings) == 1 and "`zzzzzz`" in p.warnings[0] and "did you mean" not in p.warnings[0]


def test_a_base_name_of_variants_only_does_not_warn() -> None:
    profile = make_profile([ep("m", "deepinfra/turbo"), ep("m", "groq")])
    assert plan(profile, Request(), prefs(only=("deepinfra",)), NO_HEALTH).warnings == ()


def test_known_names_do_not_warn() -> None:
    p = plan(
        VARIANTS, Request(), prefs(order=("groq",), only=("deepinfra", "groq"), ignore=("deepinfra/turbo",)), NO_HEALTH
    )
    assert p.warnings == ()


# -- parameters ---------------------------------------------------------------------------------------
TOOLS = make_profile(
    [
        ep("m", "with_tools", 2.0, parameters={"temperature", "tools", "tool_choice", "response_format"}),
        ep("m", "plain", 1.0, parameters={"temperature"}),
        ep("m2", "plain", 1.0, parameters={"temperature"}),
        ep("m2", "plain2", 1.0, parameters={"temperature"}),
    ]
)


@pytest.mark.parametrize("param", ["tools", "tool_choice", "response_format"])
def test_a_soft_parameter_some_endpoints_support_rejects_the_others(param: str) -> None:
    p = plan(TOOLS, Request(parameters=frozenset({param, "temperature"})), prefs(), NO_HEALTH)
    assert providers_of(p) == ["with_tools"]
    r = rejection(p, "plain")
    assert r.code is RejectionCode.MISSING_PARAMETERS and param in r.detail


def test_a_soft_parameter_no_endpoint_of_a_model_supports_keeps_them_all() -> None:
    p = plan(TOOLS, Request(parameters=frozenset({"tools"})), prefs(models=("m", "m2")), NO_HEALTH, seed=1)
    assert sorted(a.endpoint.provider for a in p.attempts if a.endpoint.model == "m2") == ["plain", "plain2"]
    assert [r.provider for r in p.rejected] == ["plain"]  # only model m's non-supporting endpoint


def test_a_soft_parameter_only_counts_endpoints_left_after_policy_filters() -> None:
    # The only tools endpoint is ignored: none of the remaining ones supports tools, so they all stay.
    p = plan(TOOLS, Request(parameters=frozenset({"tools"})), prefs(ignore=("with_tools",)), NO_HEALTH)
    assert providers_of(p) == ["plain"]


def test_a_non_soft_parameter_is_ignored_without_require_parameters() -> None:
    p = plan(TOOLS, Request(parameters=frozenset({"top_p", "seed"})), prefs(), NO_HEALTH, seed=1)
    assert sorted(providers_of(p)) == ["plain", "with_tools"]


def test_require_parameters_rejects_an_endpoint_lacking_any_parameter_and_lists_them() -> None:
    request = Request(parameters=frozenset({"temperature", "top_p", "seed"}))
    profile = make_profile(
        [ep("m", "a", parameters={"temperature", "top_p", "seed"}), ep("m", "b", parameters={"temperature"})]
    )
    p = plan(profile, request, prefs(require_parameters=True), NO_HEALTH)
    assert providers_of(p) == ["a"]
    r = rejection(p, "b")
    assert r.code is RejectionCode.MISSING_PARAMETERS
    assert "seed" in r.detail and "top_p" in r.detail and "temperature" not in r.detail


def test_require_parameters_with_no_endpoint_supporting_rejects_all() -> None:
    p = plan(TOOLS, Request(parameters=frozenset({"logprobs"})), prefs(require_parameters=True), NO_HEALTH)
    assert p.attempts == ()
    assert {r.code for r in p.rejected} == {RejectionCode.MISSING_PARAMETERS}


# -- size and price -----------------------------------------------------------------------------------
SIZED = make_profile(
    [
        ep("m", "small", 1.0, context_length=8000, max_completion_tokens=2000),
        ep("m", "large", 2.0, context_length=128_000, max_completion_tokens=16_000),
        ep("m", "unbounded", 3.0),
    ]
)


def test_context_length_counts_prompt_tokens_plus_max_tokens_with_details() -> None:
    p = plan(SIZED, Request(prompt_tokens=6500, max_tokens=1600), prefs(), NO_HEALTH, seed=1)
    r = rejection(p, "small")
    assert r.code is RejectionCode.CONTEXT_LENGTH
    for number in ("6,500", "1,600", "8,100", "8,000"):
        assert number in r.detail
    assert sorted(providers_of(p)) == ["large", "unbounded"]


def test_context_length_exactly_full_is_allowed() -> None:
    p = plan(SIZED, Request(prompt_tokens=6000, max_tokens=2000), prefs(), NO_HEALTH, seed=1)
    assert "small" in providers_of(p)


def test_context_length_without_max_tokens_counts_the_prompt_alone() -> None:
    assert "small" in providers_of(plan(SIZED, Request(prompt_tokens=7999), prefs(), NO_HEALTH, seed=1))
    p = plan(SIZED, Request(prompt_tokens=8001), prefs(), NO_HEALTH, seed=1)
    r = rejection(p, "small")
    assert r.code is RejectionCode.CONTEXT_LENGTH and "8,001" in r.detail and "max_tokens" not in r.detail


def test_max_tokens_above_max_completion_tokens_is_rejected_with_details() -> None:
    p = plan(SIZED, Request(prompt_tokens=10, max_tokens=2001), prefs(), NO_HEALTH, seed=1)
    r = rejection(p, "small")
    assert r.code is RejectionCode.MAX_TOKENS and "2,001" in r.detail and "2,000" in r.detail
    assert "small" in providers_of(plan(SIZED, Request(prompt_tokens=10, max_tokens=2000), prefs(), NO_HEALTH))


def test_max_price_detail_says_which_price_and_by_how_much() -> None:
    profile = make_profile([ep("m", "a", 0.59, 0.79), ep("m", "b", 0.2, 0.3)])
    p = plan(profile, Request(), prefs(max_price=MaxPrice(prompt=0.5, completion=0.5)), NO_HEALTH)
    assert providers_of(p) == ["b"]
    r = rejection(p, "a")
    assert r.code is RejectionCode.MAX_PRICE
    assert "prompt $0.59" in r.detail and "max $0.5" in r.detail and "by $0.09" in r.detail
    assert "completion $0.79" in r.detail and "by $0.29" in r.detail


def test_max_price_names_only_the_component_that_is_over() -> None:
    profile = make_profile([ep("m", "a", 0.4, 3.0)])
    r = rejection(plan(profile, Request(), prefs(max_price=MaxPrice(prompt=0.5, completion=2.0)), NO_HEALTH), "a")
    assert "completion" in r.detail and "prompt" not in r.detail and "by $1" in r.detail


def test_max_price_caps_the_per_request_price() -> None:
    profile = make_profile([ep("m", "a", 0.1, request=0.01), ep("m", "b", 0.1)])
    p = plan(profile, Request(), prefs(max_price=MaxPrice(request=0.0)), NO_HEALTH)
    assert providers_of(p) == ["b"]
    assert "request" in rejection(p, "a").detail


def test_a_price_equal_to_max_price_is_allowed() -> None:
    profile = make_profile([ep("m", "a", 0.5)])
    assert providers_of(plan(profile, Request(), prefs(max_price=MaxPrice(prompt=0.5)), NO_HEALTH)) == ["a"]


def test_no_credentials_names_the_missing_env_var() -> None:
    profile = make_profile([ep("m", "a"), ep("m", "local")], [prov("a"), prov("local", key=None)])
    p = plan(profile, Request(), prefs(), NO_HEALTH, has_key=lambda p: p.api_key_env is None)
    assert providers_of(p) == ["local"]
    r = rejection(p, "a")
    assert r.code is RejectionCode.NO_CREDENTIALS and "$A_KEY" in r.detail


@pytest.mark.parametrize(
    ("wanted", "actual", "kept"),
    [
        (("fp8",), "fp8", True),
        (("fp8", "bf16"), "bf16", True),
        (("fp8",), "fp16", False),
        (("fp8",), None, False),
        (("fp4",), "mxfp4", True),
    ],
)
def test_quantization_filter(wanted: tuple[str, ...], actual: str | None, kept: bool) -> None:
    profile = make_profile([ep("m", "a", quantization=actual)])
    p = plan(profile, Request(), prefs(quantizations=wanted), NO_HEALTH)
    assert (providers_of(p) == ["a"]) is kept
    if not kept:
        assert rejection(p, "a").code is RejectionCode.QUANTIZATION


# -- health as a filter -------------------------------------------------------------------------------
HEALTH_PROFILE = make_profile([ep("m", "a", 1.0), ep("m", "b", 2.0), ep("m", "c", 3.0)])


def test_health_never_rejects_by_default() -> None:
    p = plan(HEALTH_PROFILE, Request(), prefs(), health(a=COOLDOWN, b=UNSTABLE), seed=1)
    assert len(p.attempts) == 3 and p.rejected == ()


def test_skip_unhealthy_rejects_an_endpoint_in_cooldown_with_code_unhealthy() -> None:
    p = plan(HEALTH_PROFILE, Request(), prefs(skip_unhealthy=True), health(a=COOLDOWN), seed=1)
    r = rejection(p, "a")
    assert r.code is RejectionCode.UNHEALTHY and "cooldown" in r.detail
    assert sorted(providers_of(p)) == ["b", "c"]


def test_skip_unhealthy_rejects_an_endpoint_with_a_recent_outage() -> None:
    # docs/routing.md#rejections: "an endpoint in cooldown or with recent outages moves to the back ... --skip-unhealthy turns
    # that into a rejection": both kinds of demotion become `unhealthy`.
    p = plan(HEALTH_PROFILE, Request(), prefs(skip_unhealthy=True), health(b=UNSTABLE), seed=1)
    assert rejection(p, "b").code is RejectionCode.UNHEALTHY
    assert sorted(providers_of(p)) == ["a", "c"]


def test_skip_unhealthy_keeps_a_half_open_endpoint_for_its_trial() -> None:
    p = plan(HEALTH_PROFILE, Request(), prefs(skip_unhealthy=True), health(a=HALF_OPEN), seed=1)
    assert "a" in providers_of(p) and p.rejected == ()


# -- docs/routing.md#ordering ordering ---------------------------------------------------------------------------------
ORDERING = make_profile(
    [
        ep("m", "a", 1.0, latency=0.9, throughput=50),
        ep("m", "b", 2.0, latency=0.2, throughput=400),
        ep("m", "c", 3.0, latency=0.5, throughput=100),
        ep("m", "d", 4.0),  # no hints: unknown latency and throughput
    ]
)


def test_order_puts_named_providers_first_in_that_order() -> None:
    for seed in range(20):
        p = plan(ORDERING, Request(), prefs(order=("c", "a")), NO_HEALTH, seed=seed)
        assert providers_of(p)[:2] == ["c", "a"]
        assert sorted(providers_of(p)[2:]) == ["b", "d"]
        assert "order #1" in p.attempts[0].reason and "order #2" in p.attempts[1].reason


def test_order_comes_before_sort() -> None:
    p = plan(ORDERING, Request(), prefs(order=("d",), sort=Sort.PRICE), NO_HEALTH)
    assert providers_of(p) == ["d", "a", "b", "c"]


def test_sort_price_ranks_by_expected_cost() -> None:
    p = plan(ORDERING, Request(), prefs(sort=Sort.PRICE), NO_HEALTH)
    assert providers_of(p) == ["a", "b", "c", "d"]
    assert [a.rank for a in p.attempts] == [1, 2, 3, 4]
    assert all("sort=price" in a.reason for a in p.attempts)


def test_sort_price_breaks_ties_by_lower_latency() -> None:
    profile = make_profile(
        [ep("m", "slow", 1.0, latency=2.0), ep("m", "fast", 1.0, latency=0.1), ep("m", "unknown", 1.0)]
    )
    assert providers_of(plan(profile, Request(), prefs(sort=Sort.PRICE), NO_HEALTH)) == ["fast", "slow", "unknown"]


def test_price_is_the_expected_cost_of_this_request() -> None:
    # prompt-heavy requests favour cheap prompts; completion-heavy ones cheap completions.
    profile = make_profile([ep("m", "cheap_in", 1.0, 10.0), ep("m", "cheap_out", 5.0, 1.0)])
    default = plan(profile, Request(), prefs(sort=Sort.PRICE), NO_HEALTH)
    assert providers_of(default) == ["cheap_out", "cheap_in"]
    assert math.isclose(default.attempts[0].cost_usd, (5.0 * 1000 + 1.0 * 1000) / 1e6)
    big_prompt = Request(prompt_tokens=100_000, max_tokens=10)
    p = plan(profile, big_prompt, prefs(sort=Sort.PRICE), NO_HEALTH)
    assert providers_of(p) == ["cheap_in", "cheap_out"]
    assert math.isclose(p.attempts[0].cost_usd, (1.0 * 100_000 + 10.0 * 10) / 1e6)


def test_expected_cost_adds_the_request_price_and_defaults_to_1000_completion_tokens() -> None:
    e = ep("m", "a", 2.0, 4.0, request=0.01)
    assert math.isclose(expected_cost(e, Request(prompt_tokens=500)), 2.0 * 500 / 1e6 + 4.0 * 1000 / 1e6 + 0.01)
    assert math.isclose(expected_cost(e, Request(prompt_tokens=500, max_tokens=50)), 0.001 + 0.0002 + 0.01)
    assert Request().prompt_tokens == 1000


def test_sort_latency_uses_the_hint_and_puts_unknown_last() -> None:
    assert providers_of(plan(ORDERING, Request(), prefs(sort=Sort.LATENCY), NO_HEALTH)) == ["b", "c", "a", "d"]


def test_sort_latency_prefers_the_observed_median_over_the_hint() -> None:
    snapshot = health(b=EndpointHealth(median_ttft=3.0), d=EndpointHealth(median_ttft=0.05))
    p = plan(ORDERING, Request(), prefs(sort=Sort.LATENCY), snapshot)
    assert providers_of(p) == ["d", "c", "a", "b"]
    assert "observed" in p.attempts[0].reason and "hint" in p.attempts[1].reason


def test_sort_throughput_is_descending_and_puts_unknown_last() -> None:
    assert providers_of(plan(ORDERING, Request(), prefs(sort=Sort.THROUGHPUT), NO_HEALTH)) == ["b", "c", "a", "d"]


def test_sort_throughput_prefers_the_observed_median_over_the_hint() -> None:
    snapshot = health(a=EndpointHealth(median_tps=1000.0), b=EndpointHealth(median_tps=10.0))
    p = plan(ORDERING, Request(), prefs(sort=Sort.THROUGHPUT), snapshot)
    assert providers_of(p) == ["a", "c", "b", "d"]


def test_the_default_draw_is_repeatable_with_a_seed() -> None:
    orders = {tuple(providers_of(plan(ORDERING, Request(), prefs(), NO_HEALTH, seed=s))) for s in range(200)}
    assert len(orders) > 1, "the draw must vary across seeds"
    for s in range(20):
        first = providers_of(plan(ORDERING, Request(), prefs(), NO_HEALTH, seed=s))
        assert providers_of(plan(ORDERING, Request(), prefs(), NO_HEALTH, seed=s)) == first


def test_the_draw_follows_inverse_square_weights_for_every_pick() -> None:
    # Weights 1, 1/4, 1/9, 1/16 for a..d: P(a first) = 1 / (1 + 1/4 + 1/9 + 1/16) ≈ 0.702.
    firsts = Counter(providers_of(plan(ORDERING, Request(), prefs(), NO_HEALTH, seed=s))[0] for s in range(3000))
    total = 1 + 1 / 4 + 1 / 9 + 1 / 16
    for provider, weight in (("a", 1), ("b", 1 / 4), ("c", 1 / 9), ("d", 1 / 16)):
        expected = weight / total
        sigma = math.sqrt(expected * (1 - expected) / 3000)
        assert abs(firsts[provider] / 3000 - expected) < 5 * sigma, (provider, firsts)


def test_spec_example_a_first_nine_times_in_ten_b_always_last() -> None:
    # docs/routing.md#ordering: A at $1, B at $2, C at $3, B failed 10 s ago: A first 1 : 1/9 of the time, C otherwise.
    snapshot = health(b=UNSTABLE)
    n = 2000
    firsts = Counter()
    for seed in range(n):
        order = providers_of(plan(HEALTH_PROFILE, Request(), prefs(), snapshot, seed=seed))
        assert order[-1] == "b"
        firsts[order[0]] += 1
    assert set(firsts) == {"a", "c"}
    share = firsts["a"] / n  # expected 0.9; sigma = sqrt(.9 * .1 / 2000) ≈ 0.0067
    assert 0.87 <= share <= 0.93, firsts


def test_unstable_endpoints_follow_the_stable_ones_cheapest_first() -> None:
    profile = make_profile([ep("m", "s1", 5.0), ep("m", "s2", 6.0), ep("m", "u_exp", 2.0), ep("m", "u_cheap", 1.0)])
    snapshot = health(u_exp=UNSTABLE, u_cheap=UNSTABLE)
    for seed in range(20):
        p = plan(profile, Request(), prefs(), snapshot, seed=seed)
        assert sorted(providers_of(p)[:2]) == ["s1", "s2"]
        assert providers_of(p)[2:] == ["u_cheap", "u_exp"]
        assert "unstable" in p.attempts[2].reason


def test_a_free_endpoint_wins_the_draw_outright() -> None:
    profile = make_profile([ep("m", "paid", 0.0001), ep("m", "free", 0.0), ep("m", "paid2", 0.00001)])
    for seed in range(300):
        p = plan(profile, Request(), prefs(), NO_HEALTH, seed=seed)
        assert providers_of(p)[0] == "free"
    assert "free" in p.attempts[0].reason


def test_an_endpoint_in_cooldown_goes_last_even_when_cheapest() -> None:
    p = plan(HEALTH_PROFILE, Request(), prefs(sort=Sort.PRICE), health(a=COOLDOWN))
    assert providers_of(p) == ["b", "c", "a"]
    assert "cooldown" in p.attempts[-1].reason and p.attempts[-1].health.state is HealthState.COOLDOWN


def test_an_endpoint_in_cooldown_goes_last_even_when_pinned_by_order() -> None:
    p = plan(HEALTH_PROFILE, Request(), prefs(order=("a",), sort=Sort.PRICE), health(a=COOLDOWN))
    assert providers_of(p) == ["b", "c", "a"]


def test_endpoints_in_cooldown_keep_their_relative_order_at_the_back() -> None:
    p = plan(HEALTH_PROFILE, Request(), prefs(sort=Sort.PRICE), health(a=COOLDOWN, b=COOLDOWN))
    assert providers_of(p) == ["c", "a", "b"]


def test_an_endpoint_in_cooldown_goes_after_unstable_ones_in_the_default_draw() -> None:
    for seed in range(20):
        p = plan(HEALTH_PROFILE, Request(), prefs(), health(a=COOLDOWN, b=UNSTABLE), seed=seed)
        assert providers_of(p) == ["c", "b", "a"]


def test_a_half_open_endpoint_keeps_its_place_for_one_trial() -> None:
    p = plan(HEALTH_PROFILE, Request(), prefs(sort=Sort.PRICE), health(a=HALF_OPEN))
    assert providers_of(p) == ["a", "b", "c"]
    assert "half-open" in p.attempts[0].reason


def test_a_retry_after_backoff_during_half_open_still_waits_at_the_back() -> None:
    # health.py: COOLDOWN with half_open means a 429/503 Retry-After backoff still runs after the breaker period.
    backoff = EndpointHealth(state=HealthState.COOLDOWN, stable=True, cooldown_left=20.0, half_open=True)
    p = plan(HEALTH_PROFILE, Request(), prefs(sort=Sort.PRICE), health(a=backoff))
    assert providers_of(p) == ["b", "c", "a"]


def test_cooldown_goes_last_within_its_model_with_partition_model() -> None:
    profile = make_profile([ep("m", "a", 1.0), ep("m", "b", 2.0), ep("m2", "a", 0.1)])
    p = plan(profile, Request(), prefs(models=("m", "m2"), sort=Sort.PRICE), health(a=COOLDOWN))
    assert [(x.endpoint.model, x.endpoint.provider) for x in p.attempts] == [("m", "b"), ("m", "a"), ("m2", "a")]


def test_soft_max_latency_demotes_slower_endpoints_without_rejecting_them() -> None:
    p = plan(ORDERING, Request(), prefs(sort=Sort.PRICE, preferred_max_latency=0.6), NO_HEALTH)
    # a (0.9 s) misses; d has no latency known and is not demoted.
    assert providers_of(p) == ["b", "c", "d", "a"]
    assert "demoted" in p.attempts[-1].reason and p.rejected == ()


def test_soft_min_throughput_demotes_slower_endpoints_without_rejecting_them() -> None:
    p = plan(ORDERING, Request(), prefs(sort=Sort.PRICE, preferred_min_throughput=90), NO_HEALTH)
    assert providers_of(p) == ["b", "c", "d", "a"]
    assert "throughput" in p.attempts[-1].reason


def test_soft_preferences_demote_in_the_default_draw_too() -> None:
    for seed in range(20):
        p = plan(ORDERING, Request(), prefs(preferred_max_latency=0.6), NO_HEALTH, seed=seed)
        assert providers_of(p)[-1] == "a"


def test_a_soft_miss_still_goes_before_an_endpoint_in_cooldown() -> None:
    p = plan(ORDERING, Request(), prefs(sort=Sort.PRICE, preferred_max_latency=0.6), health(b=COOLDOWN))
    assert providers_of(p) == ["c", "d", "a", "b"]


def test_partition_model_tries_every_endpoint_of_model_one_first() -> None:
    profile = make_profile([ep("m1", "a", 5.0), ep("m1", "b", 6.0), ep("m2", "a", 0.1), ep("m2", "b", 0.2)])
    p = plan(profile, Request(), prefs(models=("m1", "m2"), sort=Sort.PRICE), NO_HEALTH)
    assert [(x.endpoint.model, x.endpoint.provider) for x in p.attempts] == [
        ("m1", "a"),
        ("m1", "b"),
        ("m2", "a"),
        ("m2", "b"),
    ]


def test_partition_none_ranks_all_models_together_by_sort() -> None:
    profile = make_profile([ep("m1", "a", 5.0), ep("m1", "b", 0.15), ep("m2", "a", 0.1), ep("m2", "b", 0.2)])
    p = plan(profile, Request(), prefs(models=("m1", "m2"), sort=Sort.PRICE, partition=Partition.NONE), NO_HEALTH)
    assert [(x.endpoint.model, x.endpoint.provider) for x in p.attempts] == [
        ("m2", "a"),
        ("m1", "b"),
        ("m2", "b"),
        ("m1", "a"),
    ]
    assert all("partition none" in a.reason for a in p.attempts)


def test_partition_none_puts_cooldown_after_every_model() -> None:
    profile = make_profile([ep("m1", "a", 0.1), ep("m2", "b", 5.0)])
    snapshot = HealthSnapshot({("m1", "a"): COOLDOWN})
    p = plan(profile, Request(), prefs(models=("m1", "m2"), sort=Sort.PRICE, partition=Partition.NONE), snapshot)
    assert [x.endpoint.model for x in p.attempts] == ["m2", "m1"]


@pytest.mark.parametrize(
    ("routing", "overrides"),
    [
        ({}, {"partition": "none"}),
        ({"partition": "none"}, {}),
        ({"sort": {"by": "price", "partition": "none"}}, {"sort": None}),
    ],
)
def test_partition_none_without_sort_is_a_usage_error(routing: dict, overrides: dict) -> None:
    with pytest.raises(UsageError, match="needs a sort key"):
        merge(routing, overrides)


def test_partition_none_from_a_sort_table_is_taken() -> None:
    p = merge({"sort": {"by": "latency", "partition": "none"}}, {})
    assert p.sort is Sort.LATENCY and p.partition is Partition.NONE


@pytest.mark.parametrize(
    ("overrides", "flag"),
    [
        ({"sort": "cheapest"}, "--sort"),
        ({"partition": "all"}, "--partition"),
        ({"data_collection": "maybe"}, "--data-collection"),
    ],
)
def test_a_bad_enum_flag_is_a_usage_error_naming_the_flag_and_the_choices(overrides: dict, flag: str) -> None:
    with pytest.raises(UsageError) as info:
        merge({}, overrides)
    value = next(iter(overrides.values()))
    assert flag in info.value.message and f"`{value}`" in info.value.message


def test_cli_overrides_beat_the_profile_and_sources_say_so() -> None:
    p = merge({"sort": "price", "order": ["a"], "zdr": True}, {"sort": "latency"})
    assert p.sort is Sort.LATENCY and p.order == ("a",) and p.zdr
    assert p.sources["sort"] == "flag" and p.sources["order"] == "profile" and p.sources["only"] == "default"


def test_ranks_run_from_one_without_gaps() -> None:
    p = plan(ORDERING, Request(), prefs(ignore=("b",)), NO_HEALTH, seed=4)
    assert [a.rank for a in p.attempts] == [1, 2, 3]


def test_an_explicit_rng_gives_the_same_plan_as_its_seed() -> None:
    import random

    for s in range(10):
        assert providers_of(plan(ORDERING, Request(), prefs(), NO_HEALTH, rng=random.Random(s))) == providers_of(
            plan(ORDERING, Request(), prefs(), NO_HEALTH, seed=s)
        )


def test_sort_puts_an_endpoint_with_a_recent_outage_after_the_stable_ones() -> None:
    # docs/routing.md#rejections: health never rejects by default; a recent outage moves the endpoint back, also under a sort.
    profile = make_profile([ep("m", "cheap", 1.0), ep("m", "mid", 2.0), ep("m", "dear", 3.0)])
    p = plan(profile, Request(), prefs(sort=Sort.PRICE), health(cheap=UNSTABLE))
    assert providers_of(p) == ["mid", "dear", "cheap"]
    assert "unstable" in p.attempts[-1].reason and "sort=price" in p.attempts[-1].reason
