"""The httpx client orcli talks to providers with: TLS verified, no redirects, no cookies, the CA bundle loaded
lazily."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import urllib.request
from typing import Any

import httpcore
import httpx

# The network stream each thread last read from or wrote to: what `interrupt` shuts down. One dict write per
# read or write; the executor only interrupts a thread while one of its attempts runs there.
_ACTIVE: dict[int, Any] = {}


class _TrackedStream(httpcore.NetworkStream):
    """httpcore's network stream, noting which thread uses it, so another thread can cut it at once: a
    cancelled request (the gateway's client left, a hedge lost) closes its upstream connection while its
    reader may be blocked waiting for bytes that have not come yet (headers of a slow non-streamed answer)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        _ACTIVE[threading.get_ident()] = self

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        _ACTIVE[threading.get_ident()] = self
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _ACTIVE[threading.get_ident()] = self
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _TrackedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _TrackingBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _TrackedStream(self._inner.connect_tcp(*args, **kwargs))

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _TrackedStream(self._inner.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def interrupt(thread_id: int) -> None:
    """Cut the connection `thread_id` is using now: its blocked read returns at once with an error. Safe from
    any thread (a socket shutdown, not a close: the owner still closes its own stream)."""
    stream = _ACTIVE.get(thread_id)
    if stream is None:
        return
    sock = stream.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _tracked(transport: httpx.HTTPTransport) -> httpx.HTTPTransport:
    pool = transport._pool  # httpcore's pool: every connection it opens goes through its network backend
    backend = getattr(pool, "_network_backend", None)
    if backend is not None:
        pool._network_backend = _TrackingBackend(backend)
    return transport


class LazyTLSTransport(httpx.BaseTransport):
    """One transport per scheme, each built on first use.

    Loading the CA bundle for a verifying TLS context costs 30-45 ms, a third of a loopback ask: a route
    over local servers (Ollama, vLLM, llama.cpp) never needs it, so it is built on the first https:// request.
    Plain http:// gets a context that trusts no certificate at all, so any TLS it might meet fails closed
    instead of going unverified. Proxies from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY)
    are honoured as httpx would: a custom transport turns httpx's own proxy handling off.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transports: dict[tuple[str, str | None], httpx.HTTPTransport] = {}
        self._proxies = urllib.request.getproxies_environment()

    def _proxy_for(self, url: httpx.URL) -> str | None:
        if not self._proxies or urllib.request.proxy_bypass_environment(url.host, self._proxies):  # type: ignore[attr-defined]
            return None
        return self._proxies.get(url.scheme) or self._proxies.get("all")

    def _transport(self, url: httpx.URL) -> httpx.HTTPTransport:
        proxy = self._proxy_for(url)
        key = (url.scheme, proxy)
        with self._lock:
            transport = self._transports.get(key)
            if transport is None:
                verify: ssl.SSLContext | bool = True
                if url.scheme == "http" and proxy is None:
                    verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # trusts nothing: TLS here fails closed
                transport = self._transports[key] = _tracked(httpx.HTTPTransport(verify=verify, proxy=proxy))
            return transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._transport(request.url).handle_request(request)

    def close(self) -> None:
        with self._lock:
            for transport in self._transports.values():
                transport.close()
            self._transports.clear()


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing and adds nothing."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


_NO_COOKIES = _NoCookies()


class CookielessClient(httpx.Client):
    """httpx's client without its cookie jar. A provider's Set-Cookie (a CDN's bot-management cookie, a load
    balancer's affinity cookie) would otherwise be kept for the life of the process and sent back with later
    requests: in `serve`, requests of other callers, state that none of them asked for, shared between them.
    No provider API needs a cookie. Without the jar httpx also skips its cookie handling of every response
    (a urllib request and response wrapped per answer: ~2% of a streamed answer's CPU, docs/performance.md)."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, value: object) -> None:
        return None  # httpx's own constructor sets a jar: there is none to set


def make_client() -> httpx.Client:
    # Redirects are never followed: the Authorization header must not travel to a host it was not meant for.
    return CookielessClient(transport=LazyTLSTransport(), follow_redirects=False)
