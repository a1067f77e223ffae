"""A provider's own list of the models it serves, per dialect (docs/profiles.md#model-lists).

Used by `profiles import --verify` (which ids to write) and `profiles check --online` (which ids in a profile
no longer exist). Real lists differ from the textbook shape, and each is read as it really is:
- OpenAI-compatible: `GET {base}/models` with `Authorization: Bearer`, `{"data": [{"id"}, ...]}`; Together
  answers a bare array `[{"id"}, ...]`.
- Anthropic: `GET {base}/models?limit=1000` with `x-api-key` and `anthropic-version`, paged by `has_more` and
  `last_id` (sent back as `after_id`); it lists dated ids only (see model_ids.served_alias).
- Gemini: `GET {base}/models?pageSize=1000` with `x-goog-api-key`, ids `models/NAME` (read as NAME), paged by
  `nextPageToken` (sent back as `pageToken`).
Every request has short timeouts and a size cap; a key never goes into a URL; providers are listed side by
side, one thread each, so twenty providers cost about one round trip.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

LISTABLE = ("openai", "anthropic", "gemini")  # azure lists deployments nobody can match; cloud ones need IAM
MAX_BYTES = 8 * 2**20
MAX_PAGES = 20
TIMEOUT = 5.0  # seconds per request: a list is small; a provider this slow is reported `unreachable`
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")
_ID = re.compile(r"[A-Za-z0-9@~][A-Za-z0-9._:/@+~-]{0,199}")  # as models_dev: printable, no quotes or spaces


class Target(NamedTuple):
    """Where one provider's list lives."""

    name: str
    api: str
    base_url: str
    key: str | None
    headers: Mapping[str, str] = {}
    anthropic_version: str = "2023-06-01"
    key_env: str | None = None  # the variable the key comes from: named when it is unset, never the key


class Listed(NamedTuple):
    """The ids a provider lists, or why it could not be asked."""

    ids: tuple[str, ...] | None
    problem: str | None = None  # "key_rejected" | "unreachable" | "bad_answer" | "not_listable"
    detail: str = ""


Getter = Callable[[str, Mapping[str, str]], tuple[int, bytes]]


def list_all(targets: list[Target], timeout: float = TIMEOUT) -> dict[str, Listed]:
    """Every target's list, asked concurrently over one HTTP client."""
    if not targets:
        return {}
    import httpx

    from orcli.execution.transport import make_client

    with make_client() as client:

        def get(url: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
            limits = httpx.Timeout(timeout, connect=min(timeout, 3.0))
            deadline = time.monotonic() + timeout  # the whole answer, not each read: a trickle is cut too
            with client.stream("GET", url, headers=dict(headers), timeout=limits) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise ValueError(f"the list is larger than {MAX_BYTES // 2**20} MiB")
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("the list did not arrive in time")
                return response.status_code, body

        # Variants of one provider (`deepinfra`, `deepinfra/turbo`) at one URL with one key share one listing.
        same: dict[tuple[object, ...], Target] = {}
        for t in targets:
            same.setdefault(_listing(t), t)
        with ThreadPoolExecutor(max_workers=min(32, len(same))) as pool:
            futures = {key: pool.submit(list_one, t, get) for key, t in same.items()}
            return {t.name: futures[_listing(t)].result() for t in targets}


def _listing(t: Target) -> tuple[object, ...]:
    """What decides a list's answer: where, how and with which key it is asked."""
    return (t.api, t.base_url.rstrip("/"), t.key, t.key_env, tuple(sorted(t.headers.items())), t.anthropic_version)


def list_one(target: Target, get: Getter) -> Listed:
    """One provider's list, every page; never raises for what the network does."""
    if target.api not in LISTABLE:
        return Listed(None, "not_listable", f"orcli cannot list the models of an `{target.api}` provider")
    if target.key_env and not target.key:
        return Listed(None, "key_not_set", f"${target.key_env} is not set")
    if target.key and not _HEADER_SAFE.fullmatch(target.key):
        return Listed(None, "key_not_set", f"${target.key_env} holds characters an HTTP header cannot carry")
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        url, headers = _request(target, cursor)
        try:
            status, body = get(url, headers)
        except Exception as exc:  # noqa: BLE001 - any transport failure is "unreachable", named by its type
            return Listed(None, "unreachable", _why(exc))
        if status in (401, 403) or status == 400 and b"API_KEY_INVALID" in body:
            return Listed(None, "key_rejected", f"HTTP {status}: the provider refused the key")
        if status in (404, 405, 501):  # a server without a list endpoint (some self-hosted ones): not a fault
            return Listed(None, "not_listable", f"it has no model list (HTTP {status} for {url.split('?')[0]})")
        if status != 200:
            return Listed(None, "unreachable" if status >= 500 or status == 429 else "bad_answer", f"HTTP {status}")
        try:
            page, cursor = _page(target.api, json.loads(body))
        except (ValueError, RecursionError, TypeError, AttributeError):
            return Listed(None, "bad_answer", "the answer is not a model list")
        ids += page
        if cursor is None:
            return Listed(tuple(dict.fromkeys(ids)))
    return Listed(tuple(dict.fromkeys(ids)))  # more than MAX_PAGES pages: what was read


def _request(target: Target, cursor: str | None) -> tuple[str, dict[str, str]]:
    base = target.base_url.rstrip("/")
    headers = {k: v for k, v in target.headers.items()}
    from urllib.parse import urlencode

    if target.api == "anthropic":
        query = {"limit": "1000", **({"after_id": cursor} if cursor else {})}
        if target.key:
            headers["x-api-key"] = target.key
        headers["anthropic-version"] = target.anthropic_version
        return f"{base}/models?{urlencode(query)}", headers
    if target.api == "gemini":
        query = {"pageSize": "1000", **({"pageToken": cursor} if cursor else {})}
        if target.key:
            headers["x-goog-api-key"] = target.key
        return f"{base}/models?{urlencode(query)}", headers
    if target.key:
        headers["Authorization"] = f"Bearer {target.key}"
    return f"{base}/models", headers


def _page(api: str, doc: Any) -> tuple[list[str], str | None]:
    """The ids of one page and the cursor of the next (None at the end)."""
    if api == "openai" and isinstance(doc, list):  # Together: a bare array
        return _ids(doc, "id"), None
    if not isinstance(doc, dict):
        raise ValueError("not an object")
    if api == "gemini":
        names = [n.removeprefix("models/") for n in _ids(doc.get("models") or [], "name")]
        token = doc.get("nextPageToken")
        return names, token if isinstance(token, str) and token else None
    data = doc.get("data")
    if not isinstance(data, list):
        raise ValueError("no data")
    ids = _ids(data, "id")
    if api == "anthropic" and doc.get("has_more") is True and isinstance(doc.get("last_id"), str) and ids:
        return ids, doc["last_id"]
    return ids, None


def _ids(items: Any, key: str) -> list[str]:
    if not isinstance(items, list):
        raise ValueError("not a list")
    return [i[key] for i in items if isinstance(i, dict) and isinstance(i.get(key), str) and _ID.fullmatch(i[key])]


def _why(exc: BaseException) -> str:
    kind = type(exc).__name__
    if "Timeout" in kind:
        return "no answer in time"
    if "Connect" in kind:
        return "cannot connect"
    return kind if not isinstance(exc, ValueError) else str(exc)
