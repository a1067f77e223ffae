"""`orcli health` end to end: the table and JSON, --probe as a CI smoke check, and reset."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_harness import MODEL, MODEL_B, Cli, endpoint_health
from upstream import Upstream, ok, refused_base_url, server_error

TWO_MODELS = [
    {"model": MODEL, "provider": "a", "price": {"prompt": 1.0, "completion": 1.0}},
    {"model": MODEL, "provider": "b", "price": {"prompt": 2.0, "completion": 2.0}},
    {"model": MODEL_B, "provider": "b", "price": {"prompt": 2.0, "completion": 2.0}},
]


@pytest.fixture
def cli(upstream: Upstream, tmp_path: Path) -> Cli:
    runner = Cli(upstream, tmp_path)
    runner.profile(["a", "b"], endpoints=TWO_MODELS)
    return runner


def test_fresh_health_lists_every_endpoint_as_healthy_with_no_history(cli: Cli) -> None:
    run = cli("health", "--json")
    assert run.code == 0, run
    rows = {(e["model"], e["provider"]): e for e in run.json()["endpoints"]}
    assert set(rows) == {(MODEL, "a"), (MODEL, "b"), (MODEL_B, "b")}
    assert all(e["state"] == "healthy" and e["requests"] == 0 for e in rows.values())
    assert not (cli.state_dir / "health.sqlite3").exists(), "showing health must not create a store"


def test_three_failed_asks_show_as_cooldown_with_the_failure_count_and_last_error(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", server_error(502))
    for _ in range(3):
        # --order keeps a first although it is unstable after its first failure; b serves each time
        assert cli("ask", "--no-stdin", "-m", MODEL, "--order", "a", "hi").code == 0
    a = endpoint_health(cli("health", "--json"), "a")
    assert (a["state"], a["requests"], a["failures"], a["consecutive_failures"]) == ("cooldown", 3, 3, 3)
    assert a["success_rate"] == 0 and "502" in a["last_error"] and a["cooldown_left_s"] > 0
    b = endpoint_health(cli("health", "--json"), "b")
    assert (b["state"], b["requests"], b["failures"]) == ("healthy", 3, 0)
    assert b["median_ttft_s"] is not None
    table = cli("health")
    assert table.code == 0
    row = next(line for line in table.out.splitlines() if line.split()[1:2] == ["a"])  # model, provider, ...
    assert "cooldown" in row and "(3/3)" in row and "502" in row


def test_probe_exits_1_when_a_probed_endpoint_fails_and_records_it(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", server_error(500))
    run = cli("health", "--probe", "--json")
    assert run.code == 1, run
    probes = {(p["model"], p["provider"]): p for p in run.json()["probes"]}
    assert not probes[(MODEL, "a")]["ok"] and "500" in probes[(MODEL, "a")]["error"]
    assert probes[(MODEL, "b")]["ok"] and probes[(MODEL_B, "b")]["ok"]
    assert upstream.count("a") == 1 and upstream.count("b") == 2
    probe_body = upstream.requests("b")[0].body
    assert probe_body["max_tokens"] == 16 and len(probe_body["messages"]) == 1
    assert endpoint_health(run, "a")["failures"] == 1  # the table printed after probing includes the probe


def test_probe_exits_0_when_every_endpoint_answers(cli: Cli, upstream: Upstream) -> None:
    run = cli("health", "--probe")
    assert run.code == 0, run
    assert "3 ok, 0 failed" in run.err
    assert upstream.count("a") == 1 and upstream.count("b") == 2


def test_probe_can_be_narrowed_to_a_provider_or_a_model(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", server_error(500))
    only_b = cli("health", "--probe", "--provider", "b", "--json")
    assert only_b.code == 0, only_b
    assert {p["provider"] for p in only_b.json()["probes"]} == {"b"}
    assert upstream.count("a") == 0
    model_b = cli("health", "--probe", "-m", MODEL_B, "--json")
    assert model_b.code == 0, model_b
    assert [(p["model"], p["provider"]) for p in model_b.json()["probes"]] == [(MODEL_B, "b")]


def test_probe_of_an_unknown_provider_or_model_is_a_usage_error(cli: Cli) -> None:
    for args in (("--provider", "nope"), ("-m", "no/such-model")):
        run = cli("health", "--probe", *args)
        assert run.code == 2, run
        assert "no" in run.err.lower()


def test_probe_fails_for_a_refused_connection(upstream: Upstream, tmp_path: Path) -> None:
    runner = Cli(upstream, tmp_path)
    runner.profile(["a", "dead"], provider_extra={"dead": {"base_url": refused_base_url()}})
    run = runner("health", "--probe", "--json")
    assert run.code == 1, run
    dead = next(p for p in run.json()["probes"] if p["provider"] == "dead")
    assert not dead["ok"] and "connect" in dead["error"]


def _three_failing_probes(upstream: Upstream, tmp_path: Path) -> Cli:
    """a and b refuse connections (the same error), c answers 500 (another error), d answers."""
    runner = Cli(upstream, tmp_path)
    dead = {"base_url": refused_base_url()}
    runner.profile(["a", "b", "c", "d"], provider_extra={"a": dead, "b": dead})
    upstream.script("c", *[server_error(500)] * 5)
    return runner


def test_identical_probe_failures_are_said_once_with_a_count(upstream: Upstream, tmp_path: Path) -> None:
    runner = _three_failing_probes(upstream, tmp_path)
    for _ in range(2):  # the second time, the store already holds each endpoint's last error
        run = runner("health", "--probe")
        assert run.code == 1, run
        rows = {line.split()[1]: line for line in run.out.splitlines()[2:] if line.strip()}
        assert rows["a"].endswith("FAILED  [1]") and rows["b"].endswith("FAILED  [1]"), run.out
        assert rows["c"].endswith("FAILED  [2]") and " ok " in rows["d"], run.out
        legend = [line for line in run.out.splitlines() if line.startswith("[")]
        assert legend[0].startswith("[1] 2 endpoints: cannot connect") and legend[1].startswith("[2] HTTP 500"), run
        assert len(legend) == 2 and (run.out + run.err).count("Connection refused") == 1, run
        assert "before:" not in run.out + run.err


def test_the_reasons_go_with_the_table_to_stdout_also_when_quiet(upstream: Upstream, tmp_path: Path) -> None:
    runner = _three_failing_probes(upstream, tmp_path)
    run = runner("health", "--probe", "-q")
    assert run.code == 1 and run.err == "", run
    assert "[1] 2 endpoints: cannot connect" in run.out and run.out.count("Connection refused") == 1, run.out
    assert "[2] HTTP 500" in run.out and "before:" not in run.out


def test_probe_failures_are_compact_in_an_80_column_terminal(upstream: Upstream, tmp_path: Path) -> None:
    from tmux_pane import Pane, require_tmux

    require_tmux()
    runner = Cli(upstream, tmp_path)
    dead = {"base_url": refused_base_url()}
    runner.profile(["a", "b"], provider_extra={"a": dead, "b": dead})
    with Pane(80, 24, tmp_path) as pane:
        pane.run(runner.argv("health", "--probe"), runner.env)
        text = pane.wait_done()
    assert pane.code == 1, text
    assert all(len(line) <= 80 for line in text.splitlines()), text
    lines = text.split("Endpoint health")[1].splitlines()
    table = lines[: next(i for i, line in enumerate(lines) if line.startswith(("hidden:", "store:")))]
    assert len(table) <= 1 + 1 + 2 + 1, f"title, header, a heading line, two rows:\n{text}"
    assert text.count("Connection refused") == 1 and "2 endpoints: cannot connect" in text, text


def test_reset_forgets_one_provider_or_everything(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", server_error(502))
    assert cli("ask", "--no-stdin", "-m", MODEL, "hi").code == 0
    one = cli("health", "reset", "--provider", "a", "--json")
    assert one.code == 0 and one.json() == {"reset": "a", "deleted": 1}, one
    after = cli("health", "--json")
    assert endpoint_health(after, "a")["requests"] == 0 and endpoint_health(after, "b")["requests"] == 1
    everything = cli("health", "reset")
    assert everything.code == 0 and "forgot 1 outcome" in everything.err
    assert endpoint_health(cli("health", "--json"), "b")["requests"] == 0


def test_probe_answer_is_recorded_like_an_ask(cli: Cli, upstream: Upstream) -> None:
    upstream.script("b", ok("ok"))
    cli("health", "--probe", "--provider", "b")
    b = endpoint_health(cli("health", "--json"), "b")
    assert b["requests"] == 1 and b["failures"] == 0 and b["median_ttft_s"] is not None
