"""Help that reads well (issue 14): whole command summaries, options grouped into panels, examples last.

Plain text through Click's formatter (no Rich: help is fast and the same in a pipe). A Typer option's
`rich_help_panel` names its group here too; options without one are listed under "Options".
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup

ROUTING = "Routing options"
REQUEST = "Request options"
OUTPUT = "Output options"
_ORDER = ("Options", ROUTING, REQUEST, OUTPUT)


def _format_options(command: Any, ctx: Any, formatter: Any) -> None:
    arguments: list[tuple[str, str]] = []
    panels: dict[str, list[tuple[str, str]]] = {}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if param.param_type_name == "argument":
            arguments.append(record)
        else:
            panels.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append(record)
    if arguments:
        with formatter.section("Arguments"):
            formatter.write_dl(arguments)
    for name in sorted(panels, key=lambda p: _ORDER.index(p) if p in _ORDER else len(_ORDER)):
        with formatter.section(name):
            formatter.write_dl(panels[name])


def _format_examples(command: Any, formatter: Any) -> None:
    """The epilog is a list of examples, printed line by line (never re-wrapped)."""
    if not command.epilog:
        return
    with formatter.section("Examples"):
        for line in command.epilog.strip().splitlines():
            formatter.write(" " * formatter.current_indent + line.strip() + "\n")


def _plain_usage(pieces: list[str]) -> list[str]:
    """Typer writes a required argument as `{SOURCE}`, which reads like a set to pick from; POSIX usage
    writes it bare (`SOURCE`), optional ones in brackets."""
    return [p[1:-1] if p.startswith("{") and p.endswith("}") and "," not in p else p for p in pieces]


class Command(TyperCommand):
    """A command whose help groups its options and ends with examples."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _plain_usage(super().collect_usage_pieces(ctx))

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _format_options(self, ctx, formatter)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        _format_examples(self, formatter)


class Group(TyperGroup):
    """A group whose command list shows each command's whole summary, never cut with `...`."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _format_options(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        _format_examples(self, formatter)
