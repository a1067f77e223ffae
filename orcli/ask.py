"""`orcli ask`: build the route, run the executor, stream the answer, record outcomes, report."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, assert_never

from orcli.errors import AttemptsFailedError, NoRouteError, UsageError
from orcli.types import Outcome, Plan


@dataclass(frozen=True, slots=True)
class AskFlags:
    stream: bool = True
    verbose: bool = False
    as_json: bool = False
    timeout: float | None = None


def _rejected_json(plan: Plan) -> list[dict[str, str]]:
    from orcli.render import rejection_json

    return [rejection_json(r) for r in plan.rejected]


class _Answer:
    """The answer on stdout, written and flushed chunk by chunk: a stream, not a buffered page.

    On a terminal stderr notes share the screen, so a note (or the end) first closes a line the answer left
    open; in a pipe the answer stays byte for byte what the model sent.
    """

    def __init__(self) -> None:
        self.stream = sys.stdout
        self.wrote = False
        self.line_open = False
        try:
            self.tty = self.stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False

    def write(self, text: str) -> None:
        if not text:
            return
        self.stream.write(text)
        self.stream.flush()
        self.wrote = True
        self.line_open = not text.endswith("\n")

    def end_line_on_terminal(self) -> None:
        if self.tty and self.line_open:
            self.write("\n")


def run_ask(inp: Any, flags: AskFlags, out: Any, env: Mapping[str, str] | None = None) -> None:
    from orcli.health_source import open_health
    from orcli.profile import load_profile
    from orcli.route import build_route

    env = os.environ if env is None else env
    profile = load_profile(inp.profile, env)
    store, snapshot, notes = open_health(profile, env)
    try:
        for note in notes:
            out.warn(note)
        stdin = getattr(sys.stdin, "buffer", None) if sys.stdin is not None else None
        try:
            stdin_tty = sys.stdin is None or sys.stdin.isatty()
        except (AttributeError, ValueError):
            stdin_tty = True
        route = build_route(inp, env, stdin, stdin_tty, health=snapshot, profile=profile)
        for warning in route.warnings:
            out.warn(warning)
        if route.prompt is None or not route.prompt.strip():
            raise UsageError(
                'no prompt: give it as an argument (orcli ask "...") or on standard input '
                "(echo ... | orcli ask); `-` reads standard input alone."
            )
        if not route.plan.attempts:
            error = NoRouteError(
                f"no route: all {len(route.plan.rejected)} candidate endpoints were rejected before any attempt: "
                + "; ".join(f"{r.provider} ({r.model}): {r.code.value}" for r in route.plan.rejected[:8])
                + ("; ..." if len(route.plan.rejected) > 8 else "")
                + ". `orcli explain-route` shows why."
            )
            error.document = {"attempts": [], "rejected": _rejected_json(route.plan)}  # type: ignore[attr-defined]
            raise error
        _execute(route, flags, out, env, store)
    finally:
        if store is not None:
            store.close()


def _check_transport_security(route: Any) -> None:
    """SPEC §9: keys must not cross the network in clear text."""
    check_transport_security(
        [route.profile.providers[a.endpoint.provider] for a in route.plan.attempts], route.profile.path
    )


def is_loopback_host(url: str) -> bool:
    """Whether `url` names this machine: `localhost` or a loopback address (127.0.0.0/8, ::1). A name that
    merely starts like one (`127.example.com`, `localhost.example.com`) is somebody else's host."""
    import ipaddress
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport_security(providers: Any, profile_path: str) -> None:
    """Refuse (UsageError) any provider whose key would travel in clear text to another machine (SPEC §9), or
    whose base_url the HTTP client cannot parse; shared by `ask` and `health --probe`."""
    for provider in providers:
        try:
            insecure = provider.base_url.startswith("http://") and not is_loopback_host(provider.base_url)
        except Exception as exc:  # httpx.InvalidURL, idna errors: a profile mistake, not an internal error
            raise UsageError(
                f"provider `{provider.name}`: base_url {provider.base_url!r} is not a usable URL ({exc}); "
                f"fix [providers.{provider.name}] in {profile_path}."
            ) from None
        if insecure and not provider.allow_insecure:
            raise UsageError(
                f"provider `{provider.name}` uses plain http:// to a non-loopback host ({provider.base_url}): "
                "keys and prompts would cross the network in clear text. Use https://, or set "
                f"allow_insecure = true in [providers.{provider.name}] of {profile_path} if you must."
            )


def _execute(route: Any, flags: AskFlags, out: Any, env: Mapping[str, str], store: Any) -> None:
    from orcli.exchange import Exchange
    from orcli.executor import Event, EventKind, Executor, Failed
    from orcli.transport import make_client
    from orcli.wire.base import ChatRequest, Delta

    _check_transport_security(route)
    record: Callable[[Outcome], None] = (lambda o: None) if store is None else store.record
    streaming_out = flags.stream and not flags.as_json
    answer = _Answer()

    def on_event(event: Event) -> None:
        if not flags.verbose:
            return
        answer.end_line_on_terminal()
        e = event.attempt.endpoint
        name = f"{e.model} via {e.provider}"
        match event.kind:
            case EventKind.START:
                out.note(f"-> attempt {event.attempt.rank}: {name} ({e.upstream_model})")
            case EventKind.FAILED:
                out.note(f"   failed: {event.detail}", style="yellow")
            case EventKind.SKIP_MODEL:
                out.note(f"   {event.detail}: skipping the other providers of {e.model}", style="yellow")
            case EventKind.SERVED:
                out.note(f"   served by {e.provider} ({e.upstream_model})", style="green")
            case unreachable:
                assert_never(unreachable)

    def write_content(delta: Delta) -> None:
        answer.write(delta.content)  # stdout carries the answer's content only, byte for byte

    timeouts = route.profile.timeouts
    with make_client() as client:
        executor = Executor(
            client,
            route.profile.providers,
            env,
            timeouts,
            reader=Exchange,  # make_client's transport has real connections: read them on this thread
            sink=write_content if streaming_out else None,
            on_event=on_event,
            on_outcome=record,
            overall_timeout=flags.timeout,
        )
        request = ChatRequest(({"role": "user", "content": route.prompt},), route.system, route.options)
        try:
            result = executor.run(route.plan.attempts, request, stream=flags.stream)
        except Failed as failure:
            answer.end_line_on_terminal()
            _report_failure(failure, route, flags, out)
            return
        finally:
            for warning in store.take_warnings() if store is not None else ():
                out.warn(warning)
    if store is not None:
        for warning in store.take_warnings():
            out.warn(warning)
    if flags.as_json:
        out.json(_result_json(result, route))
        return
    if not streaming_out:
        answer.write(result.content)
    answer.end_line_on_terminal()
    if flags.verbose:
        cost = "unknown" if result.cost_usd is None else f"${result.cost_usd:.6f}"
        out.note(f"route: {result.attempt.endpoint.model} via {result.attempt.endpoint.provider}; cost {cost}")


def _result_json(result: Any, route: Any) -> dict[str, Any]:
    e = result.attempt.endpoint
    return {
        "content": result.answer.content,
        "model": e.model,
        "provider": e.provider,
        "upstream_model": e.upstream_model,
        "finish_reason": result.answer.finish_reason,
        "usage": {} if result.answer.usage is None else result.answer.usage.as_json(),
        "cost_usd": result.cost_usd,
        "attempts": [a.as_json() for a in result.attempts],
        "rejected": _rejected_json(route.plan),
    }


def _report_failure(failure: Any, route: Any, flags: AskFlags, out: Any) -> None:
    lines = [
        f"  {i}. {a.model} via {a.provider}: {a.error_class} failure: {a.error}"
        for i, a in enumerate(failure.attempts, start=1)
    ]
    headline = {
        "request": "the upstream rejected the request",
        "stream": "the stream broke after part of the answer was written (the partial answer above stands)",
        "timeout": failure.message,
        "all_failed": f"all {len(failure.attempts)} attempts failed",
    }[failure.reason]
    error = AttemptsFailedError(headline + (":\n" + "\n".join(lines) if lines else "."))
    error.kind = {"request": "request_rejected", "stream": "stream_broken"}.get(failure.reason, "all_attempts_failed")
    error.document = {  # type: ignore[attr-defined]
        "content": None,
        "attempts": [a.as_json() for a in failure.attempts],
        "rejected": _rejected_json(route.plan),
    }
    raise error
