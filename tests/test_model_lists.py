"""Issue 21: providers' model lists as they really answer (checked against the official SDKs), and
`orcli profiles check --online` against loopback fakes: unknown ids, rejected keys, unreachable providers."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_harness import Cli
from fake_model_lists import ModelLists

from orcli.profile.model_lists import Target, list_all


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(None, tmp_path)


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
        assert table.code == 1 and "unknown_upstream_model" in table.out and "5 problems" in table.err
