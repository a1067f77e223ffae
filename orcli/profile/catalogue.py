"""OpenRouter's public catalogue (`GET /api/v1/models/{author}/{slug}/endpoints`) -> profile endpoints.

docs/profiles.md#from-openrouter. Units (OpenRouter's API reference): prices are USD per token as decimal strings (per request for
`request`), converted here to USD per 1M tokens exactly with `decimal`; `latency_last_30m` is milliseconds to
first token (the schema says ms, real payloads are ms-sized) and becomes seconds; `throughput_last_30m`
is tokens/s. OpenRouter's own `discount` and time-window `overrides` are not applied: they are OpenRouter's
billing, not the provider's list price when orcli calls the provider directly.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from orcli.errors import OrcliError, UsageError
from orcli.profile.provider_table import KNOWN_PROVIDERS, KnownProvider

CATALOGUE_URL = "https://openrouter.ai/api/v1/models/{model}/endpoints"
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._:-]*")
# Names from the network that orcli writes into profiles and prints (docs/security.md: no control characters or escape
# sequences reach the terminal): a provider tag, a quantization, a parameter.
_TAG = re.compile(r"[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MILLION = Decimal(1_000_000)
MAX_PRICE = Decimal(1_000_000)  # USD per 1M tokens (or per request): anything above is not a price


class CatalogueEndpoint(NamedTuple):
    """One endpoint of the catalogue, in orcli's units; None where the catalogue does not say."""

    model: str
    tag: str
    price: Mapping[str, Decimal] | None  # prompt/completion per 1M tokens, request per call; None = unknown
    context_length: int | None = None
    max_completion_tokens: int | None = None
    quantization: str | None = None
    parameters: tuple[str, ...] = ()
    latency: float | None = None  # seconds to first token (p50)
    throughput: float | None = None  # tokens/s (p50)


class Catalogue(NamedTuple):
    """Endpoints read from one or more saved or fetched responses, and what was odd about them."""

    endpoints: tuple[CatalogueEndpoint, ...]
    notes: tuple[str, ...]
    models: tuple[str, ...] = ()  # every model the responses were about, wanted or not


class Imported(NamedTuple):
    """The catalogue in profile terms: provider tables, endpoint tables, and the slugs orcli cannot call."""

    providers: dict[str, dict[str, Any]]
    endpoints: list[dict[str, Any]]
    unmapped: dict[str, list[str]]  # tag -> models it serves (docs/profiles.md#from-openrouter: listed, not guessed)


# -- values ------------------------------------------------------------------------------------------
def per_million(raw: object) -> Decimal | None:
    """USD per token (string, or a number some copies carry) -> USD per 1M tokens, exactly; None if unusable."""
    value = _usd(raw)
    return None if value is None or value > MAX_PRICE else _bounded(value * _MILLION)


def per_request(raw: object) -> Decimal | None:
    """A per-request price stays USD per request."""
    value = _usd(raw)
    return None if value is None else _bounded(value)


def price_value(raw: object) -> Decimal | None:
    """A price already in orcli's units (models.dev's USD per 1M tokens), checked like any other."""
    value = _usd(raw)
    return None if value is None else _bounded(value)


def _bounded(value: Decimal) -> Decimal | None:
    """A price a person could mean: finite, at most MAX_PRICE, with a TOML float that reads back as itself.
    A hostile `1e999999` is unusable, not an internal error (docs/profiles.md#hostile-catalogues)."""
    if value > MAX_PRICE:
        return None
    tidy = _tidy(value)
    return tidy if tidy == 0 or math.isfinite(float(tidy)) and float(tidy) != 0 else None


def load_json(text: str | bytes) -> Any:
    """json.loads for catalogues: a number too long for Python's int (a hostile `1` followed by 5,000 zeros)
    becomes NaN, an unusable value of that one entry, instead of failing the whole file."""
    try:
        return json.loads(text)
    except ValueError as exc:  # only then the slower hook: a Python call per integer
        if "integer string conversion" not in str(exc):
            raise
    return json.loads(text, parse_int=_parse_int)


def _parse_int(text: str) -> int | float:
    return int(text) if len(text) <= 40 else math.nan


def _usd(raw: object) -> Decimal | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | float):
        raw = repr(raw)  # the shortest text of the float: 5.9e-07, not its binary expansion
    return _decimal(raw) if isinstance(raw, str) else None


def _decimal(text: str) -> Decimal | None:
    if len(text) > 64:  # no price needs more digits; a megabyte of them is an attack on the parser
        return None
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError, ArithmeticError):
        return None
    # Negative prices are the catalogue's "-1" for routers whose price depends on the model they pick.
    return value if value.is_finite() and value >= 0 else None


def _tidy(value: Decimal) -> Decimal:
    """0.59000000 -> 0.59, 3.000000 -> 3: the same number, written as a person would."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def toml_number(value: Decimal) -> int | float:
    """A Decimal as the TOML number that reads back as the same value (an int when whole)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _positive_int(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    return raw if isinstance(raw, int) and 0 < raw <= 10**9 else None


def _p50(raw: object) -> Decimal | None:
    """A percentile table's p50 (a bare number is read as p50), if it is a usable non-negative number."""
    if isinstance(raw, dict):
        raw = raw.get("p50")
    value = _usd(raw)
    return value if value is not None and value > 0 else None


# -- parsing -----------------------------------------------------------------------------------------
def parse_catalogue(text: str, source: str, wanted: Iterable[str] = ()) -> Catalogue:
    """A saved copy: one endpoints response, or a JSON array of them (e.g. several curl outputs, `jq -s`);
    with `wanted`, only those models' responses are read (the others are only named in `models`)."""
    try:
        payload = load_json(text)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{source}: not JSON: {exc}.") from None
    responses = payload if isinstance(payload, list) else [payload]
    endpoints: list[CatalogueEndpoint] = []
    notes: list[str] = []
    models: list[str] = []
    wanted = set(wanted)
    for i, response in enumerate(responses):
        where = f"{source}[{i}]" if isinstance(payload, list) else source
        model = _response_model(response, where)
        models.append(model)
        if wanted and model not in wanted:
            continue
        found, odd = parse_response(response, where)
        endpoints += found
        notes += odd
    return Catalogue(tuple(endpoints), tuple(notes), tuple(dict.fromkeys(models)))


def _response_model(response: object, source: str) -> str:
    """The model a response is about: `data.id`, else its first endpoint's `model_id`."""
    data = response.get("data") if isinstance(response, dict) else None
    if isinstance(data, dict):
        first = next((e for e in data.get("endpoints") or () if isinstance(e, dict)), {})
        for candidate in (data.get("id"), first.get("model_id")):
            if isinstance(candidate, str) and _MODEL_ID.fullmatch(candidate):
                return candidate
    return f"(no usable model id in {source})"


def parse_response(response: object, source: str) -> tuple[list[CatalogueEndpoint], list[str]]:
    """One `{"data": {"id", "endpoints": [...]}}` document -> its endpoints and notes on odd values."""
    data = response.get("data") if isinstance(response, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("endpoints"), list):
        raise UsageError(
            f'{source}: not an OpenRouter endpoints response (expected {{"data": {{"id": ..., '
            f'"endpoints": [...]}}}}, as GET /api/v1/models/AUTHOR/SLUG/endpoints returns).'
        )
    model = data.get("id")
    notes: list[str] = []
    endpoints: list[CatalogueEndpoint] = []
    for number, raw in enumerate(data["endpoints"], start=1):
        if not isinstance(raw, dict):
            notes.append(f"{source}: endpoint {number} is not an object; skipped")
            continue
        model_id = model if isinstance(model, str) and model else raw.get("model_id")
        tag = raw.get("tag")
        if not isinstance(model_id, str) or not _MODEL_ID.fullmatch(model_id):
            notes.append(f"{source}: endpoint {number} names no usable model id; skipped")
            continue
        if not isinstance(tag, str) or not tag.strip():
            notes.append(f"{model_id}: endpoint {number} has no provider tag; skipped")
            continue
        tag = tag.strip().lower()
        if not _TAG.fullmatch(tag):
            notes.append(f"{model_id}: endpoint {number} has a provider tag that is not a slug; skipped")
            continue
        endpoint, odd = parse_endpoint(model_id, tag, raw)
        endpoints.append(endpoint)
        notes += odd
    return endpoints, notes


def parse_endpoint(model: str, tag: str, raw: Mapping[str, Any]) -> tuple[CatalogueEndpoint, list[str]]:
    notes: list[str] = []
    given = raw.get("pricing")
    pricing: Mapping[str, Any] = given if isinstance(given, dict) else {}
    prompt, completion = per_million(pricing.get("prompt")), per_million(pricing.get("completion"))
    price: dict[str, Decimal] | None = None
    if prompt is not None and completion is not None:
        price = {"prompt": prompt, "completion": completion}
        request = per_request(pricing.get("request"))
        if request:
            price["request"] = request
    else:
        # docs/profiles.md#the-format: an absent price is unknown, never free; half a price is no price.
        missing = [k for k, v in (("prompt", prompt), ("completion", completion)) if v is None]
        notes.append(f"{model} on {tag}: price unknown (pricing.{' and pricing.'.join(missing)} missing or unusable)")
    quantization = raw.get("quantization")
    quantization = quantization.strip().lower() if isinstance(quantization, str) else None
    if quantization is not None and not _WORD.fullmatch(quantization):
        quantization = None
    params = raw.get("supported_parameters")
    parameters = (
        tuple(dict.fromkeys(p for p in params if isinstance(p, str) and _WORD.fullmatch(p)))
        if isinstance(params, list)
        else ()
    )
    latency_ms, throughput = _p50(raw.get("latency_last_30m")), _p50(raw.get("throughput_last_30m"))
    return (
        CatalogueEndpoint(
            model=model,
            tag=tag,
            price=price,
            context_length=_positive_int(raw.get("context_length")),
            max_completion_tokens=_positive_int(raw.get("max_completion_tokens")),
            quantization=quantization if quantization and quantization != "unknown" else None,
            parameters=parameters,
            latency=None if latency_ms is None else round(float(latency_ms / 1000), 3),
            throughput=None if throughput is None else round(float(throughput), 1),
        ),
        notes,
    )


# -- mapping to a profile ----------------------------------------------------------------------------
def known_provider(tag: str, table: Mapping[str, KnownProvider] = KNOWN_PROVIDERS) -> KnownProvider | None:
    """The row for a tag: its own (`deepinfra/turbo`) if it has one, else its base slug's (`deepinfra`)."""
    return table.get(tag) or table.get(tag.split("/", 1)[0])


def to_profile(
    endpoints: Iterable[CatalogueEndpoint],
    callable_apis: Iterable[str],
    table: Mapping[str, KnownProvider] = KNOWN_PROVIDERS,
) -> Imported:
    """Endpoint tables named by the catalogue's tag (so `order`/`only` use OpenRouter's slugs), plus the
    provider table each needs; endpoints of providers orcli cannot call are left out and listed."""
    apis = set(callable_apis)
    providers: dict[str, dict[str, Any]] = {}
    tables: list[dict[str, Any]] = []
    unmapped: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    for e in endpoints:
        known = known_provider(e.tag, table)
        if known is None or known.api not in apis:
            unmapped.setdefault(e.tag, [])
            if e.model not in unmapped[e.tag]:
                unmapped[e.tag].append(e.model)
            continue
        if (e.model, e.tag) in seen:
            continue  # the same model listed twice (two copies in one file): the first one wins
        seen.add((e.model, e.tag))
        providers.setdefault(e.tag, known.table())
        tables.append(endpoint_table(e))
    return Imported(providers, tables, unmapped)


def endpoint_table(e: CatalogueEndpoint) -> dict[str, Any]:
    """The `[[endpoint]]` table for one catalogue endpoint; keys the catalogue does not give are absent."""
    table: dict[str, Any] = {"model": e.model, "provider": e.tag}
    if e.price is not None:
        table["price"] = {k: toml_number(v) for k, v in e.price.items()}
    for key in ("context_length", "max_completion_tokens", "quantization"):
        if getattr(e, key) is not None:
            table[key] = getattr(e, key)
    if e.parameters:
        table["parameters"] = list(e.parameters)
    if e.latency is not None:
        table["latency"] = e.latency
    if e.throughput is not None:
        table["throughput"] = e.throughput
    return table


# -- fetching ----------------------------------------------------------------------------------------
def check_model_id(model: str) -> str:
    if not _MODEL_ID.fullmatch(model):
        raise UsageError(
            f"`{model}` is not an OpenRouter model id (AUTHOR/SLUG, e.g. meta-llama/llama-3.3-70b-instruct)."
        )
    return model


def fetch_catalogue(models: Iterable[str], get: Callable[[str], tuple[int, bytes]]) -> Catalogue:
    """Fetch each model's endpoints with `get(url) -> (status, body)`; the caller owns the HTTP client."""
    models = list(models)
    endpoints: list[CatalogueEndpoint] = []
    notes: list[str] = []
    for model in models:
        url = CATALOGUE_URL.format(model=check_model_id(model))
        status, body = get(url)
        if status == 404:
            raise UsageError(f"OpenRouter's catalogue has no model `{model}` ({url} answered 404).")
        if status != 200:
            raise OrcliError(f"OpenRouter's catalogue answered HTTP {status} for `{model}` ({url}).")
        try:
            payload = load_json(body)
        except (ValueError, RecursionError):
            raise OrcliError(f"OpenRouter's catalogue sent something that is not JSON for `{model}` ({url}).") from None
        found, odd = parse_response(payload, url)
        endpoints += found
        notes += odd
    return Catalogue(tuple(endpoints), tuple(notes), tuple(models))
