"""`orcli serve`: the router behind OpenAI's and Anthropic's HTTP APIs (docs/gateway.md)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import typer

from orcli.commands.common import environment, handled
from orcli.errors import UsageError
from orcli.ui.output import Output

# The options, declared once here so that the command's own body stays readable (docs/commands.md, "serve").
HostOpt = Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).", metavar="ADDR")]
PortOpt = Annotated[
    int, typer.Option("--port", help="Port to bind (0: any free port).", min=0, max=65535, metavar="PORT")
]
AuthEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--auth-env",
        help="Env variable holding the token clients must send, as Bearer or x-api-key (required off loopback).",
        metavar="VAR",
    ),
]
MaxBodyOpt = Annotated[
    int, typer.Option("--max-body", help="Largest request body in bytes.", min=1024, metavar="BYTES")
]
GraceOpt = Annotated[
    float, typer.Option("--grace", help="Seconds in-flight requests get on shutdown.", min=0, metavar="SECONDS")
]
ReadTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--read-timeout",
        help="Seconds a request's headers and body may take to arrive (408 after).",
        min=0.1,
        metavar="SECONDS",
    ),
]
AllowOriginOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-origin",
        help="A web origin allowed to call the gateway (CORS), e.g. http://localhost:3000; repeatable, * for any.",
        metavar="ORIGIN",
    ),
]


@handled
def serve(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8765,
    auth_env: AuthEnvOpt = None,
    max_body: MaxBodyOpt = 8 * 1024 * 1024,
    grace: GraceOpt = 10.0,
    read_timeout: ReadTimeoutOpt = 10.0,
    allow_origin: AllowOriginOpt = None,
    *,
    out: Output,
    profile: str | None,
) -> None:
    """Serve the router as OpenAI's and Anthropic's APIs: POST /v1/chat/completions, POST /v1/messages,
    GET /v1/models, GET /health."""
    from orcli.gateway.server import serve as run_server
    from orcli.gateway.state import ServeConfig
    from orcli.routing.policy import is_loopback_host

    env = environment()
    token = None
    if auth_env is not None:
        token = env.get(auth_env, "").strip()
        if not token:
            raise UsageError(
                f"--auth-env {auth_env}: the variable is not set or empty; set it to the token clients send."
            )
    if not is_loopback_host(f"http://{host if ':' not in host else '[' + host + ']'}/") and token is None:
        raise UsageError(
            f"--host {host} is reachable from other machines: give --auth-env VAR (a variable holding the token "
            "clients must send as `Authorization: Bearer ...`), or bind to 127.0.0.1."
        )
    lock = threading.Lock()  # one log line at a time from many request threads

    def log(entry: Mapping[str, Any]) -> None:
        if out.quiet:
            return
        line = json.dumps(dict(entry), ensure_ascii=False) if out.as_json else _log_line(entry)
        with lock:
            out.note(line, style="")

    def warn(text: str) -> None:
        with lock:
            if out.as_json:
                out.note(json.dumps({"warning": text}, ensure_ascii=False), style="")
            else:
                out.warn(text)

    def ready(url: str) -> None:
        if out.as_json:  # one line, so a supervisor can read it as soon as it is written
            out.stdout.write(json.dumps({"listening": url}) + "\n")
            out.stdout.flush()
        elif not out.quiet:
            out.note(f"orcli serve: listening on {url} (Ctrl-C to stop)", style="")

    origins = tuple(_origins(allow_origin or ()))
    config = ServeConfig(
        host=host,
        port=port,
        profile=profile,
        auth_token=token,
        max_body=max_body,
        grace=grace,
        read_timeout=read_timeout,
        allow_origins=origins,
    )
    try:
        run_server(config, env, log, warn, ready)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _origins(given: Iterable[str]) -> list[str]:
    """`--allow-origin` values: `*`, or scheme://host[:port] as browsers send it in `Origin`."""
    out = []
    for value in given:
        for origin in (v.strip() for v in value.split(",")):
            if origin != "*" and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+/?", origin):
                raise UsageError(
                    f"--allow-origin {origin!r}: give an origin as a browser sends it, such as "
                    "http://localhost:3000 (scheme, host and port; no path), or * for any."
                )
            out.append(origin.rstrip("/"))
    return out


def _log_line(entry: Mapping[str, Any]) -> str:
    """`POST /v1/chat/completions 200 model via provider, 2 attempts, 0.41s, $0.000123`"""
    parts = [f"{entry.get('method', '')} {entry.get('path', '')} {entry.get('status', '')}"]
    if entry.get("model"):
        via = f" via {entry['provider']}" if entry.get("provider") else ""
        parts.append(f"{entry['model']}{via}")
    attempts = entry.get("attempts", 0)
    parts.append(f"{attempts} attempt{'s' if attempts != 1 else ''}")
    parts.append(f"{entry.get('latency_s', 0):.2f}s")
    cost = entry.get("cost_usd")
    if cost is not None:
        parts.append(f"${cost:.6f}")
    if entry.get("error"):
        parts.append(f"error: {entry['error']}")
    return ", ".join(parts)
