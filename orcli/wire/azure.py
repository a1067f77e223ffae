"""The Azure OpenAI dialect (docs/dialects.md): OpenAI chat completions at a deployment URL with `api-key` auth.

Bodies, answers and streams are OpenAI's (orcli.wire.openai builds and parses them); Azure adds the URL shape
(`/openai/deployments/{deployment}/chat/completions?api-version=V`), the `api-key` header, filter results in
answers (`prompt_filter_results` may come alone in a stream's first chunk, with empty `choices`: it decodes
to an empty delta), and the `content_filter` 400 with an `innererror`. Sources:
learn.microsoft.com azure/ai-services/openai/reference, .../openai/concepts/content-filter
(the providers' own API references).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote

from orcli.types import Endpoint, Provider
from orcli.wire import openai
from orcli.wire.base import (
    Answer,
    Auth,
    ChatRequest,
    Delta,
    EventDecoder,
    HttpRequest,
    SSEEvent,
    UpstreamError,
    WireError,
)
from orcli.wire.native import headers
from orcli.wire.text import loads

# The latest GA (non-preview) data-plane inference api-version with a dated name; provider key `api_version`
# picks another (e.g. a preview for features not in GA yet).
DEFAULT_API_VERSION = "2024-10-21"


def deployment_url(provider: Provider, deployment: str) -> str:
    """The deployment's chat-completions URL; a base_url given with Azure's `/openai` path is taken as meant."""
    version = str(provider.settings.get("api_version") or DEFAULT_API_VERSION)
    resource = provider.base_url.removesuffix("/openai")
    return (
        f"{resource}/openai/deployments/{quote(deployment, safe='-._~')}/chat/completions"
        f"?api-version={quote(version, safe='-._~')}"
    )


def _with_inner_error(err: UpstreamError) -> UpstreamError:
    """Azure's innererror (ResponsibleAIPolicyViolation and the categories its filter flagged) as detail."""
    try:
        obj = loads(err.raw) if err.raw.strip() else None
    except ValueError:
        return err
    error = obj.get("error") if isinstance(obj, dict) else None
    inner = error.get("innererror") if isinstance(error, dict) else None
    if not isinstance(inner, Mapping):
        return err
    words = [inner["code"]] if isinstance(inner.get("code"), str) else []
    result = inner.get("content_filter_result")
    if isinstance(result, Mapping):
        words += [k for k, v in result.items() if isinstance(v, Mapping) and v.get("filtered") is True]
    return err._replace(detail=" ".join([err.detail, *words]).strip())


API_KEY = Auth(header="api-key", prefix="")

_VERDICT_KEY = '"content_filter_results"'
_object_at = json.JSONDecoder().raw_decode


class _EventDecoder:
    """OpenAI's stream decoding, minus re-reading Azure's content-filter verdict in every chunk.

    Azure repeats the same `"content_filter_results": {...}` (every category "safe") in each chunk: more JSON
    than the text itself, which orcli never reads in a stream (a filtered answer shows in `finish_reason`).
    When a chunk holds, character for character, the verdict seen last (looked for where the last one was,
    counted from either end, then at the key's first occurrence), it is replaced by an empty object before
    parsing: a compare instead of parsing it again (docs/performance.md). Safe because the verdict's text holds
    bare `"` characters, which cannot occur inside a JSON string, so wherever it matches it is that key and its
    whole object value, never part of a string, and valid JSON stays valid. Whatever does not decode cleanly
    that way (malformed JSON, an error object, whose raw text is kept) is decoded again from the text as sent.
    """

    def __init__(self) -> None:
        self._verdict: str | None = None  # the last non-empty verdict seen, key included, as sent
        # Where it was in its chunk, counted from the start and from the end: a stream's chunks differ in their
        # text and keep their shape, so the next verdict is usually at one of the two (no search).
        self._head = 0
        self._tail = 0

    def decode(self, event: SSEEvent) -> list[Delta]:
        data = event.data
        verdict = self._verdict
        start = -1
        if verdict is not None:
            if data.startswith(verdict, self._head):
                start = self._head
            elif data.startswith(verdict, len(data) - self._tail - len(verdict)):
                start = len(data) - self._tail - len(verdict)
        if start < 0:
            start = data.find(_VERDICT_KEY)
            if start < 0:
                return [openai.parse_stream_event(data)]
            if verdict is None or not data.startswith(verdict, start):
                self._learn(data, start)
                return [openai.parse_stream_event(data)]
        assert verdict is not None
        end = start + len(verdict)
        self._head, self._tail = start, len(data) - end
        try:
            delta = openai.parse_stream_event(data[:start] + _EMPTY_VERDICT + data[end:])
        except WireError:
            delta = None  # the text as sent says what is wrong, in its own words
        if delta is not None and delta.error is None:
            return [delta]
        return [openai.parse_stream_event(data)]

    def _learn(self, data: str, start: int) -> None:
        """Remember the verdict at `start` as it was sent, when it is a key with a non-empty object."""
        colon = start + len(_VERDICT_KEY)
        while data[colon : colon + 1].isspace():
            colon += 1
        if data[colon : colon + 1] != ":":
            return  # the words as a value, not a key
        value = colon + 1
        while data[value : value + 1].isspace():
            value += 1
        if data[value : value + 1] != "{":
            return
        try:
            verdict, end = _object_at(data, value)
        except ValueError:
            return
        if verdict:
            self._verdict = data[start:end]
            self._head, self._tail = start, len(data) - end


_EMPTY_VERDICT = _VERDICT_KEY + ":{}"


class AzureDialect:
    """`api = "azure"`: POST {base_url}/openai/deployments/{upstream_model}/chat/completions?api-version=V."""

    name = "azure"
    framing = "sse"

    def default_base_url(self, settings: Mapping[str, object]) -> str | None:
        return None  # the user's own resource

    def auth(self, provider: Provider) -> Auth:
        return API_KEY

    def build_request(self, provider: Provider, endpoint: Endpoint, request: ChatRequest, stream: bool) -> HttpRequest:
        body = openai.build_body(
            endpoint.upstream_model,
            openai.request_messages(request),
            request.options,
            stream,
            request.tools,
            request.schema,
        )
        hdrs = headers(provider.headers, {}, stream)
        return HttpRequest(deployment_url(provider, endpoint.upstream_model), hdrs, openai.encode_body(body))

    def decode_answer(self, body: bytes) -> Answer:
        return openai.DIALECT.decode_answer(body)

    def event_decoder(self) -> EventDecoder:
        return _EventDecoder()

    def parse_error(self, status: int | None, body: bytes | str) -> UpstreamError:
        return _with_inner_error(openai.DIALECT.parse_error(status, body))


DIALECT = AzureDialect()
