"""`orcli ask`: read the prompt, build the route, run the executor, stream the answer, record, report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from orcli.commands.common import (
    DebugOpt,
    JsonOpt,
    NoColorOpt,
    ProfileOpt,
    PromptArg,
    QuietOpt,
    environment,
    handled,
    read_prompt_input,
    route_flags,
)
from orcli.errors import AttemptsFailedError, NoRouteError, RequestRejectedError, StreamBrokenError, UsageError
from orcli.output import Output
from orcli.types import Outcome, Plan, Profile


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

    def __init__(self, out: Output) -> None:
        self.stream = out.stdout
        self.tty = out.stdout_tty
        self.wrote = False
        self.line_open = False

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


@handled
@route_flags
def ask(
    prompt: PromptArg = None,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Wait for the whole answer.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print each attempt and the route to stderr.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Overall time limit in seconds, across attempts.", min=0.001, metavar="SECONDS"),
    ] = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
    *,
    no_stdin: bool,
    given: Any,
    out: Output,
) -> None:
    """Send a prompt along the plan: stream the answer, fail over, fall back."""
    from orcli.profile import load_profile

    flags = AskFlags(stream=not no_stream, verbose=verbose and not quiet, as_json=as_json, timeout=timeout)
    env = environment()
    loaded = load_profile(profile, env)
    text = read_prompt_input(prompt, no_stdin)
    if text is None or not text.strip():  # refused before the store is opened or a plan is built
        raise UsageError(
            'no prompt: give it as an argument (orcli ask "...") or on standard input '
            "(echo ... | orcli ask); `-` reads standard input alone."
        )
    run_ask(loaded, given, text, flags, out, env)


def run_ask(profile: Profile, given: Any, prompt: str, flags: AskFlags, out: Output, env: Mapping[str, str]) -> None:
    """Open the health store, build the route, execute it, report; the store is closed whatever happens."""
    from orcli.health_source import open_health
    from orcli.route import build_route

    store, snapshot, notes = open_health(profile, env)
    try:
        for note in notes:
            out.warn(note)
        route = build_route(profile, given, prompt, env, health=snapshot)
        for warning in route.warnings:
            out.warn(warning)
        if not route.plan.attempts:
            raise NoRouteError(
                f"no route: all {len(route.plan.rejected)} candidate endpoints were rejected before any attempt: "
                + "; ".join(f"{r.provider} ({r.model}): {r.code.value}" for r in route.plan.rejected[:8])
                + ("; ..." if len(route.plan.rejected) > 8 else "")
                + ". `orcli explain-route` shows why.",
                extra={"attempts": [], "rejected": _rejected_json(route.plan)},
            )
        _execute(route, flags, out, env, store)
    finally:
        if store is not None:
            store.close()


def _check_transport_security(route: Any) -> None:
    """SPEC §9: keys must not cross the network in clear text."""
    from orcli.policy import check_transport_security

    check_transport_security(
        [route.profile.providers[a.endpoint.provider] for a in route.plan.attempts], route.profile.path
    )


def _execute(route: Any, flags: AskFlags, out: Any, env: Mapping[str, str], store: Any) -> None:
    from orcli.executor import Event, Executor, Failed
    from orcli.transport import make_client
    from orcli.wire.openai import build_messages

    _check_transport_security(route)
    record: Callable[[Outcome], None] = (lambda o: None) if store is None else store.record
    streaming_out = flags.stream and not flags.as_json
    answer = _Answer(out)

    def on_event(event: Event) -> None:
        if not flags.verbose:
            return
        answer.end_line_on_terminal()
        e = event.attempt.endpoint
        name = f"{e.model} via {e.provider}"
        if event.kind == "start":
            out.note(f"-> attempt {event.attempt.rank}: {name} ({e.upstream_model})")
        elif event.kind == "failed":
            out.note(f"   failed: {event.detail}", style="yellow")
        elif event.kind == "skip_model":
            out.note(f"   {event.detail}: skipping the other providers of {e.model}", style="yellow")
        elif event.kind == "served":
            out.note(f"   served by {e.provider} ({e.upstream_model})", style="green")

    timeouts = route.profile.timeouts
    with make_client() as client:
        executor = Executor(
            client,
            route.profile.providers,
            env,
            timeouts,
            sink=answer.write if streaming_out else None,
            on_event=on_event,
            on_outcome=record,
            overall_timeout=flags.timeout,
        )
        messages = build_messages(route.prompt, route.system)
        try:
            result = executor.run(route.plan.attempts, messages, route.options, stream=flags.stream)
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
        "content": result.content,
        "model": e.model,
        "provider": e.provider,
        "upstream_model": e.upstream_model,
        "finish_reason": result.finish_reason,
        "usage": result.usage or {},
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
    error_type = {"request": RequestRejectedError, "stream": StreamBrokenError}.get(failure.reason, AttemptsFailedError)
    raise error_type(
        headline + (":\n" + "\n".join(lines) if lines else "."),
        extra={
            "content": None,
            "attempts": [a.as_json() for a in failure.attempts],
            "rejected": _rejected_json(route.plan),
        },
    )
