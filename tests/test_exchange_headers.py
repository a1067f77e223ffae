"""The headers orcli sends (orcli/execution/exchange.py `wire_headers`) against httpx's own: every request must
go out with exactly the headers, in the order, that `client.build_request(..., content=body)` gives it, less
any Accept-Encoding but orcli's (only what orcli decodes is advertised)."""

from __future__ import annotations

import httpx
import pytest

from orcli.execution.exchange import wire_headers
from orcli.execution.transport import make_client
from orcli.wire.content_encoding import ACCEPT_ENCODING

URL = "http://127.0.0.1:8123/bedrock/model/m%3A0/converse?x=1"
CASES = {
    "openai": ({"Content-Type": "application/json", "Accept": "text/event-stream", "User-Agent": "orcli/1"}, b"{}"),
    "names in other cases": ({"content-type": "application/json", "ACCEPT": "*/*", "connection": "close"}, b"{}"),
    "a profile's accept-encoding": ({"Accept-Encoding": "br, zstd", "X-Team": "search"}, b'{"a": 1}'),
    "signed": (
        {"Content-Type": "application/json", "X-Amz-Date": "20261207T120000Z", "Authorization": "AWS4-HMAC-SHA256 x"},
        b'{"messages": []}',
    ),
    "empty body": ({"Content-Type": "application/json"}, b""),
    "no headers": ({}, b"\x00\xff binary"),
}


def httpx_headers(client: httpx.Client, method: str, headers: dict[str, str], body: bytes) -> list[tuple[bytes, bytes]]:
    """What httpx itself would send, Accept-Encoding set to orcli's as the exchange always set it."""
    ours = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
    ours["Accept-Encoding"] = ACCEPT_ENCODING
    return client.build_request(method, URL, headers=ours, content=body).headers.raw


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", ["POST", "GET", "PUT"])
def test_the_headers_are_the_ones_httpx_would_send(case: str, method: str) -> None:
    headers, body = CASES[case]
    for client in (make_client(), httpx.Client(headers={"X-Default": "kept", "Accept": "*/*"})):
        with client:
            sent = wire_headers(client.headers, headers, httpx.URL(URL).netloc, method, len(body))
            assert sent == httpx_headers(client, method, headers, body), (case, method)
            assert [v for k, v in sent if k.lower() == b"accept-encoding"] == [ACCEPT_ENCODING.encode()]


def test_a_header_httpx_could_not_encode_is_refused_as_httpx_refuses_it() -> None:
    with make_client() as client:
        with pytest.raises(UnicodeEncodeError):
            client.build_request("POST", URL, headers={"X-Name": "caf\u00e9"}, content=b"")
        with pytest.raises(UnicodeEncodeError):
            wire_headers(client.headers, {"X-Name": "caf\u00e9"}, b"127.0.0.1:8123", "POST", 0)
