"""The profile's fields are declared once (orcli/profile/fields.py): the types' defaults follow the
declaration, every declared key is accepted and checked by its kind, and a key a dialect declares is read from
the dialect's registration into `Provider.settings`."""

from __future__ import annotations

import pytest

from orcli.errors import ProfileError
from orcli.profile import fields as declared
from orcli.profile.fields import Field, Kind
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


@pytest.fixture
def region_key(monkeypatch: pytest.MonkeyPatch) -> Field:
    """A required choice key declared by the azure dialect, as a cloud dialect's region would be."""
    region = Field("region", Kind.CHOICE, None, "where the model runs", True, ("eu", "us"), dialect="azure")
    monkeypatch.setattr(declared, "DIALECT_FIELDS", (*declared.DIALECT_FIELDS, region))
    monkeypatch.setattr(declared, "ALL_PROVIDER_FIELDS", (*declared.ALL_PROVIDER_FIELDS, region))
    return region


def _provider(api: str, extra: str) -> str:
    return f'[providers.p]\napi = "{api}"\nbase_url = "https://p.example/v1"\n{extra}{ENDPOINT}'


def test_a_dialect_key_lands_in_the_providers_settings(region_key: Field) -> None:
    profile = parse_profile(_provider("azure", 'region = "eu"\n'), "p.toml")
    assert profile.providers["p"].settings == {"region": "eu"}


@pytest.mark.parametrize(
    ("api", "extra", "said"),
    [
        ("azure", "", "providers.p: missing `region` (where the model runs)"),
        ("azure", 'region = "mars"\n', 'providers.p.region: expected one of "eu" | "us", got \'mars\''),
        ("azure", "region = 3\n", "providers.p.region: expected a non-empty string"),
        ("openai", 'region = "eu"\n', 'providers.p.region: applies to api = "azure" only'),
    ],
)
def test_a_dialect_key_is_checked_by_its_declaration(region_key: Field, api: str, extra: str, said: str) -> None:
    with pytest.raises(ProfileError, match="invalid profile") as info:
        parse_profile(_provider(api, extra), "p.toml")
    assert said in info.value.message


def test_every_kind_of_value_has_a_reader_and_a_plain_case() -> None:
    from orcli.profile import readers

    assert set(readers.ACCEPT) == set(declared.KINDS) == set(readers.Readers("p.toml").readers)
    assert len(declared.KINDS) == len(set(declared.KINDS)) == 12
