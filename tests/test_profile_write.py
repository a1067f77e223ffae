"""docs/profiles.md#managing-profiles: profiles written with tomli-w load back to the same data; imports merge and say what changed;
a write is validated first and replaces the old file atomically."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcli.errors import ProfileError
from orcli.profile import write as profile_write
from orcli.profile.catalogue import parse_catalogue, to_profile
from orcli.profile.parse import parse_profile
from orcli.profile.resolve import load_profile_file
from orcli.profile.write import diff_lines, merge_import, profile_text, save_profile

DATA = Path(__file__).parent / "data" / "openrouter"
LLAMA = "meta-llama/llama-3.3-70b-instruct"

USER_PROFILE = {
    "routing": {"models": [LLAMA], "order": ["groq"], "sort": "price"},
    "timeouts": {"first_token": 12},
    "providers": {
        "groq": {"base_url": "https://my-proxy.example/groq/v1", "api_key_env": "MY_GROQ", "zdr": True},
        "local": {"base_url": "http://127.0.0.1:11434/v1"},
    },
    "endpoint": [
        {
            "model": LLAMA,
            "provider": "groq",
            "upstream_model": "llama-3.3-70b-versatile",
            "price": {"prompt": 0.5, "completion": 0.7},
            "context_length": 8192,
            "parameters": ["temperature"],
            "latency": 0.1,
        },
        {"model": "llama3.2", "provider": "local", "price": {"prompt": 0, "completion": 0}},
    ],
}


def _imported(models=None):
    cat = parse_catalogue((DATA / "endpoints-three-models.json").read_text(), "three.json")
    endpoints = [e for e in cat.endpoints if models is None or e.model in models]
    return to_profile(endpoints, ["openai"])


def test_written_text_loads_back_to_the_same_data_and_validates(tmp_path):
    imported = _imported()
    data = {"routing": {"models": [LLAMA]}, "providers": imported.providers, "endpoint": imported.endpoints}
    text = profile_text(data, tmp_path / "p.toml", header="imported\nfrom OpenRouter")
    assert text.startswith("# imported\n# from OpenRouter\n")
    assert tomllib.loads(text) == data
    profile = parse_profile(text, "p.toml")
    groq = next(e for e in profile.endpoints if e.provider == "groq" and e.model == LLAMA)
    assert (groq.price.prompt, groq.price.completion) == (0.59, 0.79)
    assert groq.latency == 0.21


def test_merge_refreshes_prices_and_limits_and_keeps_what_the_user_wrote():
    imported = _imported({LLAMA})
    merged, changes = merge_import(USER_PROFILE, imported.providers, imported.endpoints)
    groq = next(e for e in merged["endpoint"] if e["provider"] == "groq")
    assert groq["price"] == {"prompt": 0.59, "completion": 0.79}
    assert groq["context_length"] == 131072
    assert groq["max_completion_tokens"] == 32768  # absent before: set
    assert groq["upstream_model"] == "llama-3.3-70b-versatile"  # the user's name for it stays
    assert groq["parameters"] == ["temperature"]  # written by the user: not replaced
    assert groq["latency"] == 0.1
    assert groq["quantization"] == "fp16"  # absent before: filled in
    # The user's provider table, routing, timeouts and other endpoints are untouched.
    assert merged["providers"]["groq"] == USER_PROFILE["providers"]["groq"]
    assert merged["providers"]["local"] == USER_PROFILE["providers"]["local"]
    assert merged["routing"] == USER_PROFILE["routing"] and merged["timeouts"] == USER_PROFILE["timeouts"]
    assert merged["endpoint"][1] == USER_PROFILE["endpoint"][1]
    # New endpoints are appended, and their providers added from the table.
    assert [e["provider"] for e in merged["endpoint"][2:]] == [
        "deepinfra/fp8",
        "deepinfra/turbo",
        "together",
        "cerebras",
        "lambda",
    ]
    assert merged["providers"]["cerebras"]["base_url"] == "https://api.cerebras.ai/v1"
    assert USER_PROFILE["endpoint"][0]["price"] == {"prompt": 0.5, "completion": 0.7}  # input not mutated
    lines = diff_lines(changes)
    assert lines[0] == (
        f"~ updated endpoint {LLAMA} on groq: price {{prompt=0.5, completion=0.7}} -> "
        "{prompt=0.59, completion=0.79}; context_length 8192 -> 131072; max_completion_tokens 32768; "
        "quantization fp16; throughput 276.4"
    )
    assert f"+ added endpoint {LLAMA} on lambda: price unknown" not in lines  # lambda has a price
    assert any(line.startswith(f"+ added endpoint {LLAMA} on cerebras: price {{prompt=0.85") for line in lines)
    assert "+ added provider cerebras: base_url https://api.cerebras.ai/v1" in lines
    assert not any("added provider groq" in line for line in lines)
    parse_profile(profile_text(merged, "merged.toml"), "merged.toml")


def test_importing_the_same_catalogue_twice_changes_nothing():
    imported = _imported()
    once, _ = merge_import(USER_PROFILE, imported.providers, imported.endpoints)
    twice, changes = merge_import(once, imported.providers, imported.endpoints)
    assert twice == once
    assert changes == []


def test_a_provider_the_user_named_differently_is_recognised_by_its_base_url():
    user = {
        "providers": {"my-groq": {"base_url": "https://api.groq.com/openai/v1/", "api_key_env": "MINE"}},
        "endpoint": [{"model": LLAMA, "provider": "my-groq", "price": {"prompt": 1, "completion": 1}}],
    }
    imported = _imported({LLAMA})
    merged, changes = merge_import(user, imported.providers, imported.endpoints)
    assert "groq" not in merged["providers"]
    assert [e["provider"] for e in merged["endpoint"]].count("my-groq") == 1
    assert merged["endpoint"][0]["price"] == {"prompt": 0.59, "completion": 0.79}
    lines = diff_lines(changes)
    assert lines[0] == "= same provider groq is my-groq in this profile (same base_url and api)"
    assert lines[1].startswith(f"~ updated endpoint {LLAMA} on my-groq: price")
    parse_profile(profile_text(merged, "m.toml"), "m.toml")


def test_two_providers_at_one_url_are_not_guessed_between():
    user = {
        "providers": {
            "a": {"base_url": "https://api.groq.com/openai/v1"},
            "b": {"base_url": "https://api.groq.com/openai/v1"},
        },
    }
    imported = _imported({LLAMA})
    merged, _ = merge_import(user, imported.providers, imported.endpoints)
    assert "groq" in merged["providers"]  # added under OpenRouter's name, a and b left alone


def test_an_unknown_price_in_the_catalogue_keeps_the_users_price():
    user = {
        "providers": {"novita": {"base_url": "https://api.novita.ai/v3/openai"}},
        "endpoint": [
            {"model": "qwen/qwen-2.5-72b-instruct", "provider": "novita", "price": {"prompt": 0.3, "completion": 0.4}}
        ],
    }
    imported = _imported({"qwen/qwen-2.5-72b-instruct"})
    merged, changes = merge_import(user, imported.providers, imported.endpoints)
    assert merged["endpoint"][0]["price"] == {"prompt": 0.3, "completion": 0.4}
    assert "+ added endpoint qwen/qwen-2.5-72b-instruct on novita" not in " ".join(diff_lines(changes))


def test_a_variant_written_as_a_nested_table_counts_as_present():
    user = {
        "providers": {"deepinfra": {"turbo": {"base_url": "https://mine.example/v1"}}},
        "endpoint": [{"model": LLAMA, "provider": "deepinfra/turbo"}],
    }
    imported = _imported({LLAMA})
    merged, changes = merge_import(user, imported.providers, imported.endpoints)
    assert "deepinfra/turbo" not in merged["providers"]
    assert merged["providers"]["deepinfra"]["turbo"] == {"base_url": "https://mine.example/v1"}
    parse_profile(profile_text(merged, "m.toml"), "m.toml")


def test_save_refuses_an_invalid_profile_and_leaves_the_old_file(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("# mine\n[routing]\nmodels = ['x']\n")
    before = path.read_bytes()
    bad = {"endpoint": [{"model": "x", "provider": "nobody"}]}
    with pytest.raises(ProfileError, match="unknown provider `nobody`"):
        save_profile(path, bad)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]  # no temp file, no backup left behind


def test_save_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "p.toml"
    path.write_text("# mine\n")
    os.chmod(path, 0o640)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(profile_write.os, "replace", broken_replace)
    with pytest.raises(Exception, match="No space left"):
        save_profile(path, {"routing": {"models": ["m"]}}, backup=False)
    monkeypatch.undo()
    assert path.read_text() == "# mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]


def test_save_replaces_keeps_permissions_and_a_backup(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("# my comments\n[routing]\nmodels = ['x']\n")
    os.chmod(path, 0o600)
    backup = save_profile(path, {"routing": {"models": ["y"]}})
    assert backup == tmp_path / "p.toml.bak"
    assert backup.read_text().startswith("# my comments")
    assert tomllib.loads(path.read_text()) == {"routing": {"models": ["y"]}}
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_profile_file(path).routing["models"] == ["y"]


# -- property: any profile orcli writes loads without error ------------------------------------------
_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda s: s.strip() != ""
)
_slug = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
_price = st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False) | st.integers(0, 10_000)


@st.composite
def _profiles(draw):
    provider_names = draw(st.lists(_slug, min_size=1, max_size=4, unique=True))
    providers = {}
    for name in provider_names:
        table = {"base_url": f"https://{name}.example/v1", "api": "openai"}
        if draw(st.booleans()):
            table["api_key_env"] = name.upper().replace("-", "_") + "_KEY"
        table["data_collection"] = draw(st.sampled_from(["allow", "deny"]))
        table["zdr"] = draw(st.booleans())
        providers[name] = table
    pairs = draw(st.lists(st.tuples(_names, st.sampled_from(provider_names)), max_size=8, unique_by=lambda t: t))
    endpoints = []
    for model, provider in pairs:
        e = {"model": model, "provider": provider}
        if draw(st.booleans()):
            e["price"] = {"prompt": draw(_price), "completion": draw(_price)}
        if draw(st.booleans()):
            e["context_length"] = draw(st.integers(1, 2_000_000))
        if draw(st.booleans()):
            e["parameters"] = draw(st.lists(_names, max_size=4))
        if draw(st.booleans()):
            e["latency"] = draw(st.floats(0, 100, allow_nan=False))
        if draw(st.booleans()):
            e["upstream_model"] = draw(_names)
        endpoints.append(e)
    data = {"providers": providers}
    if endpoints:
        data["endpoint"] = endpoints
        data["routing"] = {"models": sorted({m for m, _ in pairs})[:2]}
    return data


@given(_profiles())
def test_any_profile_orcli_writes_loads_back_to_the_same_data(data):
    text = profile_text(data, "prop.toml")
    assert tomllib.loads(text) == data
    profile = parse_profile(text, "prop.toml")
    assert len(profile.endpoints) == len(data.get("endpoint", []))


@given(_profiles(), st.sampled_from(["endpoints-three-models.json", "endpoints-llama-3.3-70b.json"]))
def test_any_import_merged_into_any_written_profile_still_loads(data, fixture):
    cat = parse_catalogue((DATA / fixture).read_text(), fixture)
    imported = to_profile(cat.endpoints, ["openai"])
    merged, _ = merge_import(data, imported.providers, imported.endpoints)
    text = profile_text(merged, "merged.toml")
    assert tomllib.loads(text) == merged
    parse_profile(text, "merged.toml")


def test_a_new_profile_gets_the_users_umask(tmp_path):
    old = os.umask(0o077)
    try:
        save_profile(tmp_path / "new.toml", {"routing": {"models": ["m"]}})
    finally:
        os.umask(old)
    assert (tmp_path / "new.toml").stat().st_mode & 0o777 == 0o600
