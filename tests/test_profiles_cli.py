"""docs/profiles.md#managing-profiles end to end: `orcli profiles list|show|init|import|check` run as the real process in a fresh config
dir (HOME and XDG dirs under tmp), and the note every command prints when the bundled example stands in."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from cli_harness import Cli

from orcli.profile.resolve import bundled_profiles_dir

DATA = Path(__file__).parent / "data" / "openrouter"
THREE = str(DATA / "endpoints-three-models.json")
MODELS_DEV = Path(__file__).parent / "data" / "models.dev" / "api.json"
LLAMA = "meta-llama/llama-3.3-70b-instruct"
QWEN = "qwen/qwen-2.5-72b-instruct"
EXAMPLE = bundled_profiles_dir() / "example.toml"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(None, tmp_path)


def user_dir(cli: Cli) -> Path:
    return Path(cli.env["XDG_CONFIG_HOME"]) / "orcli" / "profiles"


# -- the bundled example standing in for `default` -----------------------------------------------------
def test_a_fresh_install_says_once_that_the_example_stands_in_and_what_to_do(cli):
    run = cli("providers", "--json")
    assert run.code == 0, run
    json.loads(run.out)  # stdout stays one JSON document
    assert run.err.count("no `default` profile") == 1, run
    assert str(user_dir(cli) / "default.toml") in run.err
    assert "orcli profiles init" in run.err
    quiet = cli("providers", "--json", "-q")
    assert quiet.err == "", quiet


def test_explain_route_also_says_so_and_an_explicit_profile_does_not(cli):
    run = cli("explain-route", "--no-stdin")
    assert run.err.count("no `default` profile") == 1, run
    named = cli("explain-route", "--no-stdin", "--profile", "example")
    assert "no `default` profile" not in named.err, named


# -- list / show ---------------------------------------------------------------------------------------
def test_list_shows_bundled_profiles_and_the_fallback_default(cli):
    run = cli("profiles", "list", "--json")
    assert run.code == 0, run
    doc = run.json()
    assert doc["user_dir"] == str(user_dir(cli))
    assert doc["default"] == str(EXAMPLE) and doc["default_is_fallback"] is True
    names = {(p["name"], p["source"]) for p in doc["profiles"]}
    assert {("example", "bundled"), ("local", "bundled")} <= names
    assert [p["name"] for p in doc["profiles"] if p["default"]] == ["example"]
    table = cli("profiles", "list")
    assert "example" in table.out and "bundled" in table.out and "profiles init" in table.err


def test_list_names_a_default_that_lives_outside_the_profile_dirs(cli, tmp_path):
    mine = tmp_path / "elsewhere.toml"
    mine.write_text(EXAMPLE.read_text())
    run = cli("profiles", "list", "--json", env={"ORCLI_PROFILE": str(mine)})
    assert run.json()["default"] == str(mine) and run.json()["default_is_fallback"] is False
    assert not any(p["default"] for p in run.json()["profiles"])
    table = cli("profiles", "list", env={"ORCLI_PROFILE": str(mine)})
    assert f"default: {mine}" in table.err
    wrong = cli("profiles", "list", "--json", env={"ORCLI_PROFILE": "nope"})
    assert wrong.code == 0 and wrong.json()["default"] is None and "no profile named `nope`" in wrong.err


def test_show_summarises_a_valid_profile_with_key_status(cli):
    run = cli("profiles", "show", "example", "--json", env={"GROQ_API_KEY": "gsk-test-value"})
    assert run.code == 0, run
    doc = run.json()
    assert doc["path"] == str(EXAMPLE) and doc["valid"] is True
    groq = next(p for p in doc["providers"] if p["name"] == "groq")
    assert groq["key_set"] is True and groq["endpoints"] >= 1
    assert all(not p["key_set"] for p in doc["providers"] if p["api_key_env"] not in (None, "GROQ_API_KEY"))
    assert LLAMA in {m["model"] for m in doc["models"]}
    text = cli("profiles", "show", "example")
    assert "GROQ_API_KEY MISSING" in text.out and str(EXAMPLE) in text.out


def test_show_of_an_invalid_profile_exits_2_with_the_error(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[endpoint]]\nmodel = "m"\nprovider = "nobody"\n')
    run = cli("profiles", "show", str(bad))
    assert run.code == 2, run
    assert "unknown provider `nobody`" in run.err
    as_json = cli("profiles", "show", str(bad), "--json")
    assert as_json.code == 2 and as_json.json()["error"]["kind"] == "profile"


# -- init ----------------------------------------------------------------------------------------------
def test_init_keeps_the_providers_whose_keys_are_set_and_loads_back(cli):
    run = cli("profiles", "init", "--json", env={"GROQ_API_KEY": "gsk-test-value"})
    assert run.code == 0, run
    doc = run.json()
    path = user_dir(cli) / "default.toml"
    assert doc["path"] == str(path) and doc["providers"] == ["groq"] and doc["chosen_by"] == "keys set"
    data = tomllib.loads(path.read_text())
    assert set(data["providers"]) == {"groq"}
    assert {e["provider"] for e in data["endpoint"]} == {"groq"}
    assert data["routing"]["models"] and all(
        any(e["model"] == m for e in data["endpoint"]) for m in data["routing"]["models"]
    )
    example = tomllib.loads(EXAMPLE.read_text())
    assert data["providers"]["groq"] == example["providers"]["groq"]
    assert [e for e in example["endpoint"] if e["provider"] == "groq"] == data["endpoint"]
    # Now the default is the user's own: no more note, and list says so.
    after = cli("providers", "--json")
    assert "no `default` profile" not in after.err and after.json()["profile"] == str(path)
    listed = cli("profiles", "list", "--json").json()
    assert listed["default"] == str(path) and listed["default_is_fallback"] is False


def test_init_without_keys_keeps_every_provider(cli):
    run = cli("profiles", "init", "starter", "--json")
    assert run.code == 0, run
    example = tomllib.loads(EXAMPLE.read_text())
    assert run.json()["providers"] == list(example["providers"])
    assert run.json()["chosen_by"] == "all (no key set)"
    shown = cli("profiles", "show", "starter", "--json")
    assert shown.code == 0 and shown.json()["endpoints"] == len(example["endpoint"])


def test_init_never_overwrites_without_force(cli):
    assert cli("profiles", "init").code == 0
    path = user_dir(cli) / "default.toml"
    path.write_text(path.read_text() + "\n# my own notes\n")
    before = path.read_bytes()
    again = cli("profiles", "init")
    assert again.code == 2, again
    assert "--force" in again.err and path.read_bytes() == before
    forced = cli("profiles", "init", "--force", env={"GROQ_API_KEY": "gsk-test-value"})
    assert forced.code == 0, forced
    assert (user_dir(cli) / "default.toml.bak").read_bytes() == before
    assert set(tomllib.loads(path.read_text())["providers"]) == {"groq"}


def test_init_refuses_a_path_as_a_name(cli):
    run = cli("profiles", "init", "../escape")
    assert run.code == 2 and "not a profile name" in run.err, run
    assert not (user_dir(cli).parent / "escape.toml").exists()


def test_init_dash_p_names_the_profile_to_write_like_its_argument(cli):
    run = cli("profiles", "init", "-p", "work", "--json")
    assert run.code == 0, run
    assert run.json()["path"] == str(user_dir(cli) / "work.toml")
    same = cli("profiles", "init", "mine", "--profile", "mine", "--json")
    assert same.code == 0 and same.json()["path"] == str(user_dir(cli) / "mine.toml"), same
    before = cli("-p", "early", "profiles", "init", "--json")  # a common option before the command, moved after
    assert before.code == 0 and before.json()["path"] == str(user_dir(cli) / "early.toml"), before


def test_init_refuses_a_name_and_a_different_dash_p(cli):
    run = cli("profiles", "init", "work", "-p", "other")
    assert run.code == 2, run
    assert "NAME `work` and --profile `other` name two profiles" in run.err
    assert not user_dir(cli).is_dir() or not list(user_dir(cli).glob("*.toml"))


def test_orcli_profile_in_the_environment_never_redirects_init(cli):
    run = cli("profiles", "init", "--json", env={"ORCLI_PROFILE": "elsewhere"})
    assert run.code == 0, run
    assert run.json()["path"] == str(user_dir(cli) / "default.toml")
    assert not (user_dir(cli) / "elsewhere.toml").exists()


# -- import --------------------------------------------------------------------------------------------
def test_import_into_a_new_profile_writes_valid_endpoints_and_lists_unmapped_slugs(cli):
    run = cli("profiles", "import", "openrouter", "--from", THREE, "-m", LLAMA, "--into", "work", "--json")
    assert run.code == 0, run
    doc = run.json()
    path = user_dir(cli) / "work.toml"
    assert doc["written"] is True and doc["into"] == str(path)
    assert doc["unmapped"] == {"google-vertex/us-east5": [LLAMA]}
    assert "google-vertex/us-east5" in run.err  # docs/profiles.md#managing-profiles: unmapped slugs on stderr
    assert "novita" not in run.err  # notes only about the models imported
    data = tomllib.loads(path.read_text())
    groq = next(e for e in data["endpoint"] if e["provider"] == "groq")
    assert groq["price"] == {"prompt": 0.59, "completion": 0.79}
    assert groq["latency"] == 0.21 and groq["context_length"] == 131072
    assert data["routing"]["models"] == [LLAMA]
    shown = cli("profiles", "show", "work", "--json")
    assert shown.code == 0, shown
    assert {p["name"] for p in shown.json()["providers"]} == {
        "groq",
        "deepinfra/fp8",
        "deepinfra/turbo",
        "together",
        "cerebras",
    }
    # Issue 21: every written endpoint carries the id its provider serves; lambda's is unknown, so it is
    # listed with what to do instead of being written with OpenRouter's id.
    ids = {e["provider"]: e["upstream_model"] for e in data["endpoint"]}
    assert ids == {
        "groq": "llama-3.3-70b-versatile",
        "cerebras": "llama-3.3-70b",
        "together": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "deepinfra/turbo": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "deepinfra/fp8": "meta-llama/Llama-3.3-70B-Instruct",
    }
    assert [(s["model"], s["provider"]) for s in doc["skipped"]] == [(LLAMA, "lambda")]
    assert "--verify" in doc["skipped"][0]["todo"] and "--ids-from" in doc["skipped"][0]["todo"]
    assert f"not imported: {LLAMA} on lambda: orcli does not know the id" in run.err
    plan = cli("explain-route", "--no-stdin", "-p", "work", "--json", env={"GROQ_API_KEY": "gsk-test-value"})
    assert [a["provider"] for a in plan.json()["attempts"]] == ["groq"], plan


def test_import_merges_into_an_edited_profile_and_keeps_the_users_work(cli):
    assert cli("profiles", "init", env={"GROQ_API_KEY": "gsk-test-value"}).code == 0
    path = user_dir(cli) / "default.toml"
    data = tomllib.loads(path.read_text())
    data["routing"]["order"] = ["groq"]
    data["timeouts"]["first_token"] = 7
    groq = next(e for e in data["endpoint"] if e["provider"] == "groq" and e["model"] == LLAMA)
    groq["price"] = {"prompt": 0.5, "completion": 0.6}
    groq["upstream_model"] = "my-llama"
    import tomli_w

    path.write_text(tomli_w.dumps(data))
    dry = cli("profiles", "import", "openrouter", "--from", THREE, "-m", LLAMA, "--dry-run")
    assert dry.code == 0, dry
    assert f"~ updated endpoint {LLAMA} on groq: price {{prompt=0.5, completion=0.6}} -> " in dry.out
    assert f"+ added endpoint {LLAMA} on cerebras" in dry.out
    assert "+ added provider cerebras" in dry.out
    assert tomllib.loads(path.read_text()) == data  # --dry-run writes nothing
    real = cli("profiles", "import", "openrouter", "--from", THREE, "-m", LLAMA)
    assert real.code == 0 and real.out == dry.out, real
    merged = tomllib.loads(path.read_text())
    assert merged["routing"]["order"] == ["groq"] and merged["timeouts"]["first_token"] == 7
    new_groq = next(e for e in merged["endpoint"] if e["provider"] == "groq" and e["model"] == LLAMA)
    assert new_groq["price"] == {"prompt": 0.59, "completion": 0.79} and new_groq["upstream_model"] == "my-llama"
    others = [e for e in data["endpoint"] if e is not groq]
    assert all(e in merged["endpoint"] for e in others)  # the user's other endpoints, as they were
    assert (user_dir(cli) / "default.toml.bak").is_file()
    again = cli("profiles", "import", "openrouter", "--from", THREE, "-m", LLAMA)
    assert again.code == 0 and again.out == "" and "already up to date" in again.err, again


def test_a_new_profile_routes_the_models_in_the_order_given(cli):
    run = cli(
        "profiles", "import", "openrouter", "--from", THREE, "-m", "openai/gpt-4o-mini", "-m", QWEN, "--into", "two"
    )
    assert run.code == 0, run
    assert tomllib.loads((user_dir(cli) / "two.toml").read_text())["routing"]["models"] == ["openai/gpt-4o-mini", QWEN]


def test_import_reads_the_catalogue_from_stdin(cli, tmp_path):
    # models.dev names novita's id for qwen; hyperbolic's comes from a catalogue of the user's own.
    ids = tmp_path / "ids.json"
    catalogue = json.loads(MODELS_DEV.read_text())
    catalogue["hyperbolic"] = {
        "id": "hyperbolic",
        "npm": "@ai-sdk/openai-compatible",
        "env": ["HYPERBOLIC_API_KEY"],
        "api": "https://api.hyperbolic.xyz/v1",
        "name": "Hyperbolic",
        "models": {"Qwen/Qwen2.5-72B-Instruct": {"id": "Qwen/Qwen2.5-72B-Instruct"}},
    }
    ids.write_text(json.dumps(catalogue))
    run = cli(
        "profiles",
        "import",
        "openrouter",
        "--from",
        "-",
        "--into",
        "all",
        "--json",
        "--ids-from",
        str(ids),
        stdin=Path(THREE).read_text(),
    )
    assert run.code == 0, run
    doc = run.json()
    assert set(doc["unmapped"]) == {"google-vertex/us-east5", "acme-inference", "azure"}
    assert any("novita" in n and "price unknown" in n for n in doc["notes"])
    assert [(s["model"], s["provider"]) for s in doc["skipped"]] == [(LLAMA, "lambda")]  # models.dev has no lambda
    shown = cli("profiles", "show", "all", "--json").json()
    assert shown["unknown_prices"] == 1  # novita's
    assert shown["endpoints"] == 10  # 5 of llama's 7, 4 of qwen's 5, 1 of gpt-4o-mini's 2: unmapped or id unknown
    data = tomllib.loads((user_dir(cli) / "all.toml").read_text())
    novita = next(e for e in data["endpoint"] if e["provider"] == "novita")
    assert "price" not in novita  # unknown, not free
    assert novita["upstream_model"] == "qwen/qwen-2.5-72b-instruct"  # novita's own id, from models.dev
    hyperbolic = next(e for e in data["endpoint"] if e["provider"] == "hyperbolic")
    assert hyperbolic["price"] == {"prompt": 0, "completion": 0}
    assert hyperbolic["upstream_model"] == "Qwen/Qwen2.5-72B-Instruct"
    assert data["routing"]["models"] == [LLAMA, QWEN, "openai/gpt-4o-mini"]
    check = cli("profiles", "check", "all", "--json")
    assert check.code == 1
    assert {"code": "unknown_price", "subject": f"{QWEN} on novita"} in [
        {k: p[k] for k in ("code", "subject")} for p in check.json()["problems"]
    ]


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (
            ["profiles", "import", "openrouter", "--from", THREE, "-m", "nobody/none"],
            2,
            "holds no endpoints of nobody/none",
        ),
        (["profiles", "import", "openrouter"], 2, "name the models to import with -m"),
        (["profiles", "import", "huggingface", "--from", THREE], 2, "unknown source `huggingface`"),
        (["profiles", "import", "openrouter", "--from", "/no/such/file.json"], 2, "cannot read it"),
        (["profiles", "import", "openrouter", "--from", THREE, "--into", "../up"], 2, "must end in .toml"),
        (["profiles", "import", "openrouter", "--from", THREE, "--into", ".hidden"], 2, "not a profile name"),
    ],
)
def test_import_usage_errors_exit_2_with_one_clear_message(cli, args, code, said):
    run = cli(*args)
    assert run.code == code, run
    assert said in run.err and run.err.count("orcli: error:") == 1, run
    assert not user_dir(cli).exists() or not any(user_dir(cli).iterdir())


def test_import_with_nothing_callable_exits_1_and_writes_nothing(cli, tmp_path):
    only_azure = {
        "data": {"id": "openai/gpt-4o", "endpoints": [{"tag": "azure", "pricing": {"prompt": "1", "completion": "1"}}]}
    }
    saved = tmp_path / "azure.json"
    saved.write_text(json.dumps(only_azure))
    run = cli("profiles", "import", "openrouter", "--from", str(saved), "--json")
    assert run.code == 1, run
    assert run.json()["error"]["message"].startswith("nothing to import")
    assert "azure" in run.err
    assert not (user_dir(cli) / "default.toml").exists()


def test_import_into_an_invalid_profile_changes_nothing(cli):
    user_dir(cli).mkdir(parents=True)
    broken = user_dir(cli) / "default.toml"
    broken.write_text("[routing]\nsort = 'fastest'\n")
    run = cli("profiles", "import", "openrouter", "--from", THREE, "-m", LLAMA)
    assert run.code == 2 and "sort" in run.err, run
    assert broken.read_text() == "[routing]\nsort = 'fastest'\n"


# -- check ---------------------------------------------------------------------------------------------
PROBLEMS = """\
[routing]
models = ["m1", "ghost"]
order = ["alpah"]

[providers.alpha]
base_url = "https://alpha.example/v1"
api_key_env = "ALPHA_KEY"

[providers.plain]
base_url = "http://plain.example/v1"
api_key_env = "PLAIN_KEY"

[providers.idle]
base_url = "https://idle.example/v1"

[[endpoint]]
model = "m1"
provider = "alpha"

[[endpoint]]
model = "m1"
provider = "plain"
price = { prompt = 1, completion = 1 }
"""


def test_check_finds_every_kind_of_problem_and_exits_1(cli, tmp_path):
    path = tmp_path / "lint.toml"
    path.write_text(PROBLEMS)
    run = cli("profiles", "check", str(path), "--json", env={"PLAIN_KEY": "set-value"})
    assert run.code == 1, run
    found = {(p["code"], p["subject"]) for p in run.json()["problems"]}
    assert found == {
        ("unknown_price", "m1 on alpha"),
        ("model_without_endpoint", "ghost"),
        ("provider_without_endpoint", "idle"),
        ("key_not_set", "alpha"),
        ("insecure_url", "plain"),
        ("unknown_name", "routing.order"),
    }
    assert run.json()["ok"] is False
    table = cli("profiles", "check", str(path), env={"PLAIN_KEY": "set-value"})
    assert table.code == 1 and "model_without_endpoint" in table.out and "6 problems in" in table.err


def test_check_of_a_clean_profile_exits_0(cli, tmp_path):
    path = tmp_path / "clean.toml"
    path.write_text(
        '[routing]\nmodels = ["m"]\n[providers.a]\nbase_url = "https://a.example/v1"\napi_key_env = "A_KEY"\n'
        '[[endpoint]]\nmodel = "m"\nprovider = "a"\nprice = { prompt = 1, completion = 2 }\n'
    )
    run = cli("profiles", "check", str(path), "--json", env={"A_KEY": "value-set"})
    assert run.code == 0, run
    assert run.json() == {"profile": str(path), "ok": True, "problems": []}
    assert cli("profiles", "check", str(path)).code == 1  # A_KEY unset now: key_not_set


def test_check_of_an_invalid_profile_exits_2(cli, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[routing]\nmodles = []\n")
    run = cli("profiles", "check", str(path))
    assert run.code == 2 and "Did you mean `models`?" in run.err, run


def test_profiles_without_a_subcommand_shows_help(cli):
    run = cli("profiles")
    assert "list" in run.out + run.err and "import" in run.out + run.err


def test_serve_says_so_too_when_the_example_stands_in(tmp_path, monkeypatch):
    from orcli.gateway.state import ProfileHolder

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    heard: list[str] = []
    holder = ProfileHolder(None, {}, heard.append)
    assert holder.path == EXAMPLE
    assert len(heard) == 1 and "no `default` profile" in heard[0] and "orcli profiles init" in heard[0]
    ProfileHolder("example", {}, heard.append)
    assert len(heard) == 1


def test_import_dash_p_names_the_profile_to_write_like_into(cli):
    run = cli("profiles", "import", "openrouter", "--from", THREE, "-m", LLAMA, "-p", "work", "--json")
    assert run.code == 0, run
    assert run.json()["into"] == str(user_dir(cli) / "work.toml") and run.json()["written"] is True
    assert (user_dir(cli) / "work.toml").is_file() and not (user_dir(cli) / "default.toml").exists()


def test_import_refuses_into_and_a_different_dash_p_and_writes_nothing(cli):
    run = cli("profiles", "import", "openrouter", "--from", THREE, "-m", LLAMA, "--into", "a", "-p", "b")
    assert run.code == 2, run
    assert "--into `a` and --profile `b` name two profiles" in run.err
    assert not user_dir(cli).is_dir() or not list(user_dir(cli).glob("*.toml"))


def test_orcli_profile_in_the_environment_never_redirects_import(cli):
    env = {"ORCLI_PROFILE": "elsewhere"}
    run = cli("profiles", "import", "openrouter", "--from", THREE, "-m", LLAMA, "--json", env=env)
    assert run.code == 0, run
    assert run.json()["into"] == str(user_dir(cli) / "default.toml")
    assert not (user_dir(cli) / "elsewhere.toml").exists()


def test_common_options_before_profiles_subcommands_reach_them(cli):
    run = cli("-p", "example", "--json", "profiles", "show")
    assert run.code == 0, run
    assert run.json()["path"] == str(EXAMPLE)
