"""The Google Vertex AI side of the loopback cloud fake (tests/fake_clouds.py serves it): an OAuth2 token
endpoint and the two publisher paths, Gemini (`publishers/google`) and Claude (`publishers/anthropic`).

- Token endpoint `POST /oauth2/token` (a service-account file's `token_uri` points at it): the JWT-bearer
  grant, whose RS256 assertion is verified with the public key of a key pair the test generated
  (`GoogleAccounts.service_account_file`), and the refresh-token grant of an authorized-user file. It issues
  `ya29.` access tokens with an `expires_in` the test picks, and counts the grants (caching is observable).
- `POST /{provider}/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent`
  (and `:streamGenerateContent?alt=sse`) and `publishers/anthropic/models/{m}:rawPredict` / `:streamRawPredict`:
  a valid, unexpired bearer token (else 401 UNAUTHENTICATED) or an express-mode key in `x-goog-api-key`
  (Gemini only), a known project (else 403 PERMISSION_DENIED). Gemini bodies are checked as the Gemini fake
  checks them; Claude bodies must carry `anthropic_version` and no `model` (the model is in the URL).
  Behaviours then answer as the gemini and anthropic fakes do (tests/fake_dialects.py).

Sources: cloud.google.com vertex-ai docs (generateContent, "Use Claude models", REST auth),
developers.google.com/identity/protocols/oauth2/service-account (the JWT grant), RFC 7523.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

if TYPE_CHECKING:
    from fake_dialects import DialectExchange

ROUTE = re.compile(
    r"^/(?P<provider>.+?)/(?P<version>v1|v1beta1)"
    r"(?:/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+))?"
    r"/publishers/(?P<publisher>google|anthropic)/models/(?P<model>[^/:]+)"
    r":(?P<method>generateContent|streamGenerateContent|rawPredict|streamRawPredict)$"
)
TOKEN_PATH = "/oauth2/token"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google documents `vertex-2023-10-16`; the anthropic SDK's AnthropicVertex sends its own dated API version.
ANTHROPIC_VERSION = re.compile(r"^(vertex-)?\d{4}-\d{2}-\d{2}$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class GoogleAccounts:
    """Service accounts (client_email -> public key), authorized users (refresh tokens), projects, express
    keys, and the access tokens issued (token -> expiry). `expires_in` and `token_delay` shape the grants."""

    def __init__(self) -> None:
        self.public_keys: dict[str, rsa.RSAPublicKey] = {}
        self.refresh_tokens: set[str] = set()
        self.projects: set[str] = set()
        self.api_keys: set[str] = set()
        self.tokens: dict[str, float] = {}
        self.grants = 0
        self.expires_in = 3600
        self.token_delay = 0.0
        self.fail_grants = False
        self._lock = threading.Lock()

    def service_account_file(self, folder: Path, token_uri: str, project: str, name: str = "orcli-test") -> Path:
        """A service-account key file for a fresh key pair; the fake keeps the public half."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        email = f"{name}@{project}.iam.gserviceaccount.com"
        self.public_keys[email] = key.public_key()
        self.projects.add(project)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        info = {
            "type": "service_account",
            "project_id": project,
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": email,
            "client_id": "1" * 21,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "universe_domain": "googleapis.com",
        }
        path = folder / f"{name}-sa.json"
        path.write_text(json.dumps(info))
        path.chmod(0o600)
        return path

    def authorized_user_file(self, folder: Path, token_uri: str, project: str) -> Path:
        """gcloud's ADC file for a user (`gcloud auth application-default login`), with a refresh token."""
        refresh = "1//" + secrets.token_urlsafe(40)
        self.refresh_tokens.add(refresh)
        self.projects.add(project)
        info = {
            "type": "authorized_user",
            "client_id": "764086051850-fake.apps.googleusercontent.com",
            "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",
            "refresh_token": refresh,
            "quota_project_id": project,
            "token_uri": token_uri,
        }
        path = folder / "application_default_credentials.json"
        path.write_text(json.dumps(info))
        return path

    def issue(self) -> dict[str, Any]:
        token = "ya29." + secrets.token_urlsafe(48)
        with self._lock:
            self.tokens[token] = time.time() + self.expires_in
            self.grants += 1
        return {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}

    def valid(self, token: str) -> bool:
        with self._lock:
            return self.tokens.get(token, 0) > time.time()

    def verify_assertion(self, assertion: str) -> str | None:
        """None when the JWT is signed by a known service account and asks for cloud-platform; else why not."""
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            head, claims = json.loads(_unb64(head_b64)), json.loads(_unb64(claims_b64))
        except ValueError:
            return "Invalid JWT: malformed"
        key = self.public_keys.get(claims.get("iss", ""))
        if head.get("alg") != "RS256" or key is None:
            return "Invalid JWT: unknown issuer or algorithm"
        try:
            key.verify(_unb64(sig_b64), f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return "Invalid JWT Signature."
        if SCOPE not in str(claims.get("scope", "")).split():
            return "Invalid JWT: the scope must include cloud-platform"
        if not claims.get("exp", 0) > time.time() - 30:
            return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        return None


def serve_token(ex: DialectExchange, accounts: GoogleAccounts, raw: bytes) -> None:
    """The OAuth2 token endpoint: a JWT-bearer or refresh-token grant in, an access token out."""
    form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    if accounts.token_delay and not ex.pause(accounts.token_delay):
        return
    grant = form.get("grant_type")
    if accounts.fail_grants:
        problem: str | None = "Service temporarily unavailable."
        status = 503
    elif grant == JWT_GRANT:
        problem, status = accounts.verify_assertion(form.get("assertion", "")), 400
    elif grant == "refresh_token":
        problem = None if form.get("refresh_token") in accounts.refresh_tokens else "Token has been expired or revoked."
        status = 400
    else:
        problem, status = f"Invalid grant_type: {grant}", 400
    if problem:
        ex.send_json(status, {"error": "invalid_grant", "error_description": problem})
        return
    ex.send_json(200, accounts.issue())


def google_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def refuse(
    ex: DialectExchange, accounts: GoogleAccounts, publisher: str, project: str | None
) -> tuple[int, Any] | None:
    """What Vertex refuses before a model sees the request: auth, project, the publisher's body rules."""
    h, body = ex.req.headers, ex.req.body
    auth = h.get("authorization", "")
    key = h.get("x-goog-api-key")
    if key is not None:
        if key not in accounts.api_keys or publisher != "google":
            return 400, google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
    elif not auth.startswith("Bearer ") or not accounts.valid(auth[7:]):
        return 401, google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
            "valid authentication credential.",
        )
    if key is None and project not in accounts.projects:
        return 403, google_error(403, "PERMISSION_DENIED", f"Permission denied on resource project {project}.")
    if not isinstance(body, dict):
        return 400, google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    if publisher == "anthropic":
        version = body.get("anthropic_version")
        if not isinstance(version, str) or not ANTHROPIC_VERSION.match(version):
            return 400, google_error(400, "INVALID_ARGUMENT", "anthropic_version: Field required")
        if "model" in body:
            return 400, google_error(400, "INVALID_ARGUMENT", "model: Extra inputs are not permitted")
        if bool(body.get("stream")) != bool(ex.req.url_stream):
            return 400, google_error(400, "INVALID_ARGUMENT", "streamRawPredict needs stream: true (and only it)")
    return None
