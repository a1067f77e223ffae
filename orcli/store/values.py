"""What every health backend stores of an outcome: one order, shared by SQLite and Redis."""

from __future__ import annotations

from orcli.types import Outcome


def outcome_values(outcome: Outcome) -> tuple[object, ...]:
    """What every backend stores of an outcome besides its endpoint, in one order: at, ok (0/1), class,
    status, latency, ttft, tokens/s, error, retry_after. Nothing else (docs/health.md#the-store)."""
    return (
        outcome.at,
        1 if outcome.ok else 0,
        None if outcome.error_class is None else outcome.error_class.value,
        outcome.status,
        outcome.latency_s,
        outcome.ttft_s,
        outcome.tokens_per_s,
        outcome.error,
        outcome.retry_after,
    )
