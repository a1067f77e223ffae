"""Readers of one HTTP exchange for the executor: status, body chunks, end or error, each `get` bounded by the
executor's own deadline (docs/failures.md#failure-classes first token, idle, total). Which reader runs is chosen by whoever builds the
httpx client: `Exchange` needs a real connection, `Pump` works over any transport."""

from __future__ import annotations

import contextlib
import math
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from enum import Enum
from typing import Any, Protocol

import httpx

from orcli.types import Timeouts
from orcli.wire.base import HttpRequest
from orcli.wire.content_encoding import ACCEPT_ENCODING, BodyDecodeError, decode_pieces


class Tag(Enum):
    """What a reader's item is: ("status", (code, headers)), ("data", bytes), ("end", None), ("error", exc).

    Data is the body as decoded (Content-Encoding undone, in pieces of bounded size), answers and errors alike.
    """

    STATUS = "status"
    DATA = "data"
    END = "end"
    ERROR = "error"


Item = tuple[Tag, Any]


class Reader(Protocol):
    """One exchange as the executor consumes it."""

    def start(self) -> None: ...

    def get(self, deadline: float) -> Item | None:
        """The next item, or None once `deadline` (on the executor's clock) has passed."""
        ...

    def abandon(self) -> None:
        """The attempt is over: release the connection, whatever was or was not read."""
        ...


# A reader may also have `interrupt()`, called from another thread when the run is cancelled: it makes a
# waiting `get` return at once (Pump's waiter sits on a queue; Exchange's read is cut by the transport).


# How the executor opens a reader: (client, request, timeouts, clock) -> Reader.
ReaderFactory = Callable[[httpx.Client, HttpRequest, Timeouts, Callable[[], float]], Reader]


class _Call:
    """One request to send: what both readers of an exchange start from."""

    def __init__(
        self, client: httpx.Client, request: HttpRequest, timeouts: Timeouts, clock: Callable[[], float]
    ) -> None:
        self.client = client
        self.request = request
        self.timeouts = timeouts
        self.clock = clock
        self._prepare()

    def _prepare(self) -> None:
        """What a reader sets up before the first `get`."""

    def _send(self, timeout: httpx.Timeout) -> httpx.Response:
        r = self.request
        url = httpx.URL(r.url)
        headers = wire_headers(self.client.headers, r.headers, url.netloc, r.method, len(r.body))
        timeouts = {"timeout": timeout.as_dict()}
        built = httpx.Request(r.method, url, headers=headers, stream=httpx.ByteStream(r.body), extensions=timeouts)
        built.read()  # the body is in memory: `content` reads as it would have for `content=`
        return self.client.send(built, stream=True)


_ACCEPT_ENCODING = ACCEPT_ENCODING.encode()
_SIZED_WHEN_EMPTY = frozenset(("POST", "PUT", "PATCH"))


def wire_headers(
    defaults: httpx.Headers, ours: Mapping[str, str], host: bytes, method: str, length: int
) -> list[tuple[bytes, bytes]]:
    """The request's headers as `client.build_request(..., content=body)` would send them, in its order: Host,
    the client's defaults less those the request names, the request's own, Content-Length. Built here in one
    pass because httpx merges headers one by one (a quadratic update that encodes each header again): ~10 µs a
    header a request, 5% of a whole answer's CPU (docs/performance.md#headers-built-once).

    Accept-Encoding advertises only what decode_pieces decodes (docs/failures.md#failure-classes), whatever
    httpx or a profile header would say. Names and values are ASCII, as httpx requires (UnicodeEncodeError
    otherwise, as there)."""
    own = [(k.encode("ascii"), v.encode("ascii")) for k, v in ours.items() if k.lower() != "accept-encoding"]
    own.append((b"Accept-Encoding", _ACCEPT_ENCODING))
    named = {k.lower() for k, _ in own}
    headers = [(b"Host", host)]
    if not length and method in _SIZED_WHEN_EMPTY:
        headers.append((b"Content-Length", b"0"))  # (where httpx adds it for an empty body)
    headers += [(k, v) for k, v in defaults.raw if k.lower() not in named]
    headers += own
    if length:
        headers.append((b"Content-Length", b"%d" % length))
    return headers


def body_pieces(response: httpx.Response) -> Generator[bytes, None, None]:
    """The response body decoded incrementally from the raw network bytes (never the whole body at once);
    raises BodyDecodeError for an encoding orcli did not ask for or a body that does not decompress."""
    encoding = response.headers.get("content-encoding")
    error_page = response.status_code >= 300  # read for its words: mislabelled plain text still counts
    return decode_pieces(encoding, response.iter_raw(), plain_when_undecodable=error_page)  # type: ignore[return-value]


class Exchange(_Call):
    """One HTTP exchange, read on the calling thread; every `get` is bounded by the caller's deadline.

    httpx's read timeout is fixed per request and restarts with every read, so keep-alive comments would
    keep a stalled provider alive for ever; the deadlines of docs/failures.md#failure-classes (first token, idle, total) are the
    executor's own. Before the response headers no keep-alive can arrive, so httpx's read timeout, set to
    the time left, is exact. After them, each read of the connection's network stream (httpcore's
    documented `read(max_bytes, timeout)`) is given the time left until the current deadline: a stall
    ends on time, with no thread and no per-chunk cost beyond a subtraction.

    Needs a transport that exposes the `network_stream` extension (httpx's own); over one that does not,
    deadlines are only checked between chunks, so a stalled body would block: use `Pump` there.
    """

    def _prepare(self) -> None:
        self.deadline = math.inf
        self.response: httpx.Response | None = None
        self._bounded: Any = None  # the network stream whose reads we bound, to restore afterwards
        self._items = self._generate()  # the request and its status (or its error)
        self._body: Iterator[bytes] | None = None  # then the body's pieces, read by `get` itself

    def _generate(self) -> Generator[Item, None, None]:
        t = self.timeouts
        left = max(self.deadline - self.clock(), 0.001)
        timeout = httpx.Timeout(connect=min(t.connect, left), read=left, write=t.connect, pool=t.connect)
        try:
            response = self.response = self._send(timeout)
        except httpx.HTTPError as exc:
            yield (Tag.ERROR, exc)
            return
        self._bound_reads(response.extensions.get("network_stream"))
        try:
            self._body = body_pieces(response)
        except BodyDecodeError as exc:  # an encoding orcli did not ask for: an error once the status is out
            self._body = _raising(exc)
        yield (Tag.STATUS, (response.status_code, response.headers))

    def _bound_reads(self, stream: Any) -> None:
        if stream is None:
            return  # no network stream (a test transport): deadlines are checked between chunks only
        unbounded = stream.read
        clock = self.clock

        def read(max_bytes: int, timeout: float | None = None) -> bytes:
            data: bytes = unbounded(max_bytes, max(self.deadline - clock(), 0.001))
            return data

        try:
            stream.read = read
        except AttributeError:
            return
        self._bounded = stream

    def get(self, deadline: float) -> Item | None:
        """The next item, or None once `deadline` (on the executor's clock) has passed."""
        self.deadline = deadline  # every read below is bounded by the time left until it
        body = self._body
        if body is None:
            if self.clock() >= deadline:
                return None  # never send a request once its deadline has passed
            item = next(self._items, _END)
        else:
            # Once per chunk of every answer: the body's pieces are read here, with no generator between.
            try:
                item = (_DATA, next(body))
            except StopIteration:
                item = _END
            except (httpx.HTTPError, BodyDecodeError) as exc:
                self._body = iter(())  # after an error, the end
                item = (Tag.ERROR, exc)
        if self.clock() >= deadline:
            # Too late: a keep-alive flood or a stall outlived the deadline. (A body read is checked after the
            # read only: a deadline already past when `get` is called gives it a millisecond and lands here.)
            return None
        return item

    def start(self) -> None:
        """Nothing to start: the exchange runs as `get` is called."""

    def abandon(self) -> None:
        """The attempt is over: unbound the stream (it may go back to the pool), release the connection."""
        if self._bounded is not None:
            with contextlib.suppress(AttributeError):
                del self._bounded.read
        if self.response is not None:
            with contextlib.suppress(Exception):
                self.response.close()
        self._items.close()


_DATA = Tag.DATA
_END: Item = (Tag.END, None)


def _raising(exc: BaseException) -> Iterator[bytes]:
    """A body that fails with `exc` when its first piece is asked for."""
    raise exc
    yield b""  # a generator: the raise waits for the first `next`


class Pump(_Call):
    """Reads one HTTP exchange on a daemon thread into a queue, so the executor waits on its own clock.

    httpx's read timeout is per read: keep-alive comments would reset it forever. Waiting on a queue with
    our own deadline abandons a stalled provider at once; the thread ends when its socket is closed. Works
    over any transport (httpx.MockTransport included), at the cost of a thread hand-off per chunk.
    """

    def _prepare(self) -> None:
        t = self.timeouts
        self.queue: queue.Queue[Item] = queue.Queue()
        self.abandoned = threading.Event()
        self.response: httpx.Response | None = None
        self.timeout = httpx.Timeout(
            connect=t.connect, read=max(t.first_token, t.idle), write=t.connect, pool=t.connect
        )
        self.thread = threading.Thread(target=self._run, name="orcli-attempt", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            response = self._send(self.timeout)
            self.response = response
            try:
                self.queue.put((Tag.STATUS, (response.status_code, response.headers)))
                for chunk in body_pieces(response):
                    if self.abandoned.is_set():
                        return
                    self.queue.put((Tag.DATA, chunk))
                self.queue.put((Tag.END, None))
            finally:
                response.close()
        except BaseException as exc:  # noqa: BLE001 - handed to the executor, which classifies it
            if not self.abandoned.is_set():
                self.queue.put((Tag.ERROR, exc))

    def get(self, deadline: float) -> Item | None:
        """The next item, or None once `deadline` has passed: a deadline that has passed is final, even
        while items (a flood of keep-alives) are still queued."""
        timeout = deadline - self.clock()
        if timeout <= 0:
            return None
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def interrupt(self) -> None:
        """From another thread (a cancel token): wake the waiter at once with an error; the connection itself
        is cut by the transport."""
        self.abandoned.set()
        self.queue.put((Tag.ERROR, httpx.ReadError("cancelled")))

    def abandon(self) -> None:
        """Stop caring about this exchange; close its connection so the thread ends soon."""
        self.abandoned.set()
        response = self.response
        if response is not None and self.thread.is_alive():
            with contextlib.suppress(Exception):  # best effort from another thread
                response.close()
