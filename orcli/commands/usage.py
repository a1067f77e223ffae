"""`orcli usage`: what routing spent, from the store every attempt is recorded in (docs/usage.md)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from orcli.commands.common import WideOpt, environment, handled
from orcli.errors import UsageError
from orcli.ui.help import OUTPUT
from orcli.ui.output import Output

GROUPS = ("provider", "model", "endpoint", "day", "profile")
_AGO = re.compile(r"(\d+(?:\.\d+)?)\s*([hdw])", re.IGNORECASE)
_UNIT_S = {"h": 3600, "d": 86400, "w": 7 * 86400}
LATEST = 253402300799.0  # 9999-12-31T23:59:59Z: bounds are kept within what a date can show


def parse_when(text: str, now: float, flag: str, *, end_of_day: bool = False) -> float:
    """`24h`, `7d`, `2w` (that long before `now`), an ISO date (`2026-12-01`: its start, or with `end_of_day`
    its end) or an ISO date and time (UTC unless it names an offset) -> seconds since the epoch, kept between
    the epoch (nothing was recorded before) and the last second of year 9999."""
    return min(max(_seconds(text.strip(), now, flag, end_of_day), 0.0), LATEST)


def _seconds(text: str, now: float, flag: str, end_of_day: bool) -> float:
    if match := _AGO.fullmatch(text):
        return now - float(match.group(1)) * _UNIT_S[match.group(2).lower()]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{flag} {text!r}: expected a span back from now (24h, 7d, 30d, 2w) or an ISO date "
            "(2026-12-01, or 2026-12-01T09:30 in UTC)."
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if end_of_day and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        if when.year == 9999 and when.month == 12 and when.day == 31:
            return LATEST
        when += timedelta(days=1)  # `--until 2026-12-05` includes the 5th
    return when.timestamp()


def complete_groups(incomplete: str) -> list[str]:
    return [g for g in GROUPS if g.startswith(incomplete)]


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@handled
def usage(
    since: Annotated[
        str, typer.Option("--since", help="Start: 24h, 7d, 30d, or an ISO date (UTC).", metavar="SPAN|DATE")
    ] = "7d",
    until: Annotated[
        str | None,
        typer.Option("--until", help="End (default now); a date includes that whole day.", metavar="SPAN|DATE"),
    ] = None,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="Group by provider, model, endpoint, day or profile.",
            metavar="GROUP",
            autocompletion=complete_groups,
        ),
    ] = "day",
    as_csv: Annotated[
        bool, typer.Option("--csv", help="A header and one line per row, comma-separated.", rich_help_panel=OUTPUT)
    ] = False,
    wide: WideOpt = False,
    *,
    out: Output,
    profile: str | None,
) -> None:
    """Requests, attempts, failures, tokens and cost recorded in the store, with a total."""
    from orcli.commands.common import load_profile_for
    from orcli.store.backend import open_store

    if by not in GROUPS:
        raise UsageError(f"--by {by!r}: expected one of {', '.join(GROUPS)}.")
    if as_csv and out.as_json:
        raise UsageError("--csv and --json each print the whole report: give one of them.")
    now = time.time()
    start = parse_when(since, now, "--since")
    end = now if until is None else parse_when(until, now, "--until", end_of_day=True)
    if end <= start:
        raise UsageError(f"--until ({iso(end)}) must come after --since ({iso(start)}).")
    env = environment()
    loaded = load_profile_for(profile, env, out)
    store, warnings = open_store(loaded.health, env, create=False, usage_days=loaded.budget.retention_days)
    try:
        rows, total = _read(store, start, end, by)
        warnings += [] if store is None else store.take_warnings()
    finally:
        if store is not None:
            store.close()
    for warning in warnings:
        out.warn(warning)
    _show(out, iso(start), iso(end), by, rows, total, as_json=out.as_json, as_csv=as_csv, wide=wide)


def _read(store: Any, start: float, end: float, by: str) -> tuple[list[Any], Any]:
    from orcli.store.usage import UsageRow

    if store is None:  # no store yet: nothing was ever recorded here
        return [], UsageRow("total")
    report: tuple[list[Any], Any] = store.usage(start, end, by)
    return report


def _show(
    out: Output,
    since: str,
    until: str,
    by: str,
    rows: list[Any],
    total: Any,
    *,
    as_json: bool,
    as_csv: bool,
    wide: bool,
) -> None:
    from orcli.ui import usage_report

    if as_json:
        out.json(usage_report.usage_json(since, until, by, rows, total))
        return
    if as_csv:
        out.stdout.write(usage_report.usage_csv(rows))
        out.stdout.flush()
        return
    if not rows:
        out.note(f"no usage recorded from {since} to {until}")
        return
    out.table(usage_report.usage_table(since, until, by, rows, total), wide)
    if by == "day" and out.stdout_tty:  # a chart of daily spend, for a person at a terminal
        bar = "█" if out.styled(stderr=False) else "#"
        out.stdout.write("\nspend per day\n" + "".join(line + "\n" for line in usage_report.day_chart(rows, bar)))
        out.stdout.flush()
