"""`orcli profiles list|show|init|check`: see, start and lint profiles (`import` lives in profiles_import.py)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orcli.commands.common import complete_profiles, environment, handled, load_profile_for
from orcli.errors import EXIT_FAILED, OrcliError, UsageError
from orcli.ui.output import Output
from orcli.ui.words import plural

if TYPE_CHECKING:
    from orcli.profile.check import Problem
    from orcli.types import Profile

NameArg = Annotated[
    str | None, typer.Argument(help="Profile name or path (default: --profile, else `default`).", metavar="[NAME]")
]


def today() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())


def bare_name(name: str) -> str:
    """A profile name `init`/`import` may create in the user config dir: no path, no hidden file."""
    from orcli.profile.resolve import is_path_spec

    if is_path_spec(name) or name.startswith(".") or not name.strip() or "\\" in name:
        raise UsageError(f"`{name}` is not a profile name: use letters, digits, `-`, `_` or `.` (no path).")
    return name


# -- list ----------------------------------------------------------------------------------------------
@handled
def profiles_list(
    *,
    out: Output,
    profile: str | None,
) -> None:
    """Every profile orcli can see, where it lives, and which one commands use by default."""
    from orcli.profile.resolve import bundled_profiles_dir, resolve_profile, user_profiles_dir, visible_profiles
    from orcli.ui.tables import Column, TableData

    env = environment()
    try:
        chosen = resolve_profile(profile, env)
        default_path: str | None = str(chosen.path)
        fallback = bool(chosen.looked_for)
    except OrcliError as exc:  # a wrong ORCLI_PROFILE is worth showing here, not fatal
        default_path, fallback = None, False
        out.warn(exc.message)
    entries = [
        {
            "name": e.name,
            "path": str(e.path),
            "source": e.source,
            "default": str(e.path) == default_path,
            "shadowed": e.shadowed,
        }
        for e in visible_profiles()
    ]
    doc = {
        "user_dir": str(user_profiles_dir()),
        "bundled_dir": str(bundled_profiles_dir()),
        "default": default_path,
        "default_is_fallback": fallback,
        "profiles": entries,
    }
    if out.as_json:
        out.json(doc)
        return
    # Paths are whole or not shown (docs/commands.md): on a narrow terminal `source`, then `path` give way.
    columns = (Column("name"), Column("source", drop=2), Column("default"), Column("path", drop=1))
    rows: list[tuple[str, ...]] = [
        (
            str(e["name"]),
            f"{e['source']}{' (shadowed)' if e['shadowed'] else ''}",
            "*" if e["default"] else "",
            str(e["path"]),
        )
        for e in entries
    ]
    out.table(TableData("Profiles", columns, rows))
    if default_path is not None and not any(e["default"] for e in entries):
        out.note(f"default: {default_path} (from --profile or ORCLI_PROFILE)")
    if fallback:
        # The folder last, on its own line: a path is never broken by the wrapping of a sentence.
        advice = "note: no `default` profile yet: commands use the bundled example. Run `orcli profiles init` to"
        out.note(f"{advice} write your own into\n  {doc['user_dir']}")


# -- show ----------------------------------------------------------------------------------------------
@handled
def profiles_show(
    name: NameArg = None,
    *,
    out: Output,
    profile: str | None,
) -> None:
    """The resolved path and a validated summary: providers, endpoints, models, which keys are set."""
    from orcli.ui.tables import Column, TableData

    env = environment()
    loaded = load_profile_for(name or profile, env, out)
    from orcli.ui.render import key_set, key_text

    per_provider: dict[str, int] = {}
    per_model: dict[str, list[str]] = {}
    for e in loaded.endpoints:
        per_provider[e.provider] = per_provider.get(e.provider, 0) + 1
        per_model.setdefault(e.model, []).append(e.provider)
    providers = [
        {
            "name": p.name,
            "api": p.api,
            "base_url": p.base_url,
            "api_key_env": p.api_key_env,
            "key_set": key_set(p, env),
            "endpoints": per_provider.get(p.name, 0),
        }
        for p in loaded.providers.values()
    ]
    doc = {
        "name": loaded.name,
        "path": loaded.path,
        "valid": True,
        "routing_models": list(loaded.routing.get("models", ()) or ()),
        "endpoints": len(loaded.endpoints),
        "unknown_prices": sum(1 for e in loaded.endpoints if e.price is None),
        "providers": providers,
        "models": [{"model": m, "providers": ps} for m, ps in per_model.items()],
    }
    if out.as_json:
        out.json(doc)
        return
    keys = sum(1 for p in providers if p["key_set"])
    out.paragraph(
        f"profile {loaded.name}: {loaded.path}\n"
        f"valid: {plural(len(providers), 'provider')} ({keys} with keys set), "
        f"{plural(len(loaded.endpoints), 'endpoint')} ({doc['unknown_prices']} with unknown price), "
        f"{plural(len(per_model), 'model')}\n"
        f"routing.models: {', '.join(doc['routing_models']) or '(none)'}\n"  # a blank line before the tables
    )
    rows: list[tuple[str, ...]] = []
    for p in providers:
        key = key_text(p, none="not needed")
        rows.append((str(p["name"]), str(p["api"]), key, str(p["endpoints"]), str(p["base_url"])))
    # URLs are whole or not shown: on a narrow terminal base_url gives way first, then the counts and the api.
    columns = (
        Column("provider"),
        Column("api", drop=2),
        Column("key"),
        Column("endpoints", right=True, drop=1),
        Column("base_url", drop=3),
    )
    out.table(TableData("Providers", columns, rows))
    # The providers list wraps between names (prose), never inside one.
    model_rows: list[tuple[str, ...]] = [(m, str(len(ps)), ", ".join(ps)) for m, ps in per_model.items()]
    model_columns = (Column("model"), Column("endpoints", right=True, drop=1), Column("providers", prose=True))
    out.table(TableData("Models", model_columns, model_rows))


# -- init ----------------------------------------------------------------------------------------------
def profile_to_write(same_as: str, metavar: str) -> Any:
    """-p/--profile of `init` and `import`: not the profile commands read, but the one they write."""
    return typer.Option(
        "--profile",
        "-p",
        help=f"The profile to write: {same_as} (ORCLI_PROFILE does not choose it).",
        metavar=metavar,
        autocompletion=complete_profiles,
    )


def one_target(ctx: typer.Context, parameter: str, profile: str | None) -> str:
    """The profile `init` or `import` writes: NAME or --into, or -p/--profile (the same thing); both, naming
    two profiles, is an error. ORCLI_PROFILE never chooses it: a shell's setting must not redirect a write."""
    given = str(ctx.params[parameter])
    source = ctx.get_parameter_source(parameter)
    if profile is None:
        return given
    if source is not None and source.name != "DEFAULT" and given != profile:
        shown = "NAME" if parameter == "name" else f"--{parameter}"
        raise UsageError(f"{shown} `{given}` and --profile `{profile}` name two profiles; give one of them.")
    return profile


@handled
def profiles_init(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new profile.", metavar="[NAME]")] = "default",
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing profile (kept as NAME.toml.bak).")
    ] = False,
    profile: Annotated[str | None, profile_to_write("the same as NAME", "NAME")] = None,
    *,
    out: Output,
) -> None:
    """Write a starter profile into the user config dir: the providers whose keys are set (all, if none are)."""
    import tomllib

    from orcli.profile.resolve import bundled_profiles_dir, user_profiles_dir
    from orcli.profile.write import save_profile, starter_data

    name = one_target(ctx, "name", profile)
    env = environment()
    path = user_profiles_dir() / f"{bare_name(name)}.toml"
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; pass --force to overwrite it (the old one is kept as .bak).")
    example = bundled_profiles_dir() / "example.toml"
    from orcli.auth import local_cloud_settings

    def cloud(table: Mapping[str, object]) -> dict[str, object] | bool | None:
        return local_cloud_settings(table, env)

    data, kept, by_key = starter_data(tomllib.loads(example.read_text(encoding="utf-8")), env, cloud)
    header = (
        f"orcli profile `{name}`, written by `orcli profiles init` on {today()} from the bundled example.\n"
        + (
            "Providers whose keys (or cloud credentials) are set in the environment.\n"
            if by_key
            else "All providers: no key was set.\n"
        )
        + "Prices are USD per 1M tokens and drift: refresh them with `orcli profiles import openrouter -m MODEL`."
    )
    backup = save_profile(path, data, header=header)
    doc = {
        "path": str(path),
        "providers": kept,
        "chosen_by": "keys set" if by_key else "all (no key set)",
        "endpoints": len(data.get("endpoint", [])),
        "models": data.get("routing", {}).get("models", []),
        "backup": None if backup is None else str(backup),
    }
    if out.as_json:
        out.json(doc)
        return
    out.stdout.write(f"wrote {path}\n")
    out.note(
        f"{len(kept)} providers ({doc['chosen_by']}): {', '.join(kept)}; {doc['endpoints']} endpoints."
        + (f" The old profile is kept as {backup}." if backup else "")
        + f"\nnext: `orcli profiles check {name}`, `orcli explain-route`"
        + (f" -p {name}" if name != "default" else "")
    )


# -- check ---------------------------------------------------------------------------------------------
OnlineOpt = Annotated[
    bool,
    typer.Option(
        "--online",
        help="Also ask every provider whose key is set for its model list: unknown upstream "
        "ids, rejected keys, unreachable providers.",
    ),
]


@handled
def profiles_check(
    name: NameArg = None,
    online: OnlineOpt = False,
    *,
    out: Output,
    profile: str | None,
) -> None:
    """Lint a profile for CI: unknown prices, unused providers, unset keys, insecure URLs, unknown names; with
    --online, ids the providers no longer serve. Exit 1 when it finds problems."""
    from orcli.profile.check import check_profile
    from orcli.ui.tables import Column, TableData

    env = environment()
    loaded = load_profile_for(name or profile, env, out)  # an invalid profile: exit 2 with its errors
    from orcli.auth import problems_in

    problems = check_profile(loaded, env, problems_in(env))
    doc: dict[str, Any] = {"profile": loaded.path, "ok": True, "problems": []}
    if online:
        found, doc["online"] = _online(loaded, env)
        problems += found
        for skipped in doc["online"]["not_checked"]:
            out.note(f"note: {skipped['provider']} not checked online: {skipped['reason']}")
    doc["ok"] = not problems
    doc["problems"] = [{"code": p.code, "subject": p.subject, "detail": p.detail} for p in problems]
    if out.as_json:
        out.json(doc)
    elif problems:
        columns = (Column("code"), Column("subject"), Column("detail", prose=True))
        out.table(TableData(f"Problems (profile {loaded.name})", columns, [tuple(p) for p in problems]))
        out.note(f"{plural(len(problems), 'problem')} in {loaded.path}")
    else:
        out.note(f"{loaded.path}: no problems found" + (" (online too)" if online else ""))
    if problems:
        raise typer.Exit(EXIT_FAILED)


def _online(loaded: Profile, env: Mapping[str, str]) -> tuple[list[Problem], dict[str, Any]]:
    """Every provider whose key is set, listed concurrently; the problems and the `online` JSON object."""
    from orcli.profile.check import NOT_CHECKED, ListAnswer, online_problems
    from orcli.profile.model_lists import LISTABLE, Target, list_all
    from orcli.routing.route import has_key_in

    has_key = has_key_in(env)
    targets, not_checked = [], []
    for p in loaded.providers.values():
        if p.api_key_env is None or not has_key(p):
            reason = "it needs no key" if p.api_key_env is None else f"${p.api_key_env} is not set"
            not_checked.append({"provider": p.name, "reason": reason})
        elif p.api not in LISTABLE:
            not_checked.append({"provider": p.name, "reason": f"orcli cannot list an `{p.api}` provider's models"})
        else:
            key = env[p.api_key_env].strip()
            version = p.settings.get("anthropic_version")
            targets.append(
                Target(
                    p.name,
                    p.api,
                    p.base_url,
                    key,
                    dict(p.headers),
                    version if isinstance(version, str) else "2023-06-01",
                    p.api_key_env,
                )
            )
    lists = list_all(targets)
    for name, listed in lists.items():
        if listed.problem in NOT_CHECKED:
            not_checked.append({"provider": name, "reason": listed.detail})
    checked = [t.name for t in targets if lists[t.name].problem not in NOT_CHECKED]
    answers = {name: ListAnswer(*listed) for name, listed in lists.items()}
    return online_problems(loaded, answers), {"checked": checked, "not_checked": not_checked}
