"""Runs an attempt plan over httpx: timeouts on our own clock, failover, model fallback; never prints.
What it reports lives in reports.py; how it reads one response, in response.py.

Each attempt: the provider's dialect (docs/dialects.md) builds the HTTP request, a reader (orcli.execution.exchange) carries
the exchange, the dialect decodes what came back into neutral deltas and one answer, and classify (docs/failures.md#failure-classes)
turns whatever went wrong into a failure class that decides what happens next.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, assert_never

import httpx

from orcli.auth import CredentialError, credentials_for
from orcli.execution.cancel import CancelToken
from orcli.execution.classify import (
    Failure,
    Kind,
    cancelled,
    classify_finish_reason,
    classify_http,
    classify_wire_error,
    refused_request,
    transport_failure,
)
from orcli.execution.exchange import Pump, Reader, ReaderFactory, Tag
from orcli.execution.framing import FRAMINGS, SSE, Framing
from orcli.execution.metering import Meter, tokens_per_second
from orcli.execution.reports import (
    AttemptOutcome,
    AttemptReport,
    Event,
    EventKind,
    Failed,
    FailReason,
    Result,
    Served,
    attempt_report,
    cost_of,
)
from orcli.execution.response import (
    ANSWER_BODY_LIMIT,
    ERROR_BODY_LIMIT,
    SSE_START,
    TIMEOUT_KINDS,
    AttemptFailed,
    Replay,
    ResponseReading,
    deadline_reached,
    framer_calls,
    timeout_failure,
    too_large,
)
from orcli.redact import redact
from orcli.routing.spend import AttemptUsage
from orcli.types import FailureClass, Outcome, PlannedAttempt, Provider, Timeouts
from orcli.wire import dialect_for
from orcli.wire.assemble import AnswerBuilder, answer_delta
from orcli.wire.base import (
    Answer,
    ChatRequest,
    Delta,
    Dialect,
    HttpRequest,
    UpstreamErrorInBody,
    WireError,
)

__all__ = [  # what callers import from here; the values live in reports.py
    "ANSWER_BODY_LIMIT",
    "AttemptOutcome",
    "AttemptReport",
    "Event",
    "EventKind",
    "Executor",
    "FailReason",
    "Failed",
    "Result",
    "cost_of",
]


class Executor(ResponseReading):
    """Executes a plan: each endpoint at most once, in plan order, per the failure table of docs/failures.md#failure-classes.

    `reader` opens each HTTP exchange (orcli.execution.exchange): whoever builds `client` knows whether its transport
    has real connections (`Exchange`, read on this thread) or not (`Pump`, the default, works over any).
    `sink` gets the answer's deltas as they arrive (None: buffer the answer, as --json does); a delta with
    content counts as output begun, which no other provider can take back (docs/failures.md#failure-classes `stream`).
    """

    def __init__(
        self,
        client: httpx.Client,
        providers: Mapping[str, Provider],
        env: Mapping[str, str],
        timeouts: Timeouts,
        *,
        reader: ReaderFactory = Pump,
        sink: Callable[[Delta], None] | None = None,
        on_event: Callable[[Event], None] = lambda e: None,
        on_outcome: Callable[[Outcome], None] = lambda o: None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        overall_timeout: float | None = None,
        cancel: CancelToken | None = None,
        profile_name: str | None = None,
    ) -> None:
        self.client = client
        self.providers = providers
        self.env = env
        self.timeouts = timeouts
        self.reader = reader
        self.sink = sink
        self.on_event = on_event
        self.on_outcome = on_outcome
        self.clock = clock
        self.wall = wall
        self.overall_timeout = overall_timeout
        self.cancel = cancel
        self.on_first_content: Callable[[], None] = _nothing  # hedging: called before the first delta's sink
        self.profile_name = profile_name  # recorded with each attempt's usage (`orcli usage --by profile`)
        self._meter = Meter()  # the running request's usage bookkeeping, fresh in each run()
        # Every key in the environment of the profile's providers: classify redacts them from every failure
        # message, the one place text from the network becomes text orcli shows or stores (docs/security.md).
        self.secrets = tuple(
            v for p in providers.values() if p.api_key_env and (v := env.get(p.api_key_env, "").strip())
        )

    def run(self, attempts: Iterable[PlannedAttempt], request: ChatRequest, stream: bool = True) -> Result:
        reports: list[AttemptReport] = []
        skipped_models: set[str] = set()
        tried: set[tuple[str, str]] = set()
        started = self.clock()
        self._meter = Meter(request, self.profile_name)
        for attempt in attempts:
            e = attempt.endpoint
            if e.model in skipped_models or e.key in tried:
                continue  # a skipped model, or an endpoint already tried: each endpoint at most once
            tried.add(e.key)
            remaining = None if self.overall_timeout is None else self.overall_timeout - (self.clock() - started)
            if remaining is not None and remaining <= 0:
                raise Failed(FailReason.TIMEOUT, tuple(reports), self._timeout_message())
            if self.cancel is not None and self.cancel.is_set:
                raise Failed(FailReason.CANCELLED, tuple(reports), self.cancel.reason or "cancelled")
            number = len(reports) + 1
            self.on_event(Event(EventKind.START, attempt, number=number))
            t0 = self.clock()
            try:
                served = self._attempt(attempt, request, stream, remaining)
            except AttemptFailed as exc:
                self.settle_failure(attempt, exc, t0, number, reports, skipped_models)
                continue
            except BaseException as exc:
                self.settle_abandoned(attempt, exc, t0, reports)
                raise
            return self.settle_success(attempt, served, t0, number, reports)
        raise Failed(FailReason.ALL_FAILED, tuple(reports), "every attempt failed")

    def settle_abandoned(
        self, attempt: PlannedAttempt, exc: BaseException, t0: float, reports: list[AttemptReport], hedge: bool = False
    ) -> None:
        """The sink failed (stdout closed under `| head`) or something unforeseen: the attempt still gets its
        outcome (docs/failures.md), a neutral one; the caller lets the exception go on."""
        failure = cancelled(f"abandoned: {type(exc).__name__}")
        report = self._report(attempt, t0, failure, None, hedge=hedge)
        reports.append(report)
        self._record(attempt, report, failure)

    def settle_success(
        self,
        attempt: PlannedAttempt,
        served: Served,
        t0: float,
        number: int,
        reports: list[AttemptReport],
        hedge: bool = False,
    ) -> Result:
        report = self._report(attempt, t0, None, served.ttft, served.status, hedge)
        reports.append(report)
        spent = self._record(attempt, report, None, served.answer)
        self.on_event(Event(EventKind.SERVED, attempt, number=number))
        return Result(served.answer, attempt, spent.cost_usd, tuple(reports), spent)

    def settle_failure(
        self,
        attempt: PlannedAttempt,
        exc: AttemptFailed,
        t0: float,
        number: int,
        reports: list[AttemptReport],
        skipped_models: set[str],
        hedge: bool = False,
    ) -> None:
        """Report, record and announce a failed attempt, then decide (docs/failures.md): return to go on with the plan
        (a provider failure; a model failure also skips the model), or raise Failed / the user's interrupt."""
        failure = exc.failure
        if exc.wrote_output and failure.cls not in (FailureClass.CANCELLED, FailureClass.MODEL):
            # Content already reached the output: another provider cannot take it back (docs/failures.md, `stream`).
            # A content filter after text stays a model event: it says nothing about the provider.
            failure = dataclasses.replace(failure, cls=FailureClass.STREAM)
        report = self._report(attempt, t0, failure, exc.ttft, hedge=hedge)
        reports.append(report)
        self._record(attempt, report, failure, exc.partial)
        self.on_event(Event(EventKind.FAILED, attempt, report.error or "", number=number))
        if exc.wrote_output and failure.cls is FailureClass.MODEL:
            # docs/failures.md: content_filter after content was written: exit 1, the partial answer stays.
            raise Failed(FailReason.FILTERED, tuple(reports), report.error or "content filter") from None
        match failure.cls:
            case FailureClass.CANCELLED:
                if exc.user_timeout:
                    raise Failed(FailReason.TIMEOUT, tuple(reports), self._timeout_message()) from None
                if exc.interrupt is None and self.cancel is not None and self.cancel.is_set:
                    raise Failed(FailReason.CANCELLED, tuple(reports), report.error or "cancelled") from None
                raise exc.interrupt or KeyboardInterrupt() from None
            case FailureClass.STREAM:
                raise Failed(FailReason.STREAM, tuple(reports), report.error or "the stream broke") from None
            case FailureClass.REQUEST:
                raise Failed(FailReason.REQUEST, tuple(reports), report.error or "the request was refused") from None
            case FailureClass.MODEL:
                skipped_models.add(attempt.endpoint.model)
                self.on_event(Event(EventKind.SKIP_MODEL, attempt, failure.kind, number=number))
            case FailureClass.PROVIDER:
                pass  # the next provider
            case unreachable:
                assert_never(unreachable)

    def _timeout_message(self) -> str:
        return f"--timeout of {self.overall_timeout:g}s reached"

    def _report(
        self,
        attempt: PlannedAttempt,
        t0: float,
        failure: Failure | None,
        ttft: float | None,
        status: int | None = None,
        hedge: bool = False,
    ) -> AttemptReport:
        return attempt_report(attempt, round(self.clock() - t0, 4), failure, ttft, status, hedge)

    # -- one attempt ------------------------------------------------------------------------------------
    def _attempt(self, attempt: PlannedAttempt, request: ChatRequest, stream: bool, remaining: float | None) -> Served:
        e = attempt.endpoint
        provider = self.providers[e.provider]
        dialect = dialect_for(provider.api)
        start = self.clock()
        try:
            http = dialect.build_request(provider, e, request, stream)
        except ValueError as exc:
            raise AttemptFailed(refused_request(str(exc), secrets=self.secrets)) from None
        http = self._authorize(provider, http, start)
        total = self.timeouts.total if remaining is None else min(self.timeouts.total, remaining)
        total_deadline = start + total
        # The user's --timeout, not the profile's `total`, bounds this attempt: reaching it is a cancellation.
        user_bound = remaining is not None and remaining < self.timeouts.total
        reader = self.reader(self.client, http, self.timeouts, self.clock)
        unhook = self._hook_cancel(reader)
        reader.start()
        built = AnswerBuilder()  # a stream's answer so far: what a cancelled attempt produced, too
        try:
            return self._consume(reader, dialect, stream, start, total_deadline, built)
        except AttemptFailed as failed:
            if self.cancel is not None and self.cancel.is_set:
                # The caller cut this attempt (its client left): whatever the cut looked like on the wire, it
                # is a cancellation, never the provider's fault.
                reason = self.cancel.reason or "cancelled"
                raise AttemptFailed(cancelled(reason), failed.wrote_output, failed.ttft, failed.partial) from None
            # (a socket timeout set to the time left may fire a hair before our clock reads the deadline)
            if user_bound and failed.failure.kind in TIMEOUT_KINDS and self.clock() >= total_deadline - 0.01:
                # docs/failures.md#failure-classes: a request cancelled by the user's own --timeout never counts against the provider.
                failure = cancelled(f"{self._timeout_message()} during this attempt")
                user_failed = AttemptFailed(failure, failed.wrote_output, failed.ttft, failed.partial)
                user_failed.user_timeout = True
                raise user_failed from None
            raise
        except KeyboardInterrupt as interrupt:
            produced = built.answer() if built.produced else None
            interrupted = AttemptFailed(cancelled(f"interrupted ({type(interrupt).__name__})"), partial=produced)
            interrupted.interrupt = interrupt  # re-raised as is: SIGINT and SIGTERM end with different codes
            raise interrupted from None
        finally:
            unhook()
            reader.abandon()

    def _authorize(self, provider: Provider, http: HttpRequest, start: float) -> HttpRequest:
        """The request with its credentials (orcli/auth): a key in a header, a signature, or an access token
        fetched within the connect deadline. Their secrets join those redacted from every message."""
        creds = None
        try:
            creds = credentials_for(provider, self.env)
            self._add_secrets(creds.secrets)
            return creds.authorize(http, start + self.timeouts.connect, self.client)
        except CredentialError as exc:
            message = redact(str(exc), self.secrets)
            raise AttemptFailed(Failure(FailureClass.PROVIDER, None, message, kind=Kind.AUTH)) from None
        finally:
            if creds is not None:
                # Secrets some credentials only know once they authorised: an access token just fetched, the
                # session token of role credentials just resolved.
                self._add_secrets(creds.secrets)

    def _add_secrets(self, secrets: tuple[str, ...]) -> None:
        new = tuple(s for s in secrets if s and s not in self.secrets)
        if new:
            self.secrets += new

    def _hook_cancel(self, reader: Reader) -> Callable[[], None]:
        """While this attempt runs, the caller's cancel token cuts its connection at once (from any thread)."""
        if self.cancel is None:
            return _nothing
        from orcli.execution.transport import interrupt

        thread = threading.get_ident()

        def cut() -> None:
            interrupt(thread)
            stop = getattr(reader, "interrupt", None)  # a reader on a thread of its own wakes its waiter
            if stop is not None:
                stop()

        return self.cancel.hook(cut)

    def _consume(
        self, reader: Reader, dialect: Dialect, stream: bool, start: float, total_deadline: float, built: AnswerBuilder
    ) -> Served:
        t = self.timeouts
        first_token_deadline = min(start + t.first_token, total_deadline) if stream else total_deadline
        status, resp_headers = self._wait_status(reader, first_token_deadline, total_deadline)
        if status >= 300:
            body = self._read_all(reader, total_deadline, limit=ERROR_BODY_LIMIT)
            # A dialect whose errors name their type in a header (Bedrock's x-amzn-errortype) declares it in
            # `error_type_header`; its parse_error then takes that header's value too.
            header = getattr(dialect, "error_type_header", None)
            parse: Any = dialect.parse_error
            error = parse(status, body, resp_headers.get(header)) if header else parse(status, body)
            raise AttemptFailed(classify_http(status, error, resp_headers, secrets=self.secrets, now=self.wall()))
        content_type = resp_headers.get("content-type", "").lower()  # media types are case-insensitive
        framing = FRAMINGS[dialect.framing]
        if framing.media_type in content_type or SSE.media_type in content_type:
            # Read as a stream whatever the request asked: some servers always stream, also to a request
            # without `stream: true` (--no-stream); without a sink the answer is still delivered whole.
            if framing.media_type not in content_type:
                framing = SSE
            served = self._consume_stream(reader, dialect, start, first_token_deadline, total_deadline, framing, built)
        else:
            served = self._consume_whole(reader, dialect, start, total_deadline, built)
        return served._replace(status=status)

    def _consume_whole(
        self, reader: Reader, dialect: Dialect, start: float, total_deadline: float, built: AnswerBuilder
    ) -> Served:
        body = self._read_all(reader, total_deadline, cap=ANSWER_BODY_LIMIT)
        if SSE_START.match(body):  # an event stream under another content type: no JSON body starts so
            return self._consume_stream(Replay(body), dialect, start, total_deadline, total_deadline, SSE, built)
        try:
            answer = dialect.decode_answer(body)
        except WireError as exc:
            raise AttemptFailed(classify_wire_error(exc, secrets=self.secrets)) from None
        # content_filter (model) or "error" (provider): a partial answer is not one to serve.
        finish_failure = classify_finish_reason(answer.finish_reason)
        if finish_failure:
            raise AttemptFailed(finish_failure, partial=answer)  # generated, then refused: it was billed
        if not answer.content and not answer.tool_calls:
            raise AttemptFailed(transport_failure("malformed", "the completion has no content"))
        ttft = self.clock() - start
        self.on_first_content()
        if self.sink is not None:
            self.sink(answer_delta(answer))
        return Served(answer, ttft)

    def _consume_stream(
        self,
        reader: Reader,
        dialect: Dialect,
        start: float,
        first_token_deadline: float,
        total_deadline: float,
        framing: Framing,
        built: AnswerBuilder,
    ) -> Served:
        feed, close = framer_calls(framing)
        decode = dialect.event_decoder().decode
        add = built.add
        sink = self.sink
        clock = self.clock
        get = reader.get
        ttft: float | None = None
        done = False
        wrote = False
        received = 0
        last_event_at = start  # idle counts from the last SSE event: keep-alive comments are silence too
        idle = self.timeouts.idle
        data, end = Tag.DATA, Tag.END  # looked up once: this loop runs once per chunk

        def fail(failure: Failure) -> AttemptFailed:
            return AttemptFailed(failure, wrote, ttft, built.answer() if built.produced else None)

        # Once per chunk of every streamed answer: names bound once above, fields read once (docs/performance.md).
        while not done:
            deadline = first_token_deadline if ttft is None else last_event_at + idle
            if deadline > total_deadline:  # (the first token's deadline never is: it is capped at its start)
                deadline = total_deadline
            item = get(deadline)
            if item is None:
                raise fail(timeout_failure(deadline_reached(ttft is None, deadline < total_deadline), self.timeouts))
            tag, payload = item
            if tag is data:  # the common case first
                received += len(payload)
                if received > ANSWER_BODY_LIMIT:
                    raise fail(too_large())
            elif tag is not end:
                raise fail(self._mid_stream_failure(tag, payload))
            try:
                events = close() if tag is end else feed(payload)
                if events:
                    last_event_at = clock()
                for event in events:
                    for delta in decode(event):
                        content, reasoning, tool_calls, finish_reason, _, _, error, done = delta
                        if done:
                            break
                        if error is not None:
                            raise UpstreamErrorInBody(error)
                        add(delta)
                        if content or reasoning or tool_calls:
                            # Reasoning is a token too: it proves the provider alive (docs/failures.md).
                            if ttft is None:
                                ttft = self._first_content(clock() - start)
                            if sink is not None:
                                sink(delta)
                                if content:
                                    wrote = True
                        if finish_reason:
                            finish_failure = classify_finish_reason(finish_reason)
                            if finish_failure is not None:
                                raise fail(finish_failure)
                    if done:
                        break
            except WireError as exc:
                raise fail(classify_wire_error(exc, secrets=self.secrets)) from None
            if tag is end and not done:
                if built.finish_reason is not None and built.has_answer:
                    break  # some servers end a complete answer without [DONE]
                what = "after part of the answer" if built.has_answer else "before any content"
                raise fail(transport_failure("stream_broken", f"the stream ended {what} (no [DONE])"))
        if not built.has_answer:
            raise fail(transport_failure("malformed", "the stream finished without any content"))
        return Served(built.answer(), ttft)

    def _first_content(self, ttft: float) -> float:
        """The first token arrived `ttft` seconds in: say so to a hedge (execution/hedge.py), which may cut the
        other attempt in flight before this delta reaches the sink."""
        self.on_first_content()
        return ttft

    # -- health and usage hook ------------------------------------------------------------------------
    def _record(
        self, attempt: PlannedAttempt, report: AttemptReport, failure: Failure | None, answer: Answer | None = None
    ) -> AttemptUsage:
        """Record the attempt's outcome with its tokens and cost (docs/usage.md); returns the usage recorded."""
        e = attempt.endpoint
        tps = None if failure is not None else tokens_per_second(answer, report.latency_s, report.ttft_s)
        outcome, spent = self._meter.stamp(
            Outcome(
                at=self.wall(),
                model=e.model,
                provider=e.provider,
                ok=failure is None,
                error_class=None if failure is None else failure.cls,
                status=report.status,
                latency_s=report.latency_s,
                ttft_s=report.ttft_s,
                tokens_per_s=tps,
                error=None if failure is None else (report.error or "")[:200],
                retry_after=None if failure is None else failure.retry_after,
            ),
            e.price,
            answer,
        )
        self.on_outcome(outcome)
        return spent


def _nothing() -> None:
    pass
