"""Hardening, keys: canary keys through every command and every failure path of SPEC §6.

Every provider's key is a fresh random canary; every upstream failure echoes the Authorization header it got
back in its error (as JSON, in an HTML title, in a 200 error object, mid-stream, and in a line long enough to
be cut for display). No slice of any canary may appear on stdout or stderr of any run, nor in any file under
the test's tmp dir (state dir, HOME, XDG dirs, TMPDIR); the echoed errors are shown, redacted. The prompt
and the answer are canaries too: the health store keeps neither (SPEC §8).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from cli_harness import MODEL, MODEL_B, Cli, Run, leaks, run_all, store_rows
from upstream import Behaviour, Exchange, RecordedRequest, Upstream, key_env, ok, status


def _auth(req: RecordedRequest) -> str:
    return req.headers.get("authorization", "")


def echo(http: int, template: str = "Incorrect API key provided: {auth}", **error: Any) -> Behaviour:
    """HTTP status `http` whose JSON error message carries the Authorization header it received."""
    return status(http, lambda req: {"error": {"message": template.format(auth=_auth(req)), **error}})


def echo_html(code: int) -> Behaviour:
    return status(code, lambda req: f"<html><title>{code} denied for {_auth(req)}</title></html>".encode())


@dataclass
class EchoInBody(Behaviour):
    """200 with the echo as an error object: mid-stream after `content` (or before any), or in a JSON body."""

    content: str = ""

    def serve(self, ex: Exchange) -> None:
        error = {"message": f"upstream refused key {_auth(ex.req)}", "code": 502}
        if not ex.stream:
            ex.send_json(200, {"error": error})
            return
        ex.start_stream()
        ex.role_chunk()
        if self.content:
            ex.content_chunks([self.content])
        ex.event({**ex.chunk({}, "error"), "error": error})
        ex.done()


MODEL_C = "test/model-c"
PROMPT = f"PROMPT-{secrets.token_hex(8)}-CANARY"
ANSWER = f"ANSWER-{secrets.token_hex(8)}-CANARY"
# Provider failures, one per shape of echo, in price order; `last` answers.
CHAIN = {
    "e401": echo(401),
    "e402": echo(402, "Insufficient credits for key {auth}"),
    "e429": status(429, lambda req: {"error": {"message": f"Rate limit for {_auth(req)}"}}, {"Retry-After": "1"}),
    "e500": echo_html(500),
    "e503long": status(503, lambda req: ("y" * 265 + _auth(req).removeprefix("Bearer ") + " tail").encode()),
    "ebody": EchoInBody(),
}


def _expect(runs: dict[str, Run], codes: dict[str, int]) -> None:
    wrong = {name: runs[name] for name, code in codes.items() if runs[name].code != code}
    assert not wrong, wrong


def test_no_canary_leaves_through_any_command_or_failure_path(upstream: Upstream, tmp_path: Path) -> None:
    chain = Cli(upstream, tmp_path / "chain")
    chain.profile([*CHAIN, "last"])
    # A key with a trailing newline, as `KEY=$(cat file)` style setups leave it: still used, still hidden.
    chain.set_keys({key_env("e401"): chain.key("e401") + "\r\n"})
    for name, behaviour in CHAIN.items():
        upstream.script(name, behaviour)
    upstream.script("last", ok(ANSWER))

    model = Cli(upstream, tmp_path / "model")  # model class: context length, then moderation, then an answer
    pairs = [(MODEL, "mctx"), (MODEL_B, "mmod"), (MODEL_C, "mok")]
    model.profile(["mctx", "mmod", "mok"], models=[m for m, _ in pairs],
                  endpoints=[{"model": m, "provider": p, "price": {"prompt": 1.0, "completion": 1.0}} for m, p in pairs])  # fmt: skip
    upstream.script("mctx", echo(400, "This model's maximum context length is 8192 tokens ({auth})",
                                 code="context_length_exceeded"))  # fmt: skip
    upstream.script("mmod", echo(403, "Your input was flagged by moderation ({auth})", code="moderation"))
    upstream.script("mok", ok(ANSWER))

    request = Cli(upstream, tmp_path / "request")  # request class: the upstream message is shown
    request.profile(["rbad", "rnever"])
    upstream.script("rbad", echo(400, "Invalid value for 'temperature' with {auth}", code="invalid_value"))

    stream = Cli(upstream, tmp_path / "stream")  # stream class: the answer broke after content was written
    stream.profile(["sbroken", "snever"])
    upstream.script("sbroken", EchoInBody(content="partial "))

    jobs = {
        "ask_json": partial(chain, "ask", "--json", PROMPT),
        "ask_verbose_debug": partial(chain, "ask", "-v", "--debug", PROMPT),
        "ask_no_stream": partial(chain, "ask", "--no-stream", "-v", PROMPT),
        "ask_quiet": partial(chain, "ask", "-q", PROMPT, stdin=PROMPT),
        "ask_all_failed": partial(chain, "ask", "--only", "e401,e503long,ebody", "-v", PROMPT),
        "ask_all_failed_json": partial(chain, "ask", "--only", "e401,e500", "--json", "--debug", PROMPT),
        "ask_no_route": partial(chain, "ask", "--max-price", "prompt=0.1", "--json", PROMPT),
        "ask_usage": partial(chain, "ask", "-o", "temperature=1e999", PROMPT),
        "model_json": partial(model, "ask", "--json", PROMPT),
        "model_verbose": partial(model, "ask", "-v", PROMPT),
        "request": partial(request, "ask", "-v", PROMPT),
        "request_json": partial(request, "ask", "--json", "--debug", PROMPT),
        "stream": partial(stream, "ask", "-v", PROMPT),
        "stream_json": partial(stream, "ask", "--json", PROMPT),
    }
    runs = run_all(jobs)  # each run has a store of its own: no breaker opened by one reorders another
    _expect(runs, {"ask_json": 0, "ask_verbose_debug": 0, "ask_no_stream": 0, "ask_quiet": 0, "ask_all_failed": 1,
                   "ask_all_failed_json": 1, "ask_no_route": 3, "ask_usage": 2, "model_json": 0, "model_verbose": 0,
                   "request": 1, "request_json": 1, "stream": 1, "stream_json": 0})  # fmt: skip
    # After the asks, on the stores they wrote, so that the health table has the echoed errors to show.
    for cli, run in ((chain, "ask_json"), (model, "model_json"), (request, "request")):
        cli.env["ORCLI_STATE_DIR"] = str(runs[run].state_dir)
    later = {
        "health": partial(chain, "health"),
        "health_json": partial(chain, "health", "--json"),
        "probe": partial(chain, "health", "--probe", "--no-color"),
        "probe_json": partial(chain, "health", "--probe", "--json", "--debug"),
        "providers": partial(chain, "providers"),
        "providers_json": partial(chain, "providers", "--json"),
        "explain": partial(chain, "explain-route", PROMPT),
        "explain_json": partial(chain, "explain-route", "--json", "--debug", PROMPT),
        "model_health": partial(model, "health", "--json"),
        "request_health": partial(request, "health"),
    }
    runs.update(run_all(later))
    _expect(runs, {"health": 0, "health_json": 0, "probe": 1, "probe_json": 1, "providers": 0, "providers_json": 0,
                   "explain": 0, "explain_json": 0, "model_health": 0, "request_health": 0})  # fmt: skip

    # The echo paths really ran: each upstream got its canary, and sent it back.
    for cli, names in ((chain, CHAIN), (model, ["mctx", "mmod"]), (request, ["rbad"]), (stream, ["sbroken"])):
        for name in names:
            assert _auth(upstream.requests(name)[0]) == f"Bearer {cli.key(name).strip()}", name
    # ... and came out redacted, the rest of the message kept.
    doc = runs["ask_json"].json()
    errors = {a["provider"]: a["error"] for a in doc["attempts"]}
    assert doc["content"] == ANSWER and list(errors) == [*CHAIN, "last"]
    for name in CHAIN:
        assert "[REDACTED]" in errors[name] or name == "e503long", (name, errors[name])
    assert "Incorrect API key provided: Bearer [REDACTED]" in errors["e401"]
    assert "Insufficient credits for key Bearer [REDACTED]" in runs["ask_verbose_debug"].err
    assert "Invalid value for 'temperature' with Bearer [REDACTED]" in runs["request"].err
    assert "upstream refused key Bearer [REDACTED]" in runs["stream"].err
    assert runs["stream"].out.startswith("partial ")
    assert "[REDACTED]" in runs["probe"].out and "[REDACTED]" in runs["health"].out

    # No file orcli wrote holds a key, the prompt or the answer; the store does hold the outcomes.
    for cli in (chain, model, request, stream):
        assert not cli.scan(), cli.scan()
        for path in cli.tmp.rglob("*"):
            if path.is_file() and not path.name.startswith("profile"):
                assert not leaks(path.read_bytes(), [PROMPT, ANSWER]), path
    rows = store_rows(chain.state_dir)
    assert {r["provider"] for r in rows} >= {*CHAIN, "last"}
    assert any("[REDACTED]" in (r["error"] or "") for r in rows)


def test_a_key_is_hidden_even_where_it_is_not_a_secret_shaped_word(upstream: Upstream, tmp_path: Path) -> None:
    """Keys of any shape (short, plain words) are redacted because orcli knows them, not by pattern; the
    message around them stays readable."""
    cli = Cli(upstream, tmp_path)
    shapes = {"short": "Kc" + secrets.token_hex(5), "word": "correcthorsebattery" + secrets.token_hex(3)}
    cli.profile(list(shapes), keys=shapes)
    for name in shapes:
        upstream.script(name, echo(401, "key {auth} is not valid here"))
    run = cli("ask", "--json", "hi")
    assert run.code == 1, run
    for attempt in run.json()["attempts"]:
        assert attempt["error"] == "HTTP 401: key Bearer [REDACTED] is not valid here", attempt
