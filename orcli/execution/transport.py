"""The httpx client orcli talks to providers with: TLS verified, no redirects, the CA bundle loaded lazily."""

from __future__ import annotations

import ssl
import threading
import urllib.request

import httpx


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
                transport = self._transports[key] = httpx.HTTPTransport(verify=verify, proxy=proxy)
            return transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._transport(request.url).handle_request(request)

    def close(self) -> None:
        with self._lock:
            for transport in self._transports.values():
                transport.close()
            self._transports.clear()


def make_client() -> httpx.Client:
    # Redirects are never followed: the Authorization header must not travel to a host it was not meant for.
    return httpx.Client(transport=LazyTLSTransport(), follow_redirects=False)
