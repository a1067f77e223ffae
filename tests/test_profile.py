"""docs/profiles.md#the-format: profile resolution, the bundled profiles, and validation errors that name file, line, key path and
expectation (exit 2, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orcli.errors import EXIT_USAGE, ProfileError
from orcli.profile import resolve as profile_mod
from orcli.profile.parse import parse_profile
from orcli.profile.resolve import bundled_profiles_dir, load_profile, load_profile_file

# A small valid profile; each bad case below changes one thing in it.
VALID = """\
[routing]
models = ["m1"]
allow_fallbacks = true

[providers.alpha]
base_url = "https://alpha.example/v1"
api_key_env = "ALPHA_KEY"
data_collection = "deny"
zdr = true

[providers.beta]
base_url = "https://beta.example/v1"

[[endpoint]]
model = "m1"
provider = "alpha"
price = { prompt = 1.0, completion = 2.0 }
context_length = 8192

[[endpoint]]
model = "m1"
provider = "beta"
price = { prompt = 0.5, completion = 0.5 }

[[endpoint]]
model = "m2"
provider = "beta"
price = { prompt = 0.25, completion = 0.75 }
"""


def _write(tmp_path: Path, text: str | bytes, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle` (the line the error must point at)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the test profile")


def _replace(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("ORCLI_")}
    env.update(ORCLI_STATE_DIR=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"), NO_COLOR="1", **extra)
    return env


# -- the bundled profiles -----------------------------------------------------------------------------
def test_the_valid_test_profile_loads(tmp_path: Path) -> None:
    p = load_profile_file(_write(tmp_path, VALID, "ok.toml"))
    assert set(p.providers) == {"alpha", "beta"}
    assert [e.key for e in p.endpoints] == [("m1", "alpha"), ("m1", "beta"), ("m2", "beta")]
    assert p.endpoints[0].upstream_model == "m1"  # upstream_model defaults to model
    assert p.providers["alpha"].zdr and p.providers["alpha"].data_collection == "deny"
    assert p.providers["beta"].data_collection == "allow" and p.providers["beta"].api_key_env is None


def test_bundled_example_profile_loads_with_real_providers_and_a_variant() -> None:
    p = load_profile("example", {})
    assert Path(p.path) == bundled_profiles_dir() / "example.toml"
    assert {"groq", "together", "deepinfra", "deepinfra/turbo"} <= set(p.providers)
    assert all(e.provider in p.providers for e in p.endpoints)
    assert len({e.key for e in p.endpoints}) == len(p.endpoints)
    from orcli.wire import DIALECTS

    # public providers need keys, or (the clouds) their cloud's own credentials: none is reached unauthenticated
    assert all(prov.api_key_env or DIALECTS[prov.api].keyless_auth for prov in p.providers.values())
    assert all(prov.base_url.startswith("https://") for prov in p.providers.values())
    models = {e.model for e in p.endpoints}
    assert set(p.routing["models"]) <= models  # type: ignore[arg-type]
    assert all(e.price.prompt > 0 and e.price.completion > 0 for e in p.endpoints)


def test_bundled_local_profile_loads_with_keyless_loopback_servers() -> None:
    p = load_profile("local", {})
    assert {"ollama", "vllm", "llamacpp"} <= set(p.providers)
    for prov in p.providers.values():
        assert prov.api_key_env is None
        assert prov.base_url.startswith(("http://127.0.0.1", "http://localhost"))
    assert all(e.price.prompt == 0 and e.price.completion == 0 for e in p.endpoints)


# -- resolution order ---------------------------------------------------------------------------------
@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "user-profiles"
    d.mkdir()
    monkeypatch.setattr(profile_mod, "user_profiles_dir", lambda: d)
    return d


def test_a_path_is_read_as_is(tmp_path: Path, user_dir: Path) -> None:
    path = _write(tmp_path, VALID, "mine.toml")
    assert load_profile(str(path), {}).path == str(path)


def test_a_path_that_does_not_exist_is_a_profile_error(tmp_path: Path, user_dir: Path) -> None:
    with pytest.raises(ProfileError, match="no such profile file"):
        load_profile(str(tmp_path / "nope.toml"), {})


def test_orcli_profile_env_is_used_when_no_profile_is_given(tmp_path: Path, user_dir: Path) -> None:
    path = _write(tmp_path, VALID, "env.toml")
    assert load_profile(None, {"ORCLI_PROFILE": str(path)}).path == str(path)
    assert load_profile(None, {"ORCLI_PROFILE": "local"}).name == "local"


def test_an_explicit_profile_beats_orcli_profile(tmp_path: Path, user_dir: Path) -> None:
    path = _write(tmp_path, VALID, "explicit.toml")
    assert load_profile(str(path), {"ORCLI_PROFILE": "local"}).path == str(path)


def test_a_bare_name_is_found_in_the_user_config_dir(user_dir: Path) -> None:
    (user_dir / "mine.toml").write_text(VALID, encoding="utf-8")
    assert load_profile("mine", {}).path == str(user_dir / "mine.toml")


def test_the_user_config_dir_shadows_a_bundled_profile_of_the_same_name(user_dir: Path) -> None:
    (user_dir / "local.toml").write_text(VALID, encoding="utf-8")
    assert load_profile("local", {}).path == str(user_dir / "local.toml")


def test_a_bare_name_falls_back_to_the_bundled_profiles(user_dir: Path) -> None:
    assert load_profile("local", {}).path == str(bundled_profiles_dir() / "local.toml")


def test_default_falls_back_to_the_bundled_example(user_dir: Path) -> None:
    assert load_profile(None, {}).path == str(bundled_profiles_dir() / "example.toml")
    assert load_profile("default", {}).path == str(bundled_profiles_dir() / "example.toml")


def test_a_user_default_profile_is_used_without_any_selection(user_dir: Path) -> None:
    (user_dir / "default.toml").write_text(VALID, encoding="utf-8")
    assert load_profile(None, {}).path == str(user_dir / "default.toml")


def test_an_unknown_name_is_an_error_with_the_nearest_known_name(user_dir: Path) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile("exmaple", {})
    message = info.value.message
    assert "`exmaple`" in message and "Did you mean `example`?" in message
    assert str(user_dir / "exmaple.toml") in message  # says where it looked


def test_user_config_dir_comes_from_platformdirs_and_honours_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    d = tmp_path / "xdg" / "orcli" / "profiles"
    d.mkdir(parents=True)
    (d / "xdgmine.toml").write_text(VALID, encoding="utf-8")
    if sys.platform.startswith("linux"):
        assert profile_mod.user_profiles_dir() == d
        assert load_profile("xdgmine", {}).path == str(d / "xdgmine.toml")


def test_the_cli_finds_a_user_profile_through_xdg_config_home(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("XDG_CONFIG_HOME is the Linux config dir")
    d = tmp_path / "config" / "orcli" / "profiles"
    d.mkdir(parents=True)
    (d / "xdgmine.toml").write_text(VALID, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "orcli", "providers", "-p", "xdgmine", "--json"],
        capture_output=True,
        text=True,
        env=_clean_env(tmp_path),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert str(d / "xdgmine.toml") in proc.stdout


# -- validation ---------------------------------------------------------------------------------------
# (id, profile text, text on the line the error must point at (None: no line), fragments the message needs)
BAD_PROFILES: list[tuple[str, str | bytes, str | None, list[str]]] = [
    (
        "toml-syntax",
        _replace('models = ["m1"]', 'models = ["m1"'),
        None,  # TOML gives the line; checked separately below since the parser reports where it noticed
        ["not valid TOML"],
    ),
    (
        "unknown-routing-key",
        _replace("allow_fallbacks = true", "allow_fallback = true"),
        "allow_fallback = true",
        ["routing.allow_fallback", "unknown key", "did you mean `allow_fallbacks`"],
    ),
    (
        "unknown-endpoint-key",
        _replace("context_length = 8192", "context_lenght = 8192"),
        "context_lenght = 8192",
        ["endpoint[1].context_lenght", "unknown key", "did you mean `context_length`"],
    ),
    (
        "unknown-top-level-table",
        "[rooting]\nmodels = []\n",
        "[rooting]",
        ["rooting", "unknown key", "did you mean `routing`"],
    ),
    (
        "unknown-provider-in-endpoint",
        _replace('model = "m2"\nprovider = "beta"', 'model = "m2"\nprovider = "betta"'),
        'provider = "betta"',
        ["endpoint[3].provider", "unknown provider `betta`", "did you mean `beta`"],
    ),
    (
        "duplicate-model-provider",
        _replace('model = "m2"\nprovider = "beta"', 'model = "m1"\nprovider = "alpha"'),
        None,  # points at endpoint[3]'s header: checked by line number below
        ["endpoint[3]", "duplicate", "`m1`", "`alpha`", "endpoint[1]"],
    ),
    (
        "negative-prompt-price",
        _replace("price = { prompt = 0.25, completion = 0.75 }", "price = { prompt = -0.25, completion = 0.75 }"),
        "price = { prompt = -0.25",
        ["endpoint[3].price.prompt", ">= 0", "-0.25"],
    ),
    (
        "negative-max-price",
        _replace("allow_fallbacks = true", "allow_fallbacks = true\nmax_price = { completion = -1 }"),
        "max_price = { completion = -1 }",
        ["routing.max_price.completion", ">= 0", "-1"],
    ),
    (
        "nan-price",
        _replace("price = { prompt = 0.5, completion = 0.5 }", "price = { prompt = nan, completion = 0.5 }"),
        "prompt = nan",
        ["endpoint[2].price.prompt", "finite", "nan"],
    ),
    (
        "inf-price",
        _replace("price = { prompt = 0.5, completion = 0.5 }", "price = { prompt = 0.5, completion = inf }"),
        "completion = inf",
        ["endpoint[2].price.completion", "finite", "inf"],
    ),
    (
        "unknown-price-key",
        _replace("price = { prompt = 0.5, completion = 0.5 }", "price = { prompt = 0.5, complete = 0.5 }"),
        "complete = 0.5",
        ["endpoint[2].price.complete", "unknown key", "did you mean `completion`"],
    ),
    (
        "bad-sort-enum",
        _replace("allow_fallbacks = true", 'allow_fallbacks = true\nsort = "cheapest"'),
        'sort = "cheapest"',
        ["routing.sort", '"price"', '"latency"', '"throughput"', "cheapest"],
    ),
    (
        "bad-sort-table-enum",
        _replace("allow_fallbacks = true", 'allow_fallbacks = true\nsort = { by = "price", partition = "all" }'),
        "sort = { by",
        ["routing.sort.partition", '"model"', '"none"', "'all'"],
    ),
    (
        "bad-partition-enum",
        _replace("allow_fallbacks = true", 'allow_fallbacks = true\npartition = "models"'),
        'partition = "models"',
        ["routing.partition", '"model"', '"none"', "did you mean `model`"],
    ),
    (
        "bad-routing-data-collection",
        _replace("allow_fallbacks = true", 'allow_fallbacks = true\ndata_collection = "maybe"'),
        'data_collection = "maybe"',
        ["routing.data_collection", '"allow"', '"deny"', "maybe"],
    ),
    (
        "bad-provider-data-collection",
        _replace('data_collection = "deny"', 'data_collection = "maybe"'),
        'data_collection = "maybe"',
        ["providers.alpha.data_collection", '"allow"', '"deny"', "maybe"],
    ),
    (
        "bad-api-enum",
        _replace(
            '[providers.beta]\nbase_url = "https://beta.example/v1"',
            '[providers.beta]\nbase_url = "https://beta.example/v1"\napi = "cohere"',
        ),
        'api = "cohere"',
        ["providers.beta.api", '"openai"', '"anthropic"', '"gemini"', '"azure"', '"bedrock"', '"vertex"', "cohere"],
    ),
    (
        "wrong-type-bool",
        _replace("zdr = true", 'zdr = "yes"'),
        'zdr = "yes"',
        ["providers.alpha.zdr", "true or false", "a string"],
    ),
    (
        "wrong-type-integer",
        _replace("context_length = 8192", 'context_length = "big"'),
        'context_length = "big"',
        ["endpoint[1].context_length", "whole number", "a string"],
    ),
    (
        "wrong-type-float-context",
        _replace("context_length = 8192", "context_length = 8192.5"),
        "context_length = 8192.5",
        ["endpoint[1].context_length", "whole number"],
    ),
    (
        "wrong-type-models",
        _replace('models = ["m1"]', 'models = "m1"'),
        'models = "m1"',
        ["routing.models", "array of non-empty strings"],
    ),
    (
        "wrong-type-price",
        _replace("price = { prompt = 1.0, completion = 2.0 }", 'price = { prompt = "1.0", completion = 2.0 }'),
        'price = { prompt = "1.0"',
        ["endpoint[1].price.prompt", "expected a number", "a string"],
    ),
    (
        "wrong-type-price-table",
        _replace("price = { prompt = 1.0, completion = 2.0 }", "price = 1.0"),
        "price = 1.0",
        ["endpoint[1].price", "expected a table", "a number"],
    ),
    (
        "zero-timeout",
        VALID + "\n[timeouts]\nconnect = 0\n",
        "connect = 0",
        ["timeouts.connect", "> 0"],
    ),
    (
        "missing-base-url",
        _replace('[providers.beta]\nbase_url = "https://beta.example/v1"', "[providers.beta]\nzdr = false"),
        "[providers.beta]",
        ["providers.beta", "missing `base_url`"],
    ),
    (
        "empty-provider-table",
        _replace('[providers.beta]\nbase_url = "https://beta.example/v1"', "[providers.beta]"),
        "[providers.beta]",
        ["providers.beta", "missing `base_url`"],
    ),
    (
        "provider-with-headers-only",
        _replace(
            '[providers.beta]\nbase_url = "https://beta.example/v1"', '[providers.beta]\nheaders = { X-Title = "t" }'
        ),
        "[providers.beta]",
        ["providers.beta: missing `base_url`"],
    ),
    (
        "bad-base-url",
        _replace('base_url = "https://beta.example/v1"', 'base_url = "ftp://beta.example"'),
        'base_url = "ftp://beta.example"',
        ["providers.beta.base_url", "http:// or https://"],
    ),
    (
        "endpoint-missing-model",
        _replace('model = "m2"\n', ""),
        None,
        ["endpoint[3]", "missing `model`"],
    ),
    (
        "non-utf8",
        VALID.replace("m2", "m\u00e9").encode("latin-1"),
        None,
        ["not UTF-8"],
    ),
]


def _message_of(path: Path) -> str:
    with pytest.raises(ProfileError) as info:
        load_profile_file(path)
    assert info.value.exit_code == EXIT_USAGE
    return info.value.message


@pytest.mark.parametrize(
    ("text", "line_text", "fragments"), [c[1:] for c in BAD_PROFILES], ids=[c[0] for c in BAD_PROFILES]
)
def test_a_bad_profile_is_an_error_naming_file_line_key_and_expectation(
    tmp_path: Path, text: str | bytes, line_text: str | None, fragments: list[str]
) -> None:
    path = _write(tmp_path, text)
    message = _message_of(path)
    assert str(path) in message
    if line_text is not None:
        assert isinstance(text, str)
        assert f"{path}:{_line_of(text, line_text)}:" in message
    lowered = message.lower()
    for fragment in fragments:
        assert fragment.lower() in lowered, f"{fragment!r} not in {message!r}"
    assert "\n" not in message.strip(), "one paragraph"
    assert "Traceback" not in message


def test_a_toml_syntax_error_names_the_line_toml_gives(tmp_path: Path) -> None:
    text = _replace("zdr = true", "zdr = = true")
    path = _write(tmp_path, text)
    assert f"{path}:{_line_of(text, 'zdr = = true')}:" in _message_of(path)


def test_a_duplicate_endpoint_points_at_the_second_endpoint_header(tmp_path: Path) -> None:
    text = _replace('model = "m2"\nprovider = "beta"', 'model = "m1"\nprovider = "alpha"')
    path = _write(tmp_path, text)
    third_header = [i for i, ln in enumerate(text.splitlines(), 1) if ln == "[[endpoint]]"][2]
    assert f"{path}:{third_header}: endpoint[3]:" in _message_of(path)


def test_every_problem_is_reported_in_one_message(tmp_path: Path) -> None:
    text = _replace("zdr = true", 'zdr = "yes"').replace("context_length = 8192", "context_length = -1")
    message = _message_of(_write(tmp_path, text))
    assert "providers.alpha.zdr" in message and "endpoint[1].context_length" in message
    assert ".." not in message


def test_an_unknown_provider_is_not_reported_twice_when_its_own_table_is_broken(tmp_path: Path) -> None:
    message = _message_of(_write(tmp_path, _replace('base_url = "https://beta.example/v1"', "base_url = 3")))
    assert "providers.beta.base_url" in message
    assert "unknown provider" not in message


def test_a_broken_provider_does_not_hide_an_unknown_provider_named_by_its_prefix(tmp_path: Path) -> None:
    # `providers.alph` is a prefix of `providers.alpha.zdr`: the broken alpha must not hide the unknown alph.
    text = _replace("zdr = true", 'zdr = "yes"').replace('provider = "alpha"', 'provider = "alph"')
    message = _message_of(_write(tmp_path, text))
    assert "providers.alpha.zdr" in message
    assert "unknown provider `alph`" in message


def test_an_empty_file_is_a_valid_profile_with_nothing_to_route(tmp_path: Path) -> None:
    # Decision (from the code): every section is optional, so an empty file parses to an empty profile;
    # commands that need a model then fail with a usage error (exit 2), see test_cli_explain.
    p = load_profile_file(_write(tmp_path, "", "empty.toml"))
    assert p.endpoints == () and dict(p.providers) == {} and dict(p.routing) == {}
    assert p.name == "empty"


def test_provider_variants_may_be_written_as_quoted_names_or_sub_tables() -> None:
    text = """
[providers."deepinfra/turbo"]
base_url = "https://api.deepinfra.com/v1/openai"
[providers.fireworks.fast]
base_url = "https://api.fireworks.ai/inference/v1"
[[endpoint]]
model = "m"
provider = "deepinfra/turbo"
[[endpoint]]
model = "m"
provider = "fireworks/fast"
"""
    p = parse_profile(text, "variants.toml")
    assert set(p.providers) == {"deepinfra/turbo", "fireworks/fast"}
    assert p.providers["fireworks/fast"].base_name == "fireworks"


def test_quantizations_are_case_insensitive() -> None:
    text = '[providers.a]\nbase_url = "https://a.example"\n[[endpoint]]\nmodel = "m"\nprovider = "a"\n'
    text += 'quantization = "FP8"\n'
    assert parse_profile(text, "q.toml").endpoints[0].quantization == "fp8"


CLI_CASE_IDS = (
    "toml-syntax",
    "unknown-routing-key",
    "negative-prompt-price",
    "bad-sort-enum",
    "non-utf8",
    "unknown-provider-in-endpoint",
)
CLI_CASES = [c for c in BAD_PROFILES if c[0] in CLI_CASE_IDS]


@pytest.mark.parametrize(("text", "fragments"), [(c[1], c[3]) for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_the_cli_exits_2_on_a_bad_profile_with_the_message_and_no_traceback(
    tmp_path: Path, text: str | bytes, fragments: list[str]
) -> None:
    path = _write(tmp_path, text)
    for command in (["explain-route", "--no-stdin"], ["providers"]):
        proc = subprocess.run(
            [sys.executable, "-m", "orcli", *command, "-p", str(path)],
            capture_output=True,
            text=True,
            env=_clean_env(tmp_path),
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == EXIT_USAGE, proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
        assert str(path) in proc.stderr
        assert fragments[0].lower() in proc.stderr.lower()
        assert proc.stdout == ""
