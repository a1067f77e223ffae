"""The Azure OpenAI dialect (SPEC §10): OpenAI chat completions at a deployment URL with `api-key` auth.

Bodies, answers and streams are OpenAI's (orcli.wire.openai builds and parses them); Azure adds the URL shape
(`/openai/deployments/{deployment}/chat/completions?api-version=V`), the `api-key` header, filter results in
answers (`prompt_filter_results` may come alone in a stream's first chunk, with empty `choices`: it decodes
to an empty delta), and the `content_filter` 400 with an `innererror`. Sources:
learn.microsoft.com azure/ai-services/openai/reference, .../openai/concepts/content-filter
(reference/dialects.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from orcli.types import Endpoint, Provider
from orcli.wire import openai
from orcli.wire.base import Answer, Auth, ChatRequest, EventDecoder, HttpRequest, UpstreamError
from orcli.wire.native import headers
from orcli.wire.text import loads

# The latest GA (non-preview) data-plane inference api-version with a dated name; provider key `api_version`
# picks another (e.g. a preview for features not in GA yet).
DEFAULT_API_VERSION = "2024-10-21"


def deployment_url(provider: Provider, deployment: str) -> str:
    """The deployment's chat-completions URL; a base_url given with Azure's `/openai` path is taken as meant."""
    version = str(provider.settings.get("api_version") or DEFAULT_API_VERSION)
    resource = provider.base_url.removesuffix("/openai")
    return (
        f"{resource}/openai/deployments/{quote(deployment, safe='-._~')}/chat/completions"
        f"?api-version={quote(version, safe='-._~')}"
    )


def _with_inner_error(err: UpstreamError) -> UpstreamError:
    """Azure's innererror (ResponsibleAIPolicyViolation and the categories its filter flagged) as detail."""
    try:
        obj = loads(err.raw) if err.raw.strip() else None
    except ValueError:
        return err
    error = obj.get("error") if isinstance(obj, dict) else None
    inner = error.get("innererror") if isinstance(error, dict) else None
    if not isinstance(inner, Mapping):
        return err
    words = [inner["code"]] if isinstance(inner.get("code"), str) else []
    result = inner.get("content_filter_result")
    if isinstance(result, Mapping):
        words += [k for k, v in result.items() if isinstance(v, Mapping) and v.get("filtered") is True]
    return err._replace(detail=" ".join([err.detail, *words]).strip())


API_KEY = Auth(header="api-key", prefix="")


class AzureDialect:
    """`api = "azure"`: POST {base_url}/openai/deployments/{upstream_model}/chat/completions?api-version=V."""

    name = "azure"
    framing = "sse"

    def default_base_url(self, settings: Mapping[str, object]) -> str | None:
        return None  # the user's own resource

    def auth(self, provider: Provider) -> Auth:
        return API_KEY

    def build_request(self, provider: Provider, endpoint: Endpoint, request: ChatRequest, stream: bool) -> HttpRequest:
        body = openai.build_body(
            endpoint.upstream_model,
            openai.request_messages(request),
            request.options,
            stream,
            request.tools,
            request.schema,
        )
        hdrs = headers(provider.headers, {}, stream)
        return HttpRequest(deployment_url(provider, endpoint.upstream_model), hdrs, openai.encode_body(body))

    def decode_answer(self, body: bytes) -> Answer:
        return openai.DIALECT.decode_answer(body)

    def event_decoder(self) -> EventDecoder:
        return openai.DIALECT.event_decoder()

    def parse_error(self, status: int | None, body: bytes | str) -> UpstreamError:
        return _with_inner_error(openai.DIALECT.parse_error(status, body))


DIALECT = AzureDialect()
