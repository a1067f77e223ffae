"""Wording shared by every message: plurals, and error text kept to lines a terminal shows whole."""

from __future__ import annotations

import textwrap

ERROR_WIDTH = 100  # an error line longer than this continues, indented, on the next line (issue 14)


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 attempt`, `2 attempts`, `1,000 tokens`."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def wrap_message(text: str, width: int = ERROR_WIDTH) -> str:
    """Each line of `text` wrapped at word boundaries to `width`; continuations indented by two spaces."""
    out: list[str] = []
    for line in text.splitlines() or [""]:
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()))
        out.extend(
            textwrap.wrap(line, width, subsequent_indent=indent + "  ", break_long_words=False, break_on_hyphens=False)
        )
    return "\n".join(out)
