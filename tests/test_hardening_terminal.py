"""Hardening, terminal: no escape sequence from the network reaches the terminal through orcli (docs/security.md).

Upstream error messages carry a screen clear (CSI 2J), a clipboard write (OSC 52), a window title (OSC 0),
a C1 CSI, a carriage return and a bidi override; the profile's upstream model name carries an OSC too. Every
message, -v note, error and table shows them as visible `\\u001b` escapes; --json keeps them (a parser gets the exact
text) but as \\u escapes, never raw; the answer on stdout stays byte for byte what the model sent.
"""

from __future__ import annotations

import json
import unicodedata
from functools import partial
from pathlib import Path

from cli_harness import MODEL, Cli, Run, run_all
from hypothesis import given
from hypothesis import strategies as st
from upstream import Upstream, ok, status

from orcli.neutralise import neutralise, neutralise_cell, neutralise_json

HOSTILE = "\x1b[2J\x1b]52;c;SGVsbG8=\x07\x1b]0;pwned\x07\x9b31m\rspoof\u202eevil\x7f"
RAW = ("\x1b", "\x07", "\x9b", "\r", "\u202e", "\x7f")  # none of these may be written raw by orcli itself
ANSWER = "plain \x1b[1mbold\x1b[0m and \x9b7m kept"  # the model's own bytes: the user asked for them


def _no_raw_controls(run: Run, *, stdout: bool = True) -> None:
    for name, text in (("stderr", run.err), ("stdout", run.out if stdout else "")):
        found = [repr(c) for c in RAW if c in text]
        assert not found, (name, found, run)


def test_control_characters_from_upstreams_are_neutralised_in_every_message_and_table(
    upstream: Upstream, tmp_path: Path
) -> None:
    cli = Cli(upstream, tmp_path)
    endpoints = [
        {
            "model": MODEL,
            "provider": name,
            "price": {"prompt": float(i), "completion": float(i)},
            "upstream_model": f"up-{name}\x1b]0;title\x07",
        }
        for i, name in enumerate(("h500", "h429", "last"), start=1)
    ]
    cli.profile(["h500", "h429", "last"], endpoints=endpoints)
    upstream.script("h500", status(500, {"error": {"message": f"overloaded {HOSTILE}"}}))
    upstream.script("h429", status(429, {"error": {"message": f"slow down {HOSTILE}"}}, {"Retry-After": "1"}))
    upstream.script("last", ok(chunks=[ANSWER[:9], ANSWER[9:]]))
    runs = run_all(
        {
            "ask_v": partial(cli, "ask", "-v", "hi", env={"ORCLI_STATE_DIR": str(tmp_path / "s1")}),
            "ask_json": partial(cli, "ask", "--json", "hi", env={"ORCLI_STATE_DIR": str(tmp_path / "s2")}),
            "failed": partial(cli, "ask", "--only", "h500,h429", "hi", env={"ORCLI_STATE_DIR": str(tmp_path / "s3")}),
        }
    )
    assert runs["ask_v"].code == 0 and runs["ask_v"].out == ANSWER, runs["ask_v"]  # byte-exact answer
    _no_raw_controls(runs["ask_v"], stdout=False)
    assert "overloaded \\u001b[2J\\u001b]52;c;SGVsbG8=\\u0007\\u001b]0;pwned\\u0007\\u009b31m" in runs["ask_v"].err
    assert "up-h500\\u001b]0;title\\u0007" in runs["ask_v"].err  # the -v attempt line
    assert runs["failed"].code == 1 and "slow down \\u001b[2J" in runs["failed"].err, runs["failed"]
    _no_raw_controls(runs["failed"])

    doc = runs["ask_json"].json()  # lossless for a parser, inert on a terminal
    _no_raw_controls(runs["ask_json"])
    assert doc["content"] == ANSWER
    shown = HOSTILE.replace("\r", " ")  # one_line collapses whitespace; every other character is kept
    assert [a["error"] for a in doc["attempts"]] == [
        f"HTTP 500: overloaded {shown}",
        f"HTTP 429: slow down {shown}",
        None,
    ], doc["attempts"]

    # The health store now holds the hostile messages: every view of it neutralises them.
    state = {"ORCLI_STATE_DIR": str(tmp_path / "s1")}
    later = run_all(
        {
            "health": partial(cli, "health", env=state),
            "health_json": partial(cli, "health", "--json", env=state),
            "explain": partial(cli, "explain-route", env=state),
            "providers": partial(cli, "providers", env=state),
        }
    )
    for name, run in later.items():
        assert run.code == 0, (name, run)
        _no_raw_controls(run)
    assert "\\u001b[2J" in later["health"].out, later["health"]
    errors = [e["last_error"] for e in later["health_json"].json()["endpoints"] if e["last_error"]]
    assert any("\x1b[2J" in e for e in errors), errors


@given(st.text())
def test_neutralised_text_has_no_control_characters_and_json_stays_the_same_document(text: str) -> None:
    unsafe = [c for c in neutralise(text) if unicodedata.category(c) == "Cc" and c not in "\n\t"]
    assert not unsafe
    assert not [c for c in neutralise_cell(text) if unicodedata.category(c) == "Cc"]
    dumped = neutralise_json(json.dumps({"k": text}, ensure_ascii=False))
    assert json.loads(dumped) == {"k": text}
    assert not [c for c in dumped if unicodedata.category(c) == "Cc" and c != "\n"]
    line = json.dumps({"k": text}, ensure_ascii=False)  # a JSON log line shown as a note stays that JSON
    assert json.loads(neutralise(line)) == {"k": text}
    assert neutralise("plain text, tabs\tand\nlines") == "plain text, tabs\tand\nlines"
