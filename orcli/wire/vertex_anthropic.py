"""Claude on Google Vertex AI (docs/dialects.md "Cloud dialects"), sans-I/O: the Anthropic Messages body,
answers and streams (orcli/wire/anthropic.py) at Vertex's publishers/anthropic paths.

POST {base}/projects/{project}/locations/{location}/publishers/anthropic/models/{model}:rawPredict
(or :streamRawPredict). The body is Anthropic's without `model` (it is in the URL) and with
`anthropic_version`: Google documents `vertex-2023-10-16`, which is the default here; the provider key
`anthropic_version` sends another (the anthropic SDK's AnthropicVertex sends its own dated API version).
Errors come in Anthropic's envelope from the model (overloaded_error) or in Google's from Vertex itself
(RESOURCE_EXHAUSTED, PERMISSION_DENIED): both are read. Model ids carry a date after `@`
(`claude-sonnet-4-5@20250929`). Sources: cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude,
the anthropic SDK's lib/vertex.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orcli.types import Endpoint, Provider
from orcli.wire import anthropic, gemini, vertex
from orcli.wire.base import Answer, Auth, ChatRequest, EventDecoder, HttpRequest, UpstreamError
from orcli.wire.native import as_text, dumps, headers
from orcli.wire.text import json_or_none

DEFAULT_VERSION = "vertex-2023-10-16"


def build_body(provider: Provider, endpoint: Endpoint, request: ChatRequest, stream: bool) -> dict[str, Any]:
    body = anthropic.build_body(endpoint, request, stream)
    del body["model"]
    version = provider.settings.get("anthropic_version")
    return {"anthropic_version": version if isinstance(version, str) and version else DEFAULT_VERSION, **body}


def parse_error(status: int | None, body: bytes | str) -> UpstreamError:
    """Google's {"error": {"code", "status", "message"}} when Vertex refused; Anthropic's envelope otherwise."""
    raw = as_text(body)
    obj = json_or_none(raw)
    if isinstance(obj, list) and obj:
        obj = obj[0]
    err = obj.get("error") if isinstance(obj, Mapping) else None
    if isinstance(err, Mapping) and "status" in err and "type" not in err:
        return gemini.parse_error(status, body)
    return anthropic.parse_error(status, body)


class VertexAnthropicDialect:
    """`api = "vertex-anthropic"`: Claude models under publishers/anthropic."""

    name = "vertex-anthropic"
    framing = "sse"

    def default_base_url(self, settings: Mapping[str, object]) -> str | None:
        return vertex.location_base_url(settings.get("location"))

    def auth(self, provider: Provider) -> Auth:
        return Auth("google-oauth")

    def build_request(self, provider: Provider, endpoint: Endpoint, request: ChatRequest, stream: bool) -> HttpRequest:
        url = vertex.model_url(
            provider, "anthropic", endpoint.upstream_model, "streamRawPredict" if stream else "rawPredict"
        )
        body = dumps(build_body(provider, endpoint, request, stream))
        return HttpRequest(url, headers(provider.headers, {}, stream), body)

    def decode_answer(self, body: bytes) -> Answer:
        return anthropic.decode_answer(body)

    def event_decoder(self) -> EventDecoder:
        return anthropic.EventDecoder()

    def parse_error(self, status: int | None, body: bytes | str) -> UpstreamError:
        return parse_error(status, body)


DIALECT = VertexAnthropicDialect()
