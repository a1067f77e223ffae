"""The profile's fields, each declared once (docs/profiles.md): its key, the kind of value it takes, its
default and what it means. Pure.

Validation, the "did you mean" suggestions for unknown keys and the construction of the typed values
(`types.Provider`, `Endpoint`, `Timeouts`, `HealthSettings`) are all derived from these tables by
`profile/parse.py`; `[routing]` is declared by `routing/preferences.PREFERENCES`. Adding a key is one entry
here (plus its field on the type it fills) and its tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple

from orcli.routing.preferences import POLICY_VALUES
from orcli.types import EMPTY_MAP
from orcli.wire import DIALECTS
from orcli.wire.base import ProviderKey

API_VALUES: tuple[str, ...] = tuple(DIALECTS)  # a provider's `api`: the wire dialects orcli speaks


class Kind:
    """What a value must be; each kind has one reader in profile/readers.py that checks and converts it. Plain
    names rather than an Enum: every command loads this, and an Enum class costs ~0.2 ms to create."""

    TEXT = "text"  # a non-empty string
    CHOICE = "choice"  # one of the field's `choices`
    SWITCH = "switch"  # true or false
    NUMBER = "number"  # a finite number >= 0
    SECONDS = "seconds"  # a finite number > 0
    COUNT = "count"  # a whole number > 0
    NAMES = "names"  # an array of non-empty strings
    PRICES = "prices"  # { prompt, completion, request }: numbers >= 0, USD per 1M tokens (request: per call)
    URL = "url"  # an http:// or https:// URL without credentials
    HEADERS = "headers"  # a table of HTTP header names to string values
    STORE_URL = "store_url"  # a redis:// or rediss:// URL without a password
    ANY = "any"  # not read by orcli (a note for people)


KINDS: tuple[str, ...] = tuple(v for k, v in vars(Kind).items() if k.isupper())


class Field(NamedTuple):
    """One profile key: `default` is its value when absent; `dialect` names the only `api` it applies to. A
    required field's `help` is a phrase: the error for its absence reads "missing `key` (help)"."""

    key: str
    kind: str  # a Kind
    default: object = None
    help: str = ""
    required: bool = False
    choices: tuple[str, ...] = ()
    dialect: str | None = None


PRICE_FIELDS: tuple[Field, ...] = (
    Field("prompt", Kind.NUMBER, 0.0, "USD per 1M prompt tokens."),
    Field("completion", Kind.NUMBER, 0.0, "USD per 1M completion tokens."),
    Field("request", Kind.NUMBER, 0.0, "USD per request."),
)

PROVIDER_FIELDS: tuple[Field, ...] = (
    Field("base_url", Kind.URL, None, "the provider's API root"),  # required unless the dialect has a default
    Field("api", Kind.CHOICE, "openai", "The wire dialect the provider speaks.", choices=API_VALUES),
    Field("api_key_env", Kind.TEXT, None, "The environment variable that holds the key (never the key)."),
    Field(
        "data_collection",
        Kind.CHOICE,
        "allow",
        "The provider's own policy: allow means it may store or train on prompts.",
        choices=POLICY_VALUES,
    ),
    Field("zdr", Kind.SWITCH, False, "Zero data retention."),
    Field("allow_insecure", Kind.SWITCH, False, "Allow a non-loopback http:// base_url (keys in clear text)."),
    Field("headers", Kind.HEADERS, EMPTY_MAP, "Extra static headers sent with every request."),
)

_KINDS = {str: Kind.TEXT, bool: Kind.SWITCH, int: Kind.NUMBER, float: Kind.NUMBER}


def dialect_field(api: str, key: ProviderKey) -> Field:
    """A key a dialect declares (wire/__init__.py DIALECTS) as a profile field of providers of that api."""
    kind = Kind.CHOICE if key.choices else _KINDS.get(key.kind, Kind.TEXT)
    return Field(key.name, kind, None, key.help, key.required, key.choices, dialect=api)


# Provider keys that belong to some dialects (docs/dialects.md), as the dialects declare them: each api's own,
# which land in `Provider.settings`; a key may belong to several (`anthropic_version`: anthropic and
# vertex-anthropic), and set on a provider of another api it is a mistake.
FIELDS_OF_API: Mapping[str, tuple[Field, ...]] = {
    api: tuple(dialect_field(api, key) for key in r.keys) for api, r in DIALECTS.items()
}
DIALECT_OWNERS: Mapping[str, tuple[str, ...]] = {
    key: tuple(api for api, fields in FIELDS_OF_API.items() if any(f.key == key for f in fields))
    for key in dict.fromkeys(f.key for fields in FIELDS_OF_API.values() for f in fields)
}
# Each dialect key read once, whichever provider it is on (its first declaration says how; what is required
# is each api's own business, checked in profile/parse.py).
DIALECT_FIELDS: tuple[Field, ...] = tuple(
    next(f for f in FIELDS_OF_API[DIALECT_OWNERS[key][0]] if f.key == key)._replace(required=False)
    for key in DIALECT_OWNERS
)

ALL_PROVIDER_FIELDS = PROVIDER_FIELDS + DIALECT_FIELDS

ENDPOINT_FIELDS: tuple[Field, ...] = (
    Field("model", Kind.TEXT, None, "the name users ask for", required=True),
    Field("provider", Kind.TEXT, None, "the [providers.NAME] that serves it", required=True),
    Field("upstream_model", Kind.TEXT, None, "The name sent to the provider (default: model)."),
    Field("price", Kind.PRICES, None, "USD per 1M tokens; absent = unknown (not free)."),
    Field("context_length", Kind.COUNT, None, "Tokens of context the endpoint accepts."),
    Field("max_completion_tokens", Kind.COUNT, None, "The most tokens it answers with."),
    Field("quantization", Kind.TEXT, None, "e.g. fp8, bf16 (compared case-insensitively)."),
    Field("parameters", Kind.NAMES, (), "Request parameters the endpoint supports."),
    Field("latency", Kind.NUMBER, None, "Seconds to first token: a hint until health has observations."),
    Field("throughput", Kind.NUMBER, None, "Tokens per second: a hint until health has observations."),
)

TIMEOUT_FIELDS: tuple[Field, ...] = (
    Field("connect", Kind.SECONDS, 5.0, "Seconds to connect."),
    Field("first_token", Kind.SECONDS, 20.0, "Seconds to the first content token (keep-alives do not count)."),
    Field("idle", Kind.SECONDS, 30.0, "Longest silence between stream chunks once content flows."),
    Field("total", Kind.SECONDS, 300.0, "Seconds for the whole attempt."),
)

HEALTH_FIELDS: tuple[Field, ...] = (
    Field("window", Kind.SECONDS, 300.0, "Seconds of history that count."),
    Field("outage_window", Kind.SECONDS, 30.0, "A failure this recent marks the endpoint unstable."),
    Field("cooldown", Kind.SECONDS, 30.0, "First circuit-open period; doubles on repeated trips, capped at 600."),
    Field("store", Kind.STORE_URL, None, "A shared store's URL (redis://), without a password."),
    Field("store_timeout", Kind.SECONDS, 0.2, "Seconds the shared store may take before the local one is used."),
)

BUDGET_FIELDS: tuple[Field, ...] = (
    Field("daily_usd", Kind.NUMBER, None, "USD a UTC day may spend (absent: no limit)."),
    Field("monthly_usd", Kind.NUMBER, None, "USD a calendar month may spend (absent: no limit)."),
    Field("retention_days", Kind.COUNT, 400, "Days usage is kept."),
)

# The top level: which sections a profile may have (each read by its own reader in profile/parse.py).
TOP_FIELDS: tuple[Field, ...] = (
    Field("routing", Kind.ANY, None, "Default routing preferences (routing/preferences.py)."),
    Field("presets", Kind.ANY, None, "[presets.NAME] tables: routing keys and request values (docs/routing.md)."),
    Field("timeouts", Kind.ANY, None, "Attempt deadlines in seconds."),
    Field("health", Kind.ANY, None, "Health window, breaker and shared store."),
    Field("budget", Kind.ANY, None, "Spending limits and how long usage is kept (docs/usage.md)."),
    Field("providers", Kind.ANY, None, "[providers.NAME] tables."),
    Field("endpoint", Kind.ANY, None, "[[endpoint]] tables: a model served by a provider."),
    Field("description", Kind.ANY, None, "A note for people; orcli does not read it."),
)


def keys(fields: tuple[Field, ...]) -> tuple[str, ...]:
    """The keys of a declaration, in order (what an unknown key is compared with)."""
    return tuple(f.key for f in fields)


TOP_KEYS = keys(TOP_FIELDS)
PRICE_KEYS = keys(PRICE_FIELDS)
PROVIDER_KEYS = keys(ALL_PROVIDER_FIELDS)
ENDPOINT_KEYS = keys(ENDPOINT_FIELDS)
TIMEOUT_KEYS = keys(TIMEOUT_FIELDS)
HEALTH_KEYS = keys(HEALTH_FIELDS)
BUDGET_KEYS = keys(BUDGET_FIELDS)


def is_variant_group(raw: object) -> bool:
    """`[providers.deepinfra.turbo]` with no key of its own at `deepinfra`: how TOML spells variants."""
    return (
        isinstance(raw, dict)
        and bool(raw)
        and not set(raw) & set(PROVIDER_KEYS)
        and all(isinstance(v, dict) for v in raw.values())
    )


def provider_tables(providers: Mapping[str, object]) -> Iterator[tuple[str, str, object]]:
    """(name, key path, table) of each provider, nested variants flattened: `deepinfra/turbo` is spelled
    `[providers.deepinfra.turbo]`."""
    for name, raw in providers.items():
        if is_variant_group(raw):
            assert isinstance(raw, dict)
            for variant, sub in raw.items():
                yield f"{name}/{variant}", f"providers.{name}.{variant}", sub
        else:
            yield name, f"providers.{name}", raw
