"""`orcli profiles import openrouter|models.dev`: endpoints from a catalogue, each under the id its provider
serves it as, merged into a profile under a lock (docs/profiles.md#importing)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer

from orcli.commands.common import environment, handled
from orcli.commands.profiles import bare_name, one_target, profile_to_write, today
from orcli.errors import OrcliError, UsageError
from orcli.ui.output import Output

MAX_CATALOGUE_BYTES = 16 * 2**20  # one model's endpoints are a few KiB; a runaway answer is refused
MAX_MODELS_DEV_BYTES = 64 * 2**20  # models.dev's whole catalogue is a few MiB
SOURCES = ("openrouter", "models.dev")
FETCH_SECONDS = 60.0  # a catalogue download, start to end


class Candidates(NamedTuple):
    """What a source offers, in profile terms, before native ids are checked."""

    providers: dict[str, dict[str, Any]]
    endpoints: list[dict[str, Any]]
    not_callable: dict[str, list[str]]  # provider -> models (or "model: why")
    notes: list[str]
    origin: str
    unmapped_reason: str = ""


ModelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model", "-m", help="Model to import (repeatable), e.g. meta-llama/llama-3.3-70b-instruct.", metavar="MODEL"
    ),
]
FromOpt = Annotated[
    str | None,
    typer.Option(
        "--from", help="A saved copy of the catalogue's JSON (`-`: stdin) instead of the network.", metavar="FILE"
    ),
]
IntoOpt = Annotated[
    str, typer.Option("--into", help="Profile to write (name in the user config dir, or a path).", metavar="NAME")
]
VerifyOpt = Annotated[
    bool,
    typer.Option("--verify", help="Ask each provider for its model list (with your key) and write only ids it serves."),
]
IdsFromOpt = Annotated[
    str | None,
    typer.Option(
        "--ids-from",
        help="A models.dev catalogue (FILE or URL) that names each provider's own ids.",
        metavar="FILE|URL",
    ),
]
ProviderIdOpt = Annotated[
    list[str] | None,
    typer.Option("--provider", help="models.dev only: import from these providers (repeatable).", metavar="ID"),
]


@handled
def profiles_import(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="Where endpoints come from: openrouter or models.dev.", metavar="SOURCE")
    ],
    model: ModelOpt = None,
    from_file: FromOpt = None,
    into: IntoOpt = "default",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would change; write nothing.")] = False,
    verify: VerifyOpt = False,
    ids_from: IdsFromOpt = None,
    provider: ProviderIdOpt = None,
    profile: Annotated[str | None, profile_to_write("the same as --into", "NAME|PATH")] = None,
    *,
    out: Output,
) -> None:
    """Turn a catalogue into endpoints under each provider's own model id, merge them into a profile, and show
    what changed. An endpoint whose id orcli cannot confirm is listed, not written."""
    from orcli.routing.preferences import split_names

    into = one_target(ctx, "into", profile)
    if source not in SOURCES:
        raise UsageError(f"unknown source `{source}`; orcli imports from: {', '.join(SOURCES)}.")
    if provider and source != "models.dev":
        raise UsageError("--provider picks providers of the models.dev catalogue; OpenRouter's names its own.")
    models = list(split_names(model or ()))
    env = environment()
    found = _openrouter(models, from_file) if source == "openrouter" else _models_dev(models, from_file, provider, env)
    ids = _read_models_dev(ids_from) if ids_from is not None else None
    for note in found.notes:
        out.note(f"note: {note}")
    for name, served in found.not_callable.items():
        out.warn(f"not imported: `{name}` ({'; '.join(served)}){found.unmapped_reason}")
    target = target_path(into)
    from orcli.profile.lock import profile_lock

    with contextlib.nullcontext() if dry_run else profile_lock(target):  # a dry run reads one whole file
        doc = _merge(source, found, ids, target, into, models, env, check_live=verify, dry_run=dry_run, out=out)
    if out.as_json:
        out.json(doc)
        return
    _report(doc, target, out)


def _merge(
    source: str,
    found: Candidates,
    ids: Any,
    target: Path,
    into: str,
    models: list[str],
    env: Mapping[str, str],
    *,
    check_live: bool,
    dry_run: bool,
    out: Output,
) -> dict[str, Any]:
    """Read -> resolve native ids -> merge -> atomic replace, all under the caller's lock."""
    from orcli.profile.model_lists import list_all
    from orcli.profile.native import resolve
    from orcli.profile.write import merge_import, real_changes, save_profile, valid_imports

    existing, created_from = _existing(target, into)
    writable, refused = valid_imports(found.providers, found.endpoints)
    for e, why in refused:  # listed like every other unusable entry, and in the JSON's notes
        found.notes.append(f"skipped: {e['model']} on {e['provider']}: {why}")
        out.note(f"note: {found.notes[-1]}")
    found = found._replace(endpoints=writable)
    resolved = resolve(
        existing, found.providers, found.endpoints, env, ids_from=ids, live_list=list_all if check_live else None
    )
    for note in resolved.notes:
        out.note(f"note: {note}")
    for s in resolved.skipped:
        out.warn(f"not imported: {s.describe()}")
    skipped = [s._asdict() for s in resolved.skipped]
    if not resolved.endpoints:
        raise OrcliError(
            "nothing to import: no endpoint in the catalogue has a provider orcli can call under an id "
            "it knows the provider serves.",
            extra={"unmapped": found.not_callable, "skipped": skipped, "notes": found.notes},
        )
    if created_from is None and not existing:  # a new profile routes what was written, in -m order (primary first)
        written = list(dict.fromkeys(e["model"] for e in resolved.endpoints))  # else the catalogue's order
        existing = {"routing": {"models": [m for m in models if m in written] or written}}
    merged, changes = merge_import(existing, found.providers, resolved.endpoints)
    real = real_changes(changes)
    backup = None
    if real and not dry_run:
        imported = ", ".join(dict.fromkeys(e["model"] for e in resolved.endpoints))
        header = (
            f"orcli profile, last import from {source} on {today()} ({imported}).\n"
            "Prices: USD per 1M tokens; upstream_model is each provider's own id for the model."
        )
        backup = save_profile(target, merged, header=header)
    return {
        "source": source,
        "from": found.origin,
        "into": str(target),
        "created_from": None if created_from is None else str(created_from),
        "dry_run": dry_run,
        "written": bool(real) and not dry_run,
        "backup": None if backup is None else str(backup),
        "changes": [
            {"kind": c.kind, "name": c.name, "details": [{"key": k, "old": o, "new": n} for k, o, n in c.details]}
            for c in changes
        ],
        "unmapped": found.not_callable,
        "skipped": skipped,
        "notes": found.notes + resolved.notes,
    }


def _existing(target: Path, into: str) -> tuple[dict[str, Any], Path | None]:
    """The profile to merge into: the file, else a user copy of the bundled one of that name, else nothing yet
    (an empty dict: a new profile)."""
    import tomllib

    from orcli.profile.resolve import bundled_profiles_dir, is_path_spec
    from orcli.profile.write import read_data

    if target.is_file():
        return read_data(target), None
    bundled = bundled_profiles_dir() / f"{into}.toml"
    if not is_path_spec(into) and bundled.is_file():
        return tomllib.loads(bundled.read_text(encoding="utf-8")), bundled
    return {}, None


def _report(doc: Mapping[str, Any], target: Path, out: Output) -> None:
    from orcli.profile.write import Change, diff_lines

    changes = [
        Change(c["kind"], c["name"], tuple((d["key"], d["old"], d["new"]) for d in c["details"]))
        for c in doc["changes"]
    ]
    n = sum(1 for c in changes if c.kind != "same provider")
    for line in diff_lines(changes) if n else ():  # nothing changed: stdout stays empty (no naming lines)
        out.stdout.write(line + "\n")
    if not n:
        out.note(f"{target}: already up to date; nothing written.")
    elif doc["dry_run"]:
        out.note(f"dry run: {n} change(s) to {target}; nothing written.")
    else:
        backup, created = doc["backup"], doc["created_from"]
        out.note(
            f"wrote {target} ({n} change(s))"
            + (f"; the old file is kept as {backup}" if backup else "")
            + (f"; started from the bundled {Path(created).name}" if created else "")
            + "."
        )
    if doc["skipped"]:
        out.note(f"{len(doc['skipped'])} endpoint(s) not imported: orcli writes only ids the provider serves.")
    out.stdout.flush()


def target_path(spec: str) -> Path:
    """Where a write goes: a path as given, or NAME.toml in the user config dir (never into the package)."""
    from orcli.profile.resolve import is_path_spec, user_profiles_dir

    if not is_path_spec(spec):
        return user_profiles_dir() / f"{bare_name(spec)}.toml"
    if not spec.endswith(".toml"):
        raise UsageError(f"--into {spec}: a profile path must end in .toml (or give a bare name for the config dir).")
    return Path(spec).expanduser()


# -- sources -------------------------------------------------------------------------------------------
def _openrouter(models: list[str], from_file: str | None) -> Candidates:
    from orcli.profile.catalogue import parse_catalogue, to_profile
    from orcli.profile.parse import API_VALUES

    if from_file is None:
        if not models:
            raise UsageError(
                "name the models to import with -m (e.g. -m meta-llama/llama-3.3-70b-instruct), "
                "or read a saved copy with --from FILE."
            )
        catalogue, origin = _fetch_openrouter(models), "https://openrouter.ai/api/v1/models"
    else:
        catalogue = parse_catalogue(_read_source(from_file, MAX_CATALOGUE_BYTES), from_file, wanted=models)
        origin = from_file
        missing = [m for m in models if m not in catalogue.models]
        if missing:
            raise UsageError(
                f"{from_file} holds no endpoints of {', '.join(missing)}; it has: "
                f"{', '.join(catalogue.models) or 'none'}."
            )
    imported = to_profile(catalogue.endpoints, API_VALUES)
    why = ": orcli cannot call it (no entry in its provider table, or a dialect this orcli lacks)"
    return Candidates(imported.providers, imported.endpoints, imported.unmapped, list(catalogue.notes), origin, why)


def _models_dev(
    models: list[str], from_file: str | None, providers: list[str] | None, env: Mapping[str, str]
) -> Candidates:
    from orcli.profile import models_dev
    from orcli.profile.catalogue import check_model_id
    from orcli.wire import DIALECT_MODULES

    if not models:
        raise UsageError(
            "name the models to import with -m (OpenRouter-style ids, e.g. -m meta-llama/llama-3.3-70b-instruct)."
        )
    for m in models:
        check_model_id(m)
    catalogue = _read_models_dev(from_file or models_dev.DEFAULT_URL)
    chosen = models_dev.wanted_providers(catalogue, providers or ())
    imported = models_dev.to_profile(catalogue, models, chosen, DIALECT_MODULES, env)
    notes = [f"skipped: {s}" for s in catalogue.skipped + imported.unusable]
    notes += [
        f"ambiguous: {m} on {p}: several ids could be it ({', '.join(c)}); set upstream_model by hand"
        for m, p, c in imported.ambiguous
    ]
    notes += [f"no provider in the catalogue serves {m}" for m in imported.unserved]
    return Candidates(
        imported.providers, imported.endpoints, imported.unsupported, notes, from_file or models_dev.DEFAULT_URL
    )


def _read_models_dev(where: str) -> Any:
    from orcli.profile import models_dev

    if where.startswith(("https://", "http://")):
        status, body = _get(where, MAX_MODELS_DEV_BYTES, "the models.dev catalogue")
        if status != 200:
            raise OrcliError(f"{where} answered HTTP {status}; save the catalogue and pass it as a FILE.")
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise OrcliError(f"{where}: not UTF-8 text.") from None
    else:
        text = _read_source(where, MAX_MODELS_DEV_BYTES)
    return models_dev.parse(text, where)


def _read_source(from_file: str, limit: int) -> str:
    if from_file == "-":
        data = sys.stdin.buffer.read(limit + 1) if sys.stdin is not None else b""
        where = "standard input"
    else:
        try:
            with open(Path(from_file).expanduser(), "rb") as handle:
                data = handle.read(limit + 1)
        except OSError as exc:
            raise UsageError(f"{from_file}: cannot read it: {exc.strerror or exc}.") from None
        where = from_file
    if len(data) > limit:
        raise UsageError(f"{where}: larger than {limit // 2**20} MiB; not a catalogue.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not UTF-8 text (byte {exc.start}).") from None


def _get(url: str, limit: int, what: str = "", hint: str = "a FILE") -> tuple[int, bytes]:
    """One GET of a public catalogue (no key), its body read with a size bound."""
    import httpx

    from orcli import __version__
    from orcli.execution.transport import make_client

    try:
        with (
            make_client() as client,
            client.stream("GET", url, headers={"User-Agent": f"orcli/{__version__}"}, timeout=20.0) as r,
        ):
            body = b""
            deadline = time.monotonic() + FETCH_SECONDS  # the whole answer: a trickling server is cut too
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise OrcliError(f"{url}: the answer is larger than {limit // 2**20} MiB.")
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout(f"no whole answer within {FETCH_SECONDS:.0f} s")
            return r.status_code, body
    except httpx.HTTPError as exc:
        raise OrcliError(
            f"cannot reach {what or url} ({url}): {type(exc).__name__}: {exc}. Save the JSON elsewhere and use {hint}."
        ) from None


def _fetch_openrouter(models: list[str]) -> Any:
    from orcli.profile.catalogue import fetch_catalogue

    return fetch_catalogue(models, lambda url: _get(url, MAX_CATALOGUE_BYTES, "OpenRouter's catalogue", "--from FILE"))
