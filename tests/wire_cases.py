"""What every dialect's unit tests start from: the dialect under test with a provider and an endpoint of it, a
one-message conversation, and the failure class the executor would give an error response."""

from __future__ import annotations

from typing import Any, NamedTuple

from orcli.execution.classify import Kind, classify_http
from orcli.types import Endpoint, FailureClass, Provider
from orcli.wire import dialect_for
from orcli.wire.base import UpstreamError

HELLO = ({"role": "user", "content": "Hello"},)


class DialectCase(NamedTuple):
    dialect: Any
    provider: Provider
    endpoint: Endpoint


def dialect_case(api: str, provider: str, base_url: str, model: str, upstream_model: str) -> DialectCase:
    """The dialect speaking `api`, a provider of it at `base_url`, and an endpoint serving `model` there."""
    return DialectCase(
        dialect_for(api),
        Provider(name=provider, base_url=base_url, api=api),
        Endpoint(model=model, provider=provider, upstream_model=upstream_model),
    )


def classified(status: int, err: UpstreamError) -> tuple[FailureClass, Kind]:
    """What the executor makes of an error response: its failure class and kind (classify_http, as ask calls
    it)."""
    failure = classify_http(status, err, {})
    return failure.cls, failure.kind
