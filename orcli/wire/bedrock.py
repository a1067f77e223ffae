"""The Amazon Bedrock Runtime Converse dialect (docs/dialects.md "Cloud dialects"), sans-I/O: answer and
event-stream decoding, errors, the dialect's declarations; the request body is orcli/wire/bedrock_request.py's.
Auth (SigV4 or a Bedrock API key) is added afterwards by
orcli/auth/aws.py; the binary event stream is framed by orcli/execution/framing.py ("aws-eventstream") into
neutral events whose `event` is the frame's `:event-type` (or `exception:<type>` for an exception frame).

Converse is one request shape for every model family on Bedrock: `messages` of content blocks, `system`,
`inferenceConfig` (maxTokens, temperature, topP, stopSequences), `toolConfig`, and model-specific fields in
`additionalModelRequestFields` (every -o option Converse has no field for goes there). Sources: the Bedrock
Runtime API reference (Converse, ConverseStream, ContentBlock, ConverseStreamOutput, Errors).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orcli.types import Endpoint, Provider
from orcli.wire.base import (
    Answer,
    Auth,
    ChatRequest,
    Delta,
    HttpRequest,
    MalformedResponse,
    SSEEvent,
    StreamProtocolError,
    ToolCall,
    ToolCallDelta,
    UpstreamError,
    Usage,
    new_delta,
)
from orcli.wire.bedrock_request import SCHEMA_TOOL, build_body, encode, model_path
from orcli.wire.native import (
    as_text,
    body_object,
    count,
    dumps,
    event_object,
    headers,
    plain_error_text,
    text_of,
)
from orcli.wire.text import json_or_none, one_line, scrub

EVENTSTREAM = "application/vnd.amazon.eventstream"
ERROR_TYPE_HEADER = "x-amzn-errortype"  # where Bedrock names an HTTP error's type (its body has only a message)

FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

# Exception types (HTTP x-amzn-errortype, or an exception frame's :exception-type) -> the HTTP status Bedrock
# gives them: the classifier decides on statuses (docs/failures.md), whichever way the error came.
ERROR_STATUS = {
    "throttlingexception": 429,
    "modelnotreadyexception": 429,
    "servicequotaexceededexception": 400,
    "serviceunavailableexception": 503,
    "internalserverexception": 500,
    "modeltimeoutexception": 408,
    "modelerrorexception": 424,
    "modelstreamerrorexception": 424,
    "accessdeniedexception": 403,
    "unrecognizedclientexception": 403,
    "invalidsignatureexception": 403,
    "expiredtokenexception": 403,
    "resourcenotfoundexception": 404,
    "validationexception": 400,
}


def finish_reason(stop: object) -> str | None:
    if not isinstance(stop, str):
        return None
    return FINISH.get(stop, stop)


# --- answers --------------------------------------------------------------------------------------


def _usage(usage: object) -> Usage | None:
    """Bedrock usage; cache reads and writes are prompt tokens too."""
    if not isinstance(usage, Mapping):
        return None
    prompt = [count(usage.get(k)) for k in ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")]
    present = [p for p in prompt if p is not None]
    return Usage(sum(present) if present else None, count(usage.get("outputTokens")))


def _reasoning_text(block: object) -> str:
    if not isinstance(block, Mapping):
        return ""
    inner = block.get("reasoningText")
    return text_of(inner.get("text")) if isinstance(inner, Mapping) else ""


def decode_answer(body: bytes) -> Answer:
    """A whole Converse response."""
    obj = body_object(body)
    output = obj.get("output")
    message = output.get("message") if isinstance(output, Mapping) else None
    blocks = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(blocks, list):
        raise MalformedResponse("response has no output.message.content")
    text: list[str] = []
    thinking: list[str] = []
    calls: list[ToolCall] = []
    for block in blocks:
        if not isinstance(block, Mapping):
            raise MalformedResponse("response content block is not an object")
        if isinstance(block.get("text"), str):
            text.append(text_of(block["text"]))
        elif "reasoningContent" in block:
            thinking.append(_reasoning_text(block["reasoningContent"]))
        elif isinstance(block.get("toolUse"), Mapping):
            use = block["toolUse"]
            args = dumps(use.get("input") if isinstance(use.get("input"), Mapping) else {}).decode()
            if use.get("name") == SCHEMA_TOOL:
                text.append(args)
            else:
                calls.append(ToolCall(text_of(use.get("toolUseId")), text_of(use.get("name")), args))
    finish = finish_reason(obj.get("stopReason"))
    if finish == "tool_calls" and not calls:
        finish = "stop"  # only the --schema tool was called: that is the answer
    return Answer(
        content="".join(text) if text or not calls else None,
        tool_calls=tuple(calls),
        reasoning="".join(thinking) or None,
        finish_reason=finish,
        usage=_usage(obj.get("usage")),
    )


EXCEPTION_PREFIX = "exception:"  # the framer names an exception frame `exception:<:exception-type>`


class EventDecoder:
    """One ConverseStream: tool-call numbering by content block, the --schema tool's input as text."""

    def __init__(self) -> None:
        self.tool_index: dict[int, int] = {}
        self.json_blocks: set[int] = set()

    def decode(self, event: SSEEvent) -> list[Delta]:
        kind = event.event
        if kind == "contentBlockDelta":
            return self._delta(event_object(event.data))
        if kind.startswith(EXCEPTION_PREFIX):
            return [Delta(error=stream_error(kind[len(EXCEPTION_PREFIX) :], event.data))]
        obj = event_object(event.data)
        if kind == "contentBlockStart":
            return self._start(obj)
        if kind == "messageStop":
            finish = finish_reason(obj.get("stopReason"))
            if finish == "tool_calls" and not self.tool_index:
                finish = "stop"
            return [Delta(finish_reason=finish)]
        if kind == "metadata":
            # The last event of a stream: usage comes after messageStop, so the end is here.
            return [Delta(usage=_usage(obj.get("usage"))), Delta(done=True)]
        return []  # messageStart, contentBlockStop, and event types added later

    def _index(self, obj: Mapping[str, Any]) -> int:
        index = obj.get("contentBlockIndex")
        if isinstance(index, bool) or not isinstance(index, int):
            raise StreamProtocolError("stream content block event has no contentBlockIndex")
        return index

    def _start(self, obj: Mapping[str, Any]) -> list[Delta]:
        index = self._index(obj)
        start = obj.get("start")
        use = start.get("toolUse") if isinstance(start, Mapping) else None
        if not isinstance(use, Mapping):
            return []
        if use.get("name") == SCHEMA_TOOL:
            self.json_blocks.add(index)
            return []
        tool = self.tool_index[index] = len(self.tool_index)
        return [Delta(tool_calls=(ToolCallDelta(tool, text_of(use.get("toolUseId")), text_of(use.get("name"))),))]

    def _delta(self, obj: Mapping[str, Any]) -> list[Delta]:
        delta = obj.get("delta")
        if type(delta) is dict:  # the common case first, once per text event: exact types, no ABC checks
            text = delta.get("text")
            if type(text) is str and type(obj.get("contentBlockIndex")) is int:
                return [new_delta((scrub(text), "", (), None, None, None, None, False))]
        index = self._index(obj)
        if not isinstance(delta, Mapping):
            raise StreamProtocolError("contentBlockDelta has no delta")
        if isinstance(delta.get("text"), str):
            return [Delta(content=text_of(delta["text"]))]
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, Mapping):
            return [Delta(reasoning=text_of(reasoning.get("text")))] if "text" in reasoning else []
        use = delta.get("toolUse")
        if isinstance(use, Mapping):
            fragment = text_of(use.get("input"))
            if index in self.json_blocks:
                return [Delta(content=fragment)]
            if index not in self.tool_index:
                raise StreamProtocolError("toolUse delta for a block that is not a tool use")
            return [Delta(tool_calls=(ToolCallDelta(self.tool_index[index], arguments=fragment),))]
        return []


# --- errors ---------------------------------------------------------------------------------------


def _message(raw: str) -> tuple[str, str]:
    obj = json_or_none(raw)
    if isinstance(obj, Mapping):
        said = obj.get("message", obj.get("Message"))
        if isinstance(said, str):
            return one_line(said), ""
    return plain_error_text(raw)


def error_type(value: str | None) -> str | None:
    """`ThrottlingException:http://internal.amazon.com/...` -> `ThrottlingException`."""
    if not value:
        return None
    return value.split(":", 1)[0].strip() or None


def parse_error(status: int | None, body: bytes | str, errortype: str | None = None) -> UpstreamError:
    """An HTTP error: status, the `x-amzn-errortype` header's type, and {"message"} (or `Message`)."""
    raw = as_text(body)
    message, detail = _message(raw)
    kind = error_type(errortype)
    if kind is None:  # some errors also name their type in the body
        obj = json_or_none(raw)
        found = obj.get("__type") if isinstance(obj, Mapping) else None
        kind = error_type(found.rsplit("#", 1)[-1]) if isinstance(found, str) else None
    if status is None and kind:
        status = ERROR_STATUS.get(kind.lower())
    return UpstreamError(message=message, type=kind, code=kind, raw=raw, detail=detail, status=status)


def stream_error(kind: str, data: str) -> UpstreamError:
    """An exception frame: its type gives the status the same error would have had over HTTP (the classifier
    reads a numeric code as the status), so a throttled stream is a rate limit, a validation one a request."""
    message, detail = _message(data)
    status = ERROR_STATUS.get(kind.lower())
    return UpstreamError(
        message=message, type=kind, code=str(status) if status else kind, raw=data, detail=detail, status=status
    )


# --- the dialect ----------------------------------------------------------------------------------


class BedrockDialect:
    """`api = "bedrock"`: POST {base_url}/model/{id}/converse or /converse-stream, signed with SigV4 (or a
    Bedrock API key as a Bearer token when the provider names `api_key_env`)."""

    name = "bedrock"
    framing = "aws-eventstream"
    error_type_header = ERROR_TYPE_HEADER

    def default_base_url(self, settings: Mapping[str, object]) -> str | None:
        from orcli.wire import bedrock_base_url

        return bedrock_base_url(settings)

    def auth(self, provider: Provider) -> Auth:
        return Auth("header") if provider.api_key_env else Auth("aws-sigv4", service="bedrock")

    def build_request(self, provider: Provider, endpoint: Endpoint, request: ChatRequest, stream: bool) -> HttpRequest:
        hdrs = headers(provider.headers, {}, False)
        if stream:
            hdrs["Accept"] = EVENTSTREAM
        url = model_path(provider.base_url, endpoint.upstream_model, stream)
        return HttpRequest(url, hdrs, encode(build_body(endpoint, request)))

    def decode_answer(self, body: bytes) -> Answer:
        return decode_answer(body)

    def event_decoder(self) -> EventDecoder:
        return EventDecoder()

    def parse_error(self, status: int | None, body: bytes | str, error_type: str | None = None) -> UpstreamError:
        return parse_error(status, body, error_type)


DIALECT = BedrockDialect()
