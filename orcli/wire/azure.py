"""The Azure OpenAI dialect (SPEC §10): OpenAI chat completions at a deployment URL with `api-key` auth.

Bodies, answers and streams are OpenAI's (orcli.wire.openai does the parsing); Azure adds the URL shape
(`/openai/deployments/{deployment}/chat/completions?api-version=V`), the `api-key` header, filter results in
answers (`prompt_filter_results` may come alone in a stream's first chunk, with empty `choices`), and the
`content_filter` 400 with an `innererror`. Sources: learn.microsoft.com azure/ai-services/openai/reference,
.../openai/concepts/content-filter (reference/dialects.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from orcli.types import Endpoint, Provider
from orcli.wire import openai
from orcli.wire.base import (
    Answer,
    ChatRequest,
    Delta,
    HttpRequest,
    MalformedResponse,
    SSEEvent,
    StreamProtocolError,
    UpstreamError,
    UpstreamErrorInBody,
    Usage,
)
from orcli.wire.native import count, dumps, headers, schema_of

# The latest GA (non-preview) data-plane inference api-version with a dated name; provider key `api_version`
# picks another (e.g. a preview for features not in GA yet).
DEFAULT_API_VERSION = "2024-10-21"


def build_body(endpoint: Endpoint, request: ChatRequest, stream: bool) -> dict:
    """OpenAI's chat-completions body; the deployment in the URL picks the model, `model` rides along."""
    messages: list[dict] = [{"role": "system", "content": request.system}] if request.system else []
    messages.extend(dict(m) for m in request.messages)
    options = dict(request.options)
    if request.tools:
        options.setdefault("tools", [dict(t) for t in request.tools])
    schema = schema_of(request)
    if request.schema is not None and schema is not None:
        options["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": dict(schema), "strict": True},
        }
    return openai.build_body(endpoint.upstream_model, messages, options, stream)


def _usage(usage: object) -> Usage | None:
    if not isinstance(usage, Mapping):
        return None
    return Usage(count(usage.get("prompt_tokens")), count(usage.get("completion_tokens")))


def _upstream(err: openai.ApiError, status: int | None = None) -> UpstreamError:
    """The OpenAI parser's error as an UpstreamError, plus Azure's innererror (ResponsibleAIPolicyViolation
    and the categories its content filter flagged) as detail worth matching."""
    detail = err.detail
    try:
        obj = openai._loads(err.raw) if err.raw.strip() else None
    except ValueError:
        obj = None
    inner = (
        obj.get("error", {}).get("innererror") if isinstance(obj, dict) and isinstance(obj.get("error"), dict) else None
    )
    if isinstance(inner, Mapping):
        words = [inner["code"]] if isinstance(inner.get("code"), str) else []
        result = inner.get("content_filter_result")
        if isinstance(result, Mapping):
            words += [k for k, v in result.items() if isinstance(v, Mapping) and v.get("filtered") is True]
        detail = " ".join([detail, *words]).strip()
    return UpstreamError(
        message=err.message,
        type=err.type,
        code=err.code,
        raw=err.raw,
        detail=detail,
        provider=err.provider,
        reasons=err.reasons,
        status=status,
    )


def decode_answer(body: bytes) -> Answer:
    try:
        done = openai.parse_completion(body)
    except openai.UpstreamErrorInBody as exc:
        raise UpstreamErrorInBody(_upstream(exc.error)) from None
    except openai.MalformedResponse as exc:
        raise MalformedResponse(str(exc)) from None
    return Answer(
        content=done.content,
        finish_reason=done.finish_reason,
        usage=_usage(done.usage),
        model=done.model,
    )


class EventDecoder:
    """OpenAI's stream chunks; a chunk with only `prompt_filter_results` (empty choices) yields an empty delta."""

    def decode(self, event: SSEEvent) -> list[Delta]:
        try:
            chunk = openai.parse_stream_event(event.data)
        except openai.StreamProtocolError as exc:
            raise StreamProtocolError(str(exc)) from None
        if chunk.done:
            return [Delta(done=True)]
        return [
            Delta(
                content=chunk.content,
                finish_reason=chunk.finish_reason,
                usage=_usage(chunk.usage),
                model=chunk.model,
                error=_upstream(chunk.error) if chunk.error else None,
            )
        ]


def parse_error(status: int | None, body: bytes | str) -> UpstreamError:
    return _upstream(openai.parse_error_body(body), status)


class AzureDialect:
    """`api = "azure"`: POST {base_url}/openai/deployments/{upstream_model}/chat/completions?api-version=V."""

    name = "azure"

    def build_request(
        self, provider: Provider, endpoint: Endpoint, request: ChatRequest, api_key: str | None, stream: bool
    ) -> HttpRequest:
        key = (api_key or "").strip()
        version = getattr(provider, "api_version", None) or DEFAULT_API_VERSION
        deployment = quote(endpoint.upstream_model, safe="-._~")
        url = (
            f"{provider.base_url}/openai/deployments/{deployment}/chat/completions"
            f"?api-version={quote(version, safe='-._~')}"
        )
        hdrs = headers(provider.headers, {"api-key": key} if key else {}, stream)
        return HttpRequest(url, hdrs, dumps(build_body(endpoint, request, stream)))

    def decode_answer(self, body: bytes) -> Answer:
        return decode_answer(body)

    def event_decoder(self) -> EventDecoder:
        return EventDecoder()

    def parse_error(self, status: int | None, body: bytes | str) -> UpstreamError:
        return parse_error(status, body)


DIALECT = AzureDialect()
