"""Sticky sessions (`--session ID`; serve: `x-session-id` / `session_id`; docs/routing.md): a session stays
on the provider that last served it, across processes, seeds and (with Redis) machines."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from cli_harness import MODEL, Cli, Run
from redis_server import RedisServer
from test_serve_e2e import serving
from upstream import Upstream, server_error

from orcli.routing.ordering import Candidate
from orcli.routing.sticky import STICKY_TTL, StickyRule, age_words, check_session_id, live, stick
from orcli.types import Endpoint, EndpointHealth, HealthState, StickyBinding

PROVIDERS = ["a", "b", "c", "d"]


# -- the pure rule --------------------------------------------------------------------------------------
def ranked(*names: str, model: str = "m", unhealthy: str | None = None) -> list[tuple[Candidate, str]]:
    out = []
    for n in names:
        h = EndpointHealth(state=HealthState.UNSTABLE, stable=False) if n == unhealthy else EndpointHealth()
        out.append((Candidate(Endpoint(model, n, model), 1.0, h, 0), f"why {n}"))
    return out


def providers(items: list[tuple[Candidate, str]]) -> list[str]:
    return [c.endpoint.provider for c, _ in items]


def test_the_bound_provider_moves_to_the_front_of_its_model_only() -> None:
    items = ranked("x", "y", model="m0") + ranked("a", "b", "c")
    rule = StickyRule("s1", {"m": StickyBinding("c", 130.0)})
    out = stick(items, rule)
    assert providers(out) == ["x", "y", "c", "a", "b"]
    assert out[2][1] == "sticky: session s1 served 2 min ago (was: why c)"


def test_a_rejected_or_unhealthy_provider_leaves_the_usual_order() -> None:
    items = ranked("a", "b", "c", unhealthy="c")
    assert providers(stick(items, StickyRule("s", {"m": StickyBinding("c", 1.0)}))) == ["a", "b", "c"]
    assert providers(stick(items, StickyRule("s", {"m": StickyBinding("zz", 1.0)}))) == ["a", "b", "c"]


def test_bindings_expire_ten_minutes_after_the_last_success() -> None:
    fresh, stale = StickyBinding("a", STICKY_TTL - 1), StickyBinding("b", STICKY_TTL + 1)
    assert live({"m": fresh, "n": stale}) == {"m": fresh}
    assert age_words(42) == "served 42 s ago" and age_words(600) == "served 10 min ago"


@pytest.mark.parametrize("bad", ["", "   ", "x" * 257, "a\nb", "a\x1b[31m"])
def test_a_session_id_must_be_a_short_printable_label(bad: str) -> None:
    with pytest.raises(ValueError):
        check_session_id(bad)


# -- end to end -----------------------------------------------------------------------------------------
@pytest.fixture
def cli(upstream: Upstream, tmp_path: Path) -> Cli:
    c = Cli(upstream, tmp_path)
    c.profile(PROVIDERS, sort=None)  # load-balanced: the draw would otherwise spread the session around
    return c


def first_provider(run: Run) -> str:
    assert run.code == 0, run
    return run.json()["attempts"][0]["provider"]


def test_a_session_sticks_to_the_provider_that_served_it_across_processes_and_seeds(cli: Cli) -> None:
    served = cli("ask", "--session", "conv-1", "--seed", "1", "--json", "hi")
    assert served.code == 0, served
    bound = served.json()["provider"]
    for seed in range(8):  # separate processes, different draws
        plan = cli("explain-route", "--session", "conv-1", "--seed", str(seed), "--json")
        assert first_provider(plan) == bound
        assert plan.json()["attempts"][0]["reason"].startswith("sticky: session conv-1 served ")
    again = cli("ask", "--session", "conv-1", "--seed", "5", "--json", "hi")
    assert again.json()["provider"] == bound
    # Another session, or none, draws as usual: over eight seeds, not always the bound provider.
    others = {first_provider(cli("explain-route", "--session", "other", "--seed", str(s), "--json")) for s in range(8)}
    assert others - {bound}, others


def test_explain_route_says_why_in_the_table(cli: Cli) -> None:
    bound = cli("ask", "--session", "conv-t", "--json", "hi").json()["provider"]
    table = cli("explain-route", "--session", "conv-t")
    assert table.code == 0, table
    row = next(line for line in table.out.splitlines() if "sticky: session conv-t served" in line)
    assert f" {bound} " in row


def test_order_overrides_the_session(cli: Cli) -> None:
    bound = cli("ask", "--session", "conv-2", "--json", "hi").json()["provider"]
    other = next(p for p in PROVIDERS if p != bound)
    plan = cli("explain-route", "--session", "conv-2", "--order", other, "--json")
    assert first_provider(plan) == other
    assert not any(a["reason"].startswith("sticky") for a in plan.json()["attempts"])


def test_a_failure_of_the_bound_provider_lets_the_next_success_rebind(cli: Cli, upstream: Upstream) -> None:
    bound = cli("ask", "--session", "conv-3", "--json", "hi").json()["provider"]
    upstream.script(bound, server_error())
    failed_over = cli("ask", "--session", "conv-3", "--json", "hi")
    assert failed_over.code == 0, failed_over
    attempts = failed_over.json()["attempts"]
    assert attempts[0]["provider"] == bound and attempts[0]["outcome"] == "failed"
    rebound = failed_over.json()["provider"]
    assert rebound != bound
    # The failed provider is unstable now; the session follows the provider that served it last.
    for seed in range(4):
        plan = cli("explain-route", "--session", "conv-3", "--seed", str(seed), "--json")
        assert first_provider(plan) == rebound
        assert plan.json()["attempts"][0]["reason"].startswith("sticky: session conv-3")


def sticky_first(cli: Cli, session: str) -> bool:
    plan = cli("explain-route", "--session", session, "--json")
    assert plan.code == 0, plan
    return plan.json()["attempts"][0]["reason"].startswith("sticky")


def test_health_reset_forgets_the_bindings(cli: Cli, upstream: Upstream, redis_server: RedisServer) -> None:
    bound = cli("ask", "--session", "conv-r", "--json", "hi").json()["provider"]
    assert sticky_first(cli, "conv-r")
    other = next(p for p in PROVIDERS if p != bound)
    assert cli("health", "reset", "--provider", other).code == 0
    assert sticky_first(cli, "conv-r")  # another provider's reset leaves the binding
    assert cli("health", "reset", "--provider", bound).code == 0
    assert not sticky_first(cli, "conv-r")
    # A shared store: `health reset` (all) forgets every session's binding there too.
    cli.env["ORCLI_HEALTH_URL"] = redis_server.url
    assert cli("ask", "--session", "conv-r", "hi").code == 0
    assert sticky_first(cli, "conv-r")
    assert cli("health", "reset", "--yes").code == 0
    assert not sticky_first(cli, "conv-r")
    assert redis_server.client().keys("orcli:*:sticky:*") == []


def test_the_store_keeps_a_digest_not_the_session_id(cli: Cli) -> None:
    assert cli("ask", "--session", "alice@example.com", "hi").code == 0
    db = sqlite3.connect(cli.state_dir / "health.sqlite3")
    try:
        rows = db.execute("SELECT session, model FROM sticky_sessions").fetchall()
    finally:
        db.close()
    assert len(rows) == 1 and rows[0][1] == MODEL
    assert "alice" not in rows[0][0] and len(rows[0][0]) == 64
    assert b"alice@example.com" not in (cli.state_dir / "health.sqlite3").read_bytes()


def test_a_bad_session_id_is_exit_2(cli: Cli) -> None:
    run = cli("ask", "--session", "x" * 300, "hi")
    assert run.code == 2 and "--session" in run.err and "256" in run.err, run


def test_machines_sharing_redis_share_the_binding(
    upstream: Upstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    machines = []
    for name in ("one", "two"):
        c = Cli(upstream, tmp_path / name)
        c.profile(PROVIDERS, sort=None)
        c.env["ORCLI_HEALTH_URL"] = redis_server.url
        machines.append(c)
    bound = machines[0]("ask", "--session", "shared", "--json", "hi").json()["provider"]
    for seed in range(4):
        plan = machines[1]("explain-route", "--session", "shared", "--seed", str(seed), "--json")
        assert first_provider(plan) == bound and "shared health store" not in plan.err
    keys = [k for k in redis_server.client().keys("orcli:*:sticky:*")]
    assert len(keys) == 1 and b"shared" not in keys[0]
    assert 0 < redis_server.client().ttl(keys[0]) <= STICKY_TTL


def test_serve_binds_by_header_and_by_body_field(tmp_path: Path, upstream: Upstream) -> None:
    with serving(tmp_path, upstream, providers=["alpha", "beta"]) as gw:  # sort = price: alpha first
        url = f"{gw.url}/chat/completions"
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}

        def served(extra: dict | None = None, header: str | None = None) -> str:
            headers = {} if header is None else {"x-session-id": header}
            reply = httpx.post(url, json={**body, **(extra or {})}, headers=headers, timeout=30)
            assert reply.status_code == 200, reply.text
            return reply.json()["provider"]

        # `order` puts beta first for one request; its success binds the session given by header...
        assert served({"provider": {"order": ["beta"]}}, header="s-h") == "beta"
        assert served(header="s-h") == "beta"  # ...which now stays on beta although alpha is cheaper
        assert served() == "alpha"  # no session: the usual order
        # ...and by body field, which wins over a header naming another session.
        assert served({"provider": {"order": ["beta"]}, "session_id": "s-b"}) == "beta"
        assert served({"session_id": "s-b"}, header="fresh") == "beta"
        assert served(header="fresh") == "alpha"
        bad = httpx.post(url, json={**body, "session_id": 7}, timeout=30)
        assert bad.status_code == 400 and "session_id" in bad.json()["error"]["message"]
