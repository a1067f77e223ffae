"""`orcli providers`: every provider and endpoint of the profile, with policy, key status and health."""

from __future__ import annotations

from orcli.commands.common import (
    DebugOpt,
    JsonOpt,
    NoColorOpt,
    ProfileOpt,
    QuietOpt,
    WideOpt,
    environment,
    handled,
    load_profile_for,
)
from orcli.ui.output import Output


@handled
def providers(
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
    wide: WideOpt = False,
    *,
    out: Output,
) -> None:
    """List the profile's providers and endpoints: prices, context, policy, key status, health."""
    from orcli.store.health_source import load_snapshot
    from orcli.ui import render

    env = environment()
    loaded = load_profile_for(profile, env, out)
    snapshot, notes = load_snapshot(loaded, env)
    for note in notes:
        out.warn(note)
    doc = render.providers_json(loaded, env, snapshot)
    if as_json:
        out.json(doc)
        return
    out.table(render.providers_table(doc, loaded.name), wide)
