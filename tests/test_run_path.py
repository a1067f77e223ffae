"""The one execution path (orcli/execution/run.py) and its cancel token, against a real loopback upstream.

A caller that cancels (the gateway's client left, SIGTERM's grace ran out, a hedge lost) must see its
attempt cut within about a second, whatever the attempt was waiting for, and the attempt recorded
`cancelled`: never a failure of the provider."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from orcli.execution.cancel import CancelToken
from orcli.execution.executor import Failed, FailReason
from orcli.execution.run import Caller, execute
from orcli.profile.resolve import load_profile_file
from orcli.types import HEALTHY, FailureClass, Outcome, PlannedAttempt
from orcli.wire.base import ChatRequest
from tests.upstream import Upstream, fake_keys, hang, ok, slow_first_token, write_profile

HELLO = ChatRequest(({"role": "user", "content": "hi"},))


class Recorder:
    """A health store that keeps what it is told."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def record(self, outcome: Outcome) -> bool:
        self.outcomes.append(outcome)
        return True


def _run_and_cancel(tmp_path: Path, behaviour, stream: bool, cancel_after: float = 0.3):  # type: ignore[no-untyped-def]
    with Upstream() as up:
        up.script("slow", behaviour)
        profile = load_profile_file(write_profile(tmp_path / "p.toml", up, ["slow"]))
        attempt = PlannedAttempt(1, profile.endpoints[0], 0.0, HEALTHY, "")
        token, store, outcome = CancelToken(), Recorder(), {}

        def run() -> None:
            try:
                execute(profile, [attempt], HELLO, fake_keys(["slow"]), store, Caller(cancel=token), stream=stream)
            except Failed as failure:
                outcome["failure"] = failure

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(cancel_after)
        started = time.monotonic()
        token.cancel("client disconnected")
        thread.join(10)
        took = time.monotonic() - started
        deadline = time.monotonic() + 3
        while up.live_connections() and time.monotonic() < deadline:
            time.sleep(0.02)
        return outcome.get("failure"), store.outcomes, took, up.live_connections()


@pytest.mark.parametrize("stream", [False, True])
def test_a_cancelled_attempt_waiting_for_headers_is_cut_at_once_and_recorded_cancelled(
    tmp_path: Path, stream: bool
) -> None:
    failure, outcomes, took, live = _run_and_cancel(tmp_path, hang(), stream)
    assert failure is not None and failure.reason is FailReason.CANCELLED
    assert took < 1.0, f"the cancel took {took:.2f}s"
    assert [o.error_class for o in outcomes] == [FailureClass.CANCELLED]
    assert not outcomes[0].ok
    assert live == 0, "the upstream still holds the connection"


def test_a_cancelled_stream_before_its_first_token_is_cut_and_never_counts_against_the_provider(
    tmp_path: Path,
) -> None:
    failure, outcomes, took, live = _run_and_cancel(tmp_path, slow_first_token(30), stream=True)
    assert failure is not None and failure.reason is FailReason.CANCELLED
    assert took < 1.0
    assert [o.error_class for o in outcomes] == [FailureClass.CANCELLED]
    assert live == 0


def test_a_run_cancelled_before_it_starts_sends_nothing(tmp_path: Path) -> None:
    with Upstream() as up:
        up.script("p", ok("never"))
        profile = load_profile_file(write_profile(tmp_path / "p.toml", up, ["p"]))
        token = CancelToken()
        token.cancel("gone")
        attempt = PlannedAttempt(1, profile.endpoints[0], 0.0, HEALTHY, "")
        with pytest.raises(Failed) as caught:
            execute(profile, [attempt], HELLO, fake_keys(["p"]), None, Caller(cancel=token), stream=True)
        assert caught.value.reason is FailReason.CANCELLED and caught.value.message == "gone"
        assert up.count("p") == 0


def test_an_uncancelled_run_serves_and_records_success(tmp_path: Path) -> None:
    with Upstream() as up:
        up.script("p", ok("fine"))
        profile = load_profile_file(write_profile(tmp_path / "p.toml", up, ["p"]))
        store = Recorder()
        attempt = PlannedAttempt(1, profile.endpoints[0], 0.0, HEALTHY, "")
        result = execute(profile, [attempt], HELLO, fake_keys(["p"]), store, Caller(cancel=CancelToken()), stream=True)
        assert result.content == "fine"
        assert [o.ok for o in store.outcomes] == [True]
