"""What every command shares: the common options, the error wrapper, the routing and request flags
(derived from the preference declaration), and reading the prompt and the profile."""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

from orcli.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, OrcliError, error_document
from orcli.output import Output
from orcli.preferences import PREFERENCES, Preference, ValueKind

# -- options shared by every command (SPEC §5) -------------------------------------------------------
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", "-p", envvar="ORCLI_PROFILE", help="Profile name or path.", show_envvar=True)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No stderr output but errors.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks (never local variables).")]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="No colour (also NO_COLOR, TERM=dumb).")]
PromptArg = Annotated[str | None, typer.Argument(help="The prompt; `-` reads stdin alone.", show_default=False)]
NoStdinOpt = Annotated[bool, typer.Option("--no-stdin", help="Never read standard input.")]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is so that it unwinds like Ctrl-C: output kept, attempt recorded."""


def handled(command: Callable[..., None]) -> Callable[..., None]:
    """Turn OrcliError, Ctrl-C, SIGTERM and broken pipes into a message and an exit code: the one place that
    does, for every command; the command receives the `Output` built from its common options as `out`."""

    def wrapper(*args: Any, **kwargs: Any) -> None:
        out = Output(
            as_json=kwargs.get("as_json", False),
            quiet=kwargs.get("quiet", False),
            no_color=kwargs.get("no_color", False),
            debug=kwargs.get("debug", False),
        )
        try:
            command(*args, out=out, **kwargs)
        except OrcliError as exc:
            if out.debug:
                _print_traceback()
            out.error(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            terminated = isinstance(exc, Terminated)
            code = EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
            word = "terminated" if terminated else "interrupted"
            if out.as_json:  # one JSON document on stdout, also now (nothing else was written there)
                with contextlib.suppress(OSError):
                    out.json(error_document(word, f"{word} by a signal", code))
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
            text = redact_env_secrets(f"{type(exc).__name__}: {exc}")
            sys.stderr.write(f"orcli: internal error: {text} (run with --debug for details)\n")
            raise typer.Exit(1) from None

    return _with_signature(wrapper, command, drop=("out",))


def _with_signature(wrapper: Callable[..., None], command: Callable[..., None], drop: tuple[str, ...] = (),
                    extra: list[inspect.Parameter] | None = None) -> Callable[..., None]:  # fmt: skip
    """Show Typer `command`'s own parameters (less `drop`, plus `extra`) on `wrapper`.

    The annotations are evaluated once here, not left as the strings of `from __future__ import annotations`:
    Typer's get_type_hints would evaluate every string again on each run (start-up time, not behaviour).
    """
    signature = inspect.signature(command, eval_str=True)
    parameters = [p for p in signature.parameters.values() if p.name not in drop]
    if extra is not None:
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
    sys.stderr.write(redact_env_secrets(traceback.format_exc()))


def redact_env_secrets(text: str) -> str:
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


# -- routing and request flags (SPEC §5), shared by ask and explain-route -----------------------------
def _preference_option(pref: Preference) -> tuple[Any, Any]:
    """The Typer annotation and default of a preference's flag, derived from its declaration."""
    names = (pref.flag,) if pref.short is None else (pref.flag, pref.short)
    match pref.kind:
        case ValueKind.NAMES:
            return Annotated[list[str] | None, typer.Option(*names, help=pref.help, metavar=pref.metavar)], None
        case ValueKind.SWITCH:
            return Annotated[bool, typer.Option(*names, help=pref.help)], False
        case _:
            return Annotated[str | None, typer.Option(*names, help=pref.help, metavar=pref.metavar)], None


_REQUEST_FLAGS: tuple[tuple[str, Any, Any], ...] = (
    (
        "seed",
        Annotated[int | None, typer.Option("--seed", help="Make the load-balancing draw repeatable.", metavar="N")],
        None,
    ),  # fmt: skip
    ("system", Annotated[str | None, typer.Option("--system", "-s", help="System prompt.", metavar="TEXT")], None),
    (
        "option",
        Annotated[
            list[str] | None,
            typer.Option("--option", "-o", help="Request option KEY=VALUE (repeatable).", metavar="KEY=VALUE"),
        ],
        None,
    ),  # fmt: skip
    (
        "max_tokens",
        Annotated[int | None, typer.Option("--max-tokens", help="Maximum completion tokens.", min=1, metavar="N")],
        None,
    ),  # fmt: skip
    ("no_stdin", NoStdinOpt, False),
)
ROUTE_FLAGS: tuple[tuple[str, Any, Any], ...] = (
    tuple((p.name, *_preference_option(p)) for p in PREFERENCES if p.flag is not None) + _REQUEST_FLAGS
)


def route_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` the routing and request flags; it receives them as one `RouteInput` in `given` (with
    its own --assume-down), and keeps `no_stdin` to read the prompt with."""

    def wrapper(**kwargs: Any) -> None:
        from orcli.preferences import overrides_from_flags
        from orcli.route import RouteInput

        flags = {name: kwargs.pop(name) for name, _, _ in ROUTE_FLAGS}
        kwargs["no_stdin"] = flags["no_stdin"]
        kwargs["given"] = RouteInput(
            overrides=overrides_from_flags(flags),
            seed=flags["seed"],
            system=flags["system"],
            options=tuple(flags["option"] or ()),
            max_tokens=flags["max_tokens"],
            assume_down=tuple(kwargs.pop("assume_down", None) or ()),
        )
        command(**kwargs)

    keyword = inspect.Parameter.KEYWORD_ONLY
    shared = [inspect.Parameter(name, keyword, default=default, annotation=ann) for name, ann, default in ROUTE_FLAGS]
    return _with_signature(wrapper, command, drop=("given", "no_stdin"), extra=shared)


# -- reading what a command works on -----------------------------------------------------------------
def read_prompt_input(argument: str | None, no_stdin: bool) -> str | None:
    """The prompt from the argument and/or standard input (SPEC §5); the only place that reads stdin."""
    from orcli.prompt import read_prompt

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
