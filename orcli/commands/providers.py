"""`orcli providers`: every provider and endpoint of the profile, with policy, key status and health."""

from __future__ import annotations

from orcli.commands.common import (
    WideOpt,
    environment,
    handled,
    load_profile_for,
)
from orcli.ui.output import Output


@handled
def providers(
    wide: WideOpt = False,
    *,
    out: Output,
    profile: str | None,
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
    if out.as_json:
        out.json(doc)
        return
    out.table(render.providers_table(doc, loaded.name), wide)
