"""An attempt's cost (docs/usage.md): prices x tokens, estimated when the provider reported none, unknown (never
0) without a price, 0 when nothing was produced; and which counts an attempt opens in `orcli usage`."""

from __future__ import annotations

import pytest

from orcli.execution.metering import Meter
from orcli.routing.spend import NOTHING, attempt_usage, cost_usd
from orcli.types import Outcome, Price
from orcli.wire.base import Answer, ChatRequest, ToolCall, Usage

PRICE = Price(prompt=2.0, completion=8.0, request=0.001)


def test_cost_is_prompt_and_completion_tokens_at_their_prices_plus_the_request_price() -> None:
    assert cost_usd(PRICE, 1000, 500) == pytest.approx(1000 * 2 / 1e6 + 500 * 8 / 1e6 + 0.001)
    assert cost_usd(Price(0.0, 0.0, 0.0), 10, 10) == 0.0, "free is free"
    assert cost_usd(None, 10, 10) is None, "unknown is not free"


def test_reported_counts_are_used_and_missing_ones_estimated_and_marked() -> None:
    reported = attempt_usage(PRICE, 100, 20, prompt_text_tokens=7, produced_text="x" * 400, produced=True)
    assert (reported.prompt_tokens, reported.completion_tokens, reported.estimated) == (100, 20, False)
    estimated = attempt_usage(PRICE, None, None, prompt_text_tokens=7, produced_text="abcdefghi", produced=True)
    assert (estimated.prompt_tokens, estimated.completion_tokens, estimated.estimated) == (7, 3, True)
    assert estimated.cost_usd == pytest.approx(7 * 2 / 1e6 + 3 * 8 / 1e6 + 0.001)
    half = attempt_usage(PRICE, 100, None, prompt_text_tokens=7, produced_text="abcd", produced=True)
    assert (half.prompt_tokens, half.completion_tokens, half.estimated) == (100, 1, True)


def test_nothing_produced_costs_nothing_even_at_an_unknown_price() -> None:
    assert attempt_usage(None, None, None, prompt_text_tokens=50, produced_text="", produced=False) == NOTHING
    assert NOTHING.cost_usd == 0.0
    assert attempt_usage(None, 5, 5, prompt_text_tokens=50, produced_text="hi", produced=True).cost_usd is None


def test_the_meter_charges_what_an_attempt_produced_and_counts_each_request_once() -> None:
    meter = Meter(ChatRequest(({"role": "user", "content": "x" * 40},), system="y" * 8), "work")
    assert meter.prompt_tokens == 12 and meter.request_id and meter.profile == "work"
    base = Outcome(at=1.0, model="m", provider="p", ok=False)
    filtered, spent = meter.stamp(base, PRICE, Answer(content="partial text", finish_reason="content_filter"))
    assert (filtered.prompt_tokens, filtered.completion_tokens, filtered.tokens_estimated) == (12, 3, True)
    assert filtered.cost_usd == pytest.approx(spent.cost_usd) and spent.cost_usd > 0.001
    assert (filtered.first_of_request, filtered.first_on_model, filtered.first_at_provider) == (True, True, True)
    failed, _ = meter.stamp(base._replace(provider="q"), PRICE, None)
    assert (failed.cost_usd, failed.prompt_tokens) == (0.0, 0)
    assert (failed.first_of_request, failed.first_on_model, failed.first_at_provider) == (False, False, True)
    called = Answer(content="", tool_calls=(ToolCall("c1", "lookup", '{"q": "abc"}'),), usage=Usage(30, None))
    tools, _ = meter.stamp(base._replace(model="n"), PRICE, called)
    assert (tools.prompt_tokens, tools.completion_tokens, tools.first_on_model) == (30, 5, True)
    assert tools.request_id == failed.request_id == filtered.request_id
    assert Meter(ChatRequest(({"role": "user", "content": "hi"},))).request_id != meter.request_id
