"""Who is still listening (docs/gateway.md, "Cancellation"): one thread watches the connections of every
request in flight and cancels a request's run as soon as its client closes, whatever the run is doing
(waiting for a non-streamed answer, for a first token, or between events). On shutdown, when the grace
runs out, it cancels every run still going.

One poll over all watched sockets every quarter second: a handful of system calls a second for the whole
gateway, instead of a check per event or a thread per request.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable

from orcli.execution.cancel import CancelToken

POLL_SECONDS = 0.25
CLIENT_LEFT = "client disconnected"  # the cancel reason when a client closed its connection
SHUTTING_DOWN = "shutting down: --grace ran out"
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL
_WATCH = select.POLLIN | getattr(select, "POLLRDHUP", 0)  # Linux says "peer closed" directly


class ClientWatch:
    def __init__(self, reason_gone: str) -> None:
        self.reason_gone = reason_gone
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[socket.socket, CancelToken]] = {}
        self._next = 0
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, token: CancelToken) -> Callable[[], None]:
        """Cancel `token` when `sock`'s peer closes; returns the unwatch."""
        with self._lock:
            key = self._next
            self._next += 1
            self._watched[key] = (sock, token)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="orcli-client-watch", daemon=True)
                self._thread.start()

        def unwatch() -> None:
            with self._lock:
                self._watched.pop(key, None)

        return unwatch

    def cancel_all(self, reason: str) -> int:
        """Cancel every watched run (SIGTERM's grace is over); returns how many."""
        with self._lock:
            tokens = [token for _, token in self._watched.values()]
        for token in tokens:
            token.cancel(reason)
        return len(tokens)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._watched:
                    self._thread = None
                    return
                watched = list(self._watched.values())
            poller = select.poll()
            by_fd: dict[int, tuple[socket.socket, CancelToken]] = {}
            for sock, token in watched:
                with contextlib.suppress(OSError, ValueError):
                    fd = sock.fileno()
                    if fd >= 0 and not token.is_set:
                        poller.register(fd, _WATCH)
                        by_fd[fd] = (sock, token)
            ready = poller.poll(POLL_SECONDS * 1000) if by_fd else []
            for fd, events in ready:
                sock, token = by_fd[fd]
                if events & _GONE or peer_closed(sock):
                    token.cancel(self.reason_gone)
            if ready or not by_fd:
                time.sleep(POLL_SECONDS / 5)  # a socket with unread data stays readable: no busy loop on it


def peer_closed(sock: socket.socket) -> bool:
    """Readable with nothing to read: the peer closed (a client waiting for its answer sends nothing more)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
