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

from orcli.profile import model_ids
from orcli.profile.model_lists import Target, list_all

DATA = Path(__file__).parent / "data"
THREE = str(DATA / "openrouter" / "endpoints-three-models.json")
MODELS_DEV = DATA / "models.dev" / "api.json"
LLAMA = "meta-llama/llama-3.3-70b-instruct"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(None, tmp_path)


def user_dir(cli: Cli) -> Path:
    return Path(cli.env["XDG_CONFIG_HOME"]) / "orcli" / "profiles"


# -- which native id is which model -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("wanted", "available", "expected"),
    [
        (LLAMA, ["llama-3.3-70b-versatile", "llama-3.1-8b-instant", "llama3-70b-8192"], "llama-3.3-70b-versatile"),
        (LLAMA, ["llama3.1-8b", "llama-3.3-70b"], "llama-3.3-70b"),
        (
            LLAMA,
            ["accounts/fireworks/models/llama-v3p3-70b-instruct", "accounts/fireworks/models/llama-v3p1-70b-instruct"],
            "accounts/fireworks/models/llama-v3p3-70b-instruct",
        ),
        (
            LLAMA,
            ["meta-llama/Llama-3.3-70B-Instruct", "meta-llama/Llama-3.3-70B-Instruct-Turbo"],
            "meta-llama/Llama-3.3-70B-Instruct",
        ),  # exact tokens beat a serving word
        (
            LLAMA,
            ["meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.3-8B-Instruct"],
            None,
        ),  # never another size/version
        (
            "anthropic/claude-sonnet-4.5",
            ["claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "claude-sonnet-4-0"],
            "claude-sonnet-4-5",
        ),
        (
            "anthropic/claude-sonnet-4.5",
            ["claude-sonnet-4-5-20250929", "claude-sonnet-4-20250514"],
            "claude-sonnet-4-5-20250929",
        ),  # only a dated snapshot: that one
        (
            "qwen/qwen-2.5-72b-instruct",
            ["Qwen/Qwen2.5-72B-Instruct-Turbo", "Qwen/Qwen2.5-7B-Instruct-Turbo"],
            "Qwen/Qwen2.5-72B-Instruct-Turbo",
        ),
        ("openai/gpt-4o", ["gpt-4o-mini", "gpt-4o-2024-08-06"], "gpt-4o-2024-08-06"),
        ("openai/gpt-4o-mini", ["gpt-4o", "gpt-4"], None),
        ("google/gemini-2.5-flash", ["models/gemini-2.5-flash-lite", "gemini-2.5-flash"], "gemini-2.5-flash"),
        (
            "deepseek/deepseek-chat-v3-0324",
            ["deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3-0324"],
            "deepseek-ai/DeepSeek-V3-0324",
        ),
        # Bedrock: vendor prefix and API version are not the name; the direct model beats a cross-region profile.
        (
            "anthropic/claude-sonnet-4.5",
            [
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "anthropic.claude-sonnet-4-5-20250929-v1:0",
                "anthropic.claude-sonnet-4-20250514-v1:0",
            ],
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            LLAMA,
            ["meta.llama3-1-70b-instruct-v1:0", "meta.llama3-3-70b-instruct-v1:0"],
            "meta.llama3-3-70b-instruct-v1:0",
        ),
        ("openai/gpt-oss-120b", ["openai.gpt-oss-20b-1:0", "openai.gpt-oss-120b-1:0"], "openai.gpt-oss-120b-1:0"),
        (
            "anthropic/claude-sonnet-4.5",
            ["claude-opus-4-1@20250805", "claude-sonnet-4-5@20250929"],
            "claude-sonnet-4-5@20250929",
        ),  # Vertex
        (
            "qwen/qwen-2.5-72b-instruct",
            ["Qwen/Qwen2.5-72B-Instruct-Turbo-FP8", "Qwen/Qwen2.5-72B-Instruct-Turbo"],
            "Qwen/Qwen2.5-72B-Instruct-Turbo",
        ),  # the fewest serving words that differ
        ("openai/gpt-3.5-turbo", ["gpt-3.5-turbo-instruct", "gpt-3.5-turbo"], "gpt-3.5-turbo"),
        ("openai/gpt-oss-120b", ["TEE/gpt-oss-120b", "openai/gpt-oss-120b"], "openai/gpt-oss-120b"),  # the maker's path
    ],
)
def test_native_id_truth_table(wanted, available, expected):
    assert model_ids.match(wanted, available).native_id == expected


def test_equal_candidates_are_never_guessed_between():
    found = model_ids.match(LLAMA, ["meta-llama/Llama-3.3-70B-Instruct-Turbo", "meta-llama/Llama-3.3-70B-Instruct-FP8"])
    assert found.native_id is None and found.ambiguous
    assert len(found.candidates) == 2
    # A variant tag picks the single candidate that carries it, and only then.
    assert model_ids.match(LLAMA, found.candidates, "turbo").native_id == "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    assert model_ids.match(LLAMA, found.candidates, "bf16").ambiguous


def test_an_undated_alias_of_a_listed_dated_id_is_served():
    listed = ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]
    assert model_ids.served_alias("claude-sonnet-4-5", listed)
    assert not model_ids.served_alias("claude-sonnet-4", listed)
    more = ["claude-sonnet-4-20250514", "claude-3-7-sonnet-20250219"]
    assert model_ids.served_alias("claude-sonnet-4-0", more) and model_ids.served_alias(
        "claude-3-7-sonnet-latest", more
    )
    assert not model_ids.served_alias("claude-sonnet-4-1", more) and not model_ids.served_alias("claude-3-7", more)
    assert model_ids.closest("claude-sonet-4-5", listed)[0] == "claude-sonnet-4-5-20250929"


# -- model lists, as the official SDKs read them ---------------------------------------------------------
def test_fake_lists_are_what_the_official_sdks_read():
    import anthropic
    import openai
    from google import genai
    from google.genai import types

    with ModelLists() as fake:
        fake.add("groq", "openai", ["llama-3.3-70b-versatile", "openai/gpt-oss-120b"])
        fake.add("anthropic", "anthropic", ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "c3"], page=2)
        client = openai.OpenAI(base_url=fake.base_url("groq"), api_key="k-groq", max_retries=0)
        assert [m.id for m in client.models.list()] == ["llama-3.3-70b-versatile", "openai/gpt-oss-120b"]
        claude = anthropic.Anthropic(
            base_url=fake.base_url("anthropic").removesuffix("/v1"), api_key="k", max_retries=0
        )
        assert [m.id for m in claude.models.list(limit=2)] == [
            "claude-sonnet-4-5-20250929",
            "claude-haiku-4-5-20251001",
            "c3",
        ]
        fake.add("google", "gemini", [f"gemini-{i}" for i in range(5)], page=2)
        base = fake.base_url("google").removesuffix("/v1beta") + "/"
        gemini = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=base, api_version="v1beta"))
        assert [m.name for m in gemini.models.list(config={"page_size": 2})] == [f"models/gemini-{i}" for i in range(5)]
        assert len(fake.seen("google")) == 3  # paged by nextPageToken, as the SDK follows it


def test_every_dialect_list_is_read_whole_and_failures_are_named():
    with ModelLists() as fake:
        fake.add("groq", "openai", ["a", "b"])
        fake.add("together", "together", ["meta-llama/Llama-3.3-70B-Instruct-Turbo"])
        fake.add("anthropic", "anthropic", [f"claude-{i}" for i in range(5)], page=2)
        fake.add("google", "gemini", [f"gemini-{i}" for i in range(5)], page=2)
        fake.add("bad", "openai", ["x"], key_rejected=True)
        fake.add("slow", "openai", ["x"], delay=3)
        fake.add("drip", "openai", ["x" * 200], trickle=0.05)  # ~2 s of body: past the whole-answer deadline
        fake.add("plain", "openai", [], no_list=True)

        def target(name: str, api: str, key: str | None = "k") -> Target:
            return Target(name, api, fake.base_url(name), key, key_env=f"{name.upper()}_KEY")

        got = list_all(
            [
                target("groq", "openai"),
                target("together", "openai"),
                target("anthropic", "anthropic"),
                target("google", "gemini"),
                target("bad", "openai"),
                target("slow", "openai"),
                target("drip", "openai"),
                target("plain", "openai"),
                Target("nokey", "openai", "http://127.0.0.1:9/v1", None, key_env="NOKEY_KEY"),
            ],
            timeout=0.5,
        )
        assert got["groq"].ids == ("a", "b")
        assert got["together"].ids == ("meta-llama/Llama-3.3-70B-Instruct-Turbo",)
        assert got["anthropic"].ids == tuple(f"claude-{i}" for i in range(5))
        assert got["google"].ids == tuple(f"gemini-{i}" for i in range(5))
        assert got["bad"].problem == "key_rejected" and got["slow"].problem == "unreachable"
        assert got["drip"].problem == "unreachable"  # every byte came in time, the whole answer did not
        assert got["plain"].problem == "not_listable" and "HTTP 404" in got["plain"].detail
        assert got["nokey"].problem == "key_not_set" and "$NOKEY_KEY" in got["nokey"].detail
        assert fake.seen("groq")[0]["authorization"] == "Bearer k"
        twins = list_all([target("groq", "openai"), target("groq", "openai")._replace(name="groq/turbo")])
        assert twins["groq/turbo"] == twins["groq"] and len(fake.seen("groq")) == 2  # one more request, not two
        assert fake.seen("anthropic")[0]["x-api-key"] == "k" and "anthropic-version" in fake.seen("anthropic")[0]
        assert fake.seen("google")[0]["x-goog-api-key"] == "k"


# -- import --verify against the providers' own lists ----------------------------------------------------
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


# -- models.dev, end to end --------------------------------------------------------------------------
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
    run = cli(
        "profiles",
        "import",
        "models.dev",
        "--from",
        str(MODELS_DEV),
        "-m",
        LLAMA,
        "-m",
        "openai/gpt-4o-mini",
        "--into",
        "x",
        "--json",
    )
    assert run.code == 0, run
    doc = run.json()
    assert "azure" in doc["unmapped"] and "deployment names" in doc["unmapped"]["azure"][0]
    written = tomllib.loads((user_dir(cli) / "x.toml").read_text())
    assert "azure" not in written["providers"]
    pairs = {(e["provider"], e["upstream_model"]) for e in written["endpoint"]}
    assert ("openai", "gpt-4o-mini") in pairs and ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo") in pairs
    again = cli(
        "profiles",
        "import",
        "models.dev",
        "--from",
        str(MODELS_DEV),
        "-m",
        LLAMA,
        "-m",
        "openai/gpt-4o-mini",
        "--into",
        "x",
    )
    assert again.code == 0 and again.out == "" and "already up to date" in again.err, again


# -- refresh, don't duplicate --------------------------------------------------------------------------
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


# -- concurrent writers --------------------------------------------------------------------------------
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


# -- hostile catalogues --------------------------------------------------------------------------------
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


# -- profiles check --online ---------------------------------------------------------------------------
def _online_profile(fake: ModelLists, path: Path, refused: str) -> None:
    providers = {
        "groq": ("openai", fake.base_url("groq")),
        "together": ("openai", fake.base_url("together")),
        "anthropic": ("anthropic", fake.base_url("anthropic")),
        "google": ("gemini", fake.base_url("google")),
        "bad": ("openai", fake.base_url("bad")),
        "slow": ("openai", fake.base_url("slow")),
        "gone": ("openai", refused),
        "nokey": ("openai", fake.base_url("groq")),
        "plain": ("openai", fake.base_url("plain")),
    }
    endpoints = [
        ("m/llama", "groq", "llama-3.3-70b-versatile"),
        ("m/llama-old", "groq", "llama-3.3-70b-specdec"),
        ("m/llama", "together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
        ("m/claude", "anthropic", "claude-sonnet-4-5"),  # an undated alias of a listed dated id
        ("m/gemini", "google", "gemini-2.5-flash"),  # listed as models/gemini-2.5-flash, on page 3
        ("m/x", "bad", "x"),
        ("m/x", "slow", "x"),
        ("m/x", "gone", "x"),
        ("m/x", "nokey", "x"),
        ("m/x", "plain", "x"),
    ]
    text = "".join(
        f'[providers.{n}]\nbase_url = "{url}"\napi = "{api}"\napi_key_env = "{n.upper()}_KEY"\n'
        for n, (api, url) in providers.items()
    )
    text += "".join(
        f'[[endpoint]]\nmodel = "{m}"\nprovider = "{p}"\nupstream_model = "{u}"\nprice = {{ prompt = 1, completion = 1 }}\n'
        for m, p, u in endpoints
    )
    path.write_text(text)


def test_check_online_finds_unknown_ids_rejected_keys_and_unreachable_providers(cli, tmp_path):
    from upstream import refused_base_url

    with ModelLists() as fake:
        fake.add("groq", "openai", ["llama-3.3-70b-versatile", "llama-3.1-8b-instant", "llama-3.3-70b-specdec-v2"])
        fake.add("together", "together", ["meta-llama/Llama-3.3-70B-Instruct-Turbo"])
        fake.add("anthropic", "anthropic", ["claude-opus-4-1-20250805", "claude-sonnet-4-5-20250929"], page=1)
        fake.add("google", "gemini", ["gemini-2.0-flash", "gemini-2.5-pro", "gemini-2.5-flash"], page=1)
        fake.add("bad", "openai", ["x"], key_rejected=True)
        fake.add("slow", "openai", ["x"], delay=8)
        fake.add("plain", "openai", [], no_list=True)  # a server without a list: noted, not a problem
        path = tmp_path / "profile-online.toml"
        _online_profile(fake, path, refused_base_url())
        cli.set_keys(
            {
                f"{n.upper()}_KEY": f"{n}-key-0123456789"
                for n in ("groq", "together", "anthropic", "google", "bad", "slow", "gone", "plain")
            }
        )
        offline = cli("profiles", "check", str(path), "--json")
        assert offline.code == 1 and fake.seen("groq") == []  # without --online: no request at all
        assert {p["code"] for p in offline.json()["problems"]} == {"key_not_set"}
        run = cli("profiles", "check", str(path), "--online", "--json")
        assert run.code == 1, run
        assert run.elapsed < 8  # every provider at once, each within a short timeout
        found = {(p["code"], p["subject"]): p["detail"] for p in run.json()["problems"]}
        assert set(found) == {
            ("key_not_set", "nokey"),
            ("key_rejected", "bad"),
            ("unreachable", "slow"),
            ("unreachable", "gone"),
            ("unknown_upstream_model", "m/llama-old on groq"),
        }
        assert (
            "closest: llama-3.3-70b-specdec-v2, llama-3.3-70b-versatile"
            in found[("unknown_upstream_model", "m/llama-old on groq")]
        )
        online = run.json()["online"]
        assert set(online["checked"]) == {"groq", "together", "anthropic", "google", "bad", "slow", "gone"}
        assert online["not_checked"][0] == {"provider": "nokey", "reason": "$NOKEY_KEY is not set"}
        assert online["not_checked"][1]["provider"] == "plain" and "no model list" in online["not_checked"][1]["reason"]
        assert len(fake.seen("anthropic")) == 2 and len(fake.seen("google")) == 3  # every page was read
        table = cli("profiles", "check", str(path), "--online")
        assert table.code == 1 and "unknown_upstream_model" in table.out and "5 problem(s)" in table.err


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


def test_models_dev_lists_ambiguous_offerings_and_writes_cloud_ones_only_with_their_settings():
    from orcli.profile import models_dev

    doc = json.loads(MODELS_DEV.read_text())
    doc["twins"] = {
        "id": "twins",
        "npm": "@ai-sdk/openai-compatible",
        "api": "https://twins.example/v1",
        "env": [],
        "models": {"Llama-3.3-70B-Instruct-Turbo": {}, "Llama-3.3-70B-Instruct-FP8": {}},
    }
    catalogue = models_dev.parse(json.dumps(doc), "api.json")
    claude = "anthropic/claude-sonnet-4.5"
    with_cloud = ("openai", "anthropic", "gemini", "bedrock", "vertex", "vertex-anthropic")
    found = models_dev.to_profile(
        catalogue,
        [LLAMA, claude],
        ["twins", "amazon-bedrock", "google-vertex-anthropic"],
        with_cloud,
        {"AWS_REGION": "eu-west-1"},
    )
    assert found.ambiguous == [(LLAMA, "twins", ("Llama-3.3-70B-Instruct-Turbo", "Llama-3.3-70B-Instruct-FP8"))]
    bedrock = next(e for e in found.endpoints if e["provider"] == "amazon-bedrock")
    assert bedrock["upstream_model"] == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert found.providers["amazon-bedrock"] == {
        "base_url": "https://bedrock-runtime.eu-west-1.amazonaws.com",
        "api": "bedrock",
        "region": "eu-west-1",
        "data_collection": "allow",
        "zdr": False,
    }
    assert found.unsupported == {
        "google-vertex-anthropic": [f"{claude}: needs `project`: set $GOOGLE_VERTEX_PROJECT and run again"]
    }
    without = models_dev.to_profile(catalogue, [claude], ["amazon-bedrock"], ("openai",), {})
    assert without.unsupported == {"amazon-bedrock": [f"{claude}: the `bedrock` dialect is not in this orcli"]}


def test_a_base_url_placeholder_is_filled_from_the_environment_or_listed():
    from orcli.profile import models_dev

    doc = {
        "acct": {
            "id": "acct",
            "npm": "@ai-sdk/openai-compatible",
            "env": ["ACCT_API_KEY"],
            "api": "https://${ACCT_NAME}.acct.example/v1",
            "models": {"vendor/model-x": {}},
        },
        "evil": {
            "id": "evil",
            "npm": "@ai-sdk/openai-compatible",
            "env": [],
            "api": "https://$(touch /tmp/x).example/v1",
            "models": {"vendor/model-x": {}},
        },
    }
    catalogue = models_dev.parse(json.dumps(doc), "api.json")
    unset = models_dev.to_profile(catalogue, ["vendor/model-x"], [], ("openai",), {})
    assert unset.unsupported["acct"] == ["vendor/model-x: its base URL needs your $ACCT_NAME: set it and run again"]
    assert "the catalogue gives no base URL" in unset.unsupported["evil"][0]  # not a URL orcli would write
    hostile = models_dev.to_profile(catalogue, ["vendor/model-x"], ["acct"], ("openai",), {"ACCT_NAME": "x/@evil.com"})
    assert "needs your $ACCT_NAME" in hostile.unsupported["acct"][0]
    filled = models_dev.to_profile(catalogue, ["vendor/model-x"], ["acct"], ("openai",), {"ACCT_NAME": "mine"})
    assert filled.providers["acct"]["base_url"] == "https://mine.acct.example/v1"


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
