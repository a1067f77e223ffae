"""The profile's fields are declared once (orcli/profile/fields.py): the types' defaults follow the
declaration, every declared key is accepted and checked by its kind, and a key a dialect declares is read from
the dialect's registration into `Provider.settings`."""

from __future__ import annotations

import pytest

from orcli.errors import ProfileError
from orcli.profile import fields as declared
from orcli.profile.parse import parse_profile
from orcli.types import BudgetSettings, Endpoint, HealthSettings, Price, Provider, Timeouts

ENDPOINT = '[[endpoint]]\nmodel = "m"\nprovider = "p"\n'


@pytest.mark.parametrize(
    ("fields", "type_"),
    [
        (declared.TIMEOUT_FIELDS, Timeouts),
        (declared.HEALTH_FIELDS, HealthSettings),
        (declared.BUDGET_FIELDS, BudgetSettings),
        (declared.PRICE_FIELDS, Price),
        (declared.PROVIDER_FIELDS, Provider),
        (declared.ENDPOINT_FIELDS, Endpoint),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_every_declared_field_is_a_field_of_its_type_with_the_same_default(fields, type_) -> None:
    for field in fields:
        assert field.key in type_._fields, field.key
        default = type_._field_defaults.get(field.key)
        if field.key in ("headers", "parameters", "upstream_model"):  # built from the value: a map, a set, model
            continue
        assert field.default == default, field.key


def test_a_profile_without_sections_takes_every_declared_default() -> None:
    profile = parse_profile(f'[providers.p]\nbase_url = "https://p.example/v1"\n{ENDPOINT}', "p.toml")
    assert profile.timeouts == Timeouts(**{f.key: f.default for f in declared.TIMEOUT_FIELDS})
    assert profile.health == HealthSettings(**{f.key: f.default for f in declared.HEALTH_FIELDS})
    provider = profile.providers["p"]
    for field in declared.PROVIDER_FIELDS:
        if field.key not in ("base_url", "headers"):
            assert getattr(provider, field.key) == field.default, field.key


def test_an_unknown_key_in_any_declared_table_suggests_the_nearest_declared_one() -> None:
    text = (
        '[timeouts]\nconect = 5\n[health]\ncooldwn = 3\n[providers.p]\nbase_url = "https://p.example/v1"\n'
        'data_colection = "deny"\n[[endpoint]]\nmodel = "m"\nprovider = "p"\ncontext_lenght = 8\n'
    )
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "p.toml")
    message = info.value.message
    for wrong, right in [
        ("timeouts.conect", "connect"),
        ("health.cooldwn", "cooldown"),
        ("providers.p.data_colection", "data_collection"),
        ("endpoint[1].context_lenght", "context_length"),
    ]:
        assert f"{wrong}: unknown key. Did you mean `{right}`?" in message
    assert len(info.value.problems) == 4


def _provider(api: str, extra: str) -> str:
    return f'[providers.p]\napi = "{api}"\n{extra}{ENDPOINT}'


def test_a_dialect_key_lands_in_the_providers_settings_and_gives_the_default_base_url() -> None:
    profile = parse_profile(_provider("bedrock", 'region = "eu-west-1"\n'), "p.toml")
    provider = profile.providers["p"]
    assert provider.settings == {"region": "eu-west-1"}
    assert provider.base_url == "https://bedrock-runtime.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(
    ("api", "extra", "said"),
    [
        ("bedrock", "", "providers.p: missing `region` (the AWS region, e.g. us-east-1)"),
        ("bedrock", "region = 3\n", "providers.p.region: expected a non-empty string"),
        ("vertex", 'location = "global"\n', "providers.p: missing `project` (the Google Cloud project id)"),
        ("openai", 'base_url = "https://p.example/v1"\nregion = "eu"\n', 'applies to api = "bedrock" only'),
        (
            "openai",
            'base_url = "https://p.example/v1"\nanthropic_version = "2023-06-01"\n',
            'providers.p.anthropic_version: applies to api = "anthropic" or "vertex-anthropic" only',
        ),
    ],
)
def test_a_dialect_key_is_checked_by_its_declaration(api: str, extra: str, said: str) -> None:
    with pytest.raises(ProfileError, match="invalid profile") as info:
        parse_profile(_provider(api, extra), "p.toml")
    assert said in info.value.message


def test_every_dialect_key_is_read_once_whichever_dialects_declare_it() -> None:
    keys = [f.key for f in declared.DIALECT_FIELDS]
    assert len(keys) == len(set(keys))
    assert declared.DIALECT_OWNERS["anthropic_version"] == ("anthropic", "vertex-anthropic")


def test_every_kind_of_value_has_a_reader_and_a_plain_case() -> None:
    from orcli.profile import readers

    assert set(readers.ACCEPT) == set(declared.KINDS) == set(readers.Readers("p.toml").readers)
    assert len(declared.KINDS) == len(set(declared.KINDS)) == 12
