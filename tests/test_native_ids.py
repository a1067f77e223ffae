"""Issue 21: which provider-native id is which model (the truth table), and how a models.dev offering becomes
a provider table: cloud settings, placeholders, ambiguity. Pure functions, no process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orcli.profile import model_ids

DATA = Path(__file__).parent / "data"
MODELS_DEV = DATA / "models.dev" / "api.json"
LLAMA = "meta-llama/llama-3.3-70b-instruct"


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
