"""One routed request through the gateway, whichever API surface it came in (docs/gateway.md): parse, route,
execute over the providers, answer whole or as a stream, record, log.

The stream opens on the first delta, so failover before it stays invisible and a failure before it is a plain
HTTP error; after it, a failure is an error event in the stream.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from orcli.errors import OrcliError
from orcli.gateway.body import BadRequest, GatewayRequest
from orcli.gateway.surfaces import Surface
from orcli.gateway.watch import CLIENT_LEFT
from orcli.types import Profile

if TYPE_CHECKING:
    import socket

    from orcli.gateway.state import Gateway


class Connection(Protocol):
    """What the relay needs of its client's connection (orcli/gateway/handler.py provides it)."""

    connection: socket.socket
    close_connection: bool

    def send_response(self, code: int, message: str | None = None) -> None: ...

    def send_header(self, keyword: str, value: str) -> None: ...

    def end_headers(self) -> None: ...

    def send_json(self, status: int, doc: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None: ...


class ClientGone(Exception):
    """The client closed its connection: stop the upstream request (recorded as cancelled)."""


class FlushingReader:
    """A reader (orcli/execution/exchange.py) that runs `flush` before each wait on the upstream."""

    def __init__(self, inner: Any, flush: Callable[[], None]) -> None:
        self.inner = inner
        self.flush = flush

    def start(self) -> None:
        self.inner.start()

    def get(self, deadline: float) -> Any:
        self.flush()
        return self.inner.get(deadline)

    def abandon(self) -> None:
        self.inner.abandon()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # what else a reader offers (the executor asks for `interrupt`)


class Relay:
    """One POST of either surface: route, execute, answer (streamed or whole), log."""

    def __init__(self, handler: Connection, gw: Gateway, surface: Surface) -> None:
        self.h = handler
        self.gw = gw
        self.surface = surface
        self.started = time.monotonic()
        self.current: Any = None  # the attempt being tried
        self.attempt_count = 0
        self.stream_open = False
        self.prompt_estimate = 0
        self.pending: list[bytes] = []  # stream bytes the sink queued, written before the next upstream wait
        self.log: dict[str, Any] = {"method": "POST", "path": surface.path}

    def run(self, body: bytes) -> None:
        try:
            request = self.surface.parse(body)
        except BadRequest as exc:
            self._finish(exc.status, self.surface.error(exc.status, exc.message, code=exc.code))
            return
        self.log["model"] = request.models[0]
        profile = self.gw.profiles.get()
        known = {e.model for e in profile.endpoints}
        unknown = [m for m in request.models if m not in known]
        if len(unknown) == len(request.models):
            import difflib

            close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            message = (
                f"the model `{unknown[0]}` does not exist: no endpoint in profile {profile.name} serves it.{hint} "
                "`GET /v1/models` lists the models it serves."
            )
            self._finish(404, self.surface.error(404, message, code="model_not_found"))
            return
        from orcli.types import HealthSnapshot

        store = self.gw.store
        snapshot = HealthSnapshot() if store is None else store.snapshot(profile)
        try:
            self._route_and_execute(profile, request, store, snapshot)
        finally:
            if store is not None:
                for warning in store.take_warnings():
                    self.gw.warn(warning)

    def _route_and_execute(self, profile: Profile, request: GatewayRequest, store: Any, snapshot: Any) -> None:
        from orcli.auth import problems_in
        from orcli.execution.budget import budget_message, current_spend
        from orcli.execution.run import no_route_error
        from orcli.routing.route import build_route

        env = self.gw.env
        spend = current_spend(store, profile)  # what the profile's [budget] is checked against (docs/usage.md)
        try:
            route = build_route(
                profile,
                request.given,
                request.prompt_text,
                env,
                health=snapshot,
                credentials=problems_in(env),
                spend=spend,
            )
        except OrcliError as exc:
            self._finish(400, self.surface.error(400, exc.message))
            return
        self.prompt_estimate = route.request.prompt_tokens
        if not route.plan.attempts:
            metadata = {"rejected": [r.as_json() for r in route.plan.rejected]}
            if budget_message(route.plan.rejected) is not None:  # 402 Payment Required, with ask's words
                headline = no_route_error(route.plan.rejected).message.split("\n", 1)[0]
                self._finish(402, self.surface.error(402, headline, metadata))
                return
            message = "no route: every candidate endpoint was rejected"
            self._finish(404, self.surface.error(404, message, metadata))
            return
        from orcli.execution.run import check_route

        try:
            check_route(route)
        except OrcliError as exc:
            self._finish(500, self.surface.error(500, exc.message))
            return
        self._execute(route, request, store)

    def _execute(self, route: Any, request: GatewayRequest, store: Any) -> None:
        from orcli.execution.budget import OverBudgetError
        from orcli.execution.cancel import CancelToken
        from orcli.execution.executor import Event, EventKind, Failed
        from orcli.execution.run import Caller, run_route
        from orcli.gateway.openai_api import split_options
        from orcli.wire.base import ChatRequest

        def on_event(event: Event) -> None:
            if event.kind is EventKind.START:
                self.current = event.attempt
                self.attempt_count += 1

        options, tools, schema = split_options(route.options)
        chat = ChatRequest(request.messages, request.system, options, tools, schema)
        token = CancelToken()
        caller = Caller(sink=self._stream_delta if request.stream else None, on_event=on_event, cancel=token)
        unwatch = self.gw.watch(self.h.connection, token)  # the client leaving, or the grace running out
        try:
            result = run_route(
                route,
                self.gw.env,
                store,
                caller,
                stream=request.stream,
                request=chat,
                client=self.gw.client,
                reader=self._reader if request.stream else None,
            )
        except OverBudgetError as over:  # the store refused to hold the expected cost: others spent it first
            rejected = over.extra.get("rejected", []) if over.extra else []
            self._finish(402, self.surface.error(402, over.message.split("\n", 1)[0], {"rejected": rejected}))
            return
        except Failed as failure:
            self._failed(failure)
            return
        except ClientGone:
            self._client_left()
            return
        finally:
            unwatch()
        e = result.attempt.endpoint
        self.log.update(provider=e.provider, model=e.model, cost_usd=result.cost_usd)
        if request.stream:
            self._end_stream(result.answer.finish_reason, result.answer.usage)
            return
        self._finish(200, self.surface.answer(result.answer, e.model, e.provider, self.prompt_estimate))

    def _client_left(self) -> None:
        self.log.update(status=499, error="client disconnected")
        self._write_log()
        self.h.close_connection = True

    # -- streaming ----------------------------------------------------------------------------------
    def _stream_delta(self, delta: Any) -> None:
        """The executor's sink: content, reasoning and tool-call fragments become the surface's events. The hot
        path of a stream: no liveness check per event (the client watch cancels a run whose client left, and
        a write to a closed connection fails), one encoding, and the bytes queued until the executor next
        waits on its upstream (`_reader`): the events of one upstream read leave in one write."""
        if self.stream_open:
            data = self.surface.delta(delta)
        else:
            self._open_stream()
            data = self.surface.first_delta(delta)
        if data:
            self.pending.append(data)

    def _reader(self, client: Any, http: Any, timeouts: Any, clock: Any) -> Any:
        """The production reader, flushing what the sink queued before every wait on the upstream: the client
        gets each event as soon as it would have, in fewer writes when an upstream read held several."""
        from orcli.execution.exchange import Exchange

        return FlushingReader(Exchange(client, http, timeouts, clock), self.flush)

    def flush(self) -> None:
        if self.pending:
            data = b"".join(self.pending)
            self.pending.clear()
            self._send(data)

    def _open_stream(self) -> None:
        h = self.h
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Connection", "close")  # the stream's end is the connection's end
        for name, value in self._route_headers().items():
            h.send_header(name, value)
        h.end_headers()
        h.close_connection = True
        self.stream_open = True
        self.log["status"] = 200
        e = self.current.endpoint
        opening = self.surface.open_stream(e.model, e.provider, self.prompt_estimate)
        if opening:
            self.pending.append(opening)

    def _write(self, data: bytes) -> None:
        """Write now, after whatever the sink queued."""
        if self.pending:
            self.pending.append(data)
            data = b"".join(self.pending)
            self.pending.clear()
        self._send(data)

    def _send(self, data: bytes) -> None:
        try:
            self.h.connection.sendall(data)
        except OSError:
            raise ClientGone() from None

    def _end_stream(self, finish: str | None, usage: Any) -> None:
        with contextlib.suppress(ClientGone):
            if not self.stream_open:  # an answer with no content (tool calls only): open it now
                self._open_stream()
            self._write(self.surface.end_stream(finish, usage))
        self._write_log()

    # -- endings ------------------------------------------------------------------------------------
    def _route_headers(self) -> dict[str, str]:
        headers = {"x-orcli-attempts": str(self.attempt_count)}
        if self.current is not None:
            headers["x-orcli-provider"] = self.current.endpoint.provider
        return headers

    def _failed(self, failure: Any) -> None:
        attempts = [a.as_json() for a in failure.attempts]
        last = failure.attempts[-1] if failure.attempts else None
        if failure.reason == "cancelled":
            self._cancelled(failure.message, attempts)
            return
        if self.stream_open and failure.reason == "filtered":
            # docs/failures.md: the content filter stopped an answer partly sent: end it as the API does, not as a break.
            self.log["error"] = "content filter"
            self._end_stream("content_filter", None)
            return
        if self.stream_open:  # content was sent: an error event the SDKs raise on, then the end
            message = f"the stream broke after part of the answer: {failure.message}"
            with contextlib.suppress(ClientGone):
                self._write(self.surface.stream_error(502, message, {"attempts": attempts}))
            self.log.update(status=200, error="stream broke")
            self._write_log()
            return
        if failure.reason == "request" and last is not None:
            status = last.status if last.status and 400 <= last.status < 500 else 400
            message = last.error or "the upstream rejected the request"
            self._finish(status, self.surface.error(status, message, {"attempts": attempts}))
            return
        message = f"all {len(attempts)} attempt{'s' if len(attempts) != 1 else ''} failed"
        if last is not None:
            message += f"; last: {last.provider}: {last.error}"
        self._finish(502, self.surface.error(502, message, {"attempts": attempts}))

    def _cancelled(self, reason: str, attempts: list[dict[str, Any]]) -> None:
        """The cancel token ended the run: the client left (nobody to answer), or the gateway is shutting down
        (the client hears it: an error event in its stream, else a 503)."""
        if reason == CLIENT_LEFT:
            self._client_left()
            return
        message = f"the gateway stopped before the answer was complete ({reason})"
        if self.stream_open:
            with contextlib.suppress(ClientGone):
                self._write(self.surface.stream_error(503, message, {"attempts": attempts}))
            self.log.update(status=200, error=reason)
            self._write_log()
            return
        self._finish(503, self.surface.error(503, message, {"attempts": attempts}))

    def _finish(self, status: int, doc: Mapping[str, Any]) -> None:
        self.log["status"] = status
        if status >= 400:
            error = doc.get("error", {})
            self.log["error"] = error.get("message") if isinstance(error, dict) else None
        elif self.current is not None:
            self.log["provider"] = self.current.endpoint.provider
        try:
            self.h.send_json(status, doc, headers=self._route_headers())
        except OSError:
            self.log["status"] = 499
        self._write_log()

    def _write_log(self) -> None:
        self.log.setdefault("status", 200)
        self.log["attempts"] = self.attempt_count
        self.log["latency_s"] = round(time.monotonic() - self.started, 4)
        self.gw.log(self.log)
