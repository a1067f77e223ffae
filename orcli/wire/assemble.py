"""Folds a stream's deltas into one `Answer`, whatever dialect decoded them. Standard library only."""

from __future__ import annotations

from typing import Any

from orcli.wire.base import Answer, Delta, ToolCall, ToolCallDelta, Usage


class AnswerBuilder:
    """The answer so far: content and reasoning joined, tool-call fragments joined per index (in the order
    their first fragment came), the last finish reason, usage and model a delta reported."""

    __slots__ = ("_content", "_reasoning", "_calls", "finish_reason", "usage", "model")

    def __init__(self) -> None:
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, list[Any]] = {}  # index -> [id, name, argument parts]
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = None

    def add(self, delta: Delta) -> None:
        # Once per stream event: the fields unpacked in one step rather than read one attribute at a time.
        content, reasoning, tool_calls, finish_reason, usage, model, _, _ = delta
        if content:
            self._content.append(content)
        if reasoning:
            self._reasoning.append(reasoning)
        for fragment in tool_calls:
            call = self._calls.setdefault(fragment.index, [None, None, []])
            call[0] = call[0] or fragment.id
            call[1] = call[1] or fragment.name
            if fragment.arguments:
                call[2].append(fragment.arguments)
        if finish_reason:
            self.finish_reason = finish_reason
        if usage is not None:
            self.usage = usage
        if model:
            self.model = model

    @property
    def produced(self) -> bool:
        """Whether the provider generated anything yet (what a broken stream is charged for, docs/usage.md)."""
        return bool(self._content or self._calls or self._reasoning or self.usage is not None)

    @property
    def has_answer(self) -> bool:
        """Whether anything an answer is made of (content or a tool call) has arrived."""
        return bool(self._content or self._calls)

    def answer(self) -> Answer:
        calls = tuple(
            ToolCall(id or f"call_{index}", name or "", "".join(parts))
            for index, (id, name, parts) in self._calls.items()
        )
        return Answer(
            content="".join(self._content),
            tool_calls=calls,
            reasoning="".join(self._reasoning) or None,
            finish_reason=self.finish_reason,
            usage=self.usage,
            model=self.model,
        )


def answer_delta(answer: Answer) -> Delta:
    """A whole answer as the one delta a sink gets when the answer was not streamed."""
    return Delta(
        content=answer.content or "",
        reasoning=answer.reasoning or "",
        tool_calls=tuple(ToolCallDelta(i, c.id, c.name, c.arguments) for i, c in enumerate(answer.tool_calls)),
        finish_reason=answer.finish_reason,
        usage=answer.usage,
        model=answer.model,
    )
