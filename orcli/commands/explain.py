"""`orcli explain-route`: the attempt plan and every rejection, with reasons; no network (docs/commands.md#common-options)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from orcli.commands.common import (
    PromptArg,
    WideOpt,
    complete_providers,
    environment,
    handled,
    load_profile_for,
    read_prompt_input,
    route_flags,
)
from orcli.errors import NoRouteError
from orcli.ui.help import ROUTING
from orcli.ui.output import Output

AssumeDownOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--assume-down",
        help="Plan as if this provider had just failed (repeatable).",
        metavar="PROVIDER",
        rich_help_panel=ROUTING,
        autocompletion=complete_providers,
    ),
]


@handled
@route_flags
def explain_route(
    prompt: PromptArg = None,
    assume_down: AssumeDownOpt = None,  # read by route_flags into given.assume_down
    wide: WideOpt = False,
    *,
    no_stdin: bool,
    given: Any,
    out: Output,
    profile: str | None,
) -> None:
    """Show the attempt plan and every rejected endpoint, with reasons. No network."""
    from orcli.auth import problems_in
    from orcli.routing.policy import insecure_reason
    from orcli.routing.route import build_route
    from orcli.store.health_source import load_state
    from orcli.ui import render

    env = environment()
    loaded = load_profile_for(profile, env, out)
    text = read_prompt_input(prompt, no_stdin)
    snapshot, spend, notes = load_state(loaded, env, session=given.session)
    for note in notes:
        out.warn(note)
    route = build_route(loaded, given, text, env, health=snapshot, credentials=problems_in(env), spend=spend)
    for warning in route.warnings:
        out.warn(warning)
    planned = {a.endpoint.provider: loaded.providers[a.endpoint.provider] for a in route.plan.attempts}
    for provider in planned.values():  # explain-route sends nothing, but says now what ask would refuse
        if (reason := insecure_reason(provider, loaded.path)) is not None:
            out.warn(f"ask would refuse this route: {reason}")
            break
    if out.as_json:
        doc = render.explain_json(route)
        if spend is not None:
            doc["budget"] = render.budget_json(loaded, spend)
        if not route.plan.attempts:
            raise NoRouteError("no route: every candidate endpoint was rejected", extra=doc)
        out.json(doc)
        return
    out.table(render.preferences_table(route), wide)
    out.table(render.plan_table(route.plan, loaded.name, loaded.providers), wide)
    if route.plan.rejected:
        out.table(render.rejections_table(route.plan), wide)
    if spend is not None and (budget := render.budget_table(loaded, spend)) is not None:
        out.table(budget, wide)
    if not route.plan.attempts:
        raise NoRouteError(f"no route: {_every(len(route.plan.rejected))} rejected (see the table above).")


def _every(n: int) -> str:
    """`the only candidate endpoint was` / `all 3 candidate endpoints were`."""
    return "the only candidate endpoint was" if n == 1 else f"all {n} candidate endpoints were"
