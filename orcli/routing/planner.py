"""The pure planner: (profile, request, preferences, health, seed) -> ordered attempts plus rejections."""

from __future__ import annotations

import difflib
import gc
import random
from collections.abc import Callable, Mapping

from orcli.routing.names import matches_any, name_matches
from orcli.routing.ordering import Candidate, order_candidates
from orcli.routing.sticky import StickyRule
from orcli.types import (
    Endpoint,
    HealthSnapshot,
    HealthState,
    MissingExtra,
    Plan,
    PlannedAttempt,
    Preferences,
    Profile,
    Provider,
    Rejection,
    RejectionCode,
    Request,
    Spend,
)

# docs/routing.md#rejections: tools and format parameters narrow a model's providers even without require_parameters.
SOFT_PARAMETERS = frozenset({"tools", "tool_choice", "response_format"})

# A requested quantization also admits the finer-grained formats OpenRouter files under it.
_QUANTIZATION_FAMILY = {"fp4": {"mxfp4", "nvfp4"}, "fp8": {"mxfp8"}}
NO_SPEND = Spend()  # nothing spent: what a caller that reads no store plans with


def expected_cost(endpoint: Endpoint, request: Request) -> float | None:
    """docs/routing.md#ordering "price": expected USD cost of this request on this endpoint; None when its price is unknown."""
    p = endpoint.price
    if p is None:
        return None
    return p.prompt * request.prompt_tokens / 1e6 + p.completion * request.expected_completion_tokens / 1e6 + p.request


def _quantization_allowed(wanted: tuple[str, ...], actual: str | None) -> bool:
    actual = (actual or "unknown").lower()
    return any(actual == q or actual in _QUANTIZATION_FAMILY.get(q, ()) for q in wanted)


def _money(value: float) -> str:
    return f"${value:.4g}"


Verdict = tuple[RejectionCode, str] | None


class _Filters:
    """The hard filters of docs/routing.md#rejections, in the order their codes win, with per-provider verdicts memoised.

    Most filters depend on the provider alone (or on a quantization, or a key being set), so a profile of
    100,000 endpoints over a few thousand providers asks each question once per provider, not per endpoint.
    """

    def __init__(
        self,
        prefs: Preferences,
        request: Request,
        has_key: Callable[[Provider], bool],
        key_problem: Callable[[Provider], str | None] | None = None,
    ) -> None:
        self.prefs = prefs
        self.request = request
        self.has_key = has_key
        self.key_problem = key_problem
        self._provider: dict[str, Verdict] = {}
        self._quantization: dict[str | None, Verdict] = {}
        self._credentials: dict[str, Verdict] = {}
        self.needed = request.prompt_tokens + (request.max_tokens or 0)
        self.caps = prefs.max_price if prefs.max_price.is_set() else None

    def policy(self, e: Endpoint, p: Provider) -> Verdict:
        """ignored, not_in_only, not_in_order, data_collection, zdr, quantization."""
        if p.name in self._provider:
            verdict = self._provider[p.name]
        else:
            verdict = self._provider[p.name] = self._provider_verdict(p)
        if verdict is not None or not self.prefs.quantizations:
            return verdict
        if e.quantization not in self._quantization:
            self._quantization[e.quantization] = self._quantization_verdict(e.quantization)
        return self._quantization[e.quantization]

    def _provider_verdict(self, p: Provider) -> Verdict:
        prefs = self.prefs
        if prefs.ignore and matches_any(prefs.ignore, p.name):
            return RejectionCode.IGNORED, f"`{p.name}` is in ignore"
        if prefs.only and not matches_any(prefs.only, p.name):
            return RejectionCode.NOT_IN_ONLY, f"only = {list(prefs.only)} does not name `{p.name}`"
        if not prefs.allow_fallbacks and prefs.order and not matches_any(prefs.order, p.name):
            return RejectionCode.NOT_IN_ORDER, (
                f"allow_fallbacks = false and order = {list(prefs.order)} does not name `{p.name}`"
            )
        if prefs.data_collection == "deny" and p.data_collection != "deny":
            return RejectionCode.DATA_COLLECTION, (
                f'`{p.name}` may store or train on prompts (data_collection = "allow")'
            )
        if prefs.zdr and not p.zdr:
            return RejectionCode.ZDR, f"`{p.name}` is not a zero-data-retention provider"
        return None

    def _quantization_verdict(self, quantization: str | None) -> Verdict:
        wanted = self.prefs.quantizations
        if _quantization_allowed(wanted, quantization):
            return None
        return RejectionCode.QUANTIZATION, f"quantization {quantization or 'unknown'} is not in {list(wanted)}"

    def sizing(self, e: Endpoint, p: Provider) -> Verdict:
        """context_length, max_tokens, max_price, no_credentials."""
        request = self.request
        if e.context_length is not None and self.needed > e.context_length:
            what = f"~{request.prompt_tokens:,} prompt token{'' if request.prompt_tokens == 1 else 's'} (estimated)"
            if request.max_tokens:
                what += f" + {request.max_tokens:,} max_tokens"
            return RejectionCode.CONTEXT_LENGTH, f"{what} = {self.needed:,} > context length {e.context_length:,}"
        if (
            request.max_tokens is not None
            and e.max_completion_tokens is not None
            and request.max_tokens > e.max_completion_tokens
        ):
            return RejectionCode.MAX_TOKENS, (
                f"max_tokens {request.max_tokens:,} > max completion tokens {e.max_completion_tokens:,}"
            )
        if self.caps is not None:
            verdict = self._price_verdict(e)
            if verdict is not None:
                return verdict
        if p.name not in self._credentials:
            if self.key_problem is not None:  # says why: unset, or a value no HTTP header can carry (docs/security.md)
                problem = self.key_problem(p)
            else:
                problem = None if self.has_key(p) else f"${p.api_key_env} is not set"
            code = RejectionCode.MISSING_EXTRA if isinstance(problem, MissingExtra) else RejectionCode.NO_CREDENTIALS
            self._credentials[p.name] = None if problem is None else (code, problem)
        return self._credentials[p.name]

    def _price_verdict(self, e: Endpoint) -> Verdict:
        caps, price = self.caps, e.price
        assert caps is not None
        if price is None:  # unknown is not free: a ceiling cannot be checked against it (docs/routing.md#rejections)
            return RejectionCode.MAX_PRICE, "price unknown (the profile gives none) while max_price is set"
        if not (
            (caps.prompt is not None and price.prompt > caps.prompt)
            or (caps.completion is not None and price.completion > caps.completion)
            or (caps.request is not None and price.request > caps.request)
        ):
            return None
        over = []
        for part in ("prompt", "completion", "request"):
            cap = getattr(self.caps, part)
            price = getattr(e.price, part)
            if cap is not None and price > cap:
                unit = "" if part == "request" else "/M"
                over.append(f"{part} {_money(price)}{unit} > max {_money(cap)}{unit} (by {_money(price - cap)})")
        return (RejectionCode.MAX_PRICE, "; ".join(over)) if over else None


def _missing_parameters(
    model_endpoints: list[Endpoint], request: Request, prefs: Preferences
) -> dict[tuple[str, str], frozenset[str]]:
    """Which endpoints of one model lack which request parameters they are required to support."""
    required = request.parameters if prefs.require_parameters else frozenset()
    soft_used = request.parameters & SOFT_PARAMETERS
    # A soft parameter is required only if some of this model's remaining endpoints support it.
    soft_required = {s for s in soft_used if any(s in e.parameters for e in model_endpoints)}
    needed = required | soft_required
    missing = {}
    for e in model_endpoints:
        lacking = needed - e.parameters
        if lacking:
            missing[e.key] = frozenset(lacking)
    return missing


def unknown_name_warnings(prefs: Preferences, providers: Mapping[str, Provider]) -> list[str]:
    """docs/routing.md#rejections: a name in order/only/ignore that no provider bears is reported, not silently dropped."""
    known = set(providers) | {p.base_name for p in providers.values()}
    warnings = []
    for field in ("order", "only", "ignore"):
        for rule in getattr(prefs, field):
            if not any(name_matches(rule, name) for name in providers):
                close = difflib.get_close_matches(rule, sorted(known), n=1, cutoff=0.6)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                warnings.append(f"{field} names `{rule}`, which no provider in this profile bears{hint}")
    return warnings


def plan(
    profile: Profile,
    request: Request,
    prefs: Preferences,
    health: HealthSnapshot,
    seed: int | None = None,
    has_key: Callable[[Provider], bool] = lambda p: True,
    rng: random.Random | None = None,
    key_problem: Callable[[Provider], str | None] | None = None,
    sticky: StickyRule | None = None,
    spend: Spend = NO_SPEND,
) -> Plan:
    """Filter every candidate endpoint of the requested models, then order the survivors.

    `key_problem`, when given, replaces `has_key`: None for a usable key, else the no_credentials detail.
    `spend`: what the store knows was spent this UTC day and month, for the profile's `[budget]`."""
    # Planning makes many small tuples that all live until the plan is returned, and no cycles: the cyclic
    # collector can free nothing here, yet each of its passes walks everything made so far, which made
    # planning grow faster than the profile (x17 per x10 endpoints at 100k). Paused while planning, then
    # restored as it was.
    paused = gc.isenabled()
    gc.disable()
    try:
        by_model: dict[str, list[Endpoint]] = {m: [] for m in prefs.models}
        for endpoint in profile.endpoints:
            if endpoint.model in by_model:
                by_model[endpoint.model].append(endpoint)
        filters = _Filters(prefs, request, has_key, key_problem)
        rejected: list[Rejection] = []
        survivors_by_model = [
            _survivors(endpoints, rank, filters, profile.providers, health, rejected)
            for rank, endpoints in enumerate(by_model.values())
        ]
        attempts = _attempts(survivors_by_model, prefs, rng or random.Random(seed), sticky)
        warnings = unknown_name_warnings(prefs, profile.providers)
        made = Plan(attempts=attempts, rejected=tuple(rejected), warnings=tuple(warnings))
        return within_budget(made, profile, spend)
    finally:
        if paused:
            gc.enable()


def _survivors(
    endpoints: list[Endpoint],
    model_rank: int,
    filters: _Filters,
    providers: Mapping[str, Provider],
    health: HealthSnapshot,
    rejected: list[Rejection],
) -> list[Candidate]:
    """One model's endpoints that pass every filter, as candidates; the others go to `rejected` with a code."""
    prefs, request = filters.prefs, filters.request
    after_policy: list[Endpoint] = []
    for e in endpoints:
        verdict = filters.policy(e, providers[e.provider])
        if verdict:
            rejected.append(Rejection(e.model, e.provider, *verdict))
        else:
            after_policy.append(e)
    missing = _missing_parameters(after_policy, request, prefs)
    survivors: list[Candidate] = []
    for e in after_policy:
        if e.key in missing:
            lacking = ", ".join(sorted(missing[e.key]))
            rejected.append(
                Rejection(e.model, e.provider, RejectionCode.MISSING_PARAMETERS, f"does not support: {lacking}")
            )
            continue
        verdict = filters.sizing(e, providers[e.provider])
        if verdict:
            rejected.append(Rejection(e.model, e.provider, *verdict))
            continue
        h = health.get(e.model, e.provider)
        # docs/routing.md#rejections: what health would otherwise demote (cooldown, or a recent outage) is rejected instead.
        if prefs.skip_unhealthy and h.state is not HealthState.HEALTHY:
            what = "circuit open" if h.state is HealthState.COOLDOWN else "recent outage"
            rejected.append(
                Rejection(e.model, e.provider, RejectionCode.UNHEALTHY, f"{what}: {h.describe()} (--skip-unhealthy)")
            )
            continue
        survivors.append(Candidate(e, expected_cost(e, request), h, model_rank))
    return survivors


def _attempts(
    survivors_by_model: list[list[Candidate]], prefs: Preferences, rng: random.Random, sticky: StickyRule | None
) -> tuple[PlannedAttempt, ...]:
    """The survivors in the order they will be tried, each with the reason for its place."""
    ordered = order_candidates(survivors_by_model, prefs, rng)
    if sticky is not None and sticky.bindings and not prefs.order:  # `order` overrides stickiness
        from orcli.routing.sticky import stick

        ordered = stick(ordered, sticky)
    return tuple(
        PlannedAttempt(
            rank=i,
            endpoint=c.endpoint,
            cost_usd=c.cost,
            health=c.health,
            reason=reason,
            share=c.share,
            adjusted_usd=c.adjusted,
        )
        for i, (c, reason) in enumerate(ordered, start=1)
    )


def within_budget(plan: Plan, profile: Profile, spend: Spend) -> Plan:
    """docs/usage.md: when the spend so far plus the expected cost at the first planned attempt would exceed
    the profile's `[budget]`, every candidate is rejected with code `budget`; otherwise the plan stands."""
    if not plan.attempts or not profile.budget.is_set():
        return plan
    from orcli.routing.spend import check_budget

    verdict = check_budget(profile.budget, spend, plan.attempts[0].cost_usd)
    if verdict.fits:
        return plan
    over = tuple(
        Rejection(a.endpoint.model, a.endpoint.provider, RejectionCode.BUDGET, verdict.detail) for a in plan.attempts
    )
    return plan._replace(attempts=(), rejected=plan.rejected + over)
