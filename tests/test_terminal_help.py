"""Help that reads well, common options before the command, shell completion, and wording (issue 14)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from cli_harness import MODEL, Cli, canary
from tmux_pane import Pane, require_tmux
from upstream import Upstream, server_error

EXAMPLE_KEYS = {
    name: canary()
    for name in (
        "GROQ_API_KEY",
        "CEREBRAS_API_KEY",
        "TOGETHER_API_KEY",
        "FIREWORKS_API_KEY",
        "DEEPINFRA_API_KEY",
        "MISTRAL_API_KEY",
        "OPENAI_API_KEY",
        "OPENROUTER_API_KEY",
    )
}
SUMMARIES = {
    "explain-route": "Show the attempt plan and every rejected endpoint, with reasons.",
    "ask": "Send a prompt along the plan: stream the answer, fail over, fall back.",
    "providers": "List the profile's providers and endpoints: prices, context, policy, key status, health.",
    "health": "Show, probe or reset endpoint health.",
}


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    runner = Cli(None, tmp_path)
    runner.set_keys(EXAMPLE_KEYS)
    runner.env["COLUMNS"] = "80"
    return runner


def _sections(text: str) -> dict[str, list[str]]:
    """Help text by section heading (`Examples:` -> its lines)."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if re.match(r"^[A-Z][\w ]*:$", line):
            current = line[:-1]
            sections[current] = []
        elif current is not None and line.strip():
            sections[current].append(line.strip())
    return sections


def _examples(text: str) -> list[str]:
    return _sections(text)["Examples"]


def test_top_help_shows_whole_summaries_and_examples(cli: Cli) -> None:
    run = cli("--help")
    assert run.code == 0, run
    assert not any("..." in line for line in run.out.splitlines()[1:])  # (the usage line's `[ARGS]...` aside)
    flat = " ".join(run.out.split())
    for summary in SUMMARIES.values():
        assert summary in flat  # whole, even where the 80-column help wraps it
    assert list(_sections(run.out))[-1] == "Examples"
    assert 2 <= len(_examples(run.out)) <= 3
    assert "may also come before the command" in flat


def test_bare_orcli_prints_the_help(cli: Cli) -> None:
    run = cli()
    assert run.code == 0 and "Usage: orcli" in run.out and "Commands:" in run.out, run


PROFILES_COMMANDS = [["profiles", name] for name in ("list", "show", "init", "import", "check")]


@pytest.mark.parametrize(
    "command", [["ask"], ["explain-route"], ["providers"], ["health"], ["health", "reset"], *PROFILES_COMMANDS]
)
def test_each_command_help_ends_with_two_or_three_real_examples(cli: Cli, command: list[str]) -> None:
    run = cli(*command, "--help")
    assert run.code == 0, run
    sections = _sections(run.out)
    assert list(sections)[-1] == "Examples", run.out
    examples = sections["Examples"]
    assert 2 <= len(examples) <= 3 and all(e.startswith(("orcli ", "git diff | orcli ")) for e in examples)
    assert all(" ".join(command) in e for e in examples)


def test_options_have_placeholders_and_groups(cli: Cli) -> None:
    text = cli("ask", "--help").out
    sections = _sections(text)
    assert {"Options", "Routing options", "Request options", "Output options"} <= set(sections)
    routing = " ".join(sections["Routing options"])
    for shown in ("--model MODEL", "--order PROVIDERS", "--only PROVIDERS", "--max-price USD", "--sort price|latency"):
        assert shown in routing, shown
    request = " ".join(sections["Request options"])
    assert "--timeout SECONDS" in request and "--max-tokens TOKENS" in request and "--option KEY=VALUE" in request
    assert "--json" in " ".join(sections["Output options"])
    assert "--wide" in cli("explain-route", "--help").out and "--wide" in cli("providers", "--help").out
    assert "--wide" in cli("health", "--help").out


def test_ask_help_names_what_each_value_means_and_groups_every_option(cli: Cli) -> None:
    text = cli("ask", "--help").out
    sections = _sections(text)
    assert "-s, --system INSTRUCTIONS" in " ".join(sections["Request options"]) and "TEXT" not in text
    assert "--reasoning" in " ".join(sections["Output options"])
    assert not any(line.startswith("--reasoning") for line in sections["Options"]), "outside the option groups"


def test_skip_unhealthy_help_and_the_docs_say_it_rejects_cooldown_and_recent_outages(cli: Cli) -> None:
    help_text = " ".join(cli("ask", "--help").out.split())
    assert "--skip-unhealthy Reject endpoints in cooldown or with a recent outage." in help_text
    docs = Path(__file__).resolve().parent.parent / "docs"
    codes = " ".join(docs.joinpath("routing.md").read_text().split())
    row = re.search(r"\| `unhealthy` \| ([^|]+) \|", codes)
    assert row and "cooldown" in row.group(1) and "recent outage" in row.group(1), row
    flags = " ".join(docs.joinpath("commands.md").read_text().split())
    flag = re.search(r"\| `--skip-unhealthy` \| ([^|]+) \|", flags)
    assert flag and "cooldown" in flag.group(1) and "recent outage" in flag.group(1), flag


def test_a_required_argument_reads_as_a_placeholder_not_a_set(cli: Cli) -> None:
    text = cli("profiles", "import", "--help").out
    assert text.startswith("Usage: orcli profiles import [OPTIONS] SOURCE\n") and "{" not in text, text
    assert "Usage: orcli profiles show [OPTIONS] [NAME]" in cli("profiles", "show", "--help").out
    missing = cli("profiles", "import")
    assert missing.code == 2 and "Missing argument 'SOURCE'" in missing.err, missing


@pytest.mark.parametrize("command", ["explain-route", "providers"])
def test_the_examples_of_offline_commands_run(cli: Cli, command: str) -> None:
    for example in _examples(cli(command, "--help").out):
        argv = shlex.split(example.split("|")[0].split("#")[0])
        assert argv[0] == "orcli"
        run = cli(*argv[1:], "--no-stdin" if command == "explain-route" else "--quiet")
        assert run.code == 0, (example, run)


def test_common_options_work_before_the_command(cli: Cli) -> None:
    after = cli("explain-route", "--no-stdin", "--no-color", "-p", "example", "--seed", "3", "--json")
    before = cli("--no-color", "--profile", "example", "explain-route", "--no-stdin", "--seed", "3", "--json")
    assert before.code == after.code == 0, before
    assert before.json()["attempts"] == after.json()["attempts"]
    equals = cli("--profile=example", "-q", "providers", "--json")
    assert equals.code == 0 and equals.json()["profile"].endswith("example.toml")
    reset = cli("-p", "example", "--json", "health", "reset")
    assert reset.code == 0 and reset.json()["reset"] == "all", reset
    wrong = cli("--json", "-p", "nosuch", "providers")
    assert wrong.code == 2 and wrong.json()["error"]["kind"] == "profile", wrong
    closest_wins = cli("-p", "nosuch", "providers", "-p", "example", "--json")
    assert closest_wins.code == 0, closest_wins
    unknown = cli("--bogus", "providers")
    assert unknown.code == 2 and "--bogus" in unknown.err and "Traceback" not in unknown.err


# -- completion ---------------------------------------------------------------------------------------
def _complete(cli: Cli, line: str) -> list[str]:
    words = line.split(" ")
    run = cli(env={"_ORCLI_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)})
    assert run.code == 0, run
    return run.out.split()


def test_completion_of_commands_profiles_models_and_providers(cli: Cli, tmp_path: Path) -> None:
    assert "explain-route" in _complete(cli, "orcli ex")
    mine = Path(cli.env["XDG_CONFIG_HOME"]) / "orcli" / "profiles"
    mine.mkdir(parents=True)
    mine.joinpath("work.toml").write_text(Path("profiles/local.toml").read_text())
    assert {"example", "local", "work"} <= set(_complete(cli, "orcli ask -p "))
    assert _complete(cli, "orcli ask --profile wo") == ["work"]
    models = _complete(cli, "orcli ask -p example -m ")
    assert "meta-llama/llama-3.3-70b-instruct" in models and "qwen/qwen-2.5-72b-instruct" in models
    assert _complete(cli, "orcli -p example explain-route -m qwen") == ["qwen/qwen-2.5-72b-instruct"]
    assert "deepinfra/turbo" in _complete(cli, "orcli explain-route -p example --only ")
    assert _complete(cli, "orcli explain-route -p example --order groq,cere") == ["groq,cerebras"]
    assert "groq" in _complete(cli, "orcli health -p example --provider ")
    assert _complete(cli, "orcli health reset -p example --provider deepinfra/") == ["deepinfra/turbo"]
    # the active profile's names, not another's: the local profile serves other models
    local = set(_complete(cli, "orcli ask -p local -m "))
    assert local and local != set(models)


def test_completion_script_can_be_shown_and_installed(cli: Cli) -> None:
    env = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    shown = cli("--show-completion", "bash", env=env)
    assert shown.code == 0 and "_ORCLI_COMPLETE=complete_bash" in shown.out, shown
    installed = cli("--install-completion", "bash", env=env)
    assert installed.code == 0, installed
    assert "_ORCLI_COMPLETE" in (Path(cli.env["HOME"]) / ".bash_completions" / "orcli.sh").read_text()


# -- wording ------------------------------------------------------------------------------------------
def test_plurals(upstream: Upstream, tmp_path: Path) -> None:
    cli = Cli(upstream, tmp_path)
    cli.profile(["a"])
    upstream.script("a", server_error(500))
    failed = cli("ask", "--no-stdin", "-m", MODEL, "hi")
    assert failed.code != 0 and "the only attempt failed" in failed.err and "1 attempts" not in failed.err, failed
    upstream.script("a", server_error(500), server_error(500), server_error(500))
    probe = cli("health", "--probe", "-m", MODEL)
    assert "probed 1 endpoint: 0 ok, 1 failed" in probe.err, probe
    reset = cli("health", "reset")
    assert re.search(r"forgot \d+ outcomes?\b", reset.err) and "(s)" not in reset.err, reset
    explained = cli("explain-route", "--no-stdin", "--ignore", "a")
    assert "1 candidate endpoints" not in explained.err and "the only candidate endpoint was" in explained.err


def test_a_long_error_on_a_terminal_breaks_between_sentences(cli: Cli, tmp_path: Path) -> None:
    require_tmux()
    with Pane(200, 30, tmp_path) as pane:
        pane.run(cli.argv("providers", "-p", "no-such-profile-anywhere"), cli.env)
        text = pane.wait_done()
    assert pane.code == 2, text
    lines = text.splitlines()
    assert lines[0].startswith("orcli: error: no profile named `no-such-profile-anywhere`"), text
    assert len(lines) >= 2, text  # the detail continues on the next lines, each sentence whole
    assert any(ln.startswith("  Known profiles: ") and len(ln) <= 100 for ln in lines), text
    piped = cli("providers", "-p", "no-such-profile-anywhere")
    assert piped.err.count("\n") == 1  # in a pipe or a log: one line, greppable


def test_no_color_before_the_command_draws_no_style_in_a_real_terminal(cli: Cli, tmp_path: Path) -> None:
    require_tmux()
    env = {k: v for k, v in cli.env.items() if k != "NO_COLOR"}
    with Pane(120, 40, tmp_path) as pane:
        pane.run(cli.argv("providers", "-p", "example"), env)
        pane.wait_done()
        styled = pane.capture(escapes=True)
    with Pane(120, 40, tmp_path) as pane:
        pane.run(cli.argv("--no-color", "-p", "example", "providers"), env)
        plain = pane.wait_done()
        raw = pane.capture(escapes=True)
    assert "\x1b[" in styled.split("__ORCLI_PANE_DONE__")[0], "a terminal gets bold headers"
    assert "\x1b[" not in raw.split("__ORCLI_PANE_DONE__")[0], raw
    assert "Providers (profile example)" in plain


def test_wrap_message_breaks_only_between_sentences_and_plural_counts() -> None:
    from orcli.ui.words import plural, wrap_message

    first = "orcli: error: no profile named `x` (looked for /a/very/long/path/to/profiles/x.toml and /another/one)."
    text = wrap_message(first + " Known profiles: example, local. Pass a path to use a file elsewhere.")
    lines = text.splitlines()
    assert lines[0] == first  # one long sentence stays whole
    assert lines[1] == "  Known profiles: example, local. Pass a path to use a file elsewhere."
    assert wrap_message("short. Message.") == "short. Message."
    assert (plural(1, "attempt"), plural(2, "attempt"), plural(1000, "token")) == (
        "1 attempt",
        "2 attempts",
        "1,000 tokens",
    )
