"""The Typer app: registers the commands of `orcli.commands` and runs them. No routing or formatting here."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from orcli import __version__
from orcli.commands.ask import ask
from orcli.commands.common import Terminated, common_flags, common_options_before_the_command
from orcli.commands.explain import explain_route
from orcli.commands.health import health_main, health_reset
from orcli.commands.profiles import profiles_check, profiles_init, profiles_list, profiles_show
from orcli.commands.profiles_import import profiles_import
from orcli.commands.providers import providers
from orcli.commands.serve import serve
from orcli.commands.usage import usage
from orcli.errors import EXIT_INTERRUPTED, error_document
from orcli.ui.help import Command, Group

SUMMARY = "Route chat completions over your own provider accounts, OpenRouter-style, with every decision shown."

app = typer.Typer(
    name="orcli",
    help=SUMMARY
    + "\n\nThe common options (--profile, --json, -q, --debug, --no-color) may also come before the command.",
    # Pretty exceptions print local variables, which can hold API keys (docs/security.md).
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,  # plain help (orcli.ui.help): fast, and the same on a terminal and in a pipe
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""
        orcli explain-route -p example       # why each provider is (not) tried, no network
        orcli ask "Name three uses of a sieve"
        orcli --no-color -p work providers   # common options also before the command
    """,
)
health_app = typer.Typer(
    help="Show, probe or reset endpoint health.",
    rich_markup_mode=None,
    cls=Group,
    epilog="""
        orcli health
        orcli health --probe -m meta-llama/llama-3.3-70b-instruct
        orcli health reset --provider groq
    """,
)
profiles_app = typer.Typer(
    help="See, start, refresh (from OpenRouter's or models.dev's catalogue) and lint profiles.",
    rich_markup_mode=None,
    cls=Group,
    no_args_is_help=True,
    epilog="""
        orcli profiles list
        orcli profiles import openrouter -m meta-llama/llama-3.3-70b-instruct --into work
        orcli profiles check work
    """,
)

# Options every command takes, also accepted before the command name (`orcli -p work ask ...`): `run` moves
# them after it, so each command parses them itself (docs/commands.md). Spelling -> takes a value.
COMMON_OPTIONS = common_flags()


def _version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"orcli {__version__}\n")
        raise typer.Exit(0)


@app.callback()
@common_options_before_the_command
def main(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version_callback, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Route chat completions over your own provider accounts, OpenRouter-style, with every decision shown."""


EXAMPLES = {
    "explain-route": """
        orcli explain-route -p example
        orcli explain-route --sort price --data-collection deny -m qwen/qwen-2.5-72b-instruct
        orcli explain-route --assume-down groq --json | jq -r '.attempts[].provider'
    """,
    "ask": """
        orcli ask "Summarise RFC 9110 in three lines"
        git diff | orcli ask -m deepseek/deepseek-chat-v3 "Review this change"
        orcli ask -v --sort latency --only groq,cerebras "hi"
    """,
    "providers": """
        orcli providers
        orcli providers -p example --wide
        orcli providers --json | jq -r '.providers[] | select(.key_set | not) | .api_key_env'
    """,
    "serve": """
        orcli serve --profile work
        OPENAI_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=unused my-openai-program
        ANTHROPIC_BASE_URL=http://127.0.0.1:8765 ANTHROPIC_API_KEY=unused my-anthropic-program
        orcli serve --allow-origin http://localhost:3000
        ORCLI_TOKEN=$(openssl rand -hex 16) orcli serve --host 0.0.0.0 --auth-env ORCLI_TOKEN
    """,
    "usage": """
        orcli usage                          # the last 7 days, by day, with a chart of spend on a terminal
        orcli usage --since 30d --by provider
        orcli usage --since 2026-12-01 --by model --csv > december.csv
    """,
    "reset": """
        orcli health reset
        orcli health reset --provider deepinfra
    """,
    "profiles list": """
        orcli profiles list
        orcli profiles list --json | jq -r '.profiles[].name'
    """,
    "profiles show": """
        orcli profiles show
        orcli profiles show work
        orcli profiles show ./team/ci.toml --json
    """,
    "profiles init": """
        orcli profiles init
        orcli profiles init work --force
    """,
    "profiles import": """
        orcli profiles import openrouter -m meta-llama/llama-3.3-70b-instruct --into work --dry-run
        orcli profiles import openrouter -m qwen/qwen-2.5-72b-instruct -m deepseek/deepseek-chat-v3 --into work
        orcli profiles import openrouter --from saved-endpoints.json --into ./team/ci.toml
    """,
    "profiles check": """
        orcli profiles check
        orcli profiles check work --json
    """,
}
app.command("explain-route", cls=Command, epilog=EXAMPLES["explain-route"])(explain_route)
app.command("ask", cls=Command, epilog=EXAMPLES["ask"])(ask)
app.command("providers", cls=Command, epilog=EXAMPLES["providers"])(providers)
app.command("serve", cls=Command, epilog=EXAMPLES["serve"])(serve)
app.command("usage", cls=Command, epilog=EXAMPLES["usage"])(usage)
app.add_typer(health_app, name="health")
health_app.callback(invoke_without_command=True)(health_main)
health_app.command("reset", cls=Command, epilog=EXAMPLES["reset"])(health_reset)
app.add_typer(profiles_app, name="profiles")
profiles_app.command("list", cls=Command, epilog=EXAMPLES["profiles list"])(profiles_list)
profiles_app.command("show", cls=Command, epilog=EXAMPLES["profiles show"])(profiles_show)
profiles_app.command("init", cls=Command, epilog=EXAMPLES["profiles init"])(profiles_init)
profiles_app.command("import", cls=Command, epilog=EXAMPLES["profiles import"])(profiles_import)
profiles_app.command("check", cls=Command, epilog=EXAMPLES["profiles check"])(profiles_check)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def run() -> None:
    """Console-script entry: let Typer parse; every command's own errors are handled by `handled`."""
    import signal

    signal.signal(signal.SIGTERM, _raise_terminated)
    argv = sys.argv[1:]
    if not argv and "_ORCLI_COMPLETE" not in os.environ:  # bare `orcli`: the help, as `orcli --help` prints it
        argv = ["--help"]
    argv = hoist_common_options(argv)
    try:
        code = _app_for(argv[:1])(args=argv, prog_name="orcli", standalone_mode=False)
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


def hoist_common_options(argv: list[str]) -> list[str]:
    """`orcli -p work --no-color ask x` -> `orcli ask -p work --no-color x` (and after `health reset`,
    `profiles show`: a group's command).

    Only the common options are moved, and only when a command name follows them; anything else (an
    unknown option, --help, --version, no command) leaves the line as it was, for Click to answer.
    """
    moved: list[str] = []
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name = argv[i].split("=", 1)[0]
        if name not in COMMON_OPTIONS:
            return argv
        takes_value = COMMON_OPTIONS[name] and "=" not in argv[i]
        moved.extend(argv[i : i + 1 + takes_value])
        i += 1 + takes_value
    if not moved or i >= len(argv):
        return argv
    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    if argv[i] not in names:
        return argv
    end = i + 1
    group = next((g.typer_instance for g in app.registered_groups if g.name == argv[i]), None)
    if group is not None and end < len(argv) and argv[end] in {c.name for c in group.registered_commands}:
        end += 1  # after a group's command: `health reset`, `profiles init`
    return [*argv[i:end], *moved, *argv[end:]]


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
