"""Reading a table against its declaration (profile/fields.py): one reader per kind of value, each checking
and converting, and collecting what is wrong instead of raising. Pure.

A reader returns INVALID for a value it reported; `fields` leaves that field at its default, so a reading goes
on to find every other problem.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, NamedTuple

import orcli.profile.fields as declared
from orcli.profile.fields import Field, Kind
from orcli.profile.values import (
    HEADER_NAME,
    HEADER_VALUE,
    URL_USERINFO,
    did_you_mean,
    header_problem,
    show,
    type_name,
    url_problem,
)
from orcli.types import Price

INVALID: Any = object()  # what a reader returns for a value it reported as wrong


def _number(raw: object, positive: bool = False) -> Any:
    """A float (or int) that is plainly right, as a float; else INVALID, for the reader to look at."""
    if type(raw) is float or type(raw) is int:
        low = raw > 0 if positive else raw >= 0
        return float(raw) if low and raw < 1e300 else INVALID
    return INVALID


_PRICE_KEYS = frozenset(declared.PRICE_KEYS)


def _plain_price(v: object) -> bool:
    return (type(v) is float or type(v) is int) and 0 <= v < 1e300


# The plainly good value of each kind, converted, without a word about anything else (INVALID: ask the reader).
# Profiles are mostly right: this keeps the cost per key of a 100k-endpoint profile near a dict lookup.
ACCEPT: dict[str, Callable[[Field, Any], Any]] = {
    Kind.TEXT: lambda f, raw: raw if type(raw) is str and raw.strip() else INVALID,
    Kind.CHOICE: lambda f, raw: raw if type(raw) is str and raw in f.choices else INVALID,
    Kind.SWITCH: lambda f, raw: raw if type(raw) is bool else INVALID,
    Kind.NUMBER: lambda f, raw: _number(raw),
    Kind.SECONDS: lambda f, raw: _number(raw, positive=True),
    Kind.COUNT: lambda f, raw: raw if type(raw) is int and raw > 0 else INVALID,
    Kind.NAMES: lambda f, raw: (
        tuple(raw) if type(raw) is list and all(type(x) is str and x.strip() for x in raw) else INVALID
    ),
    Kind.PRICES: lambda f, raw: INVALID,
    Kind.URL: lambda f, raw: INVALID,
    Kind.HEADERS: lambda f, raw: INVALID,
    Kind.STORE_URL: lambda f, raw: INVALID,
    Kind.ANY: lambda f, raw: raw,
}


class _Plan(NamedTuple):
    """A declaration made ready to read tables with: its keys, and per field (key, accept, default, field)."""

    known: tuple[str, ...]
    steps: tuple[tuple[str, Callable[[Field, Any], Any], object, Field], ...]


class Readers:
    """Reads tables of declared fields, one reader per kind of value, collecting errors (key path, message)
    instead of raising: a profile's every problem is reported at once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[tuple[str, str]] = []  # (key path, message)
        self.plans: dict[int, _Plan] = {}  # by the declaration's id: a module constant, so its id is stable
        self.readers: dict[str, Callable[[Field, object, str], object]] = {
            Kind.TEXT: lambda f, value, at: self.string(value, at),
            Kind.CHOICE: lambda f, value, at: self.string(value, at, f.choices),
            Kind.SWITCH: lambda f, value, at: self.boolean(value, at),
            Kind.NUMBER: lambda f, value, at: self.number(value, at),
            Kind.SECONDS: lambda f, value, at: self.number(value, at, positive=True),
            Kind.COUNT: lambda f, value, at: self.integer(value, at),
            Kind.NAMES: lambda f, value, at: self.strings(value, at),
            Kind.PRICES: lambda f, value, at: self.prices(value, at),
            Kind.URL: lambda f, value, at: self.base_url(value, at),
            Kind.HEADERS: lambda f, value, at: self.headers(value, at),
            Kind.STORE_URL: lambda f, value, at: self.store_url(value, at),
            Kind.ANY: lambda f, value, at: value,
        }

    def error(self, keypath: str, message: str) -> None:
        self.errors.append((keypath, message))

    # -- tables of declared fields -----------------------------------------------------------------
    def table(self, value: object, keypath: str, known: tuple[str, ...]) -> dict[str, Any]:
        """`value` as a table whose keys are all `known` (an unknown key is reported with the nearest known)."""
        if not isinstance(value, dict):
            self.error(keypath, f"expected a table, got {type_name(value)}")
            return {}
        for key in value:
            if key not in known:
                self.error(f"{keypath}.{key}" if keypath else key, f"unknown key.{did_you_mean(key, known)}")
        return value

    def fields(self, value: object, keypath: str, fields: tuple[Field, ...]) -> dict[str, Any] | None:
        """A table read against its declaration: each field's value converted, or its default when absent;
        None when `value` is not a table. Problems are reported, and their fields left at the default."""
        plan = self.plans.get(id(fields))
        if plan is None:
            plan = self.plans[id(fields)] = _Plan(
                declared.keys(fields), tuple((f.key, ACCEPT[f.kind], f.default, f) for f in fields)
            )
        table = self.table(value, keypath, plan.known)
        if not isinstance(value, dict):
            return None
        values: dict[str, Any] = {}
        get = table.get
        for key, accept, default, field in plan.steps:
            raw = get(key, INVALID)
            if raw is INVALID:
                if field.required and field.dialect is None:  # a dialect's: only for providers of its api
                    self.error(keypath, f"missing `{key}` ({field.help})")
                values[key] = default
                continue
            converted = accept(field, raw)
            if converted is INVALID:  # not the plain good case: the reader says what is wrong, or converts it
                converted = self.readers[field.kind](field, raw, f"{keypath}.{key}")
            values[key] = default if converted is INVALID else converted
        return values

    # -- readers, one per kind of value ------------------------------------------------------------
    def number(self, value: object, keypath: str, positive: bool = False) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(keypath, f"expected a number, got {type_name(value)} {show(value)}")
            return INVALID
        try:
            number = float(value)
        except OverflowError:  # a TOML integer beyond float range: as useless as inf, and not a crash
            number = math.inf
        if not math.isfinite(number) or (number <= 0 if positive else number < 0):
            self.error(keypath, f"expected a finite number {'> 0' if positive else '>= 0'}, got {show(value)}")
            return INVALID
        return number

    def integer(self, value: object, keypath: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(keypath, f"expected a whole number, got {type_name(value)} {show(value)}")
            return INVALID
        if value <= 0:
            self.error(keypath, f"expected a whole number > 0, got {value}")
            return INVALID
        return value

    def boolean(self, value: object, keypath: str) -> Any:
        if not isinstance(value, bool):
            self.error(keypath, f"expected true or false, got {type_name(value)} {show(value)}")
            return INVALID
        return value

    def string(self, value: object, keypath: str, choices: tuple[str, ...] = ()) -> Any:
        if not isinstance(value, str) or not value.strip():
            self.error(keypath, f"expected a non-empty string, got {type_name(value)} {show(value)}")
            return INVALID
        if choices and value not in choices:
            options = " | ".join(f'"{c}"' for c in choices)
            self.error(keypath, f"expected one of {options}, got {show(value)}.{did_you_mean(value, choices)}")
            return INVALID
        return value

    def strings(self, value: object, keypath: str) -> Any:
        if type(value) is not list or not all(type(x) is str and x.strip() for x in value):
            self.error(keypath, f"expected an array of non-empty strings, got {show(value)}")
            return INVALID
        return tuple(value)

    def prices(self, value: object, keypath: str) -> Any:
        if type(value) is dict and value.keys() <= _PRICE_KEYS:  # the usual case, without a reader per price
            prompt, completion, request = (value.get(key, 0.0) for key in ("prompt", "completion", "request"))
            if _plain_price(prompt) and _plain_price(completion) and _plain_price(request):
                return Price(float(prompt), float(completion), float(request))
        values = self.fields(value, keypath, declared.PRICE_FIELDS)
        return INVALID if values is None else Price(**values)

    def base_url(self, value: object, keypath: str) -> Any:
        url = self.string(value, keypath)
        if url is INVALID:
            return INVALID
        if URL_USERINFO.match(url):
            # Not echoed: the part before `@` is a password (docs/security.md), and httpx would send it as Basic.
            self.error(
                keypath,
                "a base_url must not carry credentials (user:password@); the key belongs in the environment "
                "variable named by api_key_env",
            )
            return INVALID
        problem = url_problem(url)
        if problem is not None:
            self.error(keypath, f"expected an http:// or https:// URL, got {show(url)}{problem}")
            return INVALID
        return url.rstrip("/")

    def headers(self, value: object, keypath: str) -> Any:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.error(keypath, 'expected a table of string values, e.g. { X-Title = "orcli" }')
            return INVALID
        before = len(self.errors)
        for header, header_value in value.items():
            # Caught here, not on the wire: a header HTTP cannot carry would fail every request to this
            # provider, and each failure would count against the provider's health.
            if not HEADER_NAME.fullmatch(header):
                self.error(keypath, f"{show(header)} is not a valid HTTP header name")
            elif (reserved := header_problem(header)) is not None:
                self.error(f"{keypath}.{header}", reserved)
            elif not HEADER_VALUE.fullmatch(header_value):
                self.error(
                    f"{keypath}.{header}",
                    "a header value must be printable ASCII on one line (no line breaks or control characters)",
                )
        return MappingProxyType(dict(value)) if len(self.errors) == before else INVALID

    def store_url(self, value: object, keypath: str) -> Any:
        """A shared store's URL that carries no password (docs/health.md, docs/security.md)."""
        if not isinstance(value, str) or not value.strip():
            self.error(keypath, f"expected a redis:// or rediss:// URL, got {type_name(value)} {show(value)}")
            return INVALID
        from orcli.store_url import BadStoreURL, has_password, parse

        if has_password(value):
            # A profile is shared and committed; the password goes in ORCLI_HEALTH_URL, which wins over this key.
            self.error(
                keypath,
                "a password in a profile would be shown to everyone who reads it; give the whole URL in the "
                "environment variable ORCLI_HEALTH_URL instead",
            )
            return INVALID
        try:
            parse(value)
        except BadStoreURL as exc:
            self.error(keypath, str(exc))
            return INVALID
        return value.strip()
