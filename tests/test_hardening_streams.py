"""Hardening, streams: fuzzed SSE streams and response bodies through the real Executor (httpx.MockTransport).

What the upstream sends may be anything: garbage lines, oversized lines, invalid UTF-8, JSON that is not an
object, fields missing or of the wrong type, absurd numbers, error objects, any status and headers; and the
same bytes may arrive split anywhere. Whatever it is, a run ends in a Result or in a Failed whose attempts
are all classified (docs/failures.md#failure-classes) and each recorded once (docs/health.md#how-health-feeds-routing); never in another exception. The verdict never
depends on where the stream was split, and no key ever shows up in an attempt's error text.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_harness import Cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from upstream import Behaviour, Exchange, Upstream, status

from orcli.execution.executor import Executor, Failed, Result
from orcli.types import HEALTHY, Endpoint, Outcome, PlannedAttempt, Price, Provider, Timeouts
from orcli.wire.base import ChatRequest, WireError
from orcli.wire.openai import parse_stream_event
from orcli.wire.sse import MAX_EVENT_BYTES, MAX_LINE_BYTES, SSEDecoder
from orcli.wire.text import MESSAGE_CHARS

M1, M2 = "test/m1", "test/m2"
NAMES = ("a", "b", "c")
KEYS = {n: f"sk-fuzz-{n}-{n * 6}SECRET0123456789abcdef" for n in NAMES}
ODD_KEY = "Zq7plainFuzzKeyWithNoShape42"  # provider a's key: only env-based redaction can hide it
PROVIDERS = {n: Provider(n, f"https://{n}.test/v1", api_key_env=f"KEY_{n.upper()}") for n in NAMES}
ENV = {"KEY_A": ODD_KEY, "KEY_B": KEYS["b"], "KEY_C": KEYS["c"]}
SECRETS = (ODD_KEY, KEYS["b"], KEYS["c"])
# Generous: a MockTransport answers at once, so no deadline should ever fire; one that did would show up as a
# split-dependent verdict.
TIMEOUTS = Timeouts(connect=10.0, first_token=10.0, idle=10.0, total=20.0)
PLAN = [
    PlannedAttempt(
        rank, Endpoint(model=m, provider=p, upstream_model=f"up-{p}", price=Price(1.0, 1.0)), 0.0, HEALTHY, "fuzz"
    )
    for rank, (m, p) in enumerate([(M1, "a"), (M1, "b"), (M2, "c")], start=1)
]
REQUEST = ChatRequest(({"role": "user", "content": "hi"},))
CLASSES = {"provider", "model", "request", "stream"}


# --------------------------------------------------------------------------------------------- harness


def _event(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _chunk(delta: Any = None, finish: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion.chunk",
        "model": "served",
        "choices": [{"index": 0, "delta": {} if delta is None else delta, "finish_reason": finish}],
        **extra,
    }


def _good(name: str, stream: bool) -> httpx.Response:
    text = f"fine from {name}"
    if stream:
        body = _event(_chunk({"role": "assistant", "content": ""})) + _event(_chunk({"content": text}))
        body += _event(_chunk(finish="stop")) + b"data: [DONE]\n\n"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter([body]))
    completion = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
    return httpx.Response(
        200, headers={"content-type": "application/json"}, content=iter([json.dumps(completion).encode()])
    )


@dataclass
class Reply:
    """Provider a's answer: a status, headers and a body delivered as the given chunks."""

    status: int
    headers: dict[str, str]
    chunks: list[bytes]

    def respond(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(self.status, headers=self.headers, content=iter(list(self.chunks)))

    def split(self, cuts: list[int]) -> Reply:
        body = b"".join(self.chunks)
        bounds = [0, *sorted(min(c, len(body)) for c in cuts), len(body)]
        return Reply(self.status, self.headers, [body[x:y] for x, y in zip(bounds, bounds[1:], strict=False)])


@dataclass
class Run:
    verdict: tuple
    outcomes: list[Outcome]
    written: list[str]
    reports: list[Any] = field(default_factory=list)


def run(reply: Reply, *, stream: bool, sink: bool) -> Run:
    """The whole plan (m1/a, m1/b, m2/c); a answers with `reply`, b and c answer well."""

    def handle(request: httpx.Request) -> httpx.Response:
        name = request.url.host.removesuffix(".test")
        if name == "a":
            return reply.respond(request)
        return _good(name, json.loads(request.content)["stream"])

    outcomes: list[Outcome] = []
    written: list[str] = []
    with httpx.Client(transport=httpx.MockTransport(handle)) as client:
        executor = Executor(
            client,
            PROVIDERS,
            ENV,
            TIMEOUTS,
            sink=(lambda d: written.append(d.content) if d.content else None) if sink else None,
            on_outcome=outcomes.append,
        )
        try:
            result: Result | Failed = executor.run(PLAN, REQUEST, stream=stream)
        except Failed as failed:
            result = failed
    reports = result.attempts
    summary = tuple((r.provider, r.outcome, r.error_class, r.status, r.kind, r.error) for r in reports)
    if isinstance(result, Failed):
        verdict: tuple = ("failed", result.reason, summary)
    else:
        verdict = ("result", result.attempt.endpoint.provider, result.content, result.finish_reason, summary)
    checked = Run(verdict, outcomes, written, reports)
    _check(checked, result, sink)
    return checked


def _check(run: Run, result: Result | Failed, sink: bool) -> None:
    """docs/failures.md#failure-classes and docs/health.md#the-store for one run, whatever provider a sent."""
    reports = run.reports
    assert reports and reports[0].provider == "a"
    # Every attempt recorded once, in order, with its class (docs/health.md: whichever way it ended).
    assert [(o.provider, o.ok) for o in run.outcomes] == [(r.provider, r.outcome == "success") for r in reports]
    for report, outcome in zip(reports, run.outcomes, strict=True):
        if report.outcome == "success":
            assert report.error_class is None and outcome.error_class is None
            continue
        assert report.outcome == "failed", report
        assert report.error_class in CLASSES and outcome.error_class.value == report.error_class, report
        assert report.kind and report.error and report.error.strip(), report
        assert len(report.error) <= MESSAGE_CHARS and "\n" not in report.error, report
        report.error.encode("utf-8")  # shown on stderr and in --json: no lone surrogates
        assert report.status is None or 100 <= report.status <= 599, report
        for secret in SECRETS:
            assert secret not in report.error and secret[:12] not in report.error, report
            assert secret not in (outcome.error or ""), outcome
    # What a's failure class makes the executor do next (docs/failures.md).
    first = reports[0]
    following = [r.provider for r in reports[1:]]
    if first.outcome == "success":
        assert following == []
    elif first.error_class == "provider":
        assert following == ["b"]
    elif first.error_class == "model" and isinstance(result, Failed) and result.reason == "filtered":
        # content_filter after content was written: a model event that stops, the partial answer kept (docs/failures.md).
        assert following == [] and sink and run.written
    elif first.error_class == "model":
        assert following == ["c"]
    else:  # request and stream stop everything
        assert following == [] and isinstance(result, Failed) and result.reason == first.error_class
    if isinstance(result, Failed):
        assert result.reason in ("request", "stream", "filtered") or all(r.outcome == "failed" for r in reports)
        if result.reason == "stream":
            assert sink and run.written, "a stream-class failure means content reached the output"
    else:
        assert result.content
        # What --json prints must be valid JSON (no NaN/Infinity) and UTF-8 (no lone surrogates).
        doc = {"content": result.content, "usage": result.usage or {}, "cost_usd": result.cost_usd}
        json.dumps(doc, allow_nan=False, ensure_ascii=False).encode("utf-8")
        if sink:
            assert "".join(run.written) == result.content  # nothing from a failed attempt was written
    if first.error_class == "stream":
        assert sink and run.written


# ------------------------------------------------------------------------------------------ strategies

TEXT = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["Hello", " wörld ✓", "", "\ud800", "a\x00b", "\r\n", ODD_KEY, f"Bearer {ODD_KEY}", "[DONE]"]),
)
NUMBER = st.one_of(st.integers(-5, 10**6), st.sampled_from([10**400, -(10**400), 2**63, 1e308, -0.0]), st.floats())
JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBER, TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
ERROR = st.one_of(
    st.fixed_dictionaries(
        {"message": TEXT},
        optional={
            "code": st.one_of(
                NUMBER, TEXT, st.sampled_from([400, 403, 429, 502, "context_length_exceeded", "moderation"])
            ),
            "type": TEXT,
            "metadata": st.fixed_dictionaries({}, optional={"raw": TEXT, "reasons": JSONISH, "provider_name": TEXT}),
        },
    ),
    JSONISH,
)
FINISH = st.one_of(st.none(), st.sampled_from(["stop", "length", "content_filter", "error", "tool_calls", ""]), JSONISH)
USAGE = st.one_of(
    st.fixed_dictionaries({}, optional={"prompt_tokens": NUMBER, "completion_tokens": NUMBER, "total_tokens": NUMBER}),
    JSONISH,
)
OVERSIZED = b"data: " + b"x" * (MAX_LINE_BYTES + 1) + b"\n\n"
DEEP = b"data: " + b"[" * 100_000 + b"]" * 100_000 + b"\n\n"

EVENTS = st.one_of(
    st.just(_event(_chunk({"role": "assistant", "content": ""}))),
    TEXT.map(lambda t: _event(_chunk({"content": t}))),
    TEXT.map(lambda t: _event(_chunk({"content": [{"type": "text", "text": t}, {"type": "image"}, 5]}))),
    FINISH.map(lambda f: _event(_chunk(finish=f))),
    USAGE.map(lambda u: _event({"choices": [], "usage": u})),
    ERROR.map(lambda e: _event({"choices": [], "error": e})),
    st.tuples(ERROR, FINISH).map(lambda ef: _event(_chunk(finish=ef[1], error=ef[0]))),
    st.sampled_from(
        [
            b"data: [DONE]\n\n",
            b": keep-alive\n\n",
            b"event: ping\nid: 7\nretry: 10\n\n",
            b"data: [1, 2]\n\n",
            b"data: 3\n\n",
            b'data: "text"\n\n',
            b"data: null\n\n",
            b"data: {}\n\n",
            b'data: {"choices": "x"}\n\n',
            b'data: {"choices": [5]}\n\n',
            b'data: {"choices": [{}]}\n\n',
            b'data: {"choices": [{"delta": null}]}\n\n',
            b'data: {"choices": [{"delta": {"content": 5}}]}\n\n',
            b'data: {"choices": [{"delta": {"content": "\xff\xfe broken utf-8 \xc3"}}]}\n\n',
            b'data: {"choices": [{"delta": {"content": "a"}, "finish_reason": 7}]}\n\n',
            b"data: {not json\n\n",
            b"data: " + b"\xff" * 10 + b"\n\n",
            b"no colon line\n",
            b"data:\n\n",
            b"\n\n\n",
            b"\r\n",
            b"\r",
            OVERSIZED,
            DEEP,
        ]
    ),
    JSONISH.map(lambda v: _event(v)),
    st.binary(max_size=30),
)
EOL = st.sampled_from([b"\n", b"\r\n", b"\r"])
CONTENT_TYPES = st.sampled_from(
    ["text/event-stream", "text/event-stream", "text/event-stream; charset=utf-8", "application/json", "text/html", ""]
)
STATUSES = st.one_of(
    st.just(200),
    st.sampled_from(
        [
            200,
            201,
            204,
            206,
            301,
            302,
            307,
            400,
            401,
            402,
            403,
            404,
            408,
            409,
            413,
            418,
            422,
            429,
            451,
            500,
            502,
            503,
            504,
            520,
            524,
            599,
        ]
    ),
)
RETRY_AFTER = st.sampled_from(
    ["1", "0", "-5", "1e400", "nan", "inf", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", "9" * 500]
)


@st.composite
def streams(draw: st.DrawFn) -> Reply:
    events = draw(st.lists(EVENTS, max_size=8))
    body = b"".join(events)
    if draw(st.integers(0, 4)) == 0:
        eol = draw(EOL)
        body = body.replace(b"\n", eol)  # the same stream with other line endings
    status = draw(STATUSES)
    headers = {"content-type": draw(CONTENT_TYPES)}
    if draw(st.booleans()):
        headers["retry-after"] = draw(RETRY_AFTER)
    return Reply(status, headers, [body])


COMPLETIONS = st.one_of(
    st.fixed_dictionaries(
        {
            "choices": st.one_of(
                st.lists(
                    st.fixed_dictionaries(
                        {"message": st.fixed_dictionaries({"content": st.one_of(TEXT, JSONISH)})},
                        optional={"finish_reason": FINISH, "error": ERROR},
                    ),
                    max_size=2,
                ),
                JSONISH,
            )
        },
        optional={"usage": USAGE, "model": JSONISH, "error": ERROR},
    ),
    st.fixed_dictionaries({"error": ERROR}),
    st.fixed_dictionaries({"detail": JSONISH}),
    JSONISH,
)
BODY_CORPUS = [
    b"",
    b"<html><title>502 Bad Gateway</title></html>",
    b"   \n\t ",
    b"[" * 50_000 + b"]" * 50_000,
    b'{"choices": [{"message": {"content": "\xff\xfe"}, "finish_reason": "stop"}]}',
    b'{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 1'
    + b"0" * 400
    + b', "completion_tokens": 2}}',
    b'{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1'
    + b"0" * 400
    + b"}}",
    b'{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": NaN, "completion_tokens": Infinity}}',
    f'{{"error": {{"message": "Incorrect API key provided: Bearer {ODD_KEY}"}}}}'.encode(),
    ("x" * 280 + ODD_KEY + " tail").encode(),
    b'{"choices": [{"message": {"content": "x\\ud800"}, "finish_reason": "stop"}], "model": "\\udfff"}',
]
BODIES = st.one_of(
    COMPLETIONS.map(lambda v: json.dumps(v).encode()), st.binary(max_size=60), st.sampled_from(BODY_CORPUS)
)


@st.composite
def bodies(draw: st.DrawFn) -> Reply:
    body = draw(BODIES)
    headers = {"content-type": draw(st.sampled_from(["application/json", "text/html", "text/plain", ""]))}
    if draw(st.booleans()):
        headers["retry-after"] = draw(RETRY_AFTER)
    return Reply(draw(STATUSES), headers, [body])


FUZZ = settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------------------------------------ tests


@FUZZ
@given(reply=streams(), cuts=st.lists(st.integers(0, 2_000), max_size=6), buffered=st.booleans())
def test_any_stream_split_anywhere_ends_in_a_result_or_a_classified_failure(
    reply: Reply, cuts: list[int], buffered: bool
) -> None:
    whole = run(reply, stream=True, sink=not buffered)
    split = run(reply.split(cuts), stream=True, sink=not buffered)
    assert split.verdict == whole.verdict
    assert "".join(split.written) == "".join(whole.written)


@FUZZ
@given(reply=bodies(), cuts=st.lists(st.integers(0, 200), max_size=4))
def test_any_non_streamed_body_ends_in_a_result_or_a_classified_failure(reply: Reply, cuts: list[int]) -> None:
    whole = run(reply, stream=False, sink=True)
    assert run(reply.split(cuts), stream=False, sink=True).verdict == whole.verdict
    assert len(whole.written) <= 1  # a non-streamed answer is written once, whole


# The same stream split at every byte: realistic streams and the edge cases named in the issue.
ROLE = _event(_chunk({"role": "assistant", "content": ""}))
DONE = b"data: [DONE]\n\n"
CORPUS = {
    "answer": ROLE
    + _event(_chunk({"content": "Héllo, wörld ✓"}))
    + _event(_chunk(finish="stop"))
    + _event({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
    + DONE,
    "crlf_and_comments": (
        b": ping\r\n\r\n"
        + ROLE
        + _event(_chunk({"content": "a"}))
        + b": ping\r\n\r\n"
        + _event(_chunk({"content": "b"}, "stop"))
        + DONE
    ).replace(b"\n\n", b"\r\n\r\n"),
    "garbage_line": ROLE + b"data: {not json\n\n" + _event(_chunk({"content": "x"})) + DONE,
    "not_an_object": ROLE + b"data: [1, 2, 3]\n\n" + DONE,
    "missing_fields": ROLE + b'data: {"choices": [{}]}\n\n' + b'data: {"choices": [{"delta": {}}]}\n\n' + DONE,
    "invalid_utf8_content": _event(_chunk({"content": "ok "}))[:-3] + b'"}}]}\n\n' + b'data: {"choices": '
    b'[{"delta": {"content": "\xff\xfe\xc3"}, "finish_reason": "stop"}]}\n\n' + DONE,
    "error_after_content": ROLE
    + _event(_chunk({"content": "partial"}))
    + _event(_chunk(finish="error", error={"message": f"boom Bearer {ODD_KEY}", "code": 502}))
    + DONE,
    "error_before_content": ROLE
    + _event({"choices": [], "error": {"message": "context window exceeded", "code": 400}}),
    "cut_after_content": ROLE + _event(_chunk({"content": "partial"})),
    "huge_usage": _event(_chunk({"content": "x"}, "stop"))
    + b'data: {"choices": [], "usage": {"prompt_tokens": 1'
    + b"0" * 400
    + b', "completion_tokens": NaN}}\n\n'
    + DONE,
    "content_filter": ROLE + _event(_chunk(finish="content_filter")) + DONE,
}


@pytest.mark.parametrize("body", BODY_CORPUS, ids=range(len(BODY_CORPUS)))
def test_a_corpus_of_bad_bodies_ends_in_a_result_or_a_classified_failure(body: bytes) -> None:
    for code in (200, 500):
        for stream in (True, False):
            run(Reply(code, {"content-type": "application/json"}, [body]), stream=stream, sink=True)


def _parsed(chunks: list[bytes]) -> list[object] | str:
    """Decoder and chunk parser alone: the events' parsed chunks (or errors) in order."""
    events = _decode(chunks)
    if isinstance(events, str):
        return events
    out: list[object] = []
    for _, payload in events:
        try:
            out.append(parse_stream_event(payload))
        except WireError as exc:
            out.append(f"wire error: {exc}")
    return out


EXECUTOR_EVERY_BYTE = ("answer", "error_after_content", "invalid_utf8_content")


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_same_stream_split_at_every_byte_gives_the_same_verdict(name: str) -> None:
    """Every split point through the decoder and parser; one byte per read through the executor, both with
    and without output; and for a few streams every split point through the executor as well."""
    body = CORPUS[name]
    whole = _parsed([body])
    for at in range(len(body) + 1):
        assert _parsed([body[:at], body[at:]]) == whole, (name, at)
    reply = Reply(200, {"content-type": "text/event-stream"}, [body])
    bytewise = Reply(200, reply.headers, [body[i : i + 1] for i in range(len(body))])
    for sink in (True, False):
        assert run(bytewise, stream=True, sink=sink).verdict == run(reply, stream=True, sink=sink).verdict, name
    if name in EXECUTOR_EVERY_BYTE:
        expected = run(reply, stream=True, sink=True).verdict
        for at in range(len(body) + 1):
            assert run(reply.split([at]), stream=True, sink=True).verdict == expected, (name, at)


def _decode(chunks: list[bytes]) -> list[tuple[str, str]] | str:
    decoder = SSEDecoder()
    events = []
    try:
        for chunk in chunks:
            events += decoder.feed(chunk)
        events += decoder.close()
    except WireError:
        return "wire error"
    return [(e.event, e.data) for e in events]


@settings(max_examples=200)
@given(events=st.lists(EVENTS.filter(lambda e: len(e) < 10_000), max_size=8), eol=EOL, data=st.data())
def test_the_decoder_gives_the_same_events_for_every_split_and_the_parser_only_raises_wire_errors(
    events: list[bytes], eol: bytes, data: st.DataObject
) -> None:
    """Below the executor: every split point of a fuzzed stream decodes to the same events (or the same
    refusal), and every event's data parses to a chunk or raises WireError, nothing else."""
    body = b"".join(events).replace(b"\n", eol)
    whole = _decode([body])
    for at in data.draw(st.lists(st.integers(0, len(body)), max_size=5)):
        assert _decode([body[:at], body[at:]]) == whole
    if isinstance(whole, list):
        for _, payload in whole:
            try:
                chunk = parse_stream_event(payload)
            except WireError:
                continue
            assert isinstance(chunk.content, str)
            for value in (chunk.usage.as_json() if chunk.usage else {}).values():
                assert not isinstance(value, float) or math.isfinite(value)


def test_an_upstream_echoing_the_key_is_redacted_in_every_error_text() -> None:
    """The key a sent comes back in an error body, a 200 error object, a mid-stream error and a long line
    cut for display: no attempt report or outcome carries it, whole or in part."""
    echoes = [
        Reply(
            401,
            {"content-type": "application/json"},
            [json.dumps({"error": {"message": f"Incorrect API key provided: Bearer {ODD_KEY}"}}).encode()],
        ),
        Reply(500, {"content-type": "text/plain"}, [("y" * 280 + ODD_KEY + " and more").encode()]),
        Reply(
            400,
            {"content-type": "application/json"},
            [json.dumps({"error": {"message": "z" * 290 + ODD_KEY, "code": "invalid_request"}}).encode()],
        ),
        Reply(
            200,
            {"content-type": "text/event-stream"},
            [ROLE + _event({"choices": [], "error": {"message": "w" * 285 + ODD_KEY}})],
        ),
        Reply(
            200,
            {"content-type": "application/json"},
            [json.dumps({"error": {"message": "v" * 295 + ODD_KEY}}).encode()],
        ),
    ]
    for reply in echoes:
        for stream in (True, False):
            done = run(reply, stream=stream, sink=True)
            texts = [r.error or "" for r in done.reports] + [o.error or "" for o in done.outcomes]
            for text in texts:
                for i in range(len(ODD_KEY) - 8):
                    assert ODD_KEY[i : i + 8] not in text, (reply.status, text)


def test_an_oversized_unfinished_last_event_is_a_classified_failure() -> None:
    """The last event, cut off by the end of the stream, pushes the event over MAX_EVENT_BYTES: the decoder's
    close() must not raise out of the executor (it did: StreamProtocolError from Executor.run)."""
    body = ROLE + _event(_chunk({"content": "partial"})) + b"data: " + b"x" * (MAX_EVENT_BYTES - 100) + b"\n"
    body += b"data: " + b"y" * 200  # no line end: only close() sees it
    for sink in (True, False):
        done = run(Reply(200, {"content-type": "text/event-stream"}, [body]), stream=True, sink=sink)
        assert done.reports[0].error_class == ("stream" if sink else "provider"), done.verdict


def test_a_protocol_error_never_costs_the_events_before_it_whatever_the_split() -> None:
    """An oversized line after a complete answer (or after content) in the same read: the events before it
    count exactly as they would had they arrived in an earlier read."""
    answer = ROLE + _event(_chunk({"content": "ok"}, "stop")) + DONE
    partial = ROLE + _event(_chunk({"content": "partial"}))
    for head, expected in ((answer, ("result", "a")), (partial, ("failed", "stream"))):
        body = head + OVERSIZED
        reply = Reply(200, {"content-type": "text/event-stream"}, [body])
        verdicts = {at: run(reply.split([at]), stream=True, sink=True).verdict for at in (0, 5, len(head), len(body))}
        assert {v[:2] for v in verdicts.values()} == {expected}, verdicts
        assert len(set(verdicts.values())) == 1, verdicts


# ------------------------------------------------------------------------------- through the real CLI


@dataclass
class RawStream(Behaviour):
    """An SSE stream of verbatim `data:` payloads (a JSON answer of `body` without streaming)."""

    payloads: list[str]
    body: bytes = b""

    def serve(self, ex: Exchange) -> None:
        if not ex.stream:
            ex.send_bytes(200, self.body, "application/json")
            return
        ex.start_stream()
        for payload in self.payloads:
            ex.event(payload)
        ex.done()


def test_text_json_can_carry_but_utf8_cannot_reaches_stdout_and_json_safely(tmp_path: Path) -> None:
    """`"\\ud800"` is valid JSON but no valid UTF-8: in an answer, a model name or an error message it must
    not crash the write to stdout or the --json document."""
    lone = '"x\\ud800y"'
    payloads = [f'{{"model": "m\\udfff", "choices": [{{"delta": {{"content": {lone}}}, "finish_reason": "stop"}}]}}']
    body = f'{{"choices": [{{"message": {{"content": {lone}}}, "finish_reason": "stop"}}]}}'.encode()
    with Upstream() as up:
        cli = Cli(up, tmp_path)
        cli.profile(["bad", "a"])
        up.script("bad", status(500, b'{"error": {"message": "broken \\udc80 message"}}'))
        up.script("a", RawStream(payloads, body))
        # --json first: after three 500s the breaker would put `bad` last.
        runs = {
            args: cli(*args) for args in [("ask", "--json", "-v", "hi"), ("ask", "hi"), ("ask", "--no-stream", "hi")]
        }
    for done in runs.values():
        assert done.code == 0, done
        assert "x\ufffdy" in done.out, done
    doc = runs[("ask", "--json", "-v", "hi")].json()
    assert doc["content"] == "x\ufffdy"
    assert "broken \ufffd message" in doc["attempts"][0]["error"], doc


@dataclass
class AlwaysStreams(Behaviour):
    """A server that streams whatever the request asked (docs/dialects.md), under a given content type; `cut` ends the
    body after the content without a finish reason or [DONE]."""

    text: str = "streamed anyway"
    content_type: str = "text/event-stream"
    cut: bool = False

    def serve(self, ex: Exchange) -> None:
        ex.send_response(200)
        ex.send_header("Content-Type", self.content_type)
        ex.send_header("Transfer-Encoding", "chunked")
        ex.send_header("Connection", "close")
        ex.end_headers()
        ex.close_connection = True
        ex.role_chunk()
        words = self.text.split(" ")
        ex.content_chunks([w + " " for w in words[:-1]] + words[-1:])
        if self.cut:
            ex.wfile.write(b"0\r\n\r\n")
            return
        ex.finish_chunks("stop", {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})


@pytest.mark.parametrize(
    "content_type",
    ["text/event-stream", "Text/Event-Stream; charset=utf-8", "application/json", "text/plain"],
)
def test_an_sse_reply_to_a_no_stream_request_is_accepted(upstream: Upstream, tmp_path: Path, content_type: str) -> None:
    """Some servers always stream: an SSE body answers --no-stream (and --json) like a JSON one, also when it is
    labelled as something else; the request still asked for no stream."""
    cli = Cli(upstream, tmp_path)
    cli.profile(["always", "spare"])
    upstream.script("always", AlwaysStreams(content_type=content_type))
    plain = cli("ask", "--no-stream", "hi")
    as_json = cli("ask", "--no-stream", "--json", "hi")
    assert plain.code == 0 and plain.out == "streamed anyway", plain
    doc = as_json.json()
    assert as_json.code == 0 and doc["content"] == "streamed anyway" and doc["provider"] == "always", as_json
    assert doc["usage"]["total_tokens"] == 5 and doc["finish_reason"] == "stop"
    assert [r.stream for r in upstream.requests("always")] == [False, False]
    assert upstream.count("spare") == 0


def test_a_broken_sse_reply_to_a_no_stream_request_fails_over_with_nothing_shown(
    upstream: Upstream, tmp_path: Path
) -> None:
    """--no-stream shows only whole answers: a streamed reply cut before its end is a provider failure (nothing of
    it reaches stdout) and the next provider answers."""
    cli = Cli(upstream, tmp_path)
    cli.profile(["cut", "spare"])
    upstream.script("cut", AlwaysStreams(text="half of it", cut=True))
    upstream.script("spare", AlwaysStreams(text="the whole answer"))
    run = cli("ask", "--no-stream", "--json", "hi")
    doc = run.json()
    assert run.code == 0 and doc["content"] == "the whole answer", run
    assert [(a["provider"], a["error_class"]) for a in doc["attempts"]] == [("cut", "provider"), ("spare", None)]
    plain = cli("ask", "--no-stream", "hi", env={"ORCLI_STATE_DIR": str(tmp_path / "other-state")})
    assert plain.code == 0 and plain.out == "the whole answer", plain
