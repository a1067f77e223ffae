"""Each native dialect over real HTTP against its loopback fake (which the official SDKs accept, see
test_fakes_vs_sdks.py): the request the dialect builds is one the fake takes, and what the fake sends back
decodes to the neutral answer shape. The executor is not involved; httpx and orcli's SSE decoder are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
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

from orcli.execution.classify import Kind, classify_error, classify_finish_reason, classify_http, parse_retry_after
from orcli.types import Endpoint, FailureClass, Provider
from orcli.wire import dialect_for
from orcli.wire.base import Answer, ChatRequest, Delta, UpstreamError, UpstreamErrorInBody
from orcli.wire.sse import SSEDecoder
from tests.wire_signing import signed


def classified(status: int, err: UpstreamError) -> tuple[FailureClass, Kind]:
    """What the executor makes of an error response: docs/failures.md#failure-classes class and kind (classify_http, as ask calls it)."""
    failure = classify_http(status, err, {})
    return failure.cls, failure.kind


DIALECTS = ("anthropic", "gemini", "azure")
REQUEST = ChatRequest(({"role": "user", "content": "Hello"},), system="Be brief.", options={"temperature": 0.5})
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture
def fake() -> Iterator[DialectUpstream]:
    with DialectUpstream() as up:
        yield up


def target(fake: DialectUpstream, api: str) -> tuple[Provider, Endpoint]:
    provider = Provider(name=api, base_url=fake.base_url(api, api), api=api, api_key_env="K")
    return provider, Endpoint(model="m/x", provider=api, upstream_model=f"{api}-model")


def call(fake: DialectUpstream, api: str, request: ChatRequest = REQUEST) -> httpx.Response:
    provider, endpoint = target(fake, api)
    req = signed(dialect_for(api), provider, endpoint, request, "key-123", False)
    return httpx.post(req.url, headers=dict(req.headers), content=req.body, timeout=5)


def stream(fake: DialectUpstream, api: str, request: ChatRequest = REQUEST) -> tuple[int, list[Delta], bytes]:
    """Status, the decoded deltas (a 200) and the raw body."""
    provider, endpoint = target(fake, api)
    dialect = dialect_for(api)
    req = signed(dialect, provider, endpoint, request, "key-123", True)
    sse, events, deltas = SSEDecoder(), dialect.event_decoder(), []
    with httpx.stream("POST", req.url, headers=dict(req.headers), content=req.body, timeout=5) as resp:
        raw = b""
        for data in resp.iter_bytes():
            raw += data
            if resp.status_code == 200:
                for event in sse.feed(data):
                    deltas.extend(events.decode(event))  # type: ignore[arg-type]
        if resp.status_code == 200:
            for event in sse.close():
                deltas.extend(events.decode(event))  # type: ignore[arg-type]
        return resp.status_code, deltas, raw


def joined(deltas: list[Delta]) -> Answer:
    args: dict[int, str] = {}
    for d in deltas:
        for t in d.tool_calls:
            args[t.index] = args.get(t.index, "") + t.arguments
    finish = [d.finish_reason for d in deltas if d.finish_reason]
    usage = [d.usage for d in deltas if d.usage and d.usage.completion_tokens is not None]
    return Answer(
        content="".join(d.content for d in deltas),
        reasoning="".join(d.reasoning for d in deltas) or None,
        finish_reason=finish[-1] if finish else None,
        usage=usage[-1] if usage else None,
        tool_calls=tuple(args.items()),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("api", DIALECTS)
def test_whole_answer(fake: DialectUpstream, api: str) -> None:
    fake.script(api, ok("Hi there", reasoning=None if api == "azure" else "Hmm."))
    resp = call(fake, api)
    assert resp.status_code == 200, resp.text
    answer = dialect_for(api).decode_answer(resp.content)
    assert answer.content == "Hi there"
    assert answer.finish_reason == "stop"
    assert answer.usage is not None and answer.usage.prompt_tokens == 10
    if api != "azure":
        assert answer.reasoning == "Hmm."
    assert "key-123" not in fake.requests(api)[-1].path


@pytest.mark.parametrize("api", DIALECTS)
def test_streamed_answer(fake: DialectUpstream, api: str) -> None:
    fake.script(api, ok("Hi there friend", reasoning=None if api == "azure" else "Hmm."))
    status, deltas, raw = stream(fake, api)
    assert status == 200, raw
    answer = joined(deltas)
    assert answer.content == "Hi there friend"
    assert answer.finish_reason == "stop"
    assert answer.usage is not None and answer.usage.completion_tokens is not None
    assert deltas[-1].done
    if api != "azure":
        assert answer.reasoning == "Hmm."


@pytest.mark.parametrize("api", DIALECTS)
def test_tool_calls(fake: DialectUpstream, api: str) -> None:
    fake.script(api, tool_call("get_weather", {"city": "Paris"}))
    request = REQUEST._replace(tools=(TOOL,))
    answer = dialect_for(api).decode_answer(call(fake, api, request).content)
    assert [(c.name, json.loads(c.arguments)) for c in answer.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert answer.finish_reason == "tool_calls"
    assert answer.tool_calls[0].id  # every tool call has an id to answer it by
    _, deltas, _ = stream(fake, api, request)
    streamed = joined(deltas)
    assert streamed.finish_reason == "tool_calls"
    assert [json.loads(a) for _, a in streamed.tool_calls] == [{"city": "Paris"}]  # type: ignore[misc]


@pytest.mark.parametrize("api", DIALECTS)
def test_http_errors_classify_per_spec(fake: DialectUpstream, api: str) -> None:
    cases = [
        (overloaded(), FailureClass.PROVIDER, Kind.SERVER_ERROR),
        (rate_limited(3), FailureClass.PROVIDER, None),
        (prompt_too_long(), FailureClass.MODEL, Kind.CONTEXT_LENGTH),
        (bad_key(), FailureClass.PROVIDER, Kind.AUTH),
    ]
    for behaviour, cls, kind in cases:
        fake.script(api, behaviour)
        resp = call(fake, api)
        err = dialect_for(api).parse_error(resp.status_code, resp.content)
        got_cls, got_kind = classified(resp.status_code, err)
        assert got_cls is cls, (behaviour, err)
        if kind is not None:
            assert got_kind is kind, (behaviour, err)
        if resp.status_code == 429 and api != "gemini":  # Gemini says when in a RetryInfo detail, not a header
            assert parse_retry_after(resp.headers) == 3


@pytest.mark.parametrize("api", ["gemini", "azure"])
def test_refused_prompt_is_a_model_class_failure(fake: DialectUpstream, api: str) -> None:
    fake.script(api, refused_prompt())
    resp = call(fake, api)
    if api == "azure":
        err = dialect_for(api).parse_error(resp.status_code, resp.content)
        assert classified(resp.status_code, err) == (FailureClass.MODEL, Kind.MODERATION)
        return
    with pytest.raises(UpstreamErrorInBody) as info:
        dialect_for(api).decode_answer(resp.content)
    assert classify_error(info.value.error).cls is FailureClass.MODEL
    _, deltas, _ = stream(fake, api)
    assert [classify_error(d.error).kind for d in deltas if d.error] == [Kind.MODERATION]


def test_anthropic_refusal_is_content_filter(fake: DialectUpstream) -> None:
    fake.script("anthropic", refused_prompt())
    answer = dialect_for("anthropic").decode_answer(call(fake, "anthropic").content)
    failure = classify_finish_reason(answer.finish_reason)
    assert failure is not None and failure.cls is FailureClass.MODEL


@pytest.mark.parametrize("api", ["gemini", "azure"])
def test_answer_stopped_by_the_filter(fake: DialectUpstream, api: str) -> None:
    fake.script(api, refused_answer("Sure, "))
    _, deltas, _ = stream(fake, api)
    answer = joined(deltas)
    assert (answer.content, answer.finish_reason) == ("Sure, ", "content_filter")


@pytest.mark.parametrize("api", ["anthropic", "gemini"])
def test_mid_stream_error_after_content(fake: DialectUpstream, api: str) -> None:
    fake.script(api, error_after_content("partial "))
    _, deltas, _ = stream(fake, api)
    assert "".join(d.content for d in deltas) == "partial "
    [error] = [d.error for d in deltas if d.error]
    assert classify_error(error).cls is FailureClass.PROVIDER


def test_azure_content_filter_400(fake: DialectUpstream) -> None:
    fake.script("azure", content_filter_400())
    resp = call(fake, "azure")
    err = dialect_for("azure").parse_error(resp.status_code, resp.content)
    assert err.code == "content_filter" and "violence" in err.detail
    assert classified(400, err) == (FailureClass.MODEL, Kind.MODERATION)


def test_every_option_and_the_schema_reach_the_fakes_in_a_shape_they_take(fake: DialectUpstream) -> None:
    options = {
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END"],
        "seed": 4,
        "max_tokens": 300,
        "frequency_penalty": 0.1,
        "reasoning_effort": "low",
        "tool_choice": "auto",
    }
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    for api in DIALECTS:
        fake.script(api, ok("{}"))
        resp = call(fake, api, REQUEST._replace(options=options, tools=(TOOL,), schema=schema))
        assert resp.status_code == 200, (api, resp.text)
