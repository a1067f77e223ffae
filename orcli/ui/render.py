"""Tables (orcli.ui.tables) and JSON documents, both built from the same result objects; nothing here prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orcli.routing.preferences import PREFERENCES, as_dict, is_default, json_value
from orcli.types import EndpointHealth, Plan, PlannedAttempt, Price, Profile, Provider
from orcli.ui.tables import Column, TableData
from orcli.ui.words import plural

if TYPE_CHECKING:
    from orcli.routing.route import Route
    from orcli.types import HealthSnapshot


def money(value: float | None) -> str:
    """A price in USD, compact: whole cents when exact (`$0.40`), else three significant digits; `?` unknown."""
    if value is None:
        return "?"
    if value == 0:
        return "$0"
    if value >= 100:
        return f"${value:,.0f}"
    if value >= 0.01 and abs(round(value, 2) - value) < 1e-9:
        return f"${value:.2f}"
    return f"${value:.3g}" if value >= 1e-4 else f"${value:.2e}"


def money_pair(prompt: float | None, completion: float | None) -> str:
    """Prompt/completion prices per 1M tokens in one cell: `$0.40/$0.80`, `free`, `?` where unknown."""
    return "free" if prompt == 0 and completion == 0 else f"{money(prompt)}/{money(completion)}"


def money_per_million(value: float | None) -> str:
    return "free" if value == 0 else money(value)


def format_cost(value: float | None) -> str:
    """An expected cost with two significant digits (`$0.00052`); cents from $1 up; `?` when unknown."""
    if value is None:
        return "?"
    if value == 0:
        return "free"
    if value >= 1:
        return f"${value:,.2f}"
    import math

    decimals = max(2, 1 - math.floor(math.log10(value)))
    return f"${value:.{decimals}f}"


def _health_cell(h: EndpointHealth) -> str:
    text = h.describe()
    if h.consecutive_failures and h.state.value != "cooldown":
        text += f" ({h.consecutive_failures}/3)"
    return text


def price_json(price: Price | None) -> dict[str, float | None]:
    """List prices as JSON; all null when the profile gives none (unknown, not free: docs/profiles.md#the-format)."""
    if price is None:
        return {"prompt": None, "completion": None, "request": None}
    return {"prompt": price.prompt, "completion": price.completion, "request": price.request}


# -- explain-route ------------------------------------------------------------------------------------
def attempt_json(a: PlannedAttempt) -> dict[str, Any]:
    e = a.endpoint
    return {
        "rank": a.rank,
        "model": e.model,
        "provider": e.provider,
        "upstream_model": e.upstream_model,
        "price": {"expected_usd": None if a.cost_usd is None else round(a.cost_usd, 10), **price_json(e.price)},
        "context_length": e.context_length,
        "health": health_json(a.health),
        "reason": a.reason,
        # A load-balanced attempt's chance to be drawn first in its group (the group's sum 1); null otherwise.
        "share": None if a.share is None else round(a.share, 6),
        "adjusted_usd": None if a.adjusted_usd is None else round(a.adjusted_usd, 10),
    }


def health_json(h: EndpointHealth) -> dict[str, Any]:
    return {
        "state": h.state.value,
        "stable": h.stable,
        "cooldown_left_s": round(h.cooldown_left, 3) if h.cooldown_left else 0,
        "requests": h.requests,
        "failures": h.failures,
        "success_rate": None if h.success_rate is None else round(h.success_rate, 4),
        "consecutive_failures": h.consecutive_failures,
        "last_error": h.last_error,
        "last_error_age_s": None if h.last_error_age is None else round(h.last_error_age, 1),
        "median_ttft_s": h.median_ttft,
        "median_tokens_per_s": h.median_tps,
        "half_open": h.half_open,
        "cancelled": h.cancelled,
    }


def explain_json(route: Route) -> dict[str, Any]:
    req = route.request
    return {
        "profile": route.profile.path,
        "preferences": as_dict(route.prefs),
        "request": {
            "models": list(route.prefs.models),
            "parameters": sorted(req.parameters),
            "prompt_tokens": req.prompt_tokens,
            "prompt_tokens_estimated": True,
            "max_tokens": req.max_tokens,
        },
        # Each attempt names its provider's wire dialect (docs/dialects.md): who is called, and how.
        "attempts": [
            {**attempt_json(a), "api": route.profile.providers[a.endpoint.provider].api} for a in route.plan.attempts
        ],
        "rejected": [r.as_json() for r in route.plan.rejected],
        "warnings": list(route.warnings),
    }


def preferences_table(route: Route) -> TableData:
    columns = (Column("preference"), Column("from", dim=True), Column("value", prose=True))
    table = TableData(f"Effective preferences (profile {route.profile.name})", columns, [])
    for pref in PREFERENCES:
        source = route.prefs.sources.get(pref.name, "default")
        if source == "default" and pref.name != "models" and is_default(pref, route.prefs):
            continue  # defaults that change nothing would only add noise
        table.rows.append((pref.name, source, _plain(json_value(pref, getattr(route.prefs, pref.name)))))
    req = route.request
    size = (
        f"~{plural(req.prompt_tokens, 'token')} (estimated)"
        if req.prompt_given
        else f"{plural(req.prompt_tokens, 'token')} (no prompt: assumed)"
    )
    table.rows.append(("prompt", "request", size))
    if req.max_tokens is not None:
        table.rows.append(("max_tokens", "request", str(req.max_tokens)))
    if req.parameters:
        table.rows.append(("parameters", "request", ", ".join(sorted(req.parameters))))
    return table


def _plain(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v:g}" for k, v in value.items()) or "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "-" if value is None else str(value)


def plan_table(plan: Plan, profile_name: str, providers: Mapping[str, Provider]) -> TableData:
    """The attempt plan; narrow terminals drop the upstream model, then list prices, then context."""
    columns = (
        Column("#", right=True),
        Column("model", group=True),
        Column("provider"),
        Column("api", dim=True, drop=6),
        Column("upstream model", dim=True, drop=4),
        Column("cost", right=True, drop=2),
        Column("$/M in/out", right=True, drop=5),
        Column("context", right=True, drop=3),
        Column("health", drop=1),
        Column("why here", prose=True),
    )
    table = TableData(f"Attempt plan (profile {profile_name})", columns, [])
    for a in plan.attempts:
        e = a.endpoint
        table.rows.append(
            (
                str(a.rank),
                e.model,
                e.provider,
                providers[e.provider].api,
                e.upstream_model,
                format_cost(a.cost_usd),
                money_pair(getattr(e.price, "prompt", None), getattr(e.price, "completion", None)),  # None: ?
                _context(e.context_length),
                _health_cell(a.health),
                a.reason,
            )
        )
    return table


def _context(tokens: int | None) -> str:
    """A context length the way model cards write it: 131,072 -> 128K, 1,000,000 -> 1M."""
    if not tokens:
        return "-"
    if tokens >= 1_000_000 and tokens % 1_000_000 == 0:
        return f"{tokens // 1_000_000}M"
    if tokens >= 1000 and tokens % 1000 == 0:
        return f"{tokens // 1000}K"
    if tokens >= 1024 and tokens % 1024 == 0:
        return f"{tokens // 1024}K"
    return f"{tokens:,}"


def rejections_table(plan: Plan) -> TableData:
    columns = (Column("model", group=True), Column("provider"), Column("code"), Column("detail", prose=True))
    return TableData("Rejected", columns, [(r.model, r.provider, r.code.value, r.detail) for r in plan.rejected])


# -- providers ----------------------------------------------------------------------------------------
def providers_json(profile: Profile, env: Mapping[str, str], health: HealthSnapshot) -> dict[str, Any]:
    """Every provider with its endpoints: one pass over the endpoints, whatever the profile's size."""
    by_provider: dict[str, list[dict[str, Any]]] = {name: [] for name in profile.providers}
    for e in profile.endpoints:
        by_provider.setdefault(e.provider, []).append(
            {
                "model": e.model,
                "upstream_model": e.upstream_model,
                "price": price_json(e.price),
                "context_length": e.context_length,
                "max_completion_tokens": e.max_completion_tokens,
                "quantization": e.quantization,
                "parameters": sorted(e.parameters),
                "health": health_json(health.get(e.model, e.provider)),
            }
        )
    providers = [
        {
            "name": p.name,
            "base_url": p.base_url,
            "api": p.api,
            "api_key_env": p.api_key_env,
            "key_set": key_set(p, env),
            "data_collection": p.data_collection,
            "zdr": p.zdr,
            "endpoints": by_provider[p.name],
        }
        for p in profile.providers.values()
    ]
    return {"profile": profile.path, "providers": providers}


def key_set(p: Provider, env: Mapping[str, str]) -> bool:
    """A usable key (docs/security.md), none needed, or a keyless cloud provider's credentials present locally."""
    if p.api_key_env is not None:
        from orcli.routing.policy import usable_key

        return usable_key(env.get(p.api_key_env, ""))
    from orcli.wire import DIALECTS

    if DIALECTS[p.api].keyless_auth is None:
        return True
    from orcli.auth import credential_problem

    return credential_problem(p, env) is None


def key_text(p: Mapping[str, Any], none: str = "no key needed") -> str:
    """The key column of `providers` and `profiles show`: the variable and whether it is set; a cloud's own
    credentials and whether they were found; or that none is needed."""
    if p["api_key_env"] is not None:
        return f"{p['api_key_env']} set" if p["key_set"] else f"{p['api_key_env']} MISSING"
    from orcli.wire import DIALECTS

    scheme = DIALECTS[p["api"]].keyless_auth if p["api"] in DIALECTS else None
    if scheme is None:
        return none
    from orcli.auth import SCHEME_LABELS

    return f"{SCHEME_LABELS.get(scheme, scheme)} {'found' if p['key_set'] else 'MISSING'}"


def providers_table(doc: dict[str, Any], profile_name: str) -> TableData:
    """Every endpoint of every provider; a narrow terminal makes each provider a heading line."""
    columns = (
        Column("provider", group=True),
        Column("api", group=True, dim=True, drop=7),
        Column("key", group=True),
        Column("policy", group=True, dim=True),
        Column("model"),
        Column("upstream model", dim=True, drop=4),
        Column("$/M in/out", right=True, drop=1),
        Column("context", right=True, drop=3),
        Column("quant", drop=5),
        Column("health", drop=2),
        Column("parameters", prose=True, dim=True, drop=6),
    )
    table = TableData(f"Providers (profile {profile_name})", columns, [])
    for p in doc["providers"]:
        key = key_text(p)
        policy = ("no training" if p["data_collection"] == "deny" else "may train") + (", zdr" if p["zdr"] else "")
        if not p["endpoints"]:
            table.rows.append((p["name"], p["api"], key, policy, "(no endpoints)", "", "", "", "", "", ""))
        for e in p["endpoints"]:
            table.rows.append(
                (
                    p["name"],
                    p["api"],
                    key,
                    policy,
                    e["model"],
                    e["upstream_model"],
                    money_pair(e["price"]["prompt"], e["price"]["completion"]),
                    _context(e["context_length"]),
                    e["quantization"] or "-",
                    e["health"]["state"],
                    ", ".join(e["parameters"]) or "-",
                )
            )
    return table


# -- budgets (docs/usage.md) ---------------------------------------------------------------------------
def budget_json(profile: Profile, spend: Any) -> dict[str, Any] | None:
    """Each budget's limit, what was spent (running requests' holds included) and what is left; None without
    a `[budget]`."""
    budget = profile.budget
    if not budget.is_set():
        return None
    doc: dict[str, Any] = {}
    for name, limit, spent in (
        ("daily_usd", budget.daily_usd, spend.day_usd),
        ("monthly_usd", budget.monthly_usd, spend.month_usd),
    ):
        if limit is not None:
            doc[name] = {"limit": limit, "spent": round(spent, 10), "left": round(max(0.0, limit - spent), 10)}
    return doc


def budget_table(profile: Profile, spend: Any) -> TableData | None:
    from orcli.routing.spend import money as usd

    doc = budget_json(profile, spend)
    if doc is None:
        return None
    columns = (Column("budget"), Column("limit", right=True), Column("spent", right=True), Column("left", right=True))
    period = {"daily_usd": "daily_usd (UTC day)", "monthly_usd": "monthly_usd (calendar month)"}
    rows: list[tuple[str, ...]] = [
        (period[k], usd(v["limit"]), usd(v["spent"]), usd(v["left"])) for k, v in doc.items()
    ]
    return TableData(f"Budget (profile {profile.name}, spend shared by everyone on the store)", columns, rows)
