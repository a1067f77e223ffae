"""An import never writes an upstream id the provider does not serve (docs/profiles.md#native-ids).

Each imported endpoint gets its `upstream_model` from, in this order: the profile's own endpoint (its names
win), the catalogue itself (models.dev lists every model under its native id), orcli's shipped table
(provider_table.native_id), a models.dev catalogue given with `--ids-from`; with `--verify`, the provider's
live list has the last word (an id it does not list is replaced by the one it lists for the same model, or
the endpoint is dropped). An endpoint whose id stays unknown is not written: it comes back as `Skipped`, with
the reason and what the user can do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from orcli.profile import model_ids
from orcli.profile.model_lists import Listed, Target
from orcli.profile.models_dev import DEFAULT_URL, ModelsDev, ids_of
from orcli.profile.provider_table import native_id
from orcli.profile.write import provider_aliases


class Skipped(NamedTuple):
    """An endpoint the import left out, why, and what to do about it."""

    model: str
    provider: str
    reason: str
    todo: str

    def describe(self) -> str:
        return f"{self.model} on {self.provider}: {self.reason}; {self.todo}"


class Resolved(NamedTuple):
    endpoints: list[dict[str, Any]]  # each with its upstream_model; `provider` still the imported tag
    skipped: list[Skipped]
    notes: list[str]


Lister = Callable[[list[Target]], dict[str, Listed]]


def resolve(
    existing: Mapping[str, Any],
    providers: Mapping[str, Mapping[str, Any]],
    endpoints: list[dict[str, Any]],
    env: Mapping[str, str],
    *,
    ids_from: ModelsDev | None = None,
    live_list: Lister | None = None,
) -> Resolved:
    """Give every endpoint the id its provider serves it under, or leave it out with a reason."""
    own_providers = existing.get("providers") if isinstance(existing.get("providers"), dict) else {}
    aliases = provider_aliases(own_providers or {}, providers)
    own_ids = {
        (e.get("model"), e.get("provider")): e["upstream_model"]
        for e in existing.get("endpoint") or ()
        if isinstance(e, dict) and isinstance(e.get("upstream_model"), str)
    }
    pending: list[tuple[dict[str, Any], str]] = []  # (endpoint, where its id came from)
    skipped: list[Skipped] = []
    notes: list[str] = []
    for e in endpoints:
        tag, model = e["provider"], e["model"]
        name = aliases.get(tag, tag)
        found, source = _known_id(e, name, own_ids, ids_from)
        if found is None and isinstance(source, Skipped):
            skipped.append(source)
            continue
        if found is None and live_list is None:
            skipped.append(_unknown(model, tag, providers.get(tag, {})))
            continue
        pending.append(({**e, "upstream_model": found} if found else dict(e), str(source)))
    if live_list is not None:  # --verify
        pending = _verified(pending, providers, aliases, own_providers or {}, env, live_list, skipped, notes)
    return Resolved([e for e, _ in pending], skipped, notes)


def _known_id(
    e: Mapping[str, Any], name: str, own_ids: Mapping[tuple[Any, Any], str], ids_from: ModelsDev | None
) -> tuple[str | None, str | Skipped]:
    tag, model = e["provider"], e["model"]
    if (model, name) in own_ids:
        return own_ids[(model, name)], "profile"
    if isinstance(e.get("upstream_model"), str):
        return e["upstream_model"], "catalogue"
    table = native_id(tag, model)
    if table is not None:
        return table, "table"
    listed = ids_of(ids_from, tag) if ids_from is not None else None
    if listed is not None:
        found = model_ids.match(model, listed, _variant(tag))
        if found.native_id is not None:
            return found.native_id, "ids-from"
        if found.ambiguous:
            return None, Skipped(
                model,
                tag,
                f"models.dev lists several ids that could be it ({', '.join(found.candidates)})",
                "set `upstream_model` by hand to the one you mean",
            )
    return None, "unknown"


def _variant(tag: str) -> str:
    return tag.split("/", 1)[1] if "/" in tag else ""


def _unknown(model: str, tag: str, table: Mapping[str, Any]) -> Skipped:
    key = table.get("api_key_env")
    with_key = f" (lists its models with ${key})" if key else ""
    return Skipped(
        model,
        tag,
        "orcli does not know the id this provider serves it under",
        f"set `upstream_model` by hand, or run again with --verify{with_key} or --ids-from {DEFAULT_URL}",
    )


def _verified(
    pending: list[tuple[dict[str, Any], str]],
    providers: Mapping[str, Mapping[str, Any]],
    aliases: Mapping[str, str],
    own_providers: Mapping[str, Any],
    env: Mapping[str, str],
    lister: Lister,
    skipped: list[Skipped],
    notes: list[str],
) -> list[tuple[dict[str, Any], str]]:
    """--verify: ask each provider (where the profile will send requests) for its list, and keep only ids
    that it serves."""
    targets: dict[str, Target] = {}
    for e, _ in pending:
        name = aliases.get(e["provider"], e["provider"])
        if name not in targets:
            table = own_providers.get(name) if isinstance(own_providers.get(name), dict) else None
            targets[name] = target_for(name, table or providers.get(e["provider"], {}), env)
    lists = lister(list(targets.values()))
    kept: list[tuple[dict[str, Any], str]] = []
    for e, source in pending:
        tag, model = e["provider"], e["model"]
        name = aliases.get(tag, tag)
        listed = lists.get(name, Listed(None, "not_listable", "not asked"))
        current = e.get("upstream_model")
        if listed.ids is None:
            if current is None:
                skipped.append(
                    Skipped(
                        model,
                        tag,
                        f"its id is unknown and {name}'s model list could not be read ({listed.detail})",
                        "set `upstream_model` by hand, or fix the key and run again",
                    )
                )
                continue
            notes.append(f"{model} on {name}: not verified ({listed.detail}); kept `{current}` from the {source}")
            kept.append((e, source))
            continue
        if current is not None and (current in listed.ids or model_ids.served_alias(current, listed.ids)):
            kept.append((e, source))
            continue
        if source == "profile":  # the profile's own names win; say what the list says
            notes.append(f"{model} on {name}: `{current}` (your profile's) is not in {name}'s model list")
            kept.append((e, source))
            continue
        found = model_ids.match(model, listed.ids, _variant(tag))
        if found.native_id is not None:
            kept.append(({**e, "upstream_model": found.native_id}, "verify"))
        elif found.ambiguous:
            skipped.append(
                Skipped(
                    model,
                    tag,
                    f"{name} lists several ids that could be it ({', '.join(found.candidates)})",
                    "set `upstream_model` by hand to the one you mean",
                )
            )
        else:
            near = model_ids.closest(current or model, listed.ids)
            hint = f" (closest: {', '.join(near)})" if near else ""
            skipped.append(
                Skipped(
                    model,
                    tag,
                    f"{name}'s model list has no id for it{hint}",
                    "leave it out, or set `upstream_model` by hand if the provider serves it",
                )
            )
    return kept


def target_for(name: str, table: Mapping[str, Any], env: Mapping[str, str]) -> Target:
    """Where provider `name`'s list lives, with the key from the environment (None when unset)."""
    key_env = table.get("api_key_env")
    key = env.get(key_env, "").strip() if isinstance(key_env, str) else ""
    given = table.get("headers")
    headers: Mapping[str, Any] = given if isinstance(given, dict) else {}
    version = table.get("anthropic_version")
    return Target(
        name,
        str(table.get("api", "openai")),
        str(table.get("base_url", "")),
        key or None,
        {str(k): str(v) for k, v in headers.items()},
        version if isinstance(version, str) else "2023-06-01",
        key_env if isinstance(key_env, str) else None,
    )
