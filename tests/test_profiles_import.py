"""Issue 21 / 25.3: imports write only ids the provider serves, refresh instead of duplicating, lose nothing to
concurrent writers and survive hostile catalogues. The real `orcli` process runs against loopback fakes."""

from __future__ import annotations

import json
import tomllib
from functools import partial
from pathlib import Path

import pytest
from cli_harness import Cli, run_all
from fake_model_lists import ModelLists
from upstream import Upstream, not_found, ok

DATA = Path(__file__).parent / "data"
THREE = str(DATA / "openrouter" / "endpoints-three-models.json")
MODELS_DEV = DATA / "models.dev" / "api.json"
LLAMA = "meta-llama/llama-3.3-70b-instruct"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(None, tmp_path)


def user_dir(cli: Cli) -> Path:
    return Path(cli.env["XDG_CONFIG_HOME"]) / "orcli" / "profiles"


def test_verify_writes_the_id_each_provider_lists_and_lists_the_rest(cli, tmp_path):
    with ModelLists() as fake:
        fake.add("groq", "openai", ["llama-3.3-70b-versatile", "llama-3.1-8b-instant"])
        fake.add("cerebras", "openai", ["llama3.3-70b", "llama3.1-8b"])  # not the table's spelling
        fake.add("together", "together", ["meta-llama/Llama-3.1-8B-Instruct-Turbo"])  # does not serve it
        profile = tmp_path / "mine.toml"
        profile.write_text(
            "".join(
                f'[providers.{p}]\nbase_url = "{fake.base_url(p)}"\napi_key_env = "{p.upper()}_KEY"\n'
                for p in ("groq", "cerebras", "together")
            )
        )
        cli.set_keys({"GROQ_KEY": "gk-1234567890", "CEREBRAS_KEY": "ck-1234567890", "TOGETHER_KEY": "tk-1234567890"})
        run = cli(
            "profiles",
            "import",
            "openrouter",
            "--from",
            THREE,
            "-m",
            LLAMA,
            "--into",
            str(profile),
            "--verify",
            "--json",
        )
        assert run.code == 0, run
        data = tomllib.loads(profile.read_text())
        ids = {e["provider"]: e["upstream_model"] for e in data["endpoint"]}
        # deepinfra's lists cannot be read without its key: the shipped table's ids stay, and the notes say so.
        assert ids == {
            "groq": "llama-3.3-70b-versatile",
            "cerebras": "llama3.3-70b",
            "deepinfra/fp8": "meta-llama/Llama-3.3-70B-Instruct",
            "deepinfra/turbo": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        }
        skipped = {s["provider"]: s["reason"] for s in run.json()["skipped"]}
        assert "together's model list has no id for it" in skipped["together"]
        assert "Llama-3.1-8B-Instruct-Turbo" in skipped["together"]  # the closest ids are named
        assert "$LAMBDA_API_KEY is not set" in skipped["lambda"]  # its id is unknown and its list unread
        assert any("deepinfra/fp8: not verified ($DEEPINFRA_API_KEY is not set)" in n for n in run.json()["notes"])
        assert "not imported: meta-llama/llama-3.3-70b-instruct on together" in run.err
        assert all(h.get("authorization", "").startswith("Bearer ") for h in fake.seen("groq"))


def test_a_models_dev_import_is_planned_and_asked_under_the_native_id(cli, tmp_path):
    with Upstream() as up:
        up.script("acme", ok("hello from acme"))
        catalogue = json.loads(MODELS_DEV.read_text())
        catalogue["acme"] = {
            "id": "acme",
            "name": "Acme",
            "env": ["ACME_API_KEY"],
            "npm": "@ai-sdk/openai-compatible",
            "api": up.base_url("acme"),
            "doc": "https://acme.example/docs",
            "models": {
                "meta-llama/Llama-3.3-70B-Instruct-FP8": {
                    "id": "meta-llama/Llama-3.3-70B-Instruct-FP8",
                    "name": "L",
                    "cost": {"input": 0.2, "output": 0.6},
                    "limit": {"context": 131072, "output": 8192},
                    "tool_call": True,
                },
                "meta-llama/Llama-3.1-70B-Instruct": {"id": "meta-llama/Llama-3.1-70B-Instruct", "name": "older"},
            },
        }
        saved = tmp_path / "api.json"
        saved.write_text(json.dumps(catalogue))
        run = cli(
            "profiles",
            "import",
            "models.dev",
            "--from",
            str(saved),
            "-m",
            LLAMA,
            "--provider",
            "acme",
            "--provider",
            "groq",
            "--into",
            "md",
            "--json",
        )
        assert run.code == 0, run
        data = tomllib.loads((user_dir(cli) / "md.toml").read_text())
        acme = next(e for e in data["endpoint"] if e["provider"] == "acme")
        assert acme["upstream_model"] == "meta-llama/Llama-3.3-70B-Instruct-FP8"
        assert acme["price"] == {"prompt": 0.2, "completion": 0.6} and acme["max_completion_tokens"] == 8192
        assert "tools" in acme["parameters"]
        groq = next(e for e in data["endpoint"] if e["provider"] == "groq")
        assert groq["upstream_model"] == "llama-3.3-70b-versatile"
        assert data["providers"]["acme"]["api_key_env"] == "ACME_API_KEY"
        cli.set_keys({"ACME_API_KEY": "acme-key-0123456789"})
        plan = cli("explain-route", "--no-stdin", "-p", "md", "--json").json()
        assert [(a["provider"], a["upstream_model"]) for a in plan["attempts"]] == [
            ("acme", "meta-llama/Llama-3.3-70B-Instruct-FP8")
        ]
        asked = cli("ask", "-p", "md", "--no-stdin", "hi")
        assert asked.code == 0 and asked.out == "hello from acme", asked
        assert up.requests("acme")[0].model == "meta-llama/Llama-3.3-70B-Instruct-FP8"


def test_models_dev_lists_what_it_cannot_write(cli):
    args = ("profiles", "import", "models.dev", "--from", str(MODELS_DEV), "-m", LLAMA, "-m", "openai/gpt-4o-mini")
    run = cli(*args, "--into", "x", "--json")
    assert run.code == 0, run
    doc = run.json()
    assert "azure" in doc["unmapped"] and "deployment names" in doc["unmapped"]["azure"][0]
    written = tomllib.loads((user_dir(cli) / "x.toml").read_text())
    assert "azure" not in written["providers"]
    pairs = {(e["provider"], e["upstream_model"]) for e in written["endpoint"]}
    assert ("openai", "gpt-4o-mini") in pairs and ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo") in pairs
    again = cli(*args, "--into", "x")
    assert again.code == 0 and again.out == "" and "already up to date" in again.err, again


def test_a_variant_tag_refreshes_the_provider_at_the_same_url_and_a_second_import_changes_nothing(cli):
    assert cli("profiles", "init", env={"DEEPINFRA_API_KEY": "di-key-0123456789"}).code == 0
    path = user_dir(cli) / "default.toml"
    before = tomllib.loads(path.read_text())
    assert set(before["providers"]) == {"deepinfra", "deepinfra/turbo"}
    run = cli("profiles", "import", "openrouter", "--from", THREE, "-m", LLAMA, "--json")
    assert run.code == 0, run
    after = tomllib.loads(path.read_text())
    assert "deepinfra/fp8" not in after["providers"]
    mine = [e for e in after["endpoint"] if e["model"] == LLAMA and e["provider"] == "deepinfra"]
    assert len(mine) == 1 and mine[0]["upstream_model"] == "meta-llama/Llama-3.3-70B-Instruct"  # the profile's name
    assert mine[0]["price"] == {"prompt": 0.23, "completion": 0.4}  # deepinfra/fp8's price, refreshed
    assert any(
        c["kind"] == "same provider" and c["name"].startswith("deepinfra/fp8 is deepinfra")
        for c in run.json()["changes"]
    )
    again = cli("profiles", "import", "openrouter", "--from", THREE, "-m", LLAMA)
    assert again.code == 0 and again.out == "" and "already up to date" in again.err, again
    assert tomllib.loads(path.read_text()) == after


def test_eight_concurrent_imports_keep_all_eight_models(cli, tmp_path):
    models = {f"vendor/model-{i}": f"Vendor/Model-{i}" for i in range(8)}
    catalogue = {
        "acme": {
            "id": "acme",
            "name": "Acme",
            "env": ["ACME_API_KEY"],
            "npm": "@ai-sdk/openai-compatible",
            "api": "https://acme.example/v1",
            "models": {native: {"id": native, "cost": {"input": 1, "output": 2}} for native in models.values()},
        }
    }
    saved = tmp_path / "api.json"
    saved.write_text(json.dumps(catalogue))
    target = tmp_path / "shared.toml"
    jobs = {
        m: partial(cli, "profiles", "import", "models.dev", "--from", str(saved), "-m", m, "--into", str(target))
        for m in models
    }
    runs = run_all(jobs, workers=8, share_store=True)
    assert all(r.code == 0 for r in runs.values()), runs
    data = tomllib.loads(target.read_text())
    assert {(e["model"], e["upstream_model"]) for e in data["endpoint"]} == set(models.items())


def test_a_hostile_models_dev_catalogue_skips_and_lists_the_bad_entries(cli, tmp_path):
    good = {"id": "Good-Model", "cost": {"input": 1, "output": 2}}
    bad_models = {
        "m-overflow": {"cost": {"input": "1e999999", "output": 1}},
        "m-inf": {"cost": {"input": 1, "output": float("inf")}},
        "m-nan": {"cost": {"input": float("nan"), "output": 1}},
        "m-type": {"cost": "cheap", "limit": []},
        'm"x\n[providers.evil]': {"cost": {"input": 1, "output": 1}},
    }
    text = json.dumps(
        {
            "acme": {
                "id": "acme",
                "name": "Acme",
                "env": ["ACME_API_KEY"],
                "npm": "@ai-sdk/openai-compatible",
                "api": "https://acme.example/v1",
                "models": {"Good-Model": good, **bad_models},
            },
            "broken": {"models": "not an object"},
            "\u001b[31mred": {},
        }
    )
    text = (
        text.replace('"1e999999"', "1e999999")
        .replace("Infinity", "Infinity")
        .replace('"m-type"', '"m-huge": {"limit": {"context": 1' + "0" * 5000 + '}}, "m-type"')
    )
    saved = tmp_path / "hostile.json"
    saved.write_text(text)
    reasons = {
        "m-overflow": "its cost is not a usable number",
        "m-inf": "its cost is not a usable number",
        "m-nan": "its cost is not a usable number",
        "m-type": "`cost` is not an object",
    }
    for m, reason in reasons.items():
        run = cli("profiles", "import", "models.dev", "--from", str(saved), "-m", f"vendor/{m}", "--into", "h")
        assert run.code == 1 and "internal error" not in run.err, run  # nothing to write: one clear message
        assert "nothing to import" in run.err and f"{m} on acme: {reason}; skipped" in run.err
        assert "no provider in the catalogue serves" not in run.err  # it is served; its entry is unusable
    huge = cli("profiles", "import", "models.dev", "--from", str(saved), "-m", "vendor/m-huge", "--into", "huge")
    assert huge.code == 0, huge  # only the unusable number is dropped: no context length, unknown price
    assert "context_length" not in tomllib.loads((user_dir(cli) / "huge.toml").read_text())["endpoint"][0]
    run = cli(
        "profiles", "import", "models.dev", "--from", str(saved), "-m", "vendor/good-model", "--into", "h", "--json"
    )
    assert run.code == 0, run
    notes = "\n".join(run.json()["notes"])
    for expected in ("1 model id(s) orcli cannot write", "provider `broken`: `models` is not an object", "not a slug"):
        assert expected in notes, notes
    assert "m-overflow" not in notes  # a broken entry of a model nobody asked for is not even read
    assert "\x1b" not in run.err and "\x1b" not in run.out
    data = tomllib.loads((user_dir(cli) / "h.toml").read_text())
    assert [e["upstream_model"] for e in data["endpoint"]] == ["Good-Model"] and "evil" not in data["providers"]


def test_a_hostile_openrouter_price_is_an_unknown_price_not_an_internal_error(cli, tmp_path):
    doc = json.loads(Path(THREE).read_text())[0]
    doc["data"]["endpoints"][0]["pricing"]["prompt"] = "1e999999"
    doc["data"]["endpoints"][4]["pricing"]["completion"] = "-Infinity"
    saved = tmp_path / "hostile.json"
    saved.write_text(json.dumps(doc))
    run = cli("profiles", "import", "openrouter", "--from", str(saved), "--into", "o", "--json")
    assert run.code == 0, run
    assert any("groq: price unknown" in n for n in run.json()["notes"])
    data = tomllib.loads((user_dir(cli) / "o.toml").read_text())
    assert "price" not in next(e for e in data["endpoint"] if e["provider"] == "groq")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["models.dev", "--from", str(MODELS_DEV)], "name the models to import with -m"),
        (["models.dev", "--from", str(MODELS_DEV), "-m", "not an id"], "is not an OpenRouter model id"),
        (
            ["models.dev", "--from", str(MODELS_DEV), "-m", LLAMA, "--provider", "nope"],
            "--provider nope: the catalogue",
        ),
        (
            ["openrouter", "--from", THREE, "-m", LLAMA, "--provider", "groq"],
            "--provider picks providers of the models.dev",
        ),
        (["models.dev", "--from", THREE, "-m", LLAMA], "not a models.dev catalogue"),
        (["openrouter", "--from", THREE, "-m", LLAMA, "--ids-from", "/no/such.json"], "cannot read it"),
    ],
)
def test_import_usage_errors_are_one_clear_message_and_write_nothing(cli, args, said):
    run = cli("profiles", "import", *args)
    assert run.code == 2 and said in run.err and run.err.count("orcli: error:") == 1, run
    assert not user_dir(cli).exists() or not any(user_dir(cli).iterdir())


def test_a_dry_run_leaves_no_file_behind(cli):
    run = cli("profiles", "import", "models.dev", "--from", str(MODELS_DEV), "-m", LLAMA, "--dry-run")
    assert run.code == 0 and "+ added endpoint" in run.out and "nothing written" in run.err, run
    assert not user_dir(cli).exists() or not any(user_dir(cli).iterdir())


def test_a_symlinked_lock_file_is_refused_not_followed(cli, tmp_path):
    target = tmp_path / "linked.toml"
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / ".linked.toml.lock").symlink_to(elsewhere)
    run = cli("profiles", "import", "models.dev", "--from", str(MODELS_DEV), "-m", LLAMA, "--into", str(target))
    assert run.code == 1 and "cannot open its lock file" in run.err, run
    assert not elsewhere.exists() and not target.exists()


def test_an_import_verified_against_the_provider_is_planned_and_asked_under_the_listed_id(cli, tmp_path):
    with Upstream() as up:
        up.list_models("groq", ["llama-3.1-8b-instant", "llama-3.3-70b-versatile"])
        up.list_models("cerebras", ["llama3.3-70b"])  # not the shipped table's spelling: the list wins
        up.script("groq", ok("from groq"))
        up.script("cerebras", ok("from cerebras"))
        profile = tmp_path / "mine.toml"
        profile.write_text(
            '[routing]\nmodels = ["meta-llama/llama-3.3-70b-instruct"]\norder = ["cerebras", "groq"]\n'
            + "".join(
                f'[providers.{p}]\nbase_url = "{up.base_url(p)}"\napi_key_env = "{p.upper()}_KEY"\n'
                for p in ("groq", "cerebras")
            )
        )
        cli.set_keys({"GROQ_KEY": "groq-key-0123456789", "CEREBRAS_KEY": "cerebras-key-0123456789"})
        run = cli("profiles", "import", "openrouter", "--from", THREE, "-m", LLAMA, "--into", str(profile), "--verify")
        assert run.code == 0, run
        plan = cli("explain-route", "--no-stdin", "-p", str(profile), "--json").json()
        assert [(a["provider"], a["upstream_model"]) for a in plan["attempts"]] == [
            ("cerebras", "llama3.3-70b"),
            ("groq", "llama-3.3-70b-versatile"),
        ]
        up.script("cerebras", not_found())
        asked = cli("ask", "-p", str(profile), "--no-stdin", "hi")
        assert asked.code == 0 and asked.out == "from groq", asked
        assert [r.model for r in up.requests()] == ["llama3.3-70b", "llama-3.3-70b-versatile"]


def test_an_import_keeps_the_routing_of_a_profile_that_has_no_endpoints_yet(cli, tmp_path):
    profile = tmp_path / "mine.toml"
    profile.write_text('[routing]\nmodels = ["other/model", "meta-llama/llama-3.3-70b-instruct"]\nsort = "price"\n')
    run = cli(
        "profiles",
        "import",
        "models.dev",
        "--from",
        str(MODELS_DEV),
        "-m",
        LLAMA,
        "--provider",
        "groq",
        "--into",
        str(profile),
    )
    assert run.code == 0, run
    data = tomllib.loads(profile.read_text())
    assert data["routing"] == {"models": ["other/model", LLAMA], "sort": "price"}
    assert [(e["provider"], e["upstream_model"]) for e in data["endpoint"]] == [("groq", "llama-3.3-70b-versatile")]


def test_a_second_writer_waits_for_the_lock_and_gives_up_with_a_clear_message(tmp_path):
    import fcntl
    import os

    from orcli.errors import OrcliError
    from orcli.profile.lock import lock_path, profile_lock

    target = tmp_path / "p.toml"
    with profile_lock(target):
        fd = os.open(lock_path(target), os.O_RDWR)
        try:  # another process's view: the lock is held
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        with pytest.raises(OrcliError, match="another orcli is still writing it"), profile_lock(target, wait=0.2):
            pass
    with profile_lock(target, wait=0.2):  # released on exit
        pass
    assert oct(lock_path(target).stat().st_mode & 0o777) == "0o600"


def test_ids_from_a_url_names_the_providers_ids(cli, tmp_path):
    import threading
    from functools import partial as bind
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = bind(SimpleHTTPRequestHandler, directory=str(MODELS_DEV.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api.json"
        run = cli(
            "profiles",
            "import",
            "openrouter",
            "--from",
            THREE,
            "-m",
            "qwen/qwen-2.5-72b-instruct",
            "--ids-from",
            url,
            "--into",
            "q",
            "--json",
        )
        assert run.code == 0, run
        data = tomllib.loads((user_dir(cli) / "q.toml").read_text())
        assert {e["provider"]: e["upstream_model"] for e in data["endpoint"]}["novita"] == "qwen/qwen-2.5-72b-instruct"
        missing = cli("profiles", "import", "openrouter", "--from", THREE, "--ids-from", url + ".gone", "--into", "q")
        assert missing.code == 1 and "answered HTTP 404" in missing.err, missing
    finally:
        server.shutdown()
        server.server_close()


def test_a_catalogue_too_big_to_be_one_is_refused_before_it_is_read_whole(cli, tmp_path):
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as handle:
        handle.truncate(65 * 2**20)  # sparse: 65 MiB of zeros, no disk written
    run = cli("profiles", "import", "models.dev", "--from", str(huge), "-m", LLAMA, "--into", "h")
    assert run.code == 2 and "larger than 64 MiB; not a catalogue" in run.err, run
    ids = cli("profiles", "import", "openrouter", "--from", THREE, "-m", LLAMA, "--ids-from", str(huge), "--into", "h")
    assert ids.code == 2 and "larger than 64 MiB" in ids.err, ids


def test_an_offering_a_profile_may_not_hold_is_listed_and_the_rest_is_written(cli, tmp_path):
    doc = {
        "sneaky": {
            "id": "sneaky",
            "npm": "@ai-sdk/openai-compatible",
            "env": ["SNEAKY_API_KEY"],
            "api": "https://user:hunter2secret@sneaky.example/v1",
            "models": {"Vendor/Model-X": {}},
        },
        "fine": {
            "id": "fine",
            "npm": "@ai-sdk/openai-compatible",
            "env": ["FINE_API_KEY"],
            "api": "https://fine.example/v1",
            "models": {"Vendor/Model-X": {"cost": {"input": 1, "output": 2}}},
        },
    }
    saved = tmp_path / "api.json"
    saved.write_text(json.dumps(doc))
    run = cli("profiles", "import", "models.dev", "--from", str(saved), "-m", "vendor/model-x", "--into", "s", "--json")
    assert run.code == 0, run
    assert "hunter2secret" not in run.out + run.err  # the validator's refusal never echoes the credentials
    assert any(n.startswith("skipped: vendor/model-x on sneaky:") and "credentials" in n for n in run.json()["notes"])
    data = tomllib.loads((user_dir(cli) / "s.toml").read_text())
    assert set(data["providers"]) == {"fine"} and [e["provider"] for e in data["endpoint"]] == ["fine"]
