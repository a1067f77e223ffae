"""The gateway's two API surfaces behind one interface, pure: OpenAI's chat completions and Anthropic's Messages.

The relay (orcli/gateway/relay.py) routes and executes a request the same way whichever API it came in; a
surface parses the body and shapes everything that goes back: whole answers, stream events, errors. Each is
built per request, since a stream's encoder has state (docs/gateway.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import orcli.gateway.anthropic_api as anthropic_api
import orcli.gateway.openai_api as openai_api
from orcli.gateway.anthropic_stream import MessageStream
from orcli.gateway.body import GatewayRequest
from orcli.wire.base import Answer, Delta, Usage
from orcli.wire.text import compact_json


class Surface(Protocol):
    path: str  # for the access log

    def parse(self, raw: bytes) -> GatewayRequest: ...

    def error(
        self, status: int, message: str, metadata: Mapping[str, Any] | None = None, code: str | None = None
    ) -> dict[str, Any]: ...

    def answer(self, answer: Answer, model: str, provider: str, prompt_estimate: int) -> dict[str, Any]: ...

    def open_stream(self, model: str, provider: str, prompt_estimate: int) -> bytes: ...

    def first_delta(self, delta: Delta) -> bytes: ...

    def delta(self, delta: Delta) -> bytes: ...

    def end_stream(self, finish_reason: str | None, usage: Usage | None) -> bytes: ...

    def stream_error(self, status: int, message: str, metadata: Mapping[str, Any] | None = None) -> bytes: ...


def _usage_counts(usage: Usage | None) -> tuple[int | None, int | None]:
    return (None, None) if usage is None else (usage.prompt_tokens, usage.completion_tokens)


class OpenAISurface:
    """POST /v1/chat/completions. Stream chunks are built from a prefix and suffix made once per stream: per
    event only the delta itself is encoded (the relay's hot path, benchmarks/serve_bench.py)."""

    path = "/v1/chat/completions"

    def __init__(self, request_id: str, created: int) -> None:
        self.request_id = request_id
        self.created = created
        self.include_usage = False
        self._envelope: dict[str, Any] = {}
        self._prefix = b""

    def parse(self, raw: bytes) -> GatewayRequest:
        request = openai_api.parse_chat_body(raw)
        self.include_usage = request.include_usage
        return request

    def error(
        self, status: int, message: str, metadata: Mapping[str, Any] | None = None, code: str | None = None
    ) -> dict[str, Any]:
        return openai_api.error_json(status, message, metadata, code=code)

    def answer(self, answer: Answer, model: str, provider: str, prompt_estimate: int) -> dict[str, Any]:
        return openai_api.completion_json(
            request_id=self.request_id,
            created=self.created,
            model=model,
            provider=provider,
            content=answer.content,
            finish_reason=answer.finish_reason,
            usage=answer.usage.as_json() if answer.usage else None,
            tool_calls=[t.as_json() for t in answer.tool_calls],
            reasoning=answer.reasoning,
        )

    def open_stream(self, model: str, provider: str, prompt_estimate: int) -> bytes:
        self._envelope = {
            "id": self.request_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": model,
            "provider": provider,
        }
        head = json.dumps(self._envelope, ensure_ascii=False, separators=(",", ":"))[:-1]
        self._prefix = f'data: {head},"choices":[{{"index":0,"delta":'.encode()
        return b""

    def delta(self, delta: Delta) -> bytes:
        if delta.content and not delta.reasoning and not delta.tool_calls:  # the common case, encoded directly
            body = '{"content":' + compact_json(delta.content) + "}"
        else:
            fields = openai_api.delta_json(delta.content, delta.reasoning, delta.tool_calls)
            if not fields:
                return b""
            body = compact_json(fields)
        return self._prefix + body.encode() + b',"finish_reason":null}]}\n\n'

    def first_delta(self, delta: Delta) -> bytes:
        """The stream's first chunk carries the assistant role, as OpenAI's does."""
        fields = openai_api.delta_json(delta.content, delta.reasoning, delta.tool_calls)
        body = json.dumps({"role": "assistant", **fields}, ensure_ascii=False, separators=(",", ":"))
        return self._prefix + body.encode() + b',"finish_reason":null}]}\n\n'

    def end_stream(self, finish_reason: str | None, usage: Usage | None) -> bytes:
        last = openai_api.sse(
            {**self._envelope, "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason or "stop"}]}
        )
        if self.include_usage and usage is not None:
            last += openai_api.sse({**self._envelope, "choices": [], "usage": usage.as_json()})
        return last + openai_api.sse("[DONE]")

    def stream_error(self, status: int, message: str, metadata: Mapping[str, Any] | None = None) -> bytes:
        return openai_api.sse(openai_api.error_json(status, message, metadata))


class MessagesSurface:
    """POST /v1/messages: Anthropic's message object, SSE events and error envelope."""

    path = "/v1/messages"

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.thinking = False
        self.stream = MessageStream(message_id, thinking=False)
        self._estimate = 0

    def parse(self, raw: bytes) -> GatewayRequest:
        parsed = anthropic_api.parse_messages_body(raw)
        self.thinking = parsed.thinking
        self.stream = MessageStream(self.message_id, thinking=parsed.thinking)
        return parsed.request

    def error(
        self, status: int, message: str, metadata: Mapping[str, Any] | None = None, code: str | None = None
    ) -> dict[str, Any]:
        doc = anthropic_api.error_json(status, message)
        if metadata:  # orcli's own detail (rejections, attempts) beside Anthropic's fields, which stay as they are
            doc["error"]["metadata"] = openai_api.error_json(status, "", metadata)["error"]["metadata"]
        return doc

    def answer(self, answer: Answer, model: str, provider: str, prompt_estimate: int) -> dict[str, Any]:
        given_in, given_out = _usage_counts(answer.usage)
        return anthropic_api.message_json(
            message_id=self.message_id,
            model=model,
            content=answer.content,
            tool_calls=answer.tool_calls,
            reasoning=answer.reasoning if self.thinking else None,
            finish_reason=answer.finish_reason,
            usage=(given_in if given_in is not None else prompt_estimate, given_out),
        )

    def open_stream(self, model: str, provider: str, prompt_estimate: int) -> bytes:
        self._estimate = prompt_estimate
        return self.stream.start(model, prompt_estimate)

    def delta(self, delta: Delta) -> bytes:
        return self.stream.delta(delta.content, delta.reasoning, delta.tool_calls)

    first_delta = delta

    def end_stream(self, finish_reason: str | None, usage: Usage | None) -> bytes:
        given_in, given_out = _usage_counts(usage)
        return self.stream.finish(finish_reason, given_in, given_out)

    def stream_error(self, status: int, message: str, metadata: Mapping[str, Any] | None = None) -> bytes:
        return self.stream.error(status, message)
