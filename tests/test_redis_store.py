"""The Redis health backend against a real redis-server (docs/health.md#sharing-health-across-machines): sharing, expiry, reset, concurrency,
round trips, and falling back to the local store when Redis misbehaves."""

from __future__ import annotations

import queue
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer

from orcli.store.backend import open_store
from orcli.store.redis import RedisStore, connect, outcome_key
from orcli.store_url import parse
from orcli.types import FailureClass, HealthSettings, Outcome

pytest.importorskip("redis", reason="the `redis` client is in the `test` extra: pip install -e '.[test]'")


def machine(server: RedisServer, tmp_path: Path, name: str, **settings: Any) -> Any:
    """A store as one machine opens it: its own state folder, the shared URL from the environment."""
    url = settings.pop("url", server.url)
    env = {"ORCLI_HEALTH_URL": url, "ORCLI_STATE_DIR": str(tmp_path / name)}
    store, warnings = open_store(HealthSettings(**settings), env)
    assert store is not None and warnings == []
    return store


def failure(at: float, provider: str = "a", model: str = "m") -> Outcome:
    return Outcome(at, model, provider, False, FailureClass.PROVIDER, 502, 0.05, None, None, "HTTP 502", None)


def test_an_outcome_recorded_on_one_machine_is_read_on_another(redis_server: RedisServer, tmp_path: Path) -> None:
    now = time.time()
    a, b = machine(redis_server, tmp_path, "a"), machine(redis_server, tmp_path, "b")
    outcome = Outcome(now, "m", "p", True, None, 200, 0.3, 0.1, 55.5, None, None)
    assert a.record(outcome) and a.record(failure(now + 0.001, "p"))
    assert b.outcomes(now - 10, {("m", "p")}) == [outcome, failure(now + 0.001, "p")]
    assert b.outcomes(now + 0.0005, {("m", "p")}) == [failure(now + 0.001, "p")]  # `since` bounds the read
    assert b.describe() == {"kind": "redis", "url": redis_server.url, "namespace": "default"}
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists(), "a healthy shared store is not local"


def test_two_namespaces_on_one_redis_do_not_see_each_other(redis_server: RedisServer, tmp_path: Path) -> None:
    now = time.time()
    team_a = machine(redis_server, tmp_path, "a", url=redis_server.url + "?namespace=team-a")
    team_b = machine(redis_server, tmp_path, "b", url=redis_server.url + "?namespace=team-b")
    team_a.record(failure(now))
    assert team_b.outcomes(now - 10, {("m", "a")}) == []
    assert len(team_a.outcomes(now - 10, {("m", "a")})) == 1
    assert team_b.reset() == 0 and len(team_a.outcomes(now - 10, {("m", "a")})) == 1
    assert all(k.startswith(b"orcli:team-a:") for k in redis_server.client().keys("*"))


def test_outcomes_older_than_the_horizon_are_trimmed_and_the_key_expires_server_side(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    target = parse(redis_server.url)
    store = RedisStore(
        connect(target, 1.0), target, retention=1.0, timeout=1.0, fallback=lambda: (None, []), clock=time.time
    )
    now = time.time()
    store.record(failure(now - 5))  # already older than the 1 s horizon: the write itself trims it
    store.record(failure(now))
    key = outcome_key("default", "m", "a")
    client = redis_server.client()
    assert client.zcard(key) == 1
    assert 0 < client.ttl(key) <= 2
    time.sleep(2.3)
    assert client.exists(key) == 0, "the endpoint's set must expire one horizon after its last write"


def test_the_default_horizon_keeps_twenty_minutes_and_the_ttl_matches(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    store = machine(redis_server, tmp_path, "a")
    now = time.time()
    store.record(failure(now - 1300))  # beyond history_horizon (1200 s with defaults)
    store.record(failure(now - 1100))
    store.record(failure(now))
    client = redis_server.client()
    key = outcome_key("default", "m", "a")
    assert client.zcard(key) == 2
    assert 1100 < client.ttl(key) <= 1201


def test_reset_forgets_a_provider_with_its_variants_or_everything(redis_server: RedisServer, tmp_path: Path) -> None:
    store = machine(redis_server, tmp_path, "a")
    now = time.time()
    for provider in ("deepinfra", "deepinfra/turbo", "deepinfrax", "groq"):
        store.record(failure(now, provider))
        store.record(failure(now + 0.01, provider))
    assert store.reset("deepinfra") == 4
    left = {o.provider for o in store.outcomes(now - 10, None)}
    assert left == {"deepinfrax", "groq"}
    assert store.reset() == 4 and store.outcomes(now - 10, None) == []


def test_eight_processes_writing_at_once_lose_no_outcome(redis_server: RedisServer, tmp_path: Path) -> None:
    writes = 150
    script = textwrap.dedent(
        f"""
        import sys, time
        from orcli.store.backend import open_store
        from orcli.types import HealthSettings, Outcome
        n = int(sys.argv[1])
        env = {{"ORCLI_HEALTH_URL": {redis_server.url!r}, "ORCLI_STATE_DIR": sys.argv[2]}}
        store, warnings = open_store(HealthSettings(store_timeout=5.0), env)
        assert not warnings, warnings
        ok = sum(store.record(Outcome(time.time(), "m", f"p{{i % 3}}", i % 2 == 0)) for i in range({writes}))
        assert ok == {writes} and not store.take_warnings(), ok
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(n), str(tmp_path / f"s{n}")], stderr=subprocess.PIPE)
        for n in range(8)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    reader = machine(redis_server, tmp_path, "reader")
    got = reader.outcomes(0, {("m", f"p{i}") for i in range(3)})
    assert len(got) == 8 * writes
    assert not any((tmp_path / f"s{n}").exists() for n in range(8)), "no process fell back to its local store"


class SlowLink:
    """A loopback TCP proxy that delivers every reply DELAY seconds late, as a far-away Redis would: the time a
    call takes, in whole DELAYs, is the number of round trips it made (a pipeline's replies arrive together)."""

    DELAY = 0.25

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, upstream, 0.0), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, self.DELAY), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, delay: float) -> None:
        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def deliver() -> None:
            while True:
                due, data = chunks.get()
                time.sleep(max(0.0, due - time.monotonic()))
                if not data:
                    return
                dst.sendall(data)

        threading.Thread(target=deliver, daemon=True).start()
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            chunks.put((time.monotonic() + delay, data))
            if not data:
                return

    def round_trips(self, call: Callable[[], object]) -> float:
        started = time.monotonic()
        call()
        return (time.monotonic() - started) / self.DELAY

    def close(self) -> None:
        self.listener.close()


def test_reading_a_hundred_endpoints_history_is_one_round_trip(redis_server: RedisServer, tmp_path: Path) -> None:
    endpoints = {(f"model-{i}", f"provider-{i % 7}") for i in range(100)}
    writer = machine(redis_server, tmp_path, "w")
    now = time.time()
    for model, provider in endpoints:
        writer.record(failure(now, provider, model))
    link = SlowLink(redis_server.port)
    try:
        url = f"redis://127.0.0.1:{link.port}/0"
        reader = machine(redis_server, tmp_path, "r", url=url, store_timeout=5.0)
        read: list[Outcome] = []
        first = link.round_trips(lambda: read.extend(reader.outcomes(now - 10, endpoints)))
        assert len(read) == 100 and 1 <= first < 2, f"connecting and the first read: {first:.2f} round trips"
        again = link.round_trips(lambda: read.extend(reader.outcomes(now - 10, endpoints)))
        assert len(read) == 200 and 1 <= again < 2, f"a plan's read took {again:.2f} round trips"
        write = link.round_trips(lambda: reader.record(failure(time.time(), "provider-1", "model-1")))
        assert 1 <= write < 2, f"recording an attempt took {write:.2f} round trips"
        assert reader.take_warnings() == []
    finally:
        link.close()


def test_a_key_of_another_type_under_the_prefix_makes_the_store_fall_back_with_one_warning(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    redis_server.client().set(outcome_key("default", "m", "a"), "not a sorted set")
    store = machine(redis_server, tmp_path, "a")
    now = time.time()
    assert store.outcomes(now - 10, {("m", "a")}) == []
    assert store.record(failure(now)) is True  # recorded locally
    warnings = store.take_warnings()
    assert len(warnings) == 1 and "did not write" in warnings[0] and "local health store" in warnings[0]
    assert store.describe()["kind"] == "sqlite" and store.describe()["fallback_from"]["kind"] == "redis"
    assert len(store.outcomes(now - 10, {("m", "a")})) == 1  # the fallback's own outcome, read locally
    assert store.take_warnings() == []


def test_a_member_orcli_cannot_read_makes_the_store_fall_back(redis_server: RedisServer, tmp_path: Path) -> None:
    redis_server.client().zadd(outcome_key("default", "m", "a"), {b"\xff\x00 garbage": time.time()})
    store = machine(redis_server, tmp_path, "a")
    assert store.outcomes(time.time() - 10, {("m", "a")}) == []
    assert len(store.take_warnings()) == 1 and store.describe()["kind"] == "sqlite"


def test_a_paused_redis_costs_at_most_the_budget_before_the_local_store_takes_over(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    store = machine(redis_server, tmp_path, "a", store_timeout=0.2)
    store.outcomes(time.time() - 10, {("m", "a")})  # connected
    redis_server.client().execute_command("CLIENT", "PAUSE", "3000", "ALL")
    started = time.monotonic()
    assert store.outcomes(time.time() - 10, {("m", "a")}) == []
    assert store.record(failure(time.time())) is True
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"fallback took {elapsed:.2f}s"
    warnings = store.take_warnings()
    assert len(warnings) == 1 and "did not answer within 200 ms" in warnings[0], warnings


def test_a_hung_dns_lookup_costs_at_most_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from orcli.store.resp import Unresolved, resolve_within

    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: time.sleep(3) or real("127.0.0.1", 1))
    started = time.monotonic()
    with pytest.raises(Unresolved, match="did not resolve within 200 ms"):
        resolve_within("cache.internal", 6379, 0.2)
    assert time.monotonic() - started < 1.0
    resolve_within("127.0.0.1", 6379, 0.2)  # an address is not looked up


def test_a_host_that_does_not_resolve_falls_back_with_one_warning(tmp_path: Path) -> None:
    env = {"ORCLI_HEALTH_URL": "redis://no-such-host.invalid:6379/0", "ORCLI_STATE_DIR": str(tmp_path / "s")}
    store, warnings = open_store(HealthSettings(), env)
    assert store is not None and warnings == []
    started = time.monotonic()
    assert store.outcomes(time.time() - 10, {("m", "a")}) == []
    assert store.record(failure(time.time())) is True
    assert time.monotonic() - started < 2.0
    (warning,) = store.take_warnings()
    assert "no-such-host.invalid" in warning and ("could not be resolved" in warning or "within 200 ms" in warning)
    assert store.describe()["kind"] == "sqlite"


def test_a_long_lived_process_goes_back_to_redis_once_it_answers_again(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    target = parse(redis_server.url)
    local_dir = tmp_path / "local"
    store = RedisStore(
        connect(target, 0.2),
        target,
        retention=1200.0,
        timeout=0.2,
        fallback=lambda: open_store(HealthSettings(), {"ORCLI_STATE_DIR": str(local_dir)}),
        retry_after=0.5,
    )
    assert store.record(failure(time.time())) and store.describe()["kind"] == "redis"
    redis_server.stop()
    assert store.record(failure(time.time(), "b"))  # kept locally
    assert store.record(failure(time.time(), "c"))  # no retry yet: straight to the local store
    assert len(store.take_warnings()) == 1 and store.describe()["kind"] == "sqlite"
    time.sleep(0.6)
    assert store.record(failure(time.time(), "d"))  # a retry that fails again: local, no second warning
    assert store.take_warnings() == []
    redis_server.start()  # same port, empty (persistence is off)
    time.sleep(0.6)
    assert store.record(failure(time.time(), "e"))
    (warning,) = store.take_warnings()
    assert "answers again" in warning and store.describe()["kind"] == "redis"
    assert redis_server.client().zcard(outcome_key("default", "m", "e")) == 1
    assert {o.provider for o in store.outcomes(0, {("m", p) for p in "abcde"})} == {"e"}
    store.close()


def test_rediss_with_a_password_and_a_database_speaks_tls_to_a_real_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_hardening_transport import CERT, CERT_KEY

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(CERT)
    key.write_text(CERT_KEY)
    with RedisServer(tmp_path / "redis", password="tls-Zq-secret", tls=(cert, key)) as server:
        url = server.url.replace("/0", "/3")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the test's own authority, as a fleet would set its CA
        store = machine(server, tmp_path, "a", url=url)
        now = time.time()
        assert store.record(failure(now)) and store.outcomes(now - 10, {("m", "a")}) == [failure(now)]
        assert store.take_warnings() == [] and store.describe()["url"] == f"rediss://127.0.0.1:{server.port}/3"
        assert server.client(db=3).zcard(outcome_key("default", "m", "a")) == 1, "SELECT 3 was sent"
        store.close()
        monkeypatch.delenv("SSL_CERT_FILE")
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-ca.pem"))
        env = {"ORCLI_HEALTH_URL": url, "ORCLI_STATE_DIR": str(tmp_path / "b")}
        untrusted, _ = open_store(HealthSettings(), env)
        assert untrusted is not None and untrusted.outcomes(now - 10, {("m", "a")}) == []
        (warning,) = untrusted.take_warnings()
        assert "certificate" in warning.lower() and "tls-Zq-secret" not in warning, warning


def test_a_pooled_connection_the_server_closed_is_replaced_without_a_warning(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """A long-lived `orcli serve` keeps connections; Redis may close idle ones (a restart, `timeout`)."""
    store = machine(redis_server, tmp_path, "a")
    now = time.time()
    assert store.record(failure(now))  # a connection now waits in the pool
    killed = redis_server.client().execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    assert killed >= 1
    assert store.outcomes(now - 10, {("m", "a")}) == [failure(now)]
    assert store.take_warnings() == [] and store.describe()["kind"] == "redis"
