"""Errors that end a command: each carries its user message and its exit code (SPEC §7)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_ROUTE = 3
EXIT_INTERRUPTED = 130


class OrcliError(Exception):
    """A failure the user caused or must know about; never shown with a traceback."""

    exit_code = EXIT_FAILED
    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(OrcliError):
    exit_code = EXIT_USAGE
    kind = "usage"


class ProfileError(OrcliError):
    exit_code = EXIT_USAGE
    kind = "profile"


class NoRouteError(OrcliError):
    exit_code = EXIT_NO_ROUTE
    kind = "no_route"


class AttemptsFailedError(OrcliError):
    exit_code = EXIT_FAILED
    kind = "all_attempts_failed"
