"""The real CLI in a subprocess for end-to-end tests, with canary keys and leak checks on every run.

Every directory orcli could write to (state, HOME, XDG dirs, TMPDIR) lives under the test's tmp dir so it
can be scanned; keys are random canaries, and a leak is any 10-character slice of one of them (half a key is
a leak too); `popen` for signal tests; readers for the health store. `run_all` runs jobs side by side, each
with a health store of its own unless the test asks for one shared store.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from upstream import Upstream, key_env, write_profile

MODEL = "test/model-a"
MODEL_B = "test/model-b"
RUN_TIMEOUT = 30  # seconds; a hung orcli fails its test instead of CI
WINDOW = 10  # a leak is any slice of a canary this long
_ENV_KEEP = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "LC_CTYPE", "SYSTEMROOT")


def canary(shape: str = "plain") -> str:
    """A fresh random key. `sk`: a known key shape (OpenRouter's); `plain`: no shape redaction knows, so only
    orcli's knowledge of its own keys can hide it; `short`: 12 characters."""
    token = secrets.token_hex(16)
    if shape == "sk":
        return f"sk-or-v1-{token}{secrets.token_hex(16)}"
    if shape == "short":
        return "Kc" + token[:10]
    return f"Zq{token}Canary"


def slices(secret: str, n: int = WINDOW) -> set[str]:
    return {secret[i : i + n] for i in range(max(1, len(secret) - n + 1))}


def leaks(text: str | bytes, secret_list: Iterable[str]) -> list[str]:
    """The secrets of which some WINDOW-long slice occurs in `text`."""
    found = []
    for secret in secret_list:
        for part in slices(secret):
            needle: str | bytes = part.encode() if isinstance(text, bytes) else part
            if needle in text:  # type: ignore[operator]
                found.append(secret)
                break
    return found


def scan_tree(root: Path, secret_list: Iterable[str]) -> dict[str, list[str]]:
    """Every regular file under `root` that holds a slice of a secret: {path: [secrets]}."""
    secret_list = list(secret_list)
    hits: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            found = leaks(path.read_bytes(), secret_list)
            if found:
                hits[str(path)] = found
    return hits


@dataclass
class Run:
    code: int
    out: str
    err: str
    elapsed: float
    args: tuple[str, ...] = ()
    state_dir: Path | None = None  # the health store this run used

    def json(self) -> dict[str, Any]:
        return json.loads(self.out)

    def __repr__(self) -> str:  # shown by pytest when an assertion on a run fails
        return (
            f"Run({' '.join(self.args)!r}, code={self.code}, elapsed={self.elapsed:.2f}s)\n"
            f"--- stdout\n{self.out[:4000]}\n--- stderr\n{self.err[:4000]}"
        )


def clean_env(tmp_path: Path) -> dict[str, str]:
    """A minimal environment built from an allow-list (so no real provider key gets through): HOME, every XDG
    dir, TMPDIR and the state dir all under tmp_path."""
    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    home = tmp_path / "home"
    dirs = {
        "HOME": home,
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_STATE_HOME": home / ".local" / "state",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_RUNTIME_DIR": tmp_path / "run",
        "TMPDIR": tmp_path / "tmpdir",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env.update({k: str(v) for k, v in dirs.items()})
    env.update(ORCLI_STATE_DIR=str(tmp_path / "state"), COLUMNS="200", NO_COLOR="1")
    return env


class Cli:
    """Runs `python -m orcli` with the last profile written; checks every run for leaks and tracebacks."""

    def __init__(self, upstream: Upstream | None, tmp_path: Path) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.upstream = upstream
        self.tmp = tmp_path
        self.env = clean_env(tmp_path)
        self.secrets: set[str] = set()
        self.profile_path: Path | None = None
        self._n = itertools.count(1)
        self._store_n = itertools.count(1)  # run_all's own stores: stores/<n>-<job>

    @property
    def state_dir(self) -> Path:
        return Path(self.env["ORCLI_STATE_DIR"])

    def profile(
        self,
        providers: list[str],
        *,
        keys: dict[str, str] | list[str] | None = None,
        sort: str | None = "price",
        **kw: Any,
    ) -> Path:
        """write_profile (sorted by price = list order unless sort=None); a fresh canary key per provider, or
        only for the providers `keys` lists, or the keys it maps (a provider missing from `keys` gets none)."""
        assert self.upstream is not None
        routing = dict(kw.pop("extra_routing", None) or {})
        if sort:
            routing.setdefault("sort", sort)
        path = self.tmp / f"profile{next(self._n)}.toml"
        self.profile_path = write_profile(path, self.upstream, providers, extra_routing=routing, **kw)
        if keys is None or isinstance(keys, list):
            shapes = itertools.cycle(["sk", "plain", "short"])
            keys = {p: canary(next(shapes)) for p in (providers if keys is None else keys)}
        self.set_keys({key_env(p): k for p, k in keys.items()})
        return self.profile_path

    def set_keys(self, entries: dict[str, str]) -> None:
        self.env.update(entries)
        self.secrets.update(v.strip() for v in entries.values() if v.strip())

    def key(self, provider: str) -> str:
        return self.env[key_env(provider)]

    def argv(self, *args: str | bytes) -> list[str | bytes]:
        argv: list[str | bytes] = [sys.executable, "-m", "orcli", *args]
        if self.profile_path is not None and "--profile" not in args and args and args[0] != "--version":
            n = 2 if args[0] == "health" and len(args) > 1 and args[1] == "reset" else 1
            argv[3 : 3 + n] = [*args[:n], "--profile", str(self.profile_path)]
        return argv

    def __call__(
        self,
        *args: str | bytes,
        stdin: str | bytes | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
        **popen: Any,
    ) -> Run:
        t0 = time.monotonic()
        data = stdin.encode() if isinstance(stdin, str) else stdin
        run_env = {**self.env, **(env or {})}
        proc = subprocess.run(
            self.argv(*args),
            input=data,
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            env=run_env,
            timeout=RUN_TIMEOUT,
            **popen,
        )
        shown = tuple(a if isinstance(a, str) else repr(a) for a in args)
        run = Run(
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
            time.monotonic() - t0,
            shown,
            Path(run_env["ORCLI_STATE_DIR"]),
        )
        if check:
            self.check_hygiene(run, debug="--debug" in args)
        return run

    def popen(self, *args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen[bytes]:
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(self.argv(*args), env={**self.env, **(env or {})}, **kw)

    def check_hygiene(self, run: Run, debug: bool = False) -> None:
        for text in (run.out, run.err):
            assert not leaks(text, self.secrets), f"a key leaked: {run!r}"
        if not debug:
            assert "Traceback" not in run.err, run
        assert "internal error" not in run.err, run

    def scan(self) -> dict[str, list[str]]:
        """Leaks in any file under the test's tmp dir except the profiles the test itself wrote."""
        hits = scan_tree(self.tmp, self.secrets)
        return {p: s for p, s in hits.items() if not Path(p).name.startswith("profile")}


def run_all(jobs: dict[Any, Callable[[], Run]], workers: int = 3, *, share_store: bool = False) -> dict[Any, Run]:
    """Independent orcli runs side by side (most of their time is interpreter start-up).

    Each job is `partial(cli, ...)` or `partial(f, cli, ...)` (a helper that runs orcli with `cli.env`). Jobs
    that would use the same health store get one each instead: a copy of that store as it was before any job
    started (so all see the same history, none sees another's outcomes; otherwise whichever run finishes first
    reorders the routes of the others), through a copy of their Cli whose ORCLI_STATE_DIR names it (and
    `Run.state_dir`, where the Cli makes the Run). The Cli's own store is left as it was. A job alone on its
    store uses it as is. `share_store=True`: every job uses its Cli's store, whatever the order of their writes
    - for a test whose subject is that one store (a broken or read-only one, or sharing itself), and for jobs
    with no Cli in them.
    """
    if not share_store:
        jobs = _own_stores(jobs)
    with ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def _own_stores(jobs: dict[Any, Callable[[], Run]]) -> dict[Any, Callable[[], Run]]:
    """The jobs, each of those that would share a store with another given a copy of it (see run_all)."""
    users: dict[Path, list[Any]] = {}
    for name, job in jobs.items():
        users.setdefault(_store_of(name, job), []).append(name)
    out = dict(jobs)
    for store, names in users.items():
        if len(names) < 2:
            continue
        if store.exists() and not store.is_dir() or not store.exists() and not store.parent.is_dir():
            raise ValueError(
                f"run_all: jobs {names!r} share the store {store}, which cannot be copied (it is not a "
                "folder); pass share_store=True, since none of them can write to it"
            )
        for name in names:
            job = jobs[name]
            assert isinstance(job, partial)
            cli = _cli_in(job)
            assert cli is not None
            own = cli.tmp / "stores" / re.sub(r"[^\w.-]+", "_", f"{next(cli._store_n)}-{name}")
            own.parent.mkdir(exist_ok=True)
            if store.is_dir():
                shutil.copytree(store, own, symlinks=True)  # links stay links: a test may be about them
            # else orcli creates it, as it would the Cli's own store
            twin = copy.copy(cli)  # same profile, keys and leak checks; its own env
            twin.env = {**cli.env, "ORCLI_STATE_DIR": str(own)}
            swap = partial(_swap, cli, twin)
            keywords = {k: swap(v) for k, v in job.keywords.items()}
            if "env" in keywords and keywords["env"]:
                keywords["env"] = {**keywords["env"], "ORCLI_STATE_DIR": str(own)}
            out[name] = partial(swap(job.func), *map(swap, job.args), **keywords)
    return out


def _swap(old: Cli, new: Cli, value: Any) -> Any:
    return new if value is old else value


def _cli_in(job: partial[Run]) -> Cli | None:
    """The one Cli a job runs with: the partial's function or one of its arguments."""
    found = {id(v): v for v in (job.func, *job.args, *job.keywords.values()) if isinstance(v, Cli)}
    return next(iter(found.values())) if len(found) == 1 else None


def _store_of(name: Any, job: Callable[[], Run]) -> Path:
    cli = _cli_in(job) if isinstance(job, partial) else None
    if cli is None:
        raise TypeError(
            f"run_all: job {name!r} is not partial(cli, ...) nor partial(f, cli, ...), so it cannot be "
            "given a store of its own; pass share_store=True if its runs may share one"
        )
    env = {**cli.env, **(job.keywords.get("env") or {})} if job.func is cli else cli.env
    return Path(env["ORCLI_STATE_DIR"])


def store_rows(state_dir: Path) -> list[dict[str, Any]]:
    """Every outcome row of the health store in `state_dir`, read without writing ([] when there is none)."""
    path = state_dir / "health.sqlite3"
    if not path.exists():
        return []
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM outcomes ORDER BY id")]
    finally:
        db.close()


def endpoint_health(run: Run, provider: str, model: str = MODEL) -> dict[str, Any]:
    """One endpoint's row from `orcli health --json`."""
    rows = [e for e in run.json()["endpoints"] if e["provider"] == provider and e["model"] == model]
    assert len(rows) == 1, run
    return rows[0]
