"""Tables as plain data, laid out to fit a width, drawn as plain text in pipes and styled on a terminal.

One layout decides for both (docs/commands.md#common-options): names are never cut; when a table is wider than the terminal the
least important columns are dropped (the caller says which, so a note can name them), the repeated value of
a "group" column (a model, a provider) becomes a heading line above its rows, and prose wraps at word
boundaries to two lines at most, or moves under its row. In a pipe every row stays one greppable line, with
every group value repeated; `--wide` shows every column at full length. No Rich here: drawing text ourselves
costs nothing, where importing Rich costs tens of milliseconds; a terminal styles the lines we return.
"""

from __future__ import annotations

from typing import NamedTuple

GAP = "  "  # between columns: borderless, like `gh`, `kubectl get` and `docker ps`
MIN_PROSE = 24  # a prose column narrower than this is better moved under its row
PROSE_LINES = 2  # at most this many wrapped lines in the column; longer text moves under its row
INDENT = "    "  # prose moved under its row
ROW_INDENT = "  "  # rows under a group heading


class Column(NamedTuple):
    name: str
    right: bool = False  # right-justified (numbers)
    dim: bool = False
    prose: bool = False  # free text: wraps at word boundaries (everything else is never cut)
    drop: int = 0  # 0: always shown; otherwise dropped when narrow, the highest number first
    group: bool = False  # on a narrow terminal, a change of value becomes a heading line


class TableData(NamedTuple):
    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[str, ...]]


class Line(NamedTuple):
    """One output line as (text, style) pieces; style is a Rich style name or ''."""

    parts: tuple[tuple[str, str], ...]

    @property
    def text(self) -> str:
        return "".join(t for t, _ in self.parts)


class Layout(NamedTuple):
    lines: list[Line]
    hidden: tuple[str, ...]  # names of the columns left out


def layout(table: TableData, width: int | None, *, terminal: bool) -> Layout:
    """Lines of `table` for `width` columns (None: no limit, every column, as `--wide` asks).

    terminal=False (a pipe): one line per row, no grouping, prose unwrapped at the end of its line.
    """
    sized = _sized(table)
    columns = list(range(len(table.columns)))
    if width is None:
        return Layout(_draw(sized, columns, None, group=False, terminal=terminal), ())
    groups = [False, True] if terminal and any(c.group for c in table.columns) else [False]
    # With the same columns, prose on one line beats two; on two, a flat table beats headings.
    modes = [(lines, group) for lines in ((1, PROSE_LINES) if terminal else (PROSE_LINES,)) for group in groups]
    by_drop = sorted((i for i in columns if table.columns[i].drop), key=lambda i: -table.columns[i].drop)
    shown = list(columns)
    dropped: list[int] = []
    while True:
        for lines, group in modes:
            if _fits(sized, shown, width, group, lines):
                shown = _take_back(sized, shown, dropped, width, lines, group)
                hidden = tuple(table.columns[i].name for i in columns if i not in shown)
                return Layout(_draw(sized, shown, width, group=group, terminal=terminal), hidden)
        if not by_drop:
            break
        dropped.append(by_drop.pop(0))
        shown.remove(dropped[-1])
    group = groups[-1]  # nothing left to drop: names stay whole, the line runs long
    hidden = tuple(table.columns[i].name for i in columns if i not in shown)
    return Layout(_draw(sized, shown, width, group=group, terminal=terminal), hidden)


def _take_back(sized: _Sized, shown: list[int], dropped: list[int], width: int, lines: int, group: bool) -> list[int]:
    """Dropping is greedy: a wide column dropped early can leave room for a narrower, more important one
    dropped after it. Take those back, the most important first, while the table still fits as it is laid
    out (prose on as many lines, grouped or not)."""
    for i in sorted(dropped, key=lambda i: sized.table.columns[i].drop):
        candidate = sorted([*shown, i])
        if _fits(sized, candidate, width, group, lines):
            shown = candidate
    return shown


class _Sized(NamedTuple):
    """A table with the width of each column's longest cell (or name), measured once per layout."""

    table: TableData
    natural: tuple[int, ...]


def _sized(table: TableData) -> _Sized:
    widths = [len(c.name) for c in table.columns]
    for row in table.rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    return _Sized(table, tuple(widths))


def _cells(table: TableData, shown: list[int], group: bool) -> list[int]:
    """The columns drawn inside the rows (group columns become headings when grouping)."""
    return [i for i in shown if not (group and table.columns[i].group)]


def _fits(sized: _Sized, shown: list[int], width: int, group: bool, lines: int) -> bool:
    table, natural = sized
    cells = _cells(table, shown, group)
    fixed = [i for i in cells if not table.columns[i].prose]
    prose = [i for i in cells if table.columns[i].prose]
    used = sum(natural[i] for i in fixed) + len(GAP) * (len(cells) - 1) + (len(ROW_INDENT) if group else 0)
    need = sum(natural[i] if lines == 1 else _prose_need(sized, i) for i in prose)
    if used + need > width:
        return False
    if group:  # heading lines hold the group values: they must fit too
        heads = [i for i in shown if table.columns[i].group]
        return all(len(GAP.join(r[i] for i in heads if r[i])) <= width for r in table.rows)
    return True


def _prose_need(sized: _Sized, i: int) -> int:
    """Room a prose column asks for: its typical (median) text on two lines (one if optional), >= MIN_PROSE."""
    table, natural = sized
    lengths = sorted(len(r[i]) for r in table.rows) or [0]
    typical = lengths[len(lengths) // 2]
    if table.columns[i].drop:  # an optional column earns its place only on one line
        return min(natural[i], max(MIN_PROSE, typical))
    return min(natural[i], max(MIN_PROSE, (typical + 1) // PROSE_LINES + 4))


def _widths(sized: _Sized, cells: list[int], width: int | None, indent: int = 0) -> dict[int, int]:
    table, natural = sized
    widths = {i: natural[i] for i in cells}
    prose = [i for i in cells if table.columns[i].prose]
    if width is None or not prose:
        return widths
    fixed = sum(w for i, w in widths.items() if i not in prose) + len(GAP) * (len(cells) - 1) + indent
    room = max(width - fixed, MIN_PROSE * len(prose))
    for n, i in enumerate(prose):  # share the room, the last prose column takes what is left
        share = room // (len(prose) - n)
        widths[i] = min(widths[i], share)
        room -= widths[i]
    return widths


def _draw(sized: _Sized, shown: list[int], width: int | None, *, group: bool, terminal: bool) -> list[Line]:
    table = sized.table
    cells = _cells(table, shown, group)
    indent = ROW_INDENT if group else ""
    widths = _widths(sized, cells, width if terminal else None, len(indent))  # a pipe never wraps
    cols = table.columns
    if terminal and width is not None:
        _squeeze_prose(widths, cells, cols, width - len(indent))
    last = cells[-1] if cells else None

    def pad(i: int, text: str) -> str:
        if i == last and not cols[i].right:
            return text  # no trailing spaces
        return text.rjust(widths[i]) if cols[i].right else text.ljust(widths[i])

    def row_line(values: dict[int, str], header: bool = False) -> Line:
        parts: list[tuple[str, str]] = [(indent, "")] if indent else []
        for n, i in enumerate(cells):
            if n:
                parts.append((GAP, ""))
            style = "bold" if header else ("dim" if cols[i].dim else "")
            parts.append((pad(i, values.get(i, "")), style))
        return Line(tuple(parts))

    lines = [Line(((table.title, "bold"),))]
    lines.append(row_line({i: cols[i].name for i in cells}, header=True))
    heads = [i for i in shown if cols[i].group]
    previous: tuple[str, ...] | None = None
    for row in table.rows:
        if group:
            key = tuple(row[i] for i in heads)
            if key != previous:
                lines.append(
                    Line(
                        tuple(
                            (part, "bold" if n == 0 else "dim")
                            for n, part in enumerate(_joined([row[i] for i in heads if row[i]]))
                        )
                    )
                )
            previous = key
        values = {i: row[i] for i in cells}
        if terminal and not group:  # a repeated group value is blank under its first row
            key = tuple(row[i] for i in heads)
            if key == previous:
                values.update({i: "" for i in heads})
            previous = key
        under: list[tuple[int, list[str]]] = []
        wrapped: dict[int, list[str]] = {}
        if terminal and width is not None:
            for i in cells:
                if cols[i].prose and len(row[i]) > widths[i]:
                    import textwrap  # terminal only: a pipe never wraps

                    pieces = textwrap.wrap(row[i], widths[i], break_long_words=False, break_on_hyphens=False)
                    if len(pieces) <= PROSE_LINES and all(len(p) <= widths[i] for p in pieces):
                        wrapped[i] = pieces
                    else:
                        values[i] = "(below)"
                        under.append((i, _under(cols[i].name, row[i], width)))
        height = max([1, *(len(p) for p in wrapped.values())])
        for k in range(height):
            line_values = dict(values) if k == 0 else {}
            for i, pieces in wrapped.items():
                line_values[i] = pieces[k] if k < len(pieces) else ""
            lines.append(row_line(line_values))
        for _, texts in under:
            lines.extend(Line(((t, "dim"),)) for t in texts)
    return [
        Line(tuple((t.rstrip() if n == len(ln.parts) - 1 else t, s) for n, (t, s) in enumerate(ln.parts)))
        for ln in lines
    ]


def _squeeze_prose(widths: dict[int, int], cells: list[int], cols: tuple[Column, ...], width: int) -> None:
    """When names alone nearly fill the line, prose gets only what is left (down to its header's width), so
    that it moves under its row instead of running past the edge where the terminal would break a word."""
    over = sum(widths[i] for i in cells) + len(GAP) * (len(cells) - 1) - width
    for i in reversed(cells):
        if over <= 0:
            return
        if cols[i].prose:
            floor = max(len(cols[i].name), len("(below)"))
            cut = min(over, max(0, widths[i] - floor))
            widths[i] -= cut
            over -= cut


def _joined(values: list[str]) -> list[str]:
    return [v if n == 0 else GAP + v for n, v in enumerate(values)]


def _under(name: str, text: str, width: int) -> list[str]:
    """Prose moved under its row: indented, labelled, wrapped at word boundaries to the full width."""
    import textwrap

    wrapper = textwrap.TextWrapper(
        max(20, width - len(INDENT)),
        initial_indent=INDENT + f"{name}: ",
        subsequent_indent=INDENT + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    return wrapper.wrap(text)


def plain(table: TableData, width: int | None = None) -> str:
    """The table as plain text for a pipe or a log: one line per row, columns aligned, greppable."""
    return "".join(line.text + "\n" for line in layout(table, width, terminal=False).lines)
