"""The Vertex AI dialects (Gemini under publishers/google, Claude under publishers/anthropic) and the Bedrock
dialect's declarations: URLs, auth schemes, bodies, errors in both of Vertex's envelopes, profile keys."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import pytest

from orcli.execution.classify import Kind, classify_http
from orcli.profile.resolve import load_profile_file as parse_profile
from orcli.types import Endpoint, FailureClass, Provider
from orcli.wire import dialect_for
from orcli.wire.base import Auth, ChatRequest
from tests.wire_cases import HELLO


def provider(api: str, key: str | None = None, **settings: object) -> Provider:
    base = dialect_for(api).default_base_url(settings)
    return Provider(name="p", base_url=base or "", api=api, api_key_env=key, settings=MappingProxyType(settings))


def test_default_base_urls_follow_the_region_or_location() -> None:
    assert (
        dialect_for("bedrock").default_base_url({"region": "eu-west-3"})
        == "https://bedrock-runtime.eu-west-3.amazonaws.com"
    )
    assert (
        dialect_for("vertex").default_base_url({"location": "us-central1"})
        == "https://us-central1-aiplatform.googleapis.com/v1"
    )
    assert (
        dialect_for("vertex-anthropic").default_base_url({"location": "global"})
        == "https://aiplatform.googleapis.com/v1"
    )
    assert dialect_for("vertex").default_base_url({}) is None


def test_auth_schemes_a_key_or_the_clouds_own_credentials() -> None:
    assert dialect_for("bedrock").auth(provider("bedrock", region="us-east-1")) == Auth("aws-sigv4", service="bedrock")
    assert dialect_for("bedrock").auth(provider("bedrock", "BEDROCK_KEY", region="us-east-1")) == Auth("header")
    assert dialect_for("vertex").auth(provider("vertex", project="x", location="global")) == Auth("google-oauth")
    express = dialect_for("vertex").auth(provider("vertex", "VERTEX_KEY", project="x", location="global"))
    assert express == Auth("header", header="x-goog-api-key", prefix="")


def test_vertex_gemini_request() -> None:
    p = provider("vertex", project="my-proj", location="us-central1")
    e = Endpoint(model="g", provider="p", upstream_model="gemini-2.5-flash")
    req = dialect_for("vertex").build_request(p, e, ChatRequest(HELLO, system="Be brief."), stream=True)
    assert req.url == (
        "https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-central1/publishers/google/"
        "models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert "authorization" not in {k.lower() for k in req.headers}  # credentials come afterwards (orcli/auth)
    body = json.loads(req.body)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    express = provider("vertex", "VERTEX_KEY", project="my-proj", location="global")
    url = dialect_for("vertex").build_request(express, e, ChatRequest(HELLO), stream=False).url
    assert url == "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash:generateContent"


def test_vertex_claude_request_has_no_model_and_an_anthropic_version() -> None:
    p = provider("vertex-anthropic", project="my-proj", location="us-east5")
    e = Endpoint(model="c", provider="p", upstream_model="claude-sonnet-4-5@20250929")
    req = dialect_for("vertex-anthropic").build_request(p, e, ChatRequest(HELLO), stream=True)
    assert req.url.endswith(
        "/projects/my-proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
    )
    body = json.loads(req.body)
    assert "model" not in body and body["anthropic_version"] == "vertex-2023-10-16" and body["stream"] is True
    assert body["max_tokens"] == 4096 and body["messages"] == [{"role": "user", "content": "Hello"}]
    dated = provider("vertex-anthropic", project="my-proj", location="us-east5", anthropic_version="2023-06-01")
    assert (
        json.loads(dialect_for("vertex-anthropic").build_request(dated, e, ChatRequest(HELLO), False).body)[
            "anthropic_version"
        ]
        == "2023-06-01"
    )


@pytest.mark.parametrize(
    ("status", "body", "cls", "kind"),
    [
        (
            429,
            {
                "error": {
                    "code": 429,
                    "message": "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model",
                    "status": "RESOURCE_EXHAUSTED",
                }
            },
            FailureClass.PROVIDER,
            Kind.QUOTA,
        ),
        (
            403,
            {
                "error": {
                    "code": 403,
                    "message": "Permission denied on resource project x.",
                    "status": "PERMISSION_DENIED",
                }
            },
            FailureClass.PROVIDER,
            Kind.AUTH,
        ),
        (
            529,
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            FailureClass.PROVIDER,
            Kind.SERVER_ERROR,
        ),
        (
            400,
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "prompt is too long: 210000 tokens > 200000 maximum",
                },
            },
            FailureClass.MODEL,
            Kind.CONTEXT_LENGTH,
        ),
    ],
)
def test_vertex_claude_reads_googles_and_anthropics_error_envelopes(
    status: int, body: dict, cls: FailureClass, kind: Kind
) -> None:
    err = dialect_for("vertex-anthropic").parse_error(status, json.dumps(body))
    assert err.message
    failure = classify_http(status, err, {})
    assert (failure.cls, failure.kind) == (cls, kind)


def write(tmp_path: Path, providers: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(
        '[routing]\nmodels = ["m"]\n'
        + providers
        + '\n[[endpoint]]\nmodel = "m"\nprovider = "p"\nprice = { prompt = 1, completion = 1 }\n'
    )
    return path


def test_profile_keys_of_the_cloud_dialects(tmp_path: Path) -> None:
    profile = parse_profile(write(tmp_path, '[providers.p]\napi = "bedrock"\nregion = "us-west-2"\n'))
    p = profile.providers["p"]
    assert p.base_url == "https://bedrock-runtime.us-west-2.amazonaws.com" and p.settings["region"] == "us-west-2"
    with pytest.raises(Exception, match="missing `region`"):
        parse_profile(write(tmp_path, '[providers.p]\napi = "bedrock"\n'))
    with pytest.raises(Exception, match="missing `location`"):
        parse_profile(write(tmp_path, '[providers.p]\napi = "vertex"\nproject = "x"\n'))
    claude = parse_profile(
        write(
            tmp_path,
            '[providers.p]\napi = "vertex-anthropic"\nproject = "x"\nlocation = "us-east5"\nanthropic_version = "vertex-2023-10-16"\n',
        )
    )
    assert claude.providers["p"].base_url == "https://us-east5-aiplatform.googleapis.com/v1"
    with pytest.raises(Exception, match='applies to api = "bedrock" only'):
        parse_profile(write(tmp_path, '[providers.p]\nbase_url = "https://x.example/v1"\nregion = "us-east-1"\n'))
    with pytest.raises(Exception, match="takes no key"):
        parse_profile(
            write(
                tmp_path,
                '[providers.p]\napi = "vertex-anthropic"\nproject = "x"\nlocation = "us-east5"\napi_key_env = "K"\n',
            )
        )
