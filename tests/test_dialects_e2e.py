"""`orcli ask` and `health --probe` end to end through the native dialects (docs/dialects.md): the real CLI against the
loopback fakes of Anthropic, Gemini and Azure OpenAI (tests/fake_dialects.py, checked against the official
SDKs), with failover and model fallback across dialects.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fake_dialects
import pytest
from cli_harness import MODEL, MODEL_B, Cli
from fake_dialects import (
    DialectUpstream,
    bad_key,
    content_filter_400,
    error_after_content,
    ok,
    overloaded,
    prompt_too_long,
    rate_limited,
    refused_answer,
    refused_prompt,
    tool_call,
)

NATIVE = ("anthropic", "gemini", "azure")


class _NewEventFirst(fake_dialects.Ok):
    """Anthropic's stream with an event type orcli does not know, whose data is not JSON, before the text."""

    def anthropic(self, ex: fake_dialects.DialectExchange) -> None:
        real_start = ex.start_stream

        def start_stream() -> None:
            real_start()
            ex._write_chunk(b"event: brand_new_event\ndata: <not json, and that is allowed>\n\n")

        ex.start_stream = start_stream  # type: ignore[method-assign]
        super().anthropic(ex)


@pytest.fixture
def fake() -> Iterator[DialectUpstream]:
    with DialectUpstream() as up:
        yield up


@pytest.fixture
def cli(fake: DialectUpstream, tmp_path: Path) -> Cli:
    return Cli(fake, tmp_path)


def profile(cli: Cli, fake: DialectUpstream, apis: dict[str, str], **kw: Any) -> Path:
    """A profile whose providers (name -> api) all live on the fake; price follows the dict's order. Gemini
    endpoints get an upstream model id without a slash (`test-model-a`), as Gemini's ids are."""
    extra = {name: {"api": api, "base_url": fake.base_url(name, api)} for name, api in apis.items()}
    models = kw.get("models", [MODEL])
    endpoints = kw.pop("endpoints", None) or [
        {
            "model": model,
            "provider": name,
            "price": {"prompt": float(rank), "completion": float(rank)},
            "context_length": 8192,
            "max_completion_tokens": 4096,
        }
        for model in models
        for rank, name in enumerate(apis, start=1)
    ]
    for e in endpoints:
        if apis[e["provider"]] == "gemini":
            e.setdefault("upstream_model", e["model"].replace("/", "-"))
    return cli.profile(list(apis), provider_extra=extra, endpoints=endpoints, **kw)


def attempts(doc: dict[str, Any]) -> list[tuple[str, str, str | None, int | None]]:
    return [(a["provider"], a["outcome"], a["error_class"], a["status"]) for a in doc["attempts"]]


# --- one dialect at a time ------------------------------------------------------------------------


def test_an_unknown_anthropic_event_whose_data_is_not_json_is_ignored(cli: Cli, fake: DialectUpstream) -> None:
    profile(cli, fake, {"p": "anthropic", "q": "anthropic"})
    fake.script("p", _NewEventFirst(chunks=["one ", "two"]))
    run = cli("ask", "--json", "hi")
    assert run.code == 0 and run.json()["content"] == "one two", run
    assert [a["provider"] for a in run.json()["attempts"]] == ["p"], "the provider that answered well served"


@pytest.mark.parametrize("api", NATIVE)
def test_streamed_answer(cli: Cli, fake: DialectUpstream, api: str) -> None:
    profile(cli, fake, {"p": api})
    fake.script("p", ok(chunks=["one ", "two ", "three"], reasoning=None if api == "azure" else "Thinking."))
    run = cli("ask", "-s", "Be brief.", "-o", "temperature=0.5", "hi")
    assert (run.code, run.out, run.err) == (0, "one two three", ""), run
    [sent] = fake.requests("p")
    assert sent.stream
    key = cli.key("p")
    assert key not in sent.path
    assert cli.scan() == {}  # the key is in no file orcli wrote (health store included)
    if api == "anthropic":
        assert sent.headers["x-api-key"] == key and sent.headers["anthropic-version"] == "2023-06-01"
        assert sent.body["system"] == "Be brief." and sent.body["messages"] == [{"role": "user", "content": "hi"}]
        assert sent.body["max_tokens"] == 4096 and sent.body["temperature"] == 0.5
    elif api == "gemini":
        assert sent.headers["x-goog-api-key"] == key
        assert sent.path == "/p/v1beta/models/test-model-a:streamGenerateContent?alt=sse"
        assert sent.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
        assert sent.body["generationConfig"] == {"temperature": 0.5}
    else:
        assert sent.headers["api-key"] == key and "authorization" not in sent.headers
        assert sent.query["api-version"] == "2024-10-21"
        assert sent.body["messages"][0] == {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize("api", NATIVE)
def test_no_stream_and_json(cli: Cli, fake: DialectUpstream, api: str) -> None:
    profile(cli, fake, {"p": api})
    run = cli("ask", "--no-stream", "hi")
    assert (run.code, run.out) == (0, "Hello from p"), run
    assert not fake.requests("p")[-1].stream
    run = cli("ask", "--json", "--max-tokens", "50", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert (doc["content"], doc["provider"], doc["finish_reason"]) == ("Hello from p", "p", "stop")
    assert doc["usage"] == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    assert doc["cost_usd"] == pytest.approx(13 * 1.0 / 1e6)  # price 1/M both ways
    sent = fake.requests("p")[-1].body
    assert {"anthropic": sent.get("max_tokens"), "azure": sent.get("max_tokens")}.get(
        api, sent.get("generationConfig", {}).get("maxOutputTokens")
    ) == 50


@pytest.mark.parametrize("api", NATIVE)
def test_health_probe_speaks_each_dialect(cli: Cli, fake: DialectUpstream, api: str) -> None:
    profile(cli, fake, {"p": api, "q": api})
    fake.script("q", bad_key())
    run = cli("health", "--probe", "--json")
    assert run.code == 1, run
    probes = {p["provider"]: p for p in run.json()["probes"]}
    assert probes["p"]["ok"] and not probes["q"]["ok"]
    assert fake.requests("p")[-1].dialect == api


# --- failures, failover and fallback across dialects ----------------------------------------------


def test_claude_overloaded_at_anthropic_is_served_via_an_openai_compatible_provider(
    cli: Cli, fake: DialectUpstream
) -> None:
    profile(cli, fake, {"anthropic": "anthropic", "openrouter": "openai"})
    fake.script("anthropic", overloaded())
    run = cli("ask", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert doc["content"] == "Hello from openrouter"
    assert attempts(doc) == [("anthropic", "failed", "provider", 529), ("openrouter", "success", None, 200)]


def test_rate_limit_at_anthropic_fails_over_and_its_retry_after_is_kept(cli: Cli, fake: DialectUpstream) -> None:
    profile(cli, fake, {"anthropic": "anthropic", "azure": "azure"})
    fake.script("anthropic", rate_limited(7))
    run = cli("ask", "--json", "hi")
    assert run.code == 0, run
    assert attempts(run.json())[0] == ("anthropic", "failed", "provider", 429)
    health = cli("health", "--json").json()
    rows = [r for r in health["endpoints"] if r["provider"] == "anthropic"]
    assert rows and rows[0]["state"] == "cooldown"


@pytest.mark.parametrize(
    ("api", "behaviour"),
    [
        ("anthropic", prompt_too_long()),
        ("gemini", prompt_too_long()),
        ("gemini", refused_prompt("PROHIBITED_CONTENT")),
        ("azure", content_filter_400()),
        ("azure", prompt_too_long()),
    ],
)
def test_model_class_failures_skip_to_the_next_model_in_another_dialect(
    cli: Cli, fake: DialectUpstream, api: str, behaviour: Any
) -> None:
    other = {"anthropic": "gemini", "gemini": "azure", "azure": "anthropic"}[api]
    endpoints = [
        {
            "model": MODEL,
            "provider": "first",
            "price": {"prompt": 1.0, "completion": 1.0},
            "max_completion_tokens": 100,
        },
        {"model": MODEL, "provider": "spare", "price": {"prompt": 2.0, "completion": 2.0}},
        {"model": MODEL_B, "provider": "spare", "price": {"prompt": 3.0, "completion": 3.0}},
    ]
    profile(cli, fake, {"first": api, "spare": other}, models=[MODEL, MODEL_B], endpoints=endpoints)
    fake.script("first", behaviour)
    run = cli("ask", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert (doc["model"], doc["provider"]) == (MODEL_B, "spare")
    assert attempts(doc)[0][:3] == ("first", "failed", "model")
    # The same model's other provider is skipped: the spare only ever saw model B.
    expected = MODEL_B.replace("/", "-") if other == "gemini" else MODEL_B
    assert [r.model for r in fake.requests("spare")] == [expected]


@pytest.mark.parametrize("api", ["gemini", "azure"])
def test_a_filter_stop_after_content_is_model_class_and_the_partial_answer_stays(
    cli: Cli, fake: DialectUpstream, api: str
) -> None:
    profile(cli, fake, {"p": api})
    fake.script("p", refused_answer("Sure, here "))
    run = cli("ask", "hi")
    assert run.code == 1, run
    assert run.out.startswith("Sure, here ")
    assert "content filter" in run.err or "content_filter" in run.err


@pytest.mark.parametrize("api", ["anthropic", "gemini"])
def test_a_mid_stream_error_after_content_ends_the_ask(cli: Cli, fake: DialectUpstream, api: str) -> None:
    profile(cli, fake, {"p": api, "q": "openai"})
    fake.script("p", error_after_content("partial "))
    run = cli("ask", "hi")
    assert run.code == 1, run
    assert run.out.startswith("partial ")
    assert fake.count("q") == 0  # content was written: no failover (docs/failures.md#failure-classes `stream`)
    # Without a stream nothing was written yet: the same failure is the provider's and ask goes on.
    run = cli("ask", "--json", "hi")
    assert run.code == 0 and run.json()["provider"] == "q", run


def test_gemini_bad_key_is_the_providers_failure(cli: Cli, fake: DialectUpstream) -> None:
    profile(cli, fake, {"google": "gemini", "openrouter": "openai"})
    fake.script("google", bad_key())
    run = cli("ask", "--json", "hi")
    assert run.code == 0, run
    assert attempts(run.json())[0] == ("google", "failed", "provider", 400)
    assert "API key not valid" in run.json()["attempts"][0]["error"]
    assert cli.scan() == {}


# --- tools through the gateway (docs/gateway.md: `orcli serve` takes OpenAI tools and hands them to any dialect) ---


@pytest.mark.parametrize("api", NATIVE)
def test_tool_calls_through_orcli_serve_in_each_dialect(cli: Cli, fake: DialectUpstream, api: str) -> None:
    openai = pytest.importorskip("openai", reason="the openai SDK (test extra) is the gateway's client")
    path = profile(cli, fake, {"p": api})
    fake.script("p", tool_call("get_weather", {"city": "Oslo"}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "orcli", "serve", "--port", "0", "--profile", str(path), "--json"],
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first, proc.stderr.read() if proc.stderr else ""
        client = openai.OpenAI(base_url=json.loads(first)["listening"], api_key="unused", max_retries=0)
        tool = {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
        hi = [{"role": "user", "content": "weather in Oslo?"}]
        answer = client.chat.completions.create(model=MODEL, messages=hi, tools=[tool])  # type: ignore[arg-type,list-item]
        [call] = answer.choices[0].message.tool_calls or []
        assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Oslo"})
        assert answer.choices[0].finish_reason == "tool_calls"
        chunks = list(client.chat.completions.create(model=MODEL, messages=hi, tools=[tool], stream=True))  # type: ignore[arg-type,list-item]
        parts = [t for c in chunks if c.choices for t in (c.choices[0].delta.tool_calls or [])]
        assert "".join(t.function.arguments or "" for t in parts if t.function).replace(" ", "") == '{"city":"Oslo"}'
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    sent = fake.requests("p")[0].body
    declared = {
        "anthropic": lambda: sent["tools"][0]["input_schema"],
        "gemini": lambda: sent["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"],
        "azure": lambda: sent["tools"][0]["function"]["parameters"],
    }[api]()
    assert declared == tool["function"]["parameters"]


# --- explain-route and providers name each provider's api (the bundled example profile) -------------


def test_explain_route_and_providers_show_each_providers_api(tmp_path: Path) -> None:
    cli = Cli(None, tmp_path)
    cli.set_keys({"ANTHROPIC_API_KEY": "sk-ant-canary-0123456789", "OPENROUTER_API_KEY": "sk-or-canary-0123456789"})
    run = cli("explain-route", "-p", "example", "-m", "anthropic/claude-sonnet-4.5", "--no-stdin", "--json")
    assert run.code == 0, run
    assert sorted((a["provider"], a["api"]) for a in run.json()["attempts"]) == [
        ("anthropic", "anthropic"),
        ("openrouter", "openai"),
    ]
    table = cli("explain-route", "-p", "example", "-m", "anthropic/claude-sonnet-4.5", "--no-stdin")
    assert table.code == 0, table
    header = next(line for line in table.out.splitlines() if "upstream model" in line)
    assert "api" in header.split()
    assert any(re.search(r"\banthropic\s+anthropic\s+claude-sonnet-4-5\s", line) for line in table.out.splitlines())
    doc = cli("providers", "-p", "example", "--json").json()
    apis = {p["name"]: p["api"] for p in doc["providers"]}
    assert (apis["anthropic"], apis["google"], apis["azure"], apis["openrouter"]) == (
        "anthropic",
        "gemini",
        "azure",
        "openai",
    )
    listing = cli("providers", "-p", "example", "--wide")  # every column, the api one included
    assert any(re.match(r"google\s+gemini\s", line) for line in listing.out.splitlines())
