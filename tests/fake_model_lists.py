"""Loopback fake providers that serve model lists the way the real ones do (checked against the official SDKs in
test_profiles_import.py), for `profiles import --verify` and `profiles check --online`.

    with ModelLists() as fake:
        fake.add("groq", "openai", ["llama-3.3-70b-versatile"])      # {"object": "list", "data": [...]}
        fake.add("together", "together", [...])                       # a bare array
        fake.add("anthropic", "anthropic", [...], page=2)             # has_more / first_id / last_id, after_id
        fake.add("google", "gemini", [...], page=2)                    # models/NAME, nextPageToken, pageToken
        fake.add("bad", "openai", [...], key_rejected=True)            # 401 whatever the key
        fake.add("slow", "openai", [...], delay=30)                    # answers after `delay` seconds
        fake.add("drip", "openai", [...], trickle=0.15)                # one body byte every 0.15 s
        fake.add("plain", "openai", [], no_list=True)                  # 404: no list endpoint
        fake.base_url("groq")  # http://127.0.0.1:PORT/groq/v1 (gemini: .../v1beta)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeList:
    shape: str  # openai | together | anthropic | gemini
    ids: list[str]
    page: int = 1000
    key_rejected: bool = False
    delay: float = 0.0
    trickle: float = 0.0  # seconds between single bytes of the body (a server that never quite stops)
    no_list: bool = False  # 404: a server without a list endpoint
    seen: list[dict[str, str]] = field(default_factory=list)  # headers of every request


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        provider, _, rest = url.path.strip("/").partition("/")
        fake = self.server.lists.get(provider)
        if fake is None or not rest.endswith("models"):
            return self._send(404, {"error": {"message": f"no route for {url.path}"}})
        fake.seen.append({k.lower(): v for k, v in self.headers.items()})
        if fake.delay:
            time.sleep(fake.delay)
        if fake.key_rejected:
            return self._send(401, {"error": {"message": "Invalid API key", "type": "authentication_error"}})
        if fake.no_list:
            return self._send(404, {"error": {"message": "Not Found"}})
        self._send(200, _page(fake, parse_qs(url.query)), fake.trickle)

    def _send(self, status: int, payload: Any, trickle: float = 0.0) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not trickle:
                self.wfile.write(data)
                return
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                time.sleep(trickle)
        except OSError:
            pass


def _page(fake: FakeList, query: dict[str, list[str]]) -> Any:
    if fake.shape == "together":
        return [{"id": i, "object": "model", "created": 0, "type": "chat"} for i in fake.ids]
    if fake.shape == "openai":
        return {
            "object": "list",
            "data": [{"id": i, "object": "model", "created": 0, "owned_by": "x"} for i in fake.ids],
        }
    if fake.shape == "anthropic":
        after = query.get("after_id", [None])[0]
        start = fake.ids.index(after) + 1 if after in fake.ids else 0
        chunk = fake.ids[start : start + fake.page]
        return {
            "data": [
                {"id": i, "type": "model", "display_name": i, "created_at": "2025-09-29T00:00:00Z"} for i in chunk
            ],
            "has_more": start + fake.page < len(fake.ids),
            "first_id": chunk[0] if chunk else None,
            "last_id": chunk[-1] if chunk else None,
        }
    token = query.get("pageToken", ["0"])[0]
    start = int(token) if token.isdigit() else 0
    chunk = fake.ids[start : start + fake.page]
    doc: dict[str, Any] = {"models": [{"name": f"models/{i}", "displayName": i} for i in chunk]}
    if start + fake.page < len(fake.ids):
        doc["nextPageToken"] = str(start + fake.page)
    return doc


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    lists: dict[str, FakeList]


class ModelLists:
    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.lists = {}
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ModelLists:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, provider: str, shape: str, ids: list[str], **kw: Any) -> FakeList:
        self._server.lists[provider] = FakeList(shape, list(ids), **kw)
        return self._server.lists[provider]

    def base_url(self, provider: str) -> str:
        version = "v1beta" if self._server.lists[provider].shape == "gemini" else "v1"
        return f"http://127.0.0.1:{self._server.server_address[1]}/{provider}/{version}"

    def seen(self, provider: str) -> list[dict[str, str]]:
        return self._server.lists[provider].seen


def main() -> None:
    """Serve lists from another process (benchmarks: the fake's threads must not share the measured GIL).
    argv[1]: JSON {provider: {"shape", "ids", ...FakeList fields}}; prints the port, serves until stdin closes."""
    import sys

    with ModelLists() as fake:
        for name, spec in json.loads(sys.argv[1]).items():
            fake.add(name, spec.pop("shape"), spec.pop("ids"), **spec)
        print(fake._server.server_address[1], flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
