"""Reading one response for the executor (orcli/execution/executor.py): the status, whole bodies under a cap
or a limit, httpx's exceptions translated once, the deadlines' failures, and the exception an attempt that
did not serve ends with (a failure, plus what it had produced)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, assert_never

import httpx

from orcli.execution.classify import Failure, Kind, transport_failure
from orcli.execution.exchange import Item, Reader, Tag
from orcli.execution.framing import Framing, framer_factory
from orcli.types import Timeouts
from orcli.wire.base import Answer, SSEEvent
from orcli.wire.content_encoding import BodyDecodeError

ERROR_BODY_LIMIT = 64 * 1024  # an error page is read for its message, not kept whole
ANSWER_BODY_LIMIT = 32 * 1024 * 1024  # docs/failures.md: a larger successful body (decoded) is "response too large"


# The first field of an SSE body (after blank lines): `data:`, `event:`, `id:`, `retry:` or a `:` comment.
SSE_START = re.compile(rb"\s*(?:data|event|id|retry)?:")


class Replay:
    """A body already read, handed to the stream reader as one chunk and its end (an SSE body sent as
    something else: a reply to --no-stream by a server that always streams)."""

    def __init__(self, body: bytes) -> None:
        self._items: list[Item] = [(Tag.DATA, body), (Tag.END, None)]

    def start(self) -> None:
        pass

    def get(self, deadline: float) -> Item | None:
        return self._items.pop(0) if self._items else (Tag.END, None)

    def abandon(self) -> None:
        pass


class AttemptFailed(Exception):
    """How an attempt ends when it does not serve: its failure, and what it had done by then."""

    def __init__(
        self, failure: Failure, wrote_output: bool = False, ttft: float | None = None, partial: Answer | None = None
    ) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.partial = partial  # what the provider produced before it failed: a broken stream costs that
        self.interrupt: KeyboardInterrupt | None = None
        self.wrote_output = wrote_output
        self.ttft = ttft
        self.user_timeout = False  # the user's own --timeout ended it: `cancelled`, never the provider's fault


class ResponseReading:
    """The executor's reads of one response, each bounded by its deadlines: the status, a whole body (an error
    page cut at a limit, an answer failed beyond a cap), and httpx's exceptions translated once."""

    timeouts: Timeouts
    clock: Callable[[], float]
    secrets: tuple[str, ...]

    def _mid_stream_failure(self, tag: Tag, payload: Any) -> Failure:
        """What a reader's item other than data or the end means once the stream has begun."""
        match tag:
            case Tag.ERROR:
                return self._transport_error(payload, during_body=True)
            case Tag.STATUS:
                return transport_failure("malformed", "a second status in one exchange")
            case Tag.DATA | Tag.END:
                raise AssertionError("the stream loop handles data and the end itself")
            case unreachable:
                assert_never(unreachable)

    def _wait_status(self, reader: Reader, deadline: float, total_deadline: float) -> tuple[int, httpx.Headers]:
        item = reader.get(deadline)
        if item is None:
            kind = Kind.TIMEOUT_FIRST_TOKEN if deadline < total_deadline else Kind.TIMEOUT_TOTAL
            raise AttemptFailed(timeout_failure(kind, self.timeouts))
        tag, payload = item
        match tag:
            case Tag.STATUS:
                status: tuple[int, httpx.Headers] = payload
                return status
            case Tag.ERROR:
                raise AttemptFailed(self._transport_error(payload, during_body=False))
            case Tag.DATA | Tag.END:
                raise AttemptFailed(transport_failure("malformed", "a response without a status"))
            case unreachable:
                assert_never(unreachable)

    def _read_all(self, reader: Reader, deadline: float, limit: int | None = None, cap: int | None = None) -> bytes:
        """The whole body: cut at `limit` (an error page), or a failure beyond `cap` (an answer, docs/failures.md#failure-classes)."""
        chunks = bytearray()  # one growing buffer: no list of chunks plus a joined copy at the end
        size = 0
        while True:
            # Once the body flows, a silence longer than `idle` is a stall; before, only `total` bounds it.
            limit_at, kind = deadline, Kind.TIMEOUT_TOTAL
            if chunks and self.clock() + self.timeouts.idle < deadline:
                limit_at, kind = self.clock() + self.timeouts.idle, Kind.IDLE
            item = reader.get(limit_at)
            if item is None:
                raise AttemptFailed(timeout_failure(kind, self.timeouts))
            tag, payload = item
            match tag:
                case Tag.END:
                    return chunks  # type: ignore[return-value]  # a bytearray: json.loads and .decode take it as is
                case Tag.ERROR:
                    if limit is not None and isinstance(payload, BodyDecodeError):
                        # An error page is read for its words only: undecodable, its status still classifies it.
                        return chunks  # type: ignore[return-value]
                    raise AttemptFailed(self._transport_error(payload, during_body=True))
                case Tag.DATA:
                    size += len(payload)
                    if cap is not None and size > cap:
                        raise AttemptFailed(too_large())
                    chunks += payload
                    if limit is not None and size >= limit:
                        return bytes(chunks[:limit])
                case Tag.STATUS:
                    raise AttemptFailed(transport_failure("malformed", "a second status in one exchange"))
                case unreachable:
                    assert_never(unreachable)

    def _transport_error(self, exc: BaseException, during_body: bool) -> Failure:
        """Translate httpx's exceptions once, most specific first (STYLE: httpx's own mapping)."""
        text = f"{type(exc).__name__}: {exc}".rstrip(": ")
        secrets = self.secrets
        if isinstance(exc, BodyDecodeError):
            return transport_failure("malformed", f"malformed response: {exc}", secrets=secrets)
        if isinstance(exc, httpx.ConnectTimeout):
            return transport_failure("timeout_connect", f"no connection within {self.timeouts.connect:g}s")
        if isinstance(exc, httpx.TimeoutException):
            kind = "idle" if during_body else "timeout_first_token"
            return transport_failure(kind, f"read timed out ({text})", secrets=secrets)
        if isinstance(exc, httpx.ConnectError):
            is_tls = "SSL" in str(exc) or "certificate" in str(exc).lower()
            return transport_failure("tls" if is_tls else "connect", f"cannot connect: {text}", secrets=secrets)
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
            what = "the connection dropped" if during_body else "the connection closed before a response"
            return transport_failure("stream_broken", f"{what} ({text})", secrets=secrets)
        if isinstance(exc, httpx.TransportError | httpx.StreamError):
            return transport_failure("connect", f"transport error: {text}", secrets=secrets)
        return transport_failure("connect", f"unexpected error: {text}", secrets=secrets)


# Deadlines the user's --timeout can cut short (connect included: its timeout is bounded by the time left).
TIMEOUT_KINDS = frozenset({Kind.TIMEOUT_TOTAL, Kind.TIMEOUT_FIRST_TOKEN, Kind.IDLE, Kind.TIMEOUT_CONNECT})


def framer_calls(framing: Framing) -> tuple[Callable[[bytes], list[SSEEvent]], Callable[[], list[SSEEvent]]]:
    """A fresh framer's `feed` and `close`, bound once per stream."""
    framer = framer_factory(framing)()
    return framer.feed, framer.close


def deadline_reached(before_first_token: bool, before_total: bool) -> Kind:
    """Which deadline a stream read that came back empty-handed had: the first token's, the idle one, or the
    total time's (when it was the nearer)."""
    if not before_total:
        return Kind.TIMEOUT_TOTAL
    return Kind.TIMEOUT_FIRST_TOKEN if before_first_token else Kind.IDLE


def timeout_failure(kind: Kind, t: Timeouts) -> Failure:
    if kind is Kind.TIMEOUT_FIRST_TOKEN:
        text = f"no content token within {t.first_token:g}s (first_token timeout)"
    elif kind is Kind.IDLE:
        text = f"the stream stalled for more than {t.idle:g}s (idle timeout)"
    else:
        text = "the total time limit was reached"
    return transport_failure(str(kind), text)


def too_large() -> Failure:
    return transport_failure(
        "too_large", f"response too large (more than {ANSWER_BODY_LIMIT // (1024 * 1024)} MiB, decoded)"
    )
