"""The Amazon Bedrock Runtime side of the loopback cloud fake (tests/fake_clouds.py serves it): Converse and
ConverseStream, as the real service checks and answers them.

What it checks before a behaviour runs, as Bedrock does:
- auth: an AWS SigV4 `Authorization` header whose signature the fake recomputes with botocore's own
  SigV4Auth from the secret key it knows for the access key (service `bedrock`, the fake's region, the
  `x-amz-date` the client signed, only the headers it listed in SignedHeaders, the path exactly as sent);
  a session token must ride in `x-amz-security-token`; or a Bedrock API key as `Authorization: Bearer`.
  A wrong signature is a 403 InvalidSignatureException whose message quotes the canonical request, session
  token included (as the real one does: orcli must redact it);
- the Converse body: only the fields Converse defines, `messages` with user/assistant turns of content
  blocks, `inferenceConfig` with its four fields, `toolConfig.tools[].toolSpec` with `inputSchema.json`.

What it sends: JSON answers (`output.message.content[]`, `stopReason`, `usage`, `metrics`), errors as an
HTTP status + `x-amzn-errortype` + {"message"}, and streams as real AWS event-stream frames
(`application/vnd.amazon.eventstream`: prelude, prelude CRC32, string headers, JSON payload, message CRC32),
each frame written in two pieces so a client must reassemble frames split across reads (one piece when the
server's `split_frames` is off, as the benchmark runs it).

Sources: Bedrock Runtime API reference (Converse, ConverseStream, Errors), "Event stream encoding" in the
AWS SDK/Transcribe docs, botocore auth.py (SigV4Auth) and eventstream.py.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

if TYPE_CHECKING:
    from fake_dialects import DialectBehaviour, DialectExchange

ROUTE = re.compile(r"^/(?P<provider>.+?)/model/(?P<model>[^/]+)/(?P<method>converse|converse-stream)$")
EVENTSTREAM = "application/vnd.amazon.eventstream"
ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"

CONVERSE_FIELDS = frozenset(
    {
        "messages",
        "system",
        "inferenceConfig",
        "toolConfig",
        "guardrailConfig",
        "additionalModelRequestFields",
        "additionalModelResponseFieldPaths",
        "promptVariables",
        "requestMetadata",
        "performanceConfig",
    }
)
INFERENCE_FIELDS = frozenset({"maxTokens", "temperature", "topP", "stopSequences"})
CONTENT_KINDS = frozenset(
    {"text", "image", "document", "video", "toolUse", "toolResult", "guardContent", "cachePoint", "reasoningContent"}
)
GUARDRAIL_MESSAGE = "Sorry, the model cannot answer this question."


# ----------------------------------------------------------------------------------- event stream


def frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message: total length, headers length, prelude CRC, headers (type 7 = string),
    payload, CRC of everything before it."""
    head = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        head += bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, payload: Mapping[str, Any]) -> bytes:
    # Bedrock pads every event payload with a `p` field of random length (hides sizes from observers).
    body = {**payload, "p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"[: 5 + len(event_type)]}
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(body).encode())


def exception_frame(exception_type: str, message: str) -> bytes:
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, json.dumps({"message": message}).encode())


def start_eventstream(ex: DialectExchange) -> None:
    ex.send_response(200)
    ex.send_header("Content-Type", EVENTSTREAM)
    ex.send_header("Transfer-Encoding", "chunked")
    ex.send_header("x-amzn-RequestId", "00000000-0000-4000-8000-000000000000")
    ex.send_header("Connection", "close")
    ex.end_headers()
    ex.close_connection = True


def send_frame(ex: DialectExchange, data: bytes) -> None:
    """A frame in two chunks, split inside the headers, so the client's parser must buffer; in one chunk when
    the fake's `split_frames` is off (the benchmark: one read per event, as every other fake sends it)."""
    if not getattr(ex.server.upstream, "split_frames", True):
        ex._write_chunk(data)
        return
    cut = min(len(data) - 1, 17)
    ex._write_chunk(data[:cut])
    ex._write_chunk(data[cut:])


def send_event(ex: DialectExchange, event_type: str, payload: Mapping[str, Any]) -> None:
    send_frame(ex, event_frame(event_type, payload))


# -------------------------------------------------------------------------------------------- auth


class AwsAccounts:
    """What the fake knows: access key -> (secret, session token), the region it serves, Bedrock API keys."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self.keys: dict[str, tuple[str, str | None]] = {}
        self.api_keys: set[str] = set()
        self.verified = 0  # SigV4 signatures recomputed with botocore and found equal

    def add(self, access_key: str, secret: str, token: str | None = None) -> None:
        self.keys[access_key] = (secret, token)


_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[^,]+),\s*Signature=(?P<sig>[0-9a-f]{64})$"
)


def error(status: int, kind: str, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    return status, {"message": message}, {"x-amzn-errortype": f"{kind}:{ERROR_NAMESPACE}"}


def check_auth(ex: DialectExchange, accounts: AwsAccounts) -> tuple[int, dict[str, Any], dict[str, str]] | None:
    """None when the request is signed (or carries a Bedrock API key) as Bedrock accepts; else its error."""
    h = ex.req.headers
    value = h.get("authorization", "")
    if value.startswith("Bearer "):
        if value[7:] in accounts.api_keys:
            return None
        return error(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    m = _AUTH.match(value)
    if m is None:
        return error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    if m["key"] not in accounts.keys:
        return error(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    if m["service"] != "bedrock" or m["region"] != accounts.region:
        return error(
            403,
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region and to the service bedrock, not '{m['region']}' "
            f"and '{m['service']}'.",
        )
    secret, token = accounts.keys[m["key"]]
    if token is not None and h.get("x-amz-security-token") != token:
        return error(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    stamp = h.get("x-amz-date", "")
    try:
        when = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return error(400, "IncompleteSignatureException", "Date must be in ISO-8601 'basic format'.")
    if abs((dt.datetime.now(dt.UTC) - when).total_seconds()) > 300:
        return error(403, "InvalidSignatureException", "Signature expired: the request time is too skewed.")
    signed = m["signed"].split(";")
    request = AWSRequest(
        method="POST",
        url=f"http://{h.get('host', '')}{ex.path}",
        data=ex.req.raw,
        headers={name: h[name] for name in signed if name in h},
    )
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(m["key"], secret, token), "bedrock", accounts.region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if expected != m["sig"]:
        return error(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
            "Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String "
            f"for this request should have been\n'{canonical}'\n",
        )
    accounts.verified += 1
    return None


# -------------------------------------------------------------------------------------------- body


def _check_message(message: object) -> str | None:
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
        return "messages.member.role: must be user or assistant"
    content = message.get("content")
    if not isinstance(content, list) or not content:
        return "messages.member.content: must be a non-empty list of content blocks"
    for block in content:
        if not isinstance(block, dict) or len(block) != 1 or next(iter(block)) not in CONTENT_KINDS:
            return f"messages.member.content.member: one of {sorted(CONTENT_KINDS)} expected, got {block!r:.80}"
        if "text" in block and not isinstance(block["text"], str):
            return "messages.member.content.member.text: must be a string"
        if "toolUse" in block and not {"toolUseId", "name", "input"} <= set(block["toolUse"]):
            return "messages.member.content.member.toolUse: toolUseId, name and input are required"
        if "toolResult" in block and not {"toolUseId", "content"} <= set(block["toolResult"]):
            return "messages.member.content.member.toolResult: toolUseId and content are required"
    return None


def check_body(body: object) -> str | None:
    """The ValidationException message Converse would give this body, or None when it is well formed."""
    if not isinstance(body, dict):
        return "Malformed input request, please reformat your input and try again."
    extra = sorted(set(body) - CONVERSE_FIELDS)
    if extra:
        return f"Unknown parameter in input: {extra[0]!r}, must be one of: {', '.join(sorted(CONVERSE_FIELDS))}"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: must contain at least one message"
    for message in messages:
        problem = _check_message(message)
        if problem:
            return f"1 validation error detected: {problem}"
    if messages[0].get("role") != "user":
        return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
    roles = [m["role"] for m in messages]
    if any(a == b for a, b in zip(roles, roles[1:], strict=False)):
        return "A conversation must alternate between user and assistant roles."
    system = body.get("system", [])
    if not isinstance(system, list) or not all(isinstance(s, dict) and len(s) == 1 for s in system):
        return "system: must be a list of system content blocks"
    config = body.get("inferenceConfig", {})
    if not isinstance(config, dict) or set(config) - INFERENCE_FIELDS:
        return f"inferenceConfig: unknown field among {sorted(config) if isinstance(config, dict) else config!r}"
    tools = body.get("toolConfig")
    if tools is not None:
        specs = tools.get("tools") if isinstance(tools, dict) else None
        if not isinstance(specs, list) or not specs:
            return "toolConfig.tools: must contain at least one tool"
        for tool in specs:
            spec = tool.get("toolSpec") if isinstance(tool, dict) else None
            if not isinstance(spec, dict) or "name" not in spec or "json" not in (spec.get("inputSchema") or {}):
                return "toolConfig.tools.member.toolSpec: name and inputSchema.json are required"
    return None


# ------------------------------------------------------------------------------------ rendering


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"inputTokens": prompt, "outputTokens": completion, "totalTokens": prompt + completion}


def answer(blocks: list[dict], stop: str, tokens: tuple[int, int]) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": blocks}},
        "stopReason": stop,
        "usage": usage(*tokens),
        "metrics": {"latencyMs": 42},
    }


def finish(ex: DialectExchange, stop: str, tokens: tuple[int, int]) -> None:
    send_event(ex, "messageStop", {"stopReason": stop})
    send_event(ex, "metadata", {"usage": usage(*tokens), "metrics": {"latencyMs": 42}})
    ex.end_stream()


def _ok(b: Any, ex: DialectExchange) -> None:
    pieces = b.pieces(ex)
    tokens = (10, len(pieces)) if b.usage is not False else (0, 0)
    if isinstance(b.usage, Mapping):
        tokens = (b.usage.get("prompt_tokens", 0), b.usage.get("completion_tokens", 0))
    if not ex.stream:
        blocks: list[dict] = []
        if b.reasoning:
            blocks.append({"reasoningContent": {"reasoningText": {"text": b.reasoning, "signature": "c2ln"}}})
        blocks.append({"text": "".join(pieces)})
        ex.send_json(200, answer(blocks, "end_turn", tokens))
        return
    start_eventstream(ex)
    send_event(ex, "messageStart", {"role": "assistant"})
    index = 0
    if b.reasoning:
        send_event(
            ex, "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": b.reasoning}}}
        )
        send_event(
            ex, "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "c2ln"}}}
        )
        send_event(ex, "contentBlockStop", {"contentBlockIndex": 0})
        index = 1
    for i, piece in enumerate(pieces):
        if b._paused(ex, i):
            return
        send_event(ex, "contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}})
    send_event(ex, "contentBlockStop", {"contentBlockIndex": index})
    finish(ex, "end_turn", tokens)


def _tool_call(b: Any, ex: DialectExchange) -> None:
    call_id = "tooluse_" + "x" * 22
    if not ex.stream:
        block = {"toolUse": {"toolUseId": call_id, "name": b.name, "input": dict(b.arguments)}}
        ex.send_json(200, answer([block], "tool_use", (10, 5)))
        return
    start_eventstream(ex)
    send_event(ex, "messageStart", {"role": "assistant"})
    send_event(
        ex, "contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": call_id, "name": b.name}}}
    )
    text = json.dumps(dict(b.arguments))
    for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
        send_event(ex, "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}})
    send_event(ex, "contentBlockStop", {"contentBlockIndex": 0})
    finish(ex, "tool_use", (10, 5))


def _stopped(text: str, stop: str, ex: DialectExchange) -> None:
    if not ex.stream:
        ex.send_json(200, answer([{"text": text}], stop, (10, 3)))
        return
    start_eventstream(ex)
    send_event(ex, "messageStart", {"role": "assistant"})
    send_event(ex, "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}})
    send_event(ex, "contentBlockStop", {"contentBlockIndex": 0})
    finish(ex, stop, (10, 3))


def _error_after_content(b: Any, ex: DialectExchange) -> None:
    if not ex.stream:
        ex.send_json(*error(503, "ServiceUnavailableException", "Bedrock is unable to process your request."))
        return
    start_eventstream(ex)
    send_event(ex, "messageStart", {"role": "assistant"})
    send_event(ex, "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": b.text}})
    send_frame(ex, exception_frame("modelStreamErrorException", "The model stream broke off."))
    ex.end_stream()


def _stream_exception(b: Any, ex: DialectExchange) -> None:
    if not ex.stream:
        ex.send_json(*error(b.status, b.kind[0].upper() + b.kind[1:], b.message))
        return
    start_eventstream(ex)
    send_frame(ex, exception_frame(b.kind, b.message))
    ex.end_stream()


def render(behaviour: DialectBehaviour, ex: DialectExchange) -> None:
    """`behaviour` (a tests/fake_dialects.py behaviour) in Bedrock's words."""
    kind = type(behaviour).__name__
    if kind == "Ok":
        _ok(behaviour, ex)
    elif kind == "ToolCallAnswer":
        _tool_call(behaviour, ex)
    elif kind == "HttpError":
        status, payload, headers = behaviour.bodies["bedrock"]  # type: ignore[attr-defined]
        ex.send_json(status, payload, headers)
    elif kind == "RefusedPrompt":
        _stopped(GUARDRAIL_MESSAGE, "guardrail_intervened", ex)
    elif kind == "RefusedAnswer":
        _stopped(behaviour.text, "content_filtered", ex)  # type: ignore[attr-defined]
    elif kind == "ErrorAfterContent":
        _error_after_content(behaviour, ex)
    elif kind == "StreamException":
        _stream_exception(behaviour, ex)
    else:
        raise NotImplementedError(f"{kind} has no Bedrock form")


def stream_errors() -> Sequence[str]:
    """The exception types a ConverseStream may send as frames (the API reference's ConverseStreamOutput)."""
    return (
        "internalServerException",
        "modelStreamErrorException",
        "validationException",
        "throttlingException",
        "serviceUnavailableException",
    )
