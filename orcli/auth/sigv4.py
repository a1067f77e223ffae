"""SigV4 as botocore computes it, botocore's work done once per request shape (docs/performance.md#bedrocks-signature).

A Bedrock attempt to a provider sends the same request line and headers every time; only the second (the
`X-Amz-Date` header), the body and whose credentials sign change. botocore's `SigV4Auth.add_auth` canonicalises
the whole request again on each call (URL parsing, an `email.message` for the headers): ~0.18 ms of CPU, most of
a quarter of a millisecond of a whole loopback answer. So the first request of each shape is signed by botocore
itself, and from what it produced, its canonical request, signed-header list and headers, orcli keeps a
*shape*: that canonical request cut around its timestamp and its payload hash, the part before the timestamp
already fed to a SHA-256. A later request of that shape (kept per URL; its method, headers and session token
must be the shape's) fills in its second and its body's SHA-256 and finishes the signature the way SigV4
defines it and botocore does it: SHA-256 of the canonical request (a copy of the fed hash, finished), then
HMAC-SHA256 with the day's signing key (derived once a day per secret, as AWS's documentation suggests, then
copied per request).

The hashes are the standard library's: `hmac`, over CPython's own SHA-256 (`_sha2`, `_sha256` before 3.12: what
hashlib falls back to without OpenSSL) when the interpreter has it, else hashlib's. Hashing ~200 bytes is all
per-call overhead, and OpenSSL 3's per-call dispatch costs 15-30 µs when its code is out of cache, as it always
is between two requests of a process that did other work meanwhile (measured in docs/performance.md).

A shape is kept only after proving itself: signing botocore's own request at botocore's second with the
shape must give botocore's headers, signature included. One that does not (a request botocore signs
differently, e.g. with a `Date` header) is signed by botocore on every request. tests/test_sigv4.py holds the
result equal to botocore's for the same request and second over many shapes; the Bedrock fake recomputes every
signature it receives with botocore.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple


def _builtin_sha256() -> Any:
    """CPython's own SHA-256 constructor, or hashlib's (OpenSSL) where the interpreter was built without it."""
    for module in ("_sha2", "_sha256"):
        try:
            return __import__(module).sha256
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256


_sha256 = _builtin_sha256()
# Headers orcli sets after signing (what it can decode), or that signing itself replaces: never part of a shape.
UNSIGNED = frozenset(("accept-encoding", "authorization", "x-amz-date", "x-amz-security-token"))
_MAX_SHAPES = 256  # URLs signed (and kinds botocore signs every time) by one process; dropped wholesale past this
_MAX_KEYS = 16  # (secret, scope) primed signing keys: a scope is a day, a region and a service


class Shape(NamedTuple):
    """What botocore's canonical request for one request shape is around the two values that vary."""

    method: str  # the request it was learned from: method, headers (a copy) and session token
    source: dict[str, str]
    token: str | None
    head: Any  # SHA-256 fed the canonical request up to the x-amz-date value (copied per request)
    after_stamp: bytes  # from after the date to just before the payload hash
    signed_headers: str  # "content-type;host;x-amz-date;..."
    headers: dict[str, str]  # the headers botocore sent, in its order (date and signature replaced per request)


class Moment(NamedTuple):
    second: int  # since the epoch
    stamp: str  # "20261207T120000Z"
    scope: str  # "20261207/us-east-1/bedrock/aws4_request"
    stamp_bytes: bytes
    to_sign_head: bytes  # the string to sign up to the canonical request's hash


class Signer:
    """Signs Bedrock requests for one region and service with botocore's SigV4, shapes cached."""

    def __init__(self, region: str, service: str = "bedrock") -> None:
        self.region = region
        self.service = service
        self.clock = time.time  # tests set it, and botocore's, to the same instant
        self._shapes: dict[str, Shape] = {}  # by URL: one shape per URL in use (a new token replaces it)
        self._unshaped: set[tuple[object, ...]] = set()  # shapes botocore signs on every request
        self._keys: dict[tuple[str, str], Any] = {}  # (secret, scope) -> primed HMAC
        self._last = self._moment(-1, "")  # one attribute, so threads never see half of it
        self._lock = threading.Lock()

    def sign(self, method: str, url: str, headers: Mapping[str, str], body: bytes, creds: Any) -> dict[str, str]:
        """The headers to send: `headers` (less the unsigned ones) with X-Amz-Date, the session token and the
        Authorization header. `creds` is botocore's ReadOnlyCredentials (access key, secret key, token)."""
        shape = self._shapes.get(url)
        if shape is not None and shape.token == creds.token and shape.method == method and shape.source == headers:
            now = self._last
            second = int(self.clock())
            return self._finish(shape, now if now.second == second else self._tick(second), body, creds)
        key = (method, url, tuple(headers.items()), creds.token)
        if key in self._unshaped:
            return self._botocore(method, url, headers, body, creds)[0]
        return self._learn(key, method, url, headers, body, creds)

    # -- the per-request part --------------------------------------------------------------------------
    def _tick(self, second: int) -> Moment:
        """A new second's SigV4 timestamp (botocore's SIGV4_TIMESTAMP, UTC) and scope, kept for that second."""
        now = self._last = self._moment(second, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second)))
        return now

    def _moment(self, second: int, stamp: str) -> Moment:
        scope = f"{stamp[:8]}/{self.region}/{self.service}/aws4_request"
        return Moment(second, stamp, scope, stamp.encode(), f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n".encode())

    def _finish(self, shape: Shape, now: Moment, body: bytes, creds: Any) -> dict[str, str]:
        # Once per signed request: each field read once, by unpacking (docs/performance.md#bedrocks-signature).
        _, _, _, head, after_stamp, signed_headers, headers = shape
        _, stamp, scope, stamp_bytes, to_sign_head = now
        canonical = head.copy()  # the constant part of the canonical request is hashed once per shape
        canonical.update(b"%s%s%s" % (stamp_bytes, after_stamp, _sha256(body).hexdigest().encode()))
        secret = creds.secret_key
        mac = (self._keys.get((secret, scope)) or self._signing_key(secret, scope)).copy()
        mac.update(to_sign_head + canonical.hexdigest().encode())
        sent = headers.copy()
        sent["X-Amz-Date"] = stamp
        sent["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={mac.hexdigest()}"
        )
        return sent

    def _signing_key(self, secret: str, scope: str) -> Any:
        """An HMAC primed with the scope's signing key (its day, region and service), copied per request."""
        key = f"AWS4{secret}".encode()
        for part in scope.split("/"):
            key = hmac.digest(key, part.encode(), "sha256")
        primed = hmac.new(key, digestmod=_sha256)
        if len(self._keys) >= _MAX_KEYS:
            self._keys.clear()
        self._keys[(secret, scope)] = primed
        return primed

    # -- botocore, once per shape (or always, for a shape it signs differently) ---------------------------
    def _botocore(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, creds: Any
    ) -> tuple[dict[str, str], Any, Any]:
        from botocore.auth import SigV4Auth

        signed = {k: v for k, v in headers.items() if k.lower() not in UNSIGNED}
        request = _bytes_request()(method=method, url=url, data=body, headers=signed)
        auth = SigV4Auth(creds, self.service, self.region)
        auth.add_auth(request)
        return dict(request.headers.items()), request, auth

    def _learn(
        self, key: tuple[object, ...], method: str, url: str, headers: Mapping[str, str], body: bytes, creds: Any
    ) -> dict[str, str]:
        """botocore signs this request; its canonical form becomes the shape, if the shape reproduces it."""
        sent, request, auth = self._botocore(method, url, headers, body, creds)
        stamp = request.context["timestamp"]
        del request.headers["Authorization"]
        canonical = auth.canonical_request(request)  # what add_auth signed, now that its signature is gone
        signed_headers = auth.signed_headers(auth.headers_to_sign(request))
        marker = f"\nx-amz-date:{stamp}\n"
        head, _, payload = canonical.rpartition("\n")
        shape: Shape | None = None
        if canonical.count(stamp) == 1 and marker in head and payload == _sha256(body).hexdigest():
            before, _, after = head.partition(marker)
            prefix = _sha256(f"{before}\nx-amz-date:".encode())
            source = dict(headers)
            candidate = Shape(method, source, creds.token, prefix, f"\n{after}\n".encode(), signed_headers, sent)
            if self._finish(candidate, self._moment(-1, stamp), body, creds) == sent:
                shape = candidate
        with self._lock:
            if len(self._shapes) + len(self._unshaped) >= _MAX_SHAPES:
                self._shapes.clear()
                self._unshaped.clear()
            if shape is None:
                self._unshaped.add(key)
            else:
                self._shapes[url] = shape
        return dict(sent)


@functools.cache
def _bytes_request() -> Any:
    """botocore's AWSRequest whose `body` is the bytes it was given. AWSRequest's own `body` prepares the whole
    request again on each read (SigV4 reads it to hash the payload) only to return those same bytes."""
    from botocore.awsrequest import AWSRequest

    class BytesRequest(AWSRequest):  # type: ignore[misc]
        @property
        def body(self) -> bytes:
            data: bytes = self.data
            return data

    return BytesRequest
