"""The dialect-neutral wire model: one request, stream deltas, one answer, one upstream error; and the small
interface every wire dialect (openai, anthropic, gemini, azure) implements. Standard library only.

The executor speaks only these types: a dialect turns a `ChatRequest` into an `HttpRequest` for its provider,
and turns what the provider sends back (a whole body, SSE events, an error body) into `Answer`, `Delta` and
`UpstreamError`. The classifier (docs/failures.md#failure-classes) reads `UpstreamError`, whichever dialect produced it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import NamedTuple, Protocol

from orcli.types import EMPTY_MAP, Endpoint, Provider


class WireError(Exception):
    """Anything the upstream sent that does not follow its protocol."""


class StreamProtocolError(WireError):
    """An SSE stream or one of its events is not valid."""


class MalformedResponse(WireError):
    """A 200 body that is not a completion in the dialect's shape."""


class UpstreamErrorInBody(WireError):
    """A 200 body or a stream event that carries an error object instead of an answer."""

    def __init__(self, error: UpstreamError) -> None:
        super().__init__(error.message or "error object in a 200 response")
        self.error = error


class UpstreamError(NamedTuple):
    """An upstream error, whatever dialect or shape it came in.

    `code` is the most specific machine word the body gave (`context_length_exceeded`, `overloaded_error`,
    `RESOURCE_EXHAUSTED`, `API_KEY_INVALID`, `content_filter`); `type` the broader one; `detail` extra text
    worth matching (OpenRouter's metadata.raw); `reasons` machine reasons from structured details (Gemini).
    """

    message: str
    type: str | None = None
    code: str | None = None
    raw: str = ""
    detail: str = ""
    provider: str | None = None
    reasons: tuple[str, ...] = ()
    status: int | None = None


class ChatRequest(NamedTuple):
    """What the user asked for, before any dialect shapes it.

    `messages` are OpenAI-shaped (`{"role": "user"|"assistant", "content": str}`), without the system prompt;
    `options` are the `-o` options under OpenAI's names (max_tokens, temperature, top_p, stop, seed,
    tool_choice, reasoning_effort, ...); `tools` an OpenAI-style tools array; `schema` a JSON Schema for
    structured output.
    """

    messages: tuple[Mapping[str, object], ...]
    system: str | None = None
    options: Mapping[str, object] = EMPTY_MAP
    tools: tuple[Mapping[str, object], ...] | None = None
    schema: Mapping[str, object] | None = None


class HttpRequest(NamedTuple):
    """One HTTP request, ready to send: the dialect built the URL, the headers (auth included) and the body."""

    url: str
    headers: Mapping[str, str]
    body: bytes
    method: str = "POST"


class Usage(NamedTuple):
    """Token counts. `raw` is the provider's own usage object (cleaned) when its dialect has one in OpenAI's
    shape: --json shows it as sent, so nothing the provider reported (cost, cached tokens...) is lost."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    raw: Mapping[str, object] | None = None

    def as_json(self) -> dict[str, object]:
        if self.raw is not None:
            return dict(self.raw)
        total = None
        if self.prompt_tokens is not None and self.completion_tokens is not None:
            total = self.prompt_tokens + self.completion_tokens
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens, "total_tokens": total}


class ToolCallDelta(NamedTuple):
    """A fragment of one tool call in a stream: fragments with the same `index` are joined in order."""

    index: int  # type: ignore[assignment]  # OpenAI's name; it hides tuple.index, which nothing calls
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ToolCall(NamedTuple):
    """One complete tool call, OpenAI-shaped whatever the dialect (`arguments` is JSON text)."""

    id: str
    name: str
    arguments: str

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


class Delta(NamedTuple):
    """What one stream event added. `done` marks the protocol's own end of stream ([DONE], message_stop)."""

    content: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None  # normalised to OpenAI's values: stop, length, tool_calls, content_filter
    usage: Usage | None = None
    model: str | None = None
    error: UpstreamError | None = None
    done: bool = False


# A Delta from all eight fields in order (content, reasoning, tool_calls, finish_reason, usage, model, error,
# done), built by tuple.__new__ directly: the NamedTuple's own constructor is a Python-level call with keyword
# handling, and the dialects build one per stream event (docs/performance.md).
new_delta = functools.partial(tuple.__new__, Delta)


class Answer(NamedTuple):
    """A whole answer, streamed or not, in one shape for every dialect."""

    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None


class SSEEvent(NamedTuple):
    """One framed stream event, whatever the framing: an SSE event, or an AWS event-stream message (`event`
    its `:event-type`, or `exception:<type>` for an exception frame; `data` its JSON payload)."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class ProviderKey(NamedTuple):
    """A profile key a dialect adds under `[providers.NAME]` (docs/profiles.md). Its value lands in
    `Provider.settings[name]`; profile validation reads the declaration, so a new dialect's keys need no
    change to the profile code."""

    name: str
    kind: type = str  # str | int | bool | float
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()


class Auth(NamedTuple):
    """How a provider's requests are authorised; the dialect says which, `orcli/auth` does it.

    scheme "header": the key from `api_key_env` in `header`, after `prefix` (Bearer keys, x-api-key...);
    "aws-sigv4": the whole request signed with AWS credentials for `service`; "google-oauth": a Bearer
    OAuth2 access token from Google's Application Default Credentials.
    """

    scheme: str = "header"
    header: str = "Authorization"
    prefix: str = "Bearer "
    service: str = ""


def with_header(request: HttpRequest, name: str, value: str) -> HttpRequest:
    """`request` with header `name` set to `value`, replacing any spelling of it the profile's headers gave:
    a profile header may add to a request, never stand in for its credentials."""
    headers = {k: v for k, v in request.headers.items() if k.lower() != name.lower()}
    headers[name] = value
    return request._replace(headers=headers)


def with_key(request: HttpRequest, auth: Auth, key: str | None) -> HttpRequest:
    """The "header" scheme: `key` (stripped) in the dialect's header; no key (a local server), no header."""
    key = (key or "").strip()
    return with_header(request, auth.header, auth.prefix + key) if key else request


class EventDecoder(Protocol):
    """Turns one stream's SSE events into deltas; keeps whatever state the dialect's stream needs."""

    def decode(self, event: SSEEvent) -> list[Delta]: ...


class Dialect(Protocol):
    """One provider wire protocol, sans-I/O (docs/dialects.md).

    A dialect declares everything that differs between providers' protocols: its own profile keys (in its
    registration, `orcli/wire/__init__.py`, so profiles validate without importing it), its default base URL, how requests are authorised (`orcli/auth` carries it out), how a stream is framed
    (`orcli/execution/framing.py` splits the bytes), and how requests, answers, events and errors look.
    Adding a dialect is one module here, its name in `orcli/wire/__init__.py`, a fake in tests/ and tests
    (ARCHITECTURE.md, "Where to add things").
    """

    name: str
    framing: str  # "sse" | "aws-eventstream"

    def default_base_url(self, settings: Mapping[str, object]) -> str | None:
        """The base URL when the profile gives none (from the dialect's keys: a region, a location); None:
        the profile must give one."""
        ...

    def auth(self, provider: Provider) -> Auth:
        """How this provider's requests are authorised (a provider may choose: a key, or signing)."""
        ...

    def build_request(self, provider: Provider, endpoint: Endpoint, request: ChatRequest, stream: bool) -> HttpRequest:
        """The HTTP request for this endpoint, without credentials (orcli/auth adds them); raises ValueError
        for a request the dialect cannot send."""
        ...

    def decode_answer(self, body: bytes) -> Answer:
        """A whole (non-streamed) answer body; raises WireError (UpstreamErrorInBody for an error object)."""
        ...

    def event_decoder(self) -> EventDecoder:
        """A fresh decoder for one streamed answer."""
        ...

    def parse_error(self, status: int | None, body: bytes | str) -> UpstreamError:
        """An error body (any shape, even plain text or HTML) as an UpstreamError with `status` set."""
        ...
