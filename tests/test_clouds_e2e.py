"""`orcli ask`, `explain-route` and `health --probe` end to end through the cloud dialects (docs/dialects.md
"Cloud dialects"): the real CLI against the loopback Bedrock and Vertex AI fakes (tests/fake_clouds.py, checked
against boto3, google-genai and AnthropicVertex), with the clouds' own credentials: SigV4 from AWS variables
or a profile file (the fake recomputes every signature), a Bedrock API key, and OAuth2 tokens fetched with a
service-account key the test generates. Failover and fallback across anthropic, bedrock and vertex-anthropic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cli_harness import MODEL, MODEL_B, Cli
from cloud_harness import PROJECT, REGION, VERTEX_CLAUDE_ID, Clouds
from fake_clouds import CloudUpstream, stream_exception
from fake_dialects import error_after_content, ok, overloaded, prompt_too_long, rate_limited, refused_prompt, tool_call


@pytest.fixture
def clouds(tmp_path: Path) -> Iterator[Clouds]:
    with CloudUpstream(region=REGION) as fake:
        yield Clouds(fake, Cli(fake, tmp_path), tmp_path)


def attempts(doc: dict[str, Any]) -> list[tuple[str, str, str | None, int | None]]:
    return [(a["provider"], a["outcome"], a["error_class"], a["status"]) for a in doc["attempts"]]


# --- Bedrock --------------------------------------------------------------------------------------


def test_bedrock_streams_and_answers_signed_with_sigv4(clouds: Clouds) -> None:
    clouds.profile({"br": "bedrock"})
    clouds.fake.script("br", ok(chunks=["one ", "two ", "three"], reasoning="Hmm."))
    run = clouds.cli("ask", "-s", "Be brief.", "-o", "temperature=0.5", "-o", "top_k=40", "hi")
    assert (run.code, run.out, run.err) == (0, "one two three", ""), run
    [sent] = clouds.fake.requests("br")  # the fake recomputed the signature: a wrong one is a 403
    assert sent.path == "/br/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream"
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={clouds.access_key}/")
    assert sent.headers["x-amz-security-token"] == clouds.session_token
    assert sent.body == {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 4096, "temperature": 0.5},
        "additionalModelRequestFields": {"top_k": 40},
    }
    clouds.fake.script("br", ok())
    run = clouds.cli("ask", "--json", "--no-stream", "hi")
    doc = run.json()
    assert (doc["content"], doc["provider"], doc["finish_reason"]) == ("Hello from br", "br", "stop"), run
    assert doc["usage"] == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    assert clouds.fake.requests("br")[-1].path.endswith("/converse")
    clouds.assert_nothing_leaked(run)


def test_bedrock_credentials_from_a_profile_file(clouds: Clouds, tmp_path: Path) -> None:
    clouds.profile({"br": "bedrock"})
    config = tmp_path / "aws-credentials"
    config.write_text(
        f"[work]\naws_access_key_id = {clouds.access_key}\naws_secret_access_key = {clouds.secret_key}\n"
        f"aws_session_token = {clouds.session_token}\n"
    )
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": ""}
    env.update(AWS_PROFILE="work", AWS_SHARED_CREDENTIALS_FILE=str(config))
    run = clouds.cli("ask", "hi", env=env)
    assert (run.code, run.out) == (0, "Hello from br"), run
    run = clouds.cli("explain-route", "--json", env={**env, "AWS_PROFILE": "nobody"})
    assert run.code == 3, run
    [rejection] = run.json()["rejected"]
    assert rejection["code"] == "no_credentials" and "AWS_PROFILE" in rejection["detail"]


def test_bedrock_tool_calls_whole_and_streamed(clouds: Clouds) -> None:
    clouds.profile({"br": "bedrock"})
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    clouds.fake.script("br", tool_call("get_weather", {"city": "Lima"}))
    for flags in (["--no-stream"], []):
        run = clouds.cli("ask", "--tools", json.dumps(tool), *flags, "weather?")
        assert run.code == 0, run
        [call] = json.loads(run.out)
        assert call["function"]["name"] == "get_weather", run
        assert json.loads(call["function"]["arguments"]) == {"city": "Lima"}
    sent = clouds.fake.requests("br")[-1].body
    assert sent["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": {"type": "object"}}


def test_a_bedrock_api_key_is_a_bearer_token(clouds: Clouds) -> None:
    clouds.profile({"brk": "bedrock"}, keys=["brk"])
    clouds.fake.aws.api_keys.add(clouds.cli.key("brk"))
    run = clouds.cli("ask", "hi", env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    assert (run.code, run.out) == (0, "Hello from brk"), run
    sent = clouds.fake.requests("brk")[-1]
    assert sent.headers["authorization"] == f"Bearer {clouds.cli.key('brk')}" and "x-amz-date" not in sent.headers


def test_a_wrong_secret_is_a_provider_failure_and_the_quoted_session_token_is_redacted(clouds: Clouds) -> None:
    clouds.profile({"br": "bedrock"})
    clouds.fake.aws.add(clouds.access_key, "not-the-secret-the-user-has", clouds.session_token)
    run = clouds.cli("ask", "--json", "hi")
    assert run.code == 1, run
    [attempt] = run.json()["attempts"]
    assert (attempt["error_class"], attempt["status"]) == ("provider", 403)
    assert "signature" in attempt["error"].lower()
    clouds.assert_nothing_leaked(run)  # the fake's message quotes the canonical request, token included


def test_a_throttled_event_stream_fails_over(clouds: Clouds) -> None:
    clouds.profile({"br": "bedrock", "br2": "bedrock"})
    clouds.fake.script("br", stream_exception("throttlingException"))
    run = clouds.cli("ask", "--json", "hi")
    # The frame came on a 200 stream; it is recorded as the 429 the same throttling is over HTTP (a backoff).
    assert attempts(run.json()) == [("br", "failed", "provider", 429), ("br2", "success", None, 200)], run
    assert "Too many requests" in run.json()["attempts"][0]["error"]


def test_a_stream_broken_by_an_exception_frame_and_a_guardrail_stop(clouds: Clouds) -> None:
    clouds.profile({"br": "bedrock"})
    clouds.fake.script("br", error_after_content("partial "))
    run = clouds.cli("ask", "hi")
    assert (run.code, run.out) == (1, "partial "), run
    assert "stream" in run.err
    clouds.fake.script("br", refused_prompt())
    run = clouds.cli("ask", "--json", "hi")
    assert run.code == 1 and attempts(run.json())[0][2] == "model", run  # moderation: not the provider's fault


# --- Vertex AI ------------------------------------------------------------------------------------


def test_vertex_gemini_and_claude_with_a_service_account(clouds: Clouds) -> None:
    clouds.profile(
        {"vg": "vertex", "vc": "vertex-anthropic"}, models=[MODEL, MODEL_B], served={MODEL: ["vg"], MODEL_B: ["vc"]}
    )
    run = clouds.cli("ask", "-m", MODEL, "hi")
    assert (run.code, run.out) == (0, "Hello from vg"), run
    gem = clouds.fake.requests("vg")[-1]
    assert gem.path == (
        f"/vg/v1/projects/{PROJECT}/locations/global/publishers/google/models/gemini-2.5-flash"
        ":streamGenerateContent?alt=sse"
    )
    assert gem.headers["authorization"] in {f"Bearer {t}" for t in clouds.tokens()}
    run = clouds.cli("ask", "-m", MODEL_B, "--no-stream", "-s", "Be brief.", "hi")
    assert (run.code, run.out) == (0, "Hello from vc"), run
    claude = clouds.fake.requests("vc")[-1]
    assert (
        claude.path
        == f"/vc/v1/projects/{PROJECT}/locations/us-east5/publishers/anthropic/models/{VERTEX_CLAUDE_ID}:rawPredict"
    )
    assert claude.body["anthropic_version"] == "vertex-2023-10-16" and "model" not in claude.body
    assert claude.body["system"] == "Be brief."
    assert clouds.fake.google.grants == 2  # one token per process (each ask is one)
    clouds.assert_nothing_leaked(run)


def test_vertex_tool_calls_and_an_express_mode_key(clouds: Clouds) -> None:
    clouds.profile(
        {"vc": "vertex-anthropic", "vk": "vertex"},
        keys=["vk"],
        models=[MODEL, MODEL_B],
        served={MODEL: ["vc"], MODEL_B: ["vk"]},
    )
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    clouds.fake.script("vc", tool_call("get_weather", {"city": "Oslo"}))
    run = clouds.cli("ask", "-m", MODEL, "--tools", json.dumps(tool), "weather?")
    assert run.code == 0, run
    [call] = json.loads(run.out)
    assert (call["function"]["name"], json.loads(call["function"]["arguments"])) == ("get_weather", {"city": "Oslo"})
    assert clouds.fake.requests("vc")[-1].body["tools"][0]["input_schema"] == {"type": "object"}
    clouds.fake.google.api_keys.add(clouds.cli.key("vk"))
    run = clouds.cli("ask", "-m", MODEL_B, "hi")
    assert (run.code, run.out) == (0, "Hello from vk"), run
    sent = clouds.fake.requests("vk")[-1]
    assert sent.path == "/vk/v1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert sent.headers["x-goog-api-key"] == clouds.cli.key("vk") and "authorization" not in sent.headers
    assert clouds.fake.google.grants == 1  # only the Claude ask needed a token


def test_a_token_endpoint_that_refuses_is_a_provider_failure_saying_what_was_tried(clouds: Clouds) -> None:
    clouds.profile({"vc": "vertex-anthropic", "br": "bedrock"})
    clouds.fake.google.fail_grants = True
    run = clouds.cli("ask", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert attempts(doc)[0][:3] == ("vc", "failed", "provider") and doc["provider"] == "br"
    assert clouds.fake.count("vc") == 0  # no model call without a token
    assert clouds.sa_file.name in doc["attempts"][0]["error"]


def test_a_slow_token_endpoint_is_cut_at_the_connect_deadline(clouds: Clouds) -> None:
    clouds.profile({"vc": "vertex-anthropic", "br": "bedrock"}, timeouts={"connect": 1})
    clouds.fake.google.token_delay = 5
    run = clouds.cli("ask", "--json", "hi")
    assert run.code == 0 and run.json()["provider"] == "br", run
    assert run.elapsed < 4.5, run


# --- across dialects ------------------------------------------------------------------------------


def test_claude_fails_over_from_anthropic_to_bedrock_to_vertex(clouds: Clouds) -> None:
    clouds.profile({"anthropic": "anthropic", "bedrock": "bedrock", "vertex": "vertex-anthropic"})
    clouds.fake.script("anthropic", overloaded())
    clouds.fake.script("bedrock", rate_limited(3))
    run = clouds.cli("ask", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert attempts(doc) == [
        ("anthropic", "failed", "provider", 529),
        ("bedrock", "failed", "provider", 429),
        ("vertex", "success", None, 200),
    ]
    assert doc["content"] == "Hello from vertex"
    run = clouds.cli("ask", "hi")  # streamed, and bedrock's 429 put it at the back for its backoff
    assert (run.code, run.out) == (0, "Hello from vertex"), run
    clouds.assert_nothing_leaked(run)


def test_a_context_length_refusal_on_bedrock_falls_back_to_the_next_model(clouds: Clouds) -> None:
    clouds.profile(
        {"bedrock": "bedrock", "bedrock2": "bedrock", "vertex": "vertex-anthropic"},
        models=[MODEL, MODEL_B],
        served={MODEL: ["bedrock", "bedrock2"], MODEL_B: ["vertex"]},
    )
    clouds.fake.script("bedrock", prompt_too_long())
    run = clouds.cli("ask", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    # model class: the model's other provider (bedrock2) is skipped, the next model answers
    assert attempts(doc) == [("bedrock", "failed", "model", 400), ("vertex", "success", None, 200)]


# --- planning, probes, missing libraries ----------------------------------------------------------


def test_explain_route_plans_with_local_credentials_and_rejects_without_them_offline(clouds: Clouds) -> None:
    clouds.profile({"br": "bedrock", "vc": "vertex-anthropic", "vg": "vertex"})
    run = clouds.cli("explain-route", "--json")
    assert run.code == 0, run
    assert [a["provider"] for a in run.json()["attempts"]] == ["br", "vc", "vg"]
    bare = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "GOOGLE_APPLICATION_CREDENTIALS": ""}
    run = clouds.cli("explain-route", "--json", env=bare)
    assert run.code == 3, run
    codes = {r["provider"]: (r["code"], r["detail"]) for r in run.json()["rejected"]}
    assert codes["br"][0] == codes["vc"][0] == codes["vg"][0] == "no_credentials"
    assert "AWS_ACCESS_KEY_ID" in codes["br"][1] and "gcloud auth application-default login" in codes["vc"][1]
    assert clouds.fake.count() == 0 and clouds.fake.google.grants == 0  # planning made no request at all
    found = {p["name"]: p["key_set"] for p in clouds.cli("providers", "--json").json()["providers"]}
    assert found == {"br": True, "vc": True, "vg": True}
    run = clouds.cli("providers", env=bare)
    assert "AWS credentials MISSING" in run.out and "Google ADC MISSING" in run.out, run
    assert "AWS credentials found" in clouds.cli("providers").out


def test_health_probe_speaks_each_cloud_dialect(clouds: Clouds) -> None:
    clouds.profile({"br": "bedrock", "vc": "vertex-anthropic", "vg": "vertex"})
    clouds.fake.script("vg", overloaded())
    run = clouds.cli("health", "--probe", "--json")
    assert run.code == 1, run
    probes = {p["provider"]: p["ok"] for p in run.json()["probes"]}
    assert probes == {"br": True, "vc": True, "vg": False}
    assert {r.dialect for r in clouds.fake.requests()} == {"bedrock", "anthropic", "gemini"}


def test_without_botocore_sigv4_is_rejected_naming_the_pip_install_and_an_api_key_still_works(
    clouds: Clouds, tmp_path: Path
) -> None:
    shim = tmp_path / "no-botocore"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text("import sys\nsys.modules['botocore'] = None  # as if not installed\n")
    clouds.profile({"br": "bedrock", "brk": "bedrock"}, keys=["brk"])
    clouds.fake.aws.api_keys.add(clouds.cli.key("brk"))
    env = {"PYTHONPATH": f"{shim}:{clouds.cli.env.get('PYTHONPATH', '')}"}
    run = clouds.cli("explain-route", "--json", env=env)
    assert run.code == 0, run
    [rejection] = run.json()["rejected"]
    assert (rejection["provider"], rejection["code"]) == ("br", "missing_extra")
    assert "pip install 'orcli[aws]'" in rejection["detail"]
    run = clouds.cli("ask", "hi", env=env)  # streamed: the event stream needs no library either
    assert (run.code, run.out) == (0, "Hello from brk"), run


# --- serve: one token for the life of the process, a signature per request -------------------------


@contextmanager
def serving(clouds: Clouds) -> Iterator[str]:
    """`orcli serve` for the test's profile on a free port: its URL. Stopped on leaving, and its output (the
    access log included) checked for every secret."""
    proc = clouds.cli.popen("serve", "--port", "0", "--json", text=True)
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())["listening"]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    clouds.assert_nothing_leaked(out + err)


def test_serve_fetches_one_token_and_renews_it_shortly_before_expiry(clouds: Clouds) -> None:
    import httpx

    clouds.profile({"vc": "vertex-anthropic"})
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}

    def ask(url: str) -> str:
        answer = httpx.post(f"{url}/chat/completions", json=body, timeout=30).json()
        return str(answer["choices"][0]["message"]["content"])

    with serving(clouds) as url:
        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(lambda _: ask(url), range(4))) == {"Hello from vc"}
        assert clouds.fake.google.grants == 1  # four requests, some at once: one token, fetched once
        assert ask(url) == "Hello from vc" and clouds.fake.google.grants == 1
    # A fresh serve whose token has 304 s left: orcli renews five minutes before expiry, so after 4 s.
    clouds.fake.google.expires_in = 304
    with serving(clouds) as url:
        assert ask(url) == "Hello from vc" and clouds.fake.google.grants == 2
        assert ask(url) == "Hello from vc" and clouds.fake.google.grants == 2
        time.sleep(4.5)
        assert ask(url) == "Hello from vc" and clouds.fake.google.grants == 3


def test_serve_signs_each_bedrock_request_anew_and_bedrock_accepts_every_signature(clouds: Clouds) -> None:
    # One process signs many requests: botocore signs the first of each shape, orcli fills in the shape for
    # the rest (orcli/auth/sigv4.py). The fake recomputes every signature with botocore.
    import httpx

    clouds.profile({"br": "bedrock"})

    def ask(url: str, n: int) -> str:
        body = {"model": MODEL, "messages": [{"role": "user", "content": f"question {n}"}], "stream": n % 2 == 1}
        with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=30) as response:
            text = response.read().decode()
        assert response.status_code == 200, text
        if n % 2:
            return "".join(
                json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                for line in text.splitlines()
                if line.startswith("data: {")
            )
        return str(json.loads(text)["choices"][0]["message"]["content"])

    with serving(clouds) as url:
        assert [ask(url, n) for n in range(4)] == ["Hello from br"] * 4
        time.sleep(1.1)  # a later second: a new X-Amz-Date in the same shapes
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(lambda n: ask(url, n), range(4, 12))) == ["Hello from br"] * 8
    assert clouds.fake.aws.verified == 12


# --- profiles init ---------------------------------------------------------------------------------


def test_profiles_init_keeps_the_clouds_whose_credentials_are_present(clouds: Clouds, tmp_path: Path) -> None:
    import tomllib

    config = tmp_path / "aws-config"
    config.write_text(
        "[profile work]\nregion = eu-west-3\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = base\n"
    )
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "work", "AWS_CONFIG_FILE": str(config)}
    run = clouds.cli("profiles", "init", "clouds", "--json", env=env)
    assert run.code == 0, run
    doc = run.json()
    assert doc["providers"] == ["amazon-bedrock", "google-vertex"] and doc["chosen_by"] == "keys set"
    written = tomllib.loads(Path(doc["path"]).read_text())
    assert written["providers"]["amazon-bedrock"]["region"] == "eu-west-3"  # the profile's region, from the config
    assert written["providers"]["google-vertex"]["project"] == PROJECT  # from the service-account file
    ids = {e["provider"]: e["upstream_model"] for e in written["endpoint"]}
    assert ids == {
        "amazon-bedrock": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "google-vertex": "claude-sonnet-4-5@20250929",
    }
    run = clouds.cli("explain-route", "--json", "-p", "clouds", env={**env, "AWS_REGION": "us-west-2"})
    assert run.code == 0 and sorted(a["provider"] for a in run.json()["attempts"]) == [
        "amazon-bedrock",
        "google-vertex",
    ], run
    bare = {"GOOGLE_APPLICATION_CREDENTIALS": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    run = clouds.cli("profiles", "check", "clouds", "--json", env=env)
    assert not [p for p in run.json()["problems"] if p["code"] == "key_not_set"], run
    run = clouds.cli("profiles", "check", "clouds", "--json", env=bare)
    unset = {p["subject"]: p["detail"] for p in run.json()["problems"] if p["code"] == "key_not_set"}
    assert run.code == 1 and set(unset) == {"amazon-bedrock", "google-vertex"}, run
    assert unset["amazon-bedrock"].startswith("no AWS credentials") and unset["amazon-bedrock"].endswith(
        "(no_credentials)"
    )
    run = clouds.cli("profiles", "init", "none", "--json", env={**bare, "GOOGLE_CLOUD_PROJECT": "x"})
    assert run.json()["chosen_by"] == "all (no key set)", run  # nothing found: the whole example, placeholders kept
