"""Budgets (docs/usage.md): the pure check at the boundary, then real orcli processes - ask exits 3 without a
request, explain-route shows the rejection and what is left, serve answers 402, other profiles sharing the
store count, and twenty asks started at once against a budget that fits five send exactly five."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest
from cli_harness import MODEL, Cli
from upstream import Ok, Upstream, key_env, write_profile

from orcli.routing.planner import plan
from orcli.routing.spend import check_budget
from orcli.types import BudgetSettings, Endpoint, Preferences, Price, Profile, Provider, RejectionCode, Request, Spend

CENT = 0.01  # every request below costs exactly its request price: tokens are free on these endpoints


# -- the pure check -------------------------------------------------------------------------------------
def test_spend_plus_expected_cost_may_reach_the_budget_but_not_pass_it() -> None:
    daily = BudgetSettings(daily_usd=0.05)
    assert check_budget(daily, Spend(0.04, 0.04), 0.01).fits  # exactly at the budget
    over = check_budget(daily, Spend(0.0401, 0.0401), 0.01)
    assert not over.fits
    assert "daily_usd = $0.05" in over.detail and "spent $0.0401" in over.detail and "$0.01" in over.detail
    monthly = BudgetSettings(monthly_usd=10.0)
    assert check_budget(monthly, Spend(100.0, 9.5), 0.5).fits, "a monthly budget ignores the day's spend"
    assert "monthly_usd = $10.00" in check_budget(monthly, Spend(0.0, 9.6), 0.5).detail
    assert check_budget(daily, Spend(0.05, 0.05), None).fits, "an unknown expected cost counts 0"
    assert not check_budget(daily, Spend(0.06, 0.06), None).fits, "but spend already over still stops it"


def test_the_planner_rejects_every_candidate_with_code_budget() -> None:
    providers = {n: Provider(name=n, base_url=f"https://{n}.example/v1") for n in ("a", "b")}
    endpoints = tuple(Endpoint(MODEL, n, MODEL, price=Price(0.0, 0.0, CENT)) for n in providers)
    profile = Profile(
        "t",
        "t.toml",
        MappingProxyType(providers),
        endpoints,
        MappingProxyType({}),
        budget=BudgetSettings(daily_usd=0.05),
    )
    prefs = Preferences(models=(MODEL,))
    fits = plan(profile, Request(), prefs, _no_health(), spend=Spend(0.04, 0.04))
    assert [a.endpoint.provider for a in fits.attempts] and not fits.rejected
    over = plan(profile, Request(), prefs, _no_health(), spend=Spend(0.045, 0.045))
    assert over.attempts == ()
    assert {(r.provider, r.code) for r in over.rejected} == {("a", RejectionCode.BUDGET), ("b", RejectionCode.BUDGET)}


def _no_health() -> Any:
    from orcli.types import HealthSnapshot

    return HealthSnapshot()


# -- end to end ----------------------------------------------------------------------------------------
@pytest.fixture
def cli(upstream: Upstream, tmp_path: Path) -> Cli:
    return Cli(upstream, tmp_path)


def budget_profile(
    cli: Cli, upstream: Upstream, budget: str, name: str = "budgeted", health: dict[str, float] | None = None
) -> Path:
    """One provider `a` whose every request costs exactly one cent (request price, free tokens)."""
    endpoints = [
        {
            "model": MODEL,
            "provider": "a",
            "price": {"prompt": 0.0, "completion": 0.0, "request": CENT},
            "context_length": 8192,
            "max_completion_tokens": 4096,
        }
    ]
    path = write_profile(cli.tmp / f"{name}.toml", upstream, ["a"], endpoints=endpoints, health=health)
    path.write_text(path.read_text() + f"\n[budget]\n{budget}\n")
    cli.profile_path = path
    cli.set_keys({key_env("a"): "ZqaCanaryKeyValue0123456789"})
    return path


def test_ask_stops_at_the_budget_without_sending_and_explain_route_says_so(cli: Cli, upstream: Upstream) -> None:
    budget_profile(cli, upstream, "daily_usd = 0.03")
    for _ in range(3):  # 1, 2, 3 cents: the third reaches the budget exactly
        assert cli("ask", "hi").code == 0
    explain = cli("explain-route", "--json", "hi")
    doc = explain.json()
    assert doc["budget"]["daily_usd"] == {"limit": 0.03, "spent": pytest.approx(0.03), "left": pytest.approx(0.0)}
    assert explain.code == 3 and [r["code"] for r in doc["rejected"]] == ["budget"]
    refused = cli("ask", "--json", "hi")
    assert refused.code == 3, refused
    assert "over budget" in refused.err and "daily_usd = $0.03" in refused.err
    assert [r["code"] for r in refused.json()["rejected"]] == ["budget"]
    assert upstream.count("a") == 3, "a request over budget sends nothing"
    table = cli("explain-route", "hi")
    assert "Budget" in table.out and "daily_usd (UTC day)" in table.out, table


def test_just_under_passes_and_just_over_is_refused(cli: Cli, upstream: Upstream) -> None:
    budget_profile(cli, upstream, "daily_usd = 0.0199999")
    assert cli("ask", "hi").code == 0
    assert cli("ask", "hi").code == 3, "1 cent spent + 1 cent expected is just over 0.0199999"
    budget_profile(cli, upstream, "daily_usd = 0.02", name="wider")
    assert cli("ask", "hi").code == 0, "at exactly the budget it passes"
    assert cli("ask", "hi").code == 3
    explain = cli("explain-route", "--json", "hi").json()
    assert explain["budget"]["daily_usd"]["left"] == pytest.approx(0.0)


def test_other_profiles_sharing_the_store_count_against_the_budget(cli: Cli, upstream: Upstream) -> None:
    budget_profile(cli, upstream, "monthly_usd = 100.0", name="spender")
    for _ in range(2):
        assert cli("ask", "hi").code == 0
    budget_profile(cli, upstream, "monthly_usd = 0.025", name="careful")
    refused = cli("ask", "hi")
    assert refused.code == 3 and "monthly_usd" in refused.err, refused
    assert upstream.count("a") == 2
    by_profile = cli("usage", "--json", "--by", "profile").json()
    assert {r["key"]: r["requests"] for r in by_profile["rows"]} == {"spender": 2}


@pytest.mark.parametrize("shared", [False, True], ids=["sqlite", "redis-fleet"])
def test_twenty_asks_at_once_against_a_budget_that_fits_five_send_five(
    cli: Cli, upstream: Upstream, shared: bool, request: pytest.FixtureRequest
) -> None:
    """Twenty processes (with Redis: each its own machine, its own state folder) against one budget."""
    # Twenty processes starting at once on a small machine: Redis gets a budget they cannot miss, so what is
    # tested is the hold, not the fallback to the local store (which its own tests cover).
    budget_profile(cli, upstream, "daily_usd = 0.05", health={"store_timeout": 10.0} if shared else None)
    upstream.script("a", Ok(text="slow answer here", chunk_delay=0.2))  # they overlap: none has recorded yet
    envs: list[dict[str, str]] = [{} for _ in range(20)]
    if shared:
        pytest.importorskip("redis")
        url = request.getfixturevalue("redis_server").url
        envs = [{"ORCLI_HEALTH_URL": url, "ORCLI_STATE_DIR": str(cli.tmp / f"machine-{i}")} for i in range(20)]
        cli.env["ORCLI_HEALTH_URL"] = url  # the report below reads the fleet
    procs = [cli.popen("ask", "hi", env=env) for env in envs]
    codes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        codes.append(proc.returncode)
        assert b"Traceback" not in err
        assert b"shared health store" not in err, err  # every machine used the shared store, no fallback
    assert sorted(codes) == [0] * 5 + [3] * 15, codes
    assert upstream.count("a") == 5
    total = cli("usage", "--json").json()["total"]
    assert (total["requests"], total["cost_usd"]) == (5, pytest.approx(0.05))


@contextmanager
def serving(cli: Cli, profile: Path) -> Iterator[str]:
    """`orcli serve` on a free loopback port with the test's environment; yields its /v1 URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "orcli", "serve", "--port", "0", "--profile", str(profile), "--json"],
        env={**cli.env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())["listening"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_holds_the_budget_across_concurrent_requests(cli: Cli, upstream: Upstream) -> None:
    """Three requests at once against a budget of two: the third finds the budget held, not yet spent, and
    gets 402 without reaching the upstream."""
    profile = budget_profile(cli, upstream, "daily_usd = 0.02")
    upstream.script("a", Ok(text="slow answer here", chunk_delay=0.3))
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    with serving(cli, profile) as url, ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda _: httpx.post(f"{url}/chat/completions", json=body, timeout=60), range(3)))
    assert sorted(r.status_code for r in replies) == [200, 200, 402], [r.text for r in replies]
    refused = next(r for r in replies if r.status_code == 402).json()["error"]
    assert "over budget" in refused["message"] and [r["code"] for r in refused["metadata"]["rejected"]] == ["budget"]
    assert upstream.count("a") == 2


def test_serve_answers_402_with_asks_message(cli: Cli, upstream: Upstream, tmp_path: Path) -> None:
    profile = budget_profile(cli, upstream, "daily_usd = 0.01")
    with serving(cli, profile) as url:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        first = httpx.post(f"{url}/chat/completions", json=body, timeout=30)
        assert first.status_code == 200, first.text
        second = httpx.post(f"{url}/chat/completions", json=body, timeout=30)
        assert second.status_code == 402, second.text
        error = second.json()["error"]
        assert error["code"] == 402 and "over budget" in error["message"] and "daily_usd = $0.01" in error["message"]
        assert [r["code"] for r in error["metadata"]["rejected"]] == ["budget"]
        assert upstream.count("a") == 1
    assert os.path.exists(cli.state_dir / "health.sqlite3")
