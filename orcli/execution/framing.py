"""Stream framings: how a dialect's streamed body is cut into events (docs/dialects.md).

A dialect names its framing (`Dialect.framing`); this table knows, for each, the media type that marks a
streamed response and how to build a framer: `feed(bytes) -> [SSEEvent]`, `close() -> [SSEEvent]`. The
events are the neutral `SSEEvent(data, event)` every dialect's event decoder reads, whatever the framing
(an AWS event-stream message: `event` its event type, `data` its JSON payload). A framing whose parser
needs a library lives in its own module, imported only when a stream of that framing arrives.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import NamedTuple, Protocol

from orcli.wire.base import SSEEvent


class Framer(Protocol):
    def feed(self, data: bytes) -> list[SSEEvent]: ...

    def close(self) -> list[SSEEvent]: ...


class Framing(NamedTuple):
    media_type: str  # lower case; a response whose Content-Type contains it is read as a stream
    factory: str  # "module:callable" returning a fresh Framer


FRAMINGS = {
    "sse": Framing("text/event-stream", "orcli.wire.sse:SSEDecoder"),
    "aws-eventstream": Framing("application/vnd.amazon.eventstream", "orcli.execution.eventstream:EventStreamFramer"),
}
SSE = FRAMINGS["sse"]


@functools.cache
def framer_factory(framing: Framing) -> Callable[[], Framer]:
    """The framing's factory, imported on first use and remembered (asked once per streamed attempt)."""
    module, _, name = framing.factory.partition(":")
    factory: Callable[[], Framer] = getattr(importlib.import_module(module), name)
    return factory
