"""docs/routing.md#ordering ordering: order-first, sort, the inverse-square draw, health demotion, soft preferences; pure."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import NamedTuple

from orcli.routing.names import name_matches
from orcli.types import Balance, Endpoint, EndpointHealth, HealthState, Partition, Preferences, Sort

_UNKNOWN = math.inf


class Candidate(NamedTuple):
    endpoint: Endpoint
    cost: float | None  # expected USD for this request; None: unknown price (never free, docs/routing.md#ordering)
    health: EndpointHealth
    model_rank: int
    share: float | None = None  # chance to be drawn first in its balanced group (None: not drawn)
    adjusted: float | None = None  # the effective balance's adjusted price in USD (balance.py)

    @property
    def latency(self) -> float | None:
        """Observed median time to first token, else the profile's static hint."""
        return self.health.median_ttft if self.health.median_ttft is not None else self.endpoint.latency

    @property
    def throughput(self) -> float | None:
        return self.health.median_tps if self.health.median_tps is not None else self.endpoint.throughput

    @property
    def failure_rate(self) -> float:
        """Failures in the health window, smoothed by one imagined success: one failure in one request is 0.5."""
        return self.health.failures / (self.health.requests + 1)


Ranked = list[tuple[Candidate, str]]


def sort_key(sort: Sort, c: Candidate) -> tuple[float, float]:
    """Smaller is better; unknown values (an unknown price too) go last."""
    latency = c.latency if c.latency is not None else _UNKNOWN
    cost = c.cost if c.cost is not None else _UNKNOWN
    if sort is Sort.PRICE:
        return (cost, latency)
    if sort is Sort.LATENCY:
        return (latency, cost)
    throughput = -c.throughput if c.throughput is not None else _UNKNOWN
    return (throughput, cost)


def _sort_reason(sort: Sort, c: Candidate) -> str:
    if sort is Sort.PRICE:
        return f"sort=price: ${c.cost:.6f} expected" if c.cost is not None else "sort=price: price unknown, last"
    if sort is Sort.LATENCY:
        source = "observed" if c.health.median_ttft is not None else "hint"
        return f"sort=latency: {c.latency:.2f}s ({source})" if c.latency is not None else "sort=latency: unknown, last"
    source = "observed" if c.health.median_tps is not None else "hint"
    return (
        f"sort=throughput: {c.throughput:.0f} tok/s ({source})"
        if c.throughput is not None
        else "sort=throughput: unknown, last"
    )


def _first_pick_shares(candidates: Sequence[Candidate]) -> list[float]:
    """Each endpoint's chance to be drawn first: (1/price²) / Σ(1/price²), computed relative to the cheapest
    price so that neither tiny nor huge prices overflow; any free endpoint takes it all. Priced endpoints
    only: the draw never sees an unknown price."""
    if any(c.cost == 0 for c in candidates):
        free = sum(1 for c in candidates if c.cost == 0)
        return [1 / free if c.cost == 0 else 0.0 for c in candidates]
    cheapest = min((c.cost for c in candidates if c.cost is not None), default=1.0)
    weights = [(cheapest / c.cost) ** 2 for c in candidates if c.cost is not None]
    total = sum(weights)
    return [w / total for w in weights]


def inverse_square_draw(candidates: Sequence[Candidate], rng: random.Random) -> list[Candidate]:
    """OpenRouter's default: repeated weighted draws with weight 1/price², without replacement.

    Sequential weighted draws without replacement equal sorting by u^(1/w) (Efraimidis–Spirakis), which
    is O(n log n) instead of O(n²). With w = 1/cost² the key's logarithm is cost² · ln(u): a free
    endpoint's key is 0, the largest possible, so it wins outright.
    """
    keyed = []
    # Costs relative to the cheapest: the same weights, without overflow for absurd prices.
    cheapest = min((c.cost for c in candidates if c.cost), default=1.0)
    for c in candidates:
        u = rng.random() or 1e-300
        relative = (c.cost or 0.0) / cheapest
        keyed.append((relative * relative * math.log(u), u, c))
    keyed.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [c for _, _, c in keyed]


def _order_position(order: Sequence[str], provider: str) -> int | None:
    for i, rule in enumerate(order):
        if name_matches(rule, provider):
            return i
    return None


def _rank_free(candidates: list[Candidate], prefs: Preferences, rng: random.Random) -> Ranked:
    """Rank endpoints not pinned by `order`: by sort key, or by the load-balanced draw.

    Either way an endpoint with a recent outage (unstable) goes after the stable ones (docs/routing.md#rejections: health
    moves it to the back of its model's list, it does not reject it).
    """
    stable = [c for c in candidates if c.health.stable]
    unstable = [c for c in candidates if not c.health.stable]
    if prefs.sort is not None:
        by = prefs.sort
        out = [(c, _sort_reason(by, c)) for c in sorted(stable, key=lambda c: sort_key(by, c))]
        for c in sorted(unstable, key=lambda c: sort_key(by, c)):
            out.append((c, f"{c.health.describe()}: after stable endpoints; {_sort_reason(by, c)}"))
        return out
    priced = [c for c in stable if c.cost is not None]
    out = _effective_draw(priced, rng) if prefs.balance == Balance.EFFECTIVE else _inverse_square(priced, rng)
    if len(stable) == 1 and out:
        out = [(out[0][0], "only stable endpoint")]
    # An unknown price is never free: such endpoints follow the priced ones, in profile order (docs/routing.md#ordering).
    for c in (c for c in stable if c.cost is None):
        out.append((c, "only stable endpoint" if len(stable) == 1 else "price unknown: after priced stable endpoints"))
    for c in sorted(unstable, key=lambda c: (c.cost is None, c.cost or 0.0, c.endpoint.provider)):
        out.append((c, f"{c.health.describe()}: after stable endpoints, cheapest first"))
    return out


def _inverse_square(priced: list[Candidate], rng: random.Random) -> Ranked:
    drawn = inverse_square_draw(priced, rng)
    out: Ranked = []
    for c, share in zip(drawn, _first_pick_shares(drawn), strict=True):
        if c.cost == 0:
            why = "free: wins the weighted draw outright"
        else:
            why = f"weighted draw 1/price² ({share:.0%} chance to be first) among {len(priced)} stable priced"
        out.append((c._replace(share=share), why))
    return out


def _effective_draw(priced: list[Candidate], rng: random.Random) -> Ranked:
    """balance = "effective" (balance.py): shares from adjusted prices, drawn without replacement."""
    from orcli.routing.balance import draw_order, weigh

    weighed = weigh(priced)
    out: Ranked = []
    for i in draw_order([w.share for w in weighed], rng):
        c, w = priced[i], weighed[i]
        why = (
            f"effective balance: {w.share:.0%} share among {len(priced)} stable priced "
            f"(adjusted ${w.adjusted_usd:.4g} from ${c.cost:.4g})"
        )
        out.append((c._replace(share=w.share, adjusted=w.adjusted_usd), why))
    return out


def _misses_soft_preferences(c: Candidate, prefs: Preferences) -> str | None:
    misses = []
    if prefs.preferred_max_latency is not None and c.latency is not None and c.latency > prefs.preferred_max_latency:
        misses.append(f"latency {c.latency:.2f}s > preferred {prefs.preferred_max_latency:g}s")
    if (
        prefs.preferred_min_throughput is not None
        and c.throughput is not None
        and c.throughput < prefs.preferred_min_throughput
    ):
        misses.append(f"throughput {c.throughput:.0f} < preferred {prefs.preferred_min_throughput:g} tok/s")
    return "; ".join(misses) or None


def _rank_group(candidates: list[Candidate], prefs: Preferences, rng: random.Random) -> Ranked:
    """Order-pinned endpoints first in `order`'s order, then the rest; soft misses after soft hits."""
    pinned: list[tuple[int, int, Candidate]] = []
    free: list[Candidate] = []
    positions: dict[str, int | None] = {}
    for i, c in enumerate(candidates):
        pos = None
        if prefs.order:
            name = c.endpoint.provider
            if name not in positions:
                positions[name] = _order_position(prefs.order, name)
            pos = positions[name]
        if pos is None:
            free.append(c)
        else:
            pinned.append((pos, i, c))
    pinned.sort(key=lambda t: (t[0], sort_key(prefs.sort or Sort.PRICE, t[2]), t[1]))
    ranked: Ranked = [(c, f"order #{pos + 1} ({prefs.order[pos]})") for pos, _, c in pinned]
    rest = _rank_free(free, prefs, rng)
    if prefs.preferred_max_latency is None and prefs.preferred_min_throughput is None:
        return ranked + rest
    meets: Ranked = []
    misses: Ranked = []
    for c, why in rest:
        missed = _misses_soft_preferences(c, prefs)
        if missed is None:
            meets.append((c, why))
        else:
            misses.append((c, f"{why}; demoted: {missed}"))
    return ranked + meets + misses


def order_candidates(by_model: list[list[Candidate]], prefs: Preferences, rng: random.Random) -> Ranked:
    """Partition `model` ranks each model's endpoints in turn; `none` ranks them all together."""
    groups = by_model if prefs.partition is Partition.MODEL else [[c for group in by_model for c in group]]
    ready: Ranked = []
    cooling: Ranked = []
    for group in groups:
        for c, why in _rank_group(group, prefs, rng):
            # COOLDOWN means a breaker period or a Retry-After backoff is still running (health.py): a
            # half-open endpoint is HEALTHY/UNSTABLE, so half_open with COOLDOWN is a backoff and waits too.
            if c.health.state is HealthState.COOLDOWN:
                cooling.append((c, f"{c.health.describe()}: circuit open, tried last ({why})"))
            else:
                if c.health.half_open:
                    why = f"{why}; half-open: one trial attempt"
                ready.append((c, why))
        if prefs.partition is Partition.MODEL:
            ready.extend(cooling)
            cooling = []
    if prefs.partition is Partition.NONE:
        ready = [(c, f"partition none: {why}") for c, why in ready + cooling]
    return ready
