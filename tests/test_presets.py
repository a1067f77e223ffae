"""Presets (`[presets.NAME]`, `--preset NAME`, serve's `@preset/NAME`; docs/routing.md): validation, precedence
flags > preset > [routing] > defaults, the preferences' source, and the three commands that use them."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from cli_harness import MODEL, MODEL_B, Cli
from test_serve_e2e import serving
from upstream import Upstream, ok

from orcli.errors import ProfileError, UsageError
from orcli.profile.parse import parse_profile
from orcli.routing.route import RouteInput, build_route

BASE = """
[routing]
models = ["m1"]
sort = "price"

[providers.a]
base_url = "https://a.example/v1"
[providers.b]
base_url = "https://b.example/v1"

[[endpoint]]
model = "m1"
provider = "a"
price = { prompt = 1.0, completion = 1.0 }
[[endpoint]]
model = "m1"
provider = "b"
price = { prompt = 2.0, completion = 2.0 }
[[endpoint]]
model = "m2"
provider = "b"
price = { prompt = 1.0, completion = 1.0 }
"""

PRESETS = """
[presets.careful]
models = ["m2", "m1"]
sort = "latency"
system = "Be careful."
options = { temperature = 0.1, top_p = 0.5 }
max_tokens = 64

[presets.cheap]
only = ["a"]
"""


def load(extra: str = PRESETS):
    return parse_profile(BASE + extra, "p.toml")


def route(given: RouteInput, prompt: str | None = "hi"):
    return build_route(load(), given, prompt, {})


def test_a_preset_brings_models_routing_system_options_and_max_tokens() -> None:
    r = route(RouteInput(preset="careful"))
    assert r.prefs.models == ("m2", "m1")
    assert r.prefs.sort == "latency"
    assert r.prefs.sources["models"] == "preset careful" and r.prefs.sources["sort"] == "preset careful"
    assert r.prefs.sources["partition"] == "default"
    assert r.system == "Be careful."
    assert r.options == {"temperature": 0.1, "top_p": 0.5, "max_tokens": 64}
    assert r.request.max_tokens == 64


def test_flags_beat_the_preset_key_by_key_and_the_preset_beats_routing() -> None:
    given = RouteInput(
        overrides={"sort": "price"},
        preset="careful",
        system="Flag system.",
        options=("temperature=0.9",),
        max_tokens=10,
    )
    r = route(given)
    assert r.prefs.sort == "price" and r.prefs.sources["sort"] == "flag"
    assert r.prefs.models == ("m2", "m1") and r.prefs.sources["models"] == "preset careful"  # not overridden
    assert r.system == "Flag system."
    assert r.options == {"temperature": 0.9, "top_p": 0.5, "max_tokens": 10}
    cheap = route(RouteInput(preset="cheap"))
    assert cheap.prefs.models == ("m1",) and cheap.prefs.sources["models"] == "profile"  # [routing] under the preset
    assert [a.endpoint.provider for a in cheap.plan.attempts] == ["a"]
    assert cheap.prefs.sources["only"] == "preset cheap"


def test_an_unknown_preset_is_a_usage_error_naming_the_existing_ones() -> None:
    with pytest.raises(UsageError, match=r"no preset `carefull`.*presets: careful, cheap"):
        route(RouteInput(preset="carefull"))
    with pytest.raises(UsageError, match=r"presets: none"):
        build_route(load(""), RouteInput(preset="x"), "hi", {})


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[presets.x]\nsortt = 'price'\n", "presets.x.sortt: unknown key. Did you mean `sort`?"),
        ("[presets.x]\nsort = 'fastest'\n", "presets.x.sort: expected one of"),
        ("[presets.x]\nmax_tokens = 0\n", "presets.x.max_tokens: expected a whole number > 0"),
        ("[presets.x]\noptions = { stream = true }\n", "presets.x.options.stream: is set by orcli"),
        ("[presets.x]\noptions = 3\n", "presets.x.options: expected a table of request options"),
        ("[presets.x]\nsystem = ''\n", "presets.x.system: expected a non-empty string"),
        ("presets = 1\n", "presets: expected a table of presets"),
    ],
)
def test_a_bad_preset_is_a_profile_error_with_its_key_path(toml: str, needle: str) -> None:
    text = toml + BASE if toml.startswith("presets =") else BASE + toml
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "p.toml")
    assert needle.lower() in str(info.value).lower()


def test_presets_survive_the_profile_cache(tmp_path: Path) -> None:
    from orcli.profile.cache import _plain, _rebuild

    profile = load(PRESETS)
    again = _rebuild(_plain(profile))
    assert {k: dict(v) for k, v in again.presets.items()} == {k: dict(v) for k, v in profile.presets.items()}


# -- end to end -----------------------------------------------------------------------------------------
E2E_PRESET = f"""
[presets.team]
models = ["{MODEL_B}"]
order = ["b"]
system = "You are terse."
options = {{ temperature = 0.25 }}
"""


@pytest.fixture
def cli(upstream: Upstream, tmp_path: Path) -> Cli:
    c = Cli(upstream, tmp_path)
    path = c.profile(["a", "b"], models=(MODEL, MODEL_B))
    path.write_text(path.read_text() + E2E_PRESET)
    return c


def test_ask_with_a_preset_sends_its_system_prompt_and_options_to_its_model(cli: Cli, upstream: Upstream) -> None:
    run = cli("ask", "--preset", "team", "--json", "hi")
    assert run.code == 0, run
    doc = run.json()
    assert (doc["model"], doc["provider"]) == (MODEL_B, "b")
    body = upstream.requests("b")[0].body
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert body["temperature"] == 0.25
    # A flag still wins over the preset, key by key.
    run = cli("ask", "--preset", "team", "-s", "Be verbose.", "-o", "temperature=0.9", "--order", "a", "hi")
    assert run.code == 0, run
    body = upstream.requests("a")[-1].body
    assert body["messages"][0]["content"] == "Be verbose." and body["temperature"] == 0.9
    assert body["model"] == MODEL_B


def test_explain_route_names_the_preset_as_the_source(cli: Cli) -> None:
    run = cli("explain-route", "--preset", "team", "--json")
    assert run.code == 0, run
    doc = run.json()
    assert doc["request"]["models"] == [MODEL_B] and doc["preferences"]["order"] == ["b"]
    table = cli("explain-route", "--preset", "team")
    assert table.code == 0, table
    row = next(line for line in table.err.splitlines() + table.out.splitlines() if line.lstrip().startswith("order"))
    assert "preset team" in row, table


def test_an_unknown_preset_exits_2_naming_the_presets(cli: Cli) -> None:
    for command in ("ask", "explain-route"):
        run = cli(command, "--preset", "tema", "--json", "hi")
        assert run.code == 2, run
        assert "team" in run.json()["error"]["message"], run


def test_serve_routes_the_model_at_preset_name(tmp_path: Path, upstream: Upstream) -> None:
    upstream.script("beta", ok("from beta"))
    with serving(tmp_path, upstream) as gw:
        profile = tmp_path / "profile.toml"
        preset = f'\n[presets.team]\nmodels = ["{MODEL_B}"]\norder = ["beta"]\nsystem = "You are terse."\n'
        profile.write_text(profile.read_text() + preset)
        body = {"model": "@preset/team", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.3}
        reply = _post_until_reloaded(gw.url, body)
        assert reply.status_code == 200, reply.text
        doc = reply.json()
        assert doc["provider"] == "beta" and doc["model"] == MODEL_B
        sent = upstream.requests("beta")[-1].body
        assert sent["messages"][0] == {"role": "system", "content": "You are terse."} and sent["temperature"] == 0.3
        unknown = httpx.post(f"{gw.url}/chat/completions", json={**body, "model": "@preset/nope"}, timeout=30)
        assert unknown.status_code == 400 and "team" in unknown.json()["error"]["message"]


def _post_until_reloaded(url: str, body: dict) -> httpx.Response:
    """serve reloads a changed profile on the next request; the edit above may land within one mtime tick."""
    import time

    deadline = time.monotonic() + 10
    while True:
        reply = httpx.post(f"{url}/chat/completions", json=body, timeout=30)
        if reply.status_code == 200 or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


def test_json_of_a_preset_error_is_one_document(cli: Cli) -> None:
    run = cli("explain-route", "--preset", "nope", "--json")
    assert run.code == 2
    assert json.loads(run.out)["error"]


def test_profiles_check_lints_presets_like_routing() -> None:
    from orcli.profile.check import check_profile

    profile = load(PRESETS + '\n[presets.typo]\nmodels = ["m9"]\nonly = ["zz"]\n')
    found = {(p.code, p.subject) for p in check_profile(profile, {})}
    assert ("model_without_endpoint", "m9") in found
    assert ("unknown_name", "presets.typo.only") in found
    assert not any(subject.startswith("presets.careful") for _, subject in found)
