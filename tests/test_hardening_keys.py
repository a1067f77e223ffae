"""Hardening, keys: canary keys through every command and every failure path of docs/failures.md#failure-classes.

Every provider's key is a fresh random canary; every upstream failure echoes the Authorization header it got
back in its error (as JSON, in an HTML title, in a 200 error object, mid-stream, and in a line long enough to
be cut for display). No slice of any canary may appear on stdout or stderr of any run, nor in any file under
the test's tmp dir (state dir, HOME, XDG dirs, TMPDIR); the echoed errors are shown, redacted. The prompt
and the answer are canaries too: the health store keeps neither (docs/health.md#the-store).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import fake_bedrock
import pytest
from cli_harness import MODEL, MODEL_B, Cli, Run, leaks, run_all, store_rows
from cloud_harness import REGION, Clouds
from fake_clouds import CloudUpstream
from fake_dialects import DialectBehaviour, DialectExchange, anthropic_error, google_error
from upstream import Behaviour, Exchange, RecordedRequest, Upstream, key_env, ok, status

from orcli.routing.policy import usable_key


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
    model.profile(
        ["mctx", "mmod", "mok"],
        models=[m for m, _ in pairs],
        endpoints=[{"model": m, "provider": p, "price": {"prompt": 1.0, "completion": 1.0}} for m, p in pairs],
    )
    upstream.script(
        "mctx", echo(400, "This model's maximum context length is 8192 tokens ({auth})", code="context_length_exceeded")
    )
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
    _expect(
        runs,
        {
            "ask_json": 0,
            "ask_verbose_debug": 0,
            "ask_no_stream": 0,
            "ask_quiet": 0,
            "ask_all_failed": 1,
            "ask_all_failed_json": 1,
            "ask_no_route": 3,
            "ask_usage": 2,
            "model_json": 0,
            "model_verbose": 0,
            "request": 1,
            "request_json": 1,
            "stream": 1,
            "stream_json": 0,
        },
    )
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
    _expect(
        runs,
        {
            "health": 0,
            "health_json": 0,
            "probe": 1,
            "probe_json": 1,
            "providers": 0,
            "providers_json": 0,
            "explain": 0,
            "explain_json": 0,
            "model_health": 0,
            "request_health": 0,
        },
    )

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


def test_a_key_no_http_header_can_carry_is_no_credentials_and_never_shown(upstream: Upstream, tmp_path: Path) -> None:
    """docs/security.md: a key with a line break inside, a control character or non-ASCII characters (curly quotes pasted
    from a web page) makes its provider `no_credentials`, with a detail naming the variable; the next provider
    serves. No slice of such a key (its tail after the line break included) reaches stdout, stderr, --json or
    the health store, and its provider is sent nothing."""
    cli = Cli(upstream, tmp_path)
    bad = {
        "newline": f"Zq{secrets.token_hex(12)}\nTail{secrets.token_hex(12)}",
        "escape": f"Zq{secrets.token_hex(12)}\x1b[2J{secrets.token_hex(12)}",
        "quotes": f"\u201cZq{secrets.token_hex(16)}\u201d",
        "latin": f"Zq{secrets.token_hex(8)}\u00e9{secrets.token_hex(8)}",
    }
    good = f"Zq{secrets.token_hex(16)}Good"
    cli.profile([*bad, "good"], keys={**bad, "good": good})
    for value in bad.values():  # each part on its own is a secret too (a slice check of the whole covers it)
        cli.secrets.update(part for part in value.replace("\x1b", "\n").split("\n") if len(part) >= 10)
    upstream.script("good", ok(ANSWER))
    runs = run_all(
        {
            "ask": partial(cli, "ask", "-v", PROMPT),
            "ask_json": partial(cli, "ask", "--json", "--debug", PROMPT),
            "explain_json": partial(cli, "explain-route", "--json", PROMPT),
            "probe_json": partial(cli, "health", "--probe", "--json", "--provider", "newline"),
            "providers_json": partial(cli, "providers", "--json"),
        }
    )
    _expect(runs, {"ask": 0, "ask_json": 0, "explain_json": 0, "probe_json": 1, "providers_json": 0})
    assert runs["ask"].out == ANSWER
    doc = runs["ask_json"].json()
    assert doc["content"] == ANSWER and [a["provider"] for a in doc["attempts"]] == ["good"]
    rejected = {r["provider"]: r for r in doc["rejected"]}
    for name in bad:
        assert rejected[name]["code"] == "no_credentials", rejected[name]
        assert rejected[name]["detail"].startswith(f"${key_env(name)} cannot be sent in an HTTP header"), rejected
    explained = {r["provider"]: r["code"] for r in runs["explain_json"].json()["rejected"]}
    assert all(explained[name] == "no_credentials" for name in bad), explained
    probe = runs["probe_json"].json()
    assert "cannot be sent in an HTTP header" in json.dumps(probe), probe
    keys_set = {p["name"]: p["key_set"] for p in runs["providers_json"].json()["providers"]}
    assert keys_set == {**dict.fromkeys(bad, False), "good": True}
    assert [upstream.count(name) for name in bad] == [0] * len(bad)
    assert not cli.scan(), cli.scan()
    recorded = {r["provider"] for run in runs.values() if run.state_dir for r in store_rows(run.state_dir)}
    assert recorded == {"good"}  # over every run's own store


@pytest.mark.parametrize(
    ("value", "usable"),
    [
        ("sk-or-v1-abc", True),
        ("  sk-abc\r\n", True),  # surrounding whitespace is trimmed, as `KEY=$(cat file)` leaves it
        ("key with inner space", True),
        ("", False),
        ("   ", False),
        ("sk-abc\ndef", False),
        ("sk-abc\rdef", False),
        ("sk\tabc", False),
        ("sk\x00abc", False),
        ("sk\x1b[2Jabc", False),
        ("sk\x7fabc", False),
        ("sk\x85abc", False),  # C1
        ("\u201csk-abc\u201d", False),
        ("sk-\u00e9", False),
    ],
)
def test_usable_key(value: str, usable: bool) -> None:
    assert usable_key(value) is usable


def test_the_executor_never_hands_an_unsendable_key_to_the_http_client() -> None:
    """Defence in depth under the planner's no_credentials: a plan that still holds such a provider fails that
    attempt as a provider failure naming the variable (the HTTP client's own error would quote the header), and
    the next provider serves; nothing is sent to the first."""
    import httpx

    from orcli.execution.executor import Executor
    from orcli.types import HEALTHY, Endpoint, PlannedAttempt, Price, Provider, Timeouts
    from orcli.wire.base import ChatRequest

    bad_key = f"Zq{secrets.token_hex(12)}\nTail{secrets.token_hex(12)}"
    hosts: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        body = b'{"choices": [{"message": {"role": "assistant", "content": "served"}, "finish_reason": "stop"}]}'
        headers = {"content-type": "application/json"}
        return httpx.Response(200, headers=headers, content=iter([body]))  # a network-like stream

    names = ("bad", "good")
    providers = {n: Provider(n, f"https://{n}.test/v1", api_key_env=f"KEY_{n.upper()}") for n in names}
    env = {"KEY_BAD": bad_key, "KEY_GOOD": "good-key"}
    attempts = [
        PlannedAttempt(i, Endpoint(model="m", provider=n, upstream_model="m", price=Price(1.0, 1.0)), 0.0, HEALTHY, "")
        for i, n in enumerate(names, start=1)
    ]
    with httpx.Client(transport=httpx.MockTransport(handle)) as client:
        executor = Executor(client, providers, env, Timeouts(2, 2, 2, 5))
        result = executor.run(attempts, ChatRequest(({"role": "user", "content": "hi"},)), stream=False)
    assert hosts == ["good.test"]
    first = result.attempts[0]
    assert (first.provider, first.error_class, first.error) == (
        "bad",
        "provider",
        "$KEY_BAD cannot be sent in an HTTP header",
    )
    assert not leaks(repr(result), [bad_key, *bad_key.split("\n")])


# --- cloud credentials (docs/dialects.md "Cloud dialects") -------------------------------------------


@dataclass
class EchoCloudCredentials(DialectBehaviour):
    """Each cloud's refusal quoting the credentials it received, as AWS's signature errors quote the canonical
    request (session token included): Bedrock over HTTP and, when streamed, in an exception frame after some
    text; Vertex with the bearer access token in Google's and Anthropic's envelopes."""

    def bedrock(self, ex: DialectExchange) -> None:
        h = ex.req.headers
        quoted = f"x-amz-security-token:{h.get('x-amz-security-token')}\n{h.get('authorization')}"
        message = f"The request signature we calculated does not match.\n'{quoted}'"
        if not ex.stream:
            ex.send_json(*fake_bedrock.error(403, "InvalidSignatureException", message))
            return
        fake_bedrock.start_eventstream(ex)
        fake_bedrock.send_event(ex, "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "so far "}})
        fake_bedrock.send_frame(ex, fake_bedrock.exception_frame("validationException", message))
        ex.end_stream()

    def gemini(self, ex: DialectExchange) -> None:
        token = ex.req.headers.get("authorization") or ex.req.headers.get("x-goog-api-key")
        ex.send_json(401, google_error(401, "UNAUTHENTICATED", f"Request had invalid credentials: {token}"))

    def anthropic(self, ex: DialectExchange) -> None:
        token = ex.req.headers.get("authorization", "")
        ex.send_json(401, anthropic_error("authentication_error", f"invalid bearer token {token}"))


def test_no_cloud_secret_leaves_through_any_command_or_failure_path(tmp_path: Path) -> None:
    """Secret access keys, session tokens, Bedrock API keys, private keys and access tokens: echoed back by
    every cloud's errors, shown nowhere (stdout, stderr, --json, the health store, any file orcli wrote)."""
    with CloudUpstream(region=REGION) as fake:
        clouds = Clouds(fake, Cli(fake, tmp_path), tmp_path)
        apis = {"br": "bedrock", "brk": "bedrock", "vc": "vertex-anthropic", "vg": "vertex", "vk": "vertex"}
        clouds.profile(apis, keys=["brk", "vk"])
        fake.aws.api_keys.add(clouds.cli.key("brk"))
        fake.google.api_keys.add(clouds.cli.key("vk"))
        for name in apis:
            fake.script(name, EchoCloudCredentials())
        runs = [
            clouds.cli("ask", "hi"),
            clouds.cli("ask", "--json", "--no-stream", "hi"),
            clouds.cli("health", "--probe", "--json"),
            clouds.cli("health", "--json"),
            clouds.cli("explain-route", "--json"),
        ]
        assert [r.code for r in runs[:3]] == [1, 1, 1], runs
        echoed = [r for r in fake.requests() if r.headers.get("authorization") or r.headers.get("x-goog-api-key")]
        assert {r.provider for r in echoed} == set(apis)  # every cloud saw (and echoed) its credentials
        clouds.assert_nothing_leaked(*runs)
        errors = [a["error"] for a in runs[1].json()["attempts"]]
        assert all("[REDACTED]" in e for e in errors), errors
        assert any("[REDACTED]" in (r["error"] or "") for r in store_rows(clouds.cli.state_dir))
