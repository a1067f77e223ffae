"""Shared health end to end (docs/health.md#sharing-health-across-machines): real `orcli` processes on separate "machines" (state folders) against
one real redis-server, and every way Redis can misbehave without an `ask` failing."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_harness import MODEL, Cli, Run, canary, store_rows
from redis_server import RedisServer
from upstream import Upstream, ok, server_error, slow_first_token

from orcli.store.redis import outcome_key

pytest.importorskip("redis", reason="the `redis` client is in the `test` extra: pip install -e '.[test]'")


def machine(upstream: Upstream, tmp_path: Path, name: str, url: str | None) -> Cli:
    """One machine: its own state folder, HOME and keys; the shared store's URL in its environment."""
    cli = Cli(upstream, tmp_path / name)
    cli.profile(["a", "b"])
    if url is not None:
        cli.env["ORCLI_HEALTH_URL"] = url
    return cli


def attempt_order(run: Run) -> list[str]:
    return [a["provider"] for a in run.json()["attempts"]]


def shared_warnings(run: Run) -> list[str]:
    return [line for line in run.err.splitlines() if "shared health store" in line]


def test_one_machines_failures_put_the_endpoint_at_the_back_for_another_machine(
    upstream: Upstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    first = machine(upstream, tmp_path, "first", redis_server.url)
    second = machine(upstream, tmp_path, "second", redis_server.url)
    alone = machine(upstream, tmp_path, "alone", None)
    upstream.script("a", server_error(502))
    for _ in range(3):  # --order keeps a first: three counted failures open its breaker
        run = first("ask", "--no-stdin", "-m", MODEL, "--order", "a", "hi")
        assert run.code == 0 and run.err == "", run
    assert upstream.count("a") == 3

    explained = second("explain-route", "--no-stdin", "-m", MODEL, "--json", "hi")
    assert explained.code == 0 and explained.err == "", explained
    assert attempt_order(explained) == ["b", "a"]
    a = next(x for x in explained.json()["attempts"] if x["provider"] == "a")
    assert a["health"]["state"] == "cooldown"
    answered = second("ask", "--no-stdin", "-m", MODEL, "hi")
    assert answered.code == 0 and "Hello from b" in answered.out, answered
    assert upstream.count("a") == 3, "the second machine must not spend an attempt on the endpoint that is down"

    # Control: a machine that does not share health still tries a first.
    assert attempt_order(alone("explain-route", "--no-stdin", "-m", MODEL, "--json", "hi")) == ["a", "b"]
    for cli in (first, second):
        assert store_rows(cli.state_dir) == [], "with Redis reachable nothing is kept locally"
    assert redis_server.client().zcard(outcome_key("default", MODEL, "a")) == 3


def test_health_shows_the_other_machines_outcomes_and_which_store_it_read(upstream: Upstream, tmp_path: Path) -> None:
    password = canary("plain")
    with RedisServer(tmp_path / "redis", password=password) as server:
        first = machine(upstream, tmp_path, "first", server.url)
        second = machine(upstream, tmp_path, "second", server.url)
        for cli in (first, second):
            cli.secrets.add(password)  # the harness fails the run if any slice of it is printed
        upstream.script("a", server_error(503))
        assert first("ask", "--no-stdin", "-m", MODEL, "tell me about zebras").code == 0
        run = second("health", "--json")
        assert run.code == 0, run
        doc = run.json()
        assert doc["store"] == {"kind": "redis", "url": f"redis://127.0.0.1:{server.port}/0", "namespace": "default"}
        a = next(e for e in doc["endpoints"] if e["provider"] == "a")
        assert (a["requests"], a["failures"]) == (1, 1) and "503" in a["last_error"]
        text = second("health")
        assert text.code == 0 and f"store: redis://127.0.0.1:{server.port}/0" in text.err, text
        assert first.scan() == {} and second.scan() == {}
        client = server.client()
        dump = b"".join(k + _value_of(client, k) for k in client.keys("*"))  # outcomes, usage counters, spend
        assert b"503" in dump  # what is stored is readable here, so the checks below can fail
        assert password.encode() not in dump and first.key("a").encode() not in dump  # outcomes only:
        assert b"zebras" not in dump and b"Hello from" not in dump  # no prompt, no answer


def _value_of(client: Any, key: bytes) -> bytes:
    """Whatever a key holds, as bytes: a sorted set's members, a hash's fields and values, a string."""
    kind = client.type(key)
    if kind == b"zset":
        return b"".join(client.zrange(key, 0, -1))
    if kind == b"hash":
        return b"".join(k + v for k, v in client.hgetall(key).items())
    return client.get(key) or b""


# --- never in the way ---------------------------------------------------------------------------------------


def _stop(server: RedisServer) -> None:
    server.stop()


def _pause(server: RedisServer) -> None:
    server.client().execute_command("CLIENT", "PAUSE", "4000", "ALL")


def _debug_sleep(server: RedisServer) -> None:
    def sleep() -> None:
        with contextlib.suppress(Exception):  # the test may stop the server before the sleep ends
            server.client(retry_on_error=[]).execute_command("DEBUG", "SLEEP", "3")

    threading.Thread(target=sleep, daemon=True).start()
    time.sleep(0.2)  # the server is now busy sleeping


def _out_of_memory(server: RedisServer) -> None:
    client = server.client()
    client.set("someone-else's-data", "x" * 2_000_000)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1mb")


def _garbage(server: RedisServer) -> None:
    server.client().set(outcome_key("default", MODEL, "a"), "not what orcli stores")


BREAKAGES: dict[str, tuple[Callable[[RedisServer], None], str]] = {
    "stopped": (_stop, "unreachable"),
    "paused (CLIENT PAUSE)": (_pause, "did not answer within 200 ms"),
    "busy (DEBUG SLEEP)": (_debug_sleep, "did not answer within 200 ms"),
    "out of memory": (_out_of_memory, "out of memory"),
    "garbage under the prefix": (_garbage, "did not write"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_ask_still_answers_with_one_warning_when_redis_is(
    breakage: str, upstream: Upstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    cli = machine(upstream, tmp_path, "m", redis_server.url)
    assert cli("ask", "--no-stdin", "hi").code == 0  # a healthy round first: the store works
    break_it, says = BREAKAGES[breakage]
    break_it(redis_server)
    started = time.monotonic()
    run = cli("ask", "--no-stdin", "hi")
    elapsed = time.monotonic() - started
    assert run.code == 0 and "Hello from a" in run.out, run
    warnings = shared_warnings(run)
    assert len(warnings) == 1 and says in warnings[0] and "local health store" in warnings[0], run
    assert run.err.count("warning:") == 1, run
    assert len(store_rows(cli.state_dir)) == 1, "the outcome of the fallback run stays local"
    assert elapsed < 10, f"{elapsed:.1f}s"


@pytest.mark.parametrize("given", ["wrong password", "no password"])
def test_ask_still_answers_with_one_warning_when_redis_refuses_the_credentials(
    given: str, upstream: Upstream, tmp_path: Path
) -> None:
    real, wrong = canary("plain"), canary("plain")
    with RedisServer(tmp_path / "redis", password=real) as server:
        url = f"redis://{':' + wrong + '@' if given == 'wrong password' else ''}127.0.0.1:{server.port}/0"
        cli = machine(upstream, tmp_path, "m", url)
        cli.secrets.update({real, wrong})
        run = cli("ask", "--no-stdin", "hi")
        assert run.code == 0 and "Hello from a" in run.out, run
        warnings = shared_warnings(run)
        assert len(warnings) == 1 and "refused orcli's credentials" in warnings[0], run
        assert f"redis://127.0.0.1:{server.port}/0" in warnings[0]
        assert len(store_rows(cli.state_dir)) == 1
        assert cli.scan() == {}, "no file orcli wrote holds the password"


def test_ask_on_a_read_only_replica_reads_the_shared_history_and_records_locally(
    upstream: Upstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    writer = machine(upstream, tmp_path, "writer", redis_server.url)
    upstream.script("a", server_error(502))
    for _ in range(3):
        assert writer("ask", "--no-stdin", "--order", "a", "hi").code == 0
    args = ("--replicaof", "127.0.0.1", str(redis_server.port))
    with RedisServer(tmp_path / "replica", *args) as replica:
        deadline = time.monotonic() + 10
        while replica.client().zcard(outcome_key("default", MODEL, "a")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        reader = machine(upstream, tmp_path, "reader", f"redis://127.0.0.1:{replica.port}/0")
        run = reader("ask", "--no-stdin", "hi")
        assert run.code == 0 and "Hello from b" in run.out, "the replica's history put a at the back"
        warnings = shared_warnings(run)
        assert len(warnings) == 1 and "read-only replica" in warnings[0], run
        assert [r["provider"] for r in store_rows(reader.state_dir)] == ["b"]


def test_ask_answers_when_redis_stops_in_the_middle_of_the_run(
    upstream: Upstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    cli = machine(upstream, tmp_path, "m", redis_server.url)
    upstream.script("a", slow_first_token(1.5))
    proc = cli.popen("ask", "--no-stdin", "hi")
    deadline = time.monotonic() + 15
    while upstream.count("a") == 0 and time.monotonic() < deadline:  # the plan was read from Redis
        time.sleep(0.02)
    redis_server.stop()
    out, err = proc.communicate(timeout=30)
    text = err.decode()
    assert proc.returncode == 0 and b"Hello from a" in out, text
    warnings = [line for line in text.splitlines() if "shared health store" in line]
    assert len(warnings) == 1 and "could not record an outcome" in warnings[0], text
    assert [r["provider"] for r in store_rows(cli.state_dir)] == ["a"]


def test_shared_health_needs_no_redis_client_library(
    upstream: Upstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    cli = machine(upstream, tmp_path, "m", redis_server.url)
    blocker = tmp_path / "no-redis"
    blocker.mkdir()
    (blocker / "redis.py").write_text("raise ImportError('redis is not installed here')\n")
    run = cli("ask", "--no-stdin", "hi", env={"PYTHONPATH": str(blocker)})
    assert run.code == 0 and "Hello from a" in run.out and run.err == "", run
    assert redis_server.client().zcard(outcome_key("default", MODEL, "a")) == 1, "the outcome went to Redis"
    assert not (cli.state_dir / "health.sqlite3").exists() and store_rows(cli.state_dir) == []


def test_an_unusable_url_in_the_environment_is_a_warning_not_a_failure(upstream: Upstream, tmp_path: Path) -> None:
    secret, in_query = canary("plain"), canary("plain")
    cli = machine(upstream, tmp_path, "m", f"redis://:{secret}@127.0.0.1:6379/0?password={in_query}&socket_timeout=x")
    cli.secrets.update({secret, in_query})
    run = cli("ask", "--no-stdin", "hi")
    assert run.code == 0 and "Hello from a" in run.out, run
    assert "ORCLI_HEALTH_URL" in run.err and "unknown URL option `socket_timeout`" in run.err, run
    assert "password=***" in run.err, run


def test_a_password_in_any_part_of_the_url_reaches_redis_and_is_never_shown(upstream: Upstream, tmp_path: Path) -> None:
    """The password in the user part or as `?password=` (with `?username=`), through health, ask -v, --json and
    the warnings of a wrong password: Redis gets it, no output and no file shows it."""
    real, wrong = canary("plain"), canary("plain")
    with RedisServer(tmp_path / "redis", password=real) as server:
        base = f"redis://127.0.0.1:{server.port}/0"
        urls = [
            f"redis://:{real}@127.0.0.1:{server.port}/0",
            f"{base}?password={real}",
            f"{base}?namespace=ml&username=default&password={real}",
        ]
        for n, url in enumerate(urls):
            cli = machine(upstream, tmp_path, f"m{n}", url)
            cli.secrets.update({real, wrong})
            asked = cli("ask", "-v", "--no-stdin", "hi")
            assert asked.code == 0 and "Hello from a" in asked.out and "warning" not in asked.err, asked
            as_json = cli("ask", "--json", "--no-stdin", "hi")
            assert as_json.code == 0 and as_json.json()["content"], as_json
            health = cli("health", "--json")
            assert health.code == 0 and health.json()["store"]["kind"] == "redis", health
            shown = health.json()["store"]["url"]
            assert shown.startswith(base) and ("?" not in url or "password=***" in shown), shown
            assert cli("health").code == 0 and cli("explain-route", "--no-stdin").code == 0
            assert store_rows(cli.state_dir) == [] and cli.scan() == {}
        denied = machine(upstream, tmp_path, "denied", f"{base}?password={wrong}")
        denied.secrets.update({real, wrong})
        run = denied("ask", "-v", "--json", "--no-stdin", "hi")
        assert run.code == 0 and "refused orcli's credentials" in run.err, run
        assert f"{base}?password=***" in run.err, run
        assert denied.scan() == {}


def test_the_breaker_shared_by_redis_is_not_broken_by_many_machines_asking_at_once(
    upstream: Upstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    upstream.script("a", ok())
    clis = [machine(upstream, tmp_path, f"m{n}", redis_server.url) for n in range(4)]
    results: list[Run] = []
    threads = [
        threading.Thread(target=lambda c=c: results.extend(c("ask", "--no-stdin", "hi") for _ in range(3)))
        for c in clis
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.code for r in results] == [0] * 12 and all(r.err == "" for r in results), results
    assert redis_server.client().zcard(outcome_key("default", MODEL, "a")) == 12


# --- health reset and --probe on the shared store ---------------------------------------------------------


def _fill(cli: Cli, upstream: Upstream) -> None:
    upstream.script("a", server_error(502))
    for _ in range(2):
        assert cli("ask", "--no-stdin", "--order", "a", "hi").code == 0  # a fails, b answers: 4 outcomes


def test_reset_of_the_shared_store_in_a_script_needs_yes(
    upstream: Upstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    cli = machine(upstream, tmp_path, "m", redis_server.url)
    _fill(cli, upstream)
    refused = cli("health", "reset")
    assert refused.code == 2 and "--yes" in refused.err and redis_server.url in refused.err, refused
    assert redis_server.client().zcard(outcome_key("default", MODEL, "a")) == 2, "nothing was deleted"
    done = cli("health", "reset", "--provider", "a", "--yes", "--json")
    assert done.code == 0, done
    assert done.json() == {
        "reset": "a",
        "deleted": 2,
        "store": {"kind": "redis", "url": redis_server.url, "namespace": "default"},
    }
    assert redis_server.client().zcard(outcome_key("default", MODEL, "b")) == 2
    everything = cli("health", "reset", "-y")
    assert everything.code == 0 and f"forgot 2 outcomes from {redis_server.url}" in everything.err, everything


@pytest.mark.parametrize(("answer", "code", "left"), [("y", 0, 0), ("n", 1, 4)])
def test_reset_of_the_shared_store_on_a_terminal_asks_first(
    answer: str, code: int, left: int, upstream: Upstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    import os
    import pty

    cli = machine(upstream, tmp_path, "m", redis_server.url)
    _fill(cli, upstream)
    main, terminal = pty.openpty()
    try:
        proc = cli.popen("health", "reset", stdin=terminal)
        os.write(main, f"{answer}\n".encode())
        out, err = proc.communicate(timeout=30)
    finally:
        os.close(main)
        os.close(terminal)
    assert proc.returncode == code, err.decode()
    assert "Forget every outcome in the shared health store" in err.decode()
    client = redis_server.client()
    assert sum(client.zcard(k) for k in client.keys("orcli:*:outcomes:*")) == left


def test_reset_when_the_shared_store_is_down_fails_and_says_so(
    upstream: Upstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    cli = machine(upstream, tmp_path, "m", redis_server.url)
    redis_server.stop()
    run = cli("health", "reset", "--yes")
    assert run.code == 1 and "could not reset" in run.err and "was not reset" in run.err, run


def test_probe_records_into_the_shared_store(upstream: Upstream, redis_server: RedisServer, tmp_path: Path) -> None:
    prober = machine(upstream, tmp_path, "prober", redis_server.url)
    other = machine(upstream, tmp_path, "other", redis_server.url)
    upstream.script("a", server_error(500))
    assert prober("health", "--probe", "--json").code == 1
    a = next(e for e in other("health", "--json").json()["endpoints"] if e["provider"] == "a")
    assert (a["requests"], a["failures"]) == (1, 1)
    assert store_rows(prober.state_dir) == []


# --- start-up stays lean ------------------------------------------------------------------------------------


def test_redis_is_imported_only_when_a_redis_url_is_configured_and_sqlite_only_on_fallback(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    from test_import_graph import _example_keys, _loaded, _modules_after

    argv = ("explain-route", "--profile", "example", "--no-stdin")
    for name in ("local", "shared", "down"):
        (tmp_path / name).mkdir()
    code, local, _ = _modules_after(tmp_path / "local", *argv, env=_example_keys())
    assert code == 0 and not _loaded(local, "redis") and "sqlite3" not in local, "no URL: no redis, no history"
    shared_env = {**_example_keys(), "ORCLI_HEALTH_URL": redis_server.url}
    code, shared, _ = _modules_after(tmp_path / "shared", *argv, env=shared_env)
    assert code == 0 and "orcli.store.redis" in shared and "orcli.store.resp" in shared
    assert not _loaded(shared, "redis"), "orcli speaks to Redis itself: redis-py's imports cost more than the ask"
    assert "ssl" not in shared, "plain redis:// loads no TLS"
    assert "sqlite3" not in shared, "a reachable shared store needs no local SQLite"
    down_env = {**_example_keys(), "ORCLI_HEALTH_URL": "redis://127.0.0.1:1/0"}
    code, down, _ = _modules_after(tmp_path / "down", *argv, env=down_env)
    assert code == 0 and "orcli.store.redis" in down and not _loaded(down, "redis")


def test_the_profile_can_name_the_shared_store_and_the_environment_overrides_it(
    upstream: Upstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    cli = Cli(upstream, tmp_path / "m")
    cli.profile(["a", "b"], health={"store": redis_server.url + "?namespace=from-profile", "store_timeout": 0.5})
    assert cli("ask", "--no-stdin", "hi").code == 0
    client = redis_server.client()
    assert client.zcard(outcome_key("from-profile", MODEL, "a")) == 1
    run = cli("ask", "--no-stdin", "hi", env={"ORCLI_HEALTH_URL": redis_server.url + "?namespace=from-env"})
    assert run.code == 0 and run.err == "", run
    assert client.zcard(outcome_key("from-env", MODEL, "a")) == 1
    assert client.zcard(outcome_key("from-profile", MODEL, "a")) == 1
    assert store_rows(cli.state_dir) == []


def test_a_gateway_routes_on_the_shared_health_and_records_into_it(
    upstream: Upstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    import json
    import signal

    import httpx

    cli_machine = machine(upstream, tmp_path, "laptop", redis_server.url)
    upstream.script("a", server_error(502))
    for _ in range(3):
        assert cli_machine("ask", "--no-stdin", "--order", "a", "hi").code == 0
    gateway = machine(upstream, tmp_path, "gateway", redis_server.url)
    proc = gateway.popen("serve", "--port", "0", "--json", "--grace", "2", text=True)
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["listening"]
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        reply = httpx.post(f"{url}/chat/completions", json=body, timeout=30)
        assert reply.status_code == 200, reply.text
        assert reply.headers["x-orcli-provider"] == "b" and reply.headers["x-orcli-attempts"] == "1"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert "shared health store" not in err, err
    assert upstream.count("a") == 3
    assert redis_server.client().zcard(outcome_key("default", MODEL, "b")) == 4  # 3 from the laptop, 1 served
    assert store_rows(gateway.state_dir) == []


def test_probe_with_redis_down_still_probes_records_locally_and_warns_once(
    upstream: Upstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    cli = machine(upstream, tmp_path, "m", redis_server.url)
    redis_server.stop()
    run = cli("health", "--probe", "--json")
    assert run.code == 0 and all(p["ok"] for p in run.json()["probes"]), run
    assert len(shared_warnings(run)) == 1 and run.err.count("warning:") == 1, run
    assert run.json()["store"]["fallback_from"]["url"] == redis_server.url
    assert sorted(r["provider"] for r in store_rows(cli.state_dir)) == ["a", "b"]
