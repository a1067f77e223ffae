"""Prompt input (argument, stdin, or both) and the chars-per-token size estimate."""

from __future__ import annotations

import math
from typing import BinaryIO

from orcli.errors import UsageError

# A common rule of thumb for English text and code with BPE tokenizers; an estimate, documented as such.
CHARS_PER_TOKEN = 4
DEFAULT_PROMPT_TOKENS = 1000


def estimate_tokens(*texts: str | None) -> int:
    return sum(math.ceil(len(t) / CHARS_PER_TOKEN) for t in texts if t)


def read_prompt(argument: str | None, stdin: BinaryIO | None, stdin_is_tty: bool, no_stdin: bool) -> str | None:
    """docs/commands.md#common-options: stdin first, then the argument, separated by a blank line; `-` means stdin alone."""
    if argument is not None and argument != "-":
        _check_argument(argument)
    use_stdin = not no_stdin and stdin is not None and (argument == "-" or not stdin_is_tty)
    piped = _decode(stdin.read()) if use_stdin and stdin is not None else None
    if argument == "-":
        if no_stdin:
            raise UsageError("the prompt `-` means standard input, but --no-stdin was given.")
        return piped
    if piped and piped.strip() and argument:
        return f"{piped.rstrip()}\n\n{argument}"
    return argument if argument else (piped if piped and piped.strip() else None)


def _check_argument(argument: str) -> None:
    """Python hands over command-line bytes that are not UTF-8 as lone surrogates; JSON cannot carry them."""
    try:
        argument.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"the prompt argument is not valid UTF-8 text (invalid byte at character {exc.start}); "
            "check the terminal's or the script's encoding."
        ) from None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"standard input is not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "convert it first, e.g. with `iconv -f latin1 -t utf-8`."
        ) from None
