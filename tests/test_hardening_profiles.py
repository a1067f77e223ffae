"""Hardening, profiles: generated TOML documents, valid and broken, never crash the loader or the CLI.

Loading raises nothing but ProfileError (which names the file); the CLI answers a profile it cannot use with
exit 2, one `orcli: error:` line and no traceback. Generated documents follow the profile's shape with any
part replaced by something wrong (types, missing and unknown keys, huge numbers, NaN/inf, unicode names),
then may be cut, spliced or replaced by bytes that are not TOML or not UTF-8 at all.
"""

from __future__ import annotations

import datetime
import json
import math
import secrets
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import tomli_w
from cli_harness import Cli, run_all
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from orcli.cli import app
from orcli.errors import EXIT_USAGE, ProfileError
from orcli.neutralise import neutralise
from orcli.profile.fields import ENDPOINT_KEYS, HEALTH_KEYS, PRICE_KEYS, PROVIDER_KEYS, TIMEOUT_KEYS, TOP_KEYS
from orcli.profile.resolve import load_profile_file
from orcli.routing.preferences import ROUTING_KEYS
from orcli.types import Profile

# ------------------------------------------------------------------------------------------ strategies

# Headers a profile may never set (docs/security.md): framing, hop-by-hop, Host, credentials.
RESERVED_HEADERS = {
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "host",
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
}
NEAR_MISSES = ["allow_fallback", "base-url", "modle", "provder", "contex_length", "first-token", "pricee", "zdr "]
WEIRD_NUMBERS = st.sampled_from(
    [0, -1, 1, 7, 10**400, -(10**400), 2**63, 2**64 + 1, 1e308, -0.0, 5e-324, 0.5, math.nan, math.inf, -math.inf]
)
URLS = st.sampled_from(
    [
        "http://127.0.0.1:1/v1",
        "https://api.example.test/v1/",
        "http://localhost:11434/v1",
        "http://[::1]:8000/v1",
        "http://[::1",
        "http://a:99999/v1",
        "http://a b/v1",
        "http://a\n/v1",
        "ftp://x/v1",
        "https://",
        "not a url",
        "http://ü.example/v1",
        "http://xn--/v1",
        "http://a..b/v1",
        "https://user:pw@api.example.test/v1",
        "http://:pw@127.0.0.1:1/v1",
        "http://user:pw@[::1/v1",
    ]
)
WORDS = st.sampled_from(
    [
        "",
        " ",
        "price",
        "latency",
        "throughput",
        "model",
        "none",
        "allow",
        "deny",
        "openai",
        "anthropic",
        "fp8",
        "m",
        "a",
    ]
)
NAMES = st.one_of(
    st.sampled_from(["a", "b", "groq", "deepinfra/turbo", "Прокси", "模型", "a.b", "", " ", "x" * 300]),
    st.text(min_size=1, max_size=6),
)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(-(2**64), 2**64),
    WEIRD_NUMBERS,
    st.floats(),
    st.text(max_size=6),
    WORDS,
    URLS,
    st.sampled_from([datetime.date(2024, 2, 29), datetime.datetime(1979, 5, 27, 7, 32), datetime.time(7, 32)]),
)
KEYS = st.one_of(st.sampled_from(NEAR_MISSES), st.text(max_size=6))
ANY = st.one_of(
    SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(KEYS, SCALARS, max_size=2), st.just([{"a": 1}, 2])
)

# Plausible values per key, so that generated documents get past the first check and reach deeper ones.
GOOD = {
    "models": st.lists(NAMES, max_size=3),
    "order": st.lists(NAMES, max_size=2),
    "only": st.lists(NAMES, max_size=2),
    "ignore": st.lists(NAMES, max_size=2),
    "quantizations": st.lists(st.sampled_from(["fp8", "bf16", "int4", ""]), max_size=2),
    "sort": st.one_of(WORDS, st.fixed_dictionaries({"by": WORDS}, optional={"partition": WORDS})),
    "partition": WORDS,
    "data_collection": WORDS,
    "base_url": URLS,
    "api": WORDS,
    "api_key_env": st.sampled_from(["KEY_A", "", "NO_SUCH_KEY_ENV"]),
    "headers": st.dictionaries(
        st.sampled_from(
            ["X-Title", "X A", "Authorization", "", "x-API-key", "Content-Length", "TRANSFER-ENCODING", "Proxy-X"]
        ),
        st.text(max_size=6),
    ),
    "model": NAMES,
    "provider": NAMES,
    "upstream_model": NAMES,
    "quantization": WORDS,
    "parameters": st.lists(st.sampled_from(["temperature", "tools", "seed", ""]), max_size=3),
    "price": st.dictionaries(st.sampled_from([*PRICE_KEYS, "prompt_"]), WEIRD_NUMBERS, max_size=3),
    "max_price": st.dictionaries(st.sampled_from(PRICE_KEYS), WEIRD_NUMBERS, max_size=2),
}
NUMBER_KEYS = {
    *TIMEOUT_KEYS,
    *HEALTH_KEYS,
    "context_length",
    "max_completion_tokens",
    "latency",
    "throughput",
    "preferred_max_latency",
    "preferred_min_throughput",
}
BOOL_KEYS = {"allow_fallbacks", "require_parameters", "zdr", "skip_unhealthy", "allow_insecure"}


def _value(key: str) -> st.SearchStrategy[object]:
    if key in NUMBER_KEYS:
        good = st.one_of(WEIRD_NUMBERS, st.sampled_from([10**400, -(10**400), math.nan, math.inf]))
    elif key in BOOL_KEYS:
        good = st.booleans()
    else:
        good = GOOD.get(key, SCALARS)
    return st.one_of(good, good, ANY)  # mostly the right kind of value, sometimes anything


ALL_KEYS = {*ROUTING_KEYS, *TIMEOUT_KEYS, *HEALTH_KEYS, *PROVIDER_KEYS, *ENDPOINT_KEYS}
VALUES = {key: _value(key) for key in ALL_KEYS}


D20 = st.integers(0, 19)
COIN = st.booleans()
EXTRA_KEY = st.dictionaries(KEYS, ANY, max_size=1)
TOP_EXTRA = st.dictionaries(st.one_of(st.sampled_from(TOP_KEYS), KEYS), ANY, max_size=1)
CHOICES = {
    keys: st.lists(st.sampled_from(keys), max_size=4, unique=True)
    for keys in (ROUTING_KEYS, TIMEOUT_KEYS, HEALTH_KEYS, PROVIDER_KEYS, ENDPOINT_KEYS)
}
PROVIDER_NAMES = st.lists(NAMES, max_size=3, unique=True)
ENDPOINT_COUNT = st.integers(0, 3)


def _table(draw: st.DrawFn, keys: tuple[str, ...], required: tuple[str, ...] = ()) -> object:
    if draw(D20) == 0:
        return draw(ANY)  # the wrong type for a table
    chosen = draw(CHOICES[keys])
    chosen += [k for k in required if k not in chosen and draw(D20) > 3]  # usually, not always
    table = {key: draw(VALUES[key]) for key in chosen}
    table.update(draw(EXTRA_KEY))  # sometimes an unknown key
    return table


@st.composite
def documents(draw: st.DrawFn) -> dict[str, object]:
    """A profile-shaped document with mistakes anywhere."""
    doc: dict[str, object] = {}
    for name, keys in (("routing", ROUTING_KEYS), ("timeouts", TIMEOUT_KEYS), ("health", HEALTH_KEYS)):
        if draw(COIN):
            doc[name] = _table(draw, keys)
    names = draw(PROVIDER_NAMES)
    if draw(D20):
        doc["providers"] = {n: _table(draw, PROVIDER_KEYS, ("base_url",)) for n in names}
    else:
        doc["providers"] = draw(ANY)
    endpoints = []
    for _ in range(draw(ENDPOINT_COUNT)):
        endpoint = _table(draw, ENDPOINT_KEYS, ("model", "provider"))
        if isinstance(endpoint, dict) and names and draw(COIN):
            endpoint["provider"] = draw(st.sampled_from(names))
        endpoints.append(endpoint)
    if endpoints:
        doc["endpoint"] = endpoints
    doc.update(draw(TOP_EXTRA))
    return doc


def _dumps(doc: dict[str, object]) -> str | None:
    try:
        return tomli_w.dumps(doc)
    except (TypeError, ValueError):
        return None  # a shape TOML cannot express (e.g. an array mixing tables and values in some writers)


KINDS = st.sampled_from(["doc"] * 5 + ["cut", "splice", "bom", "binary", "latin1", "empty", "deep"])


@st.composite
def profile_bytes(draw: st.DrawFn) -> bytes:
    """What a profile file may hold: a generated document, damaged or not, or bytes that are not one."""
    kind = draw(KINDS)
    if kind == "binary":
        return draw(st.binary(max_size=200))
    if kind == "empty":
        return draw(st.sampled_from([b"", b"\n", b"   \n\t", b"# only a comment\n", b"\xef\xbb\xbf"]))
    if kind == "deep":
        depth = draw(st.sampled_from([10, 100, 1000, 5000]))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a=", "}")]))
        return f"x = {opener * depth}1{closer * depth}\n".encode()
    text = _dumps(draw(documents()))
    assume(text is not None)
    assert text is not None
    if kind == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif kind == "splice":
        at = draw(st.integers(0, len(text)))
        text = (
            text[:at]
            + draw(st.sampled_from(["[", "]]", '"', "=", "\n[routing]\n", "\x00", "\ud800", "= ="]))
            + text[at:]
        )
    data = text.encode("utf-8", errors="surrogatepass")
    if kind == "bom":
        data = b"\xef\xbb\xbf" + data
    elif kind == "latin1":
        data = data + "\n# café\n".encode("latin-1")
    return data


# ------------------------------------------------------------------------------------------------ tests


def _check_profile(profile: Profile) -> None:
    """What a loaded profile promises the rest of orcli: every number finite and in range, every reference
    resolved."""
    for value in profile.timeouts:
        assert math.isfinite(value) and value > 0
    health = profile.health
    for value in (health.window, health.outage_window, health.cooldown, health.store_timeout):
        assert math.isfinite(value) and value > 0
    assert health.store is None or health.store.lower().startswith(
        ("redis://", "rediss://")
    )  # docs/health.md#sharing-health-across-machines
    for e in profile.endpoints:
        assert e.provider in profile.providers
        assert all(math.isfinite(p) and p >= 0 for p in e.price)
        assert e.context_length is None or (isinstance(e.context_length, int) and e.context_length > 0)
        for hint in (e.latency, e.throughput):
            assert hint is None or (math.isfinite(hint) and hint >= 0)
    for p in profile.providers.values():
        assert p.base_url.startswith(("http://", "https://"))
        assert "@" not in urlsplit(p.base_url).netloc  # docs/security.md: no credentials in a URL
        assert not {h.lower() for h in p.headers} & RESERVED_HEADERS, p.headers


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=profile_bytes())
def test_loading_any_file_gives_a_profile_or_a_profile_error(data: bytes, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.getbasetemp() / "fuzzed-profile.toml"
    path.write_bytes(data)
    try:
        profile = load_profile_file(path)
    except ProfileError as exc:
        assert exc.exit_code == EXIT_USAGE
        assert exc.message.strip()
        assert str(path) in exc.message  # docs/profiles.md#the-format: a profile error names the file
        return
    _check_profile(profile)


_runner = CliRunner()


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=profile_bytes())
def test_the_cli_answers_a_broken_profile_with_exit_2_and_one_message(
    data: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """In process (the subprocess version of the same contract is the corpus test below)."""
    base = tmp_path_factory.getbasetemp()
    path = base / "fuzzed-cli-profile.toml"
    path.write_bytes(data)
    try:
        load_profile_file(path)
    except ProfileError as exc:
        expected = exc.message
        problems = [dict(problem) for problem in exc.problems]
    else:
        assume(False)  # a usable profile: what the planner makes of it is tested elsewhere
    env = {"ORCLI_STATE_DIR": str(base / "fuzz-state"), "NO_COLOR": "1"}
    for args in (["explain-route", "--no-stdin"], ["explain-route", "--no-stdin", "--json"], ["providers"]):
        result = _runner.invoke(app, [*args, "--profile", str(path)], env=env)
        assert result.exit_code == EXIT_USAGE, (args, result.stdout, result.stderr)
        assert result.stderr == f"orcli: error: {neutralise(expected)}\n"  # control characters shown inert
        if "--json" in args:
            error = {"kind": "profile", "message": expected, "exit_code": 2, "problems": problems}
            assert json.loads(result.stdout)["error"] == error
        else:
            assert result.stdout == ""


# Real processes: (file content, what the message must say). Each is one mistake of the list.
PROVIDER = '[providers.a]\nbase_url = "http://127.0.0.1:9/v1"\n'
ENDPOINT = '[[endpoint]]\nmodel = "m"\nprovider = "a"\n'
CORPUS: dict[str, tuple[bytes | str, str]] = {
    "binary_garbage": (b"\x00\x01\xff\xfe\x80BINARY\x00", "not UTF-8"),
    "latin1_text": ("[routing]\n# café\n".encode("latin-1"), "not UTF-8"),
    "nul_byte": ("[routing]\nsort = 'price'\x00\n", "not valid TOML"),
    "not_toml": ("this is = = not toml", "not valid TOML"),
    "duplicate_table": ("[routing]\n[routing]\n", "not valid TOML"),
    "wrong_type_timeout": ('[timeouts]\nconnect = "5"\n', "timeouts.connect: expected a number, got a string"),
    "wrong_type_providers": ("providers = 3\n", "expected a table of providers"),
    "wrong_type_endpoint": ('endpoint = "m"\n', "expected [[endpoint]] tables"),
    "missing_base_url": ('[providers.a]\napi = "openai"\n', "missing `base_url`"),
    "missing_provider": (PROVIDER + '[[endpoint]]\nmodel = "m"\n', "missing `provider`"),
    "unknown_key": ("[routing]\nallow_fallback = true\n", "Did you mean `allow_fallbacks`"),
    "unknown_top_key": ("[rooting]\n", "Did you mean `routing`"),
    "huge_integer_price": (PROVIDER + ENDPOINT + f"price = {{ prompt = 1{'0' * 400} }}\n", "expected a finite number"),
    "huge_integer_timeout": (f"[timeouts]\nidle = {'9' * 400}\n", "expected a finite number"),
    "too_many_digits": (f"[timeouts]\nidle = {'9' * 5000}\n", "not valid TOML"),
    "nan_timeout": ("[timeouts]\nidle = nan\n", "expected a finite number > 0, got nan"),
    "inf_price": (PROVIDER + ENDPOINT + "price = { prompt = inf }\n", "expected a finite number >= 0, got inf"),
    "negative_price": (PROVIDER + ENDPOINT + "price = { prompt = -1 }\n", "expected a finite number >= 0"),
    "deep_nesting": ("x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "unicode_unknown_provider": ('[[endpoint]]\nmodel = "模型"\nprovider = "Прокси"\n', "unknown provider `Прокси`"),
    "port_out_of_range": ('[providers.a]\nbase_url = "http://127.0.0.1:99999/v1"\n', "Port out of range"),
    "bad_ipv6": ('[providers.a]\nbase_url = "http://[::1/v1"\n', "Invalid IPv6 URL"),
    "url_with_space": ('[providers.a]\nbase_url = "http://a b/v1"\n', "spaces or control characters"),
    "header_with_newline": (PROVIDER + 'headers = { X-Title = "a\\nb" }\n', "printable ASCII on one line"),
    "header_name_with_space": (PROVIDER + 'headers = { "X Title" = "a" }\n', "not a valid HTTP header name"),
    "tls_off_switch": (PROVIDER + "verify = false\n", "providers.a.verify: unknown key"),
    "url_credentials": ('[providers.a]\nbase_url = "https://me:pw@h/v1"\n', "must not carry credentials"),
    "url_credentials_bad_port": ('[providers.a]\nbase_url = "http://me:pw@h:x/v1"\n', "must not carry credentials"),
    "header_content_length": (PROVIDER + 'headers = { content-length = "5" }\n', "content-length is a connection"),
    "header_transfer_encoding": (PROVIDER + 'headers = { Transfer-Encoding = "chunked" }\n', "framing header"),
    "header_connection": (PROVIDER + 'headers = { CONNECTION = "close" }\n', "CONNECTION is a connection"),
    "header_host": (PROVIDER + 'headers = { Host = "evil" }\n', "Host is a connection or framing header"),
    "header_proxy": (PROVIDER + 'headers = { Proxy-Authenticate = "x" }\n', "Proxy-Authenticate is a connection"),
    "header_authorization": (PROVIDER + 'headers = { authorization = "Bearer x" }\n', "carries credentials"),
    "header_x_api_key": (PROVIDER + 'headers = { X-Api-Key = "x" }\n', "X-Api-Key carries credentials"),
    "header_goog_key": (PROVIDER + 'headers = { x-goog-api-key = "x" }\n', "api_key_env"),
}


def _write_corpus(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, (content, _) in CORPUS.items():
        paths[name] = tmp_path / f"{name}.toml"
        if isinstance(content, bytes):
            paths[name].write_bytes(content)
        else:
            paths[name].write_text(content, encoding="utf-8")
    return paths


def test_a_corpus_of_broken_profiles_is_refused_with_file_and_problem_named(tmp_path: Path) -> None:
    """In process, every entry; the next test runs some of them as real processes."""
    paths = _write_corpus(tmp_path)
    env = {"ORCLI_STATE_DIR": str(tmp_path / "state"), "NO_COLOR": "1"}
    bad = {}
    for name, (_, expected) in CORPUS.items():
        result = _runner.invoke(app, ["explain-route", "--no-stdin", "--profile", str(paths[name])], env=env)
        err = result.stderr
        if not (
            result.exit_code == EXIT_USAGE
            and result.stdout == ""
            and err.startswith("orcli: error: ")
            and err.count("\n") == 1
            and expected in err
            and str(paths[name]) in err
        ):
            bad[name] = (result.exit_code, err)
    assert not bad, bad


REAL_PROCESS_CASES = ("binary_garbage", "huge_integer_price", "nan_timeout", "deep_nesting", "unicode_unknown_provider")
COMMANDS = {
    "explain": ("explain-route", "--no-stdin"),
    "ask": ("ask", "--no-stdin", "hi"),
    "providers": ("providers",),
    "health": ("health",),
    "probe": ("health", "--probe"),
}


def test_every_command_refuses_broken_profiles_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    """Real processes: each command (plain and --json) on one broken profile, and explain-route on a few more."""
    paths = _write_corpus(tmp_path)
    cli = Cli(None, tmp_path)
    broken = paths["unknown_key"]
    jobs = {
        (name, as_json): partial(cli, argv[0], "--profile", str(broken), *(["--json"] if as_json else []), *argv[1:])
        for name, argv in COMMANDS.items()
        for as_json in (False, True)
    }
    jobs.update(
        {
            (case, False): partial(cli, *COMMANDS["explain"], "--profile", str(paths[case]))
            for case in REAL_PROCESS_CASES
        }
    )
    runs = run_all(jobs, workers=4)  # type: ignore[arg-type]
    for (name, as_json), run in runs.items():
        assert run.code == EXIT_USAGE, run
        assert run.err.startswith("orcli: error: ") and run.err.count("\n") == 1, run
        if name in COMMANDS:
            assert "did you mean `allow_fallbacks`" in run.err.lower() and str(broken) in run.err, run
        else:
            assert CORPUS[name][1] in run.err, run
        if as_json:
            assert run.json()["error"]["kind"] == "profile", run
        else:
            assert run.out == "", run


def test_empty_and_valid_unicode_profiles_are_not_profile_errors(tmp_path: Path) -> None:
    """An empty file is a valid (empty) profile: commands say what is missing; unicode names work throughout."""
    cli = Cli(None, tmp_path)
    empty = tmp_path / "empty.toml"
    empty.write_bytes(b"")
    unicode = tmp_path / "unicode.toml"
    unicode.write_text(
        '\ufeff[routing]\nmodels = ["模型/ü"]\n[providers."Прокси"]\nbase_url = "http://127.0.0.1:9/v1"\n'
        '[[endpoint]]\nmodel = "模型/ü"\nprovider = "Прокси"\nprice = { prompt = 1, completion = 1 }\n',
        encoding="utf-8",
    )
    runs = run_all(
        {
            "empty_explain": partial(cli, "explain-route", "--no-stdin", "--profile", str(empty)),
            "empty_providers": partial(cli, "providers", "--json", "--profile", str(empty)),
            "unicode_explain": partial(cli, "explain-route", "--no-stdin", "--json", "--profile", str(unicode)),
            "unicode_table": partial(cli, "explain-route", "--no-stdin", "--profile", str(unicode)),
        }
    )
    assert runs["empty_explain"].code == EXIT_USAGE and "no model to route" in runs["empty_explain"].err
    assert runs["empty_providers"].code == 0, runs["empty_providers"]
    doc = runs["unicode_explain"].json()
    assert runs["unicode_explain"].code == 0, runs["unicode_explain"]
    assert [(a["model"], a["provider"]) for a in doc["attempts"]] == [("模型/ü", "Прокси")]
    assert runs["unicode_table"].code == 0 and "Прокси" in runs["unicode_table"].out


HUGE_PRICE = """\
[routing]
models = ["m"]
[providers.a]
base_url = "http://127.0.0.1:9/v1"
[providers.b]
base_url = "http://127.0.0.1:9/v1"
[[endpoint]]
model = "m"
provider = "a"
price = { prompt = 1e308, completion = 1e308 }
[[endpoint]]
model = "m"
provider = "b"
price = { prompt = 1e308, completion = 1e308 }
"""


def test_a_valid_profile_with_huge_finite_prices_routes(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text(HUGE_PRICE)
    run = Cli(None, tmp_path)("explain-route", "--no-stdin", "--json", "--profile", str(path), check=False)
    assert run.code == 0, run
    assert {a["provider"] for a in run.json()["attempts"]} == {"a", "b"}


def test_credentials_in_a_base_url_are_a_profile_error_that_never_echoes_them(tmp_path: Path) -> None:
    """docs/security.md: `http://user:pass@host` is refused at load by every command (exit 2), and neither the user
    name nor the password appears in any output or file; nothing is sent (httpx would send them as Basic auth)."""
    from upstream import Upstream

    with Upstream() as upstream:
        cli = Cli(upstream, tmp_path)
        user, password = f"User{secrets.token_hex(8)}", f"Pw{secrets.token_hex(12)}"
        url = upstream.base_url("a").replace("http://", f"http://{user}:{password}@", 1)
        cli.profile(["a"], provider_extra={"a": {"base_url": url}})
        cli.secrets.update({user, password})  # every run is checked for any 10-character slice of them
        jobs = {
            (name, as_json): partial(cli, *argv[:1], *(["--json"] if as_json else []), *argv[1:])
            for name, argv in {**COMMANDS, "ask_v": ("ask", "-v", "--no-stdin", "hi")}.items()
            for as_json in (False, True)
        }
        runs = run_all(jobs, workers=4)  # type: ignore[arg-type]
        for (_, as_json), run in runs.items():
            assert run.code == EXIT_USAGE and "must not carry credentials" in run.err, run
            assert run.err.count("\n") == 1, run
            if as_json:
                assert run.json()["error"]["kind"] == "profile", run
        assert upstream.count() == 0
        assert not cli.scan()


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ("Content-Length", "connection or framing header"),
        ("transfer-encoding", "connection or framing header"),
        ("Keep-Alive", "connection or framing header"),
        ("Proxy-Authorization", "carries credentials"),
        ("AUTHORIZATION", "carries credentials"),
        ("api-key", "carries credentials"),
    ],
)
def test_framing_hop_by_hop_and_auth_headers_in_a_profile_are_refused_before_any_request(
    tmp_path: Path, header: str, says: str
) -> None:
    """docs/security.md: a profile header that would fight the client's own framing (the shape of request smuggling) or
    replace the key from api_key_env is a profile error (exit 2) naming the header; the upstream hears nothing."""
    from upstream import Upstream

    with Upstream() as upstream:
        cli = Cli(upstream, tmp_path)
        cli.profile(["a"], provider_extra={"a": {"headers": {header: "0", "X-Title": "fine"}}})
        runs = run_all({"ask": partial(cli, "ask", "hi"), "probe": partial(cli, "health", "--probe", "--json")})
        for run in runs.values():
            assert run.code == EXIT_USAGE and f"headers.{header}: {header}" in run.err and says in run.err, run
        assert runs["probe"].json()["error"]["kind"] == "profile"
        assert upstream.count() == 0
