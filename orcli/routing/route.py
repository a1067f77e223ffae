"""Everything between parsed flags and a Plan: preferences, request, health snapshot; pure (no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from orcli.errors import UsageError
from orcli.routing import preferences as prefs_mod
from orcli.routing.names import name_matches
from orcli.routing.planner import plan as make_plan
from orcli.routing.prompt import DEFAULT_PROMPT_TOKENS, estimate_tokens
from orcli.routing.sticky import StickyRule, live
from orcli.types import (
    EMPTY_MAP,
    EndpointHealth,
    HealthSnapshot,
    HealthState,
    Plan,
    Preferences,
    Profile,
    Provider,
    Request,
    Spend,
)


class RouteInput(NamedTuple):
    """The routing and request flags of one request, as given (`overrides` holds only preferences given)."""

    overrides: Mapping[str, object] = EMPTY_MAP  # preferences.overrides_from_flags: name -> value
    seed: int | None = None
    system: str | None = None
    options: tuple[str, ...] = ()  # raw `-o KEY=VALUE` texts
    values: Mapping[str, object] = EMPTY_MAP  # options already typed (the gateway's JSON body)
    max_tokens: int | None = None
    assume_down: tuple[str, ...] = ()
    tools: tuple[Mapping[str, object], ...] | None = (
        None  # --tools (docs/commands.md#answers-beyond-text), already validated
    )
    schema: Mapping[str, object] | None = None  # --schema (docs/commands.md#answers-beyond-text)
    preset: str | None = None  # --preset NAME / serve's `@preset/NAME` (docs/routing.md, "Presets")
    session: str | None = None  # --session ID / serve's x-session-id (docs/routing.md, "Sticky sessions")


class Route(NamedTuple):
    profile: Profile
    prefs: Preferences
    request: Request
    plan: Plan
    prompt: str | None
    system: str | None
    options: Mapping[str, object] = EMPTY_MAP
    warnings: tuple[str, ...] = ()
    tools: tuple[Mapping[str, object], ...] | None = None
    schema: Mapping[str, object] | None = None
    session: str | None = None  # --session: a success binds the session to its provider (sticky.py)


_RESERVED_HINTS = {
    "model": "choose models with -m/--model",
    "messages": "give the prompt as the argument or on standard input, the system prompt with -s",
    "stream": "use --no-stream to wait for the whole answer",
    "stream_options": "orcli asks for usage itself",
}

# No model writes a billion tokens in one answer; the bound keeps cost arithmetic in float range.
MAX_TOKENS_LIMIT = 1_000_000_000


def parse_options(
    raw: tuple[str, ...], max_tokens: int | None, values: Mapping[str, object] = EMPTY_MAP
) -> dict[str, object]:
    """The request's options: typed values, then `-o` texts, then --max-tokens; max_tokens checked."""
    from orcli.routing.options import RESERVED_OPTIONS, parse_option

    options: dict[str, object] = dict(values)
    for text in raw:
        try:
            key, value = parse_option(text)
        except ValueError as exc:
            raise UsageError(f"-o/--option {text!r}: {exc}") from None
        if key in RESERVED_OPTIONS:
            # docs/commands.md#routing-and-request-flags, issue 10 item 9: orcli sets these itself; refused before any attempt, nothing recorded.
            raise UsageError(
                f"-o/--option {text!r}: `{key}` is set by orcli and cannot be given as an option "
                f"({_RESERVED_HINTS.get(key, 'remove it')})."
            )
        options[key] = value
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    if "max_tokens" in options:
        value = options["max_tokens"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_TOKENS_LIMIT:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:39] + "…"  # no "...." (issue 14)
            raise UsageError(f"max_tokens must be a whole number from 1 to {MAX_TOKENS_LIMIT:,} (got {shown}).")
    return options


def request_parameters(given: RouteInput) -> frozenset[str]:
    """The parameters --tools and --schema add (docs/commands.md#answers-beyond-text): `tools`, and `response_format` for a schema."""
    return frozenset(
        name for name, value in (("tools", given.tools), ("response_format", given.schema)) if value is not None
    )


def key_problems_in(env: Mapping[str, str]) -> Callable[[Provider], str | None]:
    """Why a provider cannot be called with the keys in `env` (None: it can); policy.key_problem (docs/security.md)."""
    from orcli.routing.policy import key_problem

    return lambda provider: key_problem(provider, env)


def has_key_in(env: Mapping[str, str]) -> Callable[[Provider], bool]:
    """Whether a provider has a key in `env` that an HTTP header can carry (or needs none)."""
    problem = key_problems_in(env)
    return lambda provider: problem(provider) is None


def assumed_down(profile: Profile, names: tuple[str, ...], base: HealthSnapshot) -> HealthSnapshot:
    """`--assume-down`: plan as if these providers had just failed (unstable, not yet in cooldown)."""
    names = prefs_mod.split_names(names)
    known = set(profile.providers)
    for rule in names:
        if not any(name_matches(rule, p) for p in known):
            raise UsageError(f"--assume-down: no provider `{rule}` in profile {profile.name}.")
    endpoints = dict(base.endpoints)
    for e in profile.endpoints:
        if any(name_matches(rule, e.provider) for rule in names):
            old = base.get(e.model, e.provider)
            endpoints[e.key] = EndpointHealth(
                state=HealthState.COOLDOWN if old.state is HealthState.COOLDOWN else HealthState.UNSTABLE,
                stable=False,
                cooldown_left=old.cooldown_left,
                requests=old.requests + 1,
                failures=old.failures + 1,
                consecutive_failures=old.consecutive_failures + 1,
                last_error="assumed down (--assume-down)",
                last_error_age=0.0,
                median_ttft=old.median_ttft,
                median_tps=old.median_tps,
            )
    return base._replace(endpoints=endpoints)


def apply_preset(profile: Profile, given: RouteInput) -> tuple[RouteInput, tuple[str, Mapping[str, object]] | None]:
    """The chosen preset's request values under the request's own (system, options, max_tokens: the request
    wins, key by key), and its routing table for `preferences.merge`; an unknown name is a usage error."""
    if given.preset is None:
        return given, None
    table = profile.presets.get(given.preset)
    if table is None:
        names = ", ".join(sorted(profile.presets)) or "none: add [presets.NAME] tables to define one"
        raise UsageError(f"no preset `{given.preset}` in profile {profile.name} (presets: {names}).")
    values: dict[str, object] = dict(table.get("options", EMPTY_MAP))  # type: ignore[call-overload]
    if "max_tokens" in table:
        values["max_tokens"] = table["max_tokens"]
    values.update(given.values)
    system = given.system if given.system is not None else table.get("system")
    given = given._replace(values=values, system=system)  # type: ignore[arg-type]
    routing = {k: v for k, v in table.items() if k in prefs_mod.BY_NAME}
    return given, (given.preset, routing)  # type: ignore[return-value]


def build_route(
    profile: Profile,
    given: RouteInput,
    prompt: str | None,
    env: Mapping[str, str],
    health: HealthSnapshot | None = None,
    credentials: Callable[[Provider], str | None] | None = None,
    spend: Spend | None = None,
) -> Route:
    """(profile, flags, prompt text, keys in the environment, health) -> the route: pure, no I/O.

    Shared by `ask`, `explain-route` and `serve`; the caller reads the prompt and the health store, and
    passes `credentials` (orcli/auth: why a provider has none, from the environment and local files) when
    the profile may hold providers whose credentials are more than a key in `env`, and the `spend` the
    profile's `[budget]` is checked against (None: nothing spent; docs/usage.md).
    """
    given, preset = apply_preset(profile, given)
    prefs = prefs_mod.merge(profile.routing, given.overrides, preset)
    if not prefs.models:
        raise UsageError(
            "no model to route: pass -m/--model MODEL or set models = [...] in the profile's [routing] "
            f"({profile.path})."
        )
    known_models = {e.model for e in profile.endpoints}
    unknown = [m for m in prefs.models if m not in known_models]
    if len(unknown) == len(prefs.models):
        import difflib

        hints = [difflib.get_close_matches(m, sorted(known_models), n=1) for m in unknown]
        hint = "".join(f" Did you mean `{h[0]}`?" for h in hints if h)
        raise UsageError(
            f"no endpoint in profile {profile.name} serves {', '.join(f'`{m}`' for m in unknown)}.{hint} "
            "`orcli providers` lists the models it knows."
        )
    warnings = [f"model `{m}` has no endpoint in profile {profile.name}; skipped" for m in unknown]
    options = parse_options(given.options, given.max_tokens, given.values)
    prompt_tokens = estimate_tokens(prompt, given.system) if prompt else DEFAULT_PROMPT_TOKENS
    request = Request(
        prompt_tokens=prompt_tokens,
        max_tokens=options.get("max_tokens"),  # type: ignore[arg-type]
        parameters=frozenset(options) | request_parameters(given),
        prompt_given=prompt is not None,
    )
    snapshot = health or HealthSnapshot()
    if given.assume_down:
        snapshot = assumed_down(profile, given.assume_down, snapshot)
    sticky = StickyRule(given.session, live(snapshot.sticky)) if given.session and snapshot.sticky else None
    problem = credentials or key_problems_in(env)
    plan = make_plan(
        profile,
        request,
        prefs,
        snapshot,
        seed=given.seed,
        key_problem=problem,
        sticky=sticky,
        spend=spend or Spend(),
    )
    return Route(
        profile=profile,
        prefs=prefs,
        request=request,
        plan=plan,
        prompt=prompt,
        system=given.system,
        options=options,
        warnings=tuple(warnings) + plan.warnings,
        tools=given.tools,
        schema=given.schema,
        session=given.session,
    )
