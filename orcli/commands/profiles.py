"""`orcli profiles list|show|init|import|check`: see, start, refresh from OpenRouter's catalogue, lint (SPEC §12)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from orcli.commands.common import complete_profiles, environment, handled, load_profile_for
from orcli.errors import EXIT_FAILED, OrcliError, UsageError
from orcli.ui.output import Output
from orcli.ui.words import plural

NameArg = Annotated[
    str | None, typer.Argument(help="Profile name or path (default: --profile, else `default`).", metavar="[NAME]")
]
MAX_CATALOGUE_BYTES = 16 * 2**20  # one model's endpoints are a few KiB; a runaway answer is refused
SOURCES = ("openrouter",)


def _today() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())


def _bare_name(name: str) -> str:
    """A profile name `init`/`import` may create in the user config dir: no path, no hidden file."""
    from orcli.profile.resolve import is_path_spec

    if is_path_spec(name) or name.startswith(".") or not name.strip() or "\\" in name:
        raise UsageError(f"`{name}` is not a profile name: use letters, digits, `-`, `_` or `.` (no path).")
    return name


def _target(spec: str) -> Path:
    """Where a write goes: a path as given, or NAME.toml in the user config dir (never into the package)."""
    from orcli.profile.resolve import is_path_spec, user_profiles_dir

    if not is_path_spec(spec):
        return user_profiles_dir() / f"{_bare_name(spec)}.toml"
    if not spec.endswith(".toml"):
        raise UsageError(f"--into {spec}: a profile path must end in .toml (or give a bare name for the config dir).")
    return Path(spec).expanduser()


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
    from orcli.routing.route import has_key_in
    from orcli.ui.tables import Column, TableData

    env = environment()
    loaded = load_profile_for(name or profile, env, out)
    has_key = has_key_in(env)
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
            "key_set": has_key(p),
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
        key = "not needed" if p["api_key_env"] is None else f"{p['api_key_env']} {'set' if p['key_set'] else 'MISSING'}"
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
def _profile_to_write(same_as: str, metavar: str) -> Any:
    """-p/--profile of `init` and `import`: not the profile commands read, but the one they write."""
    return typer.Option(
        "--profile",
        "-p",
        help=f"The profile to write: {same_as} (ORCLI_PROFILE does not choose it).",
        metavar=metavar,
        autocompletion=complete_profiles,
    )


def _one_target(ctx: typer.Context, parameter: str, profile: str | None) -> str:
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
    profile: Annotated[str | None, _profile_to_write("the same as NAME", "NAME")] = None,
    *,
    out: Output,
) -> None:
    """Write a starter profile into the user config dir: the providers whose keys are set (all, if none are)."""
    import tomllib

    from orcli.profile.resolve import bundled_profiles_dir, user_profiles_dir
    from orcli.profile.write import save_profile, starter_data

    name = _one_target(ctx, "name", profile)
    env = environment()
    path = user_profiles_dir() / f"{_bare_name(name)}.toml"
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; pass --force to overwrite it (the old one is kept as .bak).")
    example = bundled_profiles_dir() / "example.toml"
    data, kept, by_key = starter_data(tomllib.loads(example.read_text(encoding="utf-8")), env)
    header = (
        f"orcli profile `{name}`, written by `orcli profiles init` on {_today()} from the bundled example.\n"
        + ("Providers whose keys are set in the environment.\n" if by_key else "All providers: no key was set.\n")
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


# -- import --------------------------------------------------------------------------------------------
ImportModelsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model", "-m", help="Model to import (repeatable), e.g. meta-llama/llama-3.3-70b-instruct.", metavar="MODEL"
    ),
]
ImportFromOpt = Annotated[
    str | None,
    typer.Option(
        "--from", help="A saved copy of the catalogue's JSON (`-`: stdin) instead of the network.", metavar="FILE"
    ),
]


@handled
def profiles_import(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Where endpoints come from: openrouter.", metavar="SOURCE")],
    model: ImportModelsOpt = None,
    from_file: ImportFromOpt = None,
    into: Annotated[
        str, typer.Option("--into", help="Profile to write (name in the user config dir, or a path).", metavar="NAME")
    ] = "default",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would change; write nothing.")] = False,
    profile: Annotated[str | None, _profile_to_write("the same as --into", "NAME|PATH")] = None,
    *,
    out: Output,
) -> None:
    """Turn OpenRouter's public catalogue into endpoints, merged into a profile, and show what changed."""

    from orcli.profile.catalogue import to_profile
    from orcli.profile.parse import API_VALUES
    from orcli.profile.write import merge_import, save_profile
    from orcli.routing.preferences import split_names

    into = _one_target(ctx, "into", profile)
    if source not in SOURCES:
        raise UsageError(f"unknown source `{source}`; orcli imports from: {', '.join(SOURCES)}.")
    models = list(split_names(model or ()))
    catalogue, origin = _catalogue(models, from_file)
    imported = to_profile(catalogue.endpoints, API_VALUES)
    for note in catalogue.notes:
        out.note(f"note: {note}")
    for tag, served in imported.unmapped.items():  # listed on stderr, not guessed (docs/profiles.md)
        out.warn(
            f"not imported: OpenRouter provider `{tag}` ({', '.join(served)}) has no entry in orcli's "
            "provider table (or needs a dialect this orcli lacks)"
        )
    if not imported.endpoints:
        raise OrcliError(
            "nothing to import: no endpoint in the catalogue is served by a provider orcli can call.",
            extra={"unmapped": imported.unmapped, "notes": list(catalogue.notes)},
        )
    target = _target(into)
    served = list(dict.fromkeys(e["model"] for e in imported.endpoints))  # the catalogue's order
    existing, created_from = _base_profile(into, target, [m for m in models if m in served] or served)
    merged, changes = merge_import(existing, imported.providers, imported.endpoints)
    backup = None
    if changes and not dry_run:
        header = (
            f"orcli profile, last import from OpenRouter's catalogue on {_today()} ({', '.join(served)}).\n"
            "Prices: USD per 1M tokens; endpoints are named by OpenRouter's provider tags."
        )
        backup = save_profile(target, merged, header=header)
    doc = {
        "source": source,
        "from": origin,
        "into": str(target),
        "created_from": None if created_from is None else str(created_from),
        "dry_run": dry_run,
        "written": bool(changes) and not dry_run,
        "backup": None if backup is None else str(backup),
        "changes": [
            {"kind": c.kind, "name": c.name, "details": [{"key": k, "old": o, "new": n} for k, o, n in c.details]}
            for c in changes
        ],
        "unmapped": imported.unmapped,
        "notes": list(catalogue.notes),
    }
    if out.as_json:
        out.json(doc)
        return
    _say_imported(out, changes, target, dry_run, backup, created_from)


def _catalogue(models: list[str], from_file: str | None) -> tuple[Any, str]:
    """The catalogue's endpoints of `models`, from OpenRouter or a saved copy, and where they came from."""
    from orcli.profile.catalogue import parse_catalogue

    if from_file is None:
        if not models:
            raise UsageError(
                "name the models to import with -m (e.g. -m meta-llama/llama-3.3-70b-instruct), "
                "or read a saved copy with --from FILE."
            )
        return _fetch(models), "https://openrouter.ai/api/v1/models"
    catalogue = parse_catalogue(_read_source(from_file), from_file, wanted=models)
    missing = [m for m in models if m not in catalogue.models]
    if missing:
        raise UsageError(
            f"{from_file} holds no endpoints of {', '.join(missing)}; it has: {', '.join(catalogue.models) or 'none'}."
        )
    return catalogue, from_file


def _base_profile(into: str, target: Path, models: list[str]) -> tuple[dict[str, Any], Path | None]:
    """What an import merges into: the profile at `target`, else a user copy of the bundled profile of that
    name (and which one), else a new profile routing to the imported `models` (-m order first: primary first)."""
    import tomllib

    from orcli.profile.resolve import bundled_profiles_dir, is_path_spec
    from orcli.profile.write import read_data

    if target.is_file():
        return read_data(target), None
    bundled = bundled_profiles_dir() / f"{into}.toml"
    if not is_path_spec(into) and bundled.is_file():
        return tomllib.loads(bundled.read_text(encoding="utf-8")), bundled
    return {"routing": {"models": models}}, None


def _say_imported(
    out: Output, changes: list[Any], target: Path, dry_run: bool, backup: Path | None, created_from: Path | None
) -> None:
    """The import's diff on stdout, what became of the file on stderr."""
    from orcli.profile.write import diff_lines

    for line in diff_lines(changes):
        out.stdout.write(line + "\n")
    added = sum(1 for c in changes if c.kind == "added endpoint")
    if not changes:
        out.note(f"{target}: already up to date; nothing written.")
    elif dry_run:
        out.note(f"dry run: {len(changes)} change(s) to {target}; nothing written.")
    else:
        kept = f"; the old file is kept as {backup}" if backup else ""
        started = f"; started from the bundled {created_from.name}" if created_from else ""
        out.note(f"wrote {target} ({len(changes)} change(s)){kept}{started}.")
    if added:
        out.note(
            f"note: {added} new endpoint(s) send the OpenRouter model id as the model name; set "
            "`upstream_model` where a provider names the model differently."
        )
    out.stdout.flush()


def _read_source(from_file: str) -> str:
    if from_file == "-":
        data = sys.stdin.buffer.read(MAX_CATALOGUE_BYTES + 1) if sys.stdin is not None else b""
        where = "standard input"
    else:
        try:
            with open(Path(from_file).expanduser(), "rb") as handle:
                data = handle.read(MAX_CATALOGUE_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"--from {from_file}: cannot read it: {exc.strerror or exc}.") from None
        where = from_file
    if len(data) > MAX_CATALOGUE_BYTES:
        raise UsageError(f"{where}: larger than {MAX_CATALOGUE_BYTES // 2**20} MiB; not a catalogue response.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not UTF-8 text (byte {exc.start}).") from None


def _fetch(models: list[str]) -> Any:
    """The catalogue from openrouter.ai (no key needed); every response read with a size bound."""
    import httpx

    from orcli import __version__
    from orcli.execution.transport import make_client
    from orcli.profile.catalogue import fetch_catalogue

    with make_client() as client:

        def get(url: str) -> tuple[int, bytes]:
            try:
                with client.stream("GET", url, headers={"User-Agent": f"orcli/{__version__}"}, timeout=20.0) as r:
                    body = b""
                    for chunk in r.iter_bytes():
                        body += chunk
                        if len(body) > MAX_CATALOGUE_BYTES:
                            raise OrcliError(f"{url}: the answer is larger than {MAX_CATALOGUE_BYTES // 2**20} MiB.")
                    return r.status_code, body
            except httpx.HTTPError as exc:
                raise OrcliError(
                    f"cannot reach OpenRouter's catalogue ({url}): {type(exc).__name__}: {exc}. "
                    "Save the JSON elsewhere and use --from FILE."
                ) from None

        return fetch_catalogue(models, get)


# -- check ---------------------------------------------------------------------------------------------
@handled
def profiles_check(
    name: NameArg = None,
    *,
    out: Output,
    profile: str | None,
) -> None:
    """Lint a profile for CI: unknown prices, unused providers, unset keys, insecure URLs, unknown names.
    Exit 1 when it finds problems."""
    from orcli.profile.check import check_profile
    from orcli.ui.tables import Column, TableData

    env = environment()
    loaded = load_profile_for(name or profile, env, out)  # an invalid profile: exit 2 with its errors
    problems = check_profile(loaded, env)
    doc = {
        "profile": loaded.path,
        "ok": not problems,
        "problems": [{"code": p.code, "subject": p.subject, "detail": p.detail} for p in problems],
    }
    if out.as_json:
        out.json(doc)
    elif problems:
        columns = (Column("code"), Column("subject"), Column("detail", prose=True))
        out.table(TableData(f"Problems (profile {loaded.name})", columns, [tuple(p) for p in problems]))
        out.note(f"{plural(len(problems), 'problem')} in {loaded.path}")
    else:
        out.note(f"{loaded.path}: no problems found")
    if problems:
        raise typer.Exit(EXIT_FAILED)
