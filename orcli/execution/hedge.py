"""Hedged requests (docs/routing.md, "Hedging"): the tail-latency tool.

When the running attempt has produced no content `hedge` seconds after it started, the next attempt of the
plan starts beside it: two in flight at most. The first to produce content wins (with --no-stream: the first
complete answer); the other is cancelled at once through its own cancel token (its connection cut) and
recorded `cancelled`, which never counts against its provider. If one of the two fails, the other goes on;
when both have failed, the plan continues, hedged the same way.

Each attempt runs on a thread of its own, through a copy of the executor that has its own token and a gated
sink: only the winner's deltas reach the caller's sink, so texts never mix. This thread only coordinates:
it waits, starts the hedge, and settles every attempt with the executor's own rules (docs/failures.md), so failover,
model fallback, request errors and the user's --timeout behave exactly as without hedging.
"""

from __future__ import annotations

import copy
import dataclasses
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orcli.execution.cancel import CancelToken

if TYPE_CHECKING:
    from orcli.execution.executor import Executor
    from orcli.execution.reports import AttemptReport, Result, Served
    from orcli.execution.response import AttemptFailed
    from orcli.types import PlannedAttempt
    from orcli.wire.base import ChatRequest, Delta

LOSER_GRACE = 5.0  # seconds a cut attempt may take to notice; it has its own deadlines beyond that


@dataclass(eq=False)
class Flight:
    """One attempt in flight on its own thread."""

    number: int
    attempt: PlannedAttempt
    hedge: bool
    t0: float
    token: CancelToken = field(default_factory=CancelToken)
    unhook: Callable[[], None] = field(default=lambda: None)
    lost: bool = False  # another attempt answered first and this one was cut


class _Race:
    """The attempts in flight, the winner among them, and the queue their outcomes arrive on."""

    def __init__(self, ex: Executor, stream: bool) -> None:
        self.ex = ex
        self.stream = stream
        self.lock = threading.Lock()
        self.flying: list[Flight] = []
        self.winner: Flight | None = None
        self.done: queue.Queue[tuple[Flight, Served | None, BaseException | None]] = queue.Queue()

    def claim(self, flight: Flight) -> None:
        """`flight` produced content (or, without a stream, a whole answer): the first to do so wins, and every
        other attempt in flight is cut at once."""
        from orcli.execution.executor import Event, EventKind

        with self.lock:
            if self.winner is not None:
                return
            self.winner = flight
            losers = [f for f in self.flying if f is not flight]
        if not losers:
            return
        self.ex.on_event(Event(EventKind.WON, flight.attempt, number=flight.number))
        for loser in losers:
            loser.lost = True
            loser.token.cancel(f"cancelled: {flight.attempt.endpoint.provider} answered first (hedge)")

    def launch(
        self, attempt: PlannedAttempt, number: int, hedge: bool, request: ChatRequest, remaining: float | None
    ) -> Flight:
        from orcli.execution.executor import Event, EventKind

        ex = self.ex
        flight = Flight(number, attempt, hedge, ex.clock())
        if ex.cancel is not None:  # the caller's token (its client left) cuts every attempt in flight
            flight.unhook = ex.cancel.hook(lambda: flight.token.cancel((ex.cancel and ex.cancel.reason) or "cancelled"))
        mine = copy.copy(ex)
        mine.cancel = flight.token
        mine.sink = self._gated(flight, ex.sink)
        if self.stream:
            mine.on_first_content = lambda: self.claim(flight)
        detail = ""
        if hedge:
            running = self.flying[0]
            waited = flight.t0 - running.t0
            detail = f"hedge: attempt {running.number} has no content after {waited:.1f}s"
        with self.lock:
            self.flying.append(flight)
            late = self.winner is not None  # someone answered while this hedge was being prepared
        if late:
            flight.lost = True
            flight.token.cancel(
                f"cancelled: {self.winner.attempt.endpoint.provider if self.winner else ''} answered first (hedge)"
            )
        ex.on_event(Event(EventKind.START, attempt, detail, number=number))

        def work() -> None:
            try:
                served = mine._attempt(attempt, request, self.stream, remaining)
            except BaseException as exc:  # noqa: BLE001 - handed to the coordinating thread as is
                self.done.put((flight, None, exc))
                return
            if not self.stream:
                self.claim(flight)  # --no-stream: the first complete answer wins
            self.done.put((flight, served, None))

        threading.Thread(target=work, name=f"orcli-attempt-{number}", daemon=True).start()
        return flight

    def _gated(self, flight: Flight, sink: Callable[[Delta], None] | None) -> Callable[[Delta], None] | None:
        if sink is None:
            return None

        def gated(delta: Delta) -> None:
            if self.winner is flight:  # claim() ran before this attempt's first delta
                sink(delta)

        return gated

    def landed(self, flight: Flight, served: bool) -> None:
        flight.unhook()
        with self.lock:
            self.flying.remove(flight)
            if self.winner is flight and not served:
                self.winner = None  # it failed before writing anything: the next attempts may win

    def cut_all(self, reason: str) -> None:
        with self.lock:
            flying = list(self.flying)
        for f in flying:
            f.token.cancel(reason)


def run_hedged(
    ex: Executor, attempts: Iterable[PlannedAttempt], request: ChatRequest, stream: bool, hedge: float
) -> Result:
    """Executor.run with hedging after `hedge` seconds without content; the same results, failures, records."""
    from orcli.execution.executor import Failed, FailReason
    from orcli.execution.metering import Meter

    ex._meter = Meter(request, ex.profile_name)  # one request's usage bookkeeping, as Executor.run starts it
    race = _Race(ex, stream)
    book = _Book()
    skipped: set[str] = set()
    started = ex.clock()
    plan = _fresh(attempts, skipped)
    numbers = iter(range(1, 1_000_000))
    exhausted = False  # the plan has no attempt left to hedge with
    paired = False  # a hedge started beside the running attempt: no third until both have landed

    def start(hedge: bool) -> bool:
        if hedge and race.winner is not None:
            return True  # the running attempt answered just now: no hedge after all
        attempt = next(plan, None)
        if attempt is None:
            return False
        remaining = None if ex.overall_timeout is None else ex.overall_timeout - (ex.clock() - started)
        if remaining is not None and remaining <= 0:
            raise Failed(FailReason.TIMEOUT, book.ordered(), ex._timeout_message())
        if ex.cancel is not None and ex.cancel.is_set:
            raise Failed(FailReason.CANCELLED, book.ordered(), ex.cancel.reason or "cancelled")
        race.launch(attempt, next(numbers), hedge, request, remaining)
        return True

    try:
        while True:
            if not race.flying:
                if not start(hedge=False):
                    raise Failed(FailReason.ALL_FAILED, book.ordered(), "every attempt failed")
                paired = False
            wait = None
            if len(race.flying) == 1 and race.winner is None and not (exhausted or paired):
                wait = max(0.0, race.flying[0].t0 + hedge - ex.clock())
            try:
                flight, served, error = race.done.get(timeout=wait)
            except queue.Empty:
                exhausted = not start(hedge=True)
                paired = not exhausted
                continue
            winner = race.winner  # set before any attempt lands with an answer (claim comes first)
            race.landed(flight, served is not None)
            result = _settle(ex, winner, flight, served, error, book, skipped)
            if result is not None:
                _land_losers(race, book)
                return dataclasses.replace(result, attempts=book.ordered())
    except Failed as failed:
        race.cut_all("cancelled: the run ended")
        _land_losers(race, book)
        raise Failed(failed.reason, book.ordered(), failed.message) from None
    except BaseException:
        race.cut_all("interrupted")
        _land_losers(race, book)
        raise


class _Book:
    """Every attempt's report, listed at the end in the order the attempts started."""

    def __init__(self) -> None:
        self.reports: list[AttemptReport] = []
        self.numbers: list[int] = []

    def track(self, number: int, settle: Callable[[list[AttemptReport]], object]) -> object:
        before = len(self.reports)
        try:
            return settle(self.reports)
        finally:
            self.numbers.extend([number] * (len(self.reports) - before))

    def ordered(self) -> tuple[AttemptReport, ...]:
        pairs = sorted(zip(self.numbers, range(len(self.reports)), self.reports, strict=True))
        return tuple(report for _, _, report in pairs)


def _settle(
    ex: Executor,
    winner: Flight | None,
    flight: Flight,
    served: Served | None,
    error: BaseException | None,
    book: _Book,
    skipped: set[str],
) -> Result | None:
    """One attempt landed: its result, or None to go on (a loser, a failure the plan survives); raises
    Failed (or the sink's own exception) as the executor would without hedging."""
    from orcli.execution.classify import cancelled
    from orcli.execution.response import AttemptFailed

    n, a, t0, hedge = flight.number, flight.attempt, flight.t0, flight.hedge
    if served is not None and winner is not flight:
        # It finished too, but another claimed the answer first (its text is the one shown): not this one's.
        lost = AttemptFailed(cancelled("cancelled: another attempt answered first (hedge)"), partial=served.answer)
        _track_loser(ex, book, flight, lost)  # its answer was produced, and may be billed: its usage is recorded
        return None
    if served is not None:
        return book.track(n, lambda reports: ex.settle_success(a, served, t0, n, reports, hedge))  # type: ignore[return-value]
    if isinstance(error, AttemptFailed):
        if flight.lost:  # cut, or failed on its own while another's answer streams: it decides nothing now
            book.track(n, lambda reports: _settle_loser(ex, flight, error, reports))
        else:
            book.track(n, lambda reports: ex.settle_failure(a, error, t0, n, reports, skipped, hedge))
        return None
    assert error is not None
    book.track(n, lambda reports: ex.settle_abandoned(a, error, t0, reports, hedge))
    raise error


def _fresh(attempts: Iterable[PlannedAttempt], skipped: set[str]) -> Iterator[PlannedAttempt]:
    """The plan's attempts still to try: each endpoint at most once, none of a skipped model."""
    tried: set[tuple[str, str]] = set()
    for attempt in attempts:
        e = attempt.endpoint
        if e.model in skipped or e.key in tried:
            continue
        tried.add(e.key)
        yield attempt


def _settle_loser(ex: Executor, flight: Flight, error: AttemptFailed, reports: list[AttemptReport]) -> None:
    """An attempt that lost the race: reported and recorded as it ended (cut: `cancelled`, no health penalty),
    announced, never a reason to stop the run."""
    from orcli.execution.executor import Event, EventKind

    report = ex._report(flight.attempt, flight.t0, error.failure, error.ttft, hedge=flight.hedge)
    reports.append(report)
    ex._record(flight.attempt, report, error.failure, error.partial)  # a cut stream may have cost something
    ex.on_event(Event(EventKind.FAILED, flight.attempt, report.error or "", number=flight.number))


def _land_losers(race: _Race, book: _Book) -> None:
    """Wait (briefly) for every attempt still in flight, now cut, and settle it as cancelled."""
    from orcli.execution.classify import cancelled
    from orcli.execution.response import AttemptFailed

    while race.flying:
        try:
            flight, served, error = race.done.get(timeout=LOSER_GRACE)
        except queue.Empty:
            break  # a thread that did not notice its cut: its own deadlines end it; nothing more is waited for
        race.landed(flight, False)
        if not isinstance(error, AttemptFailed):  # it finished before the cut took: still not the answer
            error = AttemptFailed(
                cancelled(flight.token.reason or "cancelled"), partial=None if served is None else served.answer
            )
        _track_loser(race.ex, book, flight, error)


def _track_loser(ex: Executor, book: _Book, flight: Flight, error: AttemptFailed) -> None:
    book.track(flight.number, lambda reports: _settle_loser(ex, flight, error, reports))
