"""orcli.options: `-o KEY=VALUE` split and typed, numbers no API accepts refused."""

from __future__ import annotations

import pytest

from orcli.options import parse_option, parse_option_value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("0.2", 0.2),
        ("1e-3", 0.001),
        (".5", 0.5),
        ("true", True),
        ("false", False),
        ("null", None),
        ('["a","b"]', ["a", "b"]),
        ('{"type": "json_object"}', {"type": "json_object"}),
        ('"42"', "42"),
        ("[END]", "[END]"),
        ("hello world", "hello world"),
        ("True", "True"),
        ("nan", "nan"),
        ("", ""),
    ],
)
def test_option_values_are_typed(raw: str, value: object) -> None:
    parsed = parse_option_value(raw)
    assert parsed == value and type(parsed) is type(value)


def test_option_splits_on_the_first_equals_sign() -> None:
    assert parse_option("stop=a=b") == ("stop", "a=b")
    assert parse_option(" temperature =0.5") == ("temperature", 0.5)


@pytest.mark.parametrize(("text", "why"), [("temperature", "expected KEY=VALUE"), ("=1", "key before '=' is empty")])
def test_malformed_options_are_refused_with_a_clear_message(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_option(text)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("1e999", "not a finite number"),
        ("-1e999", "not a finite number"),
        ("9223372036854775808", "out of range"),
        ("-9223372036854775809", "out of range"),
        ('{"logit_bias": {"50256": 1e999}}', "not a finite number"),
        ("[1, 99999999999999999999999]", "out of range"),
    ],
)
def test_numbers_json_cannot_carry_or_no_api_accepts_are_refused(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_option_value(raw)


def test_the_largest_64_bit_integers_pass() -> None:
    assert parse_option_value("9223372036854775807") == 2**63 - 1
    assert parse_option_value("-9223372036854775808") == -(2**63)


def test_an_option_value_nested_too_deeply_for_json_stays_text() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert parse_option_value(deep) == deep
