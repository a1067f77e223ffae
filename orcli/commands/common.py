"""What every command shares: the common options, the error wrapper, the routing and request flags
(derived from the preference declaration), and reading the prompt and the profile."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Mapping
from typing import Annotated, Any, get_args

import typer

from orcli.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, OrcliError, error_document
from orcli.routing.preferences import PREFERENCES, Preference, ValueKind
from orcli.ui.help import OUTPUT, REQUEST, ROUTING
from orcli.ui.output import Output, StdoutUnwritable, silence, to_stderr


# -- options shared by every command (docs/commands.md#common-options) -------------------------------------------------------
def complete_profiles(incomplete: str) -> list[str]:  # Typer passes arguments by these names
    from orcli.ui.completion import profile_names

    return profile_names(incomplete)


def complete_models(ctx: Any, incomplete: str) -> list[str]:
    from orcli.ui.completion import model_names

    return model_names(ctx, incomplete)


def complete_presets(ctx: Any, incomplete: str) -> list[str]:
    from orcli.ui.completion import preset_names

    return preset_names(ctx, incomplete)


def complete_providers(ctx: Any, incomplete: str) -> list[str]:
    from orcli.ui.completion import provider_names

    return provider_names(ctx, incomplete)


ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        envvar="ORCLI_PROFILE",
        help="Profile name or path.",
        show_envvar=True,
        metavar="NAME|PATH",
        autocompletion=complete_profiles,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON document on stdout.", rich_help_panel=OUTPUT)
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No stderr output but errors.", rich_help_panel=OUTPUT)]
DebugOpt = Annotated[
    bool, typer.Option("--debug", help="Show tracebacks (never local variables).", rich_help_panel=OUTPUT)
]
NoColorOpt = Annotated[
    bool, typer.Option("--no-color", help="No colour (also NO_COLOR, TERM=dumb).", rich_help_panel=OUTPUT)
]
WideOpt = Annotated[
    bool,
    typer.Option(
        "--wide", "-w", help="Every table column at full length (no fitting to the terminal).", rich_help_panel=OUTPUT
    ),
]
PromptArg = Annotated[
    str | None, typer.Argument(help="The prompt; `-` reads stdin alone.", show_default=False, metavar="[PROMPT]")
]
NoStdinOpt = Annotated[bool, typer.Option("--no-stdin", help="Never read standard input.", rich_help_panel=REQUEST)]


def common_flags() -> dict[str, bool]:
    """Every spelling of the common options (and --wide) -> whether it takes a value: what `orcli` moves after
    the command name when they come before it."""
    flags: dict[str, bool] = {}
    for _, annotation, _ in (*COMMON_OPTIONS, ("wide", WideOpt, False)):
        value_type, info = get_args(annotation)[:2]
        first = (info.default,) if isinstance(info.default, str) and info.default.startswith("-") else ()
        for flag in (*first, *info.param_decls):
            flags[flag] = value_type is not bool
    return flags


def common_options_before_the_command(callback: Callable[..., None]) -> Callable[..., None]:
    """The app's callback, taking the common options too: they are parsed there (help lists them), and the
    command receives them again, as `orcli` moves them after its name."""
    names = {name for name, _, _ in COMMON_OPTIONS}

    def wrapper(**kwargs: Any) -> None:
        callback(**{k: v for k, v in kwargs.items() if k not in names})

    keyword = inspect.Parameter.KEYWORD_ONLY
    shared = [inspect.Parameter(name, keyword, default=default, annotation=a) for name, a, default in COMMON_OPTIONS]
    return _with_signature(wrapper, callback, extra=shared, extra_last=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is so that it unwinds like Ctrl-C: output kept, attempt recorded."""


# The options every command takes (docs/commands.md), declared here once: `handled` adds them to each
# command's signature, builds the command's `Output` from them, and hands it the profile spec.
COMMON_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("profile", ProfileOpt, None),
    ("as_json", JsonOpt, False),
    ("quiet", QuietOpt, False),
    ("debug", DebugOpt, False),
    ("no_color", NoColorOpt, False),
)
_INJECTED = ("out", "profile")  # keyword-only parameters without a default: given by `handled`, not Typer


def _injected(command: Callable[..., None]) -> tuple[str, ...]:
    """The parameters `handled` gives `command` itself: `out` always; `profile` unless the command declares
    its own --profile option (the profiles it writes, for `profiles init` and `import`)."""
    own = inspect.signature(command).parameters
    return tuple(
        name
        for name in _INJECTED
        if name in own and own[name].kind is inspect.Parameter.KEYWORD_ONLY and own[name].default is own[name].empty
    )


def handled(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` the common options, and turn OrcliError, Ctrl-C, SIGTERM and broken pipes into a message
    and an exit code: the one place that does, for every command. The command receives the `Output` built
    from the common options as `out`, and the --profile value as `profile` when it asks for one (a keyword-only
    `profile` without a default)."""
    injected = _injected(command)
    common = [(name, ann, default) for name, ann, default in COMMON_OPTIONS if name in injected or name != "profile"]

    def wrapper(*args: Any, **kwargs: Any) -> None:
        _ensure_standard_fds()
        options = {name: kwargs.pop(name, default) for name, _, default in common}
        out = Output(
            as_json=options["as_json"], quiet=options["quiet"], no_color=options["no_color"], debug=options["debug"]
        )
        if "profile" in injected:
            kwargs["profile"] = options["profile"]
        try:
            try:
                command(*args, out=out, **kwargs)
            finally:
                out.stdout.flush()  # here, not in the interpreter's exit, where a failure is ignored with exit 120
        except OrcliError as exc:
            if out.debug:
                _print_traceback()
            try:
                out.error(exc)
            except StdoutUnwritable:  # the JSON document could not be written; the message on stderr was
                _silence_stdout()
            except BrokenPipeError:
                _silence_stdout()
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            terminated = isinstance(exc, Terminated)
            code = EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
            word = "terminated" if terminated else "interrupted"
            if out.as_json:  # one JSON document on stdout, also now (nothing else was written there)
                try:
                    out.json(error_document(word, f"{word} by a signal", code))
                except (OSError, StdoutUnwritable):
                    _silence_stdout()
            to_stderr(f"\norcli: {word}\n")
            raise typer.Exit(code) from None
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(0) from None
        except StdoutUnwritable as exc:  # a full disk, a closed stdout: one line, exit 1 (docs/failures.md#exit-codes)
            _silence_stdout()
            to_stderr(f"orcli: error: cannot write to standard output: {exc.reason}\n")
            raise typer.Exit(1) from None
        except typer.Exit:
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, not a traceback
            if out.debug:
                _print_traceback()
            from orcli.neutralise import neutralise

            text = neutralise(redact_env_secrets(f"{type(exc).__name__}: {exc}"))
            to_stderr(f"orcli: internal error: {text} (run with --debug for details)\n")
            raise typer.Exit(1) from None

    keyword = inspect.Parameter.KEYWORD_ONLY
    shared = [inspect.Parameter(name, keyword, default=default, annotation=ann) for name, ann, default in common]
    return _with_signature(wrapper, command, drop=injected, extra=shared, extra_last=True)


def _with_signature(
    wrapper: Callable[..., None],
    command: Callable[..., None],
    drop: tuple[str, ...] = (),
    extra: list[inspect.Parameter] | None = None,
    extra_last: bool = False,
) -> Callable[..., None]:
    """Show Typer `command`'s own parameters (less `drop`, plus `extra`: after the prompt, or last) on `wrapper`.

    The annotations are evaluated once here, not left as the strings of `from __future__ import annotations`:
    Typer's get_type_hints would evaluate every string again on each run (start-up time, not behaviour).
    """
    signature = inspect.signature(command, eval_str=True)
    parameters = [p for p in signature.parameters.values() if p.name not in drop]
    if extra is not None and extra_last:  # before --wide, which help lists after the output options it refines
        at = next((i for i, p in enumerate(parameters) if p.name == "wide"), len(parameters))
        keyword = inspect.Parameter.KEYWORD_ONLY
        parameters = parameters[:at] + extra + [p.replace(kind=keyword) for p in parameters[at:]]
    elif extra is not None:
        parameters = extra_first(parameters, extra)
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__name__ = command.__name__
    wrapper.__doc__ = command.__doc__
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters if p.annotation is not p.empty}
    if signature.return_annotation is not signature.empty:
        wrapper.__annotations__["return"] = signature.return_annotation
    wrapper.__module__ = command.__module__
    return wrapper


def extra_first(own: list[inspect.Parameter], extra: list[inspect.Parameter]) -> list[inspect.Parameter]:
    """The prompt argument first, then the shared flags, then the command's own options (help lists them so)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    first = [p for p in own if p.name == "prompt"]
    rest = [p.replace(kind=keyword) for p in own if p.name != "prompt"]
    return first + extra + rest


def _print_traceback() -> None:
    import traceback

    # format_exc never includes local variables, which could hold keys; messages are redacted all the same.
    to_stderr(redact_env_secrets(traceback.format_exc()))


def redact_env_secrets(text: str) -> str:
    """Redact anything key-like, and the value of every environment variable named like a secret."""
    from orcli.redact import redact

    markers = ("KEY", "TOKEN", "SECRET", "PASSWORD")
    secrets = [v for k, v in os.environ.items() if any(m in k.upper() for m in markers) and len(v.strip()) >= 8]
    return redact(text, secrets)


def _silence_stdout() -> None:
    """The reader went away (`| head`) or stdout failed: what is still buffered goes nowhere, quietly."""
    silence(sys.stdout)


def _ensure_standard_fds() -> None:
    """A closed stdin, stdout or stderr (`2>&-`) becomes /dev/null: otherwise the next file opened (the health
    store, a socket) would take its number, and anything written to that stream would land in it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                devnull = os.open(os.devnull, os.O_RDWR)
            except OSError:
                return
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)


# -- routing and request flags (docs/commands.md#common-options), shared by ask and explain-route -----------------------------
_COMPLETES = {
    "models": complete_models,
    "order": complete_providers,
    "only": complete_providers,
    "ignore": complete_providers,
}


def _preference_option(pref: Preference) -> tuple[Any, Any]:
    """The Typer annotation and default of a preference's flag, derived from its declaration."""
    assert pref.flag is not None  # only preferences with a flag get here
    names = (pref.flag,) if pref.short is None else (pref.flag, pref.short)
    match pref.kind:
        case ValueKind.NAMES:
            option = typer.Option(
                *names,
                help=pref.help,
                rich_help_panel=ROUTING,
                metavar=pref.metavar,
                autocompletion=_COMPLETES.get(pref.name),
            )
            return Annotated[list[str] | None, option], None
        case ValueKind.SWITCH:
            return Annotated[bool, typer.Option(*names, help=pref.help, rich_help_panel=ROUTING)], False
        case _:
            option = typer.Option(*names, help=pref.help, rich_help_panel=ROUTING, metavar=pref.metavar)
            return Annotated[str | None, option], None


def _request_option(*names: str, help: str, metavar: str | None = None, panel: str = REQUEST, **kw: Any) -> Any:
    return typer.Option(*names, help=help, metavar=metavar, rich_help_panel=panel, **kw)


_REQUEST_FLAGS: tuple[tuple[str, Any, Any], ...] = (
    (
        "seed",
        Annotated[
            int | None,
            _request_option("--seed", help="Make the load-balancing draw repeatable.", metavar="N", panel=ROUTING),
        ],
        None,
    ),
    (
        "system",
        Annotated[
            str | None,
            _request_option(
                "--system", "-s", help="System prompt: instructions the model follows.", metavar="INSTRUCTIONS"
            ),
        ],
        None,
    ),
    (
        "preset",
        Annotated[
            str | None,
            _request_option(
                "--preset",
                help="Use the profile's [presets.NAME]: its models, routing, system prompt and options (flags win).",
                metavar="NAME",
                panel=ROUTING,
                autocompletion=complete_presets,
            ),
        ],
        None,
    ),
    (
        "session",
        Annotated[
            str | None,
            _request_option(
                "--session",
                help="Keep this conversation on the provider that last served it (10 min after its last success).",
                metavar="ID",
                panel=ROUTING,
            ),
        ],
        None,
    ),
    (
        "option",
        Annotated[
            list[str] | None,
            _request_option(
                "--option", "-o", help="Request option, e.g. temperature=0.2 (repeatable).", metavar="KEY=VALUE"
            ),
        ],
        None,
    ),
    (
        "max_tokens",
        Annotated[
            int | None, _request_option("--max-tokens", help="Maximum completion tokens.", min=1, metavar="TOKENS")
        ],
        None,
    ),
    (
        "tools",
        Annotated[
            str | None,
            _request_option(
                "--tools",
                help="Tools the model may call: an OpenAI-style tools array, a file or inline JSON.",
                metavar="FILE|JSON",
            ),
        ],
        None,
    ),
    (
        "schema",
        Annotated[
            str | None,
            _request_option(
                "--schema", help="Ask for JSON following this JSON Schema (a file or inline JSON).", metavar="FILE|JSON"
            ),
        ],
        None,
    ),
    ("no_stdin", NoStdinOpt, False),
)
ROUTE_FLAGS: tuple[tuple[str, Any, Any], ...] = (
    tuple((p.name, *_preference_option(p)) for p in PREFERENCES if p.flag is not None) + _REQUEST_FLAGS
)


def route_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` the routing and request flags; it receives them as one `RouteInput` in `given` (with
    its own --assume-down), and keeps `no_stdin` to read the prompt with."""

    def wrapper(**kwargs: Any) -> None:
        from orcli.routing.options import parse_schema, parse_tools
        from orcli.routing.preferences import overrides_from_flags
        from orcli.routing.route import RouteInput

        flags = {name: kwargs.pop(name) for name, _, _ in ROUTE_FLAGS}
        tools = None if flags["tools"] is None else json_argument("--tools", flags["tools"], parse_tools)
        schema = None if flags["schema"] is None else json_argument("--schema", flags["schema"], parse_schema)
        kwargs["no_stdin"] = flags["no_stdin"]
        kwargs["given"] = RouteInput(
            overrides=overrides_from_flags(flags),
            seed=flags["seed"],
            system=flags["system"],
            options=tuple(flags["option"] or ()),
            max_tokens=flags["max_tokens"],
            assume_down=tuple(kwargs.pop("assume_down", None) or ()),
            tools=tools,
            schema=schema,
            preset=flags["preset"],
            session=session_id(flags["session"]),
        )
        command(**kwargs)

    keyword = inspect.Parameter.KEYWORD_ONLY
    shared = [inspect.Parameter(name, keyword, default=default, annotation=ann) for name, ann, default in ROUTE_FLAGS]
    return _with_signature(wrapper, command, drop=("given", "no_stdin"), extra=shared)


def session_id(raw: str | None) -> str | None:
    """--session ID: a non-empty label of at most 256 characters (as OpenRouter's session_id)."""
    if raw is None:
        return None
    from orcli.routing.sticky import SessionIdError, check_session_id

    try:
        return check_session_id(raw)
    except SessionIdError as exc:
        from orcli.errors import UsageError

        raise UsageError(f"--session: {exc}") from None


# -- reading what a command works on -----------------------------------------------------------------
def json_argument(flag: str, text: str, check: Callable[[object], Any]) -> Any:
    """A FILE|JSON flag (--tools, --schema): inline JSON when it starts like JSON, else a file holding JSON;
    `check` validates the shape. Anything wrong is one usage error (exit 2)."""
    import json
    from pathlib import Path

    from orcli.errors import UsageError

    source = "the inline JSON"
    if text.lstrip()[:1] not in ("[", "{"):
        path = Path(text).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(
                f"{flag}: no file {str(path)!r}, and the value is not inline JSON ([...] or {{...}})."
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{flag}: cannot read {str(path)!r}: {getattr(exc, 'strerror', None) or exc}.") from None
        source = str(path)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{flag}: {source} is not valid JSON ({exc}).") from None
    try:
        return check(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}.") from None


def read_prompt_input(argument: str | None, no_stdin: bool) -> str | None:
    """The prompt from the argument and/or standard input (docs/commands.md#common-options); the only place that reads stdin."""
    from orcli.routing.prompt import read_prompt

    stdin = sys.stdin
    buffer = getattr(stdin, "buffer", None) if stdin is not None else None
    try:
        is_tty = stdin is None or stdin.isatty()
    except (AttributeError, ValueError):
        is_tty = True
    return read_prompt(argument, buffer, is_tty, no_stdin)


def environment() -> Mapping[str, str]:
    """The environment the command runs in: keys, state dir, profile selection."""
    return os.environ


def load_profile_for(spec: str | None, env: Mapping[str, str], out: Output) -> Any:
    """The command's profile; says once on stderr (unless -q) when the bundled example stands in for a
    missing `default`, where it looked, and what to do (docs/profiles.md#managing-profiles)."""
    from orcli.profile.resolve import load_profile

    return load_profile(spec, env, notice=lambda text: out.note(f"note: {text}"))
