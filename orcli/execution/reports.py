"""What running a plan reports: each attempt's record, the served result, the failure that ends a run, and
the progress events an attempt goes through (start, failed, served, a model skipped). Plain values: the
executor builds them, callers (ask, serve, probes, hedges) read them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from orcli.execution.classify import Failure
from orcli.routing.spend import AttemptUsage
from orcli.routing.spend import cost_usd as price_of_tokens
from orcli.types import FailureClass, PlannedAttempt
from orcli.wire.base import Answer, Usage


class AttemptOutcome(StrEnum):
    """How one attempt ended, as --json's `attempts[].outcome` shows it."""

    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FailReason(StrEnum):
    """Why `run` gave up: every attempt failed, the request was refused, a stream broke, --timeout, or the
    provider's content filter stopped an answer already partly written (a model event, docs/failures.md#failure-classes)."""

    ALL_FAILED = "all_failed"
    REQUEST = "request"
    STREAM = "stream"
    TIMEOUT = "timeout"
    FILTERED = "filtered"
    CANCELLED = "cancelled"  # the caller's cancel token: its client left, or its grace ran out


class EventKind(StrEnum):
    START = "start"
    FAILED = "failed"
    SERVED = "served"
    SKIP_MODEL = "skip_model"
    WON = "won"  # hedging: this attempt's content came first; the other in flight is being cancelled


@dataclass(frozen=True, slots=True)
class AttemptReport:
    """What one attempt did, for -v, --json and the failure summary; built once, when the attempt is over."""

    model: str
    provider: str
    upstream_model: str
    outcome: AttemptOutcome
    error_class: str | None = None
    status: int | None = None
    error: str | None = None
    kind: str | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    hedge: bool = False  # started beside a running attempt that had no content yet (execution/hedge.py)

    def as_json(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["outcome"] = self.outcome.value
        doc["kind"] = None if self.kind is None else str(self.kind)
        return doc


@dataclass(frozen=True, slots=True)
class Result:
    """The served answer, the attempt that served it, its cost (as recorded: from the provider's usage, or
    estimated from text when it sent none, docs/usage.md), and every attempt in order."""

    answer: Answer
    attempt: PlannedAttempt
    cost_usd: float | None
    attempts: tuple[AttemptReport, ...]
    spent: AttemptUsage | None = None  # the served attempt's tokens and cost, as the store records them

    @property
    def content(self) -> str:
        return self.answer.content or ""

    @property
    def finish_reason(self) -> str | None:
        return self.answer.finish_reason

    @property
    def usage(self) -> Usage | None:
        return self.answer.usage

    @property
    def served_model(self) -> str | None:
        """The model name the provider reported serving, when it did."""
        return self.answer.model


@dataclass(slots=True)
class Failed(Exception):
    """Every attempt failed, the request was refused, or a stream broke after output began."""

    reason: FailReason
    attempts: tuple[AttemptReport, ...] = ()
    message: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    """A progress note for -v: an attempt starts, fails, or serves."""

    kind: EventKind
    attempt: PlannedAttempt
    detail: str = ""
    number: int = 0  # 1, 2, 3 … in the order attempts were made (plan ranks skip after a model skip)


class Served(NamedTuple):
    """A served attempt: its answer, its time to first token, its status."""

    answer: Answer
    ttft: float | None
    status: int = 200


def attempt_report(
    attempt: PlannedAttempt,
    latency_s: float,
    failure: Failure | None,
    ttft: float | None,
    status: int | None = None,
    hedge: bool = False,
) -> AttemptReport:
    """The attempt's one record. Failure messages come from classify, already redacted and on one line."""
    e = attempt.endpoint
    ttft_s = None if ttft is None else round(ttft, 4)
    if failure is None:
        return AttemptReport(
            e.model,
            e.provider,
            e.upstream_model,
            AttemptOutcome.SUCCESS,
            status=status,
            latency_s=latency_s,
            ttft_s=ttft_s,
            hedge=hedge,
        )
    outcome = AttemptOutcome.CANCELLED if failure.cls is FailureClass.CANCELLED else AttemptOutcome.FAILED
    return AttemptReport(
        e.model,
        e.provider,
        e.upstream_model,
        outcome,
        error_class=failure.cls.value,
        status=failure.status,
        error=failure.message,
        kind=str(failure.kind),
        latency_s=latency_s,
        ttft_s=ttft_s,
        hedge=hedge,
    )


def cost_of(attempt: PlannedAttempt, usage: Usage | None) -> float | None:
    """USD from the reported usage and the endpoint's list prices; None when usage or price is unknown."""
    if usage is None or usage.prompt_tokens is None or usage.completion_tokens is None:
        return None
    return price_of_tokens(attempt.endpoint.price, usage.prompt_tokens, usage.completion_tokens)
