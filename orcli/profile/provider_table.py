"""The providers orcli knows how to call, by OpenRouter provider slug: base_url, dialect, key, data policy.

`orcli profiles import openrouter` (docs/profiles.md#from-openrouter) maps each catalogue endpoint's `tag`
(`deepinfra/fp8`) to a row here: the full tag if it has a row of its own, else its base slug (`deepinfra`). A
slug with no row is reported, never guessed: a wrong base_url would send the user's key to the wrong host.

Data policy: `deny` where the bundled example profile already says the provider does not train on API
prompts; `allow` everywhere else (OpenRouter's own conservative stance: an unclear policy is assumed to retain
and train). Written 2026-11-29 from the providers' public API base URLs as known then, without network access
to re-check them: verify a URL or a policy before relying on it (tests/test_profile_check.py keeps the rows
the example shares in agreement with it).
"""

from __future__ import annotations

from typing import NamedTuple


class KnownProvider(NamedTuple):
    """How to reach one provider directly, in a profile's `[providers.NAME]` terms."""

    base_url: str
    api: str
    api_key_env: str
    data_collection: str = "allow"
    zdr: bool = False

    def table(self) -> dict[str, object]:
        """The `[providers.NAME]` table a profile gets for this provider."""
        return {
            "base_url": self.base_url,
            "api": self.api,
            "api_key_env": self.api_key_env,
            "data_collection": self.data_collection,
            "zdr": self.zdr,
        }


KNOWN_PROVIDERS: dict[str, KnownProvider] = {
    "openai": KnownProvider("https://api.openai.com/v1", "openai", "OPENAI_API_KEY", "deny"),
    "anthropic": KnownProvider("https://api.anthropic.com/v1", "anthropic", "ANTHROPIC_API_KEY", "deny"),
    "google-ai-studio": KnownProvider(
        "https://generativelanguage.googleapis.com/v1beta", "gemini", "GEMINI_API_KEY", "allow"
    ),
    "groq": KnownProvider("https://api.groq.com/openai/v1", "openai", "GROQ_API_KEY", "deny", zdr=True),
    "cerebras": KnownProvider("https://api.cerebras.ai/v1", "openai", "CEREBRAS_API_KEY", "deny"),
    "together": KnownProvider("https://api.together.xyz/v1", "openai", "TOGETHER_API_KEY", "deny"),
    "fireworks": KnownProvider("https://api.fireworks.ai/inference/v1", "openai", "FIREWORKS_API_KEY", "deny", True),
    "deepinfra": KnownProvider("https://api.deepinfra.com/v1/openai", "openai", "DEEPINFRA_API_KEY", "deny", True),
    "mistral": KnownProvider("https://api.mistral.ai/v1", "openai", "MISTRAL_API_KEY", "deny"),
    "deepseek": KnownProvider("https://api.deepseek.com/v1", "openai", "DEEPSEEK_API_KEY"),
    "xai": KnownProvider("https://api.x.ai/v1", "openai", "XAI_API_KEY"),
    "novita": KnownProvider("https://api.novita.ai/v3/openai", "openai", "NOVITA_API_KEY"),
    "hyperbolic": KnownProvider("https://api.hyperbolic.xyz/v1", "openai", "HYPERBOLIC_API_KEY"),
    "nebius": KnownProvider("https://api.studio.nebius.com/v1", "openai", "NEBIUS_API_KEY"),
    "sambanova": KnownProvider("https://api.sambanova.ai/v1", "openai", "SAMBANOVA_API_KEY"),
    "lambda": KnownProvider("https://api.lambda.ai/v1", "openai", "LAMBDA_API_KEY"),
    "parasail": KnownProvider("https://api.parasail.io/v1", "openai", "PARASAIL_API_KEY"),
    "perplexity": KnownProvider("https://api.perplexity.ai", "openai", "PERPLEXITY_API_KEY"),
    "moonshotai": KnownProvider("https://api.moonshot.ai/v1", "openai", "MOONSHOT_API_KEY"),
}
# Deliberately absent: providers that need more than a key and a URL to be called directly — a cloud
# account, project or deployment name (azure, google-vertex, amazon-bedrock, cloudflare) or request signing.

# -- native model ids ------------------------------------------------------------------------------------
# What each provider calls an OpenRouter model (docs/profiles.md#native-ids): an import writes these as
# `upstream_model`, because OpenRouter's catalogue says who serves a model, not what the provider calls it. Keyed by OpenRouter provider slug; a variant tag (`deepinfra/turbo`) has a row of its
# own where its id differs from the base slug's. Only ids known to be served; anything else is found with
# `--verify` or `--ids-from`, or listed. Written 2026-12-07 from the providers' model pages as known then.
_LLAMA_70B = "meta-llama/llama-3.3-70b-instruct"
_LLAMA_8B = "meta-llama/llama-3.1-8b-instruct"
_QWEN_72B = "qwen/qwen-2.5-72b-instruct"
_DEEPSEEK_V3 = "deepseek/deepseek-chat-v3"
_GPT_OSS_120B, _GPT_OSS_20B = "openai/gpt-oss-120b", "openai/gpt-oss-20b"
NATIVE_IDS: dict[str, dict[str, str]] = {
    "groq": {
        _LLAMA_70B: "llama-3.3-70b-versatile",
        _LLAMA_8B: "llama-3.1-8b-instant",
        _GPT_OSS_120B: "openai/gpt-oss-120b",
        _GPT_OSS_20B: "openai/gpt-oss-20b",
        "qwen/qwen3-32b": "qwen/qwen3-32b",
        "meta-llama/llama-4-scout": "meta-llama/llama-4-scout-17b-16e-instruct",
    },
    "cerebras": {
        _LLAMA_70B: "llama-3.3-70b",
        _LLAMA_8B: "llama3.1-8b",
        _GPT_OSS_120B: "gpt-oss-120b",
    },
    "together": {
        _LLAMA_70B: "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        _LLAMA_8B: "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
        _QWEN_72B: "Qwen/Qwen2.5-72B-Instruct-Turbo",
        _DEEPSEEK_V3: "deepseek-ai/DeepSeek-V3",
        "deepseek/deepseek-r1": "deepseek-ai/DeepSeek-R1",
        _GPT_OSS_120B: "openai/gpt-oss-120b",
        _GPT_OSS_20B: "openai/gpt-oss-20b",
    },
    "fireworks": {
        _LLAMA_70B: "accounts/fireworks/models/llama-v3p3-70b-instruct",
        _QWEN_72B: "accounts/fireworks/models/qwen2p5-72b-instruct",
        _DEEPSEEK_V3: "accounts/fireworks/models/deepseek-v3",
        _GPT_OSS_120B: "accounts/fireworks/models/gpt-oss-120b",
        _GPT_OSS_20B: "accounts/fireworks/models/gpt-oss-20b",
    },
    "deepinfra": {
        _LLAMA_70B: "meta-llama/Llama-3.3-70B-Instruct",
        _LLAMA_8B: "meta-llama/Meta-Llama-3.1-8B-Instruct",
        _QWEN_72B: "Qwen/Qwen2.5-72B-Instruct",
        _DEEPSEEK_V3: "deepseek-ai/DeepSeek-V3",
        _GPT_OSS_120B: "openai/gpt-oss-120b",
        _GPT_OSS_20B: "openai/gpt-oss-20b",
        "mistralai/mistral-small-3.1-24b-instruct": "mistralai/Mistral-Small-3.1-24B-Instruct-2503",
    },
    "deepinfra/turbo": {_LLAMA_70B: "meta-llama/Llama-3.3-70B-Instruct-Turbo"},
    "mistral": {"mistralai/mistral-small-3.1-24b-instruct": "mistral-small-2503"},
    "anthropic": {
        "anthropic/claude-sonnet-4.5": "claude-sonnet-4-5",
        "anthropic/claude-haiku-4.5": "claude-haiku-4-5",
        "anthropic/claude-opus-4.1": "claude-opus-4-1",
        "anthropic/claude-sonnet-4": "claude-sonnet-4-0",
        "anthropic/claude-opus-4": "claude-opus-4-0",
    },
}
# Providers that serve a maker's models under the maker's own ids: OpenRouter's id minus the maker prefix
# (`openai/gpt-4o-mini` is `gpt-4o-mini` at OpenAI); OpenRouter itself serves its own ids.
MAKER_PREFIXES = {"openai": "openai/", "google-ai-studio": "google/", "xai": "x-ai/", "openrouter": ""}


def native_id(tag: str, model: str) -> str | None:
    """The id provider `tag` serves `model` under, if orcli knows it: the tag's own row, else its base slug's,
    else the maker-prefix rule; None when unknown (the import then lists the endpoint, never guesses)."""
    base = tag.split("/", 1)[0]
    for key in (tag, base):
        known = NATIVE_IDS.get(key, {}).get(model)
        if known is not None:
            return known
    prefix = MAKER_PREFIXES.get(base)
    if prefix is None or not model.startswith(prefix):
        return None
    return model[len(prefix) :] or None
