"""models.dev's catalogue (`https://models.dev/api.json`) -> providers and their native model ids.

docs/profiles.md#from-modelsdev. The catalogue is one JSON object: provider id -> {`id`, `name`, `env` (key
variables), `npm` (the AI SDK package, which says the wire dialect), `api` (base URL, given for
OpenAI-compatible packages), `doc`, `models`: native id -> {`name`, `cost` {`input`, `output`} USD per 1M
tokens, `limit` {`context`, `output`}, `tool_call`, `structured_output`, `temperature`, `reasoning`, ...,
`provider` {`npm`, `api`} overriding the provider's}}. Every entry is checked on its own: a hostile or broken
one (a price of 1e999999, NaN, a wrong type, a name that would break TOML) is skipped and listed, never an
internal error (docs/profiles.md#hostile-catalogues).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from orcli.errors import UsageError
from orcli.profile.catalogue import load_json, price_value, toml_number
from orcli.profile.provider_table import KNOWN_PROVIDERS, KnownProvider

DEFAULT_URL = "https://models.dev/api.json"
# npm package -> orcli dialect. The OpenAI-compatible packages all speak `POST {base}/chat/completions`.
NPM_DIALECTS = {
    "@ai-sdk/anthropic": "anthropic",
    "@ai-sdk/google": "gemini",
    "@ai-sdk/azure": "azure",
    "@ai-sdk/amazon-bedrock": "bedrock",
    "@ai-sdk/google-vertex": "vertex",
    "@ai-sdk/google-vertex/anthropic": "vertex-anthropic",
}
OPENAI_PACKAGES = frozenset(
    {
        "@ai-sdk/openai-compatible",
        "@ai-sdk/openai",
        "@ai-sdk/groq",
        "@ai-sdk/cerebras",
        "@ai-sdk/togetherai",
        "@ai-sdk/deepinfra",
        "@ai-sdk/fireworks",
        "@ai-sdk/mistral",
        "@ai-sdk/xai",
        "@ai-sdk/deepseek",
        "@ai-sdk/perplexity",
        "@openrouter/ai-sdk-provider",
    }
)
# models.dev provider id -> the OpenRouter slug orcli's provider table (and most profiles) use for it.
OPENROUTER_SLUGS = {
    "togetherai": "together",
    "fireworks-ai": "fireworks",
    "novita-ai": "novita",
    "google": "google-ai-studio",
}
PROFILE_NAMES = {"togetherai": "together", "fireworks-ai": "fireworks", "novita-ai": "novita"}
# A model id orcli writes and prints: printable ASCII without quotes, backslashes, spaces or controls (Cloudflare's
# `@cf/meta/...` and the `~anthropic/...-latest` aliases of routers included).
_ID = re.compile(r"[A-Za-z0-9@~][A-Za-z0-9._:/@+~-]{0,199}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ENV = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
_MAX_TOKENS = 10**9


class Offering(NamedTuple):
    """One model as one provider serves it, in orcli's units."""

    provider: str  # models.dev provider id
    native_id: str
    api: str | None  # orcli dialect, None when the package is one orcli does not speak
    npm: str
    base_url: str | None
    price: Mapping[str, Decimal] | None
    context_length: int | None
    max_completion_tokens: int | None
    parameters: tuple[str, ...]


class ProviderInfo(NamedTuple):
    id: str
    name: str
    env: tuple[str, ...]
    npm: str
    base_url: str | None


class ModelsDev(NamedTuple):
    providers: dict[str, ProviderInfo]
    models: dict[str, dict[str, Any]]  # provider id -> native id -> its raw entry (checked when it is wanted)
    skipped: list[str]  # what was unusable, and why


def parse(text: str, source: str) -> ModelsDev:
    """The catalogue's providers and model ids; a non-object is a usage error, a bad provider or model id is
    skipped and listed. A model's own entry is checked only when an import wants it (`offering`): 5,000
    offerings are not converted to import one model."""
    try:
        payload = load_json(text)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{source}: not JSON: {str(exc)[:200]}.") from None
    if not isinstance(payload, dict) or not payload:
        raise UsageError(
            f"{source}: not a models.dev catalogue (expected an object of providers, as {DEFAULT_URL} serves)."
        )
    providers: dict[str, ProviderInfo] = {}
    models: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for key, raw in payload.items():
        info = _provider(key, raw, skipped)
        if info is None:
            continue
        providers[info.id] = info
        given = raw.get("models")
        if not isinstance(given, dict):
            skipped.append(f"provider `{info.id}`: `models` is not an object; skipped")
            continue
        models[info.id] = {mid: entry for mid, entry in given.items() if isinstance(mid, str) and _ID.fullmatch(mid)}
        bad = [mid for mid in given if mid not in models[info.id]]
        if bad:  # one line per provider, whatever the number
            skipped.append(
                f"provider `{info.id}`: {len(bad)} model id(s) orcli cannot write (e.g. {_shown(bad[0])}); skipped"
            )
    return ModelsDev(providers, models, skipped)


def offering(catalogue: ModelsDev, provider_id: str, native_id: str) -> Offering | str:
    """One provider's entry for one model in orcli's units, or why it is unusable."""
    reasons: list[str] = []
    found = _offering(catalogue.providers[provider_id], native_id, catalogue.models[provider_id][native_id], reasons)
    return found if found is not None else reasons[0]


def _provider(key: object, raw: object, skipped: list[str]) -> ProviderInfo | None:
    if not isinstance(key, str) or not _SLUG.fullmatch(key):
        skipped.append(f"a provider whose id is not a slug ({_shown(key)}); skipped")
        return None
    if not isinstance(raw, dict):
        skipped.append(f"provider `{key}`: not an object; skipped")
        return None
    env = raw.get("env")
    env_names = tuple(e for e in env if isinstance(e, str) and _ENV.fullmatch(e)) if isinstance(env, list) else ()
    npm = _text(raw.get("npm"))
    name = _text(raw.get("name")) or key
    return ProviderInfo(key, _printable(name)[:80], env_names, _printable(npm)[:100], _url(raw.get("api")))


def _offering(info: ProviderInfo, model_id: str, raw: object, skipped: list[str]) -> Offering | None:
    if not isinstance(raw, dict):
        skipped.append(f"{model_id} on {info.id}: not an object; skipped")
        return None
    given = raw.get("provider")
    own: dict[str, Any] = given if isinstance(given, dict) else {}
    npm = _text(own.get("npm")) or info.npm
    base_url = _url(own.get("api")) or info.base_url
    api = NPM_DIALECTS.get(npm) or ("openai" if npm in OPENAI_PACKAGES else None)
    cost = raw.get("cost")
    price = None
    if isinstance(cost, dict):
        prompt, completion = price_value(cost.get("input")), price_value(cost.get("output"))
        if prompt is None or completion is None:
            skipped.append(f"{model_id} on {info.id}: its cost is not a usable number; skipped")
            return None
        price = {"prompt": prompt, "completion": completion}
    elif cost is not None:
        skipped.append(f"{model_id} on {info.id}: `cost` is not an object; skipped")
        return None
    given_limit = raw.get("limit")
    limit: dict[str, Any] = given_limit if isinstance(given_limit, dict) else {}
    return Offering(
        info.id,
        model_id,
        api,
        _printable(npm)[:100],
        base_url,
        price,
        _tokens(limit.get("context")),
        _tokens(limit.get("output")),
        _parameters(raw),
    )


def _parameters(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """Request parameters the capabilities imply (what `require_parameters` checks)."""
    params = ["max_tokens", "stop"]
    if raw.get("temperature") is True:
        params += ["temperature", "top_p"]
    tool_call = raw.get("tool_call")
    if tool_call is True or isinstance(tool_call, dict) and tool_call.get("supported") is True:
        params += ["tools", "tool_choice"]
    if raw.get("structured_output") is True:
        params.append("response_format")
    if raw.get("reasoning") is True:
        params.append("reasoning")
    return tuple(params)


def _tokens(raw: object) -> int | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    if isinstance(raw, float) and not raw.is_integer():
        return None
    value = int(raw)
    return value if 0 < value <= _MAX_TOKENS else None


def _url(raw: object) -> str | None:
    if not isinstance(raw, str) or len(raw) > 300 or not re.fullmatch(r"https?://[^\s\"'\\<>]+", raw.strip()):
        return None
    if "$" in _PLACEHOLDER.sub("", raw):  # `${NAME}` placeholders only; any other `$` is not a URL of ours
        return None
    return raw.strip().rstrip("/")


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _printable(text: str) -> str:
    return "".join(c for c in text if c.isprintable())


def _shown(value: object) -> str:
    return json.dumps(_printable(str(value))[:60])


# -- in profile terms ------------------------------------------------------------------------------------
def profile_name(provider_id: str) -> str:
    """The name a new profile gives a models.dev provider: the OpenRouter slug where orcli knows one."""
    return PROFILE_NAMES.get(provider_id, provider_id)


def known_row(provider_id: str) -> KnownProvider | None:
    return KNOWN_PROVIDERS.get(OPENROUTER_SLUGS.get(provider_id, provider_id))


def key_variable(info: ProviderInfo) -> str | None:
    """The key variable: the provider table's where orcli knows it, else the catalogue's first `*_KEY`."""
    row = known_row(info.id)
    if row is not None and row.api_key_env in info.env:
        return row.api_key_env
    keys = [e for e in info.env if e.endswith("_KEY") or e.endswith("_TOKEN")]
    names = keys or list(info.env)
    return names[0] if names else None


def provider_table(info: ProviderInfo, offering: Offering) -> dict[str, Any] | None:
    """The `[providers.NAME]` table for an offering, or None when orcli knows no base URL for it."""
    row = known_row(info.id)
    base_url = offering.base_url or (row.base_url if row is not None else None)
    if base_url is None or offering.api is None:
        return None
    table: dict[str, Any] = {"base_url": base_url, "api": offering.api}
    key = key_variable(info)
    if key is not None:
        table["api_key_env"] = key
    table["data_collection"] = row.data_collection if row is not None else "allow"
    table["zdr"] = row.zdr if row is not None else False
    return table


def endpoint_table(model: str, provider: str, offering: Offering) -> dict[str, Any]:
    table: dict[str, Any] = {"model": model, "provider": provider, "upstream_model": offering.native_id}
    if offering.price is not None:
        table["price"] = {k: toml_number(v) for k, v in offering.price.items()}
    if offering.context_length is not None:
        table["context_length"] = offering.context_length
    if offering.max_completion_tokens is not None:
        table["max_completion_tokens"] = offering.max_completion_tokens
    table["parameters"] = list(offering.parameters)
    return table


def ids_of(catalogue: ModelsDev, slug: str) -> list[str] | None:
    """The native ids models.dev lists for an OpenRouter provider slug (`together` -> `togetherai`'s)."""
    base = slug.split("/", 1)[0]
    reverse = {v: k for k, v in OPENROUTER_SLUGS.items()}
    for candidate in (reverse.get(base), base):
        if candidate is not None and candidate in catalogue.models:
            return list(catalogue.models[candidate])
    return None


def wanted_providers(catalogue: ModelsDev, names: Iterable[str]) -> list[str]:
    """`--provider` names (models.dev ids or their OpenRouter slugs) -> models.dev ids; unknown -> UsageError."""
    reverse = {v: k for k, v in OPENROUTER_SLUGS.items()}
    found: list[str] = []
    for name in names:
        pid = name if name in catalogue.providers else reverse.get(name)
        if pid is None or pid not in catalogue.providers:
            raise UsageError(f"--provider {name}: the catalogue has no such provider.")
        found.append(pid)
    return found


class Imported(NamedTuple):
    """The catalogue in profile terms for the wanted models, and what could not be written."""

    providers: dict[str, dict[str, Any]]
    endpoints: list[dict[str, Any]]
    unsupported: dict[str, list[str]]  # provider -> why (once per provider), for the listing
    ambiguous: list[tuple[str, str, tuple[str, ...]]]  # (model, provider, equal candidates)
    unserved: list[str]  # wanted models no provider of the catalogue serves
    unusable: list[str]  # wanted offerings whose entry is broken or hostile, and why


def to_profile(
    catalogue: ModelsDev,
    models: Iterable[str],
    provider_ids: Iterable[str],
    dialects: Iterable[str],
    env: Mapping[str, str],
) -> Imported:
    """One endpoint per (wanted model, provider serving the same model), under the provider's native id."""
    from orcli.profile.model_ids import match

    known = set(dialects)
    chosen = list(provider_ids) or list(catalogue.models)
    out = Imported({}, [], {}, [], [], [])
    for model in models:
        served = False
        for pid in chosen:
            found = match(model, catalogue.models.get(pid, ()))
            if found.ambiguous:
                out.ambiguous.append((model, profile_name(pid), found.candidates))
                continue
            if found.native_id is None:
                continue
            served = True
            usable = offering(catalogue, pid, found.native_id)
            if isinstance(usable, str):
                out.unusable.append(usable)
                continue
            table, why = _callable(catalogue.providers[pid], usable, known, env)
            if table is None:
                out.unsupported.setdefault(profile_name(pid), []).append(f"{model}: {why}")
                continue
            name = profile_name(pid)
            out.providers.setdefault(name, table)
            out.endpoints.append(endpoint_table(model, name, usable))
        if not served:
            out.unserved.append(model)
    return out


def _callable(
    info: ProviderInfo, offering: Offering, dialects: set[str], env: Mapping[str, str]
) -> tuple[dict[str, Any] | None, str]:
    """The provider table for an offering orcli can call, else None and why not."""
    if offering.api is None:
        return None, f"its SDK package `{offering.npm or '(none)'}` is no dialect orcli speaks"
    if offering.api not in dialects:
        return None, f"the `{offering.api}` dialect is not in this orcli"
    if offering.api == "azure":
        return None, "Azure serves your own deployment names, not model ids: add the endpoint by hand"
    table = provider_table(info, offering)
    if offering.api in CLOUD_SETTINGS:
        return _cloud_table(offering.api, table, env)
    if table is None:
        return None, "the catalogue gives no base URL and orcli's provider table has none"
    return _filled(table, env)


_PLACEHOLDER = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
_HOST_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,100}")


def _filled(table: dict[str, Any], env: Mapping[str, str]) -> tuple[dict[str, Any] | None, str]:
    """A base URL with the catalogue's `${VARIABLE}` placeholders (an account or resource name) filled from the
    environment; while one is unset (or not a host name part) the offering is listed with what to set."""
    url = table["base_url"]
    for name in _PLACEHOLDER.findall(url):
        value = env.get(name, "").strip()
        if not _HOST_PART.fullmatch(value):
            return None, f"its base URL needs your ${name}: set it and run again"
        url = url.replace(f"${{{name}}}", value)
    return {**table, "base_url": url}, ""


# Cloud dialects need account settings the catalogue cannot know; they come from the same variables the
# cloud tools read (docs/dialects.md), else the offering is listed with what to set.
CLOUD_SETTINGS = {
    "bedrock": {"region": ("AWS_REGION", "AWS_DEFAULT_REGION")},
    "vertex": {
        "project": ("GOOGLE_VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT"),
        "location": ("GOOGLE_VERTEX_LOCATION", "GOOGLE_CLOUD_LOCATION"),
    },
}
CLOUD_SETTINGS["vertex-anthropic"] = CLOUD_SETTINGS["vertex"]


def _cloud_table(api: str, table: dict[str, Any] | None, env: Mapping[str, str]) -> tuple[dict[str, Any] | None, str]:
    settings: dict[str, str] = {}
    for key, names in CLOUD_SETTINGS[api].items():
        value = next((env[n].strip() for n in names if env.get(n, "").strip()), None)
        if value is None or not _SLUG.fullmatch(value.lower()):
            return None, f"needs `{key}`: set ${names[0]} and run again"
        settings[key] = value
    if api == "bedrock":
        base = f"https://bedrock-runtime.{settings['region']}.amazonaws.com"
    elif settings["location"] == "global":
        base = "https://aiplatform.googleapis.com/v1"
    else:
        base = f"https://{settings['location']}-aiplatform.googleapis.com/v1"
    known = table or {}  # an unknown policy is assumed to retain prompts, as for every provider (provider_table)
    new = {
        "base_url": base,
        "api": api,
        **settings,
        "data_collection": known.get("data_collection", "allow"),
        "zdr": known.get("zdr", False),
    }
    return new, ""
