"""One writer at a time per profile: read -> merge -> atomic replace under an exclusive lock.

Eight `orcli profiles import` processes into one profile used to each read the same old file and replace it
in turn, so the last one won and the others' models were lost (docs/profiles.md#concurrent-imports). The
lock is `fcntl.flock` on a lock file beside the profile (`.NAME.toml.lock`; the profile itself is replaced by
rename, so it cannot carry the lock). The kernel drops the lock when a process dies, so a killed import never
leaves the profile locked. Where flock is unavailable (Windows), imports run unlocked, as before.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from orcli.errors import OrcliError

WAIT_SECONDS = 60.0  # an import holds the lock for one merge (and --verify's bounded list requests)


def lock_path(profile: Path) -> Path:
    return profile.with_name(f".{profile.name}.lock")


@contextlib.contextmanager
def profile_lock(profile: Path, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold the profile's write lock; OrcliError after `wait` seconds of another writer holding it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = lock_path(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise OrcliError(f"{profile}: cannot open its lock file {path}: {exc.strerror or exc}.") from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OrcliError(
                        f"{profile}: another orcli is still writing it (waited {wait:.0f} s for {path}); try again."
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
