"""Issue 25 item 8: an invalid profile reports every problem, none hidden behind "(and 1 more)": all of them
in the message, and each as an entry of `error.problems` (file, line, key, message) with --json."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_harness import Cli

from orcli.errors import EXIT_USAGE

# Nine problems, one per line that names it, in sections the validator reads in this order.
BROKEN = """\
[routing]
alow_fallbacks = true
sort = "fastest"

[timeouts]
connect = 0

[providers.a]
base_url = "ftp://a.example"
zdr = "yes"

[providers.b]
base_url = "https://b.example/v1"
api = "openai"
api_version = "2024-10-21"

[[endpoint]]
model = "m"
provider = "a"

[[endpoint]]
model = "m"
provider = "nobody"
price = { prompt = -1 }
context_length = 1.5
"""
EXPECTED = [  # (line, key path, a fragment of the message)
    (2, "routing.alow_fallbacks", "Did you mean `allow_fallbacks`?"),
    (3, "routing.sort", 'expected one of "price"'),
    (6, "timeouts.connect", "expected a finite number > 0"),
    (9, "providers.a.base_url", "expected an http:// or https:// URL"),
    (10, "providers.a.zdr", "expected true or false"),
    (15, "providers.b.api_version", 'applies to api = "azure" only'),
    (24, "endpoint[2].price.prompt", "expected a finite number >= 0"),
    (25, "endpoint[2].context_length", "expected a whole number"),
    (23, "endpoint[2].provider", "unknown provider `nobody`"),
]


@pytest.fixture
def broken(tmp_path: Path) -> tuple[Cli, Path]:
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN)
    return Cli(None, tmp_path), path


def test_every_problem_of_an_invalid_profile_is_in_the_message(broken: tuple[Cli, Path]) -> None:
    cli, path = broken
    run = cli("explain-route", "--no-stdin", "--profile", str(path))
    assert run.code == EXIT_USAGE, run
    assert run.out == ""
    assert "more)" not in run.err
    for line, key, fragment in EXPECTED:
        assert f"{path}:{line}: {key}: " in run.err, (key, run)
        assert fragment in run.err, (fragment, run)
    assert run.err.count(f"{path}:") == len(EXPECTED)


def test_every_problem_of_an_invalid_profile_is_listed_in_the_json_error(broken: tuple[Cli, Path]) -> None:
    cli, path = broken
    run = cli("providers", "--json", "--profile", str(path))
    assert run.code == EXIT_USAGE, run
    error = run.json()["error"]
    assert error["kind"] == "profile" and error["exit_code"] == EXIT_USAGE
    problems = error["problems"]
    assert len(problems) == len(EXPECTED)
    by_key = {p["key"]: p for p in problems}
    for line, key, fragment in EXPECTED:
        assert by_key[key]["file"] == str(path)
        assert by_key[key]["line"] == line, by_key[key]
        assert fragment in by_key[key]["message"]
    # The message says the same, problem by problem.
    assert all(p["message"].rstrip(".") in error["message"] for p in problems)


def test_a_profile_that_is_not_toml_is_one_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[routing]\nsort = "price"\nzdr = = true\n')
    run = Cli(None, tmp_path)("providers", "--json", "--profile", str(path))
    assert run.code == EXIT_USAGE, run
    [problem] = run.json()["error"]["problems"]
    assert problem["file"] == str(path) and problem["line"] == 3 and problem["key"] is None
    assert problem["message"].startswith("not valid TOML")


def test_a_profile_name_that_matches_nothing_is_one_problem_without_a_file(tmp_path: Path) -> None:
    run = Cli(None, tmp_path)("providers", "--json", "--profile", "no-such-profile")
    assert run.code == EXIT_USAGE, run
    [problem] = run.json()["error"]["problems"]
    assert problem["file"] is None and "no profile named `no-such-profile`" in problem["message"]


def test_a_profile_path_that_does_not_exist_is_one_problem_naming_the_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.toml")
    run = Cli(None, tmp_path)("providers", "--json", "--profile", missing)
    assert run.code == EXIT_USAGE, run
    assert run.json()["error"]["problems"] == [
        {"file": missing, "line": None, "key": None, "message": "no such profile file"}
    ]
    assert f"{missing}: no such profile file." in run.err
