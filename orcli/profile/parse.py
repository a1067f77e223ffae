"""A profile's TOML text -> a typed `Profile`, every problem found reported at once (docs/profiles.md). Pure:
no files (profile/resolve.py finds and reads them), no clock, standard library only.

What each key may hold is declared once in profile/fields.py (and [routing] in routing/preferences.py); this
module walks the parsed TOML against those declarations with one reader per kind of value.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, assert_never

import orcli.profile.fields as declared
from orcli.errors import ProfileError
from orcli.profile.fields import Field, Kind
from orcli.profile.lines import TableHeaders
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
from orcli.routing.preferences import BY_NAME, PARTITION_VALUES, ROUTING_KEYS, ValueKind
from orcli.types import Endpoint, HealthSettings, Price, Profile, Provider, Timeouts

# Re-exported for the modules that name a profile's keys (profile writing, `profiles import`).
API_VALUES = declared.API_VALUES
PROVIDER_KEYS = declared.PROVIDER_KEYS


class Problem(NamedTuple):
    """One thing wrong with a profile: where (file, line when known, key path) and what."""

    file: str
    line: int | None
    key: str | None
    message: str

    def text(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "key": self.key, "message": self.message}


def profile_error(problems: list[Problem]) -> ProfileError:
    """Every problem in one paragraph (and as a list in the JSON document's `error.problems`)."""
    text = "; ".join(p.text().rstrip(".") for p in problems)
    return ProfileError(f"invalid profile: {text}.", problems=[p.as_json() for p in problems])


class PathLike(Protocol):
    """A pathlib.Path, without importing what does file I/O: only its text is used, to name the profile."""

    def __fspath__(self) -> str: ...


def parse_profile(text: str, path: str | PathLike) -> Profile:
    """Parse and validate a profile's text; every problem found is reported in one ProfileError. `path` only
    names the profile and places its problems: nothing is read from it."""
    path = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise file_error(path, f"not valid TOML: {reason}", int(line.group(1)) if line else None) from None
    except RecursionError:
        # tomllib recurses once per nesting level: `a = [[[[...` thousands deep is not a profile.
        raise file_error(path, "not valid TOML: arrays or tables nested too deeply") from None
    except ValueError as exc:
        # Other parse-time refusals, e.g. an integer longer than Python's int_max_str_digits.
        raise file_error(path, f"not valid TOML: {exc}") from None
    v = _Validator(str(path))
    profile = v.profile(data, _stem(path))
    if v.errors:
        raise profile_error(v.problems(text))
    assert profile is not None
    return profile


def _stem(path: str) -> str:
    """`work` for `~/profiles/work.toml`: the profile's name (the file name without its suffix)."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    base, dot, _ = name.rpartition(".")
    return base if dot and base else name


def file_error(path: str, message: str, line: int | None = None) -> ProfileError:
    """A profile file that is not a profile at all (unreadable, not UTF-8, not TOML): one problem."""
    problem = Problem(str(path), line, None, message)
    return ProfileError(problem.text() + ".", problems=[problem.as_json()])


_INVALID: Any = object()  # what a reader returns for a value it reported as wrong


def _number(raw: object, positive: bool = False) -> Any:
    """A float (or int) that is plainly right, as a float; else _INVALID, for the reader to look at."""
    if type(raw) is float or type(raw) is int:
        low = raw > 0 if positive else raw >= 0
        return float(raw) if low and raw < 1e300 else _INVALID
    return _INVALID


_PRICE_KEYS = frozenset(declared.PRICE_KEYS)


def _plain_price(v: object) -> bool:
    return (type(v) is float or type(v) is int) and 0 <= v < 1e300


# The plainly good value of each kind, converted, without a word about anything else (_INVALID: ask the reader).
# Profiles are mostly right: this keeps the cost per key of a 100k-endpoint profile near a dict lookup.
_ACCEPT: dict[Kind, Callable[[Field, Any], Any]] = {
    Kind.TEXT: lambda f, raw: raw if type(raw) is str and raw.strip() else _INVALID,
    Kind.CHOICE: lambda f, raw: raw if type(raw) is str and raw in f.choices else _INVALID,
    Kind.SWITCH: lambda f, raw: raw if type(raw) is bool else _INVALID,
    Kind.NUMBER: lambda f, raw: _number(raw),
    Kind.SECONDS: lambda f, raw: _number(raw, positive=True),
    Kind.COUNT: lambda f, raw: raw if type(raw) is int and raw > 0 else _INVALID,
    Kind.NAMES: lambda f, raw: (
        tuple(raw) if type(raw) is list and all(type(x) is str and x.strip() for x in raw) else _INVALID
    ),
    Kind.PRICES: lambda f, raw: _INVALID,
    Kind.URL: lambda f, raw: _INVALID,
    Kind.HEADERS: lambda f, raw: _INVALID,
    Kind.STORE_URL: lambda f, raw: _INVALID,
    Kind.ANY: lambda f, raw: raw,
}


class _Plan(NamedTuple):
    """A declaration made ready to read tables with: its keys, and per field (key, accept, default, field)."""

    known: tuple[str, ...]
    steps: tuple[tuple[str, Callable[[Field, Any], Any], object, Field], ...]


class _Validator:
    """Walks the parsed TOML, converting values and collecting errors; the errors are placed on lines at the
    end, in one scan of the text, so a profile with thousands of bad values is reported in linear time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[tuple[str, str]] = []  # (key path, message)
        self.failed_providers: set[str] = set()
        self.plans: dict[int, _Plan] = {}  # by the declaration's id: a module constant, so its id is stable
        self.readers: dict[Kind, Callable[[Field, object, str], object]] = {
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

    # -- error reporting ---------------------------------------------------------------------------
    def error(self, keypath: str, message: str) -> None:
        self.errors.append((keypath, message))

    def problems(self, text: str) -> list[Problem]:
        """Every error, each with its file and line."""
        headers = TableHeaders(text)
        return [Problem(self.path, headers.line_of(key), key, message) for key, message in self.errors]

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
                declared.keys(fields), tuple((f.key, _ACCEPT[f.kind], f.default, f) for f in fields)
            )
        table = self.table(value, keypath, plan.known)
        if not isinstance(value, dict):
            return None
        values: dict[str, Any] = {}
        get = table.get
        for key, accept, default, field in plan.steps:
            raw = get(key, _INVALID)
            if raw is _INVALID:
                if field.required and field.dialect is None:  # a dialect's: only for providers of its api
                    self.error(keypath, f"missing `{key}` ({field.help})")
                values[key] = default
                continue
            converted = accept(field, raw)
            if converted is _INVALID:  # not the plain good case: the reader says what is wrong, or converts it
                converted = self.readers[field.kind](field, raw, f"{keypath}.{key}")
            values[key] = default if converted is _INVALID else converted
        return values

    # -- readers, one per kind of value ------------------------------------------------------------
    def number(self, value: object, keypath: str, positive: bool = False) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(keypath, f"expected a number, got {type_name(value)} {show(value)}")
            return _INVALID
        try:
            number = float(value)
        except OverflowError:  # a TOML integer beyond float range: as useless as inf, and not a crash
            number = math.inf
        if not math.isfinite(number) or (number <= 0 if positive else number < 0):
            self.error(keypath, f"expected a finite number {'> 0' if positive else '>= 0'}, got {show(value)}")
            return _INVALID
        return number

    def integer(self, value: object, keypath: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(keypath, f"expected a whole number, got {type_name(value)} {show(value)}")
            return _INVALID
        if value <= 0:
            self.error(keypath, f"expected a whole number > 0, got {value}")
            return _INVALID
        return value

    def boolean(self, value: object, keypath: str) -> Any:
        if not isinstance(value, bool):
            self.error(keypath, f"expected true or false, got {type_name(value)} {show(value)}")
            return _INVALID
        return value

    def string(self, value: object, keypath: str, choices: tuple[str, ...] = ()) -> Any:
        if not isinstance(value, str) or not value.strip():
            self.error(keypath, f"expected a non-empty string, got {type_name(value)} {show(value)}")
            return _INVALID
        if choices and value not in choices:
            options = " | ".join(f'"{c}"' for c in choices)
            self.error(keypath, f"expected one of {options}, got {show(value)}.{did_you_mean(value, choices)}")
            return _INVALID
        return value

    def strings(self, value: object, keypath: str) -> Any:
        if type(value) is not list or not all(type(x) is str and x.strip() for x in value):
            self.error(keypath, f"expected an array of non-empty strings, got {show(value)}")
            return _INVALID
        return tuple(value)

    def prices(self, value: object, keypath: str) -> Any:
        if type(value) is dict and value.keys() <= _PRICE_KEYS:  # the usual case, without a reader per price
            prompt, completion, request = (value.get(key, 0.0) for key in ("prompt", "completion", "request"))
            if _plain_price(prompt) and _plain_price(completion) and _plain_price(request):
                return Price(float(prompt), float(completion), float(request))
        values = self.fields(value, keypath, declared.PRICE_FIELDS)
        return _INVALID if values is None else Price(**values)

    def base_url(self, value: object, keypath: str) -> Any:
        url = self.string(value, keypath)
        if url is _INVALID:
            return _INVALID
        if URL_USERINFO.match(url):
            # Not echoed: the part before `@` is a password (docs/security.md), and httpx would send it as Basic.
            self.error(
                keypath,
                "a base_url must not carry credentials (user:password@); the key belongs in the environment "
                "variable named by api_key_env",
            )
            return _INVALID
        problem = url_problem(url)
        if problem is not None:
            self.error(keypath, f"expected an http:// or https:// URL, got {show(url)}{problem}")
            return _INVALID
        return url.rstrip("/")

    def headers(self, value: object, keypath: str) -> Any:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.error(keypath, 'expected a table of string values, e.g. { X-Title = "orcli" }')
            return _INVALID
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
        return MappingProxyType(dict(value)) if len(self.errors) == before else _INVALID

    def store_url(self, value: object, keypath: str) -> Any:
        """A shared store's URL that carries no password (docs/health.md, docs/security.md)."""
        if not isinstance(value, str) or not value.strip():
            self.error(keypath, f"expected a redis:// or rediss:// URL, got {type_name(value)} {show(value)}")
            return _INVALID
        from orcli.store.url import BadStoreURL, has_password, parse

        if has_password(value):
            # A profile is shared and committed; the password goes in ORCLI_HEALTH_URL, which wins over this key.
            self.error(
                keypath,
                "a password in a profile would be shown to everyone who reads it; give the whole URL in the "
                "environment variable ORCLI_HEALTH_URL instead",
            )
            return _INVALID
        try:
            parse(value)
        except BadStoreURL as exc:
            self.error(keypath, str(exc))
            return _INVALID
        return value.strip()

    # -- sections ----------------------------------------------------------------------------------
    def profile(self, data: dict[str, Any], name: str) -> Profile | None:
        self.fields(data, "", declared.TOP_FIELDS)
        routing = self.routing(data.get("routing", {}))
        timeouts = self.fields(data.get("timeouts", {}), "timeouts", declared.TIMEOUT_FIELDS)
        health = self.fields(data.get("health", {}), "health", declared.HEALTH_FIELDS)
        providers = self.providers(data.get("providers", {}))
        endpoints = self.endpoints(data.get("endpoint", []), providers)
        if self.errors or timeouts is None or health is None:
            return None
        return Profile(
            name=name,
            path=self.path,
            providers=MappingProxyType(providers),
            endpoints=tuple(endpoints),
            routing=MappingProxyType(routing),
            timeouts=Timeouts(**timeouts),
            health=HealthSettings(**health),
        )

    def routing(self, value: object) -> dict[str, object]:
        table = self.table(value, "routing", ROUTING_KEYS)
        return {key: raw for key, raw in table.items() if key in ROUTING_KEYS and self.routing_value(key, raw)}

    def routing_value(self, key: str, raw: object) -> bool:
        """Check one [routing] value against its declaration; `preferences.merge` converts it."""
        before = len(self.errors)
        keypath = f"routing.{key}"
        pref = BY_NAME[key]
        match pref.kind:
            case ValueKind.NAMES:
                self.strings(raw, keypath)
            case ValueKind.SWITCH:
                self.boolean(raw, keypath)
            case ValueKind.CHOICE:
                self.string(raw, keypath, pref.choices)
            case ValueKind.SORT if isinstance(raw, dict):
                table = self.table(raw, keypath, ("by", "partition"))
                if "by" not in table:
                    self.error(keypath, 'a sort table needs `by`, e.g. { by = "price", partition = "none" }')
                else:
                    self.string(table["by"], f"{keypath}.by", pref.choices)
                if "partition" in table:
                    self.string(table["partition"], f"{keypath}.partition", PARTITION_VALUES)
            case ValueKind.SORT:
                self.string(raw, keypath, pref.choices)
            case ValueKind.PRICES:
                self.prices(raw, keypath)
            case ValueKind.NUMBER:
                self.number(raw, keypath)
            case _ as never:
                assert_never(never)
        return len(self.errors) == before

    def providers(self, value: object) -> dict[str, Provider]:
        if not isinstance(value, dict):
            self.error("providers", f"expected a table of providers, got {type_name(value)}")
            return {}
        providers: dict[str, Provider] = {}
        for name, keypath, raw in declared.provider_tables(value):
            before = len(self.errors)
            provider = self.provider(name, raw, keypath)
            if provider is not None and len(self.errors) == before:
                providers[name] = provider
            elif len(self.errors) != before:
                self.failed_providers.add(name)
        return providers

    def provider(self, name: str, raw: object, keypath: str) -> Provider | None:
        """One [providers.NAME] table: the common keys, and the keys its dialect declares, which land in
        `settings`; a key of another dialect is a mistake (docs/dialects.md)."""
        values = self.fields(raw, keypath, declared.ALL_PROVIDER_FIELDS)
        if values is None:
            return None
        assert isinstance(raw, dict)
        api = raw.get("api", "openai")
        settings = self.dialect_settings(raw, values, keypath, api)
        if "base_url" not in raw:
            default = _default_base_url(api, settings) if settings is not None else None
            if default is None:
                self.error(keypath, "missing `base_url` (the provider's API root)")
            values["base_url"] = default
        common = {f.key: values[f.key] for f in declared.PROVIDER_FIELDS}
        return Provider(name=name, **common, settings=MappingProxyType(settings or {}))

    def dialect_settings(
        self, raw: dict[str, Any], values: dict[str, Any], keypath: str, api: object
    ) -> dict[str, object] | None:
        """The provider's dialect keys it gives, as `Provider.settings`; None when one is wrong, missing or
        belongs to another dialect (or the api itself is wrong)."""
        before = len(self.errors)
        if api not in declared.API_VALUES:
            return None
        settings: dict[str, object] = {}
        for field in declared.DIALECT_FIELDS:
            if field.dialect != api:
                if field.key in raw:
                    self.error(
                        f"{keypath}.{field.key}",
                        f'applies to api = "{field.dialect}" only (this provider has api = "{api}")',
                    )
            elif field.key in raw:
                settings[field.key] = values[field.key]
            elif field.required:
                self.error(keypath, f"missing `{field.key}` ({field.help or f'required by api = {api!r}'})")
        wrong = any(value is None for value in settings.values())  # reported by its reader, left at None
        return None if wrong or len(self.errors) != before else settings

    def endpoints(self, value: object, providers: dict[str, Provider]) -> list[Endpoint]:
        if not isinstance(value, list):
            self.error("endpoint", "expected [[endpoint]] tables (an array of tables)")
            return []
        seen: dict[tuple[str, str], int] = {}
        endpoints: list[Endpoint] = []
        for number, raw in enumerate(value, start=1):
            keypath = f"endpoint[{number}]"
            before = len(self.errors)
            values = self.fields(raw, keypath, declared.ENDPOINT_FIELDS)
            if values is None:
                continue
            model, provider = values["model"], values["provider"]
            if provider is not None and provider not in providers and provider not in self.failed_providers:
                # A provider whose own table had errors is reported there, not again for each endpoint.
                self.error(
                    f"{keypath}.provider",
                    f"unknown provider `{provider}`: no [providers.{provider}] table.{did_you_mean(provider, providers)}",
                )
            if model is not None and provider is not None:
                if (model, provider) in seen:
                    self.error(
                        keypath,
                        f"duplicate endpoint: model `{model}` with provider `{provider}` is already "
                        f"endpoint[{seen[(model, provider)]}]",
                    )
                seen.setdefault((model, provider), number)
            if len(self.errors) == before:
                endpoints.append(_endpoint(values))
        return endpoints


def _default_base_url(api: str, settings: Mapping[str, object]) -> str | None:
    """The dialect's base URL when the profile gives none (Anthropic's, Gemini's, a cloud region's)."""
    from orcli.wire import dialect_for

    url = dialect_for(api).default_base_url(settings)
    return None if url is None else url.rstrip("/")


def _endpoint(values: dict[str, Any]) -> Endpoint:
    """An endpoint from its validated values: the upstream name defaults to the model's, quantizations are
    compared in lower case, parameters as a set."""
    quantization = values["quantization"]
    values["upstream_model"] = values["upstream_model"] or values["model"]
    values["quantization"] = quantization.lower() if quantization else None
    values["parameters"] = frozenset(values["parameters"])
    return Endpoint(**values)
