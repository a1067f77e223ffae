"""The test upstream does what its behaviours say, seen through a plain httpx client."""

import json
import socket
import threading
import time
import tomllib

import httpx
import pytest
from upstream import (
    Upstream,
    bad_json,
    bad_request_400,
    billing_400,
    content_filter,
    context_length_400,
    cut_after_content,
    drop_before_content,
    dumps_toml,
    echo_auth_401,
    empty_choices,
    error_chunk_after_content,
    fake_keys,
    hang,
    key_env,
    moderation_403,
    not_found,
    ok,
    payment_required,
    quota_429,
    rate_limited,
    refused_base_url,
    reset_connection,
    server_error,
    slow_first_token,
    stall_between_chunks,
    status,
    unauthorized,
    write_profile,
)

MODEL = "test/model-a"
# One client for the module: building an httpx.Client (its SSL context) costs ~50 ms each time.
http = httpx.Client(timeout=2.0)


@pytest.fixture(autouse=True, scope="module")
def _close_http():
    yield
    http.close()


def post(up: Upstream, provider: str, stream: bool = False, timeout: float = 2.0, **extra) -> httpx.Response:
    """Non-streamed httpx POST to the provider's chat completions."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream, **extra}
    return http.post(f"{up.base_url(provider)}/chat/completions", json=body, timeout=timeout)


def stream_lines(up: Upstream, provider: str, timeout: float = 2.0) -> tuple[list[str], Exception | None]:
    """Read an SSE response line by line; returns the lines received and the error that ended it, if any."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    lines: list[str] = []
    try:
        with http.stream("POST", f"{up.base_url(provider)}/chat/completions", json=body, timeout=timeout) as r:
            assert r.status_code == 200
            assert r.headers["content-type"] == "text/event-stream"
            for line in r.iter_lines():
                lines.append(line)
    except httpx.TransportError as exc:
        return lines, exc
    return lines, None


def events(lines: list[str]) -> list:
    """The `data:` payloads, JSON-decoded where possible."""
    out = []
    for line in lines:
        if line.startswith("data: "):
            data = line[len("data: ") :]
            try:
                out.append(json.loads(data))
            except ValueError:
                out.append(data)
    return out


def content_of(evts: list) -> str:
    return "".join(c["delta"].get("content") or "" for e in evts if isinstance(e, dict) for c in e.get("choices", []))


# ----------------------------------------------------------------------------------------------- ok


def test_ok_non_stream_is_a_chat_completion(upstream):
    r = post(upstream, "alpha")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello from alpha"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


def test_ok_stream_has_openai_sse_framing(upstream):
    upstream.script("alpha", ok("one two three"))
    body = {"model": MODEL, "messages": [], "stream": True}
    raw = http.post(f"{upstream.base_url('alpha')}/chat/completions", json=body).text
    blocks = raw.split("\n\n")
    assert blocks[-1] == ""  # every event ends with a blank line
    assert all(b.startswith("data: ") for b in blocks[:-1])
    evts = events(raw.splitlines())
    role, *contents, finish, usage, done = evts
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"]["content"] for c in contents] == ["one ", "two ", "three"]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL for c in contents)
    assert finish["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 3
    assert done == "[DONE]"


def test_ok_custom_chunks_usage_and_no_usage(upstream):
    upstream.script("alpha", ok(chunks=["a", "b"], usage={"prompt_tokens": 1}), ok("x", usage=False))
    evts = events(stream_lines(upstream, "alpha")[0])
    assert content_of(evts) == "ab"
    assert evts[-2]["usage"] == {"prompt_tokens": 1}
    evts = events(stream_lines(upstream, "alpha")[0])
    assert not any(isinstance(e, dict) and "usage" in e for e in evts)
    assert "usage" not in post(upstream, "alpha").json()


# ---------------------------------------------------------------------------------- scripting, log


def test_script_queue_pops_then_repeats_the_last(upstream):
    upstream.script("alpha", server_error(503), unauthorized(), ok("back"))
    codes = [post(upstream, "alpha").status_code for _ in range(5)]
    assert codes == [503, 401, 200, 200, 200]
    assert post(upstream, "alpha").json()["choices"][0]["message"]["content"] == "back"


def test_counts_and_log_are_per_provider(upstream):
    post(upstream, "alpha")
    post(upstream, "beta")
    post(upstream, "alpha", temperature=0.5)
    assert (upstream.count("alpha"), upstream.count("beta"), upstream.count("gamma")) == (2, 1, 0)
    assert upstream.count() == 3
    assert upstream.call_order() == ["alpha", "beta", "alpha"]
    last = upstream.requests("alpha")[-1]
    assert last.path == "/alpha/v1/chat/completions"
    assert last.body["temperature"] == 0.5 and last.model == MODEL and not last.stream
    assert last.headers["content-type"] == "application/json"  # names are lower-cased


def test_request_headers_are_recorded(upstream):
    url = f"{upstream.base_url('alpha')}/chat/completions"
    http.post(url, json={"model": MODEL}, headers={"Authorization": "Bearer sk-abc", "X-Title": "t"})
    assert upstream.requests("alpha")[0].headers["authorization"] == "Bearer sk-abc"
    assert upstream.requests("alpha")[0].headers["x-title"] == "t"


def test_provider_names_with_a_slash(upstream):
    assert upstream.base_url("deepinfra/turbo").endswith("/deepinfra/turbo/v1")
    upstream.script("deepinfra/turbo", server_error(502))
    assert post(upstream, "deepinfra/turbo").status_code == 502
    assert post(upstream, "deepinfra").status_code == 200
    assert upstream.call_order() == ["deepinfra/turbo", "deepinfra"]


def test_unknown_path_is_404_and_not_counted(upstream):
    r = http.get(f"{upstream.url}/alpha/v1/models")
    assert r.status_code == 404 and "error" in r.json()
    assert upstream.count() == 0


def test_keep_alive_connection_serves_several_requests(upstream):
    with httpx.Client() as client:
        for _ in range(3):
            assert client.post(f"{upstream.base_url('a')}/chat/completions", json={}).status_code == 200
    assert upstream.count("a") == 3


# ------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "behaviour, code, needle",
    [
        (rate_limited(), 429, "rate_limit_exceeded"),
        (quota_429(), 429, "insufficient_quota"),
        (server_error(), 500, "Internal server error"),
        (server_error(502), 502, "Bad gateway"),
        (server_error(503), 503, "Service unavailable"),
        (unauthorized(), 401, "invalid_api_key"),
        (payment_required(), 402, "Insufficient credits"),
        (not_found(), 404, f"The model `{MODEL}` does not exist"),
        (billing_400(), 400, "credit balance is too low"),
        (context_length_400(), 400, "maximum context length is 8192 tokens"),
        (moderation_403(), 403, "flagged"),
        (bad_request_400(), 400, "temperature"),
        (status(418, "teapot"), 418, "teapot"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_error_statuses_have_json_bodies(upstream, behaviour, code, needle, stream):
    upstream.script("alpha", behaviour)
    r = post(upstream, "alpha", stream=stream)
    assert r.status_code == code
    assert needle in r.text
    assert "error" in r.json()


def test_error_body_details(upstream):
    upstream.script("alpha", context_length_400(), moderation_403(["hate"]), billing_400())
    assert post(upstream, "alpha").json()["error"]["code"] == "context_length_exceeded"
    err = post(upstream, "alpha").json()["error"]
    assert err["code"] == 403 and err["metadata"]["reasons"] == ["hate"]
    assert err["metadata"]["provider_name"] == "alpha"
    assert post(upstream, "alpha").json()["error"]["code"] == "insufficient_quota"


def test_retry_after_headers(upstream):
    upstream.script("alpha", rate_limited(retry_after=2), rate_limited(None), server_error(503, retry_after=7))
    assert post(upstream, "alpha").headers["retry-after"] == "2"
    assert "retry-after" not in post(upstream, "alpha").headers
    assert post(upstream, "alpha").headers["retry-after"] == "7"


def test_status_custom_headers_and_raw_body(upstream):
    upstream.script("alpha", status(520, b"<html>origin error</html>", {"X-Why": "cf"}))
    r = post(upstream, "alpha")
    assert (r.status_code, r.headers["x-why"], r.text) == (520, "cf", "<html>origin error</html>")


def test_echo_auth_401_echoes_the_key_verbatim(upstream):
    upstream.script("alpha", echo_auth_401())
    url = f"{upstream.base_url('alpha')}/chat/completions"
    r = http.post(url, json={"model": MODEL}, headers={"Authorization": "Bearer sk-live-SECRET-42"})
    assert r.status_code == 401
    assert "Bearer sk-live-SECRET-42" in r.json()["error"]["message"]


# ------------------------------------------------------------------------------------ broken 200s


def test_bad_json(upstream):
    upstream.script("alpha", bad_json())
    r = post(upstream, "alpha")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    lines, error = stream_lines(upstream, "alpha")
    assert error is None and events(lines) == ["not-json", "[DONE]"]


def test_empty_choices(upstream):
    upstream.script("alpha", empty_choices())
    assert post(upstream, "alpha").json() == {"choices": []}
    lines, error = stream_lines(upstream, "alpha")
    evts = events(lines)
    assert error is None and evts[-1] == "[DONE]" and evts[0]["choices"] == []
    assert content_of(evts) == ""


def test_content_filter(upstream):
    upstream.script("alpha", content_filter())
    choice = post(upstream, "alpha").json()["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["content"] is None
    evts = events(stream_lines(upstream, "alpha")[0])
    assert content_of(evts) == ""
    assert [c["finish_reason"] for e in evts[:-1] for c in e["choices"]][-1] == "content_filter"


# -------------------------------------------------------------------------------- broken streams


def test_drop_before_content_really_drops_the_socket(upstream):
    upstream.script("alpha", drop_before_content())
    lines, error = stream_lines(upstream, "alpha")
    assert isinstance(error, httpx.RemoteProtocolError)
    assert len(events(lines)) == 1 and content_of(events(lines)) == ""  # role chunk only, no [DONE]
    with pytest.raises(httpx.RemoteProtocolError):
        post(upstream, "alpha")


def test_drop_before_content_without_role_chunk(upstream):
    upstream.script("alpha", drop_before_content(role_chunk=False))
    lines, error = stream_lines(upstream, "alpha")
    assert isinstance(error, httpx.RemoteProtocolError) and events(lines) == []


def test_cut_after_content(upstream):
    upstream.script("alpha", cut_after_content("partial answer "))
    lines, error = stream_lines(upstream, "alpha")
    assert isinstance(error, httpx.RemoteProtocolError)
    assert content_of(events(lines)) == "partial answer "
    assert "[DONE]" not in events(lines)
    with pytest.raises(httpx.RemoteProtocolError):
        post(upstream, "alpha")


def test_error_chunk_after_content(upstream):
    upstream.script("alpha", error_chunk_after_content("partial ", code=502))
    lines, error = stream_lines(upstream, "alpha")
    evts = events(lines)
    assert error is None and evts[-1] == "[DONE]"
    assert content_of(evts) == "partial "
    err = evts[-2]
    assert err["error"]["code"] == 502 and err["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "error"}
    body = post(upstream, "alpha").json()
    assert body["choices"][0]["finish_reason"] == "error" and body["error"]["code"] == 502


def test_reset_connection(upstream):
    upstream.script("alpha", reset_connection())
    with pytest.raises(httpx.ReadError, match="reset"):  # a real RST, not a polite FIN
        post(upstream, "alpha")
    assert upstream.count("alpha") == 1  # the request was read before the reset


def test_refused_base_url():
    with pytest.raises(httpx.ConnectError):
        http.post(f"{refused_base_url()}/chat/completions", json={}, timeout=2)


# ------------------------------------------------------------------------------------------ timing


def test_slow_first_token_sends_keep_alives_within_read_timeout(upstream):
    upstream.script("alpha", slow_first_token(0.35, "late"))
    started = time.monotonic()
    lines, error = stream_lines(upstream, "alpha", timeout=0.2)  # per-read timeout below the delay
    assert error is None
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data: "))
    assert lines[:first_data].count(": keep-alive") >= 3
    assert content_of(events(lines)) == "late"
    assert time.monotonic() - started >= 0.35


def test_slow_first_token_non_stream_answers_late(upstream):
    upstream.script("alpha", slow_first_token(0.1))
    started = time.monotonic()
    assert post(upstream, "alpha").json()["choices"][0]["message"]["content"] == "Hello from alpha"
    assert time.monotonic() - started >= 0.1


def test_stall_between_chunks_trips_an_idle_read_timeout(upstream):
    upstream.script("alpha", stall_between_chunks("first ", stall=5))
    lines, error = stream_lines(upstream, "alpha", timeout=0.2)
    assert isinstance(error, httpx.ReadTimeout)
    assert content_of(events(lines)) == "first "


def test_stall_between_chunks_then_the_rest(upstream):
    upstream.script("alpha", stall_between_chunks("first ", stall=0.15, rest="second"))
    started = time.monotonic()
    lines, error = stream_lines(upstream, "alpha", timeout=1)
    assert error is None and content_of(events(lines)) == "first second"
    assert time.monotonic() - started >= 0.15
    assert post(upstream, "alpha", timeout=1).json()["choices"][0]["message"]["content"] == "first second"


def test_hang_never_answers(upstream):
    upstream.script("alpha", hang())
    with pytest.raises(httpx.ReadTimeout):
        post(upstream, "alpha", timeout=0.2)
    assert upstream.count("alpha") == 1


def test_server_notices_clients_that_leave(upstream):
    upstream.script("alpha", hang(), stall_between_chunks(stall=30), slow_first_token(30))
    with pytest.raises(httpx.ReadTimeout):
        post(upstream, "alpha", timeout=0.1)
    assert isinstance(stream_lines(upstream, "alpha", timeout=0.1)[1], httpx.ReadTimeout)
    with http.stream("POST", f"{upstream.base_url('alpha')}/chat/completions", json={"stream": True}) as r:
        assert next(r.iter_lines()) == ": keep-alive"  # then leave mid keep-alives
    deadline = time.monotonic() + 1
    while upstream.live_connections() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert upstream.live_connections() == 0


def test_stop_is_prompt_while_slow_behaviours_run():
    up = Upstream().start()
    up.script("alpha", hang(), stall_between_chunks(stall=30), slow_first_token(30))
    errors: list[Exception] = []

    def client(stream: bool) -> None:
        try:
            post(up, "alpha", stream=stream, timeout=30)
        except httpx.TransportError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(s,)) for s in (False, True, True)]
    for t in threads:
        t.start()
        time.sleep(0.05)  # keep the script order deterministic
    time.sleep(0.1)
    started = time.monotonic()
    up.stop()
    assert time.monotonic() - started < 1
    for t in threads:
        t.join(2)
    assert len(errors) == 3  # every client saw its connection end


def send_and_leave(up: Upstream, provider: str) -> None:
    """Send a stream request on a raw socket and close at once: the server then writes to a dead peer."""
    body = json.dumps({"model": MODEL, "stream": True}).encode()
    head = f"POST /{provider}/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", up.port)) as sock:
        sock.sendall(head.encode() + body)


def test_disconnects_leave_no_noise_on_stderr(upstream, capfd):
    upstream.script("alpha", cut_after_content(), drop_before_content(), reset_connection(), slow_first_token(5))
    for _ in range(3):
        stream_lines(upstream, "alpha")
    # Leave in the middle of keep-alives.
    with http.stream("POST", f"{upstream.base_url('alpha')}/chat/completions", json={"stream": True}) as r:
        next(r.iter_lines())
    # Without the server's guards these raise BrokenPipeError in its threads (checked by hand).
    upstream.script("beta", ok("many words " * 50))
    for _ in range(5):
        send_and_leave(upstream, "beta")
    time.sleep(0.15)
    upstream.stop()
    assert upstream.count("beta") == 5
    assert capfd.readouterr().err == ""


# ----------------------------------------------------------------------------------------- profile


def test_write_profile_matches_the_spec_layout(upstream, tmp_path):
    path = write_profile(
        tmp_path / "p.toml",
        upstream,
        ["groq", "deepinfra/turbo", "local"],
        models=["m/one", "m/two"],
        extra_routing={"sort": "price", "order": ["groq"]},
        no_key=["local"],
        provider_extra={"groq": {"zdr": True, "headers": {}}},
        timeouts={"idle": 1},
    )
    text = path.read_text()
    assert '[providers."deepinfra/turbo"]' in text and "[[endpoint]]" in text
    assert "price = { prompt = 1.0, completion = 1.0 }" in text  # inline, as in docs/profiles.md#the-format
    doc = tomllib.loads(text)
    assert doc["routing"] == {"models": ["m/one", "m/two"], "sort": "price", "order": ["groq"]}
    assert doc["timeouts"]["idle"] == 1 and doc["timeouts"]["connect"] == 2
    providers = doc["providers"]
    assert providers["deepinfra/turbo"]["base_url"] == upstream.base_url("deepinfra/turbo")
    assert providers["deepinfra/turbo"]["api_key_env"] == "ORCLI_TEST_KEY_DEEPINFRA_TURBO"
    assert "api_key_env" not in providers["local"]
    assert providers["groq"]["zdr"] is True and providers["groq"]["headers"] == {}
    assert len(doc["endpoint"]) == 6
    assert [e["price"]["prompt"] for e in doc["endpoint"] if e["model"] == "m/one"] == [1.0, 2.0, 3.0]


def test_write_profile_endpoints_verbatim(upstream, tmp_path):
    endpoints = [{"model": "x", "provider": "a", "upstream_model": "x-up", "price": {"prompt": 0.5}}]
    doc = tomllib.loads(write_profile(tmp_path / "p.toml", upstream, ["a"], ["x"], endpoints=endpoints).read_text())
    assert doc["endpoint"] == endpoints


def test_upstream_profile_fixture(upstream_profile):
    doc = tomllib.loads(upstream_profile(["a", "b"], extra_routing={"allow_fallbacks": False}).read_text())
    assert set(doc["providers"]) == {"a", "b"} and doc["routing"]["allow_fallbacks"] is False


def test_dumps_toml_round_trips_awkward_values():
    doc = {
        "title": 'quote " and \\ and ünïcode\n',
        "routing": {"sort": {"by": "price", "partition": "none"}, "max_price": {"prompt": 1, "request": 0.0}},
        "empty": [],
    }
    assert tomllib.loads(dumps_toml(doc)) == doc


def test_fake_keys_env():
    env = fake_keys(["groq", "deepinfra/turbo"])
    assert set(env) == {key_env("groq"), "ORCLI_TEST_KEY_DEEPINFRA_TURBO"}
    assert all("SECRET" in v for v in env.values())
