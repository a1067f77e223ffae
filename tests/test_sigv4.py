"""orcli's SigV4 signer (orcli/auth/sigv4.py) against botocore's: the headers sent must be the ones botocore's
`SigV4Auth.add_auth` produces for the same request at the same second, signature included, for the first
request of a shape (botocore signs it) and for every later one (orcli fills in the shape botocore made)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

pytest.importorskip("botocore", reason="botocore (orcli[aws], a test dependency) is the reference signer")

import botocore.auth  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import ReadOnlyCredentials  # noqa: E402

from orcli.auth.sigv4 import Signer  # noqa: E402

HOST = "https://bedrock-runtime.us-east-1.amazonaws.com"
MODEL = "anthropic.claude-sonnet-4-5-20250929-v1%3A0"
PROFILE_ARN = "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-x"
CREDS = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-1")
START = datetime.datetime(2026, 12, 7, 12, 0, 0, tzinfo=datetime.UTC)

SHAPES = {
    "converse": (f"{HOST}/model/{MODEL}/converse", {"Content-Type": "application/json", "Accept": "application/json"}),
    "stream": (
        f"{HOST}/model/{MODEL}/converse-stream",
        {"Content-Type": "application/json", "Accept": "application/vnd.amazon.eventstream"},
    ),
    "inference profile": (f"{HOST}/model/{PROFILE_ARN}/converse", {"Content-Type": "application/json"}),
    "port and query": (
        "http://127.0.0.1:8123/bedrock/model/m/converse?b=2&a=1&a=0",
        {"content-type": "application/json", "x-custom": "  two   spaces  "},
    ),
    "user agent and accept-encoding": (
        f"{HOST}/model/{MODEL}/converse",
        {"Content-Type": "application/json", "User-Agent": "orcli/1.0", "Accept-Encoding": "gzip"},
    ),
}
BODIES = (
    b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}',
    b"",
    '{"messages":[{"role":"user","content":[{"text":"h\u00e9llo \u2603"}]}]}'.encode(),
)


def botocore_headers(
    monkeypatch: pytest.MonkeyPatch, at: datetime.datetime, url: str, headers: dict[str, str], body: bytes, creds: Any
) -> dict[str, str]:
    """What botocore sends for this request at `at`: the reference (orcli never signs Accept-Encoding)."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: at)
    signed = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
    request = AWSRequest(method="POST", url=url, data=body, headers=signed)
    SigV4Auth(creds, "bedrock", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def signed_at(
    monkeypatch: pytest.MonkeyPatch,
    signer: Signer,
    at: datetime.datetime,
    url: str,
    headers: dict[str, str],
    body: bytes,
    creds: Any = CREDS,
) -> dict[str, str]:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: at)  # the first request: botocore signs
    signer.clock = at.timestamp
    return signer.sign("POST", url, headers, body, creds)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_request_of_a_shape_carries_the_headers_botocore_would_send(
    monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    url, headers = SHAPES[shape]
    signer = Signer("us-east-1")
    for n, body in enumerate(BODIES * 2):
        at = START + datetime.timedelta(seconds=7 * n, microseconds=250_000 * n)
        sent = signed_at(monkeypatch, signer, at, url, headers, body)
        assert sent == botocore_headers(monkeypatch, at, url, headers, body, CREDS), (shape, n)
    assert len(signer._shapes) == 1  # learned once from botocore, then filled in five times


def test_a_new_day_signs_with_that_days_key(monkeypatch: pytest.MonkeyPatch) -> None:
    url, headers = SHAPES["converse"]
    signer = Signer("us-east-1")
    for at in (START, START.replace(hour=23, minute=59, second=59), START + datetime.timedelta(days=1)):
        sent = signed_at(monkeypatch, signer, at, url, headers, BODIES[0])
        assert sent == botocore_headers(monkeypatch, at, url, headers, BODIES[0], CREDS)
        assert f"/{at:%Y%m%d}/us-east-1/bedrock/aws4_request" in sent["Authorization"]


def test_new_credentials_sign_at_once_and_a_request_without_a_token_sends_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Role and SSO credentials renew: the next request signs with the new keys and the new session token.
    url, headers = SHAPES["converse"]
    signer = Signer("us-east-1")
    renewed = ReadOnlyCredentials("AKIDRENEWED", "another-secret", "session-token-2")
    static = ReadOnlyCredentials("AKIDSTATIC", "static-secret", None)
    for n, creds in enumerate((CREDS, renewed, CREDS, static, static)):
        at = START + datetime.timedelta(seconds=n)
        sent = signed_at(monkeypatch, signer, at, url, headers, BODIES[0], creds)
        assert sent == botocore_headers(monkeypatch, at, url, headers, BODIES[0], creds), n
        assert sent.get("X-Amz-Security-Token") == creds.token
        assert f"Credential={creds.access_key}/" in sent["Authorization"]


def test_a_shape_botocore_signs_differently_is_signed_by_botocore_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # A Date header gives botocore its timestamp (not the clock), which a shape cannot fill in: such a shape
    # must not be kept, and each of its requests is still exactly what botocore sends.
    url, headers = SHAPES["converse"]
    dated = {**headers, "Date": "Mon, 07 Dec 2026 11:59:00 GMT"}
    signer = Signer("us-east-1")
    for n in range(3):
        at = START + datetime.timedelta(seconds=n)
        sent = signed_at(monkeypatch, signer, at, url, dated, BODIES[0])
        assert sent == botocore_headers(monkeypatch, at, url, dated, BODIES[0], CREDS)
    assert signer._shapes == {} and len(signer._unshaped) == 1


def test_requests_to_one_url_with_other_headers_or_tokens_are_signed_for_what_they_carry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A shape is kept per URL; a request with other headers, another method or another session token to that
    # URL (two providers on one endpoint, renewed credentials) must not be signed as the kept one.
    url, headers = SHAPES["converse"]
    other = {**headers, "X-Custom": "profile header"}
    renewed = ReadOnlyCredentials(CREDS.access_key, CREDS.secret_key, "session-token-2")
    signer = Signer("us-east-1")
    cases = [(headers, CREDS), (other, CREDS), (headers, CREDS), (headers, renewed), (other, renewed)] * 2
    for n, (sent_headers, creds) in enumerate(cases):
        at = START + datetime.timedelta(seconds=n)
        sent = signed_at(monkeypatch, signer, at, url, sent_headers, BODIES[0], creds)
        assert sent == botocore_headers(monkeypatch, at, url, sent_headers, BODIES[0], creds), n
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: START)
    signer.clock = START.timestamp
    put = signer.sign("PUT", url, headers, BODIES[0], CREDS)
    request = AWSRequest(method="PUT", url=url, data=BODIES[0], headers=dict(headers))
    SigV4Auth(CREDS, "bedrock", "us-east-1").add_auth(request)
    assert put == dict(request.headers.items())
