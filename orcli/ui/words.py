"""Wording shared by every message: plurals, and error text kept to lines a terminal shows whole."""

from __future__ import annotations

import re

ERROR_WIDTH = 100  # an error line longer than this continues, indented, on the next line (issue 14)


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 attempt`, `2 attempts`, `1,000 tokens`."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z`$(\"'])")


def wrap_message(text: str, width: int = ERROR_WIDTH) -> str:
    """A message whose long lines continue, indented, on the next: broken between sentences only, so a
    sentence (a path, a name, a quoted value) is never split; a single long sentence stays whole."""
    out: list[str] = []
    for line in text.splitlines() or [""]:
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip())) + "  "
        current = ""
        for sentence in _SENTENCE_END.split(line):
            if current and len(current) + 1 + len(sentence) > width:
                out.append(current)
                current = indent + sentence
            else:
                current = f"{current} {sentence}" if current else sentence
        out.append(current)
    return "\n".join(out)
