"""The dialect fakes checked against the official SDKs as independent clients: each SDK, pointed at the fake,
parses its streamed and whole answers and raises its own exception types for the fake's errors. If an SDK
accepts what the fake sends, the fake speaks the real format closely enough to test orcli's dialects with.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
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

anthropic = pytest.importorskip("anthropic", reason="the anthropic SDK (pyproject test extra) is not installed")
openai = pytest.importorskip("openai", reason="the openai SDK (pyproject test extra) is not installed")
genai = pytest.importorskip("google.genai", reason="the google-genai SDK (pyproject test extra) is not installed")
from google.genai import errors as genai_errors  # noqa: E402
from google.genai import types as genai_types  # noqa: E402

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def fake() -> Iterator[DialectUpstream]:
    with DialectUpstream() as up:
        yield up


# --- Anthropic ------------------------------------------------------------------------------------


def claude(fake: DialectUpstream) -> anthropic.Anthropic:
    # The SDK appends /v1/messages to its base URL; orcli's base_url includes the /v1.
    return anthropic.Anthropic(api_key="sk-ant-fake", base_url=f"{fake.url}/anthropic", max_retries=0)


def test_anthropic_sdk_reads_whole_and_streamed_answers(fake: DialectUpstream) -> None:
    fake.script("anthropic", ok("Hi there", reasoning="Greeting."))
    msg = claude(fake).messages.create(model="claude-x", max_tokens=50, messages=HI)
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[1].text == "Hi there" and msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (10, 2)
    with claude(fake).messages.stream(model="claude-x", max_tokens=50, messages=HI) as stream:
        assert stream.get_final_text() == "Hi there"
        final = stream.get_final_message()
    assert final.content[0].thinking == "Greeting."
    assert final.usage.output_tokens == 2
    sent = fake.requests("anthropic")[-1]
    assert sent.headers["anthropic-version"] and sent.path == "/anthropic/v1/messages"


def test_anthropic_sdk_assembles_streamed_tool_input(fake: DialectUpstream) -> None:
    fake.script("anthropic", tool_call("get_weather", {"city": "Paris", "days": 3}))
    with claude(fake).messages.stream(model="claude-x", max_tokens=50, messages=HI) as stream:
        final = stream.get_final_message()
    [block] = final.content
    assert (block.type, block.name, block.input) == ("tool_use", "get_weather", {"city": "Paris", "days": 3})
    assert final.stop_reason == "tool_use"


def test_anthropic_sdk_reads_a_refusal(fake: DialectUpstream) -> None:
    fake.script("anthropic", refused_prompt())
    with claude(fake).messages.stream(model="claude-x", max_tokens=50, messages=HI) as stream:
        assert stream.get_final_message().stop_reason == "refusal"


@pytest.mark.parametrize(
    ("behaviour", "exc", "status"),
    [
        (overloaded(), "OverloadedError", 529),
        (rate_limited(3), "RateLimitError", 429),
        (prompt_too_long(), "BadRequestError", 400),
        (bad_key(), "AuthenticationError", 401),
    ],
)
def test_anthropic_sdk_raises_its_exception_for_each_error(
    fake: DialectUpstream, behaviour: object, exc: str, status: int
) -> None:
    fake.script("anthropic", behaviour)  # type: ignore[arg-type]
    with pytest.raises(getattr(anthropic, exc)) as info:
        claude(fake).messages.create(model="claude-x", max_tokens=50, messages=HI)
    assert info.value.status_code == status
    if status == 429:
        assert info.value.response.headers["retry-after"] == "3"


def test_anthropic_sdk_raises_on_a_mid_stream_error_event(fake: DialectUpstream) -> None:
    fake.script("anthropic", error_after_content("partial "))
    seen = []
    client = claude(fake)
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(model="claude-x", max_tokens=50, messages=HI) as stream,
    ):
        seen.extend(stream.text_stream)
    assert seen == ["partial "]
    assert "overloaded_error" in str(info.value)


def test_anthropic_fake_refuses_what_the_api_refuses(fake: DialectUpstream) -> None:
    with pytest.raises(anthropic.BadRequestError, match="Extra inputs are not permitted"):
        claude(fake).messages.create(model="claude-x", max_tokens=50, messages=HI, extra_body={"seed": 1})
    with pytest.raises(anthropic.BadRequestError, match="Unexpected role"):
        claude(fake).messages.create(
            model="claude-x", max_tokens=50, messages=[{"role": "system", "content": "x"}, *HI]
        )  # type: ignore[list-item]
    assert fake.count("anthropic") == 2


# --- Gemini ---------------------------------------------------------------------------------------


def gemini(fake: DialectUpstream) -> genai.Client:
    options = genai_types.HttpOptions(base_url=f"{fake.url}/google/", api_version="v1beta")
    return genai.Client(api_key="AIza-fake", http_options=options)


def test_genai_sdk_reads_whole_and_streamed_answers(fake: DialectUpstream) -> None:
    client = gemini(fake)
    fake.script("google", ok("Hello gem", reasoning="Thinking."))
    resp = client.models.generate_content(model="gemini-x", contents="hi")
    assert resp.text == "Hello gem"
    assert resp.candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert resp.usage_metadata.prompt_token_count == 10 and resp.usage_metadata.thoughts_token_count == 5
    chunks = list(client.models.generate_content_stream(model="gemini-x", contents="hi"))
    assert "".join(c.text or "" for c in chunks) == "Hello gem"
    assert chunks[-1].candidates[0].finish_reason == genai_types.FinishReason.STOP
    sent = fake.requests("google")[-1]
    assert sent.path == "/google/v1beta/models/gemini-x:streamGenerateContent?alt=sse"
    assert sent.headers["x-goog-api-key"] == "AIza-fake"


def test_genai_sdk_reads_function_calls_blocks_and_safety_stops(fake: DialectUpstream) -> None:
    client = gemini(fake)
    fake.script("google", tool_call("get_weather", {"city": "Rome"}))
    resp = client.models.generate_content(model="gemini-x", contents="hi")
    assert [(c.name, c.args) for c in resp.function_calls] == [("get_weather", {"city": "Rome"})]
    fake.script("google", refused_prompt("PROHIBITED_CONTENT"))
    resp = client.models.generate_content(model="gemini-x", contents="hi")
    assert resp.prompt_feedback.block_reason == genai_types.BlockedReason.PROHIBITED_CONTENT
    assert not resp.candidates
    fake.script("google", refused_answer("Sure"))
    chunks = list(client.models.generate_content_stream(model="gemini-x", contents="hi"))
    assert chunks[-1].candidates[0].finish_reason == genai_types.FinishReason.SAFETY


@pytest.mark.parametrize(
    ("behaviour", "exc", "code", "status"),
    [
        (rate_limited(3), "ClientError", 429, "RESOURCE_EXHAUSTED"),
        (bad_key(), "ClientError", 400, "INVALID_ARGUMENT"),
        (prompt_too_long(), "ClientError", 400, "INVALID_ARGUMENT"),
        (overloaded(), "ServerError", 503, "UNAVAILABLE"),
    ],
)
def test_genai_sdk_raises_its_exception_for_each_error(
    fake: DialectUpstream, behaviour: object, exc: str, code: int, status: str
) -> None:
    client = gemini(fake)
    fake.script("google", behaviour)  # type: ignore[arg-type]
    with pytest.raises(getattr(genai_errors, exc)) as info:
        client.models.generate_content(model="gemini-x", contents="hi")
    assert (info.value.code, info.value.status) == (code, status)
    if behaviour is not None and code == 400 and "key" in str(info.value.message).lower():
        assert info.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_gemini_fake_refuses_unknown_fields(fake: DialectUpstream) -> None:
    client = gemini(fake)
    config = genai_types.GenerateContentConfig(http_options=genai_types.HttpOptions(extra_body={"seed": 1}))
    with pytest.raises(genai_errors.ClientError, match="Unknown name"):
        client.models.generate_content(model="gemini-x", contents="hi", config=config)


# --- Azure OpenAI ---------------------------------------------------------------------------------


def azure(fake: DialectUpstream) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        api_key="az-fake", api_version="2024-10-21", azure_endpoint=f"{fake.url}/azure", max_retries=0
    )


def test_azure_sdk_reads_whole_and_streamed_answers(fake: DialectUpstream) -> None:
    fake.script("azure", ok("Hello az"))
    resp = azure(fake).chat.completions.create(model="my-deployment", messages=HI)  # type: ignore[arg-type]
    assert resp.choices[0].message.content == "Hello az"
    assert resp.prompt_filter_results  # type: ignore[attr-defined]
    stream = azure(fake).chat.completions.create(
        model="my-deployment",
        messages=HI,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices == []  # the prompt-filter-results-only first chunk
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello az"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2
    sent = fake.requests("azure")[-1]
    assert sent.path == "/azure/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21"
    assert sent.headers["api-key"] == "az-fake"


def test_azure_sdk_reads_tool_calls_and_filtered_answers(fake: DialectUpstream) -> None:
    fake.script("azure", tool_call("get_weather", {"city": "Oslo"}))
    resp = azure(fake).chat.completions.create(model="d", messages=HI)  # type: ignore[arg-type]
    assert resp.choices[0].message.tool_calls[0].function.arguments == '{"city": "Oslo"}'
    fake.script("azure", refused_answer("Sure"))
    chunks = list(azure(fake).chat.completions.create(model="d", messages=HI, stream=True))  # type: ignore[arg-type]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"


@pytest.mark.parametrize(
    ("behaviour", "exc", "code"),
    [
        (content_filter_400(), "BadRequestError", "content_filter"),
        (rate_limited(2), "RateLimitError", "429"),
        (bad_key(), "AuthenticationError", "401"),
        (prompt_too_long(), "BadRequestError", "context_length_exceeded"),
    ],
)
def test_azure_sdk_raises_its_exception_for_each_error(
    fake: DialectUpstream, behaviour: object, exc: str, code: str
) -> None:
    fake.script("azure", behaviour)  # type: ignore[arg-type]
    with pytest.raises(getattr(openai, exc)) as info:
        azure(fake).chat.completions.create(model="d", messages=HI)  # type: ignore[arg-type]
    assert info.value.code == code


def test_azure_fake_needs_an_api_version(fake: DialectUpstream) -> None:
    client = openai.OpenAI(api_key="x", base_url=f"{fake.url}/azure/openai/deployments/d", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="d", messages=HI)  # type: ignore[arg-type]
