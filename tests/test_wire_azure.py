"""The Azure OpenAI dialect: deployment URL, api-key, OpenAI bodies, filter results and the content_filter 400.

Payloads follow learn.microsoft.com azure/ai-services/openai/reference and .../concepts/content-filter.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcli.execution.classify import Kind, classify_error, classify_finish_reason
from orcli.types import FailureClass
from orcli.wire import dialect_for
from orcli.wire.azure import DEFAULT_API_VERSION
from orcli.wire.base import ChatRequest, MalformedResponse, SSEEvent, UpstreamErrorInBody
from tests.wire_cases import HELLO, classified, dialect_case
from tests.wire_signing import signed

D, PROVIDER, ENDPOINT = dialect_case(
    "azure", "azure", "https://myres.openai.azure.com", "openai/gpt-4o-mini", "my-gpt4o-mini"
)


def test_deployment_url_api_version_and_api_key_header() -> None:
    req = signed(D, PROVIDER, ENDPOINT, ChatRequest(HELLO, system="Be brief."), "azkey", False)
    assert req.url == (
        f"https://myres.openai.azure.com/openai/deployments/my-gpt4o-mini/chat/completions?api-version={DEFAULT_API_VERSION}"
    )
    assert DEFAULT_API_VERSION == "2024-10-21"
    assert req.headers["api-key"] == "azkey"
    assert not any(k.lower() == "authorization" for k in req.headers)
    assert "azkey" not in req.url
    assert json.loads(req.body) == {
        "model": "my-gpt4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
        "stream": False,
    }


def test_a_base_url_ending_in_openai_is_not_doubled() -> None:
    provider = PROVIDER._replace(base_url="https://myres.openai.azure.com/openai")
    req = signed(D, provider, ENDPOINT, ChatRequest(HELLO), "azkey", False)
    assert req.url.startswith("https://myres.openai.azure.com/openai/deployments/my-gpt4o-mini/chat/completions?")


def test_api_version_from_the_provider_and_stream_options() -> None:
    provider = PROVIDER._replace(settings={"api_version": "2025-04-01-preview"}, headers={"api-key": "nope"})
    req = signed(D, provider, ENDPOINT, ChatRequest(HELLO, options={"temperature": 0.1, "seed": 3}), "azkey", True)
    assert req.url.endswith("?api-version=2025-04-01-preview")
    assert req.headers["api-key"] == "azkey"
    body = json.loads(req.body)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["temperature"], body["seed"]) == (0.1, 3)


def test_tools_and_schema_are_openai_shaped() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    body = json.loads(signed(D, PROVIDER, ENDPOINT, ChatRequest(HELLO, tools=(tool,), schema=schema), "k", False).body)
    assert body["tools"] == [tool]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema},  # exactly the openai dialect's
    }


COMPLETION = {
    "id": "chatcmpl-7R1nGnsXO8n4oi9UPz2f3UHdgAYMn",
    "object": "chat.completion",
    "created": 1686676106,
    "model": "gpt-4o-mini-2024-07-18",
    "prompt_filter_results": [
        {"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}}}
    ],
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Hello! How can I help?"},
            "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
        }
    ],
    "usage": {"completion_tokens": 7, "prompt_tokens": 9, "total_tokens": 16},
}


def test_answer_with_filter_results() -> None:
    answer = D.decode_answer(json.dumps(COMPLETION).encode())
    assert answer.content == "Hello! How can I help?"
    assert answer.finish_reason == "stop"
    assert answer.usage is not None and answer.usage[:2] == (9, 7)
    assert answer.model == "gpt-4o-mini-2024-07-18"
    with pytest.raises(MalformedResponse):
        D.decode_answer(b'{"choices": []}')


def test_a_filtered_completion_is_content_filter_of_the_model_class() -> None:
    body = {**COMPLETION, "choices": [{**COMPLETION["choices"][0], "finish_reason": "content_filter"}]}
    answer = D.decode_answer(json.dumps(body).encode())
    failure = classify_finish_reason(answer.finish_reason)
    assert failure is not None and failure.cls is FailureClass.MODEL


def test_stream_first_chunk_with_only_prompt_filter_results_is_empty() -> None:
    decoder = D.event_decoder()
    first = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    }
    chunk = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None, "content_filter_results": {}}],
    }
    end = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {**chunk, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}
    deltas = [d for data in (first, chunk, end, usage) for d in decoder.decode(SSEEvent(json.dumps(data)))]
    deltas += decoder.decode(SSEEvent("[DONE]"))
    assert (deltas[0].content, deltas[0].finish_reason, deltas[0].error) == ("", None, None)
    assert "".join(d.content for d in deltas) == "Hi"
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]
    assert deltas[3].usage is not None and deltas[3].usage[:2] == (5, 1)
    assert deltas[-1].done


CONTENT_FILTER_400 = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
        "Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": True, "severity": "high"},
                "self_harm": {"filtered": False, "severity": "safe"},
            },
        },
    }
}


@pytest.mark.parametrize(
    ("status", "body", "cls", "kind"),
    [
        (400, CONTENT_FILTER_400, FailureClass.MODEL, Kind.MODERATION),
        (
            429,
            {
                "error": {
                    "code": "429",
                    "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
                    "2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
                    "Please retry after 6 seconds.",
                }
            },
            FailureClass.PROVIDER,
            Kind.HTTP_429,
        ),
        (
            404,
            {
                "error": {
                    "code": "DeploymentNotFound",
                    "message": "The API deployment for this resource does not exist.",
                }
            },
            FailureClass.PROVIDER,
            Kind.NOT_FOUND,
        ),
        (
            401,
            {
                "error": {
                    "code": "401",
                    "message": "Access denied due to invalid subscription key or wrong API endpoint.",
                }
            },
            FailureClass.PROVIDER,
            Kind.AUTH,
        ),
        (
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 128000 tokens.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            },
            FailureClass.MODEL,
            Kind.CONTEXT_LENGTH,
        ),
        (
            500,
            {"error": {"code": "InternalServerError", "message": "Backend returned unexpected response."}},
            FailureClass.PROVIDER,
            Kind.SERVER_ERROR,
        ),
    ],
)
def test_error_bodies_parse_and_classify(status: int, body: dict, cls: FailureClass, kind: Kind) -> None:
    err = D.parse_error(status, json.dumps(body).encode())
    assert err.status == status
    assert classified(status, err) == (cls, kind)


def test_content_filter_400_keeps_the_inner_error_as_detail() -> None:
    err = D.parse_error(400, json.dumps(CONTENT_FILTER_400).encode())
    assert err.code == "content_filter"
    assert "ResponsibleAIPolicyViolation" in err.detail and "hate" in err.detail and "self_harm" not in err.detail


def test_an_error_in_a_200_body_or_a_stream_chunk() -> None:
    body = json.dumps({"error": {"code": "content_filter", "message": "filtered"}}).encode()
    with pytest.raises(UpstreamErrorInBody) as info:
        D.decode_answer(body)
    assert classify_error(info.value.error).cls is FailureClass.MODEL
    [delta] = D.event_decoder().decode(
        SSEEvent(json.dumps({"choices": [], "error": {"message": "boom", "code": "500"}}))
    )
    assert delta.error is not None and classify_error(delta.error).cls is FailureClass.PROVIDER


# -- the stream decoder skips re-reading a repeated content-filter verdict: what it decodes must not change

_SAFE = {c: {"filtered": False, "severity": "safe"} for c in ("hate", "self_harm", "sexual", "violence")}
_FLAGGED = {**_SAFE, "violence": {"filtered": True, "severity": "medium"}}


def _azure_chunk(content: object, verdict: object = _SAFE, finish: str | None = None, **extra: object) -> str:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish, "content_filter_results": verdict}
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": [choice], **extra})


def _same_as_openai(events: list[str]) -> None:
    """Azure's decoder, over one stream, gives exactly what OpenAI's decoding of each event gives (or raises
    exactly the same error)."""
    azure, openai = D.event_decoder(), dialect_for("openai").event_decoder()
    for data in events:
        try:
            expected = openai.decode(SSEEvent(data))
        except Exception as exc:  # noqa: BLE001 - compared below
            with pytest.raises(type(exc)) as info:
                azure.decode(SSEEvent(data))
            assert str(info.value) == str(exc)
        else:
            assert azure.decode(SSEEvent(data)) == expected


def test_a_repeated_verdict_decodes_as_openai_does() -> None:
    verdict_text = json.dumps({"content_filter_results": _SAFE})[1:-1]
    _same_as_openai(
        [
            _azure_chunk("Hello", prompt_filter_results=[{"prompt_index": 0, "content_filter_results": _SAFE}]),
            _azure_chunk(" world"),
            _azure_chunk(verdict_text),  # the verdict's own text, as text the model wrote
            _azure_chunk('"content_filter_results": {}'),
            _azure_chunk("x", verdict={}),  # an empty verdict between full ones
            _azure_chunk("y", verdict=_FLAGGED),  # a different verdict: read in full
            _azure_chunk("z", verdict=_FLAGGED),
            _azure_chunk("", verdict=_SAFE, finish="content_filter"),
            _azure_chunk("after", error={"message": "boom", "code": "500"}),  # an error keeps its raw text
            _azure_chunk("bad")[:-1],  # malformed after a verdict was learned: the same error, same words
            _azure_chunk(["not", "text"]),
            json.dumps({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}),
        ]
    )


def test_a_verdict_that_is_a_value_or_not_an_object_is_never_skipped() -> None:
    _same_as_openai(
        [
            _azure_chunk("a"),
            json.dumps({"choices": [{"index": 0, "delta": {"content": "content_filter_results"}}], "note": "x"}),
            json.dumps({"choices": [], "x": "content_filter_results", "content_filter_results": 3}),
            _azure_chunk("b", verdict=[1, 2]),
            _azure_chunk("c"),
        ]
    )


def test_a_verdict_where_the_last_one_was_or_elsewhere_decodes_as_openai_does() -> None:
    # Azure's own layout puts the verdict first in the choice (a fixed distance from the start); the fake's puts
    # it last (a fixed distance from the end); a chunk of another shape must still be searched.
    def first(content: str, verdict: object = _SAFE) -> str:
        choice = {"content_filter_results": verdict, "delta": {"content": content}, "finish_reason": None, "index": 0}
        return json.dumps({"choices": [choice], "id": "c", "model": "gpt-4o"})

    _same_as_openai([first("a"), first("bb"), first("ccc" * 40), first("d", _FLAGGED), first("e"), first("f")])
    _same_as_openai([_azure_chunk("a"), _azure_chunk("bb"), first("c"), _azure_chunk("d" * 90), first("e")])
    _same_as_openai([_azure_chunk("a"), _azure_chunk("b", model="x" * 300), _azure_chunk("c")[:-1]])


@given(st.lists(st.text(), min_size=1, max_size=6))
def test_any_text_decodes_as_openai_does(pieces: list[str]) -> None:
    verdict_text = json.dumps({"content_filter_results": _SAFE})
    _same_as_openai([_azure_chunk(p + verdict_text[i % 7 :]) for i, p in enumerate(pieces)])
