"""`orcli serve` against hostile and sloppy clients, over raw sockets (docs/gateway.md): browser safety (Host,
Origin, CORS preflight, Content-Type), bounded reads (slow and partial senders), bad bodies, and the OpenAI
SDK's own behaviour (models.retrieve, retries on 5xx)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from gateway_harness import MODEL_A, Gateway, serving
from upstream import Upstream, ok, server_error

openai = pytest.importorskip("openai", reason="the openai SDK (a test dependency) is the gateway's real client")

CHAT = {"model": MODEL_A, "messages": [{"role": "user", "content": "hi"}]}


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def connect(gw: Gateway, timeout: float = 15) -> socket.socket:
    return socket.create_connection(gw.address, timeout=timeout)


def read_reply(sock: socket.socket) -> Reply:
    """One HTTP response read to the connection's end (every request here asks for Connection: close)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return Reply(int(lines[0].split()[1]), headers, body)


def request(
    gw: Gateway,
    method: str = "POST",
    path: str = "/v1/chat/completions",
    body: bytes | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    data = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
    sent = {"Host": f"{gw.address[0]}:{gw.address[1]}", "Connection": "close"}
    if method == "POST":
        sent.update({"Content-Type": "application/json", "Content-Length": str(len(data))})
    sent.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in sent.items() if v is not None)
    with connect(gw) as sock:
        sock.sendall(head.encode() + b"\r\n" + data)
        return read_reply(sock)


@pytest.fixture
def up() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


# -- browser safety ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.nip.io", "[::ffff:1.2.3.4]"])
def test_a_host_that_is_not_loopback_is_refused_with_403_before_anything_is_sent(
    tmp_path: Path, up: Upstream, host: str
) -> None:
    with serving(tmp_path, up) as gw:
        chat = request(gw, body=CHAT, headers={"Host": host})
        models = request(gw, "GET", "/v1/models", headers={"Host": host})
        log = gw.log_lines()
    assert (chat.status, models.status) == (403, 403)
    assert [(e["method"], e["path"], e["status"]) for e in log if e.get("path")] == [
        ("POST", "/v1/chat/completions", 403),
        ("GET", "/v1/models", 403),
    ]
    assert "Host" in chat.json()["error"]["message"]
    assert up.count() == 0


@pytest.mark.parametrize("host", ["localhost", "localhost:{port}", "127.0.0.1:{port}", "app.localhost:{port}"])
def test_loopback_names_with_or_without_the_port_are_served(tmp_path: Path, up: Upstream, host: str) -> None:
    with serving(tmp_path, up) as gw:
        reply = request(gw, body=CHAT, headers={"Host": host.format(port=gw.address[1])})
    assert reply.status == 200 and reply.json()["choices"][0]["message"]["content"]


def test_with_a_token_required_any_host_is_served_to_a_client_with_the_token(tmp_path: Path, up: Upstream) -> None:
    token = "tok-" + "y" * 28
    with serving(tmp_path, up, "--auth-env", "GW_TOKEN", env_extra={"GW_TOKEN": token}) as gw:
        without = request(gw, body=CHAT, headers={"Host": "gateway.team.example"})
        served = request(gw, body=CHAT, headers={"Host": "gateway.team.example", "Authorization": f"Bearer {token}"})
    assert (without.status, served.status) == (401, 200)


def test_a_request_from_a_web_page_is_refused_even_as_a_simple_text_plain_post(tmp_path: Path, up: Upstream) -> None:
    with serving(tmp_path, up) as gw:
        simple = request(gw, body=CHAT, headers={"Origin": "https://evil.example", "Content-Type": "text/plain"})
        preflight = request(gw, "OPTIONS", headers={"Origin": "https://evil.example"})
        listing = request(gw, "GET", "/v1/models", headers={"Origin": "https://evil.example"})
    assert (simple.status, preflight.status, listing.status) == (403, 403, 403)
    assert "--allow-origin" in simple.json()["error"]["message"]
    assert "access-control-allow-origin" not in simple.headers
    assert up.count() == 0


def test_an_allowed_origin_gets_its_preflight_answered_and_cors_headers_on_answers(
    tmp_path: Path, up: Upstream
) -> None:
    page = "http://localhost:3000"
    with serving(tmp_path, up, "--allow-origin", page) as gw:
        preflight = request(
            gw,
            "OPTIONS",
            headers={
                "Origin": page,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, authorization, x-stainless-os",
            },
        )
        answer = request(gw, body=CHAT, headers={"Origin": page})
        other = request(gw, body=CHAT, headers={"Origin": "http://localhost:4000"})
    assert preflight.status == 204
    assert preflight.headers["access-control-allow-origin"] == page
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "content-type, authorization, x-stainless-os"
    assert answer.status == 200 and answer.headers["access-control-allow-origin"] == page
    assert "x-orcli-provider" in answer.headers["access-control-expose-headers"]
    assert other.status == 403
    assert up.count() == 1


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_post_that_is_not_declared_json_is_refused_with_415(
    tmp_path: Path, up: Upstream, content_type: str | None
) -> None:
    with serving(tmp_path, up) as gw:
        reply = request(gw, body=CHAT, headers={"Content-Type": content_type})  # type: ignore[dict-item]
        charset = request(gw, body=CHAT, headers={"Content-Type": "application/json; charset=utf-8"})
    assert reply.status == 415 and reply.json()["error"]["code"] == 415
    assert charset.status == 200
    assert up.count() == 1


def test_an_invalid_serve_origin_flag_is_a_usage_error(tmp_path: Path, up: Upstream) -> None:
    import subprocess
    import sys

    from upstream import write_profile

    profile = write_profile(tmp_path / "p.toml", up, ["alpha"])
    done = subprocess.run(
        [sys.executable, "-m", "orcli", "serve", "--port", "0", "--profile", str(profile), "--allow-origin", "evil"],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2 and "--allow-origin" in done.stderr and "Traceback" not in done.stderr


# -- bounded reads -------------------------------------------------------------------------------------------
def _until_closed(sock: socket.socket, feed: bytes = b"", every: float = 0.0) -> tuple[Reply, float]:
    """Drip `feed` a byte at a time every `every` seconds (nothing when empty) until the server answers."""
    started = time.monotonic()
    sock.setblocking(False)
    data = b""
    i = 0
    while True:
        if feed and i < len(feed):
            try:
                sock.send(feed[i : i + 1])
                i += 1
            except OSError:
                pass
        try:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        except BlockingIOError:
            pass
        if time.monotonic() - started > 20:
            break
        time.sleep(every or 0.05)
    elapsed = time.monotonic() - started
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head else 0
    return Reply(status, {}, body), elapsed


@pytest.mark.parametrize(
    "sent",
    [
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Ty",  # headers half sent
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b'Content-Length: 500\r\n\r\n{"model": ',  # a body shorter than its Content-Length
        b"GET /v1/mod",  # a request line half sent
    ],
    ids=["half-headers", "short-body", "half-request-line"],
)
def test_a_request_that_does_not_arrive_within_the_read_timeout_gets_408_and_is_closed(
    tmp_path: Path, up: Upstream, sent: bytes
) -> None:
    with serving(tmp_path, up, "--read-timeout", "1") as gw, connect(gw) as sock:
        sock.sendall(sent)
        reply, elapsed = _until_closed(sock)
        still = request(gw, "GET", "/health")
    assert reply.status == 408, reply
    assert 0.8 < elapsed < 5
    assert still.status == 200
    assert up.count() == 0


def test_a_slowloris_sender_dripping_bytes_is_cut_at_the_read_timeout(tmp_path: Path, up: Upstream) -> None:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"a" * 200
    with serving(tmp_path, up, "--read-timeout", "1") as gw, connect(gw) as sock:
        reply, elapsed = _until_closed(sock, feed=head, every=0.1)  # a byte every 0.1 s: 20 s for it all
    assert reply.status == 408 and elapsed < 5


def test_an_idle_keep_alive_connection_is_closed_without_an_answer(tmp_path: Path, up: Upstream) -> None:
    with serving(tmp_path, up, "--read-timeout", "1") as gw, connect(gw) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        first = b""
        while b'"ok"' not in first:
            first += sock.recv(65536)
        reply, elapsed = _until_closed(sock)
    assert first.startswith(b"HTTP/1.1 200")
    assert reply.status == 0 and reply.body == b"" and elapsed < 5


def test_a_stream_outlasting_the_read_timeout_is_not_cut(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", ok(chunks=[f"w{i} " for i in range(8)], chunk_delay=0.25))  # 2 s of answer
    with serving(tmp_path, up, "--read-timeout", "0.5") as gw:
        stream = gw.client().chat.completions.create(model=MODEL_A, messages=CHAT["messages"], stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "".join(f"w{i} " for i in range(8))


# -- bad bodies ----------------------------------------------------------------------------------------------
def _chat(**fields: Any) -> bytes:
    return json.dumps({**CHAT, **fields}).encode()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"model": "test/model-a", "messages": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", "nests deeper"),
        (b'{"model": "test/model-a", "temperature": ' + b"[" * 100 + b"]" * 100 + b', "messages": []}', "nests"),
        (_chat()[:-1] + b', "temperature": NaN}', "NaN"),
        (_chat()[:-1] + b', "temperature": Infinity}', "Infinity"),
        (_chat()[:-1] + b', "top_p": -Infinity}', "Infinity"),
        (_chat()[:-1] + b', "temperature": 1e999}', "range"),
        (_chat(temperature="hot"), "`temperature` must be a number"),
        (_chat(max_tokens=True), "`max_tokens` must be a whole number"),
        (_chat(stop=3), "`stop` must be a string or a list of strings"),
        (_chat(tools={"type": "function"}), "`tools` must be a list of objects"),
        (_chat(stream="yes"), "`stream` must be true or false"),
        (_chat(messages=[{"role": "user", "content": 5}]), "content` must be a string or a list"),
        (_chat(messages=[{"role": "tool", "content": "42"}]), "tool_call_id"),
        (_chat(n=3), "`n` > 1"),
        (_chat(n=0), "`n` must be a whole number"),
    ],
    ids=[
        "nesting-400KB",
        "nesting-in-an-option",
        "NaN",
        "Infinity",
        "-Infinity",
        "1e999",
        "temperature-type",
        "max_tokens-bool",
        "stop-type",
        "tools-type",
        "stream-type",
        "content-type",
        "tool-without-id",
        "n-3",
        "n-0",
    ],
)
def test_every_bad_body_is_a_400_envelope_and_reaches_no_provider(
    tmp_path: Path, up: Upstream, body: bytes, needle: str
) -> None:
    with serving(tmp_path, up) as gw:
        reply = request(gw, body=body)
        alive = request(gw, "GET", "/health")
    assert reply.status == 400, reply
    assert reply.json()["error"]["code"] == 400 and needle in reply.json()["error"]["message"]
    assert alive.status == 200
    assert up.count() == 0


def test_n_of_one_is_served(tmp_path: Path, up: Upstream) -> None:
    with serving(tmp_path, up) as gw:
        answer = gw.client().chat.completions.create(model=MODEL_A, messages=CHAT["messages"], n=1)
    assert len(answer.choices) == 1
    assert "n" not in up.requests("alpha")[0].body


# -- OpenAI fidelity -----------------------------------------------------------------------------------------
def test_models_retrieve_finds_an_id_with_a_slash_and_an_unknown_one_is_model_not_found(
    tmp_path: Path, up: Upstream
) -> None:
    with serving(tmp_path, up) as gw:
        client = gw.client()
        model = client.models.retrieve(MODEL_A)
        encoded = request(gw, "GET", "/v1/models/test%2Fmodel-a")
        with pytest.raises(openai.NotFoundError) as caught:
            client.models.retrieve("nope/none")
    assert model.id == MODEL_A and model.object == "model"
    assert encoded.status == 200 and encoded.json()["id"] == MODEL_A
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "model_not_found"


def test_a_502_after_failover_is_not_retried_by_the_sdk_so_the_plan_runs_once(tmp_path: Path, up: Upstream) -> None:
    up.script("alpha", server_error(500))
    up.script("beta", server_error(503))
    with serving(tmp_path, up) as gw:
        client = gw.client(max_retries=2)  # the SDK's default: it would run the plan three times
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model=MODEL_A, messages=CHAT["messages"], extra_body={"models": [MODEL_A]})
    assert caught.value.status_code == 502
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert up.call_order() == ["alpha", "beta"]
