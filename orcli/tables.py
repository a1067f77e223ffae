"""Tables as plain data, drawn by Rich on a terminal and as plain ASCII text everywhere else.

Outside a terminal there is no colour and no box-drawing anyway (SPEC §5), and drawing a grid of text
ourselves costs nothing, where importing and laying out Rich costs tens of milliseconds on every call.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Column(NamedTuple):
    name: str
    right: bool = False  # right-justified (numbers)
    dim: bool = False


class TableData(NamedTuple):
    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[str, ...]]


def plain(table: TableData) -> str:
    """An ASCII grid, one line per row: greppable, and the same in every pipe and log."""
    widths = [len(c.name) for c in table.columns]
    for row in table.rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells: tuple[str, ...] | list[str]) -> str:
        parts = []
        for cell, width, column in zip(cells, widths, table.columns, strict=True):
            parts.append(cell.rjust(width) if column.right else cell.ljust(width))
        return "| " + " | ".join(parts) + " |"

    header_rule = "|" + "+".join("-" * (w + 2) for w in widths) + "|"
    out = [table.title, rule, line([c.name for c in table.columns]), header_rule]
    out.extend(line(row) for row in table.rows)
    out.append(rule)
    return "\n".join(out) + "\n"


def to_rich(table: TableData, console: Any) -> Any:
    """The same table as a Rich renderable for a terminal."""
    from rich import box
    from rich.table import Table

    utf = console.encoding.lower().startswith("utf")
    rich_table = Table(title=table.title, box=box.ROUNDED if utf else box.ASCII, title_justify="left")
    for c in table.columns:
        rich_table.add_column(c.name, justify="right" if c.right else "left", style="dim" if c.dim else None)
    for row in table.rows:
        rich_table.add_row(*row)
    return rich_table
