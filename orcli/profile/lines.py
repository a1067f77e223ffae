"""Placing a profile error on a line: TOML's parser gives lines only for syntax errors, so the key path of a
validation error is looked up among the table headers of the text. Pure."""

from __future__ import annotations

import re
from typing import NamedTuple

_HEADER = re.compile(r"^[ \t]*(\[\[?)[ \t]*([^\]\n]+?)[ \t]*\]", re.M)
_NAME_PART = re.compile(r"\"([^\"]*)\"|'([^']*)'|([^.\s]+)")


class _Header(NamedTuple):
    """One `[table]` or `[[array]]` header line of a profile's text."""

    line: int  # 1-based
    end: int  # offset just after the header
    name: str  # dotted, unquoted: `providers.deepinfra/turbo`, `endpoint.price`


class TableHeaders:
    """Every table header of a profile's text, found in one pass, for placing errors on lines (docs/profiles.md)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.headers: list[_Header] = []
        self.arrays: dict[str, list[int]] = {}
        self.tables: dict[str, int] = {}
        line, last = 1, 0
        for m in _HEADER.finditer(text):
            line += text.count("\n", last, m.start())
            last = m.start()
            name = ".".join(a or b or c for a, b, c in _NAME_PART.findall(m.group(2)))
            if m.group(1) == "[[":
                self.arrays.setdefault(name, []).append(len(self.headers))
            else:
                self.tables.setdefault(name, len(self.headers))
            self.headers.append(_Header(line, m.end(), name))

    def line_of(self, keypath: str) -> int | None:
        """Best-effort line of a key path: TOML itself gives none."""
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", keypath)
        if not parts:
            return None
        first, rest = parts[0], parts[1:]
        if rest and rest[0].startswith("["):
            arrays = self.arrays.get(first, [])
            index = int(rest[0][1:-1]) - 1
            if index >= len(arrays):
                return None
            at, rest = arrays[index], rest[1:]
        elif first == "providers" and rest:
            found = self.tables.get(f"providers.{rest[0]}")
            if found is None:
                return None
            at, rest = found, rest[1:]
        else:
            found = self.tables.get(first)
            if found is None:
                return None
            at = found
        return self._line_in(at, rest)

    def _line_in(self, at: int, rest: list[str]) -> int:
        header = self.headers[at]
        if not rest:
            return header.line
        end = self.headers[at + 1].end if at + 1 < len(self.headers) else len(self.text)
        body = self.text[header.end : end]
        hit = re.search(rf"^[ \t]*{re.escape(rest[0])}[ \t]*=", body, re.M)
        if hit:
            return header.line + body.count("\n", 0, hit.start())
        if at + 1 < len(self.headers) and self.headers[at + 1].name == f"{header.name}.{rest[0]}":
            return self._line_in(at + 1, rest[1:])  # tomli-w writes `[endpoint.price]` below its endpoint
        return header.line
