"""`orcli serve`'s HTTP server (docs/gateway.md): the same planner, executor and health store behind
OpenAI's and Anthropic's APIs; the process, its shared state and its shutdown (connections: handler.py).

The standard library's ThreadingHTTPServer: a thread per connection streams with plain writes, notices a
client that went away on its next write (or a peek before it), serves dozens of concurrent streams on
two cores (the work is waiting on upstreams), and costs orcli's other commands nothing at start-up.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Mapping
from typing import Any

from orcli.gateway.handler import GatewayServer
from orcli.gateway.state import Gateway, ServeConfig

CUT_WAIT = 2.0  # seconds cut requests get to tell their clients and record their outcome


def serve(
    config: ServeConfig,
    env: Mapping[str, str],
    log: Callable[[Mapping[str, Any]], None],
    warn: Callable[[str], None],
    ready: Callable[[str], None],
) -> None:
    """Run until SIGTERM or Ctrl-C, then give in-flight requests `config.grace` seconds to finish; cut the
    rest (their clients get an error event or a 503; their attempts are recorded `cancelled`)."""
    gw = Gateway(config, env, log, warn)
    server = GatewayServer((config.host, config.port), gw)
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    def reload(signum: int, frame: object) -> None:
        gw.profiles.reload_asked = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with contextlib.suppress(AttributeError, ValueError):  # no SIGHUP on some platforms
        signal.signal(signal.SIGHUP, reload)
    host, port = server.server_address[:2]
    shown = host.decode() if isinstance(host, bytes) else str(host)
    ready(f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/v1")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        if not gw.wait_idle(config.grace):
            from orcli.gateway.watch import SHUTTING_DOWN

            warn(f"{gw.active} request(s) still in flight after {config.grace:g}s; cutting them")
            gw.clients.cancel_all(SHUTTING_DOWN)  # each ends its stream with an error event, recorded cancelled
            gw.wait_idle(CUT_WAIT)
        server.server_close()
        gw.client.close()
        if gw.store is not None:
            gw.store.close()
