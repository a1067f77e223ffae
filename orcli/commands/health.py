"""`orcli health`: show the derived health table, probe endpoints, reset history."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from orcli.commands.common import (
    WideOpt,
    complete_models,
    complete_providers,
    environment,
    handled,
    load_profile_for,
)
from orcli.errors import EXIT_FAILED, OrcliError, UsageError
from orcli.ui.output import Output
from orcli.ui.words import plural

PROBE_PROMPT = "Reply with the single word: ok"
PROBE_MAX_TOKENS = 16
PROBE_WORKERS = 8


@handled
def health_main(
    ctx: typer.Context,
    probe: Annotated[
        bool, typer.Option("--probe", help="Send a tiny request to each endpoint; exit 1 on any failure.")
    ] = False,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Probe only this model (repeatable).",
            metavar="MODEL",
            autocompletion=complete_models,
        ),
    ] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider",
            help="Probe only this provider (repeatable).",
            metavar="PROVIDER",
            autocompletion=complete_providers,
        ),
    ] = None,
    wide: WideOpt = False,
    *,
    out: Output,
    profile: str | None,
) -> None:
    """Per endpoint: requests, failures, success rate, last error, state, median TTFT and tokens/s."""
    if ctx.invoked_subcommand is not None:
        return
    from orcli.store.backend import describe
    from orcli.store.health_source import open_health, snapshot_from

    loaded = load_profile_for(profile, environment(), out)
    store, snapshot, notes = open_health(loaded, environment(), create=probe)
    store_info: dict[str, Any] = {}
    try:
        for note in notes:
            out.warn(note)
        endpoints = list(loaded.endpoints)
        probed: list[dict[str, Any]] = []
        if probe:
            from orcli.routing.policy import check_transport_security

            endpoints = _select(loaded, model, provider)
            # A probe sends the key like an ask does: the same refusal of clear text to another machine.
            check_transport_security(
                {e.provider: loaded.providers[e.provider] for e in endpoints}.values(), loaded.path
            )
            probed = _probe(loaded, endpoints, store, out)
            if store is not None:
                snapshot = snapshot_from(store, loaded)
                for warning in store.take_warnings():  # a shared store that failed during the probes
                    out.warn(warning)
    finally:
        store_info = describe(store, environment())  # after the reads: says so if a shared store fell back
        if store is not None:
            store.close()
    rows = [_row(e, snapshot.get(e.model, e.provider)) for e in endpoints]
    failed = [p for p in probed if not p["ok"]]
    if out.as_json:
        doc: dict[str, Any] = {"profile": loaded.path, "store": store_info, "endpoints": rows}
        if probe:
            doc["probes"] = probed
        out.json(doc)
    else:
        reasons = _failure_reasons(probed)
        out.table(_table(rows, probed, reasons, loaded.name), wide)
        out.note(f"store: {_store_line(store_info)}")
        if probe and not out.quiet:
            out.note(f"probed {plural(len(probed), 'endpoint')}: {len(probed) - len(failed)} ok, {len(failed)} failed")
        if reasons:  # part of the table's output (stdout): `health --probe > report.txt` keeps the reasons
            out.paragraph("\n".join(_reason_lines(reasons)))
    if failed:
        raise typer.Exit(EXIT_FAILED)


@handled
def health_reset(
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            help="Forget only this provider's history.",
            metavar="PROVIDER",
            autocompletion=complete_providers,
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Reset a shared (Redis) store without asking; needed in scripts.")
    ] = False,
    *,
    out: Output,
    profile: str | None,
) -> None:
    """Forget the recorded history (all, or one provider's; a base name covers its variants)."""
    from orcli.store.backend import describe, open_store

    store, warnings = open_store(_reset_settings(profile), environment())
    for warning in warnings:
        out.warn(warning)
    if store is None:
        raise UsageError("the health store cannot be opened, so there is nothing to reset (see the warning above).")
    try:
        info = describe(store, environment())
        if store.shared and not yes:
            _confirm_shared_reset(info, provider)
        deleted = store.reset(provider)
        for warning in store.take_warnings():
            out.warn(warning)
    finally:
        store.close()
    if deleted is None:
        raise OrcliError(f"the shared health store {info.get('url')} was not reset (see the warning above).")
    if out.as_json:
        doc: dict[str, Any] = {"reset": provider or "all", "deleted": deleted}
        if store.shared:  # the local store's document stays as it was
            doc["store"] = info
        out.json(doc)
    else:
        where = f" from {info['url']}" if info.get("kind") == "redis" else ""
        out.note(f"forgot {plural(deleted, 'outcome')}{' of ' + provider if provider else ''}{where}", style="")


def _reset_settings(profile: str | None) -> Any:
    """The profile's [health] settings (its `store`); without --profile a broken default profile does not stop
    a reset of the local store, which never needed a profile."""
    from orcli.errors import ProfileError
    from orcli.profile.resolve import load_profile
    from orcli.types import HealthSettings

    try:
        return load_profile(profile, environment()).health
    except ProfileError:
        if profile is not None:
            raise
        return HealthSettings()


def _confirm_shared_reset(info: dict[str, Any], provider: str | None) -> None:
    """docs/health.md#sharing-health-across-machines: a shared store's history belongs to every machine that uses it: ask on a terminal, and in a
    script require --yes (a local store resets as before, without asking)."""
    import sys

    what = f"{provider}'s outcomes" if provider else "every outcome"
    if not _isatty(sys.stdin):
        raise UsageError(
            f"`health reset` would forget {what} in the shared health store {info['url']} for every machine that "
            "uses it; standard input is not a terminal, so confirm with --yes."
        )
    if not typer.confirm(f"Forget {what} in the shared health store {info['url']} for every machine?", err=True):
        raise OrcliError("nothing reset.")


def _isatty(stream: Any) -> bool:
    try:
        return stream is not None and bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _store_line(info: dict[str, Any]) -> str:
    """The `store:` line of `orcli health`: which store the table was read from."""
    if info.get("kind") == "redis":
        return f"{info['url']} (shared, namespace {info['namespace']})"
    fallback = info.get("fallback_from")
    if info.get("kind") == "none":
        if fallback:
            return f"none: the shared store {fallback['url']} could not be used and there is no local history"
        return "none (routing without history)"
    line = str(info.get("path"))
    if fallback:
        line += f" (local: the shared store {fallback['url']} could not be used)"
    elif info.get("exists") is False:
        line += " (no history yet)"
    return line


def _select(profile: Any, models: list[str] | None, providers: list[str] | None) -> list[Any]:
    from orcli.routing.names import matches_any
    from orcli.routing.preferences import split_names

    wanted_models = split_names(models or ())
    wanted_providers = split_names(providers or ())
    for m in wanted_models:
        if not any(e.model == m for e in profile.endpoints):
            raise UsageError(f"-m {m}: no endpoint in profile {profile.name} serves this model.")
    for p in wanted_providers:
        if not any(matches_any([p], name) for name in profile.providers):
            raise UsageError(f"--provider {p}: no such provider in profile {profile.name}.")
    return [
        e
        for e in profile.endpoints
        if (not wanted_models or e.model in wanted_models)
        and (not wanted_providers or matches_any(wanted_providers, e.provider))
    ]


def _probe(profile: Any, endpoints: list[Any], store: Any, out: Output) -> list[dict[str, Any]]:
    """Probe concurrently with a bounded pool; every result is recorded like an ask attempt."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from orcli.auth import problems_in
    from orcli.execution.executor import Failed
    from orcli.execution.run import Caller, execute
    from orcli.execution.transport import make_client
    from orcli.types import HEALTHY, PlannedAttempt
    from orcli.wire.base import ChatRequest

    env = environment()
    key_problem = problems_in(env)
    request = ChatRequest(({"role": "user", "content": PROBE_PROMPT},), options={"max_tokens": PROBE_MAX_TOKENS})
    results: list[dict[str, Any]] = []

    def probe_one(client: httpx.Client, endpoint: Any) -> dict[str, Any]:
        provider = profile.providers[endpoint.provider]
        base = {"model": endpoint.model, "provider": endpoint.provider}
        problem = key_problem(provider)  # checked before any request is built (docs/security.md)
        if problem is not None:
            return {**base, "ok": False, "error": problem, "latency_s": None}
        attempt = PlannedAttempt(1, endpoint, 0.0, HEALTHY, "probe")
        started = time.monotonic()
        try:
            execute(profile, [attempt], request, env, store, Caller(), stream=True, client=client)
        except Failed as failure:
            last = failure.attempts[-1] if failure.attempts else None
            error = last.error if last else failure.message
            return {**base, "ok": False, "error": error, "latency_s": round(time.monotonic() - started, 3)}
        return {**base, "ok": True, "error": None, "latency_s": round(time.monotonic() - started, 3)}

    show_progress = out.live_progress
    with make_client() as client, ThreadPoolExecutor(PROBE_WORKERS) as pool:
        futures = [pool.submit(probe_one, client, e) for e in endpoints]
        if show_progress:
            from rich.progress import Progress

            with Progress(console=out.err, transient=True) as progress:
                task = progress.add_task(f"probing {plural(len(futures), 'endpoint')}", total=len(futures))
                for future in futures:
                    results.append(future.result())
                    progress.advance(task)
        else:
            results = [f.result() for f in futures]
    return results


def _row(endpoint: Any, h: Any) -> dict[str, Any]:
    from orcli.ui.render import health_json

    return {"model": endpoint.model, "provider": endpoint.provider, **health_json(h)}


def _failure_reasons(probed: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each distinct error of a failed probe (numbered by order of appearance) -> the endpoints it hit."""
    reasons: dict[str, list[str]] = {}
    for p in probed:
        if not p["ok"]:
            reasons.setdefault(p["error"] or "failed", []).append(f"{p['provider']} ({p['model']})")
    return reasons


def _reason_lines(reasons: dict[str, list[str]]) -> list[str]:
    """`[1] 2 endpoints: <error>`: an error said once however many endpoints it hit, numbered as in the table."""
    lines = []
    for n, (error, hit) in enumerate(reasons.items(), start=1):
        count = f"{plural(len(hit), 'endpoint')}: " if len(hit) > 1 else ""
        lines.append(f"[{n}] {count}{error}")
    return lines


def _table(
    rows: list[dict[str, Any]], probed: list[dict[str, Any]], reasons: dict[str, list[str]], profile_name: str
) -> Any:
    """The health table; after probes, a failed probe's cell names its reason by number (listed below the
    table once, with a count), so identical failures cost one line each, not one paragraph each."""
    from orcli.ui.tables import Column, TableData

    probe_by_key = {(p["model"], p["provider"]): p for p in probed}
    numbers = {error: n for n, error in enumerate(reasons, start=1)}
    columns = [
        Column("model", group=True),
        Column("provider"),
        Column("state"),
        Column("requests", right=True, drop=3),
        Column("failures", right=True, drop=4),
        Column("success", right=True, drop=1),
        Column("median ttft", right=True, drop=2),
        Column("tok/s", right=True, drop=5),
    ]
    if probed:
        columns.append(Column("probe"))
    columns.append(Column("last error", prose=True))
    table = TableData(f"Endpoint health (profile {profile_name})", tuple(columns), [])
    for r in rows:
        cells = _health_cells(r)
        last = "-"
        if r["last_error"]:
            age = f" ({r['last_error_age_s']:.0f}s ago)" if r["last_error_age_s"] is not None else ""
            last = r["last_error"] + age
        if probed:
            p = probe_by_key.get((r["model"], r["provider"]))
            if p is None:
                cells.append("-")
            elif p["ok"]:
                cells.append("ok")
            else:
                # The probe's own failure is the latest error: said once (never beside an older one), by its
                # number in the list of reasons below the table.
                cells.append("FAILED")
                last = f"[{numbers[p['error'] or 'failed']}]"
        cells.append(last)
        table.rows.append(tuple(cells))
    return table


def _health_cells(r: dict[str, Any]) -> list[str]:
    """The cells every health row has, from its JSON form."""
    state = r["state"]
    if state == "cooldown":
        state = f"cooldown {r['cooldown_left_s']:.0f}s"
    if r["consecutive_failures"]:
        state += f" ({r['consecutive_failures']}/3)"
    return [
        r["model"],
        r["provider"],
        state,
        str(r["requests"]),
        str(r["failures"]),
        "-" if r["success_rate"] is None else f"{r['success_rate']:.0%}",
        "-" if r["median_ttft_s"] is None else f"{r['median_ttft_s']:.2f}s",
        "-" if r["median_tokens_per_s"] is None else f"{r['median_tokens_per_s']:.0f}",
    ]
