"""The Typer app: registers the commands of `orcli.commands` and runs them. No routing or formatting here."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from orcli import __version__
from orcli.commands.ask import ask
from orcli.commands.common import Terminated
from orcli.commands.explain import explain_route
from orcli.commands.health import health_main, health_reset
from orcli.commands.providers import providers
from orcli.errors import EXIT_INTERRUPTED, error_document

SUMMARY = "Route chat completions over your own provider accounts, OpenRouter-style, with every decision shown."

app = typer.Typer(
    name="orcli",
    help=SUMMARY,
    # Pretty exceptions print local variables, which can hold API keys (SPEC §9).
    pretty_exceptions_enable=False,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
health_app = typer.Typer(help="Show, probe or reset endpoint health.", rich_markup_mode=None)


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


app.command("explain-route")(explain_route)
app.command("ask")(ask)
app.command("providers")(providers)
app.add_typer(health_app, name="health")
health_app.callback(invoke_without_command=True)(health_main)
health_app.command("reset")(health_reset)


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
            doc = error_document("usage", exc.format_message(), exc.exit_code)
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
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
