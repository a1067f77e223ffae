"""Write profiles with tomli-w (docs/profiles.md#managing-profiles): round-trip checked, validated, atomically replaced; import merges."""

from __future__ import annotations

import contextlib
import copy
import os
import re
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from orcli.errors import OrcliError, ProfileError

# What an import refreshes on an endpoint the profile already has (docs/profiles.md#managing-profiles: "prices and limits"); the
# catalogue's other facts only fill keys the user has not written.
REFRESHED = ("price", "context_length", "max_completion_tokens")
FILLED = ("upstream_model", "quantization", "parameters", "latency", "throughput")


class Change(NamedTuple):
    """One line of an import's diff: what happened to which endpoint or provider."""

    kind: str  # "added endpoint" | "updated endpoint" | "added provider"
    name: str  # "model on provider", or the provider's name
    details: tuple[tuple[str, object, object], ...] = ()  # (key, old, new); old None = newly set

    def describe(self) -> str:
        if not self.details:
            return f"{self.kind} {self.name}"
        parts = [
            f"{key} {_show(old)} -> {_show(new)}" if old is not None else f"{key} {_show(new)}"
            for key, old, new in self.details
        ]
        return f"{self.kind} {self.name}: " + "; ".join(parts)


def _show(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


# -- text ------------------------------------------------------------------------------------------------
def profile_text(data: Mapping[str, Any], path: Path | str, header: str = "") -> str:
    """The TOML text for `data`, proven first: it loads back to the same data, and it is a valid profile."""
    import tomli_w

    body = tomli_w.dumps(data)
    if tomllib.loads(body) != data:
        raise OrcliError(f"{path}: internal error: the written profile would not load back to the same data.")
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    text = comment + ("\n" if comment else "") + body
    from orcli.profile.parse import parse_profile

    parse_profile(text, str(path))  # raises ProfileError naming what is wrong; nothing is written then
    return text


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: a temporary file beside it, flushed, then renamed over it.
    Any failure leaves the old file exactly as it was (docs/profiles.md#managing-profiles)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    umask = os.umask(0o022)
    os.umask(umask)
    mode = 0o666 & ~umask  # a new profile gets what any new file of the user's would
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode & 0o777  # keep the user's own permissions on a profile they had
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def save_profile(path: Path, data: Mapping[str, Any], header: str = "", backup: bool = True) -> Path | None:
    """Validate and write; with `backup`, the previous file is kept as NAME.toml.bak (tomli-w keeps no
    comments, so the user's are there). Returns the backup's path, if one was made."""
    text = profile_text(data, path, header)
    saved = None
    if backup and path.is_file():
        saved = path.with_name(path.name + ".bak")
        try:
            write_atomic(saved, path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise OrcliError(f"{path}: cannot keep a backup of the old profile at {saved}: {exc}.") from None
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise OrcliError(f"{path}: cannot write the profile: {exc.strerror or exc}.") from None
    return saved


def read_data(path: Path) -> dict[str, Any]:
    """A profile file's raw TOML data (validated first, so a broken profile is never merged into)."""
    from orcli.profile.resolve import load_profile_file

    load_profile_file(path)
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8").removeprefix("\ufeff"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:  # changed under our feet
        raise ProfileError(f"{path}: cannot read the profile again: {exc}.") from None


# -- merging an import -----------------------------------------------------------------------------------
def merge_import(
    existing: Mapping[str, Any], providers: Mapping[str, Mapping[str, Any]], endpoints: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[Change]]:
    """Fold imported providers and endpoints into a profile's data (docs/profiles.md#managing-profiles): an endpoint the profile has
    gets its prices and limits refreshed (other keys only where the user wrote none); a new one is appended;
    a provider is added only if the profile has none of that name. Everything else is kept as it was."""
    data = copy.deepcopy(dict(existing))
    changes: list[Change] = []
    own_providers = data.setdefault("providers", {})
    table_names = _provider_names(own_providers)
    aliases = provider_aliases(own_providers, providers)
    for tag, own in aliases.items():
        if tag != own:
            changes.append(Change("same provider", f"{tag} is {own} in this profile (same base_url and api)"))
    endpoints = _one_per_endpoint(endpoints, aliases)
    rows = data.setdefault("endpoint", [])
    index = {(e.get("model"), e.get("provider")): e for e in rows if isinstance(e, dict)}
    for new in endpoints:
        key = (new["model"], new["provider"])
        name = f"{new['model']} on {new['provider']}"
        old = index.get(key)
        if old is None:
            rows.append(dict(new))
            index[key] = rows[-1]
            changes.append(Change("added endpoint", name, _summary(new)))
            continue
        details = []
        for field in REFRESHED:
            if field in new and old.get(field) != new[field]:
                details.append((field, old.get(field), new[field]))
                old[field] = new[field]
        for field in FILLED:
            if field in new and field not in old:
                details.append((field, None, new[field]))
                old[field] = new[field]
        if details:
            changes.append(Change("updated endpoint", name, tuple(details)))
    used = {e["provider"] for e in endpoints}
    for name, table in providers.items():
        if name in used and name not in table_names:
            own_providers[name] = dict(table)
            table_names.add(name)
            changes.append(Change("added provider", name, (("base_url", None, table["base_url"]),)))
    if not data["endpoint"]:
        del data["endpoint"]
    if not data["providers"]:
        del data["providers"]
    return data, changes


def _provider_tables(providers: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Each provider's table by the name the validator gives it (nested variants flattened)."""
    from orcli.profile.fields import provider_tables

    return {name: raw for name, _, raw in provider_tables(providers) if isinstance(raw, dict)}


def provider_aliases(own_providers: Mapping[str, Any], imported: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The profile's own name for each imported provider tag (docs/profiles.md#refresh-dont-duplicate):
    the tag itself when the profile has it (the profile's names win); else the provider at the same base_url
    and api - the tag's base slug when that is one of them (`deepinfra/fp8` refreshes `deepinfra`), else the
    only one (`google` for `google-ai-studio`). A tag with no such provider keeps its own name."""
    own = _provider_tables(own_providers)

    def place(table: Mapping[str, Any]) -> tuple[str, str]:
        return (str(table.get("base_url", "")).rstrip("/").lower(), str(table.get("api", "openai")))

    aliases: dict[str, str] = {}
    for tag, table in imported.items():
        if tag in own:
            aliases[tag] = tag
            continue
        same = [name for name, mine in own.items() if place(mine) == place(table)]
        base = tag.split("/", 1)[0]
        if base in same:
            aliases[tag] = base
        elif len(same) == 1:
            aliases[tag] = same[0]
    return aliases


def _one_per_endpoint(endpoints: list[dict[str, Any]], aliases: Mapping[str, str]) -> list[dict[str, Any]]:
    """Endpoints under the profile's provider names. Two tags that became one provider (`deepinfra` and
    `deepinfra/fp8` -> `deepinfra`) give one endpoint per model: the tag spelled like the provider wins, else
    the first listed, so a second import of the same catalogue changes nothing."""
    chosen: dict[tuple[Any, Any], dict[str, Any]] = {}
    for e in endpoints:
        name = aliases.get(e["provider"], e["provider"])
        key = (e["model"], name)
        if key not in chosen or e["provider"] == name and chosen[key]["tag"] != name:
            chosen[key] = {"tag": e["provider"], "endpoint": {**e, "provider": name}}
    return [c["endpoint"] for c in chosen.values()]


def _provider_names(providers: Mapping[str, Any]) -> set[str]:
    """Provider names as the validator sees them: `[providers.deepinfra.turbo]` is `deepinfra/turbo`."""
    from orcli.profile.fields import provider_tables

    return {name for name, _, _ in provider_tables(providers)}


def _summary(endpoint: Mapping[str, Any]) -> tuple[tuple[str, object, object], ...]:
    price = endpoint.get("price", "unknown")
    context = (("context_length", None, endpoint["context_length"]),) if "context_length" in endpoint else ()
    # The id the provider will be sent: the one fact of an import a reader must be able to check.
    sent = (("upstream_model", None, endpoint["upstream_model"]),) if "upstream_model" in endpoint else ()
    return (("price", None, price), *context, *sent)


def valid_imports(
    providers: Mapping[str, Mapping[str, Any]], endpoints: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """Each imported endpoint, with its provider's table, validated on its own as a profile would be: one a
    profile may not hold (a base_url with credentials, a value out of range) is set aside with the validator's
    reason instead of failing the whole import (docs/profiles.md#hostile-catalogues)."""
    import tomli_w

    from orcli.profile.parse import parse_profile

    kept: list[dict[str, Any]] = []
    refused: list[tuple[dict[str, Any], str]] = []
    for e in endpoints:
        table = providers.get(e["provider"], {})
        alone = {"providers": {e["provider"]: dict(table)}, "endpoint": [e]}
        try:
            parse_profile(tomli_w.dumps(alone), "(imported)")
        except ProfileError as exc:
            refused.append((e, re.sub(r"^(invalid profile: )?\(imported\)(:\d+)?: ", "", exc.message)))
            continue
        except (TypeError, ValueError) as exc:  # a value tomli-w cannot write
            refused.append((e, f"cannot be written as TOML ({type(exc).__name__})"))
            continue
        kept.append(e)
    return kept, refused


def real_changes(changes: list[Change]) -> list[Change]:
    """The changes that alter the file (a "same provider" line only explains a name)."""
    return [c for c in changes if c.kind != "same provider"]


def diff_lines(changes: list[Change]) -> list[str]:
    """The readable diff: one line per change, `+` for additions, `~` for updates."""
    marks = {"updated endpoint": "~ ", "same provider": "= "}
    return [marks.get(c.kind, "+ ") + c.describe() for c in changes]


# -- a starter profile -----------------------------------------------------------------------------------
# `profiles init`'s question about a provider that signs with its cloud's own credentials (no api_key_env):
# None: it does not (it needs no key); False: it does, and none were found; a dict: found, with the settings
# found beside them (a region, a project) to write into its table.
CloudCheck = Callable[[Mapping[str, Any]], "dict[str, Any] | bool | None"]


def starter_data(
    example: Mapping[str, Any], env: Mapping[str, str], cloud: CloudCheck | None = None
) -> tuple[dict[str, Any], list[str], bool]:
    """`profiles init` (docs/profiles.md#managing-profiles): the bundled example cut down to the providers whose credentials are present
    (a key set, or a cloud's own credentials found locally, which `cloud` checks) and those that need none;
    all of them when none is. Returns the data, the providers kept, and whether credentials decided."""
    data = copy.deepcopy(dict(example))
    providers = data.get("providers", {})
    keep: list[str] = []
    found: dict[str, dict[str, Any]] = {}
    for name, table in providers.items():
        if not isinstance(table, dict):
            continue
        if table.get("api_key_env"):
            if env.get(table["api_key_env"], "").strip():
                keep.append(name)
                found[name] = {}
            continue
        check = None if cloud is None else cloud(table)
        if isinstance(check, dict):
            found[name] = check
        if check is None or isinstance(check, dict):
            keep.append(name)
    by_key = bool(found)
    if not by_key:
        keep = list(providers)
    for name, settings in found.items():
        providers[name].update(settings)
    data["providers"] = {name: providers[name] for name in keep}
    endpoints = [e for e in data.get("endpoint", []) if e.get("provider") in keep]
    if endpoints:
        data["endpoint"] = endpoints
    else:
        data.pop("endpoint", None)
    served = list(dict.fromkeys(e["model"] for e in endpoints))
    routing = data.setdefault("routing", {})
    models = [m for m in routing.get("models", []) if m in served] or served[:1]
    if models:
        routing["models"] = models
    else:
        routing.pop("models", None)
    return data, keep, by_key
