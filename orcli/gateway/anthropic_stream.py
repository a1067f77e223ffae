"""Neutral stream deltas → the Messages API's SSE events, pure (docs/gateway.md, "Anthropic Messages API").

The events follow Anthropic's order: `message_start` and a `ping`, then per content block
`content_block_start`, its deltas (`thinking_delta`, `text_delta`, `input_json_delta`) and
`content_block_stop`, then `message_delta` (stop_reason and the usage the provider reported) and
`message_stop`. Blocks are opened as the kind of delta changes; tool calls stream one after another, as every
dialect orcli speaks sends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orcli.gateway.anthropic_api import error_json, event, stop_reason


class MessageStream:
    """The event encoder of one streamed answer; each method returns the bytes to write."""

    def __init__(self, message_id: str, thinking: bool) -> None:
        self.message_id = message_id
        self.thinking = thinking  # reasoning becomes thinking blocks only for a client that asked for them
        self.index = -1  # the open block's index
        self.open: str | None = None  # "text", "thinking" or "tool:N" (N the neutral tool-call index)
        self.tool_ids = 0

    def start(self, model: str, input_tokens: int) -> bytes:
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 0},
        }
        return event("message_start", {"type": "message_start", "message": message}) + event("ping", {"type": "ping"})

    def delta(self, content: str, reasoning: str, tool_calls: Sequence[Any]) -> bytes:
        out = b""
        if reasoning and self.thinking:
            if self.open != "thinking":
                out += self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            out += self._delta({"type": "thinking_delta", "thinking": reasoning})
        if content:
            if self.open != "text":
                out += self._open("text", {"type": "text", "text": ""})
            out += self._delta({"type": "text_delta", "text": content})
        for call in tool_calls:
            kind = f"tool:{call.index}"
            if self.open != kind:
                self.tool_ids += 1
                block: dict[str, Any] = {
                    "type": "tool_use",
                    "id": call.id or f"toolu_orcli_{self.message_id}_{self.tool_ids}",
                    "name": call.name or "",
                    "input": {},
                }
                out += self._open(kind, block)
            if call.arguments:
                out += self._delta({"type": "input_json_delta", "partial_json": call.arguments})
        return out

    def finish(self, finish_reason: str | None, input_tokens: int | None, output_tokens: int | None) -> bytes:
        out = self._close()
        usage: dict[str, int] = {"output_tokens": output_tokens or 0}
        if input_tokens is not None:
            usage["input_tokens"] = input_tokens
        delta = {"stop_reason": stop_reason(finish_reason), "stop_sequence": None}
        out += event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        return out + event("message_stop", {"type": "message_stop"})

    def error(self, status: int, message: str) -> bytes:
        """A mid-stream error, as Anthropic sends one (the SDKs raise it)."""
        return event("error", error_json(status, message))

    def _open(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self.index += 1
        self.open = kind
        return out + event(
            "content_block_start", {"type": "content_block_start", "index": self.index, "content_block": block}
        )

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta})

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        return event("content_block_stop", {"type": "content_block_stop", "index": self.index})
