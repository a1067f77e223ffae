"""docs/profiles.md#from-openrouter: OpenRouter's endpoints catalogue -> profile endpoints, in orcli's units, with odd values named."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from orcli.errors import OrcliError, UsageError
from orcli.profile.catalogue import (
    CATALOGUE_URL,
    endpoint_table,
    fetch_catalogue,
    known_provider,
    parse_catalogue,
    per_million,
    to_profile,
)

DATA = Path(__file__).parent / "data" / "openrouter"
THREE = DATA / "endpoints-three-models.json"
LLAMA = "meta-llama/llama-3.3-70b-instruct"
QWEN = "qwen/qwen-2.5-72b-instruct"
GPT = "openai/gpt-4o-mini"


def _catalogue():
    return parse_catalogue(THREE.read_text(), str(THREE))


def _by(catalogue, model, tag):
    return next(e for e in catalogue.endpoints if e.model == model and e.tag == tag)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.00000059", Decimal("0.59")),
        ("0.0000004", Decimal("0.4")),
        ("0.000003", Decimal("3")),
        ("0.000000042", Decimal("0.042")),
        ("0", Decimal("0")),
        ("0.00000000", Decimal("0")),
        (8.5e-07, Decimal("0.85")),  # a number instead of a string: no float noise either
        (1.2e-06, Decimal("1.2")),
        (0, Decimal("0")),
        ("  0.0000001 ", Decimal("0.1")),
    ],
)
def test_prices_become_usd_per_million_tokens_exactly(raw, expected):
    value = per_million(raw)
    assert value == expected
    assert str(value) == str(expected)  # written as a person would: 0.59, not 0.5900000000


@pytest.mark.parametrize("raw", [None, "", "n/a", "-1", -0.000001, True, [], {}, "NaN", "Infinity"])
def test_unusable_prices_are_unknown_not_zero(raw):
    assert per_million(raw) is None


def test_endpoint_values_are_carried_in_orcli_units():
    groq = _by(_catalogue(), LLAMA, "groq")
    assert groq.price == {"prompt": Decimal("0.59"), "completion": Decimal("0.79")}  # request "0" is left out
    assert groq.context_length == 131072
    assert groq.max_completion_tokens == 32768
    assert groq.quantization == "fp16"
    assert "tools" in groq.parameters and "response_format" in groq.parameters
    assert groq.latency == 0.21  # 210 ms (OpenRouter's latency is in milliseconds) -> seconds, like the profile's hint
    assert groq.throughput == 276.4  # tokens/s, p50


def test_price_given_as_a_number_converts_like_a_string():
    cerebras = _by(_catalogue(), LLAMA, "cerebras")
    assert cerebras.price == {"prompt": Decimal("0.85"), "completion": Decimal("1.2")}


def test_zero_prices_are_free_and_a_missing_price_is_unknown_with_a_note():
    cat = _catalogue()
    assert _by(cat, QWEN, "hyperbolic").price == {"prompt": 0, "completion": 0}
    assert _by(cat, QWEN, "novita").price is None
    assert any("novita" in n and "price unknown" in n and "pricing.completion" in n for n in cat.notes)


def test_null_context_and_unknown_quantization_are_left_out():
    cat = _catalogue()
    lam = _by(cat, LLAMA, "lambda")
    assert lam.context_length is None and lam.max_completion_tokens is None
    assert _by(cat, QWEN, "fireworks").quantization is None  # "unknown" says nothing
    table = endpoint_table(lam)
    assert "context_length" not in table and "max_completion_tokens" not in table
    assert "latency" not in table and "throughput" not in table  # null stats (unauthenticated) are no hint


def test_tags_map_to_known_providers_by_full_tag_then_base_slug():
    assert known_provider("deepinfra/fp8").base_url == "https://api.deepinfra.com/v1/openai"
    assert known_provider("groq").api_key_env == "GROQ_API_KEY"
    assert known_provider("google-vertex/us-east5") is None
    assert known_provider("acme-inference") is None


def test_unmapped_slugs_are_listed_with_their_models_never_guessed():
    imported = to_profile(_catalogue().endpoints, ["openai"])
    assert imported.unmapped == {
        "google-vertex/us-east5": [LLAMA],
        "acme-inference": [QWEN],
        "azure": [GPT],
    }
    names = {e["provider"] for e in imported.endpoints}
    assert not names & set(imported.unmapped)
    assert set(imported.providers) == names


def test_providers_are_named_by_tag_and_carry_the_table_row():
    imported = to_profile(_catalogue().endpoints, ["openai"])
    assert imported.providers["deepinfra/fp8"] == {
        "base_url": "https://api.deepinfra.com/v1/openai",
        "api": "openai",
        "api_key_env": "DEEPINFRA_API_KEY",
        "data_collection": "deny",
        "zdr": True,
    }
    llama = [e["provider"] for e in imported.endpoints if e["model"] == LLAMA]
    assert llama == ["groq", "deepinfra/fp8", "deepinfra/turbo", "together", "cerebras", "lambda"]


def test_a_known_provider_whose_dialect_this_orcli_lacks_is_listed_not_imported():
    anthropic = {
        "data": {
            "id": "anthropic/claude-3.5-haiku",
            "endpoints": [
                {"tag": "anthropic", "pricing": {"prompt": "0.0000008", "completion": "0.000004"}},
            ],
        }
    }
    cat = parse_catalogue(json.dumps(anthropic), "x.json")
    assert to_profile(cat.endpoints, ["openai"]).unmapped == {"anthropic": ["anthropic/claude-3.5-haiku"]}
    with_dialect = to_profile(cat.endpoints, ["openai", "anthropic"])
    assert with_dialect.providers["anthropic"]["api"] == "anthropic"
    assert with_dialect.endpoints[0]["price"] == {"prompt": 0.8, "completion": 4}


def test_endpoint_table_writes_only_what_the_catalogue_says():
    table = endpoint_table(_by(_catalogue(), QWEN, "novita"))
    assert table == {
        "model": QWEN,
        "provider": "novita",
        "context_length": 32000,
        "max_completion_tokens": 4096,
        "parameters": table["parameters"],
    }


def test_a_single_response_file_is_read_too():
    cat = parse_catalogue((DATA / "endpoints-llama-3.3-70b.json").read_text(), "llama.json")
    assert {e.model for e in cat.endpoints} == {LLAMA}
    assert len(cat.endpoints) == 7


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", '{"data": []}', '{"data": {"id": "a/b"}}', '{"error": {"message": "nope"}}'],
)
def test_a_file_that_is_not_an_endpoints_response_is_a_usage_error(text):
    with pytest.raises(UsageError) as info:
        parse_catalogue(text, "saved.json")
    assert "saved.json" in info.value.message


def test_odd_endpoints_are_skipped_with_a_note():
    doc = {"data": {"id": "a/b", "endpoints": ["oops", {"pricing": {}}, {"tag": "groq", "pricing": {}}]}}
    cat = parse_catalogue(json.dumps(doc), "f.json")
    assert [e.tag for e in cat.endpoints] == ["groq"]
    assert any("not an object" in n for n in cat.notes)
    assert any("no provider tag" in n for n in cat.notes)


def test_fetch_asks_the_documented_url_per_model_and_maps_errors():
    llama = (DATA / "endpoints-llama-3.3-70b.json").read_bytes()
    asked = []

    def get(url):
        asked.append(url)
        return (200, llama) if "llama" in url else (404, b"{}")

    cat = fetch_catalogue([LLAMA], get)
    assert asked == ["https://openrouter.ai/api/v1/models/meta-llama/llama-3.3-70b-instruct/endpoints"]
    assert asked[0] == CATALOGUE_URL.format(model=LLAMA)
    assert len(cat.endpoints) == 7
    with pytest.raises(UsageError, match="no model `nobody/none`"):
        fetch_catalogue(["nobody/none"], get)
    with pytest.raises(OrcliError, match="HTTP 503"):
        fetch_catalogue([LLAMA], lambda url: (503, b""))
    with pytest.raises(UsageError, match="not an OpenRouter model id"):
        fetch_catalogue(["../../etc/passwd"], get)


# -- the network fetch, through httpx.MockTransport (no test reaches openrouter.ai) ------------------------
def _mock_client(monkeypatch, handler):
    import httpx

    from orcli.execution import transport

    monkeypatch.setattr(transport, "make_client", lambda: httpx.Client(transport=httpx.MockTransport(handler)))


def test_fetch_over_http_sends_no_key_and_reads_each_model(monkeypatch):
    from orcli.commands.profiles_import import _fetch_openrouter as _fetch

    seen = []

    def handler(request):
        import httpx

        seen.append(request)
        return httpx.Response(200, content=(DATA / "endpoints-llama-3.3-70b.json").read_bytes())

    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-must-not-be-sent")
    _mock_client(monkeypatch, handler)
    cat = _fetch([LLAMA])
    assert [str(r.url) for r in seen] == [CATALOGUE_URL.format(model=LLAMA)]
    assert "authorization" not in seen[0].headers and seen[0].method == "GET"
    assert seen[0].headers["user-agent"].startswith("orcli/")
    assert len(cat.endpoints) == 7


def test_fetch_failures_are_one_clear_error_pointing_at_from(monkeypatch):
    import httpx

    from orcli.commands.profiles_import import MAX_CATALOGUE_BYTES
    from orcli.commands.profiles_import import _fetch_openrouter as _fetch

    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    _mock_client(monkeypatch, refuse)
    with pytest.raises(OrcliError, match="cannot reach OpenRouter's catalogue.*--from FILE"):
        _fetch([LLAMA])
    _mock_client(monkeypatch, lambda request: httpx.Response(200, content=b"x" * (MAX_CATALOGUE_BYTES + 10)))
    with pytest.raises(OrcliError, match="larger than"):
        _fetch([LLAMA])
    _mock_client(monkeypatch, lambda request: httpx.Response(200, content=b"<html>rate limited</html>"))
    with pytest.raises(OrcliError, match="not JSON"):
        _fetch([LLAMA])


def test_only_the_wanted_models_of_a_saved_file_are_read():
    cat = parse_catalogue(THREE.read_text(), "three.json", wanted=[GPT])
    assert {e.model for e in cat.endpoints} == {GPT}
    assert cat.models == (LLAMA, QWEN, GPT)
    assert not any("novita" in n for n in cat.notes)


def test_names_from_the_network_with_control_characters_never_get_through():
    hostile = {
        "data": {
            "id": "a/b",
            "endpoints": [
                {"tag": "deepinfra/\x1b[31mred", "pricing": {"prompt": "0", "completion": "0"}},
                {
                    "tag": "groq",
                    "pricing": {"prompt": "0", "completion": "0"},
                    "quantization": "fp8\x1b]0;title\x07",
                    "supported_parameters": ["tools", "temp\x1b[2J", 3, ""],
                },
            ],
        }
    }
    cat = parse_catalogue(json.dumps(hostile), "h.json")
    assert [e.tag for e in cat.endpoints] == ["groq"]
    groq = cat.endpoints[0]
    assert groq.quantization is None and groq.parameters == ("tools",)
    assert not any("\x1b" in n for n in cat.notes)
    assert any("not a slug" in n for n in cat.notes)
