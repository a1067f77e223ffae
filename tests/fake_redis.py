"""Misbehaving Redis servers on loopback, for the hardening tests of the shared health store.

Each reads whole RESP commands and answers every one with a *valid* reply (an empty array, `+OK`), but in a way
a real Redis never would: one byte every `delay` seconds (trickle), half a reply then silence (partial), not at
all (mute), or bytes that are not RESP (garbage). Started and stopped by the test, on a free port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

Reply = Callable[[socket.socket, list[bytes]], None]  # (connection, names of the commands just read)


def commands_in(data: bytes) -> tuple[list[bytes], bytes]:
    """The names of the whole RESP commands `data` starts with, and the unread rest."""
    names: list[bytes] = []
    pos = 0
    while True:
        start = pos
        end = data.find(b"\r\n", pos)
        if end < 0 or data[pos : pos + 1] != b"*":
            return names, data[start:]
        parts, pos = int(data[pos + 1 : end]), end + 2
        args: list[bytes] = []
        for _ in range(parts):
            end = data.find(b"\r\n", pos)
            if end < 0:
                return names, data[start:]
            size = int(data[pos + 1 : end])
            args.append(data[end + 2 : end + 2 + size])
            pos = end + 2 + size + 2
            if pos > len(data):
                return names, data[start:]
        names.append(args[0].upper() if args else b"")


def valid_replies(names: list[bytes]) -> bytes:
    """What an empty Redis answers orcli: EVAL (a record) 1, AUTH/SELECT OK, a read an empty list."""
    answers = {b"EVAL": b":1\r\n", b"AUTH": b"+OK\r\n", b"SELECT": b"+OK\r\n", b"SCAN": b"*2\r\n$1\r\n0\r\n*0\r\n"}
    return b"".join(answers.get(name, b"*0\r\n") for name in names)


def prompt(conn: socket.socket, names: list[bytes]) -> None:
    """A well-behaved (empty) Redis."""
    conn.sendall(valid_replies(names))


def trickle(delay: float = 0.15) -> Reply:
    """The valid replies, one byte every `delay` seconds."""

    def reply(conn: socket.socket, names: list[bytes]) -> None:
        for byte in valid_replies(names):
            time.sleep(delay)
            conn.sendall(bytes([byte]))

    return reply


def partial(conn: socket.socket, names: list[bytes]) -> None:
    """Half of the first reply, then nothing more (the connection stays open)."""
    conn.sendall(b"*1\r\n$10\r\nhalf")
    time.sleep(30)


def mute(conn: socket.socket, names: list[bytes]) -> None:
    """Reads the commands and never answers."""
    time.sleep(30)


def garbage(conn: socket.socket, names: list[bytes]) -> None:
    """An HTTP server's answer where RESP was expected."""
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def huge(conn: socket.socket, names: list[bytes]) -> None:
    """Announces a 4 GiB bulk string and sends a little of it, fast."""
    conn.sendall(b"$4294967296\r\n" + b"x" * 65536)
    time.sleep(30)


class FakeRedis:
    """A loopback TCP server that answers RESP commands with `reply`; `url` is its redis:// URL."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.connections = 0
        self.commands = 0

    def __enter__(self) -> FakeRedis:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        pending = b""
        with conn:
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    names, pending = commands_in(pending + data)
                    if names:
                        self.commands += len(names)
                        self.reply(conn, names)
            except OSError:
                return
