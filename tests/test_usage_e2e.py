"""Usage records and `orcli usage` end to end (docs/usage.md): real orcli processes against loopback fakes whose
answers carry known usage (one sends none), totals computed here from prices x tokens, JSON and CSV agreeing."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import pytest
from cli_harness import MODEL, Cli
from upstream import CutAfterContent, Ok, Status, Upstream, key_env, write_profile

PROMPT = "Count the letters in this sentence please"  # 41 characters: 11 tokens by orcli's estimate
PROMPT_TOKENS = math.ceil(len(PROMPT) / 4)


@pytest.fixture
def cli(upstream: Upstream, tmp_path: Path) -> Cli:
    return Cli(upstream, tmp_path)


def endpoint(provider: str, price: tuple[float, float, float] | None, model: str = MODEL) -> dict[str, Any]:
    e: dict[str, Any] = {"model": model, "provider": provider, "context_length": 8192, "max_completion_tokens": 4096}
    if price is not None:
        e["price"] = {"prompt": price[0], "completion": price[1], "request": price[2]}
    return e


def priced_profile(cli: Cli, upstream: Upstream, endpoints: list[dict[str, Any]], budget: str = "") -> Path:
    """A profile of these endpoints (providers in the order given), keys set, optionally a [budget] table."""
    providers = list(dict.fromkeys(e["provider"] for e in endpoints))
    path = cli.tmp / f"usage-{len(list(cli.tmp.glob('usage-*.toml')))}.toml"
    write_profile(path, upstream, providers, models=sorted({e["model"] for e in endpoints}), endpoints=endpoints)
    if budget:
        path.write_text(path.read_text() + f"\n[budget]\n{budget}\n")
    cli.profile_path = path
    cli.set_keys({key_env(p): f"Zq{p}CanaryKeyValue0123456789" for p in providers})
    return path


def usage_json(cli: Cli, *args: str) -> dict[str, Any]:
    run = cli("usage", "--json", *args)
    assert run.code == 0, run
    return run.json()


def by_key(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in doc["rows"]}


def test_every_attempt_is_metered_exactly(cli: Cli, upstream: Upstream) -> None:
    """Failover (nothing produced: 0), reported usage, no usage (estimated), a broken stream (what it streamed),
    an unknown price (null, never 0): each attempt's cost is prices x tokens, summed per provider."""
    priced_profile(
        cli,
        upstream,
        [
            endpoint("down", (1.0, 1.0, 0.0)),
            endpoint("known", (2.0, 4.0, 0.001)),
            endpoint("silent", (3.0, 5.0, 0.0)),
            endpoint("broken", (1.5, 2.5, 0.0)),
            endpoint("unpriced", None),
        ],
    )
    upstream.script("down", Status(502))
    upstream.script("known", Ok(text="one two three", usage={"prompt_tokens": 100, "completion_tokens": 50}))
    upstream.script("silent", Ok(text="abcdefgh ijkl", usage=False))  # 13 characters: 4 tokens (estimated)
    upstream.script("broken", CutAfterContent(text="partial answer"))  # 14 characters streamed: 4 tokens
    upstream.script("unpriced", Ok(text="free?", usage={"prompt_tokens": 7, "completion_tokens": 2}))

    first = cli("ask", "--json", "--only", "down,known", "--sort", "price", PROMPT)
    assert first.code == 0, first
    assert [a["provider"] for a in first.json()["attempts"]] == ["down", "known"]
    known_cost = (100 * 2.0 + 50 * 4.0) / 1e6 + 0.001
    assert first.json()["cost_usd"] == pytest.approx(known_cost)
    assert first.json()["usage"] == {"prompt_tokens": 100, "completion_tokens": 50}

    silent = cli("ask", "--json", "--only", "silent", PROMPT)
    assert silent.code == 0, silent
    silent_cost = (PROMPT_TOKENS * 3.0 + 4 * 5.0) / 1e6
    assert silent.json()["usage"] == {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": 4,
        "total_tokens": PROMPT_TOKENS + 4,
        "estimated": True,
    }
    assert silent.json()["cost_usd"] == pytest.approx(silent_cost)

    broken = cli("ask", "--only", "broken", PROMPT)
    assert broken.code == 1 and broken.out == "partial answer", broken
    broken_cost = (PROMPT_TOKENS * 1.5 + 4 * 2.5) / 1e6

    unpriced = cli("ask", "-v", "--only", "unpriced", PROMPT)
    assert unpriced.code == 0, unpriced
    assert "tokens 7 prompt + 2 completion; cost unknown (price unknown)" in unpriced.err

    doc = usage_json(cli, "--by", "provider")
    rows = by_key(doc)
    assert set(rows) == {"down", "known", "silent", "broken", "unpriced"}
    assert rows["down"] == {
        "key": "down",
        "requests": 1,
        "attempts": 1,
        "failures": 1,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "unknown_cost_attempts": 0,
    }
    assert rows["known"]["cost_usd"] == pytest.approx(known_cost)
    assert (rows["known"]["prompt_tokens"], rows["known"]["completion_tokens"], rows["known"]["failures"]) == (
        100,
        50,
        0,
    )
    assert rows["silent"]["cost_usd"] == pytest.approx(silent_cost)
    assert (rows["silent"]["prompt_tokens"], rows["silent"]["completion_tokens"]) == (PROMPT_TOKENS, 4)
    assert rows["broken"]["cost_usd"] == pytest.approx(broken_cost) and rows["broken"]["failures"] == 1
    assert rows["unpriced"]["cost_usd"] is None and rows["unpriced"]["unknown_cost_attempts"] == 1
    total = doc["total"]
    assert (total["requests"], total["attempts"], total["failures"], total["unknown_cost_attempts"]) == (4, 5, 2, 1)
    assert total["cost_usd"] == pytest.approx(known_cost + silent_cost + broken_cost)
    assert total["prompt_tokens"] == 100 + 2 * PROMPT_TOKENS + 7

    by_model = usage_json(cli, "--by", "model")
    assert [(r["key"], r["requests"], r["attempts"]) for r in by_model["rows"]] == [(MODEL, 4, 5)]
    by_profile = usage_json(cli, "--by", "profile")
    assert [r["key"] for r in by_profile["rows"]] == [Path(str(cli.profile_path)).stem]
    by_endpoint = usage_json(cli, "--by", "endpoint")
    assert f"{MODEL} @ known" in by_key(by_endpoint)


def test_csv_and_json_agree_and_the_table_has_a_total(cli: Cli, upstream: Upstream) -> None:
    priced_profile(cli, upstream, [endpoint("a", (1.0, 2.0, 0.0)), endpoint("b", (3.0, 3.0, 0.0))])
    upstream.script("a", Status(503), Ok(usage={"prompt_tokens": 5, "completion_tokens": 5}))
    upstream.script("b", Ok(usage={"prompt_tokens": 20, "completion_tokens": 10}))
    assert cli("ask", "--sort", "price", "--only", "a,b", "hi").code == 0  # a (cheaper) fails, b serves
    assert cli("ask", "--only", "a", "hi").code == 0
    for by in ("provider", "day", "endpoint"):
        doc = usage_json(cli, "--by", by)
        run = cli("usage", "--csv", "--by", by)
        assert run.code == 0, run
        parsed = list(csv.DictReader(io.StringIO(run.out)))
        assert [r["key"] for r in parsed] == [r["key"] for r in doc["rows"]]
        for line, row in zip(parsed, doc["rows"], strict=True):
            for field in ("requests", "attempts", "failures", "prompt_tokens", "completion_tokens"):
                assert int(line[field]) == row[field]
            assert float(line["cost_usd"]) == pytest.approx(row["cost_usd"])
    table = cli("usage", "--by", "provider")
    assert table.code == 0, table
    lines = table.out.splitlines()
    assert any(line.startswith("total") for line in lines), table.out
    assert "█" not in table.out and "#" * 3 not in table.out, "no chart in a pipe"


def test_an_empty_store_is_an_empty_report(cli: Cli, upstream: Upstream) -> None:
    priced_profile(cli, upstream, [endpoint("a", (1.0, 1.0, 0.0))])
    doc = usage_json(cli)
    assert doc["rows"] == [] and doc["total"]["attempts"] == 0 and doc["by"] == "day"
    assert not (cli.state_dir / "health.sqlite3").exists(), "reading usage creates no store"
    run = cli("usage", "--csv")
    assert (run.code, run.out.strip()) == (
        0,
        "key,requests,attempts,failures,prompt_tokens,completion_tokens,cost_usd,unknown_cost_attempts",
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--by", "vendor"), "--by 'vendor'"),
        (("--since", "yesterday"), "--since 'yesterday'"),
        (("--since", "1d", "--until", "2d"), "must come after"),
        (("--json", "--csv"), "give one of them"),
    ],
)
def test_bad_usage_flags_are_usage_errors(cli: Cli, upstream: Upstream, args: tuple[str, ...], words: str) -> None:
    priced_profile(cli, upstream, [endpoint("a", (1.0, 1.0, 0.0))])
    run = cli("usage", *args)
    assert run.code == 2 and words in run.err, run
    if "--json" in args:  # one JSON document on stdout, also on failure (the error's)
        assert run.json()["error"]["exit_code"] == 2
    else:
        assert run.out == ""


def test_since_and_until_bound_the_report(cli: Cli, upstream: Upstream) -> None:
    priced_profile(cli, upstream, [endpoint("a", (1.0, 1.0, 0.0))])
    assert cli("ask", "hi").code == 0
    assert usage_json(cli, "--since", "1h")["total"]["attempts"] == 1
    assert usage_json(cli, "--since", "2020-01-01", "--until", "2020-12-31")["total"]["attempts"] == 0
    doc = usage_json(cli, "--since", "2020-01-01", "--until", "2020-01-01")
    assert (doc["since"], doc["until"]) == ("2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z"), "a date includes its day"
    edges = usage_json(cli, "--since", "99999999999999d", "--until", "9999-12-31")
    assert (edges["since"], edges["until"]) == ("1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z")
    assert edges["total"]["attempts"] == 1


def test_with_redis_every_machine_reports_the_fleets_usage(cli: Cli, upstream: Upstream, redis_server: Any) -> None:
    """Two machines (their own state folders) share one real redis-server: `orcli usage` on either, or on a
    third that never asked anything, reports both machines' attempts and spend."""
    pytest.importorskip("redis")
    priced_profile(cli, upstream, [endpoint("a", (1.0, 2.0, 0.0))])
    upstream.script("a", Ok(usage={"prompt_tokens": 30, "completion_tokens": 20}))
    shared = {"ORCLI_HEALTH_URL": redis_server.url}
    for machine in ("one", "two"):
        run = cli("ask", "-v", "hi", env={**shared, "ORCLI_STATE_DIR": str(cli.tmp / machine)})
        assert run.code == 0 and "warning" not in run.err, run
        assert "tokens 30 prompt + 20 completion; cost $0.000070" in run.err
    third = cli("usage", "--json", "--by", "provider", env={**shared, "ORCLI_STATE_DIR": str(cli.tmp / "three")})
    assert third.code == 0 and third.err == "", third
    row = by_key(third.json())["a"]
    assert (row["requests"], row["attempts"], row["prompt_tokens"], row["completion_tokens"]) == (2, 2, 60, 40)
    assert row["cost_usd"] == pytest.approx(2 * (30 * 1.0 + 20 * 2.0) / 1e6)
    assert not (cli.tmp / "three" / "health.sqlite3").exists(), "the fleet's usage came from Redis"


def test_by_day_on_a_terminal_draws_daily_spend_as_bars(cli: Cli, upstream: Upstream) -> None:
    """On a real terminal (tmux), `--by day` adds one bar per day under the table, as long as its spend."""
    import time

    from tmux_pane import Pane, require_tmux

    from orcli.store.sqlite import Store
    from orcli.types import Outcome

    require_tmux()
    priced_profile(cli, upstream, [endpoint("a", (1.0, 1.0, 0.0))])
    store, _ = Store.open(cli.state_dir)
    assert store is not None
    now = time.time()
    for days_ago, cost in ((2, 0.5), (1, 0.25), (1, 0.25), (0, 0.125)):
        at = now - days_ago * 86400
        store.record(Outcome(at=at, model=MODEL, provider="a", ok=True, cost_usd=cost, prompt_tokens=1))
    store.close()
    with Pane(100, 30, cli.tmp) as pane:
        pane.run(cli.argv("usage", "--by", "day", "--since", "3d"), cli.env)
        text = pane.wait_done()
    assert pane.code == 0, text
    chart = text[text.index("spend per day") :].splitlines()[1:4]
    bars = [len(line.split()[1]) for line in chart]
    assert bars[0] == bars[1] == 40 and 0 < bars[2] < bars[0], text  # $0.50, $0.50, $0.125 of a 40-wide bar
    assert [line.split()[-1] for line in chart] == ["$0.50", "$0.50", "$0.125"], text
