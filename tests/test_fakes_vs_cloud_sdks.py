"""The cloud fakes (tests/fake_clouds.py) checked against the official SDKs as independent clients: boto3's
bedrock-runtime signs with SigV4 and reads the event stream, google-auth fetches tokens from the fake's token
endpoint with a service-account key, google-genai (vertexai=True) and anthropic's AnthropicVertex call both
publisher paths. If an SDK accepts what the fake sends, and the fake accepts what the SDK sends, the fake
speaks the real wire closely enough to test orcli's cloud dialects with.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_clouds import CloudUpstream, stream_exception
from fake_dialects import bad_key, ok, overloaded, prompt_too_long, rate_limited, refused_prompt, tool_call

boto3 = pytest.importorskip("boto3", reason="boto3 (pyproject test extra) is not installed")
anthropic = pytest.importorskip("anthropic", reason="the anthropic SDK (pyproject test extra) is not installed")
genai = pytest.importorskip("google.genai", reason="the google-genai SDK (pyproject test extra) is not installed")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError, EventStreamError  # noqa: E402
from google.genai import errors as genai_errors  # noqa: E402
from google.genai import types as genai_types  # noqa: E402
from google.oauth2 import service_account  # noqa: E402

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
HI = [{"role": "user", "content": [{"text": "hi"}]}]
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


@pytest.fixture
def fake() -> Iterator[CloudUpstream]:
    with CloudUpstream() as up:
        up.aws.add("AKIDFAKE", "fake-secret-key", "fake-session-token")
        yield up


def bedrock(fake: CloudUpstream, secret: str = "fake-secret-key", region: str = "us-east-1") -> object:
    return boto3.client(
        "bedrock-runtime",
        region_name=region,
        endpoint_url=fake.base_url("bedrock", "bedrock"),
        aws_access_key_id="AKIDFAKE",
        aws_secret_access_key=secret,
        aws_session_token="fake-session-token",
        config=Config(retries={"max_attempts": 1}),
    )


# --- Bedrock --------------------------------------------------------------------------------------


def test_boto3_reads_whole_and_streamed_converse_answers(fake: CloudUpstream) -> None:
    fake.script("bedrock", ok("Hello from the cloud", reasoning="Hmm."))
    client = bedrock(fake)
    resp = client.converse(modelId=MODEL, messages=HI, inferenceConfig={"maxTokens": 50})
    blocks = resp["output"]["message"]["content"]
    assert blocks[0]["reasoningContent"]["reasoningText"]["text"] == "Hmm."
    assert blocks[1]["text"] == "Hello from the cloud"
    assert resp["stopReason"] == "end_turn" and resp["usage"]["inputTokens"] == 10
    events = list(client.converse_stream(modelId=MODEL, messages=HI)["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)
    assert text == "Hello from the cloud"
    sent = fake.requests("bedrock")[-1]
    # The model id is escaped in the path (`:` -> %3A) and signed as sent: the fake recomputed the signature.
    assert sent.path == "/bedrock/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream"
    assert sent.headers["x-amz-security-token"] == "fake-session-token"


def test_boto3_reads_streamed_tool_use(fake: CloudUpstream) -> None:
    fake.script("bedrock", tool_call("get_weather", {"city": "Lima"}))
    events = list(bedrock(fake).converse_stream(modelId=MODEL, messages=HI)["stream"])
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "get_weather"
    pieces = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e]
    assert "".join(pieces) == '{"city": "Lima"}'
    assert next(e["messageStop"] for e in events if "messageStop" in e)["stopReason"] == "tool_use"


def test_the_fake_refuses_a_wrong_signature_and_a_wrong_region(fake: CloudUpstream) -> None:
    with pytest.raises(ClientError) as info:
        bedrock(fake, secret="not-the-secret").converse(modelId=MODEL, messages=HI)
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError, match="InvalidSignatureException"):
        bedrock(fake, region="eu-west-1").converse(modelId=MODEL, messages=HI)
    assert fake.count("bedrock") == 2


@pytest.mark.parametrize(
    ("behaviour", "code", "status"),
    [
        (rate_limited(), "ThrottlingException", 429),
        (overloaded(), "ServiceUnavailableException", 503),
        (prompt_too_long(), "ValidationException", 400),
        (bad_key(), "UnrecognizedClientException", 403),
    ],
)
def test_boto3_raises_the_error_type_bedrock_names(
    fake: CloudUpstream, behaviour: object, code: str, status: int
) -> None:
    fake.script("bedrock", behaviour)  # type: ignore[arg-type]
    with pytest.raises(ClientError) as info:
        bedrock(fake).converse(modelId=MODEL, messages=HI)
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_boto3_raises_on_an_exception_frame_and_reads_a_guardrail_stop(fake: CloudUpstream) -> None:
    fake.script("bedrock", stream_exception("throttlingException"))
    with pytest.raises(EventStreamError, match="throttlingException"):
        list(bedrock(fake).converse_stream(modelId=MODEL, messages=HI)["stream"])
    fake.script("bedrock", refused_prompt())
    resp = bedrock(fake).converse(modelId=MODEL, messages=HI)
    assert resp["stopReason"] == "guardrail_intervened"


def test_the_bedrock_fake_refuses_what_converse_refuses(fake: CloudUpstream) -> None:
    client = bedrock(fake)
    with pytest.raises(ClientError, match="alternate"):
        client.converse(modelId=MODEL, messages=HI + HI)
    with pytest.raises(ClientError, match="start with a user message"):
        client.converse(modelId=MODEL, messages=[{"role": "assistant", "content": [{"text": "x"}]}])


# --- Vertex AI ------------------------------------------------------------------------------------


def credentials(fake: CloudUpstream, tmp_path: Path) -> service_account.Credentials:
    path = fake.google.service_account_file(tmp_path, fake.token_uri, "proj-1")
    return service_account.Credentials.from_service_account_file(str(path), scopes=SCOPES)


def vertex_gemini(fake: CloudUpstream, tmp_path: Path) -> genai.Client:
    options = genai_types.HttpOptions(base_url=f"{fake.url}/vertex/", api_version="v1")
    return genai.Client(
        vertexai=True,
        project="proj-1",
        location="us-central1",
        credentials=credentials(fake, tmp_path),
        http_options=options,
    )


def test_genai_on_vertex_gets_a_token_and_reads_answers(fake: CloudUpstream, tmp_path: Path) -> None:
    client = vertex_gemini(fake, tmp_path)
    fake.script("vertex", ok("Hello vertex"))
    assert client.models.generate_content(model="gemini-2.5-flash", contents="hi").text == "Hello vertex"
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    assert "".join(c.text or "" for c in chunks) == "Hello vertex"
    sent = fake.requests("vertex")[-1]
    assert sent.path == (
        "/vertex/v1/projects/proj-1/locations/us-central1/publishers/google/models/"
        "gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert sent.headers["authorization"].startswith("Bearer ya29.")
    assert fake.google.grants == 1  # the SDK reused its token: the fake's expiry is honoured


def test_genai_on_vertex_raises_google_errors(fake: CloudUpstream, tmp_path: Path) -> None:
    client = vertex_gemini(fake, tmp_path)
    fake.script("vertex", rate_limited())
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert (info.value.code, info.value.status) == (429, "RESOURCE_EXHAUSTED")


def test_the_token_endpoint_checks_the_jwt_signature(fake: CloudUpstream, tmp_path: Path) -> None:
    import google.auth.exceptions
    import google.auth.transport.requests

    creds = credentials(fake, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    fake.google.service_account_file(other, fake.token_uri, "proj-1")  # same account, a new key: the old one is void
    with pytest.raises(google.auth.exceptions.RefreshError, match="Invalid JWT Signature"):
        creds.refresh(google.auth.transport.requests.Request())
    assert fake.google.grants == 0


def test_anthropic_vertex_calls_raw_predict(fake: CloudUpstream, tmp_path: Path) -> None:
    client = anthropic.AnthropicVertex(
        region="us-east5",
        project_id="proj-1",
        credentials=credentials(fake, tmp_path),
        base_url=f"{fake.url}/vertex-claude/v1",
        max_retries=0,
    )
    fake.script("vertex-claude", ok("Hi from Claude on Vertex"), tool_call("get_weather", {"city": "Oslo"}))
    msg = client.messages.create(
        model="claude-sonnet-4-5@20250929", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].text == "Hi from Claude on Vertex"
    with client.messages.stream(
        model="claude-sonnet-4-5@20250929", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert (final.content[0].name, final.content[0].input) == ("get_weather", {"city": "Oslo"})
    whole, streamed = fake.requests("vertex-claude")
    assert whole.path.endswith("/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict")
    assert streamed.path.endswith(":streamRawPredict")
    assert "model" not in whole.body and whole.body["anthropic_version"]
    fake.script("vertex-claude", overloaded())
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model="claude-x@20250101", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 529
