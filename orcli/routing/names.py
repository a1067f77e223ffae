"""Provider-name matching for order/only/ignore: docs/routing.md#rejections base names and variants."""

from __future__ import annotations

from collections.abc import Iterable


def name_matches(rule: str, provider: str) -> bool:
    """A base name (`deepinfra`) matches every variant; a full name (`deepinfra/turbo`) only itself."""
    return rule == provider or ("/" not in rule and provider.split("/", 1)[0] == rule)


def matches_any(rules: Iterable[str], provider: str) -> bool:
    return any(name_matches(rule, provider) for rule in rules)
