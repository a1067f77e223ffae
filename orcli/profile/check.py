"""`orcli profiles check`: the CI lint of a valid profile (SPEC §12); pure: profile and environment in."""

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
        if e.price is None:  # SPEC §2: no `price` table means unknown, not free
            problems.append(
                Problem(
                    "unknown_price",
                    f"{e.model} on {e.provider}",
                    f"endpoint[{number}] has no price: it is never treated as free",
                )
            )
    served = {e.model for e in profile.endpoints}
    models = profile.routing.get("models")
    for model in models if isinstance(models, list | tuple) else ():
        if model not in served:
            problems.append(Problem("model_without_endpoint", model, "routing.models names it, no endpoint serves it"))
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
    for warning in unknown_name_warnings(merge(profile.routing, {}), profile.providers):
        field = warning.split(" ", 1)[0]
        problems.append(Problem("unknown_name", f"routing.{field}", warning))
    return problems
