"""`orcli serve`'s Anthropic Messages API end to end: the official `anthropic` SDK as the client, the real
`orcli serve` process, and loopback fakes of OpenAI-dialect, Anthropic and Gemini providers behind it
(tests/fake_dialects.py), so one Anthropic-shaped request is answered by a provider of each dialect."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import upstream as oa
from fake_dialects import DialectUpstream, error_after_content, ok, tool_call
from gateway_harness import MODEL_A, serving

anthropic = pytest.importorskip("anthropic", reason="the anthropic SDK (a test dependency) is the gateway's client")

DIALECTS = ("openai", "anthropic", "gemini")
WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def fake() -> Iterator[DialectUpstream]:
    with DialectUpstream() as up:
        yield up


def gateway(tmp_path: Path, fake: DialectUpstream, *apis: str, extra: tuple[str, ...] = (), **kw: Any) -> Any:
    """`orcli serve` over providers named after their api (`openai`, `anthropic`, `gemini`), cheapest first."""
    endpoints = [
        {
            "model": MODEL_A,
            "provider": api,
            "upstream_model": "test-model-a" if api == "gemini" else MODEL_A,
            "price": {"prompt": float(rank), "completion": float(rank)},
            "context_length": 8192,
            "max_completion_tokens": 4096,
        }
        for rank, api in enumerate(apis, start=1)
    ]
    providers = {api: {"api": api, "base_url": fake.base_url(api, api)} for api in apis}
    return serving(tmp_path, fake, *extra, providers=list(apis), provider_extra=providers, endpoints=endpoints, **kw)


def sent(fake: DialectUpstream, api: str, n: int = 0) -> dict[str, Any]:
    return fake.requests(api)[n].body


@pytest.mark.parametrize("api", DIALECTS)
def test_messages_create_is_answered_by_a_provider_of_each_dialect(
    tmp_path: Path, fake: DialectUpstream, api: str
) -> None:
    fake.script(api, ok("hello there", usage={"prompt_tokens": 21, "completion_tokens": 7}))
    with gateway(tmp_path, fake, api) as gw:
        raw = gw.anthropic().messages.with_raw_response.create(
            model=MODEL_A, max_tokens=100, system="Be brief.", messages=HI, extra_body={"temperature": 0.2}
        )
        message = raw.parse()
    assert raw.headers["x-orcli-provider"] == api
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == "hello there"
    assert message.stop_reason == "end_turn" and message.role == "assistant" and message.model == MODEL_A
    assert (message.usage.input_tokens, message.usage.output_tokens) == (21, 7)
    body = sent(fake, api)
    system = {
        "openai": lambda: body["messages"][0],
        "anthropic": lambda: body["system"],
        "gemini": lambda: body["systemInstruction"]["parts"][0]["text"],
    }[api]()
    assert "Be brief." in json.dumps(system)


@pytest.mark.parametrize("api", DIALECTS)
def test_messages_stream_yields_text_and_real_usage_from_each_dialect(
    tmp_path: Path, fake: DialectUpstream, api: str
) -> None:
    fake.script(api, ok(chunks=["one ", "two ", "three"], usage={"prompt_tokens": 17, "completion_tokens": 3}))
    with (
        gateway(tmp_path, fake, api) as gw,
        gw.anthropic().messages.stream(model=MODEL_A, max_tokens=100, messages=HI) as stream,
    ):
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "one two three"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (17, 3)
    if api == "openai":  # asked for, so message_delta can carry the real counts
        assert sent(fake, api)["stream_options"] == {"include_usage": True}


def test_the_raw_event_sequence_is_anthropics(tmp_path: Path, fake: DialectUpstream) -> None:
    fake.script("openai", ok(chunks=["a", "b"]))
    with gateway(tmp_path, fake, "openai") as gw:
        body = {"model": MODEL_A, "max_tokens": 50, "messages": HI, "stream": True}
        response = httpx.post(f"{gw.root}/v1/messages", json=body, timeout=30)
    names = [line.removeprefix("event: ") for line in response.text.splitlines() if line.startswith("event: ")]
    assert response.headers["content-type"].startswith("text/event-stream")
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def _weather_answer(api: str) -> Any:
    if api == "openai":
        return oa.tool_calls(("get_weather", '{"city": "Oslo"}'))
    return tool_call("get_weather", {"city": "Oslo"})


@pytest.mark.parametrize("api", DIALECTS)
@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
def test_a_tool_use_round_trip_through_each_dialect(
    tmp_path: Path, fake: DialectUpstream, api: str, streamed: bool
) -> None:
    fake.script(api, _weather_answer(api), ok("It is sunny in Oslo."))
    with gateway(tmp_path, fake, api) as gw:
        client = gw.anthropic()
        ask = {
            "model": MODEL_A,
            "max_tokens": 200,
            "tools": [WEATHER],
            "messages": [{"role": "user", "content": "Weather in Oslo?"}],
        }
        if streamed:
            with client.messages.stream(**ask) as stream:
                first = stream.get_final_message()
        else:
            first = client.messages.create(**ask)
        [use] = [b for b in first.content if b.type == "tool_use"]
        assert first.stop_reason == "tool_use"
        assert (use.name, use.input) == ("get_weather", {"city": "Oslo"})
        history = [
            *ask["messages"],
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 C"},
                    {"type": "text", "text": "And so?"},
                ],
            },
        ]
        second = client.messages.create(**{**ask, "messages": history})
    assert second.content[0].text == "It is sunny in Oslo." and second.stop_reason == "end_turn"
    body = json.dumps(sent(fake, api, 1))
    assert "sunny, 21 C" in body and "And so?" in body
    if api == "openai":
        messages = sent(fake, api, 1)["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "tool", "user"]
        assert messages[2]["tool_call_id"] == use.id and messages[1]["tool_calls"][0]["id"] == use.id
        assert sent(fake, api)["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]


def test_tool_choice_and_stop_sequences_and_thinking_reach_an_anthropic_provider(
    tmp_path: Path, fake: DialectUpstream
) -> None:
    with gateway(tmp_path, fake, "anthropic") as gw:
        gw.anthropic().messages.create(
            model=MODEL_A,
            max_tokens=3000,
            messages=HI,
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice={"type": "tool", "name": "get_weather"},
            stop_sequences=["END"],
        )
        gw.anthropic().messages.create(
            model=MODEL_A, max_tokens=3000, messages=HI, thinking={"type": "enabled", "budget_tokens": 1500}
        )
    first, second = sent(fake, "anthropic"), sent(fake, "anthropic", 1)
    assert first["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert first["stop_sequences"] == ["END"] and first["max_tokens"] == 3000
    assert second["thinking"] == {"type": "enabled", "budget_tokens": 1500}


def test_thinking_comes_back_as_thinking_blocks_when_asked_for(tmp_path: Path, fake: DialectUpstream) -> None:
    fake.script("anthropic", ok("42", reasoning="Let me think."))
    with gateway(tmp_path, fake, "anthropic") as gw:
        client = gw.anthropic()
        thought = client.messages.create(
            model=MODEL_A, max_tokens=3000, messages=HI, thinking={"type": "enabled", "budget_tokens": 1500}
        )
        plain = client.messages.create(model=MODEL_A, max_tokens=3000, messages=HI)
    assert [(b.type, getattr(b, "thinking", None)) for b in thought.content][0] == ("thinking", "Let me think.")
    assert [b.type for b in plain.content] == ["text"]


def test_failover_across_dialects_is_invisible_to_the_client(tmp_path: Path, fake: DialectUpstream) -> None:
    from fake_dialects import overloaded

    fake.script("anthropic", overloaded())
    with gateway(tmp_path, fake, "anthropic", "gemini") as gw:
        raw = gw.anthropic().messages.with_raw_response.create(model=MODEL_A, max_tokens=50, messages=HI)
    assert raw.parse().content[0].text == "Hello from gemini"
    assert raw.headers["x-orcli-provider"] == "gemini" and raw.headers["x-orcli-attempts"] == "2"


def test_errors_have_anthropics_shape_and_types(tmp_path: Path, fake: DialectUpstream) -> None:
    from fake_dialects import server_error

    fake.script("openai", server_error())
    with gateway(tmp_path, fake, "openai") as gw:
        client = gw.anthropic(max_retries=2)  # the SDK's default retries: the plan must still run once
        with pytest.raises(anthropic.NotFoundError) as unknown:
            client.messages.create(model="nope/none", max_tokens=10, messages=HI)
        with pytest.raises(anthropic.InternalServerError) as failed:
            client.messages.create(model=MODEL_A, max_tokens=10, messages=HI)
        missing = httpx.post(f"{gw.root}/v1/messages", json={"model": MODEL_A, "messages": HI}, timeout=30)
        extra = httpx.post(
            f"{gw.root}/v1/messages", timeout=30, json={"model": MODEL_A, "max_tokens": 5, "messages": HI, "bogus": 1}
        )
    assert unknown.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert failed.value.status_code == 502 and failed.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert failed.value.response.headers["x-should-retry"] == "false"
    assert fake.count("openai") == 1
    assert missing.status_code == 400 and missing.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }
    assert extra.status_code == 400 and "bogus" in extra.json()["error"]["message"]


def test_a_stream_that_breaks_after_content_ends_with_an_error_event_the_sdk_raises(
    tmp_path: Path, fake: DialectUpstream
) -> None:
    fake.script("anthropic", error_after_content("partial "))
    with gateway(tmp_path, fake, "anthropic") as gw:
        seen: list[str] = []
        stream = gw.anthropic().messages.stream(model=MODEL_A, max_tokens=50, messages=HI)
        with pytest.raises(anthropic.APIStatusError, match="stream broke"), stream as events:
            seen.extend(events.text_stream)
    assert "".join(seen) == "partial "


def test_client_auth_by_x_api_key_or_bearer_against_auth_env(tmp_path: Path, fake: DialectUpstream) -> None:
    token = "tok-" + "z" * 28
    with gateway(tmp_path, fake, "openai", extra=("--auth-env", "GW_TOKEN"), env_extra={"GW_TOKEN": token}) as gw:
        with pytest.raises(anthropic.AuthenticationError) as refused:
            gw.anthropic(api_key="wrong").messages.create(model=MODEL_A, max_tokens=10, messages=HI)
        by_key = gw.anthropic(api_key=token).messages.create(model=MODEL_A, max_tokens=10, messages=HI)
        bearer = httpx.post(
            f"{gw.root}/v1/messages",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            json={"model": MODEL_A, "max_tokens": 10, "messages": HI},
        )
        log = gw.log_lines()
    assert refused.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert by_key.content[0].text and bearer.status_code == 200
    assert token not in json.dumps(log)


def test_count_tokens_estimates_the_prompt(tmp_path: Path, fake: DialectUpstream) -> None:
    with gateway(tmp_path, fake, "openai") as gw:
        client = gw.anthropic()
        short = client.messages.count_tokens(model=MODEL_A, messages=HI)
        long = client.messages.count_tokens(
            model=MODEL_A, messages=[{"role": "user", "content": "word " * 400}], system="Be brief.", tools=[WEATHER]
        )  # type: ignore[list-item]
    assert 0 < short.input_tokens < 10 and 400 <= long.input_tokens < 1000
    assert fake.count() == 0


def test_outcomes_of_messages_requests_are_recorded_like_any_other(tmp_path: Path, fake: DialectUpstream) -> None:
    from fake_dialects import overloaded

    fake.script("anthropic", overloaded())
    with gateway(tmp_path, fake, "anthropic", "openai") as gw:
        gw.anthropic().messages.create(model=MODEL_A, max_tokens=10, messages=HI)
        gw.stop()
        outcomes = gw.outcomes()
    assert [(p, okay, cls) for _, p, okay, cls in outcomes] == [("anthropic", 0, "provider"), ("openai", 1, None)]
