"""Gemini on Google Vertex AI (docs/dialects.md "Cloud dialects"), sans-I/O: the Gemini API's bodies, streams
and errors (orcli/wire/gemini.py) at Vertex's resource paths, authorised with an OAuth2 access token from
Application Default Credentials (orcli/auth/google.py), or an express-mode API key.

POST {base}/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent
(or :streamGenerateContent?alt=sse); base `https://{location}-aiplatform.googleapis.com/v1`, and
`https://aiplatform.googleapis.com/v1` for the `global` location. Express mode (a key in `api_key_env`)
uses `{base}/publishers/google/models/{model}:...` without the project, as Google's express-mode docs and
the google-genai SDK do. Sources: cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference,
.../start/express-mode/overview.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from orcli.types import Endpoint, Provider
from orcli.wire import gemini
from orcli.wire.base import Answer, Auth, ChatRequest, EventDecoder, HttpRequest, UpstreamError
from orcli.wire.native import dumps, headers


def location_base_url(location: object) -> str | None:
    """Vertex's regional endpoint for `location` (the global one for `global`)."""
    from orcli.wire import vertex_base_url

    return vertex_base_url({"location": location})


def _segment(value: object) -> str:
    return quote(str(value or ""), safe="-._~@")


def model_url(provider: Provider, publisher: str, model: str, method: str) -> str:
    """The publisher model's method URL; express mode (a key) drops the project and location."""
    tail = f"publishers/{publisher}/models/{_segment(model)}:{method}"
    if provider.api_key_env:
        return f"{provider.base_url}/{tail}"
    settings = provider.settings
    return (
        f"{provider.base_url}/projects/{_segment(settings.get('project'))}"
        f"/locations/{_segment(settings.get('location'))}/{tail}"
    )


def auth(provider: Provider) -> Auth:
    """An express-mode key in x-goog-api-key, else a Bearer access token from ADC."""
    if provider.api_key_env:
        return Auth("header", header="x-goog-api-key", prefix="")
    return Auth("google-oauth")


class VertexDialect:
    """`api = "vertex"`: Gemini models under publishers/google."""

    name = "vertex"
    framing = "sse"

    def default_base_url(self, settings: Mapping[str, object]) -> str | None:
        return location_base_url(settings.get("location"))

    def auth(self, provider: Provider) -> Auth:
        return auth(provider)

    def build_request(self, provider: Provider, endpoint: Endpoint, request: ChatRequest, stream: bool) -> HttpRequest:
        model = endpoint.upstream_model.removeprefix("models/")  # a Gemini API id given as is
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = model_url(provider, "google", model, method)
        return HttpRequest(url, headers(provider.headers, {}, stream), dumps(gemini.build_body(request)))

    def decode_answer(self, body: bytes) -> Answer:
        return gemini.decode_answer(body)

    def event_decoder(self) -> EventDecoder:
        return gemini.EventDecoder()

    def parse_error(self, status: int | None, body: bytes | str) -> UpstreamError:
        return gemini.parse_error(status, body)


DIALECT = VertexDialect()
