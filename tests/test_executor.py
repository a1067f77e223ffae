"""Executor unit tests over httpx.MockTransport (no sockets): docs/failures.md#failure-classes failure table, failover, fallback.

Plans are built by hand; each fake provider is a host `<name>.test` whose answers are scripted per test.
Time-dependent checks use an injected fake clock that the fake upstream advances, so they run in
milliseconds and their numbers are exact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest

from orcli.execution.classify import Kind
from orcli.execution.exchange import Exchange
from orcli.execution.executor import AttemptOutcome, AttemptReport, Executor, Failed, Result, cost_of
from orcli.types import HEALTHY, Endpoint, FailureClass, Outcome, PlannedAttempt, Price, Provider, Timeouts
from orcli.wire.base import ChatRequest, Delta, ToolCall, Usage

P, M, R, S = FailureClass.PROVIDER, FailureClass.MODEL, FailureClass.REQUEST, FailureClass.STREAM
M1, M2 = "test/m1", "test/m2"
NAMES = ("a", "b", "c", "d", "e")
KEYS = {name: f"sk-unit-{name}-SECRET-0123456789" for name in NAMES}
ODD_KEY = "Zq7plainKeyWithNoKnownShape"  # only the env-based redaction can catch this one
FAST = Timeouts(connect=1.0, first_token=2.0, idle=2.0, total=10.0)

Responder = Callable[[httpx.Request], httpx.Response]


# --------------------------------------------------------------------------------------------- helpers


DEFAULT_PRICE = Price(1.0, 2.0)


def endpoint(model: str, provider: str, price: Price = DEFAULT_PRICE) -> Endpoint:
    return Endpoint(model=model, provider=provider, upstream_model=f"up-{provider}-{model}", price=price)


def plan(*pairs: tuple[str, str]) -> list[PlannedAttempt]:
    return [PlannedAttempt(i, endpoint(m, p), 0.0, HEALTHY, "test") for i, (m, p) in enumerate(pairs, start=1)]


def providers() -> dict[str, Provider]:
    return {
        n: Provider(n, f"https://{n}.test/v1", api_key_env=f"KEY_{n.upper()}", headers={"X-Extra": "1"}) for n in NAMES
    }


def env(odd_key_for: str | None = None) -> dict[str, str]:
    out = {f"KEY_{n.upper()}": KEYS[n] for n in NAMES}
    if odd_key_for:
        out[f"KEY_{odd_key_for.upper()}"] = ODD_KEY
    return out


def chunk(content: str | None = None, finish: str | None = None, role: bool = False, **extra: Any) -> bytes:
    delta: dict[str, Any] = {}
    if role:
        delta = {"role": "assistant", "content": ""}
    if content is not None:
        delta["content"] = content
    obj = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "served-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(obj)}\n\n".encode()


USAGE = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
DONE = b"data: [DONE]\n\n"


def usage_chunk(usage: dict = USAGE) -> bytes:
    return f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode()


def sse(*parts: bytes | Callable[[], Any]) -> Responder:
    """A 200 SSE answer; callables in `parts` run (in the pump thread) when reached, bytes are sent."""

    def respond(request: httpx.Request) -> httpx.Response:
        def body() -> Iterator[bytes]:
            for part in parts:
                if callable(part):
                    part()
                else:
                    yield part

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    return respond


def ok_stream(text: str = "Hello there") -> Responder:
    words = text.split(" ")
    pieces = [w + " " for w in words[:-1]] + [words[-1]]
    return sse(chunk(role=True), *[chunk(p) for p in pieces], chunk(finish="stop"), usage_chunk(), DONE)


def completion(content: str | None = "Hello there", finish: str = "stop", **extra: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "model": "served-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": USAGE,
        **extra,
    }


def ok_any(text: str = "Hello there") -> Responder:
    """Streams when asked to, answers JSON otherwise."""

    def respond(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("stream"):
            return ok_stream(text)(request)
        return httpx.Response(200, json=completion(text))

    return respond


def status(code: int, error: Any = None, headers: dict[str, str] | None = None) -> Responder:
    if error is None:
        error = {"message": f"upstream said {code}", "code": code}
    if isinstance(error, str):
        error = {"message": error, "type": "invalid_request_error", "code": None}
    return lambda request: httpx.Response(code, json={"error": error}, headers=headers or {})


def raw(code: int, body: bytes, content_type: str = "application/json") -> Responder:
    return lambda request: httpx.Response(code, content=body, headers={"content-type": content_type})


def raises(exc: Exception) -> Responder:
    def respond(request: httpx.Request) -> httpx.Response:
        raise exc

    return respond


def sse_then_raise(*parts: bytes, exc: Exception | None = None) -> Responder:
    def fail() -> None:
        raise exc or httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    return sse(*parts, fail)


class FakeClock:
    """Monotonic fake time; the fake upstream advances it to simulate slow providers."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def trickle(clock: FakeClock, part: bytes, step: float, count: int = 10_000, pause: float = 0.002) -> Responder:
    """A stream that opens, then sends `part` `count` times, each `step` (fake) seconds after the last (and
    `pause` real seconds, so that the reader's thread gets its turn)."""

    def respond(request: httpx.Request) -> httpx.Response:
        def body() -> Iterator[bytes]:
            yield chunk(role=True)
            for _ in range(count):
                clock.advance(step)
                yield part
                if pause:
                    time.sleep(pause)

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    return respond


class Harness:
    """An Executor over a MockTransport whose providers answer from per-provider scripts."""

    def __init__(
        self,
        scripts: dict[str, list[Responder] | Responder],
        *,
        timeouts: Timeouts = FAST,
        sink: bool = True,
        clock: Callable[[], float] | None = None,
        wall: Callable[[], float] | None = None,
        overall_timeout: float | None = None,
        odd_key_for: str | None = None,
    ) -> None:
        self.scripts = {k: list(v) if isinstance(v, list) else [v] for k, v in scripts.items()}
        self.calls: list[httpx.Request] = []
        self.outcomes: list[Outcome] = []
        self.events: list[tuple[str, str, str]] = []
        self.written: list[str] = []
        self.lock = threading.Lock()
        self.client = httpx.Client(transport=httpx.MockTransport(self.handle))
        kwargs: dict[str, Any] = {}
        if clock is not None:
            kwargs["clock"] = clock
        if wall is not None:
            kwargs["wall"] = wall
        self.executor = Executor(
            self.client,
            providers(),
            env(odd_key_for),
            timeouts,
            sink=self.write if sink else None,
            on_event=lambda e: self.events.append((e.kind, e.attempt.endpoint.provider, e.detail)),
            on_outcome=self.outcomes.append,
            overall_timeout=overall_timeout,
            **kwargs,
        )

    def write(self, delta: Delta) -> None:
        if delta.content:
            self.written.append(delta.content)

    def handle(self, request: httpx.Request) -> httpx.Response:
        name = request.url.host.removesuffix(".test")
        with self.lock:
            self.calls.append(request)
            script = self.scripts.get(name) or [ok_any()]
            responder = script.pop(0) if len(script) > 1 else script[0]
        response = responder(request)
        if response.is_stream_consumed:  # built from bytes: make it a network-like stream again
            response = httpx.Response(response.status_code, headers=response.headers, content=iter([response.content]))
        return response

    @property
    def order(self) -> list[str]:
        return [r.url.host.removesuffix(".test") for r in self.calls]

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.calls]

    def run(self, attempts: list[PlannedAttempt], *, stream: bool = True, options: dict | None = None) -> Result:
        request = ChatRequest(({"role": "user", "content": "hi"},), options=options or {})
        return self.executor.run(attempts, request, stream=stream)

    def fail(self, attempts: list[PlannedAttempt], **kw: Any) -> Failed:
        with pytest.raises(Failed) as info:
            self.run(attempts, **kw)
        return info.value


@pytest.fixture
def released() -> Iterator[threading.Event]:
    """Set at teardown: lets stalled fake streams end so their pump threads finish."""
    event = threading.Event()
    yield event
    event.set()


# ------------------------------------------------------------------------------ docs/failures.md#failure-classes, row by row

CTX_MSG = "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens."
MOD_403 = {
    "code": 403,
    "message": "m requires moderation. Your input was flagged for violence.",
    "metadata": {"reasons": ["violence"], "flagged_input": "...", "provider_name": "x"},
}

# (id, responder, class, status, kind, modes): modes are the stream flags the row is exercised with.
# fmt: off
ROWS: list[tuple[str, Responder, FailureClass, int | None, str, tuple[bool, ...]]] = [
    # connect error, DNS, TLS, timeout before content -> provider
    ("connect_refused", raises(httpx.ConnectError("[Errno 111] Connection refused")), P, None, Kind.CONNECT, (True, False)),  # noqa: E501
    ("dns", raises(httpx.ConnectError("[Errno -2] Name or service not known")), P, None, Kind.CONNECT, (True, False)),
    ("tls", raises(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")), P, None, Kind.TLS, (True, False)),  # noqa: E501
    ("connect_timeout", raises(httpx.ConnectTimeout("timed out")), P, None, Kind.TIMEOUT_CONNECT, (True, False)),
    ("read_timeout_before_headers", raises(httpx.ReadTimeout("timed out")), P, None, Kind.TIMEOUT_FIRST_TOKEN, (True, False)),  # noqa: E501
    ("closed_before_response", raises(httpx.RemoteProtocolError("Server disconnected without sending a response.")), P, None, Kind.STREAM_BROKEN, (True, False)),  # noqa: E501
    # quota or billing refusal, whatever its status -> provider
    ("402", status(402, {"message": "Insufficient credits. Add more credits to continue.", "code": 402}), P, 402, Kind.QUOTA, (True, False)),  # noqa: E501
    ("400_insufficient_quota", status(400, {"message": "Your credit balance is too low to access the API.", "type": "invalid_request_error", "code": "insufficient_quota"}), P, 400, Kind.QUOTA, (True,)),  # noqa: E501
    ("403_billing", status(403, "Billing is not active for this account."), P, 403, Kind.QUOTA, (True,)),
    ("429_quota", status(429, {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "code": "insufficient_quota"}), P, 429, Kind.QUOTA, (True,)),  # noqa: E501
    # 408, 429, 5xx, 52x -> provider
    ("408", status(408, "Request timed out"), P, 408, Kind.UPSTREAM_TIMEOUT, (True,)),
    ("429", status(429, {"message": "Rate limit reached for requests", "code": "rate_limit_exceeded"}), P, 429, Kind.HTTP_429, (True, False)),  # noqa: E501
    ("500", status(500), P, 500, Kind.SERVER_ERROR, (True, False)),
    ("502_html", raw(502, b"<html><title>502 Bad Gateway</title></html>", "text/html"), P, 502, Kind.SERVER_ERROR, (True,)),  # noqa: E501
    ("503", status(503), P, 503, Kind.SERVER_ERROR, (True,)),
    ("504", status(504), P, 504, Kind.SERVER_ERROR, (True,)),
    ("520", status(520), P, 520, Kind.SERVER_ERROR, (True,)),
    ("524", status(524), P, 524, Kind.SERVER_ERROR, (True,)),
    # 401, 403 (not moderation), 402, 404 -> provider
    ("401", status(401, {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": "invalid_api_key"}), P, 401, Kind.AUTH, (True, False)),  # noqa: E501
    ("403_forbidden", status(403, "Forbidden"), P, 403, Kind.AUTH, (True,)),
    ("404", status(404, {"message": "The model `x` does not exist", "code": "model_not_found"}), P, 404, Kind.NOT_FOUND, (True, False)),  # noqa: E501
    # 200 with a body that is not a valid completion -> provider
    ("200_bad_json", raw(200, b"<html>this is not json</html>"), P, None, Kind.MALFORMED, (True, False)),
    ("200_no_choices", lambda r: httpx.Response(200, json={"choices": []}), P, None, Kind.MALFORMED, (True, False)),
    ("200_json_array", raw(200, b"[1, 2]"), P, None, Kind.MALFORMED, (False,)),
    ("200_no_content", lambda r: httpx.Response(200, json=completion(None)), P, None, Kind.MALFORMED, (False,)),
    ("sse_not_json", sse(b"data: not-json\n\n", DONE), P, None, Kind.MALFORMED, (True,)),
    ("sse_no_choices", sse(b'data: {"choices": []}\n\n', DONE), P, None, Kind.MALFORMED, (True,)),
    # stream ends or breaks before any content -> provider
    ("sse_eof_after_role", sse(chunk(role=True)), P, None, Kind.STREAM_BROKEN, (True,)),
    ("sse_eof_immediately", sse(), P, None, Kind.STREAM_BROKEN, (True,)),
    ("sse_broken_after_role", sse_then_raise(chunk(role=True)), P, None, Kind.STREAM_BROKEN, (True,)),
    ("sse_read_error", sse_then_raise(chunk(role=True), exc=httpx.ReadError("connection reset by peer")), P, None, Kind.STREAM_BROKEN, (True,)),  # noqa: E501
    ("sse_done_without_content", sse(chunk(role=True), chunk(finish="stop"), DONE), P, None, Kind.MALFORMED, (True,)),
    ("sse_finish_error_before_content", sse(chunk(role=True), chunk(finish="error"), DONE), P, None, Kind.FINISH_ERROR, (True,)),  # noqa: E501
    ("sse_error_chunk_before_content", sse(chunk(role=True), b'data: {"error": {"message": "Provider returned error", "code": 502}, "choices": []}\n\n', DONE), P, 502, Kind.SERVER_ERROR, (True,)),  # noqa: E501
    ("body_cut_non_stream", sse_then_raise(b'{"choices": [{"message": {"content": "par'), P, None, Kind.STREAM_BROKEN, (False,)),  # noqa: E501
    # context length exceeded (400/413) -> model
    ("400_context", status(400, {"message": CTX_MSG, "type": "invalid_request_error", "code": "context_length_exceeded"}), M, 400, Kind.CONTEXT_LENGTH, (True, False)),  # noqa: E501
    ("413_context", status(413, "Prompt is too long for this model's context window"), M, 413, Kind.CONTEXT_LENGTH, (True,)),  # noqa: E501
    # moderation / content policy refusal -> model
    ("403_moderation", status(403, MOD_403), M, 403, Kind.MODERATION, (True, False)),
    ("400_content_policy", status(400, {"message": "Your request was rejected by the safety system.", "code": "content_policy_violation"}), M, 400, Kind.MODERATION, (True,)),  # noqa: E501
    ("finish_content_filter", ok_any(), M, None, Kind.MODERATION, ()),  # replaced below per mode
    # any other 400 / 422 -> request
    ("400_other", status(400, "Invalid value for 'temperature': must be between 0 and 2."), R, 400, Kind.BAD_REQUEST, (True, False)),  # noqa: E501
    ("422", status(422, {"message": "messages: field required", "code": 422}), R, 422, Kind.BAD_REQUEST, (True,)),
]
# fmt: on


def _content_filter(request: httpx.Request) -> httpx.Response:
    if json.loads(request.content).get("stream"):
        return sse(chunk(role=True), chunk(finish="content_filter"), usage_chunk(), DONE)(request)
    return httpx.Response(200, json=completion(None, "content_filter"))


ROWS = [
    (row[0], _content_filter, row[2], row[3], row[4], (True, False)) if row[0] == "finish_content_filter" else row
    for row in ROWS
]
CASES = [
    pytest.param(responder, cls, code, kind, mode, id=f"{name}-{'stream' if mode else 'json'}")
    for name, responder, cls, code, kind, modes in ROWS
    for mode in modes
]


@pytest.mark.parametrize(("responder", "cls", "code", "kind", "stream"), CASES)
def test_failure_table_row(responder: Responder, cls: FailureClass, code: int | None, kind: str, stream: bool) -> None:
    """Plan m1/a, m1/b, m2/c: provider -> b serves; model -> b skipped, c serves; request -> stop after a."""
    h = Harness({"a": responder}, sink=True)
    attempts = plan((M1, "a"), (M1, "b"), (M2, "c"))
    if cls is R:
        failed = h.fail(attempts, stream=stream)
        assert failed.reason == "request"
        assert h.order == ["a"]
        reports = failed.attempts
        assert failed.message and failed.message == reports[0].error
    else:
        result = h.run(attempts, stream=stream)
        expected_order = ["a", "b"] if cls is P else ["a", "c"]
        assert h.order == expected_order
        assert result.attempt.endpoint.provider == expected_order[-1]
        assert result.content == "Hello there"
        assert "".join(h.written) == "Hello there"  # nothing of the failed attempt reached the sink
        reports = result.attempts
        assert [r.outcome for r in reports] == ["failed", "success"]
        if cls is M:
            assert ("skip_model", "a", str(kind)) in h.events
    first = reports[0]
    assert (first.provider, first.error_class, first.status, first.kind) == ("a", cls.value, code, str(kind))
    assert first.error and len(first.error) <= 300
    assert all(body["stream"] is stream for body in h.bodies())
    assert len(h.outcomes) == len(reports)
    assert (h.outcomes[0].ok, h.outcomes[0].error_class, h.outcomes[0].status) == (False, cls, code)


# ------------------------------------------------------------------- output already written: `stream`

STREAM_BREAKS = {
    "cut_after_content": sse_then_raise(chunk(role=True), chunk("partial ")),
    "eof_after_content": sse(chunk(role=True), chunk("partial ")),
    "error_chunk_after_content": sse(
        chunk(role=True),
        chunk("partial "),
        b'data: {"error": {"message": "Provider returned error", "code": 502}, '
        b'"choices": [{"index": 0, "delta": {}, "finish_reason": "error"}]}\n\n',
        DONE,
    ),
    "finish_error_after_content": sse(chunk(role=True), chunk("partial "), chunk(finish="error"), DONE),
    "content_filter_after_content": sse(chunk(role=True), chunk("partial "), chunk(finish="content_filter"), DONE),
}


@pytest.mark.parametrize("name", sorted(set(STREAM_BREAKS) - {"content_filter_after_content"}))
def test_break_after_content_written_is_stream_class_and_stops(name: str) -> None:
    h = Harness({"a": STREAM_BREAKS[name]}, sink=True)
    failed = h.fail(plan((M1, "a"), (M1, "b"), (M2, "c")))
    assert failed.reason == "stream"
    assert h.order == ["a"]
    assert h.written == ["partial "]
    assert [(r.error_class, r.outcome) for r in failed.attempts] == [("stream", "failed")]
    assert failed.attempts[0].ttft_s is not None
    assert [(o.ok, o.error_class) for o in h.outcomes] == [(False, S)]


def test_content_filter_after_content_written_is_a_model_event_that_stops() -> None:
    """docs/failures.md#failure-classes: the partial answer stays, exit 1 (reason `filtered`), and the provider's health is untouched:
    the outcome is recorded as `model` class, not `stream`."""
    h = Harness({"a": STREAM_BREAKS["content_filter_after_content"]}, sink=True)
    failed = h.fail(plan((M1, "a"), (M1, "b"), (M2, "c")))
    assert failed.reason == "filtered"
    assert h.order == ["a"]
    assert h.written == ["partial "]
    assert [(r.error_class, r.outcome, r.kind) for r in failed.attempts] == [("model", "failed", "moderation")]
    assert [(o.ok, o.error_class) for o in h.outcomes] == [(False, M)]


@pytest.mark.parametrize("name", sorted(STREAM_BREAKS))
def test_same_break_when_buffered_fails_over(name: str) -> None:
    """--json: nothing was written, so the break is the provider's (or the model's) failure and ask goes on."""
    h = Harness({"a": STREAM_BREAKS[name]}, sink=False)
    result = h.run(plan((M1, "a"), (M1, "b"), (M2, "c")))
    expected = ("model", "c") if name == "content_filter_after_content" else ("provider", "b")
    assert result.attempts[0].error_class == expected[0]
    assert result.attempt.endpoint.provider == expected[1]
    assert result.content == "Hello there"
    assert h.written == []
    assert h.order == ["a", expected[1]]


def test_idle_stall_after_content_is_stream_class(released: threading.Event) -> None:
    timeouts = Timeouts(connect=1, first_token=2, idle=0.3, total=10)
    stall = sse(chunk(role=True), chunk("partial "), lambda: released.wait(5), chunk("rest"), DONE)
    h = Harness({"a": stall}, timeouts=timeouts)
    t0 = time.monotonic()
    failed = h.fail(plan((M1, "a"), (M1, "b")))
    assert time.monotonic() - t0 < 2.0
    assert failed.reason == "stream"
    assert (failed.attempts[0].kind, failed.attempts[0].error_class) == (Kind.IDLE, "stream")
    assert "idle" in (failed.attempts[0].error or "")
    assert h.written == ["partial "] and h.order == ["a"]


def test_idle_stall_when_buffered_fails_over(released: threading.Event) -> None:
    timeouts = Timeouts(connect=1, first_token=2, idle=0.3, total=10)
    stall = sse(chunk(role=True), chunk("partial "), lambda: released.wait(5), chunk("rest"), DONE)
    h = Harness({"a": stall}, timeouts=timeouts, sink=False)
    result = h.run(plan((M1, "a"), (M1, "b")))
    assert (result.attempts[0].kind, result.attempts[0].error_class) == (Kind.IDLE, "provider")
    assert result.attempt.endpoint.provider == "b"


def test_non_stream_finish_error_with_content_is_a_provider_failure() -> None:
    """A buffered answer that ended with finish_reason "error" is partial: not an answer to serve."""
    body = {**completion("partial ", "error"), "error": {"message": "boom", "code": 502}}
    h = Harness({"a": lambda r: httpx.Response(200, json=body)}, sink=True)
    result = h.run(plan((M1, "a"), (M1, "b")), stream=False)
    assert result.attempts[0].error_class == "provider"
    assert result.attempt.endpoint.provider == "b"
    assert h.written == ["Hello there"]


# --------------------------------------------------------------------------- failover and fallback


def test_failover_follows_plan_order_and_stops_at_first_success() -> None:
    h = Harness({"a": status(500), "b": status(429), "c": ok_any("from c"), "d": ok_any("from d")})
    result = h.run(plan((M1, "a"), (M1, "b"), (M1, "c"), (M1, "d")))
    assert h.order == ["a", "b", "c"]
    assert result.content == "from c"
    assert [(r.provider, r.outcome, r.status) for r in result.attempts] == [
        ("a", "failed", 500),
        ("b", "failed", 429),
        ("c", "success", 200),
    ]
    assert [e[:2] for e in h.events] == [
        ("start", "a"),
        ("failed", "a"),
        ("start", "b"),
        ("failed", "b"),
        ("start", "c"),
        ("served", "c"),
    ]


def test_each_endpoint_is_attempted_at_most_once() -> None:
    """All fail: every planned endpoint got exactly one request, even if the plan repeats one."""
    h = Harness({n: status(503) for n in NAMES})
    attempts = plan((M1, "a"), (M1, "b"), (M1, "a"), (M2, "a"), (M2, "c"), (M1, "b"))
    failed = h.fail(attempts)
    assert failed.reason == "all_failed"
    assert h.order == ["a", "b", "a", "c"]  # (m2, a) is a different endpoint: it may be tried
    assert [(r.model, r.provider) for r in failed.attempts] == [(M1, "a"), (M1, "b"), (M2, "a"), (M2, "c")]
    assert len(h.outcomes) == 4


def test_model_failure_skips_the_models_other_providers_even_interleaved() -> None:
    """partition=none interleaves models: the skipped model's later endpoints stay skipped."""
    ctx = status(400, {"message": CTX_MSG, "code": "context_length_exceeded"})
    h = Harness({"a": ctx, "c": status(500), "b": ok_any()})
    failed_then = plan((M1, "a"), (M2, "c"), (M1, "b"), (M1, "d"), (M2, "b"))
    result = h.run(failed_then)
    assert h.order == ["a", "c", "b"]
    assert (result.attempt.endpoint.model, result.attempt.endpoint.provider) == (M2, "b")
    assert [r.error_class for r in result.attempts] == ["model", "provider", None]


def test_model_failure_on_last_model_ends_in_all_failed() -> None:
    mod = status(403, MOD_403)
    h = Harness({"a": mod, "b": ok_any()})
    failed = h.fail(plan((M1, "a"), (M1, "b")))
    assert failed.reason == "all_failed"
    assert h.order == ["a"]


def test_request_class_stops_everything() -> None:
    h = Harness({"a": status(500), "b": status(400, "Invalid value for 'top_p'"), "c": ok_any()})
    failed = h.fail(plan((M1, "a"), (M1, "b"), (M1, "c"), (M2, "c")))
    assert failed.reason == "request"
    assert h.order == ["a", "b"]
    assert "Invalid value for 'top_p'" in failed.message
    assert [r.error_class for r in failed.attempts] == ["provider", "request"]
    assert len(h.outcomes) == 2


def test_reserved_option_is_a_request_failure_before_any_network() -> None:
    h = Harness({})
    failed = h.fail(plan((M1, "a"), (M1, "b")), options={"model": "other"})
    assert failed.reason == "request"
    assert h.calls == []
    assert "model" in failed.message


def test_all_failed_reports_every_attempt() -> None:
    h = Harness({"a": status(500), "b": raises(httpx.ConnectError("refused"))})
    failed = h.fail(plan((M1, "a"), (M1, "b")))
    assert failed.reason == "all_failed"
    assert [(r.provider, r.error_class, r.kind) for r in failed.attempts] == [
        ("a", "provider", Kind.SERVER_ERROR),
        ("b", "provider", Kind.CONNECT),
    ]
    assert all(r.latency_s is not None and r.latency_s >= 0 for r in failed.attempts)


def test_empty_plan_is_all_failed_without_requests() -> None:
    h = Harness({})
    failed = h.fail([])
    assert (failed.reason, failed.attempts, h.calls) == ("all_failed", (), [])


# --------------------------------------------------------------------------------- wire and results


def test_request_carries_upstream_model_options_key_and_headers() -> None:
    h = Harness({})
    result = h.run(plan((M1, "a")), options={"temperature": 0.2, "stop": ["END"], "max_tokens": 7})
    (request,) = h.calls
    assert str(request.url) == "https://a.test/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEYS['a']}"
    assert request.headers["x-extra"] == "1"
    body = json.loads(request.content)
    assert body["model"] == f"up-a-{M1}"
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert (body["temperature"], body["stop"], body["max_tokens"], body["stream"]) == (0.2, ["END"], 7, True)
    assert result.served_model == "served-model"
    assert (result.finish_reason, result.usage) == ("stop", Usage(10, 4, raw=USAGE))


def test_stream_result_and_sink_get_each_chunk() -> None:
    h = Harness({"a": ok_stream("one two three")})
    result = h.run(plan((M1, "a")))
    assert h.written == ["one ", "two ", "three"]
    assert result.content == "one two three"
    assert result.cost_usd == cost_of(result.attempt, Usage(10, 4))


def test_non_stream_result_goes_to_the_sink_once() -> None:
    h = Harness({"a": ok_any("whole answer")})
    result = h.run(plan((M1, "a")), stream=False)
    assert h.written == ["whole answer"]
    assert json.loads(h.calls[0].content)["stream"] is False
    assert (result.content, result.finish_reason, result.usage) == ("whole answer", "stop", Usage(10, 4, raw=USAGE))


def test_stream_request_answered_with_json_is_accepted() -> None:
    h = Harness({"a": lambda r: httpx.Response(200, json=completion("plain json"))})
    result = h.run(plan((M1, "a")))
    assert result.content == "plain json"
    assert h.written == ["plain json"]


def test_stream_without_done_but_with_finish_is_complete() -> None:
    h = Harness({"a": sse(chunk(role=True), chunk("all "), chunk("here", finish="stop"))})
    assert h.run(plan((M1, "a"))).content == "all here"


def test_buffered_run_writes_nothing() -> None:
    h = Harness({"a": ok_stream()}, sink=False)
    assert h.run(plan((M1, "a"))).content == "Hello there"
    assert h.written == []


def test_cost_of() -> None:
    a = PlannedAttempt(1, endpoint(M1, "a", Price(1.0, 2.0, 0.001)), 0.0, HEALTHY, "")
    assert cost_of(a, Usage(1000, 500)) == pytest.approx(0.003)
    assert cost_of(a, Usage(0, 0)) == pytest.approx(0.001)
    assert cost_of(a, None) is None
    assert cost_of(a, Usage()) is None
    assert cost_of(a, Usage(10)) is None
    assert cost_of(a, Usage(None, 5)) is None  # what the wire makes of {"prompt_tokens": "10", ...}
    free = PlannedAttempt(1, endpoint(M1, "b", Price()), 0.0, HEALTHY, "")
    assert cost_of(free, Usage(10, 4)) == 0.0


# ------------------------------------------------------------------------------------- outcome hook


def test_outcome_hook_gets_one_outcome_per_attempt_with_class_status_and_retry_after() -> None:
    wall = 1_700_000_000.0
    date = email.utils.formatdate(wall + 120, usegmt=True)
    h = Harness(
        {
            "a": status(429, {"message": "Rate limit reached", "code": "rate_limit_exceeded"}, {"Retry-After": "7"}),
            "b": status(503, None, {"Retry-After": "3"}),
            "c": status(500, None, {"Retry-After": "9"}),  # only 429/503 carry a backoff
            "d": status(429, "Too many requests", {"Retry-After": date}),
            "e": ok_any(),
        },
        wall=lambda: wall,
    )
    result = h.run(plan((M1, "a"), (M1, "b"), (M1, "c"), (M1, "d"), (M1, "e")))
    assert result.attempt.endpoint.provider == "e"
    got = [(o.provider, o.ok, o.error_class, o.status, o.retry_after) for o in h.outcomes]
    assert got == [
        ("a", False, P, 429, 7.0),
        ("b", False, P, 503, 3.0),
        ("c", False, P, 500, None),
        ("d", False, P, 429, 120.0),
        ("e", True, None, 200, None),
    ]
    assert all(o.at == wall and o.model == M1 for o in h.outcomes)
    assert all(o.error for o in h.outcomes[:4]) and h.outcomes[4].error is None


@pytest.mark.parametrize(
    ("scripts", "cls"),
    [
        ({"a": status(400, {"message": CTX_MSG, "code": "context_length_exceeded"})}, M),
        ({"a": status(400, "bad temperature")}, R),
        ({"a": sse_then_raise(chunk(role=True), chunk("partial "))}, S),
    ],
    ids=["model", "request", "stream"],
)
def test_every_way_an_attempt_ends_is_recorded(scripts: dict, cls: FailureClass) -> None:
    h = Harness(scripts)
    with contextlib.suppress(Failed):
        h.run(plan((M1, "a"), (M2, "b")))
    assert h.outcomes[0].provider == "a"
    assert (h.outcomes[0].ok, h.outcomes[0].error_class) == (False, cls)
    assert len(h.outcomes) == len(h.order)


def test_interrupt_is_recorded_as_cancelled_and_reraised() -> None:
    h = Harness({"a": ok_stream()})

    def sink(delta: Delta) -> None:
        raise KeyboardInterrupt

    h.executor.sink = sink
    with pytest.raises(KeyboardInterrupt):
        h.run(plan((M1, "a"), (M1, "b")))
    assert h.order == ["a"]
    assert [(o.ok, o.error_class) for o in h.outcomes] == [(False, FailureClass.CANCELLED)]


# -------------------------------------------------------------------------------- our own clock


def test_latency_ttft_and_throughput_on_the_injected_clock() -> None:
    clock = FakeClock()
    served = threading.Event()

    def respond(request: httpx.Request) -> httpx.Response:
        clock.advance(1.0)  # headers after 1 s
        return sse(
            lambda: clock.advance(0.5),
            chunk(role=True) + chunk("Hello "),  # first content at 1.5 s
            lambda: served.wait(5),  # until the executor has written it
            lambda: clock.advance(2.0),
            chunk("there", finish="stop") + usage_chunk({"prompt_tokens": 10, "completion_tokens": 8}) + DONE,
        )(request)

    h = Harness({"a": respond}, clock=clock, wall=lambda: 5.0)
    h.executor.sink = lambda delta: (h.written.append(delta.content), served.set())
    result = h.run(plan((M1, "a")))
    report = result.attempts[0]
    assert (report.ttft_s, report.latency_s) == (1.5, 3.5)
    (outcome,) = h.outcomes
    assert (outcome.ttft_s, outcome.latency_s, outcome.at) == (1.5, 3.5, 5.0)
    assert outcome.tokens_per_s == pytest.approx(8 / 2.0)


def test_keep_alives_do_not_satisfy_first_token() -> None:
    """Comments every (fake) second forever: abandoned at first_token, next provider serves."""
    clock = FakeClock()

    keep_alive_forever = trickle(clock, b": keep-alive\n\n", step=1.0)

    timeouts = Timeouts(connect=1, first_token=5, idle=1000, total=1000)
    h = Harness({"a": keep_alive_forever}, clock=clock, timeouts=timeouts)
    t0 = time.monotonic()
    result = h.run(plan((M1, "a"), (M1, "b")))
    assert time.monotonic() - t0 < 5
    failed = result.attempts[0]
    assert (failed.error_class, failed.kind) == ("provider", Kind.TIMEOUT_FIRST_TOKEN)
    assert 5 <= failed.latency_s < 1000
    assert result.attempt.endpoint.provider == "b"


def test_first_token_timeout_on_real_clock_with_silent_provider(released: threading.Event) -> None:
    def silent(request: httpx.Request) -> httpx.Response:
        released.wait(5)
        return httpx.Response(500)

    h = Harness({"a": silent}, timeouts=Timeouts(connect=1, first_token=0.3, idle=5, total=10))
    t0 = time.monotonic()
    result = h.run(plan((M1, "a"), (M1, "b")))
    assert time.monotonic() - t0 < 2
    assert result.attempts[0].kind == Kind.TIMEOUT_FIRST_TOKEN
    assert result.attempt.endpoint.provider == "b"


def test_total_timeout_bounds_a_trickling_stream() -> None:
    """Content keeps coming, but past `total` the attempt ends (after content: stream class)."""
    clock = FakeClock()

    trickle_x = trickle(clock, chunk("x"), step=1.0)

    h = Harness({"a": trickle_x}, clock=clock, timeouts=Timeouts(connect=1, first_token=5, idle=5, total=20))
    failed = h.fail(plan((M1, "a"), (M1, "b")))
    assert failed.reason == "stream"
    assert failed.attempts[0].kind == Kind.TIMEOUT_TOTAL
    assert 20 <= failed.attempts[0].latency_s < 100


def test_overall_timeout_stops_before_the_next_attempt() -> None:
    clock = FakeClock()

    def slow_500(request: httpx.Request) -> httpx.Response:
        clock.advance(11)
        return httpx.Response(500, json={"error": {"message": "late"}})

    h = Harness({"a": slow_500}, clock=clock, overall_timeout=10)
    failed = h.fail(plan((M1, "a"), (M1, "b")))
    assert failed.reason == "timeout"
    assert h.order == ["a"]
    assert "10" in failed.message


def test_the_users_timeout_during_an_attempt_is_cancelled_never_the_providers() -> None:
    """docs/failures.md#failure-classes: the attempt cut by the user's own --timeout (not the profile's `total`) is `cancelled`,
    recorded as such (health does not count it), and ask stops with reason `timeout`; what was written stays."""
    clock = FakeClock()

    trickle_x = trickle(clock, chunk("x"), step=1.0)

    h = Harness(
        {"a": trickle_x}, clock=clock, timeouts=Timeouts(connect=1, first_token=5, idle=5, total=20), overall_timeout=3
    )
    failed = h.fail(plan((M1, "a"), (M1, "b")))
    assert failed.reason == "timeout" and "--timeout of 3s" in failed.message
    assert h.order == ["a"] and h.written  # the partial answer was written and stays
    assert [(r.outcome, r.error_class, r.kind) for r in failed.attempts] == [("cancelled", "cancelled", "cancelled")]
    assert [(o.ok, o.error_class) for o in h.outcomes] == [(False, FailureClass.CANCELLED)]


def test_reasoning_satisfies_first_token_and_is_not_written_as_content() -> None:
    clock = FakeClock()

    thinker = sse(chunk(role=True), *[_reasoning_chunk("hmm ")] * 10, chunk("4", finish="stop"), DONE)
    deltas: list[Delta] = []

    def sink(delta: Delta) -> None:
        deltas.append(delta)
        clock.advance(1.0)  # each reasoning delta takes a (fake) second: 10 s of thinking, first_token is 5

    h = Harness({"a": thinker}, clock=clock, timeouts=Timeouts(connect=1, first_token=5, idle=5, total=100))
    h.executor.sink = sink
    result = h.run(plan((M1, "a"), (M1, "b")))
    assert result.attempt.endpoint.provider == "a" and h.order == ["a"]
    assert result.content == "4" and result.answer.reasoning == "hmm " * 10
    assert "".join(d.content for d in deltas) == "4"
    assert result.attempts[0].ttft_s == 0.0  # the first reasoning token is the first token


def test_reasoning_alone_is_not_an_answer() -> None:
    h = Harness({"a": sse(chunk(role=True), _reasoning_chunk("only thinking"), chunk(finish="stop"), DONE)})
    result = h.run(plan((M1, "a"), (M1, "b")))
    assert (result.attempts[0].error_class, result.attempts[0].kind) == ("provider", "malformed")
    assert result.attempt.endpoint.provider == "b"


def _reasoning_chunk(text: str, key: str = "reasoning") -> bytes:
    obj = {"choices": [{"index": 0, "delta": {"content": "", key: text}, "finish_reason": None}]}
    return f"data: {json.dumps(obj)}\n\n".encode()


@pytest.mark.parametrize("stream", [True, False])
def test_an_answer_over_the_cap_is_a_provider_failure_too_large(monkeypatch: pytest.MonkeyPatch, stream: bool) -> None:
    import orcli.execution.executor as executor_module

    monkeypatch.setattr(executor_module, "ANSWER_BODY_LIMIT", 4096)
    big = "y" * 5000
    h = Harness({"a": ok_any(big)}, sink=False)
    result = h.run(plan((M1, "a"), (M1, "b")), stream=stream)
    assert (result.attempts[0].error_class, result.attempts[0].kind) == ("provider", "too_large")
    assert "response too large" in (result.attempts[0].error or "")
    assert result.attempt.endpoint.provider == "b"  # b answers the default, small text
    assert result.content == "Hello there"


def test_compressed_answers_and_errors_are_decoded_and_only_gzip_deflate_advertised() -> None:
    import gzip

    def gz(code: int, doc: dict) -> Responder:
        body = gzip.compress(json.dumps(doc).encode())
        # An iterator: a network-like stream whose raw bytes are the compressed ones.
        return lambda request: httpx.Response(code, content=iter([body]), headers={"content-encoding": "gzip"})

    context = {"error": {"message": "maximum context length is 8192 tokens", "code": "context_length_exceeded"}}
    h = Harness({"a": gz(400, context), "b": gz(200, completion("unzipped"))}, sink=False)
    result = h.run(plan((M1, "a"), (M2, "b")), stream=False)
    assert result.attempts[0].error_class == "model" and "maximum context length" in (result.attempts[0].error or "")
    assert result.content == "unzipped"
    assert {r.headers["accept-encoding"] for r in h.calls} == {"gzip, deflate"}


def test_an_error_body_in_an_encoding_orcli_did_not_ask_for_is_classified_by_its_status() -> None:
    def brotli_429(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, content=iter([b"\x8b\x02\x80"]), headers={"content-encoding": "br"})

    h = Harness({"a": brotli_429}, sink=False)
    result = h.run(plan((M1, "a"), (M1, "b")), stream=False)
    assert (result.attempts[0].status, result.attempts[0].kind) == (429, "http_429")
    assert result.attempt.endpoint.provider == "b"


# ------------------------------------------------------------------------------------------ keys


def _all_text(h: Harness, reports: Sequence[AttemptReport] = ()) -> str:
    """Every error text the executor produced: reports, outcomes, progress events."""
    parts = [r.error or "" for r in reports]
    parts += [o.error or "" for o in h.outcomes]
    parts += [e[2] for e in h.events]
    return "\n".join(parts)


def test_keys_are_redacted_from_every_error_text() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        auth = request.headers["authorization"]
        key = auth.removeprefix("Bearer ")
        return httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {auth}; key={key} {key}"}})

    def echo_bare(request: httpx.Request) -> httpx.Response:
        key = request.headers["authorization"].removeprefix("Bearer ")
        return httpx.Response(500, json={"error": {"message": f"upstream saw {key} and gave up"}})

    def echo_connect(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"proxy refused {request.headers['authorization']}")

    def echo_chunk(request: httpx.Request) -> httpx.Response:
        key = request.headers["authorization"].removeprefix("Bearer ")
        err = json.dumps({"error": {"message": f"bad {key}"}, "choices": []}).encode()
        return sse(chunk(role=True), b"data: " + err + b"\n\n", DONE)(request)

    h = Harness({"a": echo, "b": echo_bare, "c": echo_connect, "d": echo_chunk}, odd_key_for="b")
    failed = h.fail(plan((M1, "a"), (M1, "b"), (M1, "c"), (M1, "d")))
    assert h.calls[1].headers["authorization"] == f"Bearer {ODD_KEY}"  # the odd key really was sent
    text = _all_text(h, failed.attempts) + failed.message
    for secret in [*KEYS.values(), ODD_KEY]:
        assert secret not in text
    assert "SECRET" not in text and "Zq7plain" not in text
    assert text.count("[REDACTED]") >= 4


def test_request_class_message_is_redacted() -> None:
    def echo_400(request: httpx.Request) -> httpx.Response:
        key = request.headers["authorization"].removeprefix("Bearer ")
        return httpx.Response(400, json={"error": {"message": f"bad parameter for {key}"}})

    h = Harness({"a": echo_400}, odd_key_for="a")
    failed = h.fail(plan((M1, "a"), (M1, "b")))
    assert failed.reason == "request"
    assert ODD_KEY not in failed.message and ODD_KEY not in _all_text(h, failed.attempts)
    assert "[REDACTED]" in failed.message


def test_a_flood_of_keep_alives_cannot_outrun_the_first_token_deadline() -> None:
    """Past the deadline the attempt ends, even while the queue still holds keep-alives."""
    clock = FakeClock()

    flood = trickle(clock, b": keep-alive\n\n", step=0.01, count=20_000, pause=0)

    h = Harness({"a": flood}, clock=clock, timeouts=Timeouts(connect=1, first_token=5, idle=1000, total=1000))
    result = h.run(plan((M1, "a"), (M1, "b")))
    assert result.attempts[0].kind == Kind.TIMEOUT_FIRST_TOKEN, result.attempts[0]
    assert result.attempt.endpoint.provider == "b"


def test_a_closed_output_still_records_the_attempt() -> None:
    """`| head` closes stdout mid-answer: the error goes on to the CLI, the attempt is recorded (neutral)."""
    h = Harness({"a": ok_stream()})

    def sink(delta: Delta) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    h.executor.sink = sink
    with pytest.raises(BrokenPipeError):
        h.run(plan((M1, "a"), (M1, "b")))
    assert h.order == ["a"]
    assert [(o.provider, o.ok, o.error_class) for o in h.outcomes] == [("a", False, FailureClass.CANCELLED)]


# ------------------------------------------- the production reader (exchange.Exchange), driven for real


class FakeNetworkStream:
    """A connection as httpcore exposes it (`network_stream.read(max_bytes, timeout)`), on a fake clock.

    Each step is (seconds until the bytes arrive, bytes); a step slower than the timeout the read is given
    advances the clock by that timeout and raises ReadTimeout, as a socket read would. b"" is the end."""

    def __init__(self, clock: FakeClock, steps: list[tuple[float, bytes]]) -> None:
        self.clock = clock
        self.steps = list(steps)
        self.timeouts: list[float | None] = []  # what each read was given

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.timeouts.append(timeout)
        if not self.steps:
            return b""
        delay, data = self.steps[0]
        if timeout is not None and delay > timeout:
            self.clock.advance(timeout)
            self.steps[0] = (delay - timeout, data)
            raise httpx.ReadTimeout("timed out")
        self.clock.advance(delay)
        self.steps.pop(0)
        return data


class _NetworkBody(httpx.SyncByteStream):
    """A response body read through the network stream, so the reader's bound on each read applies."""

    def __init__(self, network: FakeNetworkStream) -> None:
        self.network = network

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.network.read(65536):
            yield chunk


def over_network(network: FakeNetworkStream) -> Responder:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            stream=_NetworkBody(network),
            extensions={"network_stream": network},
        )

    return respond


def exchange_harness(scripts: dict[str, Responder], clock: FakeClock, timeouts: Timeouts) -> Harness:
    h = Harness(scripts, clock=clock, timeouts=timeouts)
    h.executor.reader = Exchange
    return h


def test_the_exchange_reader_serves_a_stream_read_through_its_network_stream() -> None:
    clock = FakeClock()
    network = FakeNetworkStream(
        clock,
        [
            (0.5, chunk(role=True)),
            (0.5, chunk("Hello ")),
            (0.5, chunk("there")),
            (0.1, chunk(finish="stop") + usage_chunk() + DONE),
        ],
    )
    h = exchange_harness({"a": over_network(network)}, clock, FAST)
    result = h.run(plan((M1, "a")))
    assert (result.content, h.written) == ("Hello there", ["Hello ", "there"])
    assert (result.attempts[0].ttft_s, result.attempts[0].latency_s) == (1.0, 1.6)
    # Before the first token each read gets the time left to first_token (2s); after it, to idle (2s).
    assert network.timeouts[:4] == [2.0, 1.5, 2.0, 2.0]
    assert "read" not in vars(network), "the bound read is removed when the attempt ends"


def test_the_exchange_reader_ends_a_keep_alive_stream_at_first_token() -> None:
    clock = FakeClock()
    network = FakeNetworkStream(clock, [(0.1, chunk(role=True))] + [(0.7, b": keep-alive\n\n")] * 1000)
    h = exchange_harness({"a": over_network(network)}, clock, FAST)
    result = h.run(plan((M1, "a"), (M1, "b")))
    failed = result.attempts[0]
    assert (failed.error_class, failed.kind, failed.latency_s) == ("provider", Kind.TIMEOUT_FIRST_TOKEN, 2.0)
    assert result.attempt.endpoint.provider == "b"
    assert len(network.timeouts) < 10 and all(t is not None and t <= 2.0 for t in network.timeouts)


def test_the_exchange_reader_ends_a_stall_after_content_on_time_as_a_stream_failure() -> None:
    clock = FakeClock()
    network = FakeNetworkStream(clock, [(0.1, chunk(role=True)), (0.2, chunk("partial")), (500.0, chunk("late"))])
    h = exchange_harness({"a": over_network(network)}, clock, FAST)
    failed = h.fail(plan((M1, "a"), (M1, "b")))
    assert failed.reason == "stream" and h.order == ["a"]
    report = failed.attempts[0]
    assert (report.kind, report.error_class, report.ttft_s, report.latency_s) == (Kind.IDLE, "stream", 0.3, 2.3)
    assert network.timeouts[-1] == pytest.approx(2.0)  # the stalled read was given exactly the idle time left


def test_the_exchange_reader_stops_a_slow_trickle_at_the_total_deadline() -> None:
    clock = FakeClock()
    network = FakeNetworkStream(clock, [(0.1, chunk(role=True))] + [(1.5, chunk("x"))] * 100)
    timeouts = Timeouts(connect=1, first_token=2, idle=2, total=10)
    h = exchange_harness({"a": over_network(network), "b": ok_stream()}, clock, timeouts)
    failed = h.fail(plan((M1, "a"), (M1, "b")))
    report = failed.attempts[0]
    assert (report.kind, report.error_class, report.latency_s) == (Kind.TIMEOUT_TOTAL, "stream", 10.0)


# ------------------------------------------------------------------------ neutral deltas and answers


def delta_chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return f"data: {json.dumps({'choices': [{'index': 0, 'delta': delta, 'finish_reason': finish}]})}\n\n".encode()


def test_a_streamed_tool_call_answer_is_served_with_its_calls() -> None:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"c":'}}
    more = {"index": 0, "function": {"arguments": '"Oslo"}'}}
    h = Harness(
        {
            "a": sse(
                chunk(role=True),
                delta_chunk({"tool_calls": [call]}),
                delta_chunk({"tool_calls": [more]}),
                chunk(finish="tool_calls"),
                DONE,
            )
        }
    )
    deltas: list[Delta] = []
    h.executor.sink = deltas.append
    result = h.run(plan((M1, "a")))
    assert result.answer.tool_calls == (ToolCall("call_1", "weather", '{"c":"Oslo"}'),)
    assert (result.content, result.finish_reason) == ("", "tool_calls")
    assert [d.tool_calls[0].arguments for d in deltas] == ['{"c":', '"Oslo"}']


def test_reasoning_reaches_the_sink_but_is_not_output_begun() -> None:
    """Reasoning is the model thinking aloud: a stream that breaks after reasoning only fails over."""
    h = Harness({"a": sse_then_raise(chunk(role=True), delta_chunk({"reasoning": "hmm"}))})
    deltas: list[Delta] = []
    h.executor.sink = deltas.append
    result = h.run(plan((M1, "a"), (M1, "b")))
    assert result.attempts[0].error_class == "provider" and result.attempt.endpoint.provider == "b"
    assert deltas[0].reasoning == "hmm"
    assert "".join(d.content for d in deltas) == "Hello there"


def test_a_non_streamed_answer_reaches_the_sink_as_one_whole_delta() -> None:
    body = completion("whole", reasoning_content="why")
    body["choices"][0]["message"]["reasoning_content"] = "why"
    h = Harness({"a": lambda r: httpx.Response(200, json=body)})
    deltas: list[Delta] = []
    h.executor.sink = deltas.append
    result = h.run(plan((M1, "a")), stream=False)
    assert [(d.content, d.reasoning, d.finish_reason) for d in deltas] == [("whole", "why", "stop")]
    assert result.answer.reasoning == "why"


def test_attempt_reports_are_immutable_and_show_plain_strings() -> None:
    h = Harness({"a": status(503)})
    result = h.run(plan((M1, "a"), (M1, "b")))
    failed, served = result.attempts
    with pytest.raises(dataclasses.FrozenInstanceError):
        failed.outcome = AttemptOutcome.SUCCESS  # type: ignore[misc]
    doc = json.loads(json.dumps([failed.as_json(), served.as_json()]))
    assert [(d["outcome"], d["error_class"], d["kind"]) for d in doc] == [
        ("failed", "provider", "server_error"),
        ("success", None, None),
    ]
    assert [type(v) for v in failed.as_json().values() if isinstance(v, str)] == [str] * 7
