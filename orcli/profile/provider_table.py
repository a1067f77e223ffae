"""The providers orcli knows how to call, by OpenRouter provider slug: base_url, dialect, key, data policy.

`orcli profiles import openrouter` (SPEC §12) maps each catalogue endpoint's `tag` (`deepinfra/fp8`) to a
row here: the full tag if it has a row of its own, else its base slug (`deepinfra`). A slug with no row is
reported, never guessed: a wrong base_url would send the user's key to the wrong host.

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
