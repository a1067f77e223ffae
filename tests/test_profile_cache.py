"""Issue 13 item 6: the validated-profile cache is private, keyed on the file and orcli, and never changes what
a command sees: anything off or unreadable and the profile is parsed again."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from orcli.errors import ProfileError
from orcli.profile import cache as profile_cache
from orcli.profile.cache import cache_file, load_cached
from orcli.profile.resolve import load_profile, load_profile_file


def _profile_text(n: int, price: float = 0.5) -> str:
    parts = [
        '[routing]\nmodels = ["m0"]\n\n[providers.p]\nbase_url = "https://p.example/v1"\nheaders = { X-Title = "t" }\n'
    ]
    parts += [
        f'[[endpoint]]\nmodel = "m{i}"\nprovider = "p"\nprice = {{ prompt = {price}, completion = 1 }}\n'
        f'parameters = ["tools", "temperature"]\nquantization = "FP8"\n'
        for i in range(n)
    ]
    return "\n".join(parts)


class Counting:
    """load_profile_file, counting how often the TOML was really parsed."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, path: Path):
        self.calls += 1
        return load_profile_file(path)


@pytest.fixture
def setup(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(_profile_text(50))
    return path, tmp_path / "state", Counting()


def test_second_load_comes_from_the_cache_and_equals_the_parsed_profile(setup):
    path, state, parse = setup
    first = load_cached(path, state, parse, min_size=0)
    second = load_cached(path, state, parse, min_size=0)
    assert parse.calls == 1
    assert second == first == load_profile_file(path)
    assert second.providers["p"].headers["X-Title"] == "t"
    with pytest.raises(TypeError):
        second.providers["x"] = None  # still read-only mappings
    assert second.endpoints[0].price.prompt == 0.5 and second.endpoints[0].quantization == "fp8"


def test_an_unknown_price_comes_back_unknown_from_the_cache(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(_profile_text(30).replace("price = { prompt = 0.5, completion = 1 }\n", "", 1))
    parse = Counting()
    first = load_cached(path, tmp_path / "state", parse, min_size=0)
    second = load_cached(path, tmp_path / "state", parse, min_size=0)
    assert parse.calls == 1  # really from the cache
    assert first.endpoints[0].price is None and second.endpoints[0].price is None
    assert second == first


def test_cache_file_is_private(setup):
    path, state, parse = setup
    load_cached(path, state, parse, min_size=0)
    where = cache_file(state, path)
    assert stat.S_IMODE(where.stat().st_mode) == 0o600
    assert where.parent == state  # beside the health store, which keeps every file in it 0600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_an_edited_profile_is_parsed_again(setup):
    path, state, parse = setup
    load_cached(path, state, parse, min_size=0)
    path.write_text(_profile_text(50, price=0.7))  # same size, new content
    assert load_cached(path, state, parse, min_size=0).endpoints[0].price.prompt == 0.7
    assert parse.calls == 2


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage"])
def test_a_damaged_cache_is_ignored_and_rewritten(setup, damage):
    path, state, parse = setup
    good = load_cached(path, state, parse, min_size=0)
    where = cache_file(state, path)
    blob = bytearray(where.read_bytes())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0x20
    elif damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "empty":
        blob = bytearray()
    else:
        blob = bytearray(b"\x00\xffnot marshal at all" * 10)
    where.write_bytes(bytes(blob))
    assert load_cached(path, state, parse, min_size=0) == good
    assert parse.calls == 2
    assert load_cached(path, state, parse, min_size=0) == good  # rewritten: a hit again
    assert parse.calls == 2


def test_a_cache_readable_by_others_is_not_trusted(setup):
    path, state, parse = setup
    load_cached(path, state, parse, min_size=0)
    os.chmod(cache_file(state, path), 0o644)
    load_cached(path, state, parse, min_size=0)
    assert parse.calls == 2


def test_a_symlinked_cache_file_is_never_followed(setup, tmp_path):
    path, state, parse = setup
    load_cached(path, state, parse, min_size=0)
    where = cache_file(state, path)
    real = tmp_path / "elsewhere.bin"
    where.rename(real)
    where.symlink_to(real)
    load_cached(path, state, parse, min_size=0)
    assert parse.calls == 2  # not read through the link
    assert where.is_symlink() or not where.exists() or where.resolve() != real


def test_a_symlinked_state_directory_is_not_written_through(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(_profile_text(20))
    target = tmp_path / "target"
    target.mkdir()
    state = tmp_path / "state"
    state.symlink_to(target, target_is_directory=True)
    load_cached(path, state, load_profile_file, min_size=0)
    assert list(target.iterdir()) == []


def test_another_orcli_version_does_not_read_the_cache(setup, monkeypatch):
    path, state, parse = setup
    load_cached(path, state, parse, min_size=0)
    monkeypatch.setattr(profile_cache, "__version__", "99.0")
    load_cached(path, state, parse, min_size=0)
    assert parse.calls == 2


def test_an_invalid_profile_raises_every_time_and_is_never_cached(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(_profile_text(20, price=-1))
    state = tmp_path / "state"
    for _ in range(2):
        with pytest.raises(ProfileError, match="price.prompt"):
            load_cached(path, state, load_profile_file, min_size=0)
    assert not cache_file(state, path).exists()


def test_small_profiles_are_parsed_directly(setup):
    path, state, parse = setup
    load_cached(path, state, parse, min_size=10**9)
    assert not state.exists()


def test_an_unwritable_state_dir_only_costs_a_parse(setup):
    path, _, parse = setup
    blocker = path.parent / "blocker"
    blocker.write_text("a file, not a directory")
    assert load_cached(path, blocker, parse, min_size=0) == load_cached(path, blocker, parse, min_size=0)
    assert parse.calls == 2


def test_load_profile_uses_the_cache_in_the_state_dir(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(_profile_text(400))
    assert path.stat().st_size >= profile_cache.MIN_SIZE
    env = {"ORCLI_STATE_DIR": str(tmp_path / "state")}
    first = load_profile(str(path), env)
    assert cache_file(tmp_path / "state", path).is_file()
    assert load_profile(str(path), env) == first


def test_every_section_survives_the_cache(tmp_path):
    text = _profile_text(30) + '\n[health]\nwindow = 120\nstore = "redis://127.0.0.1:6379/0"\n\n[timeouts]\nidle = 9\n'
    text = text.replace(
        "[routing]\n", '[routing]\nsort = { by = "price", partition = "none" }\nmax_price = { prompt = 2 }\n', 1
    )
    path = tmp_path / "all.toml"
    path.write_text(text)
    parse = Counting()
    first = load_cached(path, tmp_path / "state", parse, min_size=0)
    second = load_cached(path, tmp_path / "state", parse, min_size=0)
    assert parse.calls == 1
    assert second == first
    assert second.health == first.health and second.timeouts.idle == 9
    assert dict(second.routing) == dict(first.routing)


@pytest.mark.parametrize(
    "provider",
    [
        '[providers.p]\nbase_url = "https://p.example/v1"\n',  # every provider key at its default
        '[providers.p]\napi = "anthropic"\nanthropic_version = "2023-06-01"\n',  # dialect settings, default URL
    ],
    ids=["defaults", "dialect-settings"],
)
def test_a_profile_of_defaults_and_dialect_settings_is_cached_too(tmp_path, provider):
    path = tmp_path / "big.toml"
    endpoints = "".join(f'[[endpoint]]\nmodel = "m{i}"\nprovider = "p"\n' for i in range(30))
    path.write_text(provider + endpoints)
    parse = Counting()
    first = load_cached(path, tmp_path / "state", parse, min_size=0)
    second = load_cached(path, tmp_path / "state", parse, min_size=0)
    assert parse.calls == 1, "the profile was not cached"
    assert second == first
    with pytest.raises(TypeError):
        second.providers["p"].headers["X-New"] = "v"  # a default is as read-only as a given table
