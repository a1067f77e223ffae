"""Shared fixtures: the scriptable OpenAI-compatible upstream (see tests/upstream.py); Hypothesis settings."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from redis_server import redis_server  # noqa: F401 - fixture: a real redis-server on a free loopback port
from upstream import Upstream, write_profile

# CI shares 2 cores with other jobs: a slow example is not a failing one, nor is slow example generation (the
# too_slow health check times it). Timing belongs in benchmarks/.
settings.register_profile("orcli", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
# Under CI the same examples every run and no example database (nothing carried from one run to the next), so
# that a CI run's outcome depends on the code alone; a developer's runs keep exploring and remembering.
settings.register_profile("orcli-ci", settings.get_profile("orcli"), derandomize=True, database=None)
settings.load_profile("orcli-ci" if os.environ.get("CI", "").lower() not in ("", "0", "false") else "orcli")


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A started Upstream on 127.0.0.1, stopped after the test."""
    with Upstream() as server:
        yield server


@pytest.fixture
def upstream_profile(upstream: Upstream, tmp_path: Path) -> Callable[..., Path]:
    """Factory: upstream_profile(providers, **write_profile_kwargs) -> a profile path in tmp_path."""

    def make(providers: list[str], name: str = "profile.toml", **kwargs: Any) -> Path:
        return write_profile(tmp_path / name, upstream, providers, **kwargs)

    return make
