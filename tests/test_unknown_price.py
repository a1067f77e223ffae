"""An endpoint without a price has an unknown price, never a free one (docs/routing.md#expected-price, issue: unknown is not free)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from cli_harness import MODEL, Cli
from upstream import Upstream, ok

from orcli.profile.parse import parse_profile
from orcli.routing.planner import expected_cost, plan
from orcli.routing.preferences import merge
from orcli.types import HealthSnapshot, MaxPrice, Request

PROFILE = """
[routing]
models = ["m"]
[providers.priced]
base_url = "https://priced.example/v1"
[providers.dear]
base_url = "https://dear.example/v1"
[providers.unpriced]
base_url = "https://unpriced.example/v1"
[[endpoint]]
model = "m"
provider = "priced"
price = { prompt = 1, completion = 1 }
[[endpoint]]
model = "m"
provider = "dear"
price = { prompt = 30, completion = 30 }
[[endpoint]]
model = "m"
provider = "unpriced"
"""


def _plan(**overrides: object):
    profile = parse_profile(PROFILE, "p.toml")
    prefs = merge(profile.routing, overrides)
    return plan(profile, Request(), prefs, HealthSnapshot(), seed=random.randrange(10**6), has_key=lambda p: True)


def test_a_profile_without_a_price_loads_as_unknown_not_free() -> None:
    profile = parse_profile(PROFILE, "p.toml")
    unpriced = next(e for e in profile.endpoints if e.provider == "unpriced")
    assert unpriced.price is None
    assert expected_cost(unpriced, Request()) is None


def test_max_price_rejects_an_unknown_price_saying_so() -> None:
    p = _plan(max_price=MaxPrice(prompt=100.0))
    assert [(r.provider, r.code.value) for r in p.rejected] == [("unpriced", "max_price")]
    assert "price unknown" in p.rejected[0].detail
    assert {a.endpoint.provider for a in p.attempts} == {"priced", "dear"}


def test_sort_price_puts_an_unknown_price_after_every_priced_endpoint() -> None:
    p = _plan(sort="price")
    assert [a.endpoint.provider for a in p.attempts] == ["priced", "dear", "unpriced"]
    assert p.attempts[-1].cost_usd is None and "price unknown" in p.attempts[-1].reason


@pytest.mark.parametrize("draw", range(40))
def test_the_weighted_draw_never_puts_an_unknown_price_before_a_priced_one(draw: int) -> None:
    p = _plan()
    assert p.attempts[-1].endpoint.provider == "unpriced", [a.endpoint.provider for a in p.attempts]
    assert "after priced" in p.attempts[-1].reason


def test_explain_route_and_providers_show_unknown_not_free(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(PROFILE)
    cli = Cli(None, tmp_path)
    doc = cli("explain-route", "--profile", str(profile), "--no-stdin", "--json", "--sort", "price").json()
    last = doc["attempts"][-1]
    assert last["provider"] == "unpriced"
    assert last["price"] == {"expected_usd": None, "prompt": None, "completion": None, "request": None}
    providers = cli("providers", "--profile", str(profile), "--json").json()
    unpriced = next(p for p in providers["providers"] if p["name"] == "unpriced")
    assert unpriced["endpoints"][0]["price"] == {"prompt": None, "completion": None, "request": None}
    table = cli("providers", "--profile", str(profile)).out
    row = next(line for line in table.splitlines() if "unpriced" in line)
    assert "?" in row and "free" not in row


def test_ask_reports_cost_null_for_an_endpoint_of_unknown_price(upstream: Upstream, tmp_path: Path) -> None:
    cli = Cli(upstream, tmp_path)
    cli.profile(["a"], endpoints=[{"model": MODEL, "provider": "a", "context_length": 8192}])
    upstream.script("a", ok("hello"))
    run = cli("ask", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert doc["usage"]["completion_tokens"] == 1 and doc["cost_usd"] is None
