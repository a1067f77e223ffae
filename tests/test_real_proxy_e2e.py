"""orcli against real third-party server software: the LiteLLM proxy on loopback with mock deployments.

Every answer, stream and error body here is LiteLLM's own (tests/real_proxy.py starts it); orcli runs as the
user runs it (tests/cli_harness.py), with the proxy's master key as a canary that must never show up. The
assertions are docs/failures.md#failure-classes (which class, so what happens next) and docs/failures.md (exit codes), read from `--json` attempts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_harness import MODEL, MODEL_B, Cli, Run, store_rows
from real_proxy import (
    ANSWER,
    ANSWER_B,
    AZURE_FILTERED,
    MASTER_KEY,
    VERSION,
    RealProxy,
    dead_port,
    find_server,
    start,
)
from upstream import DEFAULT_PARAMETERS

# LiteLLM answers an unknown model after its router lookup; under CI load that can take a couple of seconds.
TIMEOUTS = {"connect": 5, "first_token": 15, "idle": 15, "total": 25}


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealProxy]:
    command, where = find_server()
    if command is None:
        pytest.skip(where)
    server = start(tmp_path_factory.mktemp("litellm"))
    yield next(server)
    server.close()


@pytest.fixture
def cli(proxy: RealProxy, tmp_path: Path) -> Cli:
    return Cli(proxy, tmp_path)  # type: ignore[arg-type]  # RealProxy has the base_url write_profile needs


def endpoint(model: str, provider: str, upstream_model: str, rank: int) -> dict[str, Any]:
    return {
        "model": model,
        "provider": provider,
        "upstream_model": upstream_model,
        "price": {"prompt": float(rank), "completion": float(rank)},
        "context_length": 8192,
        "max_completion_tokens": 4096,
        "parameters": list(DEFAULT_PARAMETERS),
    }


def use(cli: Cli, endpoints: list[dict[str, Any]], *, dead: tuple[str, ...] = ()) -> None:
    """A profile over the proxy (sorted by price = the ranks given); `dead` providers point at a closed port."""
    providers = list(dict.fromkeys(e["provider"] for e in endpoints))
    models = list(dict.fromkeys(e["model"] for e in endpoints))
    closed = {name: {"base_url": f"http://127.0.0.1:{dead_port()}/v1"} for name in dead}
    cli.profile(
        providers,
        keys={p: MASTER_KEY for p in providers},
        models=models,
        endpoints=endpoints,
        provider_extra=closed,
        timeouts=TIMEOUTS,
    )


def attempts(run: Run) -> list[tuple[Any, ...]]:
    doc = run.json()
    return [(a["model"], a["provider"], a["outcome"], a["error_class"], a["kind"]) for a in doc["attempts"]]


# ------------------------------------------------------------------------------------------ answers


def test_the_proxy_is_the_pinned_version_and_serves_the_mock_models(proxy: RealProxy) -> None:
    auth = {"Authorization": f"Bearer {MASTER_KEY}"}
    models = httpx.get(f"{proxy.url}/models", headers=auth, timeout=10).json()
    assert {m["id"] for m in models["data"]} >= {"good", "good-b", "ratelimited", "toolong", AZURE_FILTERED}
    body = {"model": "good", "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(f"{proxy.url}/chat/completions", headers=auth, json=body, timeout=20)
    assert answer.headers["x-litellm-version"] == VERSION, "the proxy running is not the one pyproject pins"


@pytest.mark.parametrize("mode", [(), ("--no-stream",)], ids=["streamed", "no_stream"])
def test_plain_answer(cli: Cli, mode: tuple[str, ...]) -> None:
    use(cli, [endpoint(MODEL, "proxy", "good", 1)])
    run = cli("ask", *mode, "hi")
    assert run.code == 0, run
    assert run.out == ANSWER  # a pipe gets exactly what the model sent
    assert run.err == ""


def test_json_answer_names_what_served_it(cli: Cli) -> None:
    use(cli, [endpoint(MODEL, "proxy", "good", 1)])
    run = cli("ask", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert (doc["content"], doc["model"], doc["provider"], doc["upstream_model"]) == (ANSWER, MODEL, "proxy", "good")
    assert doc["finish_reason"] == "stop"
    usage = doc["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0  # LiteLLM's mock reports usage
    assert attempts(run) == [(MODEL, "proxy", "success", None, None)]


# ---------------------------------------------------------------------------------- provider class


def test_failover_past_a_dead_port_to_the_proxy(cli: Cli) -> None:
    use(cli, [endpoint(MODEL, "dead", "good", 1), endpoint(MODEL, "proxy", "good", 2)], dead=("dead",))
    run = cli("ask", "--json", "hi")
    assert run.code == 0, run
    assert run.json()["content"] == ANSWER
    assert attempts(run) == [(MODEL, "dead", "failed", "provider", "connect"), (MODEL, "proxy", "success", None, None)]


def test_unknown_model_fails_over_to_the_next_provider(cli: Cli) -> None:
    # LiteLLM: 400 "Invalid model name passed in model=..." -- docs/failures.md#failure-classes: that provider does not serve the model.
    use(cli, [endpoint(MODEL, "p1", "no-such-model", 1), endpoint(MODEL, "p2", "good", 2)])
    run = cli("ask", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert (doc["provider"], doc["content"]) == ("p2", ANSWER)
    assert attempts(run) == [(MODEL, "p1", "failed", "provider", "not_found"), (MODEL, "p2", "success", None, None)]
    first = doc["attempts"][0]
    assert first["status"] == 400 and "Invalid model name" in first["error"]


def test_unknown_model_fails_over_when_streamed(cli: Cli) -> None:
    use(cli, [endpoint(MODEL, "p1", "no-such-model", 1), endpoint(MODEL, "p2", "good", 2)])
    run = cli("ask", "hi")
    assert run.code == 0, run
    assert run.out == ANSWER


def test_rate_limit_goes_to_the_next_provider_and_is_recorded(cli: Cli) -> None:
    use(cli, [endpoint(MODEL, "p1", "ratelimited", 1), endpoint(MODEL, "p2", "good", 2)])
    run = cli("ask", "--json", "hi")
    assert run.code == 0, run
    assert run.json()["provider"] == "p2"
    assert attempts(run) == [(MODEL, "p1", "failed", "provider", "http_429"), (MODEL, "p2", "success", None, None)]
    assert run.json()["attempts"][0]["status"] == 429
    rows = [(r["provider"], r["ok"], r["error_class"], r["status"]) for r in store_rows(cli.state_dir)]
    assert rows == [("p1", 0, "provider", 429), ("p2", 1, None, rows[1][3])]
    assert cli.scan() == {}, "the proxy's key is in a file orcli wrote"


def test_server_error_before_any_content_goes_to_the_next_provider(cli: Cli) -> None:
    use(
        cli,
        [endpoint(MODEL, "p1", "midstream", 1), endpoint(MODEL, "p2", "broken", 2), endpoint(MODEL, "p3", "good", 3)],
    )
    run = cli("ask", "--json", "hi")
    assert run.code == 0, run
    assert [(a["provider"], a["error_class"], a["status"]) for a in run.json()["attempts"][:2]] == [
        ("p1", "provider", 529),  # LiteLLM's mock "mid-stream" error, raised before the first chunk
        ("p2", "provider", 500),
    ]
    assert run.json()["provider"] == "p3"
    # Both failures now hold p1 and p2 back (docs/health.md#how-health-feeds-routing): the next request goes straight to p3, streamed.
    run = cli("ask", "hi")
    assert run.code == 0, run
    assert run.out == ANSWER


def test_every_provider_failing_is_exit_1_with_each_attempt_named(cli: Cli) -> None:
    use(cli, [endpoint(MODEL, "p1", "broken", 1), endpoint(MODEL, "p2", "ratelimited", 2)])
    run = cli("ask", "hi")
    assert run.code == 1, run
    assert run.out == ""
    assert "p1" in run.err and "p2" in run.err and "mock internal server error" in run.err
    run = cli("ask", "--json", "hi")
    assert run.code == 1
    assert run.json()["error"]["kind"] == "all_attempts_failed"


# ------------------------------------------------------------------------------------- model class


@pytest.mark.parametrize(
    ("upstream_model", "kind"),
    [(AZURE_FILTERED, "moderation"), ("toolong", "context_length")],
    ids=["content_policy", "context_window"],
)
def test_model_class_error_falls_back_to_the_next_model(cli: Cli, upstream_model: str, kind: str) -> None:
    # p2 serves the same model and would answer: docs/failures.md#failure-classes skips it, the refusal is the model's, not p1's.
    use(
        cli,
        [
            endpoint(MODEL, "p1", upstream_model, 1),
            endpoint(MODEL, "p2", "good", 2),
            endpoint(MODEL_B, "p1", "good-b", 1),
        ],
    )
    run = cli("ask", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert (doc["model"], doc["provider"], doc["content"]) == (MODEL_B, "p1", ANSWER_B)
    assert attempts(run) == [(MODEL, "p1", "failed", "model", kind), (MODEL_B, "p1", "success", None, None)]
    assert doc["attempts"][0]["status"] == 400


def test_content_policy_refusal_streamed_falls_back_too(cli: Cli) -> None:
    use(cli, [endpoint(MODEL, "p1", AZURE_FILTERED, 1), endpoint(MODEL_B, "p1", "good-b", 1)])
    run = cli("ask", "hi")
    assert run.code == 0, run
    assert run.out == ANSWER_B


# ----------------------------------------------------------------------------------- request class


def test_a_request_the_proxy_refuses_stops_with_its_message(cli: Cli) -> None:
    # LiteLLM refuses its own test hook unless the admin enabled it: a 400 about the request itself.
    use(cli, [endpoint(MODEL, "p1", "good", 1), endpoint(MODEL, "p2", "good", 2)])
    run = cli("ask", "-o", "mock_testing_content_policy_fallbacks=true", "hi")
    assert run.code == 1, run
    assert run.out == ""
    assert "Mock testing request params are disabled" in run.err
    run = cli("ask", "--json", "-o", "mock_testing_content_policy_fallbacks=true", "hi")
    assert run.json()["error"]["kind"] == "request_rejected"
    assert attempts(run) == [(MODEL, "p1", "failed", "request", "bad_request")]


def test_the_messages_api_through_serve_is_answered_by_the_real_proxy(proxy: RealProxy, tmp_path: Path) -> None:
    """An Anthropic-speaking client (the anthropic SDK) through `orcli serve` to LiteLLM, an OpenAI-dialect
    server orcli did not write: the request translated one way, LiteLLM's answer and stream the other."""
    import json

    pytest.importorskip("anthropic", reason="the anthropic SDK (a test dependency) is the client")
    from gateway_harness import serving
    from upstream import key_env

    hi = [{"role": "user", "content": "hi"}]
    with serving(
        tmp_path,
        proxy,  # type: ignore[arg-type]  # RealProxy has the base_url write_profile needs
        providers=["p1"],
        models=(MODEL,),
        endpoints=[endpoint(MODEL, "p1", "good", 1)],
        env_extra={key_env("p1"): MASTER_KEY},
    ) as gw:
        client = gw.anthropic()
        message = client.messages.create(model=MODEL, max_tokens=50, messages=hi)  # type: ignore[arg-type]
        with client.messages.stream(model=MODEL, max_tokens=50, messages=hi) as stream:  # type: ignore[arg-type]
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        log = gw.log_lines()
    assert message.content[0].text == ANSWER and message.stop_reason == "end_turn"  # type: ignore[union-attr]
    assert text == ANSWER and final.stop_reason == "end_turn"
    assert [(e["status"], e["provider"]) for e in log if e.get("path")] == [(200, "p1"), (200, "p1")]
    assert MASTER_KEY not in json.dumps(log)
