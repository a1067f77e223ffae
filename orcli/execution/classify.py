"""docs/failures.md#failure-classes failure classification as pure functions: what went wrong, and so what `ask` does next."""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus

from orcli.redact import redact
from orcli.types import FailureClass
from orcli.wire.base import UpstreamError, UpstreamErrorInBody, WireError
from orcli.wire.text import MESSAGE_CHARS, one_line

PROVIDER, MODEL, REQUEST = FailureClass.PROVIDER, FailureClass.MODEL, FailureClass.REQUEST


class Kind(StrEnum):
    """A short machine word for what happened; finer than the class, stable for scripts and tests."""

    HTTP_429 = "http_429"  # rate limited: a 429, or a 413 / error chunk that says rate limit
    QUOTA = "quota"
    AUTH = "auth"
    NOT_FOUND = "not_found"
    UPSTREAM_TIMEOUT = "upstream_timeout"  # 408
    SERVER_ERROR = "server_error"
    HTTP_STATUS = "http_status"  # any other status that is the provider's business (3xx, 405, 413, 451…)
    CONTEXT_LENGTH = "context_length"
    MODERATION = "moderation"
    BAD_REQUEST = "bad_request"
    MALFORMED = "malformed"
    ERROR_CHUNK = "error_chunk"  # an error object in a 200 body or stream that no rule recognised
    FINISH_ERROR = "finish_error"  # finish_reason "error"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT_CONNECT = "timeout_connect"
    TIMEOUT_FIRST_TOKEN = "timeout_first_token"
    TIMEOUT_TOTAL = "timeout_total"
    IDLE = "idle"
    STREAM_BROKEN = "stream_broken"
    TOO_LARGE = "too_large"  # a successful body over 32 MiB (docs/failures.md#failure-classes "response too large")
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


TRANSPORT_KINDS = frozenset(
    {
        Kind.CONNECT,
        Kind.TLS,
        Kind.TIMEOUT_CONNECT,
        Kind.TIMEOUT_FIRST_TOKEN,
        Kind.TIMEOUT_TOTAL,
        Kind.IDLE,
        Kind.STREAM_BROKEN,
        Kind.MALFORMED,
        Kind.TOO_LARGE,
    }
)


@dataclass(frozen=True, slots=True)
class Failure:
    """How one attempt failed: class (what next), status, a short redacted message, and the rule that fired."""

    cls: FailureClass
    status: int | None
    message: str
    retry_after: float | None = None
    kind: str = Kind.UNKNOWN
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class _Signature:
    kind: Kind
    cls: FailureClass
    statuses: frozenset[int]  # where the rule applies; errors inside a 200 (status None) always qualify
    codes: frozenset[str]  # exact, lower-case error `code` / `type` values
    phrases: tuple[str, ...]  # lower-case substrings of message, type, code, metadata.raw


# Order matters twice: codes are tried before phrases, and within each pass the first signature wins.
# Rate limits come before context because Groq's 413 "tokens per minute" says "reduce your message size".
_SIGNATURES = (
    _Signature(
        Kind.MODERATION,
        MODEL,
        frozenset({400, 403, 422, 451}),
        frozenset({"content_policy_violation", "content_filter", "moderation", "moderation_blocked"}),
        (
            "input was flagged",
            "prompt was flagged",
            "output was flagged",
            "content was flagged",
            "flagged as potentially violating",
            "violates our usage polic",
            "violating our usage polic",
            "content management policy",
            "content policy",
            "content filter",
            "safety system",
            "responsibleaipolicyviolation",
            "contentpolicyviolationerror",  # LiteLLM proxy's exception name, in the message of its 400
            "content_filter_policy",  # LiteLLM / Azure wording of a content-filter refusal
        ),
    ),
    _Signature(
        Kind.QUOTA,
        PROVIDER,
        frozenset(range(400, 500)),
        frozenset(
            {
                "insufficient_quota",
                "billing_hard_limit_reached",
                "billing_not_active",
                "payment_required",
                "insufficient_credits",
                "insufficient_balance",
                "quota_exceeded",
                "billing_error",  # Anthropic 402
                "enforced_spend_limit_reached",  # Anthropic's monthly spend limit (a 429 rate_limit_error)
                "servicequotaexceededexception",  # Bedrock's x-amzn-errortype for a quota (a 400)
            }
        ),
        (
            "insufficient quota",
            "insufficient_quota",
            "exceeded your current quota",
            "exceeded your quota",
            "quota exceeded",
            "credit balance",
            "insufficient credit",
            "insufficient balance",
            "insufficient funds",
            "out of credits",
            "more credits",
            "billing",
            "payment required",
            "api usage limits",  # Anthropic's workspace spend limit (400 invalid_request_error)
        ),
    ),
    _Signature(
        Kind.HTTP_429,
        PROVIDER,
        frozenset(range(400, 500)),
        frozenset(
            {
                "rate_limit_exceeded",
                "rate_limit_error",
                "too_many_requests",
                "tokens",
                "requests",
                "throttlingexception",
            }
        ),
        ("rate limit", "rate-limit", "ratelimit", "tokens per minute", "requests per minute", "too many requests"),
    ),
    _Signature(
        Kind.CONTEXT_LENGTH,
        MODEL,
        frozenset({400, 403, 413, 422}),  # Together documents its context refusal as a 403
        frozenset(
            {
                "context_length_exceeded",
                "model_context_window_exceeded",
                "exceed_context_size_error",
                "max_tokens_exceeded",
                "token_limit_exceeded",
                "string_too_long",
                "string_above_max_length",
            }
        ),
        (
            "maximum context length",  # OpenAI, vLLM, DeepSeek, OpenRouter, Fireworks
            "context length exceeded",
            "context_length_exceeded",
            "context window",  # OpenAI Responses, DeepInfra, Kimi
            "prompt is too long",  # Anthropic, Fireworks
            "prompt too long",
            "input is too long",  # Bedrock
            "too many tokens",  # Cohere
            "reduce the length of the messages",  # OpenAI, Groq, Cerebras
            "exceeds the available context size",  # llama.cpp
            "exceed_context_size",
            "too long to fit into the model",  # vLLM >= 0.6
            "is too long and exceeds limit",  # vLLM
            "maximum model length",
            "maximum prompt length",
            "`inputs` tokens + `max_new_tokens`",  # TGI, Together
            "inputs must have less than",  # TGI
            "`inputs` must have less than",  # TGI router/src/validation.rs InputLength
            "too large for model with",  # Mistral
            "exceeds the maximum number of tokens",  # Gemini
            "input token count",  # Gemini
            "exceeds the context length",  # Ollama
            "longer than the context length",  # Ollama llm/llama_server.go without context shift
            "greater than the context length",
            "context size has been exceeded",  # LM Studio
            "exceeds token limit",
            "exceeded model token limit",
        ),
    ),
    _Signature(
        Kind.AUTH,
        PROVIDER,
        frozenset({400}),  # Gemini answers a bad key with 400 INVALID_ARGUMENT
        frozenset(
            {
                "invalid_api_key",
                "api_key_invalid",
                "authentication_error",
                "unauthenticated",
                "no_db_connection",  # LiteLLM proxy without a database refuses every key but the master key
                # Bedrock's x-amzn-errortype for credentials it refuses (mostly 403s; an expired token can be a 400)
                "expiredtokenexception",
                "unrecognizedclientexception",
                "invalidsignatureexception",
            }
        ),
        (
            "api key not valid",
            "invalid api key",
            "incorrect api key",
            "user location is not supported",  # Gemini 400 FAILED_PRECONDITION: a region it does not serve
        ),
    ),
    _Signature(
        Kind.NOT_FOUND,
        PROVIDER,
        frozenset(
            {400}
        ),  # the request is fine; this provider does not know the upstream model name (docs/failures.md#failure-classes)
        frozenset({"model_not_found", "model_not_available", "invalid_model"}),  # OpenAI, Together, Mistral
        (
            "model not found",  # Fireworks, HF router
            "is not a valid model id",  # OpenRouter
            "invalid model name passed in model=",  # LiteLLM proxy
            "invalid model:",  # Mistral
            "model not exist",  # DeepSeek
            "unable to access model",  # Together
            "does not exist or you do not have access",  # OpenAI, Groq, Cerebras
            "provided model identifier is invalid",  # Bedrock ValidationException: no such model id
            "with on-demand throughput isn",  # Bedrock: this id needs an inference profile here, not another request
        ),
    ),
)

# 4xx that are about the server, not the request or the model: another provider may well accept the same
# request. Mostly OpenRouter's "setup errors" that count against a provider (OpenRouter's errors documentation),
# plus 413 without a context signature (a proxy's body limit, e.g. nginx client_max_body_size) and 451.
# 412: no API orcli calls takes conditional requests; Fireworks answers it for a suspended account.
_PROVIDER_4XX = frozenset({405, 407, 412, 413, 421, 423, 424, 426, 451, 498, 499})


# google.rpc.ErrorInfo.reason is documented as UPPER_SNAKE_CASE, [A-Z][A-Z0-9_]+[A-Z0-9].
_MACHINE_REASON = re.compile(r"[A-Z][A-Z0-9_]+[A-Z0-9]")


def _haystack(err: UpstreamError) -> str:
    return " ".join([err.message, err.type or "", err.code or "", err.detail, *err.reasons]).lower()


def _match(status: int | None, err: UpstreamError) -> tuple[_Signature, str] | None:
    """The first signature whose code, or else phrase, the error carries."""
    sigs = [s for s in _SIGNATURES if status is None or status in s.statuses]
    # Google's ErrorInfo reasons (API_KEY_INVALID) are machine codes like `code`; other reasons are
    # OpenRouter's list of what its moderation flagged (docs/dialects.md: gemini).
    machine = {r for r in err.reasons if _MACHINE_REASON.fullmatch(r)}
    codes = {c.lower() for c in (err.code, err.type, *machine) if c}
    flagged = [r for r in err.reasons if r not in machine]
    for sig in sigs:
        hit = codes & sig.codes
        if hit:
            return sig, f"code {min(hit)}"
    if flagged:
        for sig in sigs:
            if sig.kind is Kind.MODERATION:
                return sig, "metadata.reasons"  # OpenRouter's moderation refusal lists what was flagged
    hay = _haystack(err)
    for sig in sigs:
        for phrase in sig.phrases:
            if phrase in hay:
                return sig, f"message {phrase!r}"
    return None


def _decide(status: int, err: UpstreamError) -> tuple[FailureClass, Kind, str | None]:
    """docs/failures.md#failure-classes for one HTTP status and its parsed error body."""
    if status >= 500:
        return PROVIDER, Kind.SERVER_ERROR, f"status {status}"
    if status < 400:
        return PROVIDER, Kind.HTTP_STATUS, f"status {status}"  # a redirect or a 2xx that is not one
    found = _match(status, err)
    if found:
        sig, rule = found
        return sig.cls, sig.kind, rule
    rule = f"status {status}"
    if status == 402:
        return PROVIDER, Kind.QUOTA, rule
    if status == 429:
        return PROVIDER, Kind.HTTP_429, rule
    if status in (401, 403):
        return PROVIDER, Kind.AUTH, rule
    if status in (404, 410):
        return PROVIDER, Kind.NOT_FOUND, rule
    if status == 408:
        return PROVIDER, Kind.UPSTREAM_TIMEOUT, rule
    if status in _PROVIDER_4XX:
        return PROVIDER, Kind.HTTP_STATUS, rule
    # 400, 422 and the rest (409, 412, 415, 418…): the request itself is wrong; another provider
    # would refuse it too, so stop and show the upstream message (docs/failures.md#failure-classes "any other 400 / 422").
    return REQUEST, Kind.BAD_REQUEST, rule


def _clean(text: str, secrets: Iterable[str]) -> str:
    """One redacted line of at most MESSAGE_CHARS; redaction first so no key is cut in half."""
    return one_line(redact(text, secrets), MESSAGE_CHARS)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    name = name.lower()
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds, or an HTTP-date given `now`) or `retry-after-ms`."""
    value = _header(headers, "retry-after")
    if value is not None:
        value = value.strip()
        seconds: float | None
        try:
            seconds = float(value)
        except ValueError:
            seconds = _http_date_delay(value, now)
        if seconds is not None and math.isfinite(seconds) and seconds >= 0:
            return seconds
    ms = _header(headers, "retry-after-ms")  # OpenAI and Azure send this one too
    if ms is not None:
        try:
            seconds = float(ms.strip()) / 1000
        except ValueError:
            return None
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _http_date_delay(value: str, now: float | None) -> float | None:
    if now is None:
        return None  # no clock here: a date without `now` cannot become a delay
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - now, 0.0)


def classify_http(
    status: int,
    err: UpstreamError,
    headers: Mapping[str, str],
    *,
    secrets: Iterable[str] = (),
    now: float | None = None,
) -> Failure:
    """A non-2xx HTTP response as a Failure (docs/failures.md#failure-classes): its status, its body as the provider's dialect parsed it
    (`Dialect.parse_error`), its headers (Retry-After); `secrets` are redacted from the message."""
    cls, kind, rule = _decide(status, err)
    retry_after = parse_retry_after(headers, now) if status in (429, 503) else None
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    if not err.message:
        text = f"HTTP {status} {phrase}".rstrip()
    elif err.message.startswith(f"{status} "):
        text = f"HTTP {err.message}"  # an HTML title like "502 Bad Gateway" already names the status
    else:
        text = f"HTTP {status}: {err.message}"
    if err.provider:
        text = f"{text} [{err.provider}]"
    return Failure(cls, status, _clean(text, secrets), retry_after, kind, rule)


def classify_error(error: UpstreamError, *, secrets: Iterable[str] = ()) -> Failure:
    """An error object inside a 200 body or an SSE chunk; its numeric code, if any, is treated as the status."""
    code = error.code if error.code and error.code.isdigit() else None
    status = int(code) if code and 400 <= int(code) <= 599 else None
    if status is not None:
        cls, kind, rule = _decide(status, error)
    else:
        found = _match(None, error)
        if found:
            cls, kind, rule = found[0].cls, found[0].kind, found[1]
        else:
            cls, kind, rule = PROVIDER, Kind.ERROR_CHUNK, None
    label = f"upstream error {status}" if status else "upstream error"
    text = f"{label}: {error.message or 'no message'}"
    if error.provider:
        text = f"{text} [{error.provider}]"
    return Failure(cls, status, _clean(text, secrets), None, kind, rule)


def classify_wire_error(exc: WireError, *, secrets: Iterable[str] = ()) -> Failure:
    """A WireError from parsing a 200 response or stream: an error in the body, or a malformed one."""
    if isinstance(exc, UpstreamErrorInBody):
        return classify_error(exc.error, secrets=secrets)
    return Failure(PROVIDER, None, _clean(f"malformed response: {exc}", secrets), None, Kind.MALFORMED)


def classify_finish_reason(reason: str | None) -> Failure | None:
    """A finish_reason that means failure: content_filter is the model's, error the provider's."""
    if reason == "content_filter":
        msg = "the provider's content filter stopped the answer (finish_reason content_filter)"
        return Failure(MODEL, None, msg, None, Kind.MODERATION, "finish_reason content_filter")
    if reason == "error":
        # The executor makes this `stream` when content was already written (docs/failures.md#failure-classes).
        msg = "the provider ended the answer with finish_reason error"
        return Failure(PROVIDER, None, msg, None, Kind.FINISH_ERROR, "finish_reason error")
    return None


def transport_failure(kind: str, message: str, *, secrets: Iterable[str] = ()) -> Failure:
    """A connect/TLS/timeout/broken-stream failure the executor saw: always `provider` (docs/failures.md#failure-classes row 1)."""
    if kind not in TRANSPORT_KINDS:
        raise ValueError(f"unknown transport failure kind {kind!r}; expected one of {sorted(TRANSPORT_KINDS)}")
    return Failure(PROVIDER, None, _clean(message, secrets), None, Kind(kind))


def refused_request(message: str, *, secrets: Iterable[str] = ()) -> Failure:
    """A request orcli itself cannot send (an -o option that clashes, text JSON cannot carry): `request`
    class, before the network, since every provider would refuse it alike (docs/failures.md#failure-classes)."""
    return Failure(REQUEST, None, _clean(message, secrets), None, Kind.BAD_REQUEST)


def cancelled(message: str = "interrupted") -> Failure:
    """The user ended the attempt (Ctrl-C, or their own --timeout): never the provider's fault (docs/failures.md#failure-classes)."""
    return Failure(FailureClass.CANCELLED, None, _clean(message, ()), None, Kind.CANCELLED)
