"""The effective-price balance (docs/routing.md, "Balance"): shares of a model's stable endpoints from what a
good answer would really cost at each, not from list price alone. Pure.

    adjusted = cost × (1 + ttft / TTFT_SCALE_S) × (1 + TPS_SCALE / tokens_per_s) × 1 / (1 − failure_rate)

- cost: the request's expected cost at list prices (docs/routing.md, "Expected price").
- ttft: observed median time to first token (else the profile's hint). Waiting is a cost: at TTFT_SCALE_S
  seconds the answer counts twice as dear.
- tokens_per_s: observed median throughput (else the hint). A slow stream is a cost: at TPS_SCALE tokens/s
  it counts twice as dear.
- failure_rate: failures / (requests + 1) in the health window. 1 / (1 − rate) is the expected number of
  attempts for one answer (the +1 keeps a single failure from condemning an endpoint outright).

An endpoint without an observation and without a hint is taken to be a typical peer: the median of the
others' factors (1 when none has one). Shares: weight = (cheapest adjusted / adjusted)^STEEPNESS, so being a
little dearer costs little and being far dearer costs a lot; then every endpoint keeps FLOOR:
share = FLOOR + (1 − n·FLOOR) · weight / Σ weight. The first attempt is drawn by share, each retry the same way
from those left (Efraimidis–Spirakis keys, O(n log n)).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

TTFT_SCALE_S = 2.0
TPS_SCALE = 50.0
STEEPNESS = 4.0
FLOOR = 0.01  # every eligible endpoint's exploration share
MAX_FAILURE_RATE = 0.95  # the reliability factor stays finite: at most 20×
FREE_COST = 1e-9  # USD: a free endpoint is the cheapest possible, yet the others keep their floor


class Stats(Protocol):
    """What the balance reads of a candidate (ordering.Candidate has it)."""

    @property
    def cost(self) -> float | None: ...

    @property
    def latency(self) -> float | None: ...

    @property
    def throughput(self) -> float | None: ...

    @property
    def failure_rate(self) -> float: ...


class Weighed(NamedTuple):
    adjusted_usd: float
    share: float


def _median(values: list[float]) -> float:
    """The median (statistics would cost start-up time for one line)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _factors(values: Sequence[float | None], factor: Callable[[float], float]) -> list[float]:
    """Each value's factor; a missing value takes the median factor of those known (a typical peer)."""
    known = [factor(v) for v in values if v is not None and v > 0]
    typical = _median(known) if known else 1.0
    return [factor(v) if v is not None and v > 0 else typical for v in values]


def adjusted_prices(candidates: Sequence[Stats]) -> list[float]:
    """Each candidate's adjusted price in USD (candidates have a known cost)."""
    latency = _factors([c.latency for c in candidates], lambda t: 1.0 + t / TTFT_SCALE_S)
    speed = _factors([c.throughput for c in candidates], lambda tps: 1.0 + TPS_SCALE / tps)
    out = []
    for c, lat, spd in zip(candidates, latency, speed, strict=True):
        cost = max(c.cost or 0.0, FREE_COST)
        reliability = 1.0 / (1.0 - min(c.failure_rate, MAX_FAILURE_RATE))
        out.append(cost * lat * spd * reliability)
    return out


def shares(adjusted: Sequence[float]) -> list[float]:
    """First-pick shares from adjusted prices: steep fall-off, FLOOR each, sum 1."""
    n = len(adjusted)
    if n == 0:
        return []
    if n * FLOOR >= 1.0:
        return [1.0 / n] * n
    cheapest = min(adjusted)
    # Relative to the cheapest: no overflow for tiny or huge prices; the cheapest weighs 1.
    weights = [(cheapest / a) ** STEEPNESS for a in adjusted]
    total = sum(weights)
    free = 1.0 - n * FLOOR
    return [FLOOR + free * w / total for w in weights]


def weigh(candidates: Sequence[Stats]) -> list[Weighed]:
    adjusted = adjusted_prices(candidates)
    return [Weighed(a, s) for a, s in zip(adjusted, shares(adjusted), strict=True)]


def draw_order(share_list: Sequence[float], rng: random.Random) -> list[int]:
    """Indices in draw order: the first by share, each next by share among those left.

    Sequential weighted draws without replacement = sorting by u^(1/w) descending (Efraimidis–Spirakis);
    ln(u)/w keeps it in float range.
    """
    keyed = []
    for i, share in enumerate(share_list):
        u = rng.random() or 1e-300
        keyed.append((math.log(u) / share, i))
    keyed.sort(reverse=True)
    return [i for _, i in keyed]
