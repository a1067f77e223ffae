"""`orcli profiles check`: the CI lint of a valid profile (docs/profiles.md#managing-profiles); pure: profile and environment in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from orcli.types import MissingExtra, Profile, Provider


class Problem(NamedTuple):
    """One finding; `code` is stable for scripts, `subject` names what it is about."""

    code: str
    subject: str
    detail: str


CODES = (
    "unknown_price",
    "model_without_endpoint",
    "provider_without_endpoint",
    "key_not_set",
    "insecure_url",
    "unknown_name",
)


def check_profile(
    profile: Profile, env: Mapping[str, str], credentials: Callable[[Provider], str | None] | None = None
) -> list[Problem]:
    """Every problem of a profile that validation lets through, in CODES order. `credentials` says why a
    provider without a key has no cloud credentials (orcli/auth, network-free), when the caller can tell."""
    from orcli.routing.planner import unknown_name_warnings
    from orcli.routing.policy import insecure_reason
    from orcli.routing.preferences import merge

    problems: list[Problem] = []
    for number, e in enumerate(profile.endpoints, start=1):
        if e.price is None:  # docs/profiles.md#the-format: no `price` table means unknown, not free
            problems.append(
                Problem(
                    "unknown_price",
                    f"{e.model} on {e.provider}",
                    f"endpoint[{number}] has no price: it is never treated as free",
                )
            )
    served = {e.model for e in profile.endpoints}
    tables = [("routing", profile.routing), *((f"presets.{n}", t) for n, t in profile.presets.items())]
    for where, table in tables:
        models = table.get("models")
        for model in models if isinstance(models, list | tuple) else ():
            if model not in served:
                problems.append(
                    Problem("model_without_endpoint", model, f"{where}.models names it, no endpoint serves it")
                )
    used = {e.provider for e in profile.endpoints}
    for name in profile.providers:
        if name not in used:
            problems.append(Problem("provider_without_endpoint", name, "no endpoint uses this provider"))
    for p in profile.providers.values():
        if p.api_key_env is not None and not env.get(p.api_key_env, "").strip():
            problems.append(Problem("key_not_set", p.name, f"${p.api_key_env} is not set (no_credentials)"))
        elif p.api_key_env is None and credentials is not None:
            missing = credentials(p)
            if missing is not None:
                code = "missing_extra" if isinstance(missing, MissingExtra) else "no_credentials"
                problems.append(Problem("key_not_set", p.name, f"{missing} ({code})"))
    for p in profile.providers.values():
        reason = insecure_reason(p, profile.path)
        if reason is not None:
            problems.append(Problem("insecure_url", p.name, reason))
    for where, table in tables:
        preset = (where.split(".", 1)[1], table) if where != "routing" else None
        for warning in unknown_name_warnings(merge(profile.routing, {}, preset), profile.providers):
            field = warning.split(" ", 1)[0]
            if preset is None or preset[1].get(field) is not None:  # a preset's own names only: no repeats
                problems.append(Problem("unknown_name", f"{where}.{field}", warning))
    return problems


# -- --online: the providers' own model lists --------------------------------------------------------------
ONLINE_CODES = ("unknown_upstream_model", "key_rejected", "unreachable")
NOT_CHECKED = ("not_listable", "key_not_set")  # no list to compare with, and no fault of the provider


class ListAnswer(NamedTuple):
    """What one provider's model list said (model_lists.Listed has this shape): its ids, or why none."""

    ids: tuple[str, ...] | None
    problem: str | None = None
    detail: str = ""


def online_problems(profile: Profile, lists: Mapping[str, ListAnswer]) -> list[Problem]:
    """`profiles check --online` (docs/profiles.md#checking-a-profile-online): a provider whose list was
    refused or not read, and every endpoint whose upstream id its provider does not list (an undated alias of
    a listed dated id counts as listed), with up to three closest ids."""
    from orcli.profile.model_ids import closest, served_alias

    problems: list[Problem] = []
    for name, answer in lists.items():
        if answer.ids is None and answer.problem not in NOT_CHECKED:
            code = "key_rejected" if answer.problem == "key_rejected" else "unreachable"
            problems.append(Problem(code, name, answer.detail or code))
    for e in profile.endpoints:
        listed = lists.get(e.provider)
        ids = listed.ids if listed is not None else None
        if ids is None or e.upstream_model in ids or served_alias(e.upstream_model, ids):
            continue
        near = closest(e.upstream_model, ids)
        hint = f"; closest: {', '.join(near)}" if near else "; it lists nothing close"
        problems.append(
            Problem(
                "unknown_upstream_model",
                f"{e.model} on {e.provider}",
                f"`{e.upstream_model}` is not in {e.provider}'s model list{hint}",
            )
        )
    return problems
