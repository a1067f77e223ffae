"""The house's seams (ARCHITECTURE.md): layers without a circle, one declaration per preference, one output
object, errors that carry their document, route preparation without I/O."""

from __future__ import annotations

import ast
import inspect
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import orcli
from orcli.errors import (
    EXIT_FAILED,
    EXIT_NO_ROUTE,
    AttemptsFailedError,
    NoRouteError,
    RequestRejectedError,
    StreamBrokenError,
    UsageError,
)
from orcli.profile.parse import parse_profile
from orcli.routing import preferences
from orcli.types import Preferences
from orcli.ui.output import Output

PACKAGE = Path(orcli.__file__).parent

# Lower layers never import higher ones (ARCHITECTURE.md). The core is named by paths: whole folders where a
# folder is pure (routing/, wire/), single files where a folder mixes pure rules with I/O. Anything else is an
# I/O edge, except the commands and the app.
CORE_PATHS = (
    "__init__.py",
    "types.py",
    "errors.py",
    "redact.py",
    "neutralise.py",
    "routing/",
    "wire/",
    "execution/classify.py",
    "gateway/openai_api.py",
    "gateway/anthropic_api.py",
    "gateway/anthropic_stream.py",
    "gateway/body.py",
    "gateway/guard.py",
    "gateway/surfaces.py",
    "profile/check.py",
    "profile/provider_table.py",
    "profile/model_ids.py",
    "profile/parse.py",
    "profile/fields.py",
    "profile/readers.py",
    "profile/values.py",
    "profile/lines.py",
    "store_url.py",
    "ui/words.py",
)
LAYERS = {"core": 0, "edge": 1, "commands": 2, "app": 3}


def _relative_path(module: str) -> str:
    """orcli.routing.planner -> routing/planner.py; a package -> its folder's __init__.py."""
    parts = module.split(".")[1:]
    if not parts:
        return "__init__.py"
    rel = "/".join(parts)
    return f"{rel}/__init__.py" if (PACKAGE / rel).is_dir() else f"{rel}.py"


def layer_of(module: str) -> int:
    rel = _relative_path(module)
    if any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in CORE_PATHS):
        return LAYERS["core"]
    if module.startswith("orcli.commands"):
        return LAYERS["commands"]
    if module in ("orcli.cli", "orcli.__main__"):
        return LAYERS["app"]
    return LAYERS["edge"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every orcli module `path` imports, at the top or inside a function (lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("orcli"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("orcli") and node.level == 0:
            found.add(node.module)
            for alias in node.names:  # `from orcli.wire import openai` imports the module orcli.wire.openai
                if (PACKAGE.parent / node.module.replace(".", "/") / f"{alias.name}.py").exists():
                    found.add(f"{node.module}.{alias.name}")
    return found


GRAPH = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def test_no_module_imports_a_module_of_a_higher_layer() -> None:
    upward = [
        f"{mod} ({layer_of(mod)}) imports {dep} ({layer_of(dep)})"
        for mod, deps in GRAPH.items()
        for dep in deps
        if layer_of(dep) > layer_of(mod)
    ]
    assert not upward, "\n".join(upward)


def test_the_import_graph_has_no_circle() -> None:
    # A package's __init__ is imported by its submodules' import machinery, not by them: leave those edges out.
    edges = {m: {d for d in deps if d in GRAPH and not m.startswith(d + ".")} for m, deps in GRAPH.items()}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        if node in done:
            return
        assert node not in visiting, "circle: " + " -> ".join([*visiting[visiting.index(node) :], node])
        visiting.append(node)
        for dep in sorted(edges[node]):
            visit(dep)
        visiting.pop()
        done.add(node)

    for node in sorted(edges):
        visit(node)


# -- one declaration per preference --------------------------------------------------------------------
def test_every_declared_preference_is_a_field_of_preferences_and_back() -> None:
    declared = [p.name for p in preferences.PREFERENCES]
    assert declared == [f for f in Preferences._fields if f != "sources"]


VALID_VALUE = {
    preferences.ValueKind.NAMES: '["a"]',
    preferences.ValueKind.SORT: '"latency"',
    preferences.ValueKind.PRICES: "{ prompt = 1.5 }",
    preferences.ValueKind.NUMBER: "2.5",
}
INVALID_VALUE = {
    preferences.ValueKind.NAMES: "3",
    preferences.ValueKind.SWITCH: '"yes"',
    preferences.ValueKind.CHOICE: '"sideways"',
    preferences.ValueKind.SORT: '"fastest"',
    preferences.ValueKind.PRICES: "{ prompt = -1 }",
    preferences.ValueKind.NUMBER: '"soon"',
}
MINIMAL = """
[providers.p]
base_url = "https://p.example/v1"
[[endpoint]]
model = "m"
provider = "p"
"""


@pytest.mark.parametrize("pref", preferences.PREFERENCES, ids=lambda p: p.name)
def test_every_preference_is_a_routing_key_validated_by_its_kind(pref: preferences.Preference) -> None:
    if pref.kind is preferences.ValueKind.CHOICE:
        good = f'"{pref.choices[-1]}"'
    elif pref.kind is preferences.ValueKind.SWITCH:
        good = str(not pref.default).lower()  # the value that is not the default
    else:
        good = VALID_VALUE[pref.kind]
    sort = 'sort = "price"\n' if pref.name == "partition" else ""  # partition none needs a sort key
    loaded = parse_profile(f"[routing]\n{sort}{pref.name} = {good}\n{MINIMAL}", "p.toml")
    assert pref.name in loaded.routing
    merged = preferences.merge(loaded.routing, {})
    assert merged.sources[pref.name] == preferences.PROFILE
    assert not preferences.is_default(pref, merged)
    from orcli.errors import ProfileError

    with pytest.raises(ProfileError, match=f"routing.{pref.name}"):
        parse_profile(f"[routing]\n{pref.name} = {INVALID_VALUE[pref.kind]}\n{MINIMAL}", "p.toml")


FLAG_ARGS = {
    preferences.ValueKind.NAMES: ["x,y"],
    preferences.ValueKind.SWITCH: [],
    preferences.ValueKind.SORT: ["throughput"],
    preferences.ValueKind.PRICES: ["prompt=0.5"],
    preferences.ValueKind.NUMBER: ["1.5"],
}


def _explain_json(tmp_path: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_") and not k.endswith("_API_KEY")}
    env.update(ORCLI_STATE_DIR=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.run(
        [sys.executable, "-m", "orcli", "explain-route", "--profile", "example", "--no-stdin", "--json", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode in (0, EXIT_NO_ROUTE), proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("pref", [p for p in preferences.PREFERENCES if p.flag], ids=lambda p: p.flag)
def test_every_flagged_preference_is_a_flag_of_explain_route_and_overrides_the_profile(
    pref: preferences.Preference, tmp_path: Path
) -> None:
    value = [pref.choices[-1]] if pref.kind is preferences.ValueKind.CHOICE else FLAG_ARGS[pref.kind]
    names = ["x", "y"]
    if pref.name == "models":  # models must exist in the profile
        names = ["meta-llama/llama-3.3-70b-instruct", "qwen/qwen-2.5-72b-instruct"]
        value = [",".join(names)]
    extra = ["--sort", "price"] if pref.name == "partition" else []  # partition none needs a sort key
    doc = _explain_json(tmp_path, pref.flag, *value, *extra)
    shown = doc["preferences"][pref.name]
    expected = {
        preferences.ValueKind.NAMES: names,
        preferences.ValueKind.SWITCH: pref.flag_value,
        preferences.ValueKind.PRICES: {"prompt": 0.5},
        preferences.ValueKind.NUMBER: 1.5,
    }.get(pref.kind, value[0] if value else None)
    assert shown == expected


def test_every_flagged_preference_is_listed_in_ask_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "orcli", "ask", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    for pref in preferences.PREFERENCES:
        if pref.flag:
            assert pref.flag in proc.stdout, pref.flag


# -- route preparation is pure; the command reads stdin ------------------------------------------------
def test_build_route_takes_values_and_does_no_io() -> None:
    from orcli.routing import route

    params = list(inspect.signature(route.build_route).parameters)
    # `credentials` and `spend` are values too: the edge's answers to "has this provider credentials?"
    # (orcli/auth) and "what was spent?" (the store, for [budget]).
    assert params == ["profile", "given", "prompt", "env", "health", "credentials", "spend"]
    source = inspect.getsource(route)
    assert "stdin" not in source and "load_profile" not in source and "open(" not in source


@pytest.mark.parametrize("stdin", ["", "   \n\t\n"])
def test_an_empty_prompt_is_refused_before_the_store_is_opened(tmp_path: Path, stdin: str) -> None:
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCLI_")}
    env.update(ORCLI_STATE_DIR=str(state), XDG_CONFIG_HOME=str(tmp_path / "config"), GROQ_API_KEY="k" * 20)
    proc = subprocess.run(
        [sys.executable, "-m", "orcli", "ask", "--profile", "example", "-m", "meta-llama/llama-3.3-70b-instruct"],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "no prompt" in proc.stderr
    assert not state.exists(), "the health store was opened for a request that was never going to be sent"


# -- one output object ---------------------------------------------------------------------------------
class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("env", "no_color", "tty", "styled", "colour", "progress"),
    [
        ({}, False, True, True, True, True),
        ({}, False, False, False, False, False),
        ({"NO_COLOR": "1"}, False, True, True, False, True),
        ({}, True, True, True, False, True),
        ({"TERM": "dumb"}, False, True, True, False, False),
        ({"FORCE_COLOR": "1"}, False, False, True, True, False),
    ],
)
def test_output_decides_terminal_colour_and_progress_once(
    env: dict[str, str], no_color: bool, tty: bool, styled: bool, colour: bool, progress: bool
) -> None:
    out = Output(no_color=no_color, env=env, stdout=_Stream(tty), stderr=_Stream(tty))
    assert out.styled(stderr=False) is styled
    assert out.colour(stderr=False) is colour
    assert out.live_progress is progress


def test_output_tables_in_a_pipe_are_plain_ascii_at_the_columns_width() -> None:
    from orcli.ui.tables import Column, TableData

    stdout = _Stream(False)
    out = Output(env={"COLUMNS": "90"}, stdout=stdout, stderr=_Stream(False))
    out.table(TableData("T", (Column("a"), Column("b")), [("x", "y")]))
    lines = stdout.getvalue().splitlines()
    assert "\x1b" not in stdout.getvalue() and lines[-1].split() == ["x", "y"]
    assert out.pipe_width == 90


def test_quiet_output_writes_no_notes_but_errors() -> None:
    stderr = _Stream(False)
    out = Output(quiet=True, stdout=_Stream(False), stderr=stderr)
    out.note("n")
    out.warn("w")
    out.error(UsageError("bad flag"))
    assert stderr.getvalue() == "orcli: error: bad flag\n"


# -- errors carry their document -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (UsageError("u"), "usage", 2),
        (NoRouteError("n", extra={"rejected": [1]}), "no_route", EXIT_NO_ROUTE),
        (AttemptsFailedError("a", extra={"attempts": []}), "all_attempts_failed", EXIT_FAILED),
        (RequestRejectedError("r"), "request_rejected", EXIT_FAILED),
        (StreamBrokenError("s"), "stream_broken", EXIT_FAILED),
    ],
)
def test_each_error_builds_its_json_document_in_one_place(error: Exception, kind: str, code: int) -> None:
    doc = error.document()  # type: ignore[attr-defined]
    assert doc["error"] == {"kind": kind, "message": str(error), "exit_code": code}
    assert error.exit_code == code  # type: ignore[attr-defined]
    extra = dict(error.extra)  # type: ignore[attr-defined]
    assert {k: doc[k] for k in extra} == extra


def test_json_output_of_a_failed_command_is_its_error_document() -> None:
    stdout = _Stream(False)
    out = Output(as_json=True, stdout=stdout, stderr=_Stream(False))
    out.error(NoRouteError("no route", extra={"attempts": [], "rejected": []}))
    assert json.loads(stdout.getvalue()) == {
        "attempts": [],
        "rejected": [],
        "error": {"kind": "no_route", "message": "no route", "exit_code": EXIT_NO_ROUTE},
    }


# -- the gateway's `provider` object follows the declaration's marks ----------------------------------
GATEWAY_VALUE = {
    preferences.ValueKind.NAMES: ["a"],
    preferences.ValueKind.SWITCH: True,
    preferences.ValueKind.CHOICE: "deny",
    preferences.ValueKind.SORT: "latency",
    preferences.ValueKind.PRICES: {"prompt": 1},
    preferences.ValueKind.NUMBER: 2.0,
}


@pytest.mark.parametrize("pref", preferences.PREFERENCES, ids=lambda p: p.name)
def test_a_gateway_request_may_override_exactly_the_preferences_marked_per_request(
    pref: preferences.Preference,
) -> None:
    from orcli.gateway.openai_api import BadRequest, provider_overrides

    value = pref.choices[-1] if pref.kind is preferences.ValueKind.CHOICE else GATEWAY_VALUE[pref.kind]
    if pref.per_request:
        assert pref.name in provider_overrides({pref.name: value})
    else:
        with pytest.raises(BadRequest, match=f"provider.{pref.name} is not a routing preference"):
            provider_overrides({pref.name: value})


# -- the common options, declared once -----------------------------------------------------------------
def _commands() -> dict[str, object]:
    """Every command of the app as click sees it, by its full name (`profiles import`)."""
    import typer

    from orcli.cli import app

    found: dict[str, object] = {}

    def walk(command: object, prefix: str) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            found[prefix] = command
            return
        for name, sub in subcommands.items():
            walk(sub, f"{prefix} {name}".strip())

    walk(typer.main.get_command(app), "")
    return found


# `profiles init` and `import` write a profile: their -p/--profile names it, and ORCLI_PROFILE does not.
WRITES_A_PROFILE = {"profiles init", "profiles import"}


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_takes_the_common_options(name: str) -> None:
    command = _commands()[name]
    options = {opt: param for param in command.params for opt in param.opts}  # type: ignore[attr-defined]
    for flag in ("--json", "--quiet", "-q", "--debug", "--no-color", "--profile", "-p"):
        assert flag in options, f"{name} lacks {flag}"
    assert (options["--profile"].envvar == "ORCLI_PROFILE") is (name not in WRITES_A_PROFILE)


def test_the_common_options_are_declared_in_commands_common_alone() -> None:
    spelled = [
        path.name
        for path in [*(PACKAGE / "commands").glob("*.py"), PACKAGE / "cli.py"]
        if path.name != "common.py"
        and re.search(r'typer\.Option\(\s*"--(json|quiet|debug|no-color)"', path.read_text())
    ]
    assert not spelled, f"re-declared in {spelled}"


# -- small functions, small modules --------------------------------------------------------------------
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500


def test_no_function_is_longer_than_80_lines_and_no_module_than_500() -> None:
    """A function or module past these has taken a second job: split it where the jobs part."""
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(PACKAGE.parent)
        if (lines := len(text.splitlines())) > MAX_MODULE_LINES:
            too_long.append(f"{where}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{where}:{node.lineno}: {node.name}() is {length} lines")
    assert not too_long, "\n".join(too_long)


# -- one execution path ------------------------------------------------------------------------------
def test_ask_serve_and_probes_run_routes_through_the_one_execution_path() -> None:
    """Only orcli/execution/run.py builds an Executor: a fix to how a route runs lands once, for every caller."""
    builders = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"(?<!Pool)Executor\(", path.read_text()) and path.name != "executor.py"
    )
    assert builders == ["execution/run.py"]
    for command in ("commands/ask.py", "commands/health.py", "gateway/relay.py"):
        assert "orcli.execution.run import" in (PACKAGE / command).read_text(), command


# -- the formatter decides the layout ------------------------------------------------------------------
def _ruff() -> str | None:
    """The ruff binary of this environment (the `test` extra installs it), or None."""
    try:
        from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]
    except ImportError:
        import shutil

        return shutil.which("ruff")
    return str(find_ruff_bin())


def test_ruff_format_leaves_the_tree_unchanged_and_nothing_opts_out() -> None:
    """Explanations live in docstrings and comments above the code, never in `# fmt: skip` islands."""
    root = PACKAGE.parent
    skipped = [
        f"{path.relative_to(root)}:{n}"
        for folder in ("orcli", "tests", "benchmarks")
        for path in sorted((root / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.rstrip().endswith("# fmt" + ": skip")
    ]
    assert not skipped, skipped
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    proc = subprocess.run(
        [ruff, "format", "--check", "orcli", "tests", "benchmarks"], cwd=root, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_profiles_do_not_reach_into_the_store_nor_the_gateway_into_the_terminal() -> None:
    """A fact both sides need has a home both may use (a store URL: orcli/store_url.py; a rejection's JSON:
    types.Rejection.as_json), so profile validation never imports the store and the gateway never the terminal."""
    crossing = [
        f"{mod} imports {dep}"
        for mod, deps in GRAPH.items()
        for dep in deps
        if (mod.startswith("orcli.profile.") and (dep == "orcli.store" or dep.startswith("orcli.store.")))
        or (mod.startswith("orcli.gateway.") and (dep == "orcli.ui" or dep.startswith("orcli.ui.")))
    ]
    assert not crossing, crossing
