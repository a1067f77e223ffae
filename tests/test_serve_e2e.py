"""`orcli serve` end to end: the real `orcli serve` process, the real `openai` Python SDK (and curl) as the
client, the loopback fake upstream (tests/upstream.py) behind it (docs/gateway.md)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_harness import MODEL_A, MODEL_B, PROVIDERS, serving
from upstream import (
    Ok,
    Upstream,
    bad_request_400,
    content_filter_after_text,
    context_length_400,
    cut_after_content,
    ok,
    server_error,
    write_profile,
)

openai = pytest.importorskip("openai", reason="the openai SDK (a test dependency) is the gateway's real client")


@pytest.fixture
def up() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


def test_a_plain_answer_through_the_openai_sdk_names_its_provider(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", ok("hello there"))
    with serving(tmp_path, up) as gw:
        raw = gw.client().chat.completions.with_raw_response.create(
            model=MODEL_A, messages=[{"role": "user", "content": "hi"}]
        )
        answer = raw.parse()
        assert answer.choices[0].message.content == "hello there"
        assert answer.choices[0].finish_reason == "stop"
        assert answer.usage is not None and answer.usage.completion_tokens == 2
        assert raw.headers["x-orcli-provider"] == "alpha" and raw.headers["x-orcli-attempts"] == "1"
        assert answer.model_extra and answer.model_extra["provider"] == "alpha"
        log = gw.log_lines()
    assert up.requests("alpha")[0].body["messages"] == [{"role": "user", "content": "hi"}]
    assert [(e["status"], e["provider"], e["attempts"]) for e in log if e.get("path")] == [(200, "alpha", 1)]


def test_a_streamed_answer_arrives_in_chunks_with_a_usage_chunk_when_asked(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", ok("one two three"))
    with serving(tmp_path, up) as gw:
        stream = gw.client().chat.completions.create(
            model=MODEL_A,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 3
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


def test_a_stream_without_include_usage_has_no_usage_chunk(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", ok("a b"))
    with serving(tmp_path, up) as gw:
        chunks = list(
            gw.client().chat.completions.create(
                model=MODEL_A, messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
    assert all(c.choices for c in chunks)


def test_failover_is_visible_in_the_headers_and_recorded(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", server_error(503))
    up.script("beta", ok("from beta"))
    with serving(tmp_path, up) as gw:
        raw = gw.client().chat.completions.with_raw_response.create(
            model=MODEL_A, messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.parse().choices[0].message.content == "from beta"
        assert raw.headers["x-orcli-provider"] == "beta" and raw.headers["x-orcli-attempts"] == "2"
        gw.stop()
        outcomes = gw.outcomes()
    assert [(p, okay) for _, p, okay, _ in outcomes] == [("alpha", 0), ("beta", 1)]


def test_the_next_request_routes_on_the_health_the_last_one_recorded(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", server_error(500), ok("alpha back"))
    up.script("beta", ok("from beta"))
    with serving(tmp_path, up) as gw:
        client = gw.client()
        first = client.chat.completions.with_raw_response.create(
            model=MODEL_A, messages=[{"role": "user", "content": "x"}]
        )
        assert first.headers["x-orcli-attempts"] == "2"
        # alpha failed a moment ago: unstable, so it goes after beta although it is cheaper (docs/routing.md#rejections, docs/routing.md#ordering)
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL_A, messages=[{"role": "user", "content": "x"}]
        )
        assert raw.headers["x-orcli-provider"] == "beta" and raw.headers["x-orcli-attempts"] == "1"
    assert up.count("alpha") == 1


class _SetsACookie(Ok):
    """A whole answer whose response sets a cookie, as a CDN or load balancer in front of a provider does."""

    def serve(self, ex: Any) -> None:
        pieces = self.pieces(ex)
        body = ex.completion("".join(pieces), "stop", self.usage_for(pieces))
        ex.send_json(200, body, {"Set-Cookie": "__cf_bm=caller-one-session; Path=/; HttpOnly"})


def test_a_cookie_a_provider_sets_never_goes_back_upstream_with_another_callers_request(
    tmp_path: Path, up: Upstream
) -> None:
    # docs/gateway.md: the gateway keeps no cookie jar, so one caller's provider state never rides along
    # with the next caller's request (nor with a request to another provider on the same host).
    up.script("alpha", _SetsACookie("first"), ok("second"))
    with serving(tmp_path, up) as gw:
        for caller in ("one", "two"):
            answer = gw.client(api_key=caller).chat.completions.create(
                model=MODEL_A, messages=[{"role": "user", "content": caller}]
            )
            assert answer.choices[0].message.content in ("first", "second")
    sent = up.requests("alpha")
    assert len(sent) == 2
    assert [r.headers.get("cookie") for r in sent] == [None, None]


def test_model_fallback_with_a_models_list(tmp_path: Path, up: Upstream) -> None:
    # a model-level failure on model A (skip its other providers), then a provider failure on model B
    up.script("alpha", context_length_400(), server_error(500))
    up.script("beta", ok("model b answers"))
    with serving(tmp_path, up, providers=["alpha", "beta"]) as gw:
        answer = gw.client().chat.completions.create(
            model=MODEL_A, messages=[{"role": "user", "content": "hi"}], extra_body={"models": [MODEL_B]}
        )
    assert answer.choices[0].message.content == "model b answers"
    served = [(r.provider, r.model) for r in up.requests()]
    assert served == [("alpha", MODEL_A), ("alpha", MODEL_B), ("beta", MODEL_B)]


def test_the_provider_object_overrides_the_profile_for_one_request(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", ok("alpha"))
    up.script("beta", ok("beta"))
    with serving(tmp_path, up) as gw:
        raw = gw.client().chat.completions.with_raw_response.create(
            model=MODEL_A,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"provider": {"order": ["beta"], "allow_fallbacks": False}},
        )
        assert raw.headers["x-orcli-provider"] == "beta"
        answer = gw.client().chat.completions.create(model=MODEL_A, messages=[{"role": "user", "content": "hi"}])
    assert answer.model_extra and answer.model_extra["provider"] == "alpha"  # the profile's sort again


def test_no_route_is_a_404_listing_every_rejection_with_its_code(tmp_path: Path, up: Upstream) -> None:
    with serving(tmp_path, up) as gw, pytest.raises(openai.NotFoundError) as caught:
        gw.client().chat.completions.create(
            model=MODEL_A,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"provider": {"ignore": ["alpha", "beta"]}},
        )
    error = caught.value.body
    assert isinstance(error, dict) and "no route" in error["message"]
    assert {(r["provider"], r["code"]) for r in error["metadata"]["rejected"]} == {
        ("alpha", "ignored"),
        ("beta", "ignored"),
    }
    assert up.count() == 0


def test_every_attempt_failing_is_a_502_with_the_attempts(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", server_error(500))
    up.script("beta", server_error(502))
    with serving(tmp_path, up) as gw, pytest.raises(openai.InternalServerError) as caught:
        gw.client().chat.completions.create(
            model=MODEL_A, messages=[{"role": "user", "content": "hi"}], extra_body={"models": [MODEL_A]}
        )
    assert caught.value.status_code == 502
    body = caught.value.body
    assert isinstance(body, dict) and [a["provider"] for a in body["metadata"]["attempts"]] == ["alpha", "beta"]


def test_a_request_class_error_keeps_the_upstream_status_and_message(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", bad_request_400("Invalid value for 'temperature': must be between 0 and 2."))
    with serving(tmp_path, up) as gw, pytest.raises(openai.BadRequestError) as caught:
        gw.client().chat.completions.create(model=MODEL_A, messages=[{"role": "user", "content": "hi"}], temperature=7)
    assert caught.value.status_code == 400 and "temperature" in str(caught.value.body)
    assert up.count("beta") == 0  # a request-class error stops: the request itself is wrong


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "name a model"),
        (b'{"model": "test/model-a"}', "messages"),
        (
            b'{"model": "test/model-a", "messages": [{"role": "user", "content": "x"}], "provider": {"sort": "fast"}}',
            "provider.sort",
        ),
        (
            b'{"model": "test/model-a", "messages": [{"role": "user", "content": "x"}], "provider": {"bogus": 1}}',
            "provider.bogus",
        ),
    ],
)
def test_a_bad_body_is_a_400_envelope_sent_with_curl(tmp_path: Path, up: Upstream, body: bytes, needle: str) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed (Debian package curl)")
    with serving(tmp_path, up) as gw:
        done = subprocess.run(
            [
                curl,
                "-s",
                "-w",
                "\n%{http_code}",
                "-H",
                "content-type: application/json",
                "--data-binary",
                "@-",
                f"{gw.url}/chat/completions",
            ],
            input=body,
            capture_output=True,
            timeout=30,
        )
    text, _, code = done.stdout.decode().rpartition("\n")
    assert code == "400", done.stdout
    doc = json.loads(text)
    assert doc["error"]["code"] == 400 and needle in doc["error"]["message"]
    assert up.count() == 0


def test_an_unknown_model_is_a_404_model_not_found_as_openai_answers(tmp_path: Path, up: Upstream) -> None:
    with serving(tmp_path, up) as gw, pytest.raises(openai.NotFoundError) as caught:
        gw.client().chat.completions.create(model="nope/none", messages=[{"role": "user", "content": "x"}])
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "model_not_found" and error["param"] == "model"
    assert "no endpoint" in error["message"] and "nope/none" in error["message"]
    assert up.count() == 0


def test_models_and_health_endpoints(tmp_path: Path, up: Upstream) -> None:
    with serving(tmp_path, up) as gw:
        models = gw.client().models.list()
        health = httpx.get(gw.url.removesuffix("/v1") + "/health", timeout=10)
    assert sorted(m.id for m in models.data) == [MODEL_A, MODEL_B]
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_fifty_concurrent_streams_are_served_concurrently(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", ok("a b c d", chunk_delay=0.2))  # ~0.8 s each: 50 in sequence would take 40 s
    with serving(tmp_path, up) as gw:
        client = gw.client(timeout=60)

        def one(i: int) -> str:
            stream = client.chat.completions.create(
                model=MODEL_A, messages=[{"role": "user", "content": f"{i}"}], stream=True
            )
            return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

        started = time.monotonic()
        with ThreadPoolExecutor(50) as pool:
            texts = list(pool.map(one, range(50)))
        elapsed = time.monotonic() - started
    assert texts == ["a b c d"] * 50
    assert elapsed < 20, f"50 streams took {elapsed:.1f}s: they were not served concurrently"


def test_a_client_that_disconnects_mid_stream_cancels_the_upstream_request(tmp_path: Path, up: Upstream) -> None:
    words = [f"w{i} " for i in range(60)]
    up.script("alpha", ok(chunks=words, chunk_delay=0.1))  # 6 s if read to the end
    with serving(tmp_path, up) as gw:
        with httpx.stream(
            "POST",
            f"{gw.url}/chat/completions",
            timeout=30,
            json={
                "model": MODEL_A,
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
            },
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: "):
                    break  # the first chunk: now go away
        deadline = time.monotonic() + 5
        while up.live_connections() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert up.live_connections() == 0, "the upstream request went on after the client left"
        log = gw.log_lines()
        outcomes = gw.outcomes()
    assert [e["status"] for e in log if e.get("path")] == [499]
    assert outcomes[-1][1:] == ("alpha", 0, "cancelled")


def test_a_stream_that_breaks_after_content_ends_with_an_error_the_sdk_raises(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", cut_after_content("partial "))
    with serving(tmp_path, up) as gw:
        stream = gw.client().chat.completions.create(
            model=MODEL_A, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        seen: list[str] = []
        with pytest.raises(openai.APIError, match="stream broke"):
            for chunk in stream:
                seen.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(seen) == "partial "


def test_a_content_filter_after_streamed_text_ends_the_stream_with_finish_reason_content_filter(
    tmp_path: Path, up: Upstream
) -> None:
    up.script("alpha", content_filter_after_text("Once upon "))
    with serving(tmp_path, up) as gw:
        stream = gw.client().chat.completions.create(
            model=MODEL_A, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = list(stream)
    assert "".join(c.delta.content or "" for ch in chunks for c in ch.choices) == "Once upon "
    assert [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason] == ["content_filter"]


def test_sigterm_lets_an_in_flight_stream_finish(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", ok(chunks=[f"w{i} " for i in range(10)], chunk_delay=0.15))
    with serving(tmp_path, up) as gw:
        result: dict[str, Any] = {}

        def read() -> None:
            stream = gw.client().chat.completions.create(
                model=MODEL_A, messages=[{"role": "user", "content": "x"}], stream=True
            )
            result["text"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(0.5)  # the stream is under way
        gw.proc.send_signal(signal.SIGTERM)
        reader.join(timeout=20)
        code = gw.proc.wait(timeout=20)
        with pytest.raises(httpx.ConnectError):
            httpx.get(gw.url.removesuffix("/v1") + "/health", timeout=2)
    assert result.get("text") == "".join(f"w{i} " for i in range(10))
    assert code == 0


def test_binding_beyond_loopback_without_auth_is_refused(tmp_path: Path, up: Upstream) -> None:
    profile = write_profile(tmp_path / "p.toml", up, PROVIDERS)
    done = subprocess.run(
        [sys.executable, "-m", "orcli", "serve", "--host", "0.0.0.0", "--port", "0", "--profile", str(profile)],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "ORCLI_STATE_DIR": str(tmp_path / "state")},
    )
    assert done.returncode == 2 and "--auth-env" in done.stderr and "Traceback" not in done.stderr


def test_with_auth_env_a_wrong_token_is_refused_and_the_right_one_served(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", ok("secret answer"))
    token = "tok-" + "x" * 28
    with serving(tmp_path, up, "--auth-env", "GATEWAY_TOKEN", env_extra={"GATEWAY_TOKEN": token}) as gw:
        with pytest.raises(openai.AuthenticationError):
            gw.client(api_key="wrong").chat.completions.create(
                model=MODEL_A, messages=[{"role": "user", "content": "x"}]
            )
        answer = gw.client(api_key=token).chat.completions.create(
            model=MODEL_A, messages=[{"role": "user", "content": "x"}]
        )
        log = gw.log_lines()
    assert answer.choices[0].message.content == "secret answer"
    assert token not in json.dumps(log)
    assert up.count("alpha") == 1


def test_a_body_over_the_limit_is_refused_with_413(tmp_path: Path, up: Upstream) -> None:
    with serving(tmp_path, up, "--max-body", "2048") as gw:
        response = httpx.post(
            f"{gw.url}/chat/completions",
            timeout=10,
            json={"model": MODEL_A, "messages": [{"role": "user", "content": "x" * 5000}]},
        )
    assert response.status_code == 413 and response.json()["error"]["code"] == 413
    assert up.count() == 0


def test_the_profile_is_reloaded_when_its_file_changes_and_a_broken_edit_keeps_the_old(
    tmp_path: Path, up: Upstream
) -> None:
    up.script("alpha", ok("alpha"))
    up.script("beta", ok("beta"))
    with serving(tmp_path, up) as gw:
        profile = tmp_path / "profile.toml"
        before = gw.client().chat.completions.create(model=MODEL_A, messages=[{"role": "user", "content": "x"}])
        assert before.model_extra and before.model_extra["provider"] == "alpha"
        time.sleep(0.05)  # a new mtime on coarse clocks
        profile.write_text(profile.read_text().replace('sort = "price"', 'order = ["beta"]'))
        after = gw.client().chat.completions.create(model=MODEL_A, messages=[{"role": "user", "content": "x"}])
        assert after.model_extra and after.model_extra["provider"] == "beta"
        good = profile.read_text()
        profile.write_text(good + "\n[[endpoint]]\nmodel = 3\n")  # broken: the old profile stays in use
        still = gw.client().chat.completions.create(model=MODEL_A, messages=[{"role": "user", "content": "x"}])
        assert still.model_extra and still.model_extra["provider"] == "beta"
        gw.stop()
        assert gw.proc.stderr is not None
        warnings = [json.loads(line)["warning"] for line in gw.proc.stderr.read().splitlines() if '"warning"' in line]
    assert any("reloaded" in w for w in warnings)
    assert any("not reloaded" in w and "endpoint" in w for w in warnings)


def test_sighup_reloads_the_profile(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", ok("alpha"))
    with serving(tmp_path, up) as gw:
        gw.proc.send_signal(signal.SIGHUP)
        answer = gw.client().chat.completions.create(model=MODEL_A, messages=[{"role": "user", "content": "x"}])
        assert answer.choices[0].message.content == "alpha"
        gw.stop()
        assert gw.proc.stderr is not None
        assert "profile reloaded" in gw.proc.stderr.read()


def test_upstream_error_text_reaches_the_client_neutralised(tmp_path: Path, up: Upstream) -> None:
    hostile = "bad \x1b[2J\x1b]52;c;aGk=\x07 value \u202e"
    up.script("alpha", bad_request_400(hostile))
    with serving(tmp_path, up) as gw:
        response = httpx.post(
            f"{gw.url}/chat/completions",
            timeout=10,
            json={"model": MODEL_A, "messages": [{"role": "user", "content": "x"}]},
        )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "bad" in message and "value" in message
    assert not any(ch in message for ch in ("\x1b", "\x07", "\u202e"))
    for attempt in response.json()["error"]["metadata"]["attempts"]:
        assert "\x1b" not in (attempt["error"] or "")
