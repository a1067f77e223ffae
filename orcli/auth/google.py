"""Google credentials for Vertex AI: Application Default Credentials and OAuth2 access tokens, by google-auth
(the optional `orcli[gcp]` extra, imported only when a Vertex provider is attempted). docs/dialects.md
"Cloud dialects".

Planning must not touch the network: `problem` only checks that an ADC file exists — the one
`GOOGLE_APPLICATION_CREDENTIALS` names (a service-account key, an authorized user, workload identity
federation), else gcloud's (`gcloud auth application-default login`). The metadata server is never probed.
In the attempt, google-auth loads that file and fetches an access token over orcli's own HTTP client within
the attempt's connect deadline; the token is cached per file and reused until shortly before it expires,
so `orcli serve` fetches one per hour, not one per request.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orcli.auth import CredentialError
from orcli.types import MissingExtra, Provider
from orcli.wire.base import HttpRequest

EXTRA_HINT = "pip install 'orcli[gcp]' (google-auth)"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
REFRESH_MARGIN = 300.0  # seconds before expiry a cached token is renewed (google-auth's own margin is ~4 min)

_lock = threading.Lock()
_cache: dict[tuple[str, float], Any] = {}  # (file, mtime) -> google-auth credentials holding the token
_file_locks: dict[str, threading.Lock] = {}
# Where ADC is looked for (the variables that decide it) -> (token, when to renew it): read without a lock.
_ready: dict[tuple[str | None, ...], tuple[str, float]] = {}


def adc_file(env: Mapping[str, str]) -> Path | None:
    """The ADC file google-auth would read first, if it exists: GOOGLE_APPLICATION_CREDENTIALS, else gcloud's."""
    named = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if named:
        path = Path(named).expanduser()
        return path if path.is_file() else None
    if env.get("CLOUDSDK_CONFIG"):
        folder = Path(env["CLOUDSDK_CONFIG"]).expanduser()
    elif os.name == "nt" and env.get("APPDATA"):
        folder = Path(env["APPDATA"]) / "gcloud"
    else:
        folder = Path(env.get("HOME") or Path.home()) / ".config" / "gcloud"
    path = folder / "application_default_credentials.json"
    return path if path.is_file() else None


def local_settings(env: Mapping[str, str]) -> dict[str, object] | bool:
    """`profiles init`: False without an ADC file; else the project it (or the environment) names, if any."""
    if adc_file(env) is None:
        return False
    project = project_from(env)
    return {"project": project} if project else {}


def problem(provider: Provider, env: Mapping[str, str]) -> str | None:
    """Why no Google credentials can be used, or None. Network-free; imports nothing."""
    missing = missing_extra()
    if missing is not None:
        return missing
    return adc_problem(env)


def adc_problem(env: Mapping[str, str]) -> str | None:
    if adc_file(env) is not None:
        return None
    named = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if named:
        return "GOOGLE_APPLICATION_CREDENTIALS names a file that does not exist"
    return (
        "no Application Default Credentials: set GOOGLE_APPLICATION_CREDENTIALS or run "
        "`gcloud auth application-default login` (the metadata server is not looked up while planning)"
    )


def project_from(env: Mapping[str, str]) -> str | None:
    """The project the ADC file or the environment names (for `profiles init`), read without google-auth."""
    import json

    for name in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GCLOUD_PROJECT"):
        if env.get(name):
            return env[name]
    path = adc_file(env)
    if path is None:
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    found = info.get("project_id") or info.get("quota_project_id")
    return found if isinstance(found, str) and found else None


class _Response:
    """google.auth.transport.Response over an httpx response."""

    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self.status, self.headers, self.data = status, headers, data


class _Transport:
    """google.auth.transport.Request over orcli's httpx client, every call bounded by the attempt's deadline."""

    def __init__(self, client: Any, deadline: float) -> None:
        self.client, self.deadline = client, deadline

    def __call__(
        self, url: str, method: str = "GET", body: Any = None, headers: Any = None, timeout: Any = None, **kwargs: Any
    ) -> _Response:
        from google.auth import exceptions

        left = self.deadline - time.monotonic()
        if left <= 0:
            raise exceptions.TransportError("no time left in the attempt's connect deadline")  # type: ignore[no-untyped-call]
        try:
            response = self.client.request(method, url, content=body, headers=headers, timeout=left)
        except Exception as exc:  # httpx's errors: the token endpoint could not be reached
            raise exceptions.TransportError(f"{type(exc).__name__}: {exc}") from None  # type: ignore[no-untyped-call]
        return _Response(response.status_code, dict(response.headers), response.content)


def _load(path: Path) -> Any:
    import google.auth

    credentials, _ = google.auth.load_credentials_from_file(str(path), scopes=[SCOPE])  # type: ignore[no-untyped-call]
    return credentials


def _renew_at(credentials: Any) -> float:
    """The wall-clock time (epoch seconds) after which the cached token is renewed."""
    import datetime as dt

    expiry = getattr(credentials, "expiry", None)
    if expiry is None:
        return 0.0
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=dt.UTC)
    return float(expiry.timestamp()) - REFRESH_MARGIN


def _fresh(credentials: Any) -> bool:
    """True while the cached token has more than REFRESH_MARGIN seconds left (google-auth keeps expiry as
    a naive UTC datetime)."""
    import datetime as dt

    expiry = getattr(credentials, "expiry", None)
    if not getattr(credentials, "token", None) or expiry is None:
        return False
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=dt.UTC)
    left: float = (expiry - dt.datetime.now(dt.UTC)).total_seconds()
    return left > REFRESH_MARGIN


def access_token(env: Mapping[str, str], client: Any, deadline: float) -> str:
    """A valid access token for the ADC file, from the cache or fetched now; CredentialError saying what was
    tried (google-auth's errors quote the token endpoint's answer, never the key or the token)."""
    source = (env.get("GOOGLE_APPLICATION_CREDENTIALS"), env.get("CLOUDSDK_CONFIG"), env.get("HOME"))
    ready = _ready.get(source)
    if ready is not None and time.time() < ready[1]:
        return ready[0]  # the common case, every request of a long serve: no file system, no lock
    from google.auth import exceptions

    path = adc_file(env)
    if path is None:
        raise CredentialError(adc_problem(env) or "no Application Default Credentials")
    key = (str(path), path.stat().st_mtime)
    with _lock:
        file_lock = _file_locks.setdefault(key[0], threading.Lock())
    with file_lock:  # one fetch per file at a time: concurrent serve requests wait for it and share it
        credentials = _cache.get(key)
        if credentials is None or not _fresh(credentials):
            try:
                credentials = credentials or _load(path)
                credentials.refresh(_Transport(client, deadline))
            except (exceptions.GoogleAuthError, ValueError, OSError) as exc:
                raise CredentialError(f"could not get a Google access token with {path.name}: {exc}") from None
            _cache[key] = credentials
        token = str(credentials.token)
        _ready[source] = (token, _renew_at(credentials))
        return token


class OAuthCredentials:
    """Adds `Authorization: Bearer <access token>` to a Vertex request."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env  # the process environment, or the executor's own mapping: both outlive the attempt
        self.secrets: tuple[str, ...] = ()

    def authorize(self, request: HttpRequest, deadline: float, client: Any) -> HttpRequest:
        token = access_token(self.env, client, deadline)
        self.secrets = (token,)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        headers["Authorization"] = f"Bearer {token}"
        return request._replace(headers=headers)


def credentials(provider: Provider, env: Mapping[str, str]) -> OAuthCredentials:
    missing = missing_extra()
    if missing is not None:
        raise CredentialError(missing)
    return OAuthCredentials(env)


@functools.cache  # asked per attempt; whether a library is installed does not change while orcli runs
def missing_extra() -> MissingExtra | None:
    """A message naming the pip install when google-auth is not installed; None when it is. Imports nothing."""
    import importlib.util

    try:
        found = importlib.util.find_spec("google.auth")
    except ModuleNotFoundError:
        found = None
    return None if found else MissingExtra(f"Vertex AI needs google-auth: {EXTRA_HINT}")
