"""A profile's TOML text -> a typed `Profile`, every problem found reported at once (docs/profiles.md). Pure:
no files (profile/resolve.py finds and reads them), no clock, standard library only.

What each key may hold is declared once in profile/fields.py (and [routing] in routing/preferences.py); this
module walks the parsed TOML against those declarations with one reader per kind of value.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, assert_never

import orcli.profile.fields as declared
from orcli.errors import ProfileError
from orcli.profile.readers import Readers
from orcli.profile.values import (
    did_you_mean,
    type_name,
)
from orcli.routing.preferences import BY_NAME, PARTITION_VALUES, ROUTING_KEYS, ValueKind
from orcli.types import BudgetSettings, Endpoint, HealthSettings, Profile, Provider, Timeouts
from orcli.wire import DIALECTS

# Re-exported for the modules that name a profile's keys (profile writing, `profiles import`).
API_VALUES = declared.API_VALUES
PROVIDER_KEYS = declared.PROVIDER_KEYS
# [presets.NAME]: any [routing] key, and these request values (docs/routing.md, "Presets")
PRESET_REQUEST_KEYS = ("system", "options", "max_tokens")


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


class _Validator(Readers):
    """Walks the parsed TOML section by section; the errors are placed on lines at the end, in one scan of the
    text, so a profile with thousands of bad values is reported in linear time."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.failed_providers: set[str] = set()

    def problems(self, text: str) -> list[Problem]:
        """Every error, each with its file and line (the text is scanned for lines only when there are errors)."""
        from orcli.profile.lines import TableHeaders

        headers = TableHeaders(text)
        return [Problem(self.path, headers.line_of(key), key, message) for key, message in self.errors]

    # -- sections ----------------------------------------------------------------------------------
    def profile(self, data: dict[str, Any], name: str) -> Profile | None:
        self.fields(data, "", declared.TOP_FIELDS)
        routing = self.routing(data.get("routing", {}))
        presets = self.presets(data.get("presets", {}))
        timeouts = self.fields(data.get("timeouts", {}), "timeouts", declared.TIMEOUT_FIELDS)
        health = self.fields(data.get("health", {}), "health", declared.HEALTH_FIELDS)
        budget = self.fields(data.get("budget", {}), "budget", declared.BUDGET_FIELDS)
        providers = self.providers(data.get("providers", {}))
        endpoints = self.endpoints(data.get("endpoint", []), providers)
        if self.errors or timeouts is None or health is None or budget is None:
            return None
        return Profile(
            name=name,
            path=self.path,
            providers=MappingProxyType(providers),
            endpoints=tuple(endpoints),
            routing=MappingProxyType(routing),
            timeouts=Timeouts(**timeouts),
            health=HealthSettings(**health),
            budget=BudgetSettings(**budget),
            presets=MappingProxyType(presets),
        )

    def routing(self, value: object) -> dict[str, object]:
        table = self.table(value, "routing", ROUTING_KEYS)
        return {key: raw for key, raw in table.items() if key in ROUTING_KEYS and self.routing_value(key, raw)}

    def presets(self, value: object) -> dict[str, dict[str, object]]:
        """[presets.NAME]: named bundles of [routing] keys and request values, chosen with --preset NAME."""
        if not isinstance(value, dict):
            self.error("presets", f"expected a table of presets ([presets.NAME]), got {type_name(value)}")
            return {}
        known = ROUTING_KEYS + PRESET_REQUEST_KEYS
        presets: dict[str, dict[str, object]] = {}
        for name, raw in value.items():
            keypath = f"presets.{name}"
            table = self.table(raw, keypath, known)
            kept: dict[str, object] = {}
            for key, item in table.items():
                if key in ROUTING_KEYS:
                    if self.routing_value(key, item, section=keypath):
                        kept[key] = item
                elif key in PRESET_REQUEST_KEYS and self.preset_request_value(key, item, f"{keypath}.{key}"):
                    kept[key] = item
            presets[name] = kept
        return presets

    def preset_request_value(self, key: str, raw: object, keypath: str) -> bool:
        """A preset's `system` (text), `options` (a table of request options) or `max_tokens` (> 0)."""
        if key == "system":
            return self.string(raw, keypath) is not None
        if key == "max_tokens":
            return self.integer(raw, keypath) is not None
        if not isinstance(raw, dict):
            example = "{ temperature = 0.2 }"
            self.error(keypath, f"expected a table of request options (e.g. {example}), got {type_name(raw)}")
            return False
        from orcli.routing.options import RESERVED_OPTIONS

        reserved = [k for k in raw if k in RESERVED_OPTIONS]
        for k in reserved:
            self.error(f"{keypath}.{k}", "is set by orcli and cannot be a request option")
        return not reserved

    def routing_value(self, key: str, raw: object, section: str = "routing") -> bool:
        """Check one [routing] (or preset) value against its declaration; `preferences.merge` converts it."""
        before = len(self.errors)
        keypath = f"{section}.{key}"
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
        belongs to other dialects (or the api itself is wrong)."""
        before = len(self.errors)
        if not isinstance(api, str) or api not in declared.API_VALUES:
            return None
        for key, owners in declared.DIALECT_OWNERS.items():
            if key in raw and api not in owners:
                apis = " or ".join(f'"{owner}"' for owner in owners)
                self.error(f"{keypath}.{key}", f'applies to api = {apis} only (this provider has api = "{api}")')
        no_key = DIALECTS[api].no_key
        if "api_key_env" in raw and no_key:
            self.error(f"{keypath}.api_key_env", f'api = "{api}" takes no key: {no_key}')
        settings: dict[str, object] = {}
        for field in declared.FIELDS_OF_API[api]:
            if field.key in raw:
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
    """The dialect's base URL when the profile gives none (Anthropic's, Gemini's, a cloud region's): from its
    registration when it declares one there (no dialect module imported), else from the dialect."""
    derive = DIALECTS[api].base_url
    if derive is None:
        from orcli.wire import dialect_for

        url = dialect_for(api).default_base_url(settings)
    else:
        url = derive(settings)
    return None if url is None else url.rstrip("/")


def _endpoint(values: dict[str, Any]) -> Endpoint:
    """An endpoint from its validated values: the upstream name defaults to the model's, quantizations are
    compared in lower case, parameters as a set."""
    quantization = values["quantization"]
    values["upstream_model"] = values["upstream_model"] or values["model"]
    values["quantization"] = quantization.lower() if quantization else None
    values["parameters"] = frozenset(values["parameters"])
    return Endpoint(**values)
