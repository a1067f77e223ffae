"""A cancel token: how a caller stops a run from another thread (the gateway's client left, SIGTERM's grace
ran out, a hedged attempt lost). The running attempt's connection is cut at once and the attempt is recorded
`cancelled`, which never counts against the provider (docs/failures.md)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class CancelToken:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._hooks: dict[int, Callable[[], None]] = {}
        self._next = 0

    @property
    def reason(self) -> str | None:
        """Why the run was cancelled, or None while it was not."""
        return self._reason

    @property
    def is_set(self) -> bool:
        return self._reason is not None

    def cancel(self, reason: str = "cancelled") -> None:
        """Cancel once (a second call keeps the first reason); every hook runs on the calling thread."""
        with self._lock:
            if self._reason is not None:
                return
            self._reason = reason
            hooks = list(self._hooks.values())
        for hook in hooks:
            hook()

    def hook(self, action: Callable[[], None]) -> Callable[[], None]:
        """Run `action` when the token is cancelled (at once if it already is); returns the unhook."""
        with self._lock:
            already = self._reason is not None
            key = self._next
            self._next += 1
            if not already:
                self._hooks[key] = action
        if already:
            action()

        def unhook() -> None:
            with self._lock:
                self._hooks.pop(key, None)

        return unhook
