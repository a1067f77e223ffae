"""docs/profiles.md#managing-profiles: `profiles check` finds what validation lets through; `profiles init` cuts the example down to
the providers whose keys are set."""

from __future__ import annotations

import tomllib

from orcli.profile.check import CODES, check_profile
from orcli.profile.parse import parse_profile
from orcli.profile.resolve import bundled_profiles_dir
from orcli.profile.write import profile_text, starter_data

CLEAN = {
    "routing": {"models": ["m"], "order": ["a"], "ignore": ["b/turbo"]},
    "providers": {
        "a": {"base_url": "https://a.example/v1", "api_key_env": "A_KEY"},
        "b/turbo": {"base_url": "http://127.0.0.1:8000/v1"},  # loopback http is fine, no key needed
    },
    "endpoint": [
        {"model": "m", "provider": "a", "price": {"prompt": 1, "completion": 1}},
        {"model": "m", "provider": "b/turbo", "price": {"prompt": 0, "completion": 0}},
    ],
}


def _check(data, env):
    return check_profile(parse_profile(profile_text(data, "p.toml"), "p.toml"), env)


def test_a_clean_profile_has_no_problems():
    assert _check(CLEAN, {"A_KEY": "set"}) == []


def test_an_empty_key_is_not_set():
    assert [(p.code, p.subject) for p in _check(CLEAN, {"A_KEY": "  "})] == [("key_not_set", "a")]


def test_a_base_name_in_order_matches_variants_and_a_typo_does_not():
    data = {**CLEAN, "routing": {"models": ["m"], "only": ["b", "c"]}}
    problems = _check(data, {"A_KEY": "set"})
    assert [(p.code, p.subject) for p in problems] == [("unknown_name", "routing.only")]
    assert "`c`" in problems[0].detail


def test_problems_come_in_code_order():
    data = {
        "routing": {"models": ["ghost"], "ignore": ["zz"]},
        "providers": {
            "a": {"base_url": "http://a.example/v1", "api_key_env": "A_KEY"},
            "idle": {"base_url": "https://i.example"},
        },
        "endpoint": [{"model": "m", "provider": "a"}],
    }
    codes = [p.code for p in _check(data, {})]
    assert codes == sorted(codes, key=CODES.index)
    assert set(codes) == set(CODES)


def test_init_keeps_keyed_and_keyless_providers_only():
    example = {
        "routing": {"models": ["x", "y"]},
        "providers": {
            "a": {"base_url": "https://a.example", "api_key_env": "A_KEY"},
            "b": {"base_url": "https://b.example", "api_key_env": "B_KEY"},
            "local": {"base_url": "http://127.0.0.1:1/v1"},
        },
        "endpoint": [
            {"model": "x", "provider": "b"},
            {"model": "y", "provider": "a"},
            {"model": "z", "provider": "local"},
        ],
    }
    data, kept, by_key = starter_data(example, {"A_KEY": "k"})
    assert (kept, by_key) == (["a", "local"], True)
    assert data["routing"]["models"] == ["y"]  # x lost its only provider
    assert [e["provider"] for e in data["endpoint"]] == ["a", "local"]
    none_set, kept_all, by_key_none = starter_data(example, {})
    assert kept_all == ["a", "b", "local"] and by_key_none is False and none_set == example


def test_init_from_the_bundled_example_always_writes_a_loadable_profile():
    example = tomllib.loads((bundled_profiles_dir() / "example.toml").read_text())
    for env in ({}, {"GROQ_API_KEY": "k"}, {"OPENAI_API_KEY": "k", "MISTRAL_API_KEY": "k"}):
        data, _, _ = starter_data(example, env)
        text = profile_text(data, "starter.toml")
        assert tomllib.loads(text) == data
        assert parse_profile(text, "starter.toml").endpoints


def test_the_bundled_example_reaches_providers_as_the_import_table_does():
    """The example and the import's provider table must not drift apart: an import into the example would
    otherwise add a second spelling of the same provider."""
    from orcli.profile.provider_table import KNOWN_PROVIDERS

    example = tomllib.loads((bundled_profiles_dir() / "example.toml").read_text())
    shared = [name for name in example["providers"] if name in KNOWN_PROVIDERS]
    assert shared, "the example names no provider the import table knows"
    for name in shared:
        table, known = example["providers"][name], KNOWN_PROVIDERS[name]
        assert table["base_url"].rstrip("/") == known.base_url, name
        assert table.get("api", "openai") == known.api, name
