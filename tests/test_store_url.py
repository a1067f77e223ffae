"""Shared-store URLs and the Redis key layout, with plain values (no server): docs/security.md, docs/health.md#sharing-health-across-machines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcli.store.backend import configured_url
from orcli.store.redis import Garbage, decode, encode, endpoint_of, outcome_key
from orcli.store.values import outcome_values
from orcli.store_url import BadStoreURL, parse, redact
from orcli.types import FailureClass, HealthSettings, Outcome

SECRET = "pa55-word-Zq9"


@pytest.mark.parametrize(
    ("url", "host", "port", "db", "tls", "namespace"),
    [
        ("redis://h", "h", 6379, 0, False, "default"),
        ("redis://h:7000/3", "h", 7000, 3, False, "default"),
        ("REDISS://h/1?namespace=team-a", "h", 6379, 1, True, "team-a"),
        (f"redis://:{SECRET}@10.0.0.5:6380/0", "10.0.0.5", 6380, 0, False, "default"),
    ],
)
def test_store_url_is_parsed_into_host_port_db_tls_and_namespace(
    url: str, host: str, port: int, db: int, tls: bool, namespace: str
) -> None:
    target = parse(url)
    assert (target.host, target.port, target.db, target.tls, target.namespace) == (host, port, db, tls, namespace)
    assert SECRET not in target.shown


def test_password_and_username_come_from_the_url_and_only_the_username_is_shown() -> None:
    target = parse(f"rediss://ops:{SECRET}@cache.example:6380/2")
    assert (target.username, target.password) == ("ops", SECRET)
    assert target.shown == "rediss://ops@cache.example:6380/2"


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET}@h:6379/0",
        f"redis://user:{SECRET}@h",
        f"redis://:{SECRET[:4]}/{SECRET[4:]}@h/0",  # an unencoded `/` in the password
        f"redis://:{SECRET}?x@h",
    ],
)
def test_redacted_url_never_shows_any_part_of_the_password(url: str) -> None:
    shown = redact(url)
    assert SECRET[:4] not in shown and SECRET[4:] not in shown, shown


def test_password_and_username_are_accepted_in_the_query_as_redis_py_does_and_the_user_part_wins() -> None:
    target = parse(f"redis://h:6380/1?namespace=ml&username=ops&password={SECRET}")
    assert (target.username, target.password, target.namespace) == ("ops", SECRET, "ml")
    assert target.shown == "redis://h:6380/1?namespace=ml&username=***&password=***"
    both = parse(f"redis://admin:{SECRET}@h/0?password=other")
    assert (both.username, both.password) == ("admin", SECRET)


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET}@h/0",
        f"redis://ops:{SECRET}@h/0?namespace=ml",
        f"redis://h/0?password={SECRET}",
        f"redis://h/0?namespace=ml&password={SECRET}&username=ops",
        f"redis://h/0?username={SECRET}",
        f"redis://h/0?{SECRET}",
        f"redis://h/0?{SECRET}=x",
        f"redis://h/0?ssl_keyfile={SECRET}",
        f"redis://h/0?password={SECRET[:4]}@{SECRET[4:]}",
        f"redis://:{SECRET}@h/0?password={SECRET}#{SECRET}",
        f"rediss://h/0#{SECRET}",
        f"redis:/h/0?password={SECRET}",
        f"h/0?password={SECRET}",
    ],
)
def test_no_secret_bearing_part_of_a_store_url_is_ever_shown(url: str) -> None:
    shown = redact(url)
    assert SECRET[:4] not in shown and SECRET[4:] not in shown, shown
    try:
        target = parse(url)
    except BadStoreURL as exc:
        assert SECRET[:4] not in str(exc) and SECRET[4:] not in str(exc), exc
    else:
        assert SECRET[:4] not in target.shown and SECRET[4:] not in target.shown, target.shown


def test_a_query_password_in_a_profile_is_refused_like_one_in_the_user_part() -> None:
    from orcli.errors import ProfileError
    from orcli.profile.parse import parse_profile

    with pytest.raises(ProfileError) as info:
        parse_profile(PROFILE + f'store = "redis://h:6379/0?password={SECRET}"\n', "p.toml")
    assert "ORCLI_HEALTH_URL" in info.value.message and SECRET[:6] not in info.value.message


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://h:6379", "redis:// or rediss://"),
        ("redis://", "no host"),
        ("redis://h/zero", "database number"),
        ("redis://h/0?socket_timeout=1", "unknown URL option `socket_timeout`"),
        (f"redis://h/0?{SECRET}=1", "an unknown URL option, not named here"),
        ("redis://h/0?namespace=a&namespace=b", "`namespace` is given twice"),
        ("redis://h/0?namespace=a:b", "namespace must be"),
        ("redis://h:99999", "not a URL"),
    ],
)
def test_unusable_store_url_is_refused_with_a_reason(url: str, says: str) -> None:
    with pytest.raises(BadStoreURL, match=None) as info:
        parse(url)
    assert says in str(info.value)


def test_environment_url_wins_over_the_profile_and_blank_env_means_unset() -> None:
    settings = HealthSettings(store="redis://profile-host/0")
    assert configured_url(settings, {"ORCLI_HEALTH_URL": "redis://env-host/1"}) == (
        "redis://env-host/1",
        "ORCLI_HEALTH_URL",
    )
    assert configured_url(settings, {"ORCLI_HEALTH_URL": "  "}) == ("redis://profile-host/0", "[health] store")
    assert configured_url(HealthSettings(), {}) == (None, "[health] store")


def test_outcome_keys_live_under_the_orcli_prefix_and_namespace_and_survive_colons_in_names() -> None:
    key = outcome_key("team-a", "meta/llama:free", "deepinfra/turbo")
    assert key.startswith("orcli:team-a:outcomes:")
    assert endpoint_of(key, "team-a") == ("meta/llama:free", "deepinfra/turbo")
    assert endpoint_of(key, "team-b") is None
    assert outcome_key("a", "m:x", "p") != outcome_key("a", "m", "x:p")


def test_an_outcome_round_trips_through_its_member_encoding_without_model_or_provider_in_it() -> None:
    outcome = Outcome(1.5, "m", "p", False, FailureClass.STREAM, 200, 0.25, 0.1, 42.0, "stream broke", 3.0)
    member = encode(outcome, "n1")
    assert '"m"' not in member and '"p"' not in member  # they are the key
    assert decode(member, "m", "p") == outcome
    assert encode(outcome, "n1") != encode(outcome, "n2")  # equal outcomes stay two members


@pytest.mark.parametrize(
    "member",
    [
        b"not json",
        b"{}",
        b"[1,2]",
        b'[1,2,null,null,null,null,null,null,null,"n"]',
        b'["x",1,null,null,null,null,null,null,null,"n"]',
        b'[1,1,"nope",null,null,null,null,null,null,"n"]',
        b'[1,1,null,"500",null,null,null,null,null,"n"]',
    ],
)
def test_a_member_orcli_did_not_write_is_garbage(member: bytes) -> None:
    with pytest.raises(Garbage):
        decode(member, "m", "p")


PROFILE = """
[providers.p]
base_url = "https://p.example/v1"
[[endpoint]]
model = "m"
provider = "p"
[health]
"""


def test_profile_health_store_and_timeout_are_read_and_default_to_local_and_200_ms() -> None:
    from orcli.profile.parse import parse_profile

    plain = parse_profile(PROFILE, "p.toml").health
    assert (plain.store, plain.store_timeout) == (None, 0.2)
    text = PROFILE + 'store = "rediss://cache.internal:6380/2?namespace=ml"\nstore_timeout = 0.5\nwindow = 600\n'
    health = parse_profile(text, "p.toml").health
    assert (health.store, health.store_timeout, health.window) == (
        "rediss://cache.internal:6380/2?namespace=ml",
        0.5,
        600,
    )


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (f'store = "redis://:{SECRET}@h:6379/0"', "ORCLI_HEALTH_URL"),
        ('store = "memcached://h"', "redis:// or rediss://"),
        ("store = 6379", "expected a redis:// or rediss:// URL"),
        ("store_timeout = 0", "expected a finite number > 0"),
        ('store_timeout = "fast"', "expected a number"),
        ('stor = "redis://h"', "unknown key"),
    ],
)
def test_a_bad_health_store_setting_is_a_profile_error_that_never_echoes_a_password(line: str, says: str) -> None:
    from orcli.errors import ProfileError
    from orcli.profile.parse import parse_profile

    with pytest.raises(ProfileError) as info:
        parse_profile(PROFILE + line + "\n", "p.toml")
    assert says in info.value.message and "p.toml:" in info.value.message
    assert SECRET not in info.value.message and SECRET[:6] not in info.value.message


@given(
    st.builds(
        Outcome,
        at=st.floats(0, 4e9),
        model=st.text(min_size=1, max_size=30),
        provider=st.text(min_size=1, max_size=30),
        ok=st.booleans(),
        error_class=st.none() | st.sampled_from(list(FailureClass)),
        status=st.none() | st.integers(100, 599),
        latency_s=st.none() | st.floats(0, 1e6),
        ttft_s=st.none() | st.floats(0, 1e6),
        tokens_per_s=st.none() | st.floats(0, 1e6),
        error=st.none() | st.text(max_size=200),
        retry_after=st.none() | st.floats(-1e6, 1e6),
    )
)
def test_every_outcome_survives_the_key_and_member_encoding(outcome: Outcome) -> None:
    key = outcome_key("ns", outcome.model, outcome.provider)
    assert endpoint_of(key, "ns") == (outcome.model, outcome.provider)
    decoded = decode(encode(outcome, "n"), *endpoint_of(key, "ns"))  # type: ignore[misc]
    # A member carries the health fields (store/values.py); an attempt's usage goes to the per-day counters.
    assert (decoded.model, decoded.provider) == (outcome.model, outcome.provider)
    assert outcome_values(decoded) == outcome_values(outcome)
