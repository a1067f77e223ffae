"""Routing preferences, each declared once (docs/profiles.md#the-format [routing]; flags: docs/commands.md), and their merge: profile, then
per-request overrides, remembering where each value came from. Pure.

`PREFERENCES` is the single declaration: validation of [routing] (profile/parse.py), the CLI flags
(commands/common.py), the keys a gateway request's `provider` object may carry (gateway/openai_api.py), the
overrides a request carries, the merge and the preferences table are all derived from it. Adding a preference is one entry here (plus its field on `types.Preferences`) and its tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple, cast

from orcli.errors import UsageError
from orcli.types import Balance, MaxPrice, Partition, Preferences, Sort

FLAG, PROFILE, DEFAULT = "flag", "profile", "default"
PRESET = "preset"  # a preset's values are sourced `preset NAME`


class ValueKind(StrEnum):
    """How a preference is written in a profile and on the command line."""

    NAMES = "names"  # a list of names; flags take `a,b` and may repeat
    SWITCH = "switch"  # a boolean; its flag sets `flag_value`
    CHOICE = "choice"  # one of `choices`
    SORT = "sort"  # a sort key, or { by = ..., partition = ... } in a profile
    PRICES = "prices"  # { prompt, completion, request } in USD per 1M tokens; `prompt=1,completion=2` as a flag
    NUMBER = "number"  # a number >= 0 (a flag, if any, takes the same)


class Preference(NamedTuple):
    """One routing preference: its profile key (= its field on Preferences), its kind, and its flag."""

    name: str
    kind: ValueKind
    default: object
    help: str
    flag: str | None = None  # None: profile only
    short: str | None = None
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    flag_value: object = True  # what a SWITCH flag sets (False for --no-fallbacks)
    per_request: bool = False  # a gateway request's `provider` object may override it (docs/gateway.md)


SORT_VALUES = tuple(s.value for s in Sort)
PARTITION_VALUES = tuple(p.value for p in Partition)
POLICY_VALUES = ("allow", "deny")
BALANCE_VALUES = tuple(b.value for b in Balance)

# `per_request`: the OpenRouter-style `provider` object of a gateway request may set it (docs/gateway.md).
PREFERENCES: tuple[Preference, ...] = (
    Preference(
        "models",
        ValueKind.NAMES,
        (),
        "Model to use; repeat for fallbacks (primary first).",
        flag="--model",
        short="-m",
        metavar="MODEL",
    ),
    Preference(
        "sort",
        ValueKind.SORT,
        None,
        "Rank providers by this.",
        flag="--sort",
        metavar="price|latency|throughput",
        choices=SORT_VALUES,
        per_request=True,
    ),
    Preference(
        "partition",
        ValueKind.CHOICE,
        Partition.MODEL.value,
        "model: a model's providers before the next model's (default); none: all ranked together.",
        flag="--partition",
        metavar="model|none",
        choices=PARTITION_VALUES,
    ),
    Preference(
        "order",
        ValueKind.NAMES,
        (),
        "Providers to try first, in this order.",
        flag="--order",
        metavar="PROVIDERS",
        per_request=True,
    ),
    Preference(
        "allow_fallbacks",
        ValueKind.SWITCH,
        True,
        "Only providers named in --order may serve.",
        flag="--no-fallbacks",
        flag_value=False,
        per_request=True,
    ),
    Preference(
        "only",
        ValueKind.NAMES,
        (),
        "Allow only these providers.",
        flag="--only",
        metavar="PROVIDERS",
        per_request=True,
    ),
    Preference(
        "ignore",
        ValueKind.NAMES,
        (),
        "Never use these providers.",
        flag="--ignore",
        metavar="PROVIDERS",
        per_request=True,
    ),
    Preference(
        "require_parameters",
        ValueKind.SWITCH,
        False,
        "Drop providers lacking a parameter the request uses.",
        flag="--require-parameters",
        per_request=True,
    ),
    Preference(
        "data_collection",
        ValueKind.CHOICE,
        "allow",
        "deny: drop providers that may train on prompts.",
        flag="--data-collection",
        metavar="allow|deny",
        choices=POLICY_VALUES,
        per_request=True,
    ),
    Preference("zdr", ValueKind.SWITCH, False, "Only zero-data-retention providers.", flag="--zdr", per_request=True),
    Preference(
        "quantizations",
        ValueKind.NAMES,
        (),
        "Allowed quantizations, e.g. fp8,bf16.",
        flag="--quantizations",
        metavar="QUANTS",
        per_request=True,
    ),
    Preference(
        "max_price",
        ValueKind.PRICES,
        MaxPrice(),
        "Price cap per 1M tokens: 1 (prompt and completion), or prompt=1,completion=2.",
        flag="--max-price",
        metavar="USD",
        per_request=True,
    ),
    Preference("preferred_max_latency", ValueKind.NUMBER, None, "Seconds to first token; soft."),
    Preference("preferred_min_throughput", ValueKind.NUMBER, None, "Tokens per second; soft."),
    Preference(
        "balance",
        ValueKind.CHOICE,
        Balance.INVERSE_SQUARE.value,
        "Load balancing without sort/order: inverse-square (1/price²) or effective (price, speed, failures).",
        flag="--balance",
        metavar="inverse-square|effective",
        choices=BALANCE_VALUES,
        per_request=True,
    ),
    Preference(
        "hedge",
        ValueKind.NUMBER,
        None,
        "Start the next attempt too when the running one has no content after SECONDS; the first to answer wins.",
        flag="--hedge",
        metavar="SECONDS",
    ),
    Preference(
        "skip_unhealthy",
        ValueKind.SWITCH,
        False,
        "Reject endpoints in cooldown or with a recent outage.",
        flag="--skip-unhealthy",
    ),
)
BY_NAME: Mapping[str, Preference] = MappingProxyType({p.name: p for p in PREFERENCES})
ROUTING_KEYS: tuple[str, ...] = tuple(BY_NAME)  # every preference may be set in a profile's [routing]
PER_REQUEST_KEYS: tuple[str, ...] = tuple(p.name for p in PREFERENCES if p.per_request)


def split_names(values: Iterable[str]) -> tuple[str, ...]:
    """List flags take comma-separated names and may also be repeated: `--only a,b --only c`."""
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


def parse_max_price(text: str) -> MaxPrice:
    """`prompt=1,completion=2` -> MaxPrice; a bare number caps prompt and completion alike."""
    values: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, raw = part.partition("=")
        if not sep:
            key, raw = "", part
        key = key.strip()
        if key not in ("", "prompt", "completion", "request"):
            raise UsageError(
                f"--max-price: unknown price `{key}`; use prompt=, completion= or request= (USD per 1M tokens)."
            )
        try:
            number = float(raw)
        except ValueError:
            raise UsageError(f"--max-price: `{raw.strip()}` is not a number (in `{part}`).") from None
        if not math.isfinite(number) or number < 0:
            raise UsageError(f"--max-price: expected a number >= 0, got `{raw.strip()}`.")
        for k in ("prompt", "completion") if key == "" else (key,):
            values[k] = number
    if not values:
        raise UsageError("--max-price: expected e.g. prompt=1,completion=2 (USD per 1M tokens).")
    return MaxPrice(**values)


def parse_seconds(pref: Preference, raw: object) -> float:
    """A NUMBER flag's value (`--hedge 1.5`): a finite number >= 0, as in the profile."""
    try:
        number = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"{pref.flag}: `{raw}` is not a number of seconds.") from None
    if not math.isfinite(number) or number < 0:
        raise UsageError(f"{pref.flag}: expected a number of seconds >= 0, got `{raw}`.")
    return number


def overrides_from_flags(given: Mapping[str, object]) -> dict[str, object]:
    """The flags actually given, as preference values: an absent flag overrides nothing (it is not `false`).

    `given` maps a preference name to its flag's raw value (None / () / False when the flag was not given).
    """
    out: dict[str, object] = {}
    for pref in PREFERENCES:
        raw = given.get(pref.name)
        if pref.flag is None or raw is None or raw == () or raw == [] or raw is False:
            continue
        match pref.kind:
            case ValueKind.NAMES:
                out[pref.name] = split_names(raw)  # type: ignore[arg-type]
            case ValueKind.SWITCH:
                out[pref.name] = pref.flag_value
            case ValueKind.PRICES:
                out[pref.name] = parse_max_price(str(raw))
            case ValueKind.NUMBER:
                out[pref.name] = parse_seconds(pref, raw)
            case ValueKind.CHOICE | ValueKind.SORT:
                out[pref.name] = raw
    return out


def _profile_value(pref: Preference, raw: object) -> object:
    """A validated [routing] value as the merge keeps it."""
    match pref.kind:
        case ValueKind.NAMES:
            return tuple(cast("Iterable[str]", raw))
        case ValueKind.PRICES:
            assert isinstance(raw, Mapping)
            return MaxPrice(**{k: float(v) for k, v in raw.items()})
        case ValueKind.NUMBER:
            return None if raw is None else float(raw)  # type: ignore[arg-type]
        case _:
            return raw


def merge(
    routing: Mapping[str, object],
    overrides: Mapping[str, object],
    preset: tuple[str, Mapping[str, object]] | None = None,
) -> Preferences:
    """Effective preferences: a per-request override beats the preset (when one is chosen), which beats the
    profile's [routing], which beats the default; shallow, key by key (docs/routing.md, "Presets")."""
    values: dict[str, object] = {}
    sources: dict[str, str] = {}

    def take(key: str, value: object, source: str) -> None:
        values[key] = value
        sources[key] = source

    def take_table(table: Mapping[str, object], source: str) -> None:
        for key, raw in table.items():
            pref = BY_NAME.get(key)
            if pref is None:
                continue
            if pref.kind is ValueKind.SORT and isinstance(raw, Mapping):
                take("sort", str(raw["by"]), source)
                if "partition" in raw and "partition" not in table:
                    take("partition", str(raw["partition"]), source)
            else:
                take(key, _profile_value(pref, raw), source)

    take_table(routing, PROFILE)
    if preset is not None:
        take_table(preset[1], f"{PRESET} {preset[0]}")
    for key, raw in overrides.items():
        take(key, raw, FLAG)

    def choice(key: str) -> str | None:
        pref = BY_NAME[key]
        raw = values.get(key, pref.default)
        if raw is None or raw in pref.choices:
            return raw
        source = sources.get(key, PROFILE)
        if source == FLAG and pref.flag:
            where = pref.flag
        elif source.startswith(PRESET):
            where = f"{key} in the profile's [presets.{source[len(PRESET) + 1 :]}]"
        else:
            where = f"{key} in the profile's [routing]"
        raise UsageError(f"{where}: expected one of {', '.join(pref.choices)}; got `{raw}`.")

    fields: dict[str, object] = {}
    for pref in PREFERENCES:
        match pref.kind:
            case ValueKind.CHOICE | ValueKind.SORT:
                fields[pref.name] = choice(pref.name)
            case ValueKind.SWITCH:
                fields[pref.name] = bool(values.get(pref.name, pref.default))
            case ValueKind.NAMES:
                fields[pref.name] = tuple(dict.fromkeys(values.get(pref.name, ())))  # type: ignore[call-overload]
            case _:
                fields[pref.name] = values.get(pref.name, pref.default)
        sources.setdefault(pref.name, DEFAULT)
    sort = Sort(cast(str, fields["sort"])) if fields["sort"] is not None else None
    partition = Partition(cast(str, fields["partition"]))
    if partition is Partition.NONE and sort is None:
        raise UsageError(
            'partition "none" ranks endpoints of all models together and needs a sort key: '
            "add --sort price|latency|throughput (or sort = ... in the profile's [routing])."
        )
    fields["sort"] = sort
    fields["partition"] = partition
    fields["quantizations"] = tuple(q.lower() for q in fields["quantizations"])  # type: ignore[attr-defined]
    return Preferences(**fields, sources=MappingProxyType(sources))  # type: ignore[arg-type]


def json_value(pref: Preference, value: object) -> object:
    """One effective preference as a plain JSON value."""
    match pref.kind:
        case ValueKind.NAMES:
            return list(value)  # type: ignore[call-overload]
        case ValueKind.SORT | ValueKind.CHOICE:
            return None if value is None else str(value)
        case ValueKind.PRICES:
            assert isinstance(value, MaxPrice)
            return {k: v for k, v in value._asdict().items() if v is not None}
        case _:
            return value


def as_dict(prefs: Preferences) -> dict[str, object]:
    """Preferences as plain JSON values (for explain-route --json and the preferences table)."""
    return {p.name: json_value(p, getattr(prefs, p.name)) for p in PREFERENCES}


def is_default(pref: Preference, prefs: Preferences) -> bool:
    """Whether an effective preference is its default (the preferences table leaves those out)."""
    return json_value(pref, getattr(prefs, pref.name)) == json_value(pref, pref.default)
