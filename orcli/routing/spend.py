"""What an attempt cost and whether a request fits the budget: pure arithmetic, no clock, no store.

An attempt's cost is prompt tokens x the prompt price + completion tokens x the completion price + the
per-request price, at the endpoint's prices when the call was made (docs/usage.md). An unknown price is an
unknown cost (None), never 0; an attempt that produced nothing costs 0, whatever its price.
"""

from __future__ import annotations

from typing import NamedTuple

from orcli.routing.prompt import estimate_tokens
from orcli.types import BudgetSettings, Price, Spend

DAY = "day"
MONTH = "month"


class AttemptUsage(NamedTuple):
    """Tokens and cost of one attempt, as the usage record keeps them."""

    prompt_tokens: int
    completion_tokens: int
    estimated: bool  # some count was estimated from text because the provider reported none
    cost_usd: float | None


NOTHING = AttemptUsage(0, 0, False, 0.0)


def cost_usd(price: Price | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD for these tokens at `price` (per 1M tokens, plus the per-request price); None when unknown."""
    if price is None:
        return None
    total = prompt_tokens * price.prompt / 1e6 + completion_tokens * price.completion / 1e6 + price.request
    return round(total, 10)


def attempt_usage(
    price: Price | None,
    reported_prompt: int | None,
    reported_completion: int | None,
    prompt_text_tokens: int,
    produced_text: str | None,
    produced: bool,
) -> AttemptUsage:
    """One attempt's usage. `produced`: the provider answered or streamed something (content, reasoning, tool
    calls, or a usage report); otherwise nothing was generated and the attempt costs 0. A count the provider
    did not report is estimated from text length (the prompt's, and what it streamed) and marked so."""
    if not produced:
        return NOTHING
    estimated = reported_prompt is None or reported_completion is None
    prompt = reported_prompt if reported_prompt is not None else prompt_text_tokens
    completion = reported_completion if reported_completion is not None else estimate_tokens(produced_text)
    return AttemptUsage(prompt, completion, estimated, cost_usd(price, prompt, completion))


class BudgetCheck(NamedTuple):
    """Whether a request's expected cost fits the budgets; `detail` says which budget it would exceed."""

    fits: bool
    detail: str = ""


def money(value: float) -> str:
    """USD as a person reads it: cents for amounts from a dollar up, four significant digits below."""
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.4g}"


def check_budget(budget: BudgetSettings, spend: Spend, expected: float | None) -> BudgetCheck:
    """Known spend + the request's expected cost must not exceed a budget (equal is allowed). An expected cost
    of None (unknown price) counts 0: the request is refused only once the spend alone is over."""
    cost = expected or 0.0
    for period, limit, spent in ((DAY, budget.daily_usd, spend.day_usd), (MONTH, budget.monthly_usd, spend.month_usd)):
        if limit is not None and spent + cost > limit + 1e-12:
            what = "expected cost unknown (price unknown)" if expected is None else f"expected cost {money(cost)}"
            name = "daily_usd" if period == DAY else "monthly_usd"
            return BudgetCheck(
                False,
                f"budget {name} = {money(limit)}: spent {money(spent)} this {period} (UTC) + {what} > {money(limit)}",
            )
    return BudgetCheck(True)


def budget_left(budget: BudgetSettings, spend: Spend) -> dict[str, float | None]:
    """What is left of each budget (None: no such budget); never below 0."""
    return {
        "daily_usd": None if budget.daily_usd is None else max(0.0, budget.daily_usd - spend.day_usd),
        "monthly_usd": None if budget.monthly_usd is None else max(0.0, budget.monthly_usd - spend.month_usd),
    }
