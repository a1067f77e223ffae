"""Typer app: parse flags, call the core, hand results to render. Heavy imports stay inside commands."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from orcli import __version__
from orcli.errors import EXIT_INTERRUPTED, EXIT_NO_ROUTE, NoRouteError, OrcliError

app = typer.Typer(
    name="orcli",
    help="Route chat completions over your own provider accounts, OpenRouter-style, with every decision shown.",
    # Pretty exceptions print local variables, which can hold API keys (SPEC §9).
    pretty_exceptions_enable=False,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
health_app = typer.Typer(help="Show, probe or reset endpoint health.", rich_markup_mode=None)


# -- options shared by every command (SPEC §5) -------------------------------------------------------
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", "-p", envvar="ORCLI_PROFILE", help="Profile name or path.", show_envvar=True)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No stderr output but errors.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks (never local variables).")]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="No colour (also NO_COLOR, TERM=dumb).")]

# -- routing and request flags shared by ask and explain-route ----------------------------------------
ModelOpt = Annotated[
    list[str] | None, typer.Option("--model", "-m", help="Model; repeat for fallbacks (primary first).")
]
SortOpt = Annotated[str | None, typer.Option("--sort", help="price | latency | throughput.")]
PartitionOpt = Annotated[str | None, typer.Option("--partition", help="model (default) | none.")]
OrderOpt = Annotated[list[str] | None, typer.Option("--order", help="Providers to try first, in order (a,b).")]
OnlyOpt = Annotated[list[str] | None, typer.Option("--only", help="Allow only these providers.")]
IgnoreOpt = Annotated[list[str] | None, typer.Option("--ignore", help="Never use these providers.")]
NoFallbacksOpt = Annotated[bool, typer.Option("--no-fallbacks", help="Only providers named in --order may serve.")]
RequireParamsOpt = Annotated[
    bool, typer.Option("--require-parameters", help="Drop providers lacking a parameter the request uses.")
]
DataCollectionOpt = Annotated[str | None, typer.Option("--data-collection", help="allow | deny.")]
ZdrOpt = Annotated[bool, typer.Option("--zdr", help="Only zero-data-retention providers.")]
QuantOpt = Annotated[list[str] | None, typer.Option("--quantizations", help="Allowed quantizations (fp8,bf16).")]
MaxPriceOpt = Annotated[str | None, typer.Option("--max-price", help="e.g. prompt=1,completion=2 (USD per 1M tokens).")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Make the load-balancing draw repeatable.")]
SkipUnhealthyOpt = Annotated[bool, typer.Option("--skip-unhealthy", help="Reject endpoints in cooldown or unstable.")]
SystemOpt = Annotated[str | None, typer.Option("--system", "-s", help="System prompt.")]
OptionOpt = Annotated[list[str] | None, typer.Option("--option", "-o", help="Request option KEY=VALUE (repeatable).")]
MaxTokensOpt = Annotated[int | None, typer.Option("--max-tokens", help="Maximum completion tokens.", min=1)]
NoStdinOpt = Annotated[bool, typer.Option("--no-stdin", help="Never read standard input.")]
PromptArg = Annotated[str | None, typer.Argument(help="The prompt; `-` reads stdin alone.", show_default=False)]


class Output:
    """Where a command's words go: stdout for the answer or JSON, stderr for notes; decided once."""

    def __init__(self, as_json: bool, quiet: bool, no_color: bool, debug: bool) -> None:
        self.as_json = as_json
        self.quiet = quiet
        self.no_color = no_color
        self.debug = debug
        self._out = None
        self._err = None

    @property
    def out(self):
        if self._out is None:
            from orcli.render import make_console

            self._out = make_console(stderr=False, no_color=self.no_color)
        return self._out

    @property
    def err(self):
        if self._err is None:
            from orcli.render import make_console

            self._err = make_console(stderr=True, no_color=self.no_color)
        return self._err

    @staticmethod
    def _styled(stream: Any) -> bool:
        """Colour and Rich only where a person looks: a terminal, or FORCE_COLOR (SPEC §5)."""
        if os.environ.get("FORCE_COLOR"):
            return True
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False

    def note(self, text: str, style: str = "dim") -> None:
        if self.quiet:
            return
        if self._styled(sys.stderr):
            self.err.print(text, style=style, markup=False, highlight=False)
        else:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def warn(self, text: str) -> None:
        self.note(f"warning: {text}", style="yellow")

    def table(self, table: Any) -> None:
        """A table on stdout: drawn by Rich on a terminal, as plain ASCII in pipes (and fast there)."""
        from orcli.tables import plain, to_rich

        if self._styled(sys.stdout):
            self.out.print(to_rich(table, self.out))
        else:
            sys.stdout.write(plain(table))
            sys.stdout.flush()

    def json(self, doc: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def error(self, exc: OrcliError, extra: dict[str, Any] | None = None) -> None:
        if self.as_json:
            doc = dict(extra or {})
            doc["error"] = {"kind": exc.kind, "message": exc.message, "exit_code": exc.exit_code}
            self.json(doc)
        sys.stderr.write(f"orcli: error: {exc.message}\n")
        sys.stderr.flush()


def handled(command: Callable[..., None]) -> Callable[..., None]:
    """Turn OrcliError, Ctrl-C and broken pipes into a message and an exit code: the one place that does."""

    def wrapper(*args: Any, **kwargs: Any) -> None:
        out = Output(kwargs.get("as_json", False), kwargs.get("quiet", False), kwargs.get("no_color", False),
                     kwargs.get("debug", False))  # fmt: skip
        try:
            command(*args, out=out, **kwargs)
        except OrcliError as exc:
            if out.debug:
                _print_traceback()
            out.error(exc, getattr(exc, "document", None))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            terminated = isinstance(exc, Terminated)
            code = EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
            word = "terminated" if terminated else "interrupted"
            if out.as_json:  # one JSON document on stdout, also now (nothing else was written there)
                with contextlib.suppress(OSError):
                    out.json({"error": {"kind": word, "message": f"{word} by a signal", "exit_code": code}})
            sys.stderr.write(f"\norcli: {word}\n")
            raise typer.Exit(code) from None
        except BrokenPipeError:
            _silence_broken_pipe()
            raise typer.Exit(0) from None
        except typer.Exit:
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, not a traceback
            if out.debug:
                _print_traceback()
            text = _redact_env_secrets(f"{type(exc).__name__}: {exc}")
            sys.stderr.write(f"orcli: internal error: {text} (run with --debug for details)\n")
            raise typer.Exit(1) from None

    # Typer reads the signature: show it the command's own parameters, without the injected `out`.
    signature = inspect.signature(command, eval_str=True)
    parameters = [p for p in signature.parameters.values() if p.name != "out"]
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__name__ = command.__name__
    wrapper.__doc__ = command.__doc__
    # The annotations evaluated once above, not the strings of `from __future__ import annotations`: Typer's
    # get_type_hints would evaluate every string again on each run (start-up time, not behaviour).
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters if p.annotation is not p.empty}
    if signature.return_annotation is not signature.empty:
        wrapper.__annotations__["return"] = signature.return_annotation
    wrapper.__module__ = command.__module__
    return wrapper


def _print_traceback() -> None:
    import traceback

    # format_exc never includes local variables, which could hold keys; messages are redacted all the same.
    sys.stderr.write(_redact_env_secrets(traceback.format_exc()))


def _redact_env_secrets(text: str) -> str:
    """Redact anything key-like, and the value of every environment variable named like a secret."""
    from orcli.redact import redact

    markers = ("KEY", "TOKEN", "SECRET", "PASSWORD")
    secrets = [v for k, v in os.environ.items() if any(m in k.upper() for m in markers) and len(v.strip()) >= 8]
    return redact(text, secrets)


def _silence_broken_pipe() -> None:
    """The reader went away (`| head`): point stdout at devnull so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"orcli {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version_callback, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Route chat completions over your own provider accounts, OpenRouter-style, with every decision shown."""


# SPEC §5's routing and request flags, shared by `ask` and `explain-route`: declared once, given to both.
_ROUTE_FLAGS: tuple[tuple[str, Any, Any], ...] = (
    ("model", ModelOpt, None),
    ("sort", SortOpt, None),
    ("partition", PartitionOpt, None),
    ("order", OrderOpt, None),
    ("only", OnlyOpt, None),
    ("ignore", IgnoreOpt, None),
    ("no_fallbacks", NoFallbacksOpt, False),
    ("require_parameters", RequireParamsOpt, False),
    ("data_collection", DataCollectionOpt, None),
    ("zdr", ZdrOpt, False),
    ("quantizations", QuantOpt, None),
    ("max_price", MaxPriceOpt, None),
    ("seed", SeedOpt, None),
    ("skip_unhealthy", SkipUnhealthyOpt, False),
    ("system", SystemOpt, None),
    ("option", OptionOpt, None),
    ("max_tokens", MaxTokensOpt, None),
    ("no_stdin", NoStdinOpt, False),
)


def route_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` the shared routing and request flags; it receives them, with its prompt, profile and
    --assume-down, as one `RouteInput` in `given`."""
    signature = inspect.signature(command, eval_str=True)
    keyword = inspect.Parameter.KEYWORD_ONLY
    own = [p for p in signature.parameters.values() if p.name != "given"]
    shared = [inspect.Parameter(name, keyword, default=default, annotation=ann) for name, ann, default in _ROUTE_FLAGS]
    # The prompt argument first, then the shared flags, then the command's own options (help lists them so).
    first = [p for p in own if p.name == "prompt"]
    rest = [p.replace(kind=keyword) for p in own if p.name != "prompt"]

    def wrapper(**kwargs: Any) -> None:
        from orcli.route import RouteInput

        flags = {name: kwargs.pop(name) for name, _, _ in _ROUTE_FLAGS}
        kwargs["given"] = RouteInput(
            profile=kwargs.get("profile"),
            models=tuple(flags["model"] or ()),
            sort=flags["sort"],
            partition=flags["partition"],
            order=tuple(flags["order"] or ()),
            only=tuple(flags["only"] or ()),
            ignore=tuple(flags["ignore"] or ()),
            no_fallbacks=flags["no_fallbacks"],
            require_parameters=flags["require_parameters"],
            data_collection=flags["data_collection"],
            zdr=flags["zdr"],
            quantizations=tuple(flags["quantizations"] or ()),
            max_price=flags["max_price"],
            seed=flags["seed"],
            skip_unhealthy=flags["skip_unhealthy"],
            system=flags["system"],
            options=tuple(flags["option"] or ()),
            max_tokens=flags["max_tokens"],
            prompt_argument=kwargs.get("prompt"),
            no_stdin=flags["no_stdin"],
            assume_down=tuple(kwargs.get("assume_down") or ()),
        )
        command(**kwargs)

    wrapper.__signature__ = signature.replace(parameters=first + shared + rest)  # type: ignore[attr-defined]
    wrapper.__name__ = command.__name__
    wrapper.__doc__ = command.__doc__
    wrapper.__module__ = command.__module__
    return wrapper


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is None or sys.stdin.isatty()
    except (AttributeError, ValueError):
        return True


def _stdin_buffer():
    return getattr(sys.stdin, "buffer", None) if sys.stdin is not None else None


@app.command("explain-route")
@handled
@route_flags
def explain_route(
    prompt: PromptArg = None,
    assume_down: Annotated[
        list[str] | None, typer.Option("--assume-down", help="Plan as if this provider had just failed.")
    ] = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
    *,
    given: Any,  # the routing flags as one RouteInput, from route_flags
    out: Output,
) -> None:
    """Show the attempt plan and every rejected endpoint, with reasons. No network."""
    from orcli import render
    from orcli.ask import check_transport_security
    from orcli.health_source import load_snapshot
    from orcli.profile import load_profile
    from orcli.route import build_route

    loaded = load_profile(given.profile, os.environ)
    snapshot, notes = load_snapshot(loaded, os.environ)
    for note in notes:
        out.warn(note)
    route = build_route(given, os.environ, _stdin_buffer(), _stdin_is_tty(), health=snapshot, profile=loaded)
    for warning in route.warnings:
        out.warn(warning)
    try:
        check_transport_security([loaded.providers[a.endpoint.provider] for a in route.plan.attempts], loaded.path)
    except OrcliError as refusal:  # explain-route sends nothing, but says now what ask would refuse
        out.warn(f"ask would refuse this route: {refusal.message}")
    if as_json:
        doc = render.explain_json(route)
        if not route.plan.attempts:
            exc = NoRouteError("no route: every candidate endpoint was rejected")
            doc["error"] = {"kind": exc.kind, "message": exc.message, "exit_code": exc.exit_code}
            out.json(doc)
            raise typer.Exit(EXIT_NO_ROUTE)
        out.json(doc)
        return
    out.table(render.preferences_table(route))
    out.table(render.plan_table(route.plan))
    if route.plan.rejected:
        out.table(render.rejections_table(route.plan))
    if not route.plan.attempts:
        raise NoRouteError(
            f"no route: all {len(route.plan.rejected)} candidate endpoints were rejected (see the table above)."
        )


@app.command("ask")
@handled
@route_flags
def ask(
    prompt: PromptArg = None,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Wait for the whole answer.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print each attempt and the route to stderr.")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Overall time limit in seconds, across attempts.", min=0.001)
    ] = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
    *,
    given: Any,  # the routing flags as one RouteInput, from route_flags
    out: Output,
) -> None:
    """Send a prompt along the plan: stream the answer, fail over, fall back."""
    from orcli.ask import AskFlags, run_ask

    flags = AskFlags(stream=not no_stream, verbose=verbose and not quiet, as_json=as_json, timeout=timeout)
    run_ask(given, flags, out)


@app.command("providers")
@handled
def providers(
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
    *,
    out: Output,
) -> None:
    """List the profile's providers and endpoints: prices, context, policy, key status, health."""
    from orcli import render
    from orcli.health_source import load_snapshot
    from orcli.profile import load_profile

    loaded = load_profile(profile, os.environ)
    snapshot, notes = load_snapshot(loaded, os.environ)
    for note in notes:
        out.warn(note)
    doc = render.providers_json(loaded, os.environ, snapshot)
    if as_json:
        out.json(doc)
        return
    out.table(render.providers_table(doc))


from orcli.health_cli import register_health  # noqa: E402 - after the shared options it uses

register_health(app, health_app)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is so that it unwinds like Ctrl-C: output kept, attempt recorded."""


EXIT_TERMINATED = 128 + 15


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def run() -> None:
    """Console-script entry: let Typer parse; every command's own errors are handled by `handled`."""
    import signal

    signal.signal(signal.SIGTERM, _raise_terminated)
    argv = sys.argv[1:]
    try:
        code = _app_for(argv[:1])(prog_name="orcli", standalone_mode=False)
    except Exception as exc:
        # Click's own usage errors (a bad flag value, an unknown option) raised before any command runs.
        if not (hasattr(exc, "exit_code") and hasattr(exc, "show") and hasattr(exc, "format_message")):
            raise
        if "--json" in argv:
            error = {"kind": "usage", "message": exc.format_message(), "exit_code": exc.exit_code}
            sys.stdout.write(json.dumps({"error": error}, indent=2) + "\n")
        exc.show()
        code = exc.exit_code
    except KeyboardInterrupt:  # Click's Abort is raised only by prompts, which orcli never shows
        code = EXIT_INTERRUPTED
    sys.exit(code if isinstance(code, int) else 0)


def _app_for(first: list[str]) -> typer.Typer:
    """The app to run: when the first argument names a command, a view of `app` with that command alone.

    Typer builds a Click command for every registered command on each run (~5 ms of start-up); a command's
    parsing, help and errors do not depend on its siblings, so building just the one invoked is the same
    CLI. Anything else (options first, --help, an unknown name) runs the whole app.
    """
    import copy

    name = first[0] if first else None
    commands = [c for c in app.registered_commands if c.name == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    view = copy.copy(app)
    view.registered_commands = commands
    view.registered_groups = groups
    return view
