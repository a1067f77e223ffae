"""The one way a route is run: `ask`, `serve` and `health --probe` all come through here.

Each caller supplies only what differs between them (a `Caller`): where content goes (stdout, SSE chunks,
nowhere), how progress is shown (-v notes, a spinner, the gateway's attempt count), when to stop because the
client left (a cancel token), and an overall time limit. Everything else is here, once: the empty plan
refused, the transport policy checked, the request built, credentials applied per attempt (orcli/auth), the
executor walking the plan with the production reader, and every attempt's outcome recorded in the store.

An attempt's lifecycle, as the executor reports it through `on_event`: START, then (for a served one) the
first content reaching the sink, SERVED; or FAILED (with its class) — a cancelled attempt (the token) is
FAILED with outcome `cancelled`, which never counts against the provider. Two attempts may run at once
(hedging): each gets its own reader on its own thread and its own hook on the token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orcli.errors import NoRouteError

if TYPE_CHECKING:
    import httpx

    from orcli.execution.cancel import CancelToken
    from orcli.execution.exchange import ReaderFactory
    from orcli.execution.executor import Event, Result
    from orcli.routing.route import Route
    from orcli.store.backend import HealthBackend
    from orcli.types import Outcome, PlannedAttempt, Profile, Rejection
    from orcli.wire.base import ChatRequest, Delta


def _ignore(event: Event) -> None:
    pass


@dataclass(frozen=True, slots=True)
class Caller:
    """What one caller of a route supplies; the rest is the same for all."""

    sink: Callable[[Delta], None] | None = None  # content as it arrives; None: the answer comes back whole
    on_event: Callable[[Event], None] = field(default=_ignore)  # attempt started / failed / served
    cancel: CancelToken | None = None  # set from another thread: the running attempt is cut, recorded cancelled
    overall_timeout: float | None = None  # ask --timeout: across attempts, recorded cancelled when reached


def _recorder(store: HealthBackend | None) -> Callable[[Outcome], None]:
    """Every attempt's outcome goes to the store, however it ended (docs/health.md)."""
    if store is None:
        return lambda outcome: None

    def record(outcome: Outcome) -> None:
        store.record(outcome)

    return record


def no_route_error(rejected: Sequence[Rejection]) -> NoRouteError:
    """Every candidate was rejected before any attempt (exit 3; the gateway's 404 carries the same list, its
    402 when a budget stopped the request: docs/usage.md)."""
    from orcli.execution.budget import OverBudgetError, budget_message

    n = len(rejected)
    every = "the only candidate endpoint was" if n == 1 else f"all {n} candidate endpoints were"
    over = budget_message(rejected)
    error = OverBudgetError if over else NoRouteError
    return error(
        (f"no route: {over}. " if over else f"no route: {every} rejected before any attempt; ")
        + "`orcli explain-route` shows why.\n"
        + "\n".join(f"  {r.provider} ({r.model}): {r.code.value}" for r in rejected[:8])
        + (f"\n  and {n - 8} more" if n > 8 else ""),
        extra={"attempts": [], "rejected": [r.as_json() for r in rejected]},
    )


def check_route(route: Route) -> None:
    """Refuse what must not be sent: an empty plan (NoRouteError), a key bound for a clear-text network
    (UsageError, docs/security.md)."""
    from orcli.routing.policy import check_transport_security

    if not route.plan.attempts:
        raise no_route_error(route.plan.rejected)
    providers = route.profile.providers
    check_transport_security([providers[a.endpoint.provider] for a in route.plan.attempts], route.profile.path)


def chat_request(route: Route, messages: Sequence[Mapping[str, object]] | None = None) -> ChatRequest:
    """The neutral request of a route: its prompt as one user message, or the caller's conversation."""
    from orcli.wire.base import ChatRequest

    turns = tuple(messages) if messages is not None else ({"role": "user", "content": route.prompt or ""},)
    return ChatRequest(turns, route.system, route.options, route.tools, route.schema)


def execute(
    profile: Profile,
    attempts: Iterable[PlannedAttempt],
    request: ChatRequest,
    env: Mapping[str, str],
    store: HealthBackend | None,
    caller: Caller,
    *,
    stream: bool,
    client: httpx.Client | None = None,
    reader: ReaderFactory | None = None,
) -> Result:
    """Run `attempts` in order (failover, fallback) and return the served result; raises executor.Failed.

    `client` is the caller's long-lived one (the gateway's); without it a client lives for this run. The
    production reader reads real connections on the calling thread; tests inject theirs."""
    from orcli.execution.executor import Executor

    if reader is None:
        from orcli.execution.exchange import Exchange

        reader = Exchange
    own_client = client is None
    if client is None:
        from orcli.execution.transport import make_client

        client = make_client()
    try:
        executor = Executor(
            client,
            profile.providers,
            env,
            profile.timeouts,
            reader=reader,
            sink=caller.sink,
            on_event=caller.on_event,
            on_outcome=_recorder(store),
            overall_timeout=caller.overall_timeout,
            cancel=caller.cancel,
            profile_name=profile.name,  # recorded with each attempt's usage (docs/usage.md)
        )
        return executor.run(attempts, request, stream=stream)
    finally:
        if own_client:
            client.close()


def run_route(
    route: Route,
    env: Mapping[str, str],
    store: HealthBackend | None,
    caller: Caller,
    *,
    stream: bool,
    request: ChatRequest | None = None,
    client: httpx.Client | None = None,
    reader: ReaderFactory | None = None,
) -> Result:
    """check_route, then execute the route's plan: what `ask` and the gateway run (the gateway passes the
    conversation it was sent as `request`; ask's is the route's prompt). With a `[budget]`, the expected cost
    is held in the store before anything is sent and released once the attempts recorded their real cost; a
    refused hold is a NoRouteError (OverBudgetError) before any request (docs/usage.md)."""
    from orcli.execution.budget import hold, release

    check_route(route)
    held = hold(store, route.profile, route.plan, caller.overall_timeout)
    if not held.plan.attempts:
        raise no_route_error(held.plan.rejected)
    request = request or chat_request(route)
    try:
        return execute(
            route.profile, held.plan.attempts, request, env, store, caller, stream=stream, client=client, reader=reader
        )
    finally:
        release(store, held.token)
