"""`orcli usage` as a table, JSON, CSV and a bar chart of daily spend, all from the same rows (docs/usage.md).

A row's cost is the sum of the costs that are known; `unknown_cost_attempts` says how many attempts are not in
it. A row whose every attempt has an unknown cost has no cost at all (null, `?`), never 0.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

from orcli.neutralise import neutralise_cell
from orcli.ui.tables import Column, TableData

FIELDS = (
    "key",
    "requests",
    "attempts",
    "failures",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "unknown_cost_attempts",
)
_HEADINGS = {"endpoint": "model @ provider", "day": "day (UTC)"}
CHART_WIDTH = 40  # characters of the longest bar


def row_cost(row: Any) -> float | None:
    """The row's known cost; None when no attempt in it has a known cost (unknown is not free)."""
    if row.attempts and row.unknown_cost_attempts == row.attempts:
        return None
    cost: float = round(row.cost_usd, 10)
    return cost


def row_json(row: Any) -> dict[str, Any]:
    doc = dict(zip(FIELDS, row, strict=True))
    doc["cost_usd"] = row_cost(row)
    return doc


def usage_json(since: str, until: str, by: str, rows: Sequence[Any], total: Any) -> dict[str, Any]:
    total_doc = row_json(total)
    del total_doc["key"]
    return {"since": since, "until": until, "by": by, "rows": [row_json(r) for r in rows], "total": total_doc}


def usage_csv(rows: Sequence[Any]) -> str:
    """A header and one line per row, the JSON's names and values (no total line: a sum would count it twice);
    an unknown cost is an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    for row in rows:
        doc = row_json(row)
        doc["key"] = neutralise_cell(doc["key"])  # names another machine recorded reach a terminal too
        writer.writerow(["" if doc[f] is None else doc[f] for f in FIELDS])
    return buffer.getvalue()


def usd(value: float | None) -> str:
    """A spend: `?` unknown, `$0` nothing, cents from a dollar up, else four significant digits with at least
    two decimals (`$0.50`, `$0.125`, `$0.0041`): small sums are what this report is read for."""
    if value is None:
        return "?"
    if value == 0:
        return "$0"
    if value >= 1:
        return f"${value:,.2f}"
    decimals = max(2, 3 - math.floor(math.log10(value)))
    text = f"{value:.{decimals}f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def usage_table(since: str, until: str, by: str, rows: Sequence[Any], total: Any) -> TableData:
    columns = (
        Column(_HEADINGS.get(by, by)),
        Column("requests", right=True),
        Column("attempts", right=True),
        Column("failures", right=True, drop=2),
        Column("prompt tok", right=True, drop=3),
        Column("completion tok", right=True, drop=3),
        Column("cost", right=True),
        Column("unknown cost", right=True, drop=1),
    )
    cells = [_cells(r) for r in rows]
    if rows:
        cells.append(_cells(total))
    return TableData(f"Usage {since} to {until}, by {by}", columns, cells)


def _cells(row: Any) -> tuple[str, ...]:
    return (
        row.key,
        f"{row.requests:,}",
        f"{row.attempts:,}",
        f"{row.failures:,}",
        f"{row.prompt_tokens:,}",
        f"{row.completion_tokens:,}",
        usd(row_cost(row)),
        f"{row.unknown_cost_attempts:,}",
    )


def day_chart(rows: Sequence[Any], bar: str = "█") -> list[str]:
    """One line per day: the date, a bar as long as its spend (the largest day fills CHART_WIDTH), the spend."""
    top = max((r.cost_usd for r in rows), default=0.0)
    lines = []
    for r in rows:
        length = 0 if top <= 0 else round(r.cost_usd / top * CHART_WIDTH)
        if r.cost_usd > 0 and length == 0:
            length = 1  # a day that spent something is never drawn as nothing
        lines.append(f"{r.key}  {bar * length}{' ' * (CHART_WIDTH - length)}  {usd(row_cost(r))}")
    return lines
