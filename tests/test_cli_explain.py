"""The real CLI (a subprocess of this interpreter): explain-route and providers, tables, JSON, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from orcli.profile.resolve import load_profile

EXAMPLE = load_profile("example", {})
KEY_VARS = sorted({p.api_key_env for p in EXAMPLE.providers.values() if p.api_key_env})
ALL_KEYS = {var: f"test-key-{i}" for i, var in enumerate(KEY_VARS)}
LLAMA = "meta-llama/llama-3.3-70b-instruct"
QWEN = "qwen/qwen-2.5-72b-instruct"
SPEC_ATTEMPT_FIELDS = {"rank", "model", "provider", "upstream_model", "price", "context_length", "health", "reason"}
SPEC_REJECTED_FIELDS = {"model", "provider", "code", "detail"}


def endpoints_of(*models: str) -> set[tuple[str, str]]:
    return {e.key for e in EXAMPLE.endpoints if e.model in models}


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    @property
    def json(self) -> dict:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


Run = Callable[..., Result]


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    """Run `python -m orcli ARGS` with a scratch state and config dir and no provider keys but those given."""
    state = tmp_path / "state"

    def run(*args: str, keys: dict[str, str] | None = None, stdin: str | None = None, **env_extra: str) -> Result:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("ORCLI_")}
        env.pop("FORCE_COLOR", None)
        env.update(ORCLI_STATE_DIR=str(state), XDG_CONFIG_HOME=str(tmp_path / "config"), COLUMNS="250")
        env.update(keys or {})
        env.update(env_extra)
        proc = subprocess.run(
            [sys.executable, "-m", "orcli", *args],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        result = Result(proc)
        assert "Traceback" not in result.out + result.err, result
        return result

    return run


def explain(cli: Run, *args: str, keys: dict[str, str] | None = ALL_KEYS, **kw) -> Result:
    return cli("explain-route", "-p", "example", "--no-stdin", "--json", *args, keys=keys, **kw)


def attempts(doc: dict, model: str | None = None) -> list[dict]:
    return [a for a in doc["attempts"] if model is None or a["model"] == model]


def providers(doc: dict, model: str | None = None) -> list[str]:
    return [a["provider"] for a in attempts(doc, model)]


def codes(doc: dict) -> dict[tuple[str, str], str]:
    return {(r["model"], r["provider"]): r["code"] for r in doc["rejected"]}


# -- tables and JSON ----------------------------------------------------------------------------------
def test_explain_route_prints_preferences_plan_and_rejections_as_tables_on_stdout(cli: Run) -> None:
    r = cli("explain-route", "-p", "example", "--no-stdin", keys={"GROQ_API_KEY": "k"})
    assert r.code == 0, r
    for title in ("Effective preferences", "Attempt plan", "Rejected"):
        assert title in r.out
    assert "groq" in r.out and "llama-3.3-70b-versatile" in r.out and "no_credentials" in r.out
    assert "$CEREBRAS_API_KEY is not set" in r.out
    assert not any(ch in r.out for ch in "╭│─"), "no box-drawing outside a terminal"


def test_explain_route_json_has_the_spec_fields(cli: Run) -> None:
    r = explain(cli, "--seed", "7")
    assert r.code == 0, r
    doc = r.json
    assert {"profile", "preferences", "request", "attempts", "rejected"} <= set(doc)
    assert doc["profile"].endswith("example.toml")
    assert {"models", "parameters", "prompt_tokens", "max_tokens"} <= set(doc["request"])
    assert doc["request"]["models"] == [LLAMA, QWEN]
    assert doc["request"]["prompt_tokens"] == 1000 and doc["request"]["max_tokens"] is None
    assert doc["preferences"]["models"] == [LLAMA, QWEN] and doc["preferences"]["sort"] is None
    assert [a["rank"] for a in doc["attempts"]] == list(range(1, len(doc["attempts"]) + 1))
    for a in doc["attempts"]:
        assert set(a) >= SPEC_ATTEMPT_FIELDS
        assert a["price"]["expected_usd"] > 0 and a["context_length"] > 0
        assert a["health"]["state"] == "healthy" and a["reason"]
    assert doc["rejected"] == []
    planned = {(a["model"], a["provider"]) for a in doc["attempts"]}
    assert planned == endpoints_of(LLAMA, QWEN)
    # partition model: every llama endpoint before any qwen one
    models = [a["model"] for a in doc["attempts"]]
    assert models == sorted(models, key=[LLAMA, QWEN].index)


def test_every_candidate_is_planned_or_rejected_exactly_once(cli: Run) -> None:
    doc = explain(cli, "--zdr", "--max-price", "prompt=0.5", keys={"GROQ_API_KEY": "k", "DEEPINFRA_API_KEY": "k"}).json
    pairs = [(a["model"], a["provider"]) for a in doc["attempts"]] + [
        (r["model"], r["provider"]) for r in doc["rejected"]
    ]
    assert sorted(pairs) == sorted(endpoints_of(LLAMA, QWEN))
    for r in doc["rejected"]:
        assert set(r) >= SPEC_REJECTED_FIELDS and r["detail"]


def test_no_keys_at_all_is_no_route_exit_3_with_every_rejection_shown(cli: Run) -> None:
    r = cli("explain-route", "-p", "example", "--no-stdin")
    assert r.code == 3, r
    assert "no_credentials" in r.out and "no route" in r.err
    r = explain(cli, keys={})
    assert r.code == 3, r
    doc = r.json
    assert doc["attempts"] == [] and doc["error"]["exit_code"] == 3 and doc["error"]["kind"] == "no_route"
    assert set(codes(doc).values()) == {"no_credentials"}
    assert set(codes(doc)) == endpoints_of(LLAMA, QWEN)


def test_zdr_with_only_a_non_zdr_provider_is_no_route(cli: Run) -> None:
    r = explain(cli, "--zdr", "--only", "together")
    assert r.code == 3, r
    c = codes(r.json)
    assert c[(LLAMA, "together")] == "zdr" and c[(QWEN, "together")] == "zdr"
    assert c[(LLAMA, "groq")] == "not_in_only"


# -- routing flags ------------------------------------------------------------------------------------
def test_order_puts_providers_first_in_that_order(cli: Run) -> None:
    doc = explain(cli, "--order", "fireworks,together", "--seed", "3").json
    assert providers(doc, LLAMA)[:2] == ["fireworks", "together"]
    assert providers(doc, QWEN)[:2] == ["fireworks", "together"]
    doc = explain(cli, "--order", "fireworks", "--order", "together", "--seed", "3").json
    assert providers(doc, LLAMA)[:2] == ["fireworks", "together"], "list flags may be repeated"


def test_only_keeps_the_named_providers_and_rejects_the_rest(cli: Run) -> None:
    doc = explain(cli, "--only", "groq,cerebras").json
    assert sorted(providers(doc)) == ["cerebras", "groq"]
    assert all(code == "not_in_only" for code in codes(doc).values())


def test_ignore_with_a_base_name_drops_every_variant(cli: Run) -> None:
    doc = explain(cli, "--ignore", "deepinfra").json
    c = codes(doc)
    assert c[(LLAMA, "deepinfra")] == "ignored" and c[(LLAMA, "deepinfra/turbo")] == "ignored"
    assert "deepinfra" not in providers(doc) and "deepinfra/turbo" not in providers(doc)
    doc = explain(cli, "--ignore", "deepinfra/turbo").json
    assert codes(doc) == {(LLAMA, "deepinfra/turbo"): "ignored"}


def test_no_fallbacks_keeps_only_the_providers_in_order(cli: Run) -> None:
    doc = explain(cli, "--order", "groq", "--no-fallbacks").json
    assert providers(doc) == ["groq"]
    assert codes(doc)[(LLAMA, "together")] == "not_in_order"
    assert doc["preferences"]["allow_fallbacks"] is False


def test_sort_price_ranks_each_model_by_expected_cost(cli: Run) -> None:
    doc = explain(cli, "--sort", "price").json
    for model in (LLAMA, QWEN):
        costs = [a["price"]["expected_usd"] for a in attempts(doc, model)]
        assert costs == sorted(costs) and len(costs) > 1
    assert [a["model"] for a in doc["attempts"]][0] == LLAMA and doc["attempts"][-1]["model"] == QWEN


def test_sort_latency_and_throughput_use_the_hints(cli: Run) -> None:
    doc = explain(cli, "--sort", "latency", "-m", LLAMA).json
    assert providers(doc)[0] == "cerebras"  # 0.2 s hint
    doc = explain(cli, "--sort", "throughput", "-m", LLAMA).json
    assert providers(doc)[:2] == ["cerebras", "groq"]  # 2100 and 280 tok/s


def test_partition_none_with_sort_price_ranks_all_models_together(cli: Run) -> None:
    doc = explain(cli, "--partition", "none", "--sort", "price").json
    costs = [a["price"]["expected_usd"] for a in doc["attempts"]]
    assert costs == sorted(costs)
    models = [a["model"] for a in doc["attempts"]]
    assert models != sorted(models, key=[LLAMA, QWEN].index), "models interleave by price"
    assert doc["preferences"]["partition"] == "none"


def test_partition_none_without_sort_is_a_usage_error(cli: Run) -> None:
    r = cli("explain-route", "-p", "example", "--no-stdin", "--partition", "none", keys=ALL_KEYS)
    assert r.code == 2, r
    assert "sort" in r.err and r.out == ""


def test_max_price_rejects_dearer_endpoints_saying_by_how_much(cli: Run) -> None:
    doc = explain(cli, "--max-price", "prompt=0.5").json
    assert all(a["price"]["prompt"] <= 0.5 for a in doc["attempts"])
    r = next(r for r in doc["rejected"] if (r["model"], r["provider"]) == (LLAMA, "groq"))
    assert r["code"] == "max_price" and "prompt $0.59" in r["detail"] and "by $0.09" in r["detail"]
    assert doc["preferences"]["max_price"] == {"prompt": 0.5}


def test_quantizations_keep_only_matching_endpoints(cli: Run) -> None:
    doc = explain(cli, "--quantizations", "fp8").json
    assert sorted(providers(doc, LLAMA)) == ["deepinfra/turbo", "together"]
    assert codes(doc)[(LLAMA, "groq")] == "quantization"
    assert codes(doc)[(LLAMA, "openrouter")] == "quantization"  # "unknown" is not fp8


def test_data_collection_deny_drops_providers_that_may_train(cli: Run) -> None:
    doc = explain(cli, "--data-collection", "deny").json
    assert codes(doc) == {(LLAMA, "openrouter"): "data_collection", (QWEN, "openrouter"): "data_collection"}


def test_zdr_keeps_only_zero_retention_providers(cli: Run) -> None:
    doc = explain(cli, "--zdr").json
    assert set(providers(doc)) == {"groq", "fireworks", "deepinfra", "deepinfra/turbo"}
    assert codes(doc)[(LLAMA, "cerebras")] == "zdr"


def test_require_parameters_counts_option_keys_as_request_parameters(cli: Run) -> None:
    doc = explain(cli, "--require-parameters", "-o", "temperature=0.2").json
    assert doc["request"]["parameters"] == ["temperature"]
    assert doc["rejected"] == []  # every example endpoint supports temperature
    doc = explain(cli, "--require-parameters", "-o", "logprobs=true", "-m", "openai/gpt-4o-mini").json
    assert providers(doc) == ["openai"]
    r = doc["rejected"][0]
    assert (r["provider"], r["code"]) == ("openrouter", "missing_parameters") and "logprobs" in r["detail"]


def test_a_soft_tool_parameter_drops_endpoints_without_it_even_without_require_parameters(cli: Run) -> None:
    doc = explain(cli, "-m", "meta-llama/llama-3.1-8b-instruct", "-o", 'response_format={"type":"json_object"}').json
    assert codes(doc) == {("meta-llama/llama-3.1-8b-instruct", "cerebras"): "missing_parameters"}


def test_max_tokens_is_checked_against_max_completion_tokens_and_context(cli: Run) -> None:
    doc = explain(cli, "--max-tokens", "20000", "-m", LLAMA).json
    assert doc["request"]["max_tokens"] == 20000
    r = next(r for r in doc["rejected"] if r["provider"] == "cerebras")
    assert r["code"] == "max_tokens" and "20,000" in r["detail"] and "8,192" in r["detail"]
    # expected cost uses max_tokens as the expected completion size
    groq = next(a for a in doc["attempts"] if a["provider"] == "groq")
    assert groq["price"]["expected_usd"] == pytest.approx(0.59 * 1000 / 1e6 + 0.79 * 20000 / 1e6)


def test_the_same_seed_gives_the_same_plan(cli: Run) -> None:
    first = providers(explain(cli, "--seed", "42").json)
    assert providers(explain(cli, "--seed", "42").json) == first


def test_assume_down_moves_a_provider_after_the_stable_ones(cli: Run) -> None:
    doc = explain(cli, "--assume-down", "groq", "-m", LLAMA, "--seed", "1").json
    assert providers(doc)[-1] == "groq"
    last = doc["attempts"][-1]
    assert last["health"]["state"] == "unstable" and "unstable" in last["reason"]


def test_assume_down_with_skip_unhealthy_rejects_the_provider(cli: Run) -> None:
    doc = explain(cli, "--assume-down", "groq", "--skip-unhealthy", "-m", LLAMA).json
    assert "groq" not in providers(doc)
    assert codes(doc) == {(LLAMA, "groq"): "unhealthy"}


def test_skip_unhealthy_without_health_history_changes_nothing(cli: Run) -> None:
    doc = explain(cli, "--skip-unhealthy").json
    assert doc["rejected"] == [] and doc["preferences"]["skip_unhealthy"] is True


def test_an_unknown_provider_name_warns_on_stderr_with_the_nearest_name(cli: Run) -> None:
    r = explain(cli, "--order", "grok")
    assert r.code == 0, r
    assert "did you mean `groq`" in r.err
    assert any("grok" in w for w in r.json["warnings"])


# -- the prompt ---------------------------------------------------------------------------------------
def test_a_prompt_from_stdin_sets_prompt_tokens_and_can_trigger_context_length(cli: Run) -> None:
    big = "word " * 28_000  # 140,000 chars: ~35,000 tokens, over the 32,768 of every qwen endpoint
    r = cli("explain-route", "-p", "example", "--json", keys=ALL_KEYS, stdin=big)
    assert r.code == 0, r
    doc = r.json
    assert doc["request"]["prompt_tokens"] == 35_000
    c = codes(doc)
    assert {c[k] for k in endpoints_of(QWEN)} == {"context_length"}
    assert "35,000" in next(x["detail"] for x in doc["rejected"] if x["model"] == QWEN)
    assert set(providers(doc)) == {p for m, p in endpoints_of(LLAMA)}


def test_only_qwen_with_a_big_prompt_is_no_route(cli: Run) -> None:
    r = cli("explain-route", "-p", "example", "-m", QWEN, keys=ALL_KEYS, stdin="x" * 140_000)
    assert r.code == 3, r
    assert "context_length" in r.out


def test_stdin_and_argument_are_joined_and_no_stdin_ignores_stdin(cli: Run) -> None:
    r = cli("explain-route", "-p", "example", "--json", "a" * 400, keys=ALL_KEYS, stdin="b" * 800)
    assert r.json["request"]["prompt_tokens"] == (800 + 2 + 400) // 4 + 1  # "stdin\n\nargument", rounded up
    r = cli("explain-route", "-p", "example", "--json", "--no-stdin", keys=ALL_KEYS, stdin="b" * 8000)
    assert r.json["request"]["prompt_tokens"] == 1000
    r = cli("explain-route", "-p", "example", "--json", "--no-stdin", "a" * 400, keys=ALL_KEYS, stdin="b" * 8000)
    assert r.json["request"]["prompt_tokens"] == 100


# -- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--sort", "cheapest"], "--sort"),
        (["--partition", "sideways"], "--partition"),
        (["--data-collection", "maybe"], "--data-collection"),
        (["--max-price", "prompt=abc"], "abc"),
        (["--max-price", "prompt=-1"], "--max-price"),
        (["--max-price", "dinner=1"], "dinner"),
        (["-m", "no/such-model"], "no/such-model"),
        (["-m", "meta-llama/llama-3.3-70b"], "Did you mean `meta-llama/llama-3.3-70b-instruct`"),
        (["--assume-down", "nosuch"], "nosuch"),
        (["-o", "temperature"], "temperature"),
        (["-o", "max_tokens=lots"], "max_tokens"),
        (["--seed", "abc"], "abc"),
        (["--max-tokens", "0"], "--max-tokens"),
        (["-p", "nosuchprofile"], "nosuchprofile"),
        (["--bogus-flag"], "--bogus-flag"),
    ],
)
def test_bad_flag_values_exit_2_with_a_message_and_no_traceback(cli: Run, args: list[str], needle: str) -> None:
    r = cli("explain-route", "-p", "example", "--no-stdin", *args, keys=ALL_KEYS)
    assert r.code == 2, r
    assert needle in r.err
    assert r.out == ""


def test_a_usage_error_with_json_prints_one_json_document_with_an_error_object(cli: Run) -> None:
    r = explain(cli, "--sort", "cheapest")
    assert r.code == 2, r
    assert r.json["error"]["exit_code"] == 2 and "--sort" in r.json["error"]["message"]


def test_a_flag_parsing_error_with_json_still_prints_a_json_document(cli: Run) -> None:
    r = explain(cli, "--seed", "abc")
    assert r.code == 2
    assert r.json["error"]["exit_code"] == 2


def test_an_empty_profile_has_nothing_to_route_exit_2(cli: Run, tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    r = cli("explain-route", "-p", str(empty), "--no-stdin")
    assert r.code == 2, r
    assert "no model to route" in r.err
    r = cli("providers", "-p", str(empty), "--json")
    assert r.code == 0 and r.json["providers"] == []


def test_orcli_profile_env_selects_the_profile(cli: Run) -> None:
    r = cli("explain-route", "--no-stdin", "--json", ORCLI_PROFILE="local")
    assert r.code == 0, r
    assert r.json["profile"].endswith("local.toml")
    assert providers(r.json) == ["ollama", "llamacpp", "vllm"]  # the profile's order; no keys needed


# -- providers ----------------------------------------------------------------------------------------
def test_providers_prints_a_table_with_key_status(cli: Run) -> None:
    r = cli("providers", "-p", "example", keys={"GROQ_API_KEY": "canary-secret-123"})
    assert r.code == 0, r
    assert "GROQ_API_KEY set" in r.out and "CEREBRAS_API_KEY MISSING" in r.out
    assert "deepinfra/turbo" in r.out and "llama-3.3-70b-versatile" in r.out
    assert "canary-secret-123" not in r.out + r.err


def test_providers_json_reports_key_set_but_never_the_key(cli: Run) -> None:
    r = cli("providers", "-p", "example", "--json", keys={"GROQ_API_KEY": "canary-secret-123"})
    assert r.code == 0, r
    assert "canary-secret-123" not in r.out + r.err
    doc = r.json
    by_name = {p["name"]: p for p in doc["providers"]}
    assert set(by_name) == set(EXAMPLE.providers)
    assert by_name["groq"]["key_set"] is True and by_name["groq"]["api_key_env"] == "GROQ_API_KEY"
    assert by_name["cerebras"]["key_set"] is False
    groq = by_name["groq"]
    assert {"data_collection", "zdr", "endpoints"} <= set(groq)
    e = next(e for e in groq["endpoints"] if e["model"] == LLAMA)
    assert e["price"]["prompt"] == 0.59 and e["context_length"] == 131072 and e["quantization"] == "fp16"
    assert "tools" in e["parameters"] and e["health"]["state"] == "healthy"
    assert sum(len(p["endpoints"]) for p in doc["providers"]) == len(EXAMPLE.endpoints)


def test_providers_json_for_local_needs_no_keys(cli: Run) -> None:
    doc = cli("providers", "-p", "local", "--json").json
    assert all(p["key_set"] is True and p["api_key_env"] is None for p in doc["providers"])


def test_an_empty_key_counts_as_unset(cli: Run) -> None:
    doc = cli("providers", "-p", "example", "--json", keys={"GROQ_API_KEY": "  "}).json
    assert next(p for p in doc["providers"] if p["name"] == "groq")["key_set"] is False


# -- start-up -----------------------------------------------------------------------------------------
IMPORT_PROBE = """
import sys
sys.argv = ["orcli", *sys.argv[1:]]
from orcli.__main__ import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in ("httpx", "httpcore", "anyio", "h11", "pydantic") if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""


@pytest.mark.parametrize(
    "command",
    [
        ["explain-route", "-p", "example", "--no-stdin"],
        ["explain-route", "-p", "example", "--no-stdin", "--json"],
        ["providers", "-p", "example", "--json"],
    ],
)
def test_explain_route_and_providers_never_import_httpx(tmp_path: Path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("ORCLI_")}
    env.update(ORCLI_STATE_DIR=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"), GROQ_API_KEY="k")
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert "HEAVY=\n" in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr


def test_importtime_shows_no_httpx_for_explain_route(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("ORCLI_")}
    env.update(ORCLI_STATE_DIR=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "orcli", "explain-route", "-p", "example", "--no-stdin"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert "orcli.routing.planner" in imported, "the probe must see orcli's own imports"
    assert not [m for m in imported if m.split(".")[0] == "httpx"]


def test_explain_route_warns_that_ask_would_refuse_plain_http_to_a_remote_host(tmp_path: Path) -> None:
    profile = tmp_path / "insecure.toml"
    profile.write_text(
        '[routing]\nmodels = ["m"]\n[providers.remote]\nbase_url = "http://10.1.2.3:8000/v1"\n'
        '[[endpoint]]\nmodel = "m"\nprovider = "remote"\n'
    )
    env = {**os.environ, "ORCLI_STATE_DIR": str(tmp_path / "state")}
    run = subprocess.run(
        [sys.executable, "-m", "orcli", "explain-route", "--profile", str(profile), "--no-stdin"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr
    assert "ask would refuse this route" in run.stderr and "allow_insecure" in run.stderr
