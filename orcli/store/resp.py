"""A minimal Redis client of orcli's own: RESP2 over one socket per operation, for the few commands the shared
health store sends (EVAL, ZRANGEBYSCORE, SCAN), with AUTH, SELECT and TLS (`rediss://`).

Why not redis-py: importing it costs a CLI process 55-130 ms, more than everything else a Redis-backed `ask`
does (docs/performance.md). Why a deadline per operation, not per read: a server that trickles a valid reply
one byte at a time never trips a per-read timeout, and health sharing must never block an `ask` (docs/health.md).
Every call here gets one deadline for the whole operation (connecting, the handshake, sending, every read);
when it passes, the connection is dropped and `StoreTimeout` raised.

A connection's handshake (AUTH, SELECT) travels in the same write as the operation's first commands, so a fresh
process pays one connect and one round trip. Healthy connections are kept in a small pool for the next call.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from orcli.store_url import RedisTarget

MAX_REPLY_BYTES = 256 * 1024 * 1024  # more than a profile's worth of capped outcome sets; never unbounded
MAX_DEPTH = 8  # orcli's replies nest two deep (SCAN); a server nesting deeper is not a Redis orcli can use
MAX_IDLE = 4  # pooled connections kept for the next call (`orcli serve` answers requests concurrently)
_READ_SIZE = 65536

Command = Sequence[str | bytes | int | float]


class RespError(Exception):
    """An error reply from the server (`-WRONGTYPE ...`); `code` is its first word."""

    @property
    def code(self) -> str:
        text = str(self)
        return text.split(" ", 1)[0] if text else ""


class StoreTimeout(TimeoutError):
    """The operation's deadline passed; the connection was dropped."""


class ProtocolError(ValueError):
    """The server's bytes are not RESP2 (or exceed orcli's limits)."""


class Closed(ConnectionError):
    """The server closed the connection."""


class Stale(Exception):
    """A pooled connection turned out closed before any byte of a reply: safe to send again."""


class Unresolved(OSError):
    """The store's host name did not resolve, or not within the budget."""


def encode_commands(commands: Sequence[Command]) -> bytes:
    """Commands as RESP arrays of bulk strings, ready for one write."""
    out = bytearray()
    for command in commands:
        out += b"*%d\r\n" % len(command)
        for arg in command:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out += b"$%d\r\n%s\r\n" % (len(data), data)
    return bytes(out)


def resolve_within(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """The socket addresses of `host`, looked up in a helper thread and waited for at most `timeout`: a DNS
    lookup is bounded by no socket timeout and can hang for seconds when a resolver is down. Raises Unresolved."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(host)
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 0, "", (host, port))]  # an address needs no lookup
    except ValueError:
        pass
    found: list[list[tuple[Any, ...]]] = []
    failure: list[OSError] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            failure.append(exc)
        done.set()

    threading.Thread(target=lookup, name="orcli-resolve", daemon=True).start()
    if not done.wait(timeout):
        raise Unresolved(f"host name {host} did not resolve within {timeout * 1000:.0f} ms")
    if failure:
        raise Unresolved(f"host name {host} could not be resolved ({failure[0].strerror or failure[0]})")
    return found[0]


class Connection:
    """One socket to Redis and its read buffer; every method takes the operation's deadline (monotonic)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.pos = 0
        self.received = 0
        self.replies = 0  # whole replies read: a connection that has answered before is a pooled one

    def send(self, data: bytes, deadline: float) -> None:
        self.sock.settimeout(_remaining(deadline))
        self.sock.sendall(data)  # the timeout bounds the whole sendall (Python >= 3.5)

    def reply(self, deadline: float) -> Any:
        """One whole reply; an error reply is returned as a RespError, not raised (a pipeline reads on)."""
        self.received = 0
        value = self._value(deadline, 0)
        del self.buffer[: self.pos]
        self.pos = 0
        self.replies += 1
        return value

    def close(self) -> None:
        self.sock.close()  # never raises for a socket object (errors on close are ignored by CPython)

    def _value(self, deadline: float, depth: int) -> Any:
        line = self._line(deadline)
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode("utf-8", "replace")
        if kind == b"-":
            return RespError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return _integer(rest)
        if kind == b"$":
            size = _integer(rest)
            if size < 0:
                return None
            self._check_size(size)
            data = self._exactly(size + 2, deadline)
            if data[-2:] != b"\r\n":
                raise ProtocolError("a bulk string does not end with CRLF")
            return data[:-2]
        if kind == b"*":
            count = _integer(rest)
            if count < 0:
                return None
            if depth >= MAX_DEPTH:
                raise ProtocolError("the reply nests deeper than orcli reads")
            self._check_size(count)
            return [self._value(deadline, depth + 1) for _ in range(count)]
        raise ProtocolError(f"unknown reply type {kind!r}")

    def _check_size(self, size: int) -> None:
        self.received += size
        if self.received > MAX_REPLY_BYTES:
            raise ProtocolError(f"the reply is larger than {MAX_REPLY_BYTES // (1024 * 1024)} MiB")

    def _line(self, deadline: float) -> bytes:
        while True:
            end = self.buffer.find(b"\r\n", self.pos)
            if end >= 0:
                line = bytes(self.buffer[self.pos : end])
                self.pos = end + 2
                return line
            if len(self.buffer) - self.pos > 65536:
                raise ProtocolError("a reply line is longer than 64 KiB")
            self._fill(deadline)

    def _exactly(self, size: int, deadline: float) -> bytes:
        while len(self.buffer) - self.pos < size:
            self._fill(deadline)
        data = bytes(self.buffer[self.pos : self.pos + size])
        self.pos += size
        return data

    def _fill(self, deadline: float) -> None:
        self.sock.settimeout(_remaining(deadline))
        try:
            chunk = self.sock.recv(_READ_SIZE)
        except TimeoutError:
            raise StoreTimeout("the operation's deadline passed") from None
        if not chunk:
            raise Closed("Redis closed the connection")
        self.buffer += chunk


class RespClient:
    """Runs batches of commands against one Redis target, each batch within one deadline."""

    def __init__(self, target: RedisTarget, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._addresses: list[tuple[Any, ...]] | None = None

    def call(self, commands: Sequence[Command], timeout: float | None = None) -> list[Any]:
        """Send `commands` in one write and read one reply each (a pipeline: one round trip), all within
        `timeout` (default: the store budget); error replies come back as RespError values."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        conn, handshake = self._take(deadline)
        try:
            return self._exchange(conn, handshake, commands, deadline)
        except Stale:
            # A pooled connection the server closed while idle (a restart, a `timeout` setting): it read
            # nothing of ours, so the commands go once more on a fresh connection, within the same deadline.
            return self._exchange(self._connect(deadline), self._handshake(), commands, deadline)

    def _exchange(
        self, conn: Connection, handshake: list[Command], commands: Sequence[Command], deadline: float
    ) -> list[Any]:
        pooled = not handshake and conn.replies > 0
        try:
            conn.send(encode_commands([*handshake, *commands]), deadline)
            for _ in handshake:
                answer = conn.reply(deadline)
                if isinstance(answer, RespError):
                    raise answer
            replies = [conn.reply(deadline) for _ in commands]
        except TimeoutError as exc:  # socket timeouts are TimeoutError too: one meaning, one type
            conn.close()
            raise exc if isinstance(exc, StoreTimeout) else StoreTimeout("the operation's deadline passed") from exc
        except (ConnectionResetError, BrokenPipeError, Closed) as exc:
            conn.close()
            if pooled and not conn.buffer:
                raise Stale() from exc
            raise
        except BaseException:
            conn.close()  # a half-read connection is never reused: drop it
            raise
        self._give_back(conn)
        return replies

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self, deadline: float) -> tuple[Connection, list[Command]]:
        """A pooled connection, or a new one plus the handshake commands to send before the first command."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), []
        return self._connect(deadline), self._handshake()

    def _give_back(self, conn: Connection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def _handshake(self) -> list[Command]:
        target = self.target
        commands: list[Command] = []
        if target.password is not None:
            user = [target.username] if target.username else []
            commands.append(["AUTH", *user, target.password])
        if target.db:
            commands.append(["SELECT", target.db])
        return commands

    def _connect(self, deadline: float) -> Connection:
        target = self.target
        if self._addresses is None:
            self._addresses = resolve_within(target.host, target.port, _remaining(deadline))
        error: OSError | None = None
        for family, kind, proto, _name, address in self._addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(_remaining(deadline))
                sock.connect(address)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return Connection(_wrap_tls(sock, target.host, deadline) if target.tls else sock)
            except TimeoutError:
                sock.close()
                raise StoreTimeout("connecting took longer than the budget") from None
            except OSError as exc:
                sock.close()
                error = exc
        raise error or ConnectionError(f"no address for {target.host}")


def _wrap_tls(sock: socket.socket, host: str, deadline: float) -> socket.socket:
    """TLS with the system's certificate authorities (or SSL_CERT_FILE), host name checked; handshake within
    the deadline. `ssl` is imported only for `rediss://`."""
    import ssl

    context = ssl.create_default_context()
    sock.settimeout(_remaining(deadline))
    return context.wrap_socket(sock, server_hostname=host)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise StoreTimeout("the operation's deadline passed")
    return left


def _integer(text: bytes) -> int:
    try:
        return int(text)
    except ValueError:
        raise ProtocolError("a reply's length or number is not an integer") from None
