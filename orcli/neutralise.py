"""Text from the network made safe to show: control characters become visible escapes (docs/security.md).

An upstream error message, a model name in an error or a health row can carry `ESC[2J` (clear the screen),
OSC 52 (write the clipboard), OSC 0 (set the window title), a carriage return that overwrites a line, or a
bidi override that reorders it. orcli's own messages and tables pass through here on their way out; the
answer on stdout never does (it stays byte-exact). Pure: standard library only.
"""

from __future__ import annotations

import re

# C0 but \n and \t, DEL, C1, and the bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_CELL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # a cell is one line: \n too
# What json.dumps(ensure_ascii=False) leaves raw (it escapes C0 itself): DEL, C1, bidi controls.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    # JSON's escape, so that a JSON line (serve's access log) neutralised as text is still the same JSON.
    return f"\\u{ord(match.group()):04x}"


def neutralise(text: str) -> str:
    """`text` with every control character but line breaks and tabs shown as a `\\uNNNN` escape."""
    return _UNSAFE.sub(_visible, text)


def neutralise_cell(text: str) -> str:
    """A table cell: like `neutralise`, and line breaks and tabs too (a cell is one line)."""
    return _UNSAFE_IN_CELL.sub(_visible, text)


def neutralise_json(text: str) -> str:
    """A JSON text from json.dumps(ensure_ascii=False) with DEL, C1 and bidi controls as `\\uNNNN` escapes: the
    same document to a parser, inert on a terminal. Those characters can only occur inside strings."""
    return _UNSAFE_IN_JSON.sub(_visible, text)
