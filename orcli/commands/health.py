"""`orcli health`: show the derived health table, probe endpoints, reset history."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from orcli.commands.common import DebugOpt, JsonOpt, NoColorOpt, ProfileOpt, QuietOpt, environment, handled
from orcli.errors import EXIT_FAILED, UsageError
from orcli.output import Output

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
        list[str] | None, typer.Option("--model", "-m", help="Probe only this model (repeatable).")
    ] = None,
    provider: Annotated[
        list[str] | None, typer.Option("--provider", help="Probe only this provider (repeatable).")
    ] = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
    *,
    out: Output,
) -> None:
    """Per endpoint: requests, failures, success rate, last error, state, median TTFT and tokens/s."""
    if ctx.invoked_subcommand is not None:
        return
    from orcli.health_source import open_health, snapshot_from
    from orcli.profile import load_profile

    loaded = load_profile(profile, environment())
    store, snapshot, notes = open_health(loaded, environment(), create=probe)
    try:
        for note in notes:
            out.warn(note)
        endpoints = list(loaded.endpoints)
        probed: list[dict[str, Any]] = []
        if probe:
            from orcli.policy import check_transport_security

            endpoints = _select(loaded, model, provider)
            # A probe sends the key like an ask does: the same refusal of clear text to another machine.
            check_transport_security(
                {e.provider: loaded.providers[e.provider] for e in endpoints}.values(), loaded.path
            )
            probed = _probe(loaded, endpoints, store, out)
            if store is not None:
                snapshot = snapshot_from(store, loaded)
    finally:
        if store is not None:
            store.close()
    rows = [_row(e, snapshot.get(e.model, e.provider)) for e in endpoints]
    failed = [p for p in probed if not p["ok"]]
    if as_json:
        doc: dict[str, Any] = {"profile": loaded.path, "endpoints": rows}
        if probe:
            doc["probes"] = probed
        out.json(doc)
    else:
        out.table(_table(rows, probed))
        if probe and not quiet:
            out.note(f"probed {len(probed)} endpoints: {len(probed) - len(failed)} ok, {len(failed)} failed")
    if failed:
        raise typer.Exit(EXIT_FAILED)


@handled
def health_reset(
    provider: Annotated[str | None, typer.Option("--provider", help="Forget only this provider's history.")] = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
    *,
    out: Output,
) -> None:
    """Forget the recorded history (all, or one provider's; a base name covers its variants)."""
    from orcli.store import Store, default_state_dir

    store, warnings = Store.open(default_state_dir(environment()))
    for warning in warnings:
        out.warn(warning)
    if store is None:
        raise UsageError("the health store cannot be opened, so there is nothing to reset (see the warning above).")
    try:
        deleted = store.reset(provider)
        for warning in store.take_warnings():
            out.warn(warning)
    finally:
        store.close()
    if as_json:
        out.json({"reset": provider or "all", "deleted": deleted})
    else:
        out.note(f"forgot {deleted} outcome(s){' of ' + provider if provider else ''}", style="")


def _select(profile: Any, models: list[str] | None, providers: list[str] | None) -> list[Any]:
    from orcli.names import matches_any
    from orcli.preferences import split_names

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

    from orcli.executor import Executor, Failed
    from orcli.route import has_key_in
    from orcli.transport import make_client
    from orcli.types import HEALTHY, PlannedAttempt
    from orcli.wire.openai import build_messages

    has_key = has_key_in(environment())
    messages = build_messages(PROBE_PROMPT, None)
    results: list[dict[str, Any]] = []
    record = (lambda o: None) if store is None else store.record

    def probe_one(client: httpx.Client, endpoint: Any) -> dict[str, Any]:
        provider = profile.providers[endpoint.provider]
        base = {"model": endpoint.model, "provider": endpoint.provider}
        if not has_key(provider):
            return {**base, "ok": False, "error": f"${provider.api_key_env} is not set", "latency_s": None}
        executor = Executor(client, profile.providers, environment(), profile.timeouts, on_outcome=record)
        attempt = PlannedAttempt(1, endpoint, 0.0, HEALTHY, "probe")
        started = time.monotonic()
        try:
            executor.run([attempt], messages, {"max_tokens": PROBE_MAX_TOKENS}, stream=True)
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
                task = progress.add_task("probing", total=len(futures))
                for future in futures:
                    results.append(future.result())
                    progress.advance(task)
        else:
            results = [f.result() for f in futures]
    return results


def _row(endpoint: Any, h: Any) -> dict[str, Any]:
    from orcli.render import health_json

    return {"model": endpoint.model, "provider": endpoint.provider, **health_json(h)}


def _table(rows: list[dict[str, Any]], probed: list[dict[str, Any]]) -> Any:
    from orcli.tables import Column, TableData

    probe_by_key = {(p["model"], p["provider"]): p for p in probed}
    names = ["model", "provider", "state", "requests", "failures", "success", "last error", "median ttft", "tok/s"]
    if probed:
        names.append("probe")
    numeric = ("requests", "failures", "success", "tok/s")
    table = TableData("Endpoint health", tuple(Column(n, right=n in numeric) for n in names), [])
    for r in rows:
        state = r["state"]
        if state == "cooldown":
            state = f"cooldown {r['cooldown_left_s']:.0f}s"
        if r["consecutive_failures"]:
            state += f" ({r['consecutive_failures']}/3)"
        last = "-"
        if r["last_error"]:
            age = f" ({r['last_error_age_s']:.0f}s ago)" if r["last_error_age_s"] is not None else ""
            last = r["last_error"] + age
        cells = [
            r["model"],
            r["provider"],
            state,
            str(r["requests"]),
            str(r["failures"]),
            "-" if r["success_rate"] is None else f"{r['success_rate']:.0%}",
            last,
            "-" if r["median_ttft_s"] is None else f"{r['median_ttft_s']:.2f}s",
            "-" if r["median_tokens_per_s"] is None else f"{r['median_tokens_per_s']:.0f}",
        ]
        if probed:
            p = probe_by_key.get((r["model"], r["provider"]))
            cells.append("-" if p is None else ("ok" if p["ok"] else f"FAILED: {p['error']}"))
        table.rows.append(tuple(cells))
    return table
