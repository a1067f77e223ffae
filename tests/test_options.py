"""orcli.routing.options: `-o KEY=VALUE` split and typed, numbers no API accepts refused."""

from __future__ import annotations

import pytest

from orcli.routing.options import NumberText, parse_option, parse_option_value
from orcli.wire.openai import encode_body


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("0.2", 0.2),
        ("1e-3", NumberText("1e-3")),  # a float that remembers it was written 1e-3
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


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ("1e3", "1e3"),  # issue 10: not 1000.0
        ("1.0E+2", "1.0E+2"),
        ("0.50", "0.50"),
        ("0.5", "0.5"),
        ("1000", "1000"),
        (".5", "0.5"),  # not a JSON literal: sent as the number it denotes
        ("+1.5", "1.5"),
        ("-2.5e-3", "-2.5e-3"),
    ],
)
def test_a_number_is_sent_as_the_json_literal_it_was_written_as(raw: str, sent: str) -> None:
    value = parse_option_value(raw)
    assert value == float(raw)
    body = encode_body({"model": "m", "user": value, "stop": "x"})
    assert body == f'{{"model":"m","user":{sent},"stop":"x"}}'.encode()


def test_a_prompt_holding_the_placeholder_text_cannot_take_the_literal() -> None:
    value = parse_option_value("1e3")
    body = encode_body({"messages": "\x00orcli-number:user\x00", "user": value})
    assert b"1e3" not in body and b'"user":1000.0' in body


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


# -- --tools and --schema (docs/commands.md#answers-beyond-text) ------------------------------------------------------------------
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def test_tools_take_an_array_or_one_tool_object() -> None:
    from orcli.routing.options import parse_tools

    assert parse_tools([TOOL, TOOL]) == (TOOL, TOOL)
    assert parse_tools(TOOL) == (TOOL,)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ([], "expected a tools array"),
        ("f", "expected a tools array"),
        ([TOOL, "f"], "tool 2 is a JSON string"),
        ({"type": 3}, '"type" must be a string'),
        ({"type": "function", "function": {"parameters": {}}}, 'needs "function"'),
        ({"type": "function", "function": {"name": "f", "parameters": []}}, "must be a JSON Schema object"),
    ],
)
def test_tools_of_the_wrong_shape_say_what_is_wrong(value: object, needle: str) -> None:
    from orcli.routing.options import parse_tools

    with pytest.raises(ValueError, match=needle):
        parse_tools(value)


def test_a_schema_is_a_json_object() -> None:
    from orcli.routing.options import parse_schema

    assert parse_schema({"type": "object"}) == {"type": "object"}
    with pytest.raises(ValueError, match="not a JSON array"):
        parse_schema([])


# -- reserved keys (issue 10 item 9): a usage error before any route is built ---------------------------
@pytest.mark.parametrize("text", ["stream=false", "model=x", "messages=[]", "stream_options={}"])
def test_reserved_options_are_usage_errors(text: str) -> None:
    from orcli.errors import UsageError
    from orcli.routing.route import parse_options

    with pytest.raises(UsageError, match="is set by orcli"):
        parse_options((text,), None)


def test_tools_and_schema_count_as_routing_parameters() -> None:
    from orcli.routing.route import RouteInput, request_parameters

    assert request_parameters(RouteInput()) == frozenset()
    assert request_parameters(RouteInput(tools=(TOOL,), schema={"type": "object"})) == {"tools", "response_format"}
