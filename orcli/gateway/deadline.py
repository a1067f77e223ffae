"""A request's headers and body must arrive within the read timeout (docs/gateway.md, "Bounded reads").

A per-read socket timeout is not enough: a client sending one byte every few seconds never trips it and holds a
thread for ever. Here every receive is given only the time left until one deadline for the whole request, so
the total is bounded; once the body is in, the deadline is lifted and the answer (a stream may last minutes)
is not bounded by it.
"""

from __future__ import annotations

import io
import socket
import time


class RequestDeadline(io.RawIOBase):
    """The raw reader under a handler's `rfile`: each receive bounded by the time left until `deadline`."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.deadline: float | None = None
        self.received = 0  # bytes received since armed: an idle keep-alive connection has received none

    def arm(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.received = 0

    def disarm(self) -> None:
        """Lift the deadline: the request is in; what follows is the answer."""
        if self.deadline is not None:
            self.deadline = None
            self.sock.settimeout(None)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request did not arrive within the read timeout")
            self.sock.settimeout(left)
        n = self.sock.recv_into(buffer)
        self.received += n
        return n
