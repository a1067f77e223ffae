"""One loopback server that speaks every dialect orcli knows, the clouds included: tests/fake_dialects.py's
OpenAI, Anthropic, Gemini and Azure, plus Amazon Bedrock (tests/fake_bedrock.py) and Google Vertex AI with its
OAuth2 token endpoint (tests/fake_vertex.py). Scripted per provider, like `Upstream`:

    with CloudUpstream() as up:
        up.aws.add("AKIDEXAMPLE", "secret", "session-token")         # credentials Bedrock accepts
        sa = up.google.service_account_file(tmp, up.token_uri, "proj")  # a key file whose token_uri is here
        up.script("bedrock", overloaded(), ok("fine"))                  # 503, then an answer
        up.base_url("bedrock", "bedrock")                                # http://127.0.0.1:PORT/bedrock
        up.base_url("vertex", "vertex")                                  # http://127.0.0.1:PORT/vertex/v1

Routes (the provider is the first path segment):
    POST /{provider}/model/{model}/converse | /converse-stream                          Bedrock Runtime
    POST /{provider}/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent
                                                         | :streamGenerateContent?alt=sse Vertex Gemini
    POST /{provider}/v1/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict
                                                         | :streamRawPredict            Vertex Claude
    POST /oauth2/token                                                                   Google OAuth2
Behaviours render in the request's dialect: Vertex Gemini answers as Gemini, Vertex Claude as Anthropic.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import fake_bedrock
import fake_vertex
from fake_dialects import (
    ANTHROPIC_FIELDS,
    GEMINI_FIELDS,
    DialectBehaviour,
    DialectExchange,
    DialectRequest,
    DialectUpstream,
    anthropic_error,
)
from upstream import _Server


class CloudExchange(DialectExchange):
    """DialectExchange plus the Bedrock, Vertex and token routes."""

    server: Any

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        if split.path == fake_vertex.TOKEN_PATH:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fake_vertex.serve_token(self, self.server.upstream.google, raw)
            return
        bedrock = fake_bedrock.ROUTE.match(split.path)
        vertex = fake_vertex.ROUTE.match(split.path)
        if bedrock is None and vertex is None:
            super().do_POST()
            return
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        m = bedrock or vertex
        assert m is not None
        if bedrock is not None:
            dialect, stream = "bedrock", bedrock["method"] == "converse-stream"
        else:
            dialect = "anthropic" if vertex["publisher"] == "anthropic" else "gemini"  # type: ignore[index]
            stream = m["method"].startswith("stream")
        self.req = DialectRequest(
            path=self.path,
            headers=headers,
            body=body,
            provider=m["provider"],
            raw=raw,
            dialect=dialect,
            url_model=unquote(m["model"]),
            url_stream=stream,
            query=query,
        )
        refusal = self._refuse_bedrock() if bedrock is not None else self._refuse_vertex(vertex)
        if refusal is not None:
            upstream = self.server.upstream
            with upstream._lock:
                upstream._log.append(self.req)
            self.send_json(*refusal)
            return
        self.server.upstream._next_behaviour(self.req).serve(self)

    def _refuse_bedrock(self) -> tuple[Any, ...] | None:
        refusal = fake_bedrock.check_auth(self, self.server.upstream.aws)
        if refusal is not None:
            return refusal
        problem = fake_bedrock.check_body(self.req.body)
        return fake_bedrock.error(400, "ValidationException", problem) if problem else None

    def _refuse_vertex(self, m: Any) -> tuple[Any, ...] | None:
        refusal = fake_vertex.refuse(self, self.server.upstream.google, m["publisher"], m["project"])
        if refusal is not None:
            return refusal
        body = self.req.body
        if m["publisher"] == "google":
            extra = sorted(set(body) - GEMINI_FIELDS)
            if extra:
                return 400, fake_vertex.google_error(400, "INVALID_ARGUMENT", f'Unknown name "{extra[0]}"')
            if self.req.url_stream and self.req.query.get("alt") != "sse":
                return 400, fake_vertex.google_error(400, "INVALID_ARGUMENT", "this fake streams only with alt=sse")
            return None
        extra = sorted(set(body) - (ANTHROPIC_FIELDS - {"model"}) - {"anthropic_version"})
        if extra:
            return 400, anthropic_error("invalid_request_error", f"{extra[0]}: Extra inputs are not permitted")
        for name in ("messages", "max_tokens"):
            if name not in body:
                return 400, anthropic_error("invalid_request_error", f"{name}: Field required")
        return None


class CloudUpstream(DialectUpstream):
    """DialectUpstream whose server also speaks Bedrock and Vertex AI; `aws` and `google` hold what each
    cloud's auth accepts (fake_bedrock.AwsAccounts, fake_vertex.GoogleAccounts)."""

    def __init__(self, host: str = "127.0.0.1", region: str = "us-east-1") -> None:
        super().__init__(host)
        self.aws = fake_bedrock.AwsAccounts(region)
        self.google = fake_vertex.GoogleAccounts()
        self.split_frames = True  # each event-stream frame in two chunks (see fake_bedrock.send_frame)

    def start(self) -> CloudUpstream:
        self._server = _Server(self)
        self._server.RequestHandlerClass = CloudExchange  # type: ignore[assignment]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-clouds", daemon=True
        )
        self._thread.start()
        return self

    def __enter__(self) -> CloudUpstream:
        return self.start()

    @property
    def token_uri(self) -> str:
        return f"{self.url}{fake_vertex.TOKEN_PATH}"

    def base_url(self, provider: str, api: str = "openai") -> str:
        root = f"{self.url}/{provider}"
        if api == "bedrock":
            return root
        if api in ("vertex", "vertex-anthropic"):
            return f"{root}/v1"
        return super().base_url(provider, api)


@dataclass
class StreamException(DialectBehaviour):
    """Bedrock: a ConverseStream whose first frame is an exception (`kind` as the frame names it, e.g.
    throttlingException); a Converse call gets the same error as an HTTP `status`."""

    kind: str = "throttlingException"
    message: str = "Too many requests, please wait before trying again."
    status: int = 429


def stream_exception(
    kind: str = "throttlingException", message: str | None = None, status: int = 429
) -> StreamException:
    return StreamException(kind, message or StreamException.message, status)
