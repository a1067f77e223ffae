"""redact: no key ever reaches the user, the JSON or the health store (docs/security.md)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcli.redact import REDACTED, redact

KEY = "gsk_live_0123456789abcdefXYZ"


def test_a_given_secret_is_replaced_everywhere() -> None:
    text = f"key {KEY} was rejected; key={KEY}"
    assert redact(text, [KEY]).count(REDACTED) == 2
    assert KEY not in redact(text, [KEY])


def test_secrets_shorter_than_four_characters_and_empty_ones_are_ignored() -> None:
    assert redact("a ab abc", ["", "a", "ab", "abc"]) == "a ab abc"


def test_a_four_character_secret_is_redacted() -> None:
    assert redact("token abcd here", ["abcd"]) == f"token {REDACTED} here"


def test_the_longest_secret_wins_when_one_contains_another() -> None:
    assert redact("xx-secret-long-value-yy", ["secret", "secret-long-value"]) == f"xx-{REDACTED}-yy"


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer abc123def456", "abc123def456"),
        ('{"headers": {"authorization": "Bearer tok_9f8e7d6c5b"}}', "tok_9f8e7d6c5b"),
        ("proxy-authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("x-api-key: anthropic-key-0001", "anthropic-key-0001"),
        ('{"api_key": "plainkey42"}', "plainkey42"),
        ("GET /v1/models?api_key=qwerty1234&limit=5", "qwerty1234"),
        ("x-goog-api-key=AIzaSyD-abcdefghijklmnopqrstuvwxyz012", "AIzaSyD-abcdefghijklmnopqrstuvwxyz012"),
        ("echoed bearer 0123456789abcdef", "0123456789abcdef"),
        ("Incorrect API key provided: sk-proj-AbCdEf0123456789GhIjKl", "sk-proj-AbCdEf0123456789GhIjKl"),
        ("openrouter key sk-or-v1-0123456789abcdef0123456789abcdef", "sk-or-v1-0123456789abcdef0123456789abcdef"),
        ("anthropic sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAA", "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAA"),
        ("groq gsk_ABCDEFGHIJKLMNOPQRSTUVWX", "gsk_ABCDEFGHIJKLMNOPQRSTUVWX"),
        ("hf hf_abcdefghijklmnopqrstuvwx", "hf_abcdefghijklmnopqrstuvwx"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijklmnop", "eyJhbGciOiJIUzI1NiJ9"),
    ],
)
def test_credentials_echoed_by_an_upstream_are_redacted_without_being_told(text: str, leak: str) -> None:
    out = redact(text, [])
    assert leak not in out
    assert REDACTED in out


def test_the_header_name_and_auth_scheme_stay_readable() -> None:
    assert redact("Authorization: Bearer abc123def456", []) == f"Authorization: Bearer {REDACTED}"


def test_a_redacted_value_is_not_redacted_twice() -> None:
    out = redact('{"authorization": "Bearer mykey123"}', ["mykey123"])
    assert out == f'{{"authorization": "Bearer {REDACTED}"}}'


@pytest.mark.parametrize(
    "text",
    [
        "This model's maximum context length is 8192 tokens.",
        "Missing bearer authentication in header",
        "task-1234567890abcdefgh finished",
        "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000",
        "max_tokens: 4096 is too large",
    ],
)
def test_ordinary_error_text_is_left_alone(text: str) -> None:
    assert redact(text, []) == text


# Secrets drawn without the marker's letters, so a replacement can never spell a secret anew.
_secret = st.text(st.characters(exclude_characters="[REDACT]"), min_size=4, max_size=30)


@given(st.text(), st.lists(_secret, max_size=3))
def test_no_given_secret_survives_redaction(text: str, secrets: list[str]) -> None:
    out = redact(text + "".join(secrets), secrets)
    for secret in secrets:
        assert secret not in out
