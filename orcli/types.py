"""Immutable value types that cross module boundaries: profile, request, plan, health, outcome.

They are NamedTuples rather than frozen dataclasses for start-up time: orcli runs once per shell command, and
on Python 3.11 each frozen, slotted dataclass costs about a millisecond to create at import (it compiles
its methods), a NamedTuple a fifth of that. They are just as immutable; build them with keywords.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

EMPTY_MAP: Mapping[Any, Any] = MappingProxyType({})  # the default of every mapping field, whatever it maps


class Sort(StrEnum):
    PRICE = "price"
    LATENCY = "latency"
    THROUGHPUT = "throughput"


class Partition(StrEnum):
    MODEL = "model"
    NONE = "none"


class Balance(StrEnum):
    """How a model's stable endpoints share traffic when neither sort nor order decides (docs/routing.md)."""

    INVERSE_SQUARE = "inverse-square"
    EFFECTIVE = "effective"


class RejectionCode(StrEnum):
    """docs/routing.md#rejections: stable codes that scripts match on."""

    IGNORED = "ignored"
    NOT_IN_ONLY = "not_in_only"
    NOT_IN_ORDER = "not_in_order"
    DATA_COLLECTION = "data_collection"
    ZDR = "zdr"
    QUANTIZATION = "quantization"
    MISSING_PARAMETERS = "missing_parameters"
    CONTEXT_LENGTH = "context_length"
    MAX_TOKENS = "max_tokens"
    MAX_PRICE = "max_price"
    NO_CREDENTIALS = "no_credentials"
    MISSING_EXTRA = "missing_extra"  # the provider's dialect needs an optional library that is not installed
    UNHEALTHY = "unhealthy"
    BUDGET = "budget"


class MissingExtra(str):
    """A credential problem that is an optional library not installed (botocore, google-auth): planning
    rejects the provider with `missing_extra` rather than `no_credentials`; the text names the pip install."""


class FailureClass(StrEnum):
    """docs/failures.md#failure-classes: what kind of failure an attempt ended in, which decides what ask does next."""

    PROVIDER = "provider"
    MODEL = "model"
    REQUEST = "request"
    STREAM = "stream"
    CANCELLED = "cancelled"


class HealthState(StrEnum):
    HEALTHY = "healthy"
    UNSTABLE = "unstable"
    COOLDOWN = "cooldown"


class Price(NamedTuple):
    """USD per 1M prompt/completion tokens, and USD per request."""

    prompt: float = 0.0
    completion: float = 0.0
    request: float = 0.0


class MaxPrice(NamedTuple):
    """Hard price ceilings; None means no ceiling on that component."""

    prompt: float | None = None
    completion: float | None = None
    request: float | None = None

    def is_set(self) -> bool:
        return any(v is not None for v in (self.prompt, self.completion, self.request))


class Provider(NamedTuple):
    name: str
    base_url: str
    api: str = "openai"
    api_key_env: str | None = None
    data_collection: str = "allow"
    zdr: bool = False
    headers: Mapping[str, str] = EMPTY_MAP
    allow_insecure: bool = False
    # The keys its dialect declares (orcli/wire/__init__.py: anthropic_version, api_version, region, ...).
    settings: Mapping[str, object] = EMPTY_MAP

    @property
    def base_name(self) -> str:
        """`deepinfra` for `deepinfra/turbo`: docs/routing.md#rejections variant matching."""
        return self.name.split("/", 1)[0]


class Endpoint(NamedTuple):
    model: str
    provider: str
    upstream_model: str
    price: Price | None = None  # None: unknown, never free (docs/routing.md#expected-price)
    context_length: int | None = None
    max_completion_tokens: int | None = None
    quantization: str | None = None
    parameters: frozenset[str] = frozenset()
    latency: float | None = None
    throughput: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.model, self.provider)


class Timeouts(NamedTuple):
    connect: float = 5.0
    first_token: float = 20.0
    idle: float = 30.0
    total: float = 300.0


class HealthSettings(NamedTuple):
    window: float = 300.0
    outage_window: float = 30.0
    cooldown: float = 30.0
    store: str | None = (
        None  # a shared store's URL, without a password (docs/health.md#sharing-health-across-machines); None: local SQLite
    )
    store_timeout: float = 0.2  # seconds the shared store may take before orcli routes on the local one


class BudgetSettings(NamedTuple):
    """`[budget]`: USD a UTC day and a calendar month may spend (None: no limit), and how long usage is kept."""

    daily_usd: float | None = None
    monthly_usd: float | None = None
    retention_days: int = 400

    def is_set(self) -> bool:
        return self.daily_usd is not None or self.monthly_usd is not None


class Profile(NamedTuple):
    name: str
    path: str
    providers: Mapping[str, Provider]
    endpoints: tuple[Endpoint, ...]
    routing: Mapping[str, object]
    timeouts: Timeouts = Timeouts()
    health: HealthSettings = HealthSettings()
    budget: BudgetSettings = BudgetSettings()
    # [presets.NAME]: each a validated table of [routing] keys plus system, options, max_tokens (docs/routing.md)
    presets: Mapping[str, Mapping[str, object]] = EMPTY_MAP


class Preferences(NamedTuple):
    """Effective routing preferences after merging profile and CLI; `sources` says where each came from."""

    models: tuple[str, ...] = ()
    sort: Sort | None = None
    partition: Partition = Partition.MODEL
    order: tuple[str, ...] = ()
    allow_fallbacks: bool = True
    only: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    require_parameters: bool = False
    data_collection: str = "allow"
    zdr: bool = False
    quantizations: tuple[str, ...] = ()
    max_price: MaxPrice = MaxPrice()
    preferred_max_latency: float | None = None
    preferred_min_throughput: float | None = None
    balance: str = Balance.INVERSE_SQUARE.value
    hedge: float | None = None  # seconds without content before the next attempt starts beside it
    skip_unhealthy: bool = False
    sources: Mapping[str, str] = EMPTY_MAP


class Request(NamedTuple):
    """What the planner needs to know of a request: its size and the parameters it uses."""

    prompt_tokens: int = 1000
    max_tokens: int | None = None
    parameters: frozenset[str] = frozenset()
    prompt_given: bool = False

    @property
    def expected_completion_tokens(self) -> int:
        return self.max_tokens if self.max_tokens is not None else 1000


class EndpointHealth(NamedTuple):
    """What the health store knows of one (model, provider) endpoint at one instant."""

    state: HealthState = HealthState.HEALTHY
    stable: bool = True
    cooldown_left: float = 0.0
    requests: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    last_error_age: float | None = None
    median_ttft: float | None = None
    median_tps: float | None = None
    half_open: bool = False
    cancelled: int = 0  # attempts in the window cancelled by their caller: not counted in requests or failures

    @property
    def success_rate(self) -> float | None:
        return None if self.requests == 0 else (self.requests - self.failures) / self.requests

    def describe(self) -> str:
        if self.state is HealthState.COOLDOWN:
            return f"cooldown {self.cooldown_left:.0f}s"
        if self.state is HealthState.UNSTABLE:
            ago = f" {self.last_error_age:.0f}s ago" if self.last_error_age is not None else ""
            return f"unstable (failed{ago})"
        return "healthy"


HEALTHY = EndpointHealth()


class StickyBinding(NamedTuple):
    """Which provider last served a model in a session, and how many seconds ago (routing/sticky.py)."""

    provider: str
    age: float


class HealthSnapshot(NamedTuple):
    """Health of every endpoint with history; endpoints without history are healthy."""

    endpoints: Mapping[tuple[str, str], EndpointHealth] = EMPTY_MAP
    # --session: model -> (provider, seconds since it last served this session), still in force (sticky.py)
    sticky: Mapping[str, StickyBinding] = EMPTY_MAP

    def get(self, model: str, provider: str) -> EndpointHealth:
        return self.endpoints.get((model, provider), HEALTHY)


class Spend(NamedTuple):
    """What everyone sharing the store spent in the current UTC day and calendar month, reservations of requests
    still running included; the planner checks budgets against it (docs/usage.md)."""

    day_usd: float = 0.0
    month_usd: float = 0.0


class PlannedAttempt(NamedTuple):
    rank: int
    endpoint: Endpoint
    cost_usd: float | None  # expected cost of this request; None when the price is unknown
    health: EndpointHealth
    reason: str
    share: float | None = None  # chance to be drawn first within its balanced group (docs/routing.md)
    adjusted_usd: float | None = None  # balance = "effective": the adjusted price the share came from


class Rejection(NamedTuple):
    model: str
    provider: str
    code: RejectionCode
    detail: str

    def as_json(self) -> dict[str, str]:
        """The rejection as every JSON document shows it (explain-route, ask --json, the gateway's 404)."""
        return {"model": self.model, "provider": self.provider, "code": self.code.value, "detail": self.detail}


class Plan(NamedTuple):
    attempts: tuple[PlannedAttempt, ...]
    rejected: tuple[Rejection, ...]
    warnings: tuple[str, ...] = ()


class Outcome(NamedTuple):
    """One attempt's result as the health store records it: never prompts, answers or keys."""

    at: float
    model: str
    provider: str
    ok: bool
    error_class: FailureClass | None = None
    status: int | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds the provider asked us to wait (429/503)
    # Usage (docs/usage.md): tokens as the provider reported them, or estimated from text when it sent none;
    # cost at the endpoint's prices when the call was made (None: price unknown; 0: nothing produced).
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_estimated: bool = False
    cost_usd: float | None = None
    profile: str | None = None
    request_id: str | None = None  # one per request: `orcli usage` counts requests apart from attempts
    # Which counts this attempt opens: its request's first attempt, first on its model, first at its provider.
    first_of_request: bool = True
    first_on_model: bool = True
    first_at_provider: bool = True
