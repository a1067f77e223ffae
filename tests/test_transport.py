"""The provider client: TLS verified on https, nothing trusted on plain http, env proxies, no redirects."""

from __future__ import annotations

import ssl

import httpx
import pytest

from orcli.execution.transport import LazyTLSTransport, make_client


def _context(transport: LazyTLSTransport, url: str) -> ssl.SSLContext:
    return transport._transport(httpx.URL(url))._pool._ssl_context  # httpcore keeps the context it was given


def test_https_requests_verify_certificates_against_the_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    ctx = _context(LazyTLSTransport(), "https://api.example.com/v1")
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] > 0


def test_plain_http_gets_a_context_that_trusts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    ctx = _context(LazyTLSTransport(), "http://127.0.0.1:11434/v1")
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] == 0  # any TLS met here fails instead of going unverified


def test_the_ca_bundle_is_not_loaded_until_an_https_request(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = LazyTLSTransport()
    _context(transport, "http://127.0.0.1:8000/v1")
    assert [scheme for scheme, _ in transport._transports] == ["http"]


def test_environment_proxies_are_honoured_and_no_proxy_bypasses_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    transport = LazyTLSTransport()
    assert transport._proxy_for(httpx.URL("https://api.example.com/v1")) == "http://127.0.0.1:3128"
    assert transport._proxy_for(httpx.URL("https://internal.example/v1")) is None


def test_the_client_never_follows_redirects() -> None:
    with make_client() as client:
        assert client.follow_redirects is False
