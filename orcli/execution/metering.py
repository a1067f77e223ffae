"""What an attempt used: its request's id and prompt size, which counts an attempt opens, and the tokens and
cost of what it produced (docs/usage.md). The executor asks; the arithmetic is routing/spend.py's."""

from __future__ import annotations

import os

from orcli.routing.prompt import estimate_tokens
from orcli.routing.spend import NOTHING, AttemptUsage, attempt_usage
from orcli.types import Outcome, Price
from orcli.wire.base import Answer, ChatRequest


class Meter:
    """One request's usage bookkeeping: a fresh id, the prompt's estimated size (what an attempt without a usage
    report is charged for), and the models and providers its attempts have reached so far."""

    def __init__(self, request: ChatRequest | None = None, profile: str | None = None) -> None:
        self.profile = profile
        self.request_id = os.urandom(8).hex() if request is not None else None
        texts = () if request is None else (request.system, *(_text_of(m.get("content")) for m in request.messages))
        self.prompt_tokens = estimate_tokens(*texts)
        self._reached: set[tuple[str, str]] = set()

    def opens(self, model: str, provider: str) -> tuple[bool, bool, bool]:
        """Whether an attempt at (model, provider) is its request's first, first on the model, first at the
        provider: what `orcli usage` counts as one request per row (then remembered as reached)."""
        reached = self._reached
        counts = (not reached, ("model", model) not in reached, ("provider", provider) not in reached)
        reached.update((("model", model), ("provider", provider)))
        return counts

    def stamp(self, outcome: Outcome, price: Price | None, answer: Answer | None) -> tuple[Outcome, AttemptUsage]:
        """The attempt's health outcome with its usage added: tokens, cost, profile, request and the counts it
        opens. `answer`: what it produced (None: nothing, which costs 0)."""
        spent = NOTHING if answer is None else self.usage(price, answer)
        first_of_request, first_on_model, first_at_provider = self.opens(outcome.model, outcome.provider)
        stamped = outcome._replace(
            prompt_tokens=spent.prompt_tokens,
            completion_tokens=spent.completion_tokens,
            tokens_estimated=spent.estimated,
            cost_usd=spent.cost_usd,
            profile=self.profile,
            request_id=self.request_id,
            first_of_request=first_of_request,
            first_on_model=first_on_model,
            first_at_provider=first_at_provider,
        )
        return stamped, spent

    def usage(self, price: Price | None, answer: Answer) -> AttemptUsage:
        """Tokens and cost of an attempt that produced `answer` (whole, or what a broken stream carried)."""
        usage = answer.usage
        produced = [answer.content, answer.reasoning, *(c.name + c.arguments for c in answer.tool_calls)]
        return attempt_usage(
            price,
            None if usage is None else usage.prompt_tokens,
            None if usage is None else usage.completion_tokens,
            self.prompt_tokens,
            "".join(t for t in produced if t),
            produced=any(produced) or usage is not None,
        )


def _text_of(content: object) -> str | None:
    """A message's text for the size estimate: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return None


def tokens_per_second(answer: Answer | None, latency_s: float | None, ttft_s: float | None) -> float | None:
    """A served answer's generation speed for health (docs/health.md): its completion tokens (reported, else
    about four characters a token) over the time from its first token to its end; None when unmeasurable."""
    if answer is None or not latency_s or ttft_s is None:
        return None
    counted = answer.usage.completion_tokens if answer.usage is not None else None
    tokens = counted or max(1, len(answer.content or "") // 4)
    generating = latency_s - ttft_s
    return round(tokens / generating, 2) if generating > 0.001 else None
