"""Rich tables and JSON documents, both built from the same result objects; nothing here prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orcli.preferences import PREFERENCES, as_dict, is_default, json_value
from orcli.tables import Column, TableData
from orcli.types import EndpointHealth, Plan, PlannedAttempt, Profile, Rejection


def money_per_million(value: float) -> str:
    return "free" if value == 0 else f"${value:.4g}"


def format_cost(value: float) -> str:
    return "free" if value == 0 else f"${value:.6f}"


def _health_cell(h: EndpointHealth) -> str:
    text = h.describe()
    if h.consecutive_failures and h.state.value != "cooldown":
        text += f" ({h.consecutive_failures}/3)"
    return text


# -- explain-route ------------------------------------------------------------------------------------
def attempt_json(a: PlannedAttempt) -> dict[str, Any]:
    e = a.endpoint
    return {
        "rank": a.rank,
        "model": e.model,
        "provider": e.provider,
        "upstream_model": e.upstream_model,
        "price": {
            "expected_usd": round(a.cost_usd, 10),
            "prompt": e.price.prompt,
            "completion": e.price.completion,
            "request": e.price.request,
        },
        "context_length": e.context_length,
        "health": health_json(a.health),
        "reason": a.reason,
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
    }


def rejection_json(r: Rejection) -> dict[str, str]:
    return {"model": r.model, "provider": r.provider, "code": r.code.value, "detail": r.detail}


def explain_json(route) -> dict[str, Any]:
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
        "attempts": [attempt_json(a) for a in route.plan.attempts],
        "rejected": [rejection_json(r) for r in route.plan.rejected],
        "warnings": list(route.warnings),
    }


def preferences_table(route) -> TableData:
    table = TableData("Effective preferences", (Column("preference"), Column("value"), Column("from", dim=True)), [])
    for pref in PREFERENCES:
        source = route.prefs.sources.get(pref.name, "default")
        if source == "default" and pref.name != "models" and is_default(pref, route.prefs):
            continue  # defaults that change nothing would only add noise
        table.rows.append((pref.name, _plain(json_value(pref, getattr(route.prefs, pref.name))), source))
    req = route.request
    size = (
        f"~{req.prompt_tokens:,} tokens (estimated)"
        if req.prompt_given
        else f"{req.prompt_tokens:,} tokens (no prompt: assumed)"
    )
    table.rows.append(("prompt", size, "request"))
    if req.max_tokens is not None:
        table.rows.append(("max_tokens", str(req.max_tokens), "request"))
    if req.parameters:
        table.rows.append(("parameters", ", ".join(sorted(req.parameters)), "request"))
    return table


def _plain(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v:g}" for k, v in value.items()) or "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "-" if value is None else str(value)


def plan_table(plan: Plan) -> TableData:
    columns = (Column("#", right=True), Column("model"), Column("provider"), Column("upstream model"),
               Column("price", right=True), Column("context", right=True), Column("health"), Column("why here"))  # fmt: skip
    table = TableData("Attempt plan", columns, [])
    for a in plan.attempts:
        e = a.endpoint
        table.rows.append(
            (
                str(a.rank),
                e.model,
                e.provider,
                e.upstream_model,
                format_cost(a.cost_usd),
                f"{e.context_length:,}" if e.context_length else "-",
                _health_cell(a.health),
                a.reason,
            )
        )
    return table


def rejections_table(plan: Plan) -> TableData:
    columns = (Column("model"), Column("provider"), Column("code"), Column("detail"))
    return TableData("Rejected", columns, [(r.model, r.provider, r.code.value, r.detail) for r in plan.rejected])


# -- providers ----------------------------------------------------------------------------------------
def providers_json(profile: Profile, env: Mapping[str, str], health) -> dict[str, Any]:
    providers = []
    for p in profile.providers.values():
        providers.append(
            {
                "name": p.name,
                "base_url": p.base_url,
                "api": p.api,
                "api_key_env": p.api_key_env,
                "key_set": p.api_key_env is None or bool(env.get(p.api_key_env, "").strip()),
                "data_collection": p.data_collection,
                "zdr": p.zdr,
                "endpoints": [
                    {
                        "model": e.model,
                        "upstream_model": e.upstream_model,
                        "price": {
                            "prompt": e.price.prompt,
                            "completion": e.price.completion,
                            "request": e.price.request,
                        },
                        "context_length": e.context_length,
                        "max_completion_tokens": e.max_completion_tokens,
                        "quantization": e.quantization,
                        "parameters": sorted(e.parameters),
                        "health": health_json(health.get(e.model, e.provider)),
                    }
                    for e in profile.endpoints
                    if e.provider == p.name
                ],
            }
        )
    return {"profile": profile.path, "providers": providers}


def providers_table(doc: dict[str, Any]) -> TableData:
    columns = (Column("provider"), Column("key"), Column("policy"), Column("model"), Column("upstream model"),
               Column("$/M in", right=True), Column("$/M out", right=True), Column("context", right=True),
               Column("quant"), Column("parameters"), Column("health"))  # fmt: skip
    table = TableData(f"Providers in {doc['profile']}", columns, [])
    for p in doc["providers"]:
        if p["api_key_env"] is None:
            key = "not needed"
        else:
            key = f"{p['api_key_env']} set" if p["key_set"] else f"{p['api_key_env']} MISSING"
        policy = ("no training" if p["data_collection"] == "deny" else "may train") + (", zdr" if p["zdr"] else "")
        rows = p["endpoints"] or [None]
        for i, e in enumerate(rows):
            first = i == 0
            if e is None:
                table.rows.append((p["name"], key, policy, "(no endpoints)", "", "", "", "", "", "", ""))
                continue
            table.rows.append(
                (
                    p["name"] if first else "",
                    key if first else "",
                    policy if first else "",
                    e["model"],
                    e["upstream_model"],
                    money_per_million(e["price"]["prompt"]),
                    money_per_million(e["price"]["completion"]),
                    f"{e['context_length']:,}" if e["context_length"] else "-",
                    e["quantization"] or "-",
                    ", ".join(e["parameters"]) or "-",
                    e["health"]["state"],
                )
            )
    return table
