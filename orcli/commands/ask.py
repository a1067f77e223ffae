"""`orcli ask`: read the prompt, build the route, run the executor, stream the answer, record, report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, assert_never

import typer

from orcli.commands.common import (
    PromptArg,
    environment,
    handled,
    load_profile_for,
    read_prompt_input,
    route_flags,
)
from orcli.errors import (
    AnswerFilteredError,
    AttemptsFailedError,
    RequestRejectedError,
    StreamBrokenError,
    UsageError,
)
from orcli.types import Plan, Profile
from orcli.ui.help import OUTPUT, REQUEST
from orcli.ui.output import Output

if TYPE_CHECKING:
    from orcli.execution.executor import Event, Result
    from orcli.routing.route import Route
    from orcli.store.backend import HealthBackend
    from orcli.wire.base import Delta


@dataclass(frozen=True, slots=True)
class AskFlags:
    stream: bool = True
    verbose: bool = False
    as_json: bool = False
    timeout: float | None = None
    reasoning: bool = False  # --reasoning: the model's reasoning on stderr (docs/commands.md#answers-beyond-text)


def _rejected_json(plan: Plan) -> list[dict[str, str]]:
    return [r.as_json() for r in plan.rejected]


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
        self.before_write: Callable[[], None] = _nothing  # before any write: ask's spinner stops there

    def write(self, text: str) -> None:
        if not text:
            return
        self.before_write()
        self.stream.write(text)
        self.stream.flush()
        self.wrote = True
        self.line_open = not text.endswith("\n")

    def end_line_on_terminal(self) -> None:
        if self.tty and self.line_open:
            self.write("\n")


def _nothing() -> None:
    pass


@handled
@route_flags
def ask(
    prompt: PromptArg = None,
    no_stream: Annotated[
        bool, typer.Option("--no-stream", help="Wait for the whole answer.", rich_help_panel=OUTPUT)
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Print each attempt and the route to stderr.", rich_help_panel=OUTPUT),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Overall time limit in seconds, across attempts.",
            min=0.001,
            metavar="SECONDS",
            rich_help_panel=REQUEST,
        ),
    ] = None,
    reasoning: Annotated[
        bool,
        typer.Option(
            "--reasoning", help="Stream the model's reasoning to stderr as it arrives.", rich_help_panel=OUTPUT
        ),
    ] = False,
    *,
    no_stdin: bool,
    given: Any,
    out: Output,
    profile: str | None,
) -> None:
    """Send a prompt along the plan: stream the answer, fail over, fall back."""

    flags = AskFlags(
        stream=not no_stream,
        verbose=verbose and not out.quiet,
        as_json=out.as_json,
        timeout=timeout,
        reasoning=reasoning,
    )
    env = environment()
    loaded = load_profile_for(profile, env, out)
    text = read_prompt_input(prompt, no_stdin)
    if text is None or not text.strip():  # refused before the store is opened or a plan is built
        raise UsageError(
            'no prompt: give it as an argument (orcli ask "...") or on standard input '
            "(echo ... | orcli ask); `-` reads standard input alone."
        )
    run_ask(loaded, given, text, flags, out, env)


def run_ask(profile: Profile, given: Any, prompt: str, flags: AskFlags, out: Output, env: Mapping[str, str]) -> None:
    """Open the health store, build the route, run it, report; the store is closed whatever happens."""
    from orcli.auth import problems_in
    from orcli.execution.budget import current_spend
    from orcli.routing.route import build_route
    from orcli.store.health_source import open_health

    store, snapshot, notes = open_health(profile, env, session=given.session)
    try:
        for note in notes:
            out.warn(note)
        spend = current_spend(store, profile)  # docs/usage.md: what the profile's [budget] is checked against
        route = build_route(profile, given, prompt, env, health=snapshot, credentials=problems_in(env), spend=spend)
        for warning in route.warnings:
            out.warn(warning)
        _execute(route, flags, out, env, store)
    finally:
        if store is not None:
            store.close()


class _Progress:
    """What ask shows while a route runs: -v notes per attempt, reasoning on stderr, a spinner on a terminal,
    and the answer on stdout, each line closed before the next kind of text begins."""

    def __init__(self, flags: AskFlags, out: Output, answer: _Answer) -> None:
        self.flags = flags
        self.out = out
        self.answer = answer
        self.thinking = False  # reasoning written to stderr and its line not yet closed

    def end_thinking(self) -> None:
        if self.thinking:
            self.out.reasoning("\n")  # a note or the answer starts on a line of its own
            self.thinking = False

    def on_event(self, event: Event) -> None:
        if not self.flags.verbose:
            return
        from orcli.execution.executor import EventKind

        self.end_thinking()
        self.answer.end_line_on_terminal()
        e = event.attempt.endpoint
        name = f"{e.model} via {e.provider}"
        out = self.out
        match event.kind:
            case EventKind.START:
                why = f" [{event.detail}]" if event.detail else ""  # a hedge says why it started
                out.note(f"-> attempt {event.number}: {name} ({e.upstream_model}){why}")
            case EventKind.WON:
                out.note(f"   {e.provider} answered first: the other attempt in flight is cancelled", style="green")
            case EventKind.FAILED:
                out.note(f"   failed: {event.detail}", style="yellow")
            case EventKind.SKIP_MODEL:
                out.note(f"   {event.detail}: skipping the other providers of {e.model}", style="yellow")
            case EventKind.SERVED:
                out.note(f"   served by {e.provider} ({e.upstream_model})", style="green")
            case unreachable:
                assert_never(unreachable)

    def write_content(self, delta: Delta) -> None:
        if delta.reasoning and self.flags.reasoning:
            self.answer.end_line_on_terminal()
            self.out.reasoning(delta.reasoning)  # stderr, as it arrives; never stdout (docs/commands.md)
            self.thinking = not delta.reasoning.endswith("\n")
        if delta.content:
            self.end_thinking()  # the reasoning ends where the answer begins (they may share a terminal)
        self.answer.write(delta.content)  # stdout carries the answer's content only, byte for byte


def _execute(route: Route, flags: AskFlags, out: Output, env: Mapping[str, str], store: HealthBackend | None) -> None:
    from orcli.execution.executor import Failed
    from orcli.execution.run import Caller, run_route

    streaming_out = flags.stream and not flags.as_json
    answer = _Answer(out)
    progress = _Progress(flags, out, answer)
    spinner = None
    events: Callable[[Event], None] = progress.on_event
    if out.live_progress:  # a terminal on stderr, not -q/--json/TERM=dumb (orcli/ui/progress.py)
        from orcli.ui.progress import Spinner, following_attempts, stop_once

        spinner = Spinner(out.stderr)
        events = following_attempts(spinner, len(route.plan.attempts), progress.on_event)
        answer.before_write = stop_once(spinner)  # whichever path writes first erases the spinner
    caller = Caller(
        sink=progress.write_content if streaming_out else None, on_event=events, overall_timeout=flags.timeout
    )
    try:
        result = run_route(route, env, store, caller, stream=flags.stream)
    except Failed as failure:
        answer.end_line_on_terminal()
        _report_failure(failure, route, flags, out)
        return
    finally:
        if spinner is not None:  # gone before any other line is written, whatever happened
            spinner.stop()
        progress.end_thinking()
        for warning in store.take_warnings() if store is not None else ():
            out.warn(warning)
    _print_result(result, route, flags, out, answer, streaming_out)


def _print_result(
    result: Result, route: Route, flags: AskFlags, out: Output, answer: _Answer, streaming_out: bool
) -> None:
    if flags.reasoning and not streaming_out and result.answer.reasoning:
        out.reasoning(result.answer.reasoning)  # nothing streamed: the whole reasoning, before the answer
        out.reasoning("\n")
    if flags.as_json:
        out.json(_result_json(result, route))
        return
    if not streaming_out:
        answer.write(result.content)
    if result.answer.tool_calls:
        # Tool calls are the answer: one JSON array on stdout, on its own line after any text the model wrote
        # first (which streamed as it came); --json keeps the two apart (docs/commands.md).
        import json

        if answer.line_open:
            answer.write("\n")
        answer.write(json.dumps([c.as_json() for c in result.answer.tool_calls], ensure_ascii=False) + "\n")
    answer.end_line_on_terminal()
    if flags.verbose:
        out.note(_served_note(result))


def _served_note(result: Any) -> str:
    """-v's last line: who served, the tokens (marked when estimated) and the cost (docs/usage.md)."""
    e = result.attempt.endpoint
    cost = "unknown (price unknown)" if result.cost_usd is None else f"${result.cost_usd:.6f}"
    spent = result.spent
    tokens = ""
    if spent is not None:
        mark = " (estimated)" if spent.estimated else ""
        tokens = f"; tokens {spent.prompt_tokens:,} prompt + {spent.completion_tokens:,} completion{mark}"
    return f"route: {e.model} via {e.provider}{tokens}; cost {cost}"


def _result_json(result: Any, route: Any) -> dict[str, Any]:
    e = result.attempt.endpoint
    calls = result.answer.tool_calls
    return {
        "content": result.answer.content or None if calls else result.answer.content,
        "model": e.model,
        "provider": e.provider,
        "upstream_model": e.upstream_model,
        "finish_reason": result.answer.finish_reason,
        "usage": _usage_json(result),
        "cost_usd": result.cost_usd,
        "tool_calls": [c.as_json() for c in calls] if calls else None,
        "reasoning": result.answer.reasoning,
        "attempts": [a.as_json() for a in result.attempts],
        "rejected": _rejected_json(route.plan),
    }


def _usage_json(result: Any) -> dict[str, Any]:
    """The served attempt's usage: the provider's own object, or the estimate orcli recorded, marked so."""
    spent = result.spent
    if result.answer.usage is not None and (spent is None or not spent.estimated):
        reported: dict[str, Any] = result.answer.usage.as_json()
        return reported
    if spent is None:
        return {}
    total = spent.prompt_tokens + spent.completion_tokens
    counts = {"prompt_tokens": spent.prompt_tokens, "completion_tokens": spent.completion_tokens}
    return {**counts, "total_tokens": total, "estimated": True}


def _report_failure(failure: Any, route: Any, flags: AskFlags, out: Any) -> None:
    from orcli.execution.executor import FailReason

    lines = [
        f"  {i}. {a.model} via {a.provider}: {a.error_class} failure: {a.error}"
        for i, a in enumerate(failure.attempts, start=1)
    ]
    error_type: type[AttemptsFailedError] = AttemptsFailedError
    match failure.reason:
        case FailReason.REQUEST:
            headline, error_type = "the upstream rejected the request", RequestRejectedError
        case FailReason.STREAM:
            headline = "the stream broke after part of the answer was written (the partial answer above stands)"
            error_type = StreamBrokenError
        case FailReason.TIMEOUT | FailReason.CANCELLED:
            headline = failure.message
        case FailReason.FILTERED:
            headline = (
                "the provider's content filter stopped the answer after part of it was written "
                "(the partial answer above stands)"
            )
            error_type = AnswerFilteredError
        case FailReason.ALL_FAILED:
            headline = f"{_every(len(failure.attempts), 'attempt')} failed"
        case unreachable:
            assert_never(unreachable)
    raise error_type(
        headline + (":\n" + "\n".join(lines) if lines else "."),
        extra={
            "content": None,
            "attempts": [a.as_json() for a in failure.attempts],
            "rejected": _rejected_json(route.plan),
        },
    )


def _every(n: int, noun: str) -> str:
    """ "all 3 attempts", but "the only attempt": never "all 1 attempts"."""
    return f"the only {noun}" if n == 1 else f"all {n} {noun}s"
