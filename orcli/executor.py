"""Runs an attempt plan over httpx: timeouts on our own clock, failover, model fallback; never prints."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from orcli.classify import Failure, Kind, cancelled, classify_finish_reason, classify_http, classify_wire_error
from orcli.classify import transport_failure as _transport_failure
from orcli.redact import redact
from orcli.transport import LazyTLSTransport
from orcli.types import FailureClass, Outcome, PlannedAttempt, Provider, Timeouts
from orcli.wire import openai as wire

_ERROR_BODY_LIMIT = 64 * 1024  # an error page is read for its message, not kept whole


@dataclass(slots=True)
class AttemptReport:
    """What one attempt did, for -v, --json and the failure summary."""

    model: str
    provider: str
    upstream_model: str
    outcome: str  # "success" | "failed" | "cancelled"
    error_class: str | None = None
    status: int | None = None
    error: str | None = None
    kind: str | None = None
    latency_s: float | None = None
    ttft_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class Result:
    content: str
    attempt: PlannedAttempt
    finish_reason: str | None
    usage: dict | None
    cost_usd: float | None
    attempts: list[AttemptReport]
    served_model: str | None = None


@dataclass(slots=True)
class Failed(Exception):
    """Every attempt failed, the request was refused, or a stream broke after output began."""

    reason: str  # "all_failed" | "request" | "stream" | "timeout"
    attempts: list[AttemptReport] = field(default_factory=list)
    message: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    """A progress note for -v: an attempt starts, fails, or serves."""

    kind: str  # "start" | "failed" | "served" | "skip_model"
    attempt: PlannedAttempt
    detail: str = ""


class _AttemptFailed(Exception):
    def __init__(self, failure: Failure, wrote_output: bool = False, ttft: float | None = None) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.interrupt: KeyboardInterrupt | None = None
        self.wrote_output = wrote_output
        self.ttft = ttft


class Executor:
    """Executes a plan: each endpoint at most once, in plan order, per SPEC §6's failure table."""

    def __init__(
        self,
        client: httpx.Client,
        providers: Mapping[str, Provider],
        env: Mapping[str, str],
        timeouts: Timeouts,
        *,
        sink: Callable[[str], None] | None = None,
        on_event: Callable[[Event], None] = lambda e: None,
        on_outcome: Callable[[Outcome], None] = lambda o: None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        overall_timeout: float | None = None,
        direct_reads: bool | None = None,
    ) -> None:
        self.client = client
        self.providers = providers
        self.env = env
        self.timeouts = timeouts
        self.sink = sink  # None: buffer the answer (--json); else streamed content goes here as it arrives
        self.on_event = on_event
        self.on_outcome = on_outcome
        self.clock = clock
        self.wall = wall
        self.overall_timeout = overall_timeout
        # Real connections are read on this thread with each read bounded by the deadline; a transport
        # without a network stream (httpx.MockTransport in tests) cannot be bounded that way and is read on a
        # helper thread instead.
        if direct_reads is None:
            direct_reads = isinstance(getattr(client, "_transport", None), httpx.HTTPTransport | LazyTLSTransport)
        self.direct_reads = direct_reads
        self.secrets = tuple(
            v for p in providers.values() if p.api_key_env and (v := env.get(p.api_key_env, "").strip())
        )

    def run(
        self,
        attempts: Iterable[PlannedAttempt],
        messages: list[dict],
        options: Mapping[str, object],
        stream: bool = True,
    ) -> Result:
        reports: list[AttemptReport] = []
        skipped_models: set[str] = set()
        tried: set[tuple[str, str]] = set()
        started = self.clock()
        for attempt in attempts:
            e = attempt.endpoint
            if e.model in skipped_models or e.key in tried:
                continue  # a skipped model, or an endpoint already tried: each endpoint at most once
            tried.add(e.key)
            remaining = None if self.overall_timeout is None else self.overall_timeout - (self.clock() - started)
            if remaining is not None and remaining <= 0:
                raise Failed("timeout", reports, f"--timeout of {self.overall_timeout:g}s reached")
            self.on_event(Event("start", attempt))
            t0 = self.clock()
            report = AttemptReport(e.model, e.provider, e.upstream_model, "failed")
            reports.append(report)
            try:
                result = self._attempt(attempt, messages, options, stream, remaining)
            except _AttemptFailed as exc:
                failure = exc.failure
                if exc.wrote_output and failure.cls is not FailureClass.CANCELLED:
                    # Content already reached stdout: another provider cannot take it back (SPEC §6 `stream`).
                    failure = dataclasses.replace(failure, cls=FailureClass.STREAM)
                report.outcome = "cancelled" if failure.cls is FailureClass.CANCELLED else "failed"
                report.error_class = failure.cls.value
                report.status = failure.status
                report.error = redact(failure.message, self.secrets)
                report.kind = str(failure.kind)
                report.latency_s = round(self.clock() - t0, 4)
                report.ttft_s = None if exc.ttft is None else round(exc.ttft, 4)
                self._record(attempt, report, failure)
                self.on_event(Event("failed", attempt, report.error or ""))
                if failure.cls is FailureClass.CANCELLED:
                    raise exc.interrupt or KeyboardInterrupt() from None
                if failure.cls is FailureClass.STREAM:
                    raise Failed("stream", reports, report.error or "the stream broke") from None
                if failure.cls is FailureClass.REQUEST:
                    raise Failed("request", reports, report.error or "the request was refused") from None
                if failure.cls is FailureClass.MODEL:
                    skipped_models.add(e.model)
                    self.on_event(Event("skip_model", attempt, failure.kind))
                continue
            except BaseException as exc:
                # The sink failed (stdout closed under `| head`) or something unforeseen: the attempt still
                # gets its outcome (SPEC §6), a neutral one, and the exception goes on to the caller.
                failure = cancelled(f"abandoned: {type(exc).__name__}")
                report.outcome = "cancelled"
                report.error_class = failure.cls.value
                report.error = failure.message
                report.kind = str(failure.kind)
                report.latency_s = round(self.clock() - t0, 4)
                self._record(attempt, report, failure)
                raise
            content, finish, usage, served_model, ttft = result
            report.outcome = "success"
            report.latency_s = round(self.clock() - t0, 4)
            report.ttft_s = None if ttft is None else round(ttft, 4)
            self._record(attempt, report, None, usage=usage, content=content)
            self.on_event(Event("served", attempt))
            return Result(content, attempt, finish, usage, cost_of(attempt, usage), reports, served_model)
        raise Failed("all_failed", reports, "every attempt failed")

    # -- one attempt ------------------------------------------------------------------------------------
    def _attempt(
        self,
        attempt: PlannedAttempt,
        messages: list[dict],
        options: Mapping[str, object],
        stream: bool,
        remaining: float | None,
    ) -> tuple[str, str | None, dict | None, str | None, float | None]:
        e = attempt.endpoint
        provider = self.providers[e.provider]
        key = self.env.get(provider.api_key_env, "") if provider.api_key_env else None
        try:
            body = wire.build_body(e.upstream_model, messages, options, stream)
        except ValueError as exc:
            raise _AttemptFailed(Failure(FailureClass.REQUEST, None, str(exc), None, Kind.BAD_REQUEST)) from None
        headers = wire.build_headers(key, provider.headers, stream=stream)
        url = f"{provider.base_url}/chat/completions"
        start = self.clock()
        total = self.timeouts.total if remaining is None else min(self.timeouts.total, remaining)
        total_deadline = start + total
        if self.direct_reads:
            pump: _Exchange | _Pump = _Exchange(self.client, url, headers, body, self.timeouts, self.clock)
        else:
            pump = _Pump(self.client, url, headers, body, self.timeouts, self.clock)
        pump.start()
        try:
            return self._consume(pump, stream, start, total_deadline)
        except KeyboardInterrupt as interrupt:
            failed = _AttemptFailed(cancelled(f"interrupted ({type(interrupt).__name__})"))
            failed.interrupt = interrupt  # re-raised as is: SIGINT and SIGTERM end with different codes
            raise failed from None
        finally:
            pump.abandon()

    def _consume(self, pump: _Exchange | _Pump, stream: bool, start: float, total_deadline: float):
        t = self.timeouts
        first_token_deadline = min(start + t.first_token, total_deadline) if stream else total_deadline
        status, resp_headers = self._wait_status(pump, first_token_deadline, total_deadline)
        if status >= 300:
            body = self._read_all(pump, total_deadline, limit=_ERROR_BODY_LIMIT)
            raise _AttemptFailed(classify_http(status, body, resp_headers, secrets=self.secrets, now=self.wall()))
        content_type = resp_headers.get("content-type", "")
        if not stream or "text/event-stream" not in content_type:
            body = self._read_all(pump, total_deadline)
            try:
                completion = wire.parse_completion(body)
            except wire.WireError as exc:
                raise _AttemptFailed(classify_wire_error(exc, secrets=self.secrets)) from None
            if not completion.content:
                finish_failure = classify_finish_reason(completion.finish_reason)
                if finish_failure:
                    raise _AttemptFailed(finish_failure)
                raise _AttemptFailed(_transport_failure("malformed", "the completion has no content"))
            finish_failure = classify_finish_reason(completion.finish_reason)
            if finish_failure:
                # content_filter (model) or "error" (provider): a partial answer is not one to serve.
                raise _AttemptFailed(finish_failure)
            ttft = self.clock() - start
            if self.sink is not None:
                self.sink(completion.content)
            return completion.content, completion.finish_reason, completion.usage, completion.model, ttft
        return self._consume_stream(pump, start, first_token_deadline, total_deadline)

    def _consume_stream(
        self, pump: _Exchange | _Pump, start: float, first_token_deadline: float, total_deadline: float
    ):
        decoder = wire.SSEDecoder()
        parts: list[str] = []
        finish: str | None = None
        usage: dict | None = None
        model: str | None = None
        ttft: float | None = None
        done = False
        wrote = False
        last_event_at = start  # idle counts from the last SSE event: keep-alive comments are silence too

        def fail(failure: Failure) -> _AttemptFailed:
            return _AttemptFailed(failure, wrote_output=wrote, ttft=ttft)

        while not done:
            if ttft is None:
                deadline, on_timeout = first_token_deadline, Kind.TIMEOUT_FIRST_TOKEN
                if first_token_deadline >= total_deadline:
                    on_timeout = Kind.TIMEOUT_TOTAL
            else:
                deadline = min(last_event_at + self.timeouts.idle, total_deadline)
                on_timeout = Kind.IDLE if deadline < total_deadline else Kind.TIMEOUT_TOTAL
            item = pump.get(deadline)
            if item is None:
                raise fail(_timeout_failure(on_timeout, self.timeouts))
            tag, payload = item
            if tag == "error":
                raise fail(self._transport_error(payload, during_body=True))
            try:
                events = decoder.close() if tag == "end" else decoder.feed(payload)
            except wire.WireError as exc:
                raise fail(classify_wire_error(exc, secrets=self.secrets)) from None
            if events:
                last_event_at = self.clock()
            for event in events:
                try:
                    chunk = wire.parse_stream_event(event.data)
                except wire.WireError as exc:
                    raise fail(classify_wire_error(exc, secrets=self.secrets)) from None
                if chunk.done:
                    done = True
                    break
                if chunk.error is not None:
                    failure = classify_wire_error(wire.UpstreamErrorInBody(chunk.error), secrets=self.secrets)
                    raise fail(failure)
                if chunk.usage:
                    usage = chunk.usage
                if chunk.model:
                    model = chunk.model
                if chunk.content:
                    if ttft is None:
                        ttft = self.clock() - start
                    parts.append(chunk.content)
                    if self.sink is not None:
                        self.sink(chunk.content)
                        wrote = True
                if chunk.finish_reason:
                    finish = chunk.finish_reason
                    finish_failure = classify_finish_reason(finish)
                    if finish_failure is not None:
                        raise fail(finish_failure)
            if tag == "end" and not done:
                if finish is not None and parts:
                    break  # some servers end a complete answer without [DONE]
                what = "after part of the answer" if parts else "before any content"
                raise fail(_transport_failure("stream_broken", f"the stream ended {what} (no [DONE])"))
        if not parts:
            raise fail(_transport_failure("malformed", "the stream finished without any content"))
        return "".join(parts), finish, usage, model, ttft

    def _wait_status(
        self, pump: _Exchange | _Pump, deadline: float, total_deadline: float
    ) -> tuple[int, httpx.Headers]:
        item = pump.get(deadline)
        if item is None:
            kind = Kind.TIMEOUT_FIRST_TOKEN if deadline < total_deadline else Kind.TIMEOUT_TOTAL
            raise _AttemptFailed(_timeout_failure(kind, self.timeouts))
        tag, payload = item
        if tag == "error":
            raise _AttemptFailed(self._transport_error(payload, during_body=False))
        assert tag == "status"
        return payload

    def _read_all(self, pump: _Exchange | _Pump, deadline: float, limit: int | None = None) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            # Once the body flows, a silence longer than `idle` is a stall; before, only `total` bounds it.
            limit_at, kind = deadline, Kind.TIMEOUT_TOTAL
            if chunks and self.clock() + self.timeouts.idle < deadline:
                limit_at, kind = self.clock() + self.timeouts.idle, Kind.IDLE
            item = pump.get(limit_at)
            if item is None:
                raise _AttemptFailed(_timeout_failure(kind, self.timeouts))
            tag, payload = item
            if tag == "end":
                return b"".join(chunks)
            if tag == "error":
                raise _AttemptFailed(self._transport_error(payload, during_body=True))
            chunks.append(payload)
            size += len(payload)
            if limit is not None and size >= limit:
                return b"".join(chunks)[:limit]

    def _transport_error(self, exc: BaseException, during_body: bool) -> Failure:
        """Translate httpx's exceptions once, most specific first (STYLE: httpx's own mapping)."""
        text = redact(f"{type(exc).__name__}: {exc}".rstrip(": "), self.secrets)
        if isinstance(exc, httpx.ConnectTimeout):
            return _transport_failure("timeout_connect", f"no connection within {self.timeouts.connect:g}s")
        if isinstance(exc, httpx.TimeoutException):
            kind = "idle" if during_body else "timeout_first_token"
            return _transport_failure(kind, f"read timed out ({text})")
        if isinstance(exc, httpx.ConnectError):
            is_tls = "SSL" in str(exc) or "certificate" in str(exc).lower()
            return _transport_failure("tls" if is_tls else "connect", f"cannot connect: {text}")
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
            what = "the connection dropped" if during_body else "the connection closed before a response"
            return _transport_failure("stream_broken", f"{what} ({text})")
        if isinstance(exc, httpx.TransportError | httpx.StreamError):
            return _transport_failure("connect", f"transport error: {text}")
        return _transport_failure("connect", f"unexpected error: {text}")

    # -- health hook ------------------------------------------------------------------------------------
    def _record(
        self,
        attempt: PlannedAttempt,
        report: AttemptReport,
        failure: Failure | None,
        usage: dict | None = None,
        content: str = "",
    ) -> None:
        tps = None
        if failure is None and report.latency_s and report.ttft_s is not None:
            tokens = (usage or {}).get("completion_tokens") or max(1, len(content) // 4)
            generating = report.latency_s - report.ttft_s
            tps = round(tokens / generating, 2) if generating > 0.001 and isinstance(tokens, int | float) else None
        self.on_outcome(
            Outcome(
                at=self.wall(),
                model=attempt.endpoint.model,
                provider=attempt.endpoint.provider,
                ok=failure is None,
                error_class=None if failure is None else failure.cls,
                status=None if failure is None else failure.status,
                latency_s=report.latency_s,
                ttft_s=report.ttft_s,
                tokens_per_s=tps,
                error=None if failure is None else (report.error or "")[:200],
                retry_after=None if failure is None else failure.retry_after,
            )
        )


def _timeout_failure(kind: Kind, t: Timeouts) -> Failure:
    if kind is Kind.TIMEOUT_FIRST_TOKEN:
        text = f"no content token within {t.first_token:g}s (first_token timeout)"
    elif kind is Kind.IDLE:
        text = f"the stream stalled for more than {t.idle:g}s (idle timeout)"
    else:
        text = "the total time limit was reached"
    return _transport_failure(str(kind), text)


def cost_of(attempt: PlannedAttempt, usage: dict | None) -> float | None:
    """USD from the reported usage and the endpoint's list prices; None when usage or price is unknown."""
    if not usage or attempt.endpoint.price is None:
        return None
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    if not isinstance(prompt, int | float) or not isinstance(completion, int | float):
        return None
    p = attempt.endpoint.price
    return round(prompt * p.prompt / 1e6 + completion * p.completion / 1e6 + p.request, 10)


class _Call:
    """One chat-completions request to send: what both readers of an exchange start from."""

    def __init__(
        self,
        client: httpx.Client,
        url: str,
        headers: dict[str, str],
        body: dict,
        t: Timeouts,
        clock: Callable[[], float],
    ) -> None:
        self.client = client
        self.url = url
        self.headers = headers
        self.body = body
        self.timeouts = t
        self.clock = clock
        self._prepare()

    def _prepare(self) -> None:
        """What a reader sets up before the first `get`."""


class _Exchange(_Call):
    """One HTTP exchange, read on the calling thread; every `get` is bounded by the caller's deadline.

    httpx's read timeout is fixed per request and restarts with every read, so keep-alive comments would
    keep a stalled provider alive for ever; the deadlines of SPEC §6 (first token, idle, total) are the
    executor's own. Before the response headers no keep-alive can arrive, so httpx's read timeout, set to
    the time left, is exact. After them, each read of the connection's network stream (httpcore's
    documented `read(max_bytes, timeout)`) is given the time left until the current deadline: a stall
    ends on time, with no thread and no per-chunk cost beyond a subtraction.

    Items: ("status", (code, headers)), then ("data", bytes)..., then ("end", None); or ("error", exc).
    `get` returns None once its deadline has passed, whatever was or was not read in time.
    """

    def _prepare(self) -> None:
        self.deadline = math.inf
        self.response: httpx.Response | None = None
        self._bounded: Any = None  # the network stream whose reads we bound, to restore afterwards
        self._items = self._generate()

    def _generate(self) -> Iterator[tuple[str, Any]]:
        t = self.timeouts
        left = max(self.deadline - self.clock(), 0.001)
        timeout = httpx.Timeout(connect=min(t.connect, left), read=left, write=t.connect, pool=t.connect)
        try:
            request = self.client.build_request("POST", self.url, headers=self.headers, json=self.body, timeout=timeout)
            response = self.response = self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            yield ("error", exc)
            return
        self._bound_reads(response.extensions.get("network_stream"))
        yield ("status", (response.status_code, response.headers))
        try:
            for chunk in response.iter_raw():
                yield ("data", chunk)
        except httpx.HTTPError as exc:
            yield ("error", exc)
            return
        yield ("end", None)

    def _bound_reads(self, stream: Any) -> None:
        if stream is None:
            return  # no network stream (a test transport): deadlines are checked between chunks only
        unbounded = stream.read
        clock = self.clock

        def read(max_bytes: int, timeout: float | None = None) -> bytes:
            return unbounded(max_bytes, max(self.deadline - clock(), 0.001))

        try:
            stream.read = read
        except AttributeError:
            return
        self._bounded = stream

    def get(self, deadline: float) -> tuple[str, Any] | None:
        """The next item, or None once `deadline` (on the executor's clock) has passed."""
        if self.clock() >= deadline:
            return None
        self.deadline = deadline
        try:
            item = next(self._items)
        except StopIteration:
            item = ("end", None)
        if self.clock() >= deadline:
            return None  # too late: a keep-alive flood or a stall outlived the deadline
        return item

    def start(self) -> None:
        """Nothing to start: the exchange runs as `get` is called."""

    def abandon(self) -> None:
        """The attempt is over: unbound the stream (it may go back to the pool), release the connection."""
        if self._bounded is not None:
            with contextlib.suppress(AttributeError):
                del self._bounded.read
        if self.response is not None:
            with contextlib.suppress(Exception):
                self.response.close()
        self._items.close()


class _Pump(_Call):
    """Reads one HTTP exchange on a daemon thread into a queue, so the executor waits on its own clock.

    httpx's read timeout is per read: keep-alive comments would reset it forever. Waiting on a queue with
    our own deadline abandons a stalled provider at once; the thread ends when its socket is closed.
    """

    def _prepare(self) -> None:
        t = self.timeouts
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.abandoned = threading.Event()
        self.response: httpx.Response | None = None
        self.timeout = httpx.Timeout(
            connect=t.connect, read=max(t.first_token, t.idle), write=t.connect, pool=t.connect
        )
        self.thread = threading.Thread(target=self._run, name="orcli-attempt", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            request = self.client.build_request("POST", self.url, headers=self.headers, json=self.body,
                                                timeout=self.timeout)  # fmt: skip
            response = self.client.send(request, stream=True)
            self.response = response
            try:
                self.queue.put(("status", (response.status_code, response.headers)))
                for chunk in response.iter_raw():
                    if self.abandoned.is_set():
                        return
                    self.queue.put(("data", chunk))
                self.queue.put(("end", None))
            finally:
                response.close()
        except BaseException as exc:  # noqa: BLE001 - handed to the executor, which classifies it
            if not self.abandoned.is_set():
                self.queue.put(("error", exc))

    def get(self, deadline: float) -> tuple[str, Any] | None:
        """The next item, or None once `deadline` has passed: a deadline that has passed is final, even
        while items (a flood of keep-alives) are still queued."""
        timeout = deadline - self.clock()
        if timeout <= 0:
            return None
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def abandon(self) -> None:
        """Stop caring about this exchange; close its connection so the thread ends soon."""
        self.abandoned.set()
        response = self.response
        if response is not None and self.thread.is_alive():
            with contextlib.suppress(Exception):  # best effort from another thread
                response.close()
