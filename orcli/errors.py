"""Errors that end a command: each carries its user message, its exit code (docs/failures.md#exit-codes) and its JSON document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_ROUTE = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + 15


def error_document(kind: str, message: str, exit_code: int, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The one JSON document a failed command prints with --json: whatever it knows, plus `error` (docs/commands.md#common-options)."""
    doc = dict(extra or {})
    doc["error"] = {"kind": kind, "message": message, "exit_code": exit_code}
    return doc


class OrcliError(Exception):
    """A failure the user caused or must know about; never shown with a traceback.

    `extra` holds what the command's JSON document carries besides `error` (the attempts, the rejections).
    """

    exit_code = EXIT_FAILED
    kind = "error"

    def __init__(self, message: str, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra: Mapping[str, Any] = dict(extra or {})

    def document(self) -> dict[str, Any]:
        return error_document(self.kind, self.message, self.exit_code, self.extra)


class UsageError(OrcliError):
    exit_code = EXIT_USAGE
    kind = "usage"


class ProfileError(OrcliError):
    """A profile that cannot be used: exit 2. `problems` lists each thing wrong with it (file, line, key,
    message; those not known are None); the JSON document carries them all as `error.problems` (docs/json.md).
    Without a list, the message is the one problem."""

    exit_code = EXIT_USAGE
    kind = "profile"

    def __init__(
        self,
        message: str,
        extra: Mapping[str, Any] | None = None,
        problems: Sequence[Mapping[str, object]] | None = None,
    ) -> None:
        super().__init__(message, extra)
        if problems is None:
            problems = [{"file": None, "line": None, "key": None, "message": message.rstrip(".")}]
        self.problems = tuple(problems)

    def document(self) -> dict[str, Any]:
        doc = super().document()
        doc["error"]["problems"] = [dict(p) for p in self.problems]
        return doc


class NoRouteError(OrcliError):
    exit_code = EXIT_NO_ROUTE
    kind = "no_route"


class AttemptsFailedError(OrcliError):
    """Every attempt failed (docs/failures.md#failure-classes, docs/failures.md#exit-codes): exit 1."""

    exit_code = EXIT_FAILED
    kind = "all_attempts_failed"


class RequestRejectedError(AttemptsFailedError):
    """The upstream refused the request itself (`request` class): exit 1, no further attempts."""

    kind = "request_rejected"


class StreamBrokenError(AttemptsFailedError):
    """The stream broke after part of the answer reached stdout: exit 1, the partial answer stands."""

    kind = "stream_broken"


class AnswerFilteredError(AttemptsFailedError):
    """The provider's content filter stopped an answer after part of it reached stdout: a model event
    (docs/failures.md#failure-classes), exit 1, the partial answer stands, the provider's health untouched."""

    kind = "content_filtered"
