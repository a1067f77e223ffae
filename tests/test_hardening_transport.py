"""Hardening, transport: TLS verified, no clear text to other machines, no redirect carries the key away.

- A self-signed certificate on an https:// loopback provider fails as a provider-class `tls` failure (the
  next provider serves), and nothing in the environment or the profile turns verification off.
- Plain http:// to a non-loopback host is refused before any network, for `health --probe` too, and a host
  name that only starts like a loopback address is not one. (`ask` with a plain remote host and with
  allow_insecure = true: tests/test_ask_e2e.py::test_plain_http_to_a_remote_host_is_refused_before_any_network.)
- A 3xx pointing at another server is a provider failure; the other server hears nothing.
"""

from __future__ import annotations

import ast
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cli_harness import Cli, run_all
from upstream import Upstream, ok, own_non_loopback_address, status

import orcli

# Self-signed, CN/SAN 127.0.0.1 and localhost, valid 2000-2125; made once with `openssl ca -selfsign`. A test
# fixture, not a secret: it exists so that a TLS server can be started without the `cryptography` package.
CERT = """\
-----BEGIN CERTIFICATE-----
MIIBpjCCAUygAwIBAgIBATAKBggqhkjOPQQDAjAhMR8wHQYDVQQDDBZvcmNsaS10
ZXN0LXNlbGYtc2lnbmVkMCAXDTAwMDEwMTAwMDAwMFoYDzIxMjUwMTAxMDAwMDAw
WjAhMR8wHQYDVQQDDBZvcmNsaS10ZXN0LXNlbGYtc2lnbmVkMFkwEwYHKoZIzj0C
AQYIKoZIzj0DAQcDQgAE9meWQUCXIwW78m5OhJ0WmhnKJnC4ic94HwngzCQZsFS8
W1sI0DAPn3uB+YZiTt3tmDsKs5U3wfIyoWhcvw2wx6NzMHEwGgYDVR0RBBMwEYcE
fwAAAYIJbG9jYWxob3N0MA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgKE
MBMGA1UdJQQMMAoGCCsGAQUFBwMBMB0GA1UdDgQWBBS//NN2sW0IJ7S3YK4yhvix
MFKrqDAKBggqhkjOPQQDAgNIADBFAiBqXrimyodB3kFjwWVjoDJuLNheNPpQOQCE
FvtGENC/CQIhANP6Tfl0IkwbTs/IBgRsX3hwzAvrrUQuHkhbUT6gngsG
-----END CERTIFICATE-----
"""
CERT_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQge+6c5K2JHYcqT2f/
Cm/KOjMeoTR+LiBqDPG20dsvLwihRANCAAT2Z5ZBQJcjBbvybk6EnRaaGcomcLiJ
z3gfCeDMJBmwVLxbWwjQMA+fe4H5hmJO3e2YOwqzlTfB8jKhaFy/DbDH
-----END PRIVATE KEY-----
"""
COMPLETION = b'{"choices": [{"message": {"role": "assistant", "content": "from tls"}, "finish_reason": "stop"}]}'


class _TLSHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(COMPLETION)))
        self.end_headers()
        self.wfile.write(COMPLETION)


@dataclass
class TLSServer:
    url: str  # an OpenAI base_url
    cert: Path
    requests: list[str]  # paths of the requests that got past the TLS handshake


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TLSServer]:
    """An OpenAI-ish https server on 127.0.0.1 with the self-signed certificate."""
    cert = tmp_path / "cert.pem"
    cert.write_text(CERT)
    with tempfile.TemporaryDirectory() as keydir:
        key = Path(keydir) / "key.pem"
        key.write_text(CERT_KEY)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TLSHandler)
    server.daemon_threads = True
    server.requests = []  # type: ignore[attr-defined]
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield TLSServer(f"https://127.0.0.1:{server.server_address[1]}/tls/v1", cert, server.requests)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_self_signed_certificate_is_a_tls_provider_failure(
    upstream: Upstream, tmp_path: Path, tls_server: TLSServer
) -> None:
    url = tls_server.url
    # The server itself is fine: a client that trusts this certificate gets its answer.
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls_server.cert))) as client:
        assert client.post(f"{url}/chat/completions", json={}).json()["choices"][0]["message"]["content"] == "from tls"
    assert len(tls_server.requests) == 1
    cli = Cli(upstream, tmp_path)
    cli.profile(["tls", "b"], provider_extra={"tls": {"base_url": url}})
    # Switches that other tools read to turn verification off, or to trust another bundle: orcli must not care.
    loosen = {"PYTHONHTTPSVERIFY": "0", "CURL_CA_BUNDLE": "", "REQUESTS_CA_BUNDLE": "", "HTTPX_SSL_VERIFY": "0"}
    runs = run_all(  # each run has a store of its own: one's failure does not move tls back for another
        {
            "ask": partial(cli, "ask", "--json", "hi", env=loosen),
            "no_stream": partial(cli, "ask", "--json", "--no-stream", "hi"),
            "probe": partial(cli, "health", "--probe", "--json", "--provider", "tls", env=loosen),
        }
    )
    for name in ("ask", "no_stream"):
        doc = runs[name].json()
        assert runs[name].code == 0 and doc["provider"] == "b", runs[name]
        first = doc["attempts"][0]
        assert (first["provider"], first["error_class"], first["kind"]) == ("tls", "provider", "tls"), first
        assert "certificate" in first["error"].lower(), first
    probe = runs["probe"]
    assert probe.code == 1, probe
    assert [(p["provider"], p["ok"]) for p in probe.json()["probes"]] == [("tls", False)]
    assert len(tls_server.requests) == 1  # orcli's requests never got past the handshake


def test_nothing_in_orcli_turns_tls_verification_off() -> None:
    """Statically: no `verify=` but in transport.py, no CERT_NONE, check_hostname assignment or unverified
    context anywhere in the package; every HTTP client orcli builds is built by orcli.execution.transport.make_client."""
    package = Path(orcli.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        source = path.read_text()
        tree = ast.parse(source)
        for node in ast.walk(tree):
            verify_off = isinstance(node, ast.keyword) and node.arg == "verify" and path.name != "transport.py"
            if verify_off and not (isinstance(node.value, ast.Constant) and node.value.value is True):
                offenders.append(f"{path.name}:{node.value.lineno}: verify={ast.unparse(node.value)}")
            if isinstance(node, ast.Attribute) and node.attr in ("CERT_NONE", "_create_unverified_context"):
                offenders.append(f"{path.name}:{node.lineno}: {node.attr}")
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "check_hostname" for t in node.targets
            ):
                offenders.append(f"{path.name}:{node.lineno}: check_hostname assigned")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "Client"
                and path.name != "transport.py"
            ):
                offenders.append(f"{path.name}:{node.lineno}: an httpx.Client not made by transport.make_client")
    assert not offenders, offenders  # what transport.py itself builds: tests/test_transport.py


def test_plain_http_to_another_machine_is_refused_for_probes_and_lookalike_hosts(
    upstream: Upstream, tmp_path: Path
) -> None:
    """The proxy variables point at the test upstream: any request orcli sent to these hosts would land there."""
    proxy = {name: upstream.url for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")}
    remote = Cli(upstream, tmp_path / "remote")
    remote.profile(["a"], provider_extra={"a": {"base_url": "http://example.invalid/v1"}})
    lookalike = Cli(upstream, tmp_path / "lookalike")
    lookalike.profile(["a"], provider_extra={"a": {"base_url": "http://127.0.0.1.example.invalid/v1"}})
    lookalike6 = Cli(upstream, tmp_path / "lookalike6")
    lookalike6.profile(["a"], provider_extra={"a": {"base_url": "http://localhost.example.invalid:80/v1"}})
    runs = run_all(
        {
            "probe": partial(remote, "health", "--probe", env=proxy),
            "probe_json": partial(remote, "health", "--probe", "--json", env=proxy),
            "lookalike_ask": partial(lookalike, "ask", "hi", env=proxy),
            "lookalike_probe": partial(lookalike, "health", "--probe", env=proxy),
            "lookalike6_ask": partial(lookalike6, "ask", "hi", env=proxy),
        }
    )
    for name, run in runs.items():
        assert run.code == 2, (name, run)
        assert "allow_insecure" in run.err and "clear text" in run.err, (name, run)
    assert runs["probe_json"].json()["error"]["kind"] == "usage"
    assert upstream.count() == 0


@pytest.mark.parametrize("stream", [True, False])
def test_a_redirect_to_another_server_is_a_provider_failure_and_sends_it_nothing(
    upstream: Upstream, tmp_path: Path, stream: bool
) -> None:
    codes = (301, 302, 303, 307, 308)
    with Upstream() as elsewhere:
        cli = Cli(upstream, tmp_path)
        cli.profile([*(f"r{c}" for c in codes), "last"])
        for code in codes:
            target = f"{elsewhere.base_url(f'r{code}')}/chat/completions"
            upstream.script(f"r{code}", status(code, {"error": {"message": "moved"}}, {"Location": target}))
        upstream.script("last", ok("served"))
        own_store = {"ORCLI_STATE_DIR": str(tmp_path / "probe-state")}
        runs = run_all(
            {
                "ask": partial(cli, "ask", "--json", *([] if stream else ["--no-stream"]), "hi"),
                # Its own store: a probe failure recorded first would demote r307 behind `last` in the ask's plan.
                "probe": partial(cli, "health", "--probe", "--json", "--provider", "r307", env=own_store),
            }
        )
        assert elsewhere.count() == 0, elsewhere.call_order()
    doc = runs["ask"].json()
    assert runs["ask"].code == 0 and doc["content"] == "served", runs["ask"]
    assert [(a["provider"], a["error_class"], a["status"]) for a in doc["attempts"]] == [
        *((f"r{c}", "provider", c) for c in codes),
        ("last", None, 200),
    ]
    assert runs["probe"].code == 1, runs["probe"]


@pytest.fixture
def remote_upstream() -> Iterator[Upstream]:
    """The fake upstream on this machine's own non-loopback address: a "remote host" that is still this machine."""
    address = own_non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to stand for a remote host")
    with Upstream(host=address) as server:
        yield server


@pytest.mark.parametrize("scheme", ["HTTP", "Http", "hTtP"])
def test_plain_http_in_any_letter_case_to_a_remote_host_is_refused_by_every_command(
    remote_upstream: Upstream, tmp_path: Path, scheme: str
) -> None:
    """docs/security.md: `HTTP://` is `http://`. ask and health --probe refuse before any network; explain-route warns.
    The control run (allow_insecure = true) proves the server is reachable: a count of 0 means nothing was sent."""
    url = remote_upstream.base_url("a").replace("http://", f"{scheme}://", 1)
    refused = Cli(remote_upstream, tmp_path / "refused")
    refused.profile(["a"], provider_extra={"a": {"base_url": url}})
    allowed = Cli(remote_upstream, tmp_path / "allowed")
    allowed.profile(["a"], provider_extra={"a": {"base_url": url, "allow_insecure": True}})
    runs = run_all(
        {
            "ask": partial(refused, "ask", "hi"),
            "ask_json": partial(refused, "ask", "--json", "hi"),
            "probe": partial(refused, "health", "--probe"),
            "explain": partial(refused, "explain-route"),
            "explain_json": partial(refused, "explain-route", "--json"),
        }
    )
    for name in ("ask", "ask_json", "probe"):
        run = runs[name]
        assert run.code == 2 and "clear text" in run.err and "allow_insecure" in run.err, (name, run)
    assert runs["ask_json"].json()["error"]["kind"] == "usage"
    for name in ("explain", "explain_json"):
        run = runs[name]
        assert run.code == 0 and "warning: ask would refuse this route" in run.err and "clear text" in run.err, run
    assert remote_upstream.count() == 0, remote_upstream.call_order()

    control = allowed("ask", "hi")
    assert control.code == 0 and control.out == "Hello from a", control
    assert remote_upstream.count() == 1


def test_plain_http_to_loopback_in_capitals_is_still_loopback(upstream: Upstream, tmp_path: Path) -> None:
    """Hosts compare case-insensitively too: `HTTP://LOCALHOST` is this machine, and allowed like `localhost`."""
    cli = Cli(upstream, tmp_path)
    url = upstream.base_url("a").replace("http://127.0.0.1", "HTTP://LOCALHOST", 1)
    cli.profile(["a"], provider_extra={"a": {"base_url": url}})
    runs = run_all({"ask": partial(cli, "ask", "hi"), "explain": partial(cli, "explain-route")})
    assert runs["ask"].code == 0 and runs["ask"].out == "Hello from a", runs["ask"]
    assert runs["explain"].code == 0 and "clear text" not in runs["explain"].err, runs["explain"]
