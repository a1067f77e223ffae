"""TOML profile -> typed `Profile`: resolution by name or path, and validation with precise errors."""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, assert_never
from urllib.parse import urlsplit

from orcli.errors import ProfileError
from orcli.routing.preferences import BY_NAME, PARTITION_VALUES, POLICY_VALUES, ROUTING_KEYS, ValueKind
from orcli.types import BudgetSettings, Endpoint, HealthSettings, Price, Profile, Provider, Timeouts
from orcli.wire import DIALECTS

API_VALUES = tuple(DIALECTS)  # the wire dialects (docs/dialects.md)
TOP_KEYS = ("routing", "presets", "timeouts", "health", "budget", "providers", "endpoint", "description")
# [presets.NAME]: any [routing] key, and these request values (docs/routing.md, "Presets")
PRESET_REQUEST_KEYS = ("system", "options", "max_tokens")
COMMON_PROVIDER_KEYS = ("base_url", "api", "api_key_env", "data_collection", "zdr", "headers", "allow_insecure")
# Provider keys that belong to some dialects, as each dialect's registration declares them (anthropic_version:
# anthropic and vertex-anthropic): set on a provider of another api, they are a mistake.
DIALECT_KEYS: dict[str, tuple[str, ...]] = {}
for _api, _registration in DIALECTS.items():
    for _key in _registration.keys:
        DIALECT_KEYS[_key.name] = (*DIALECT_KEYS.get(_key.name, ()), _api)
PROVIDER_KEYS = COMMON_PROVIDER_KEYS + tuple(DIALECT_KEYS)
ENDPOINT_KEYS = (
    "model", "provider", "upstream_model", "price", "context_length", "max_completion_tokens",
    "quantization", "parameters", "latency", "throughput",
)  # fmt: skip
PRICE_KEYS = ("prompt", "completion", "request")
TIMEOUT_KEYS = ("connect", "first_token", "idle", "total")
HEALTH_KEYS = ("window", "outage_window", "cooldown", "store_timeout")
HEALTH_STORE = "store"  # the one [health] key that is not a number
BUDGET_KEYS = ("daily_usd", "monthly_usd", "retention_days")  # docs/usage.md

_MAX_ERRORS = 6


def _default_base_url(api: str, settings: dict[str, object]) -> str | None:
    """The dialect's base URL when the profile gives none (Anthropic's, Gemini's, a cloud region's)."""
    from orcli.wire import dialect_for

    derive = DIALECTS[api].base_url  # declared in the registration: no dialect module to import
    return derive(settings) if derive is not None else dialect_for(api).default_base_url(settings)


def bundled_profiles_dir() -> Path:
    """The profiles shipped with orcli: the installed package data, else the checkout's `profiles/`."""
    package = Path(__file__).resolve().parent.parent  # orcli/
    for candidate in (package / "profiles", package.parent / "profiles"):
        if candidate.is_dir():
            return candidate
    return package.parent / "profiles"


def user_profiles_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("orcli")) / "profiles"


class Resolved(NamedTuple):
    """Where a profile spec led; `looked_for` is set when no `default` exists and the bundled example stands
    in for it (SPEC §12: every command says so)."""

    path: Path
    looked_for: tuple[Path, ...] = ()


def resolve_profile(spec: str | None, env: Mapping[str, str]) -> Resolved:
    """SPEC §2: a path is read as is; a bare name is looked up in the user config dir, then bundled."""
    spec = spec or env.get("ORCLI_PROFILE") or "default"
    if is_path_spec(spec):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ProfileError(f"{spec}: no such profile file.")
        return Resolved(path)
    searched = [user_profiles_dir() / f"{spec}.toml", bundled_profiles_dir() / f"{spec}.toml"]
    for path in searched:
        if path.is_file():
            return Resolved(path)
    if spec == "default":
        # With no default of the user's own, the bundled example keeps a fresh install usable.
        return Resolved(bundled_profiles_dir() / "example.toml", tuple(searched))
    known = sorted(
        {p.stem for d in (user_profiles_dir(), bundled_profiles_dir()) if d.is_dir() for p in d.glob("*.toml")}
    )
    hint = _did_you_mean(spec, known)
    raise ProfileError(
        f"no profile named `{spec}` (looked for {', '.join(str(p) for p in searched)}).{hint} "
        f"Known profiles: {', '.join(known) or 'none'}. Pass a path to use a file elsewhere."
    )


def is_path_spec(spec: str) -> bool:
    """A value containing a path separator or ending in .toml names a file; anything else is a name."""
    return "/" in spec or os.sep in spec or spec.endswith(".toml")


def resolve_profile_path(spec: str | None, env: Mapping[str, str]) -> Path:
    return resolve_profile(spec, env).path


class ProfileEntry(NamedTuple):
    """A profile orcli can see: its name, file, where it lives, and whether a user profile hides it."""

    name: str
    path: Path
    source: str  # "user" | "bundled"
    shadowed: bool = False


def visible_profiles() -> list[ProfileEntry]:
    """Every `*.toml` in the user config dir, then bundled (SPEC §12 `profiles list`); a bundled profile a
    user profile of the same name hides is listed as shadowed."""
    entries: list[ProfileEntry] = []
    seen: set[str] = set()
    for source, directory in (("user", user_profiles_dir()), ("bundled", bundled_profiles_dir())):
        paths = sorted(directory.glob("*.toml")) if directory.is_dir() else []
        for path in paths:
            if path.is_file():
                entries.append(ProfileEntry(path.stem, path, source, shadowed=path.stem in seen))
        seen.update(p.stem for p in paths)
    return entries


def fallback_note(resolved: Resolved) -> str:
    """The one line a command prints when the bundled example stands in for a missing `default`."""
    return (
        f"no `default` profile (looked for {resolved.looked_for[0]}); using the bundled example "
        f"({resolved.path}), whose prices may be stale. Run `orcli profiles init` to write your own."
    )


def load_profile(spec: str | None, env: Mapping[str, str], notice: Callable[[str], None] | None = None) -> Profile:
    """The command's profile; `notice` hears of the example standing in for `default`. It lives as long as
    the process, so it is moved out of the cyclic garbage collector's way (gc.freeze): with a large profile,
    every full collection would walk it again."""
    import gc

    from orcli.paths import default_state_dir
    from orcli.profile.cache import load_cached

    resolved = resolve_profile(spec, env)
    if resolved.looked_for and notice is not None:
        notice(fallback_note(resolved))
    # Loading makes tens of thousands of objects that all live on: collecting while they are made only walks
    # them again and again (measured: 100k endpoints load twice as fast without it).
    enabled = gc.isenabled()
    gc.disable()
    try:
        # A big profile is read from a private cache of its validated form (issue 13: TOML ~55 us/endpoint).
        profile = load_cached(resolved.path, lambda: default_state_dir(env), load_profile_file)
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    return profile


def load_profile_file(path: Path) -> Profile:
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the profile: {exc.strerror or exc}.") from None
    try:
        text = raw_bytes.decode("utf-8").removeprefix("\ufeff")  # editors on Windows add a BOM
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path}: the profile is not UTF-8 text (byte {exc.start}).") from None
    return parse_profile(text, path)


def parse_profile(text: str, path: Path | str) -> Profile:
    """Parse and validate a profile's text; every problem found is reported in one ProfileError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        where = f"{path}:{line.group(1)}" if line else str(path)
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ProfileError(f"{where}: not valid TOML: {reason}.") from None
    except RecursionError:
        # tomllib recurses once per nesting level: `a = [[[[...` thousands deep is not a profile.
        raise ProfileError(f"{path}: not valid TOML: arrays or tables nested too deeply.") from None
    except ValueError as exc:
        # Other parse-time refusals, e.g. an integer longer than Python's int_max_str_digits.
        raise ProfileError(f"{path}: not valid TOML: {exc}.") from None
    v = _Validator(text, str(path))
    profile = v.profile(data, Path(path).stem)
    if v.errors:
        shown = v.messages(_MAX_ERRORS)
        more = len(v.errors) - len(shown)
        tail = f" (and {more} more)" if more else ""
        raise ProfileError("invalid profile: " + "; ".join(e.rstrip(".") for e in shown) + tail + ".")
    assert profile is not None
    return profile


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")


# `scheme://user:pass@host`: anything before an `@` in the authority (SPEC §9). Matched on the raw text, so
# that a URL the parser refuses for another reason is still never echoed with its credentials.
_URL_USERINFO = re.compile(r"^[^:/?#]*:/*[^/?#]*@")

# Headers orcli or the HTTP client must own (SPEC §9): framing and hop-by-hop headers (a profile's
# Content-Length or Transfer-Encoding beside the client's own is the shape of request smuggling), Host, and
# credentials, which come from api_key_env alone. Compared case-insensitively.
_RESERVED_HEADERS = frozenset({
    "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "host",
})  # fmt: skip
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key"})  # fmt: skip


def _header_problem(name: str) -> str | None:
    """Why a profile may not set header `name`, or None when it may."""
    lowered = name.lower()
    if lowered in _AUTH_HEADERS:
        return (
            f"{name} carries credentials, which orcli sends from the environment variable named by api_key_env; "
            "remove it from headers"
        )
    if lowered in _RESERVED_HEADERS or lowered.startswith("proxy-"):
        return f"{name} is a connection or framing header that the HTTP client sets itself; remove it from headers"
    return None


def _url_problem(url: str) -> str | None:
    """None when `url` can be a provider's base_url, else a note on why not ("" when the scheme says it all):
    what the HTTP client would otherwise refuse only when a request is made."""
    if _URL_FORBIDDEN.search(url):
        return " (it contains spaces or control characters)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number in 0-65535
        host = parts.hostname
    except ValueError as exc:
        return f" ({exc})"
    if parts.scheme not in ("http", "https") or not host:
        return ""
    try:
        host.encode("idna")
    except UnicodeError:
        return " (its host name is not valid)"
    return None


def _did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" Did you mean `{close[0]}`?" if close else ""


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)  # fmt: skip


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"  # not "...": messages end by stripping periods


_HEADER = re.compile(r"^[ \t]*(\[\[?)[ \t]*([^\]\n]+?)[ \t]*\]", re.M)
_NAME_PART = re.compile(r"\"([^\"]*)\"|'([^']*)'|([^.\s]+)")


class _Header(NamedTuple):
    line: int  # 1-based
    end: int  # offset just after the header
    name: str  # dotted, unquoted: `providers.deepinfra/turbo`, `endpoint.price`


class _Headers:
    """Every table header of a profile's text, found in one pass, for placing errors on lines (SPEC §2)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.headers: list[_Header] = []
        self.arrays: dict[str, list[int]] = {}
        self.tables: dict[str, int] = {}
        line, last = 1, 0
        for m in _HEADER.finditer(text):
            line += text.count("\n", last, m.start())
            last = m.start()
            name = ".".join(a or b or c for a, b, c in _NAME_PART.findall(m.group(2)))
            if m.group(1) == "[[":
                self.arrays.setdefault(name, []).append(len(self.headers))
            else:
                self.tables.setdefault(name, len(self.headers))
            self.headers.append(_Header(line, m.end(), name))

    def line_of(self, keypath: str) -> int | None:
        """Best-effort line of a key path: TOML itself gives none."""
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", keypath)
        if not parts:
            return None
        first, rest = parts[0], parts[1:]
        if rest and rest[0].startswith("["):
            arrays = self.arrays.get(first, [])
            index = int(rest[0][1:-1]) - 1
            if index >= len(arrays):
                return None
            at, rest = arrays[index], rest[1:]
        elif first == "providers" and rest:
            found = self.tables.get(f"providers.{rest[0]}")
            if found is None:
                return None
            at, rest = found, rest[1:]
        else:
            found = self.tables.get(first)
            if found is None:
                return None
            at = found
        return self._line_in(at, rest)

    def _line_in(self, at: int, rest: list[str]) -> int:
        header = self.headers[at]
        if not rest:
            return header.line
        end = self.headers[at + 1].end if at + 1 < len(self.headers) else len(self.text)
        body = self.text[header.end : end]
        hit = re.search(rf"^[ \t]*{re.escape(rest[0])}[ \t]*=", body, re.M)
        if hit:
            return header.line + body.count("\n", 0, hit.start())
        if at + 1 < len(self.headers) and self.headers[at + 1].name == f"{header.name}.{rest[0]}":
            return self._line_in(at + 1, rest[1:])  # tomli-w writes `[endpoint.price]` below its endpoint
        return header.line


class _Validator:
    """Walks the parsed TOML, converting values and collecting errors; only the errors shown are placed on a
    line, so a profile with thousands of bad values is reported in linear time."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.errors: list[tuple[str, str]] = []  # (key path, message)
        self.failed_providers: set[str] = set()

    # -- error reporting ---------------------------------------------------------------------------
    def error(self, keypath: str, message: str) -> None:
        self.errors.append((keypath, message))

    def messages(self, limit: int) -> list[str]:
        """The first `limit` errors, each with file and line."""
        headers = _Headers(self.text) if self.errors else None
        shown = []
        for keypath, message in self.errors[:limit]:
            line = headers.line_of(keypath) if headers else None
            where = f"{self.path}:{line}" if line else self.path
            shown.append(f"{where}: {keypath}: {message}")
        return shown

    # -- typed readers -----------------------------------------------------------------------------
    def table(self, value: object, keypath: str, known: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.error(keypath, f"expected a table, got {_type_name(value)}")
            return {}
        for key in value:
            if key not in known:
                self.error(f"{keypath}.{key}" if keypath else key, f"unknown key.{_did_you_mean(key, known)}")
        return value

    def number(self, value: object, keypath: str, minimum: float = 0.0, positive: bool = False) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(keypath, f"expected a number, got {_type_name(value)} {_show(value)}")
            return None
        try:
            number = float(value)
        except OverflowError:  # a TOML integer beyond float range: as useless as inf, and not a crash
            number = math.inf
        if not math.isfinite(number) or (number <= minimum if positive else number < minimum):
            bound = f"> {minimum:g}" if positive else f">= {minimum:g}"
            self.error(keypath, f"expected a finite number {bound}, got {_show(value)}")
            return None
        return number

    def integer(self, value: object, keypath: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(keypath, f"expected a whole number, got {_type_name(value)} {_show(value)}")
            return None
        if value <= 0:
            self.error(keypath, f"expected a whole number > 0, got {value}")
            return None
        return value

    def boolean(self, value: object, keypath: str) -> bool | None:
        if not isinstance(value, bool):
            self.error(keypath, f"expected true or false, got {_type_name(value)} {_show(value)}")
            return None
        return value

    def string(self, value: object, keypath: str, choices: tuple[str, ...] | None = None) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.error(keypath, f"expected a non-empty string, got {_type_name(value)} {_show(value)}")
            return None
        if choices is not None and value not in choices:
            options = " | ".join(f'"{c}"' for c in choices)
            self.error(keypath, f"expected one of {options}, got {_show(value)}.{_did_you_mean(value, choices)}")
            return None
        return value

    def strings(self, value: object, keypath: str) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
            self.error(keypath, f"expected an array of non-empty strings, got {_show(value)}")
            return None
        return tuple(value)

    def prices(self, value: object, keypath: str) -> dict[str, float]:
        table = self.table(value, keypath, PRICE_KEYS)
        out: dict[str, float] = {}
        for key, raw in table.items():
            if key in PRICE_KEYS and (number := self.number(raw, f"{keypath}.{key}")) is not None:
                out[key] = number
        return out

    # -- sections ----------------------------------------------------------------------------------
    def profile(self, data: dict[str, Any], name: str) -> Profile | None:
        self.table(data, "", TOP_KEYS)
        routing = self.routing(data.get("routing", {}))
        presets = self.presets(data.get("presets", {}))
        timeouts = self.section(data.get("timeouts", {}), "timeouts", TIMEOUT_KEYS, Timeouts)
        health = self.health(data.get("health", {}))
        budget = self.budget(data.get("budget", {}))
        providers = self.providers(data.get("providers", {}))
        endpoints = self.endpoints(data.get("endpoint", []), providers)
        if self.errors:
            return None
        return Profile(
            name=name,
            path=self.path,
            providers=MappingProxyType(providers),
            endpoints=tuple(endpoints),
            routing=MappingProxyType(routing),
            timeouts=timeouts,
            health=health,
            budget=budget,
            presets=MappingProxyType(presets),
        )

    def section(self, value: object, keypath: str, keys: tuple[str, ...], factory: Callable[..., Any]) -> Any:
        table = self.table(value, keypath, keys)
        values = {}
        for key, raw in table.items():
            if key in keys and (number := self.number(raw, f"{keypath}.{key}", positive=True)) is not None:
                values[key] = number
        return factory(**values)

    def budget(self, value: object) -> BudgetSettings:
        """[budget]: USD limits >= 0 per UTC day and calendar month, and the days usage is kept (>= 1)."""
        table = self.table(value, "budget", BUDGET_KEYS)
        values: dict[str, Any] = {}
        for key in ("daily_usd", "monthly_usd"):
            if key in table and (number := self.number(table[key], f"budget.{key}")) is not None:
                values[key] = number
        if "retention_days" in table and (days := self.integer(table["retention_days"], "budget.retention_days")):
            values["retention_days"] = days
        return BudgetSettings(**values)

    def health(self, value: object) -> HealthSettings:
        """[health]: numbers, and `store`, a shared store's URL that carries no password (SPEC §9, §13)."""
        if not isinstance(value, dict):
            return self.section(value, "health", HEALTH_KEYS, HealthSettings)
        numbers = {k: v for k, v in value.items() if k != HEALTH_STORE}
        settings = self.section(numbers, "health", HEALTH_KEYS, HealthSettings)
        if HEALTH_STORE not in value:
            return settings
        keypath = f"health.{HEALTH_STORE}"
        raw = value[HEALTH_STORE]
        if not isinstance(raw, str) or not raw.strip():
            self.error(keypath, f"expected a redis:// or rediss:// URL, got {_type_name(raw)} {_show(raw)}")
            return settings
        from orcli.store.url import BadStoreURL, has_password, parse

        if has_password(raw):
            # A profile is shared and committed; the password goes in ORCLI_HEALTH_URL, which wins over this key.
            self.error(keypath, "a password in a profile would be shown to everyone who reads it; give the "
                       "whole URL in the environment variable ORCLI_HEALTH_URL instead")  # fmt: skip
            return settings
        try:
            parse(raw)
        except BadStoreURL as exc:
            self.error(keypath, str(exc))
            return settings
        return settings._replace(store=raw.strip())

    def routing(self, value: object) -> dict[str, object]:
        table = self.table(value, "routing", ROUTING_KEYS)
        return {key: raw for key, raw in table.items() if key in ROUTING_KEYS and self.routing_value(key, raw)}

    def presets(self, value: object) -> dict[str, dict[str, object]]:
        """[presets.NAME]: named bundles of [routing] keys and request values, chosen with --preset NAME."""
        if not isinstance(value, dict):
            self.error("presets", f"expected a table of presets ([presets.NAME]), got {_type_name(value)}")
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
            self.error(keypath, f"expected a table of request options (e.g. {{ temperature = 0.2 }}), "
                       f"got {_type_name(raw)}")  # fmt: skip
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
            self.error("providers", f"expected a table of providers, got {_type_name(value)}")
            return {}
        providers: dict[str, Provider] = {}
        for name, raw in value.items():
            keypath = f"providers.{name}"
            is_variants = (
                isinstance(raw, dict)
                and raw
                and not set(raw) & set(PROVIDER_KEYS)
                and all(isinstance(v, dict) for v in raw.values())
            )
            if is_variants:
                # `[providers.deepinfra.turbo]` is how TOML spells the variant `deepinfra/turbo`.
                for variant, sub in raw.items():
                    self.add_provider(providers, f"{name}/{variant}", sub, f"{keypath}.{variant}")
            else:
                self.add_provider(providers, name, raw, keypath)
        return providers

    def add_provider(self, providers: dict[str, Provider], name: str, raw: object, keypath: str) -> None:
        first = len(self.errors)
        try:
            self._add_provider(providers, name, raw, keypath)
        finally:
            if len(self.errors) != first:
                self.failed_providers.add(name)

    def _add_provider(self, providers: dict[str, Provider], name: str, raw: object, keypath: str) -> None:
        table = self.table(raw, keypath, PROVIDER_KEYS)
        if not table and not isinstance(raw, dict):
            return
        before = len(self.errors)
        base_url = self.string(table.get("base_url"), f"{keypath}.base_url") if "base_url" in table else None
        api = self.string(table["api"], f"{keypath}.api", API_VALUES) if "api" in table else "openai"
        settings = self._dialect_settings(table, keypath, api)
        if "base_url" not in table:
            base_url = (
                _default_base_url(api, settings)
                if api is not None and api in DIALECTS and settings is not None
                else None
            )
            if base_url is None:
                self.error(keypath, "missing `base_url` (the provider's API root)")
        elif base_url is not None and _URL_USERINFO.match(base_url):
            # Not echoed: the part before `@` is a password (SPEC §9), and httpx would send it as Basic auth.
            self.error(
                f"{keypath}.base_url",
                "a base_url must not carry credentials (user:password@); the key belongs in the environment "
                "variable named by api_key_env",
            )
        elif base_url is not None:
            problem = _url_problem(base_url)
            if problem is not None:
                self.error(
                    f"{keypath}.base_url", f"expected an http:// or https:// URL, got {_show(base_url)}{problem}"
                )
        key_env = self.string(table["api_key_env"], f"{keypath}.api_key_env") if "api_key_env" in table else None
        no_key = DIALECTS[api].no_key if api is not None and api in DIALECTS else None
        if key_env is not None and no_key:
            self.error(f"{keypath}.api_key_env", f'api = "{api}" takes no key: {no_key}')
        policy = table.get("data_collection", "allow")
        policy = self.string(policy, f"{keypath}.data_collection", POLICY_VALUES)
        zdr = self.boolean(table["zdr"], f"{keypath}.zdr") if "zdr" in table else False
        insecure = (
            self.boolean(table["allow_insecure"], f"{keypath}.allow_insecure") if "allow_insecure" in table else False
        )
        headers = table.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            self.error(f"{keypath}.headers", 'expected a table of string values, e.g. { X-Title = "orcli" }')
            headers = {}
        for header, header_value in headers.items():
            # Caught here, not on the wire: a header HTTP cannot carry would fail every request to this
            # provider, and each failure would count against the provider's health.
            if not _HEADER_NAME.fullmatch(header):
                self.error(f"{keypath}.headers", f"{_show(header)} is not a valid HTTP header name")
            elif (reserved := _header_problem(header)) is not None:
                self.error(f"{keypath}.headers.{header}", reserved)
            elif not _HEADER_VALUE.fullmatch(header_value):
                self.error(
                    f"{keypath}.headers.{header}",
                    "a header value must be printable ASCII on one line (no line breaks or control characters)",
                )
        if len(self.errors) != before:
            return
        providers[name] = Provider(
            name=name,
            base_url=str(base_url).rstrip("/"),
            api=str(api),
            api_key_env=key_env,
            data_collection=str(policy),
            zdr=bool(zdr),
            headers=MappingProxyType(dict(headers)),
            allow_insecure=bool(insecure),
            settings=MappingProxyType(settings or {}),
        )

    def _dialect_settings(self, table: dict[str, Any], keypath: str, api: str | None) -> dict[str, object] | None:
        """The keys the provider's dialect declares (orcli/wire/__init__.py), checked against the declaration;
        None when one is wrong. A key of another dialect is a mistake named as such."""
        settings: dict[str, object] = {}
        ok = True
        for key, owners in DIALECT_KEYS.items():
            if key in table and api is not None and api not in owners:
                apis = " or ".join(f'"{owner}"' for owner in owners)
                self.error(f"{keypath}.{key}", f'applies to api = {apis} only (this provider has api = "{api}")')
                ok = False
        for spec in DIALECTS[api].keys if api is not None and api in DIALECTS else ():
            path = f"{keypath}.{spec.name}"
            if spec.name not in table:
                if spec.required:
                    self.error(keypath, f"missing `{spec.name}` ({spec.help or 'required by api = ' + repr(api)})")
                    ok = False
                continue
            value = table[spec.name]
            if spec.kind is bool:
                value = self.boolean(value, path)
            elif spec.kind in (int, float):
                value = self.number(value, path)
            else:
                value = self.string(value, path, spec.choices or None)
            if value is None:
                ok = False
            settings[spec.name] = value
        return settings if ok else None

    def endpoints(self, value: object, providers: dict[str, Provider]) -> list[Endpoint]:
        if not isinstance(value, list):
            self.error("endpoint", "expected [[endpoint]] tables (an array of tables)")
            return []
        seen: dict[tuple[str, str], int] = {}
        endpoints: list[Endpoint] = []
        for number, raw in enumerate(value, start=1):
            keypath = f"endpoint[{number}]"
            before = len(self.errors)
            table = self.table(raw, keypath, ENDPOINT_KEYS)
            if not isinstance(raw, dict):
                continue
            for required in ("model", "provider"):
                if required not in table:
                    self.error(keypath, f"missing `{required}`")
            model = self.string(table["model"], f"{keypath}.model") if "model" in table else None
            provider = self.string(table["provider"], f"{keypath}.provider") if "provider" in table else None
            if provider is not None and provider not in providers and provider not in self.failed_providers:
                # A provider whose own table had errors is reported there, not again for each endpoint.
                self.error(
                    f"{keypath}.provider",
                    f"unknown provider `{provider}`: no [providers.{provider}] table.{_did_you_mean(provider, providers)}",
                )
            upstream = (
                self.string(table["upstream_model"], f"{keypath}.upstream_model")
                if "upstream_model" in table
                else model
            )
            price = Price(**self.prices(table["price"], f"{keypath}.price")) if "price" in table else None
            context = (
                self.integer(table["context_length"], f"{keypath}.context_length")
                if "context_length" in table
                else None
            )
            max_out = (
                self.integer(table["max_completion_tokens"], f"{keypath}.max_completion_tokens")
                if "max_completion_tokens" in table
                else None
            )
            quant = self.string(table["quantization"], f"{keypath}.quantization") if "quantization" in table else None
            params = self.strings(table["parameters"], f"{keypath}.parameters") if "parameters" in table else ()
            latency = self.number(table["latency"], f"{keypath}.latency") if "latency" in table else None
            throughput = self.number(table["throughput"], f"{keypath}.throughput") if "throughput" in table else None
            if model and provider:
                if (model, provider) in seen:
                    self.error(
                        keypath,
                        f"duplicate endpoint: model `{model}` with provider `{provider}` is already "
                        f"endpoint[{seen[(model, provider)]}]",
                    )
                seen.setdefault((model, provider), number)
            if len(self.errors) != before or not model or not provider:
                continue
            endpoints.append(
                Endpoint(
                    model=model,
                    provider=provider,
                    upstream_model=str(upstream),
                    price=price,
                    context_length=context,
                    max_completion_tokens=max_out,
                    quantization=quant.lower() if quant else None,
                    parameters=frozenset(params or ()),
                    latency=latency,
                    throughput=throughput,
                )
            )
        return endpoints
