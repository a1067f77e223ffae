"""Merge the profile's [routing] with per-request CLI overrides, remembering where each value came from."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from orcli.errors import UsageError
from orcli.types import MaxPrice, Partition, Preferences, Sort

FLAG, PROFILE, DEFAULT = "flag", "profile", "default"

_LIST_KEYS = ("models", "order", "only", "ignore", "quantizations")
_BOOL_KEYS = ("allow_fallbacks", "require_parameters", "zdr", "skip_unhealthy")


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


def merge(routing: Mapping[str, object], overrides: Mapping[str, object]) -> Preferences:
    """Effective preferences: a CLI override beats the profile, which beats the default."""
    values: dict[str, object] = {}
    sources: dict[str, str] = {}

    def take(key: str, value: object, source: str) -> None:
        values[key] = value
        sources[key] = source

    for key, raw in routing.items():
        if key == "sort":
            by, partition = _split_sort(raw)
            take("sort", by, PROFILE)
            if partition is not None:
                take("partition", partition, PROFILE)
        elif key == "max_price":
            assert isinstance(raw, Mapping)
            take(key, MaxPrice(**{k: float(v) for k, v in raw.items()}), PROFILE)
        elif key in _LIST_KEYS:
            take(key, tuple(raw), PROFILE)  # type: ignore[arg-type]
        else:
            take(key, raw, PROFILE)
    if "partition" in routing:
        take("partition", routing["partition"], PROFILE)
    for key, raw in overrides.items():
        take(key, raw, FLAG)

    def choice(key: str, options: tuple[str, ...], default: str | None) -> str | None:
        raw = values.get(key, default)
        if raw is None or raw in options:
            return raw  # type: ignore[return-value]
        where = f"--{key.replace('_', '-')}" if sources.get(key) == FLAG else f"{key} in the profile's [routing]"
        raise UsageError(f"{where}: expected one of {', '.join(options)}; got `{raw}`.")

    by = choice("sort", tuple(s.value for s in Sort), None)
    sort = Sort(by) if by is not None else None
    partition = Partition(choice("partition", tuple(p.value for p in Partition), Partition.MODEL.value))
    data_collection = str(choice("data_collection", ("allow", "deny"), "allow"))
    if partition is Partition.NONE and sort is None:
        raise UsageError(
            'partition "none" ranks endpoints of all models together and needs a sort key: '
            "add --sort price|latency|throughput (or sort = ... in the profile's [routing])."
        )
    models = tuple(dict.fromkeys(values.get("models", ())))  # type: ignore[arg-type]
    for key in Preferences._fields:
        if key != "sources":
            sources.setdefault(key, DEFAULT)
    return Preferences(
        models=models,
        sort=sort,
        partition=partition,
        order=tuple(values.get("order", ())),  # type: ignore[arg-type]
        allow_fallbacks=bool(values.get("allow_fallbacks", True)),
        only=tuple(values.get("only", ())),  # type: ignore[arg-type]
        ignore=tuple(values.get("ignore", ())),  # type: ignore[arg-type]
        require_parameters=bool(values.get("require_parameters", False)),
        data_collection=data_collection,
        zdr=bool(values.get("zdr", False)),
        quantizations=tuple(q.lower() for q in values.get("quantizations", ())),  # type: ignore[attr-defined]
        max_price=values.get("max_price", MaxPrice()),  # type: ignore[arg-type]
        preferred_max_latency=_optional_float(values.get("preferred_max_latency")),
        preferred_min_throughput=_optional_float(values.get("preferred_min_throughput")),
        skip_unhealthy=bool(values.get("skip_unhealthy", False)),
        sources=MappingProxyType(sources),
    )


def _split_sort(raw: object) -> tuple[str, str | None]:
    if isinstance(raw, Mapping):
        return str(raw["by"]), (str(raw["partition"]) if "partition" in raw else None)
    return str(raw), None


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def as_dict(prefs: Preferences) -> dict[str, object]:
    """Preferences as plain JSON values (for explain-route --json and the preferences table)."""
    mp = prefs.max_price
    return {
        "models": list(prefs.models),
        "sort": prefs.sort.value if prefs.sort else None,
        "partition": prefs.partition.value,
        "order": list(prefs.order),
        "allow_fallbacks": prefs.allow_fallbacks,
        "only": list(prefs.only),
        "ignore": list(prefs.ignore),
        "require_parameters": prefs.require_parameters,
        "data_collection": prefs.data_collection,
        "zdr": prefs.zdr,
        "quantizations": list(prefs.quantizations),
        "max_price": {k: getattr(mp, k) for k in ("prompt", "completion", "request") if getattr(mp, k) is not None},
        "preferred_max_latency": prefs.preferred_max_latency,
        "preferred_min_throughput": prefs.preferred_min_throughput,
        "skip_unhealthy": prefs.skip_unhealthy,
    }
