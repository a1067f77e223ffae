"""Finding profiles on disk and loading one: a name looked up in the user's config dir, then among the bundled
profiles; a path read as is (docs/profiles.md). The text is handed to the pure `parse.parse_profile`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

from orcli.errors import ProfileError
from orcli.profile.parse import file_error, parse_profile
from orcli.profile.values import did_you_mean
from orcli.types import Profile


def bundled_profiles_dir() -> Path:
    """The profiles shipped with orcli: the installed package data, else the checkout's `profiles/`."""
    package = Path(__file__).resolve().parent.parent  # orcli/
    for candidate in (package / "profiles", package.parent / "profiles"):
        if candidate.is_dir():
            return candidate
    return package.parent / "profiles"


def user_profiles_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("orcli")) / "profiles"


class Resolved(NamedTuple):
    """Where a profile spec led; `looked_for` is set when no `default` exists and the bundled example stands
    in for it (docs/profiles.md: every command says so)."""

    path: Path
    looked_for: tuple[Path, ...] = ()


def resolve_profile(spec: str | None, env: Mapping[str, str]) -> Resolved:
    """A path is read as is; a bare name is looked up in the user config dir, then bundled."""
    spec = spec or env.get("ORCLI_PROFILE") or "default"
    if is_path_spec(spec):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise file_error(spec, "no such profile file")
        return Resolved(path)
    searched = [user_profiles_dir() / f"{spec}.toml", bundled_profiles_dir() / f"{spec}.toml"]
    for path in searched:
        if path.is_file():
            return Resolved(path)
    if spec == "default":
        # With no default of the user's own, the bundled example keeps a fresh install usable.
        return Resolved(bundled_profiles_dir() / "example.toml", tuple(searched))
    known = sorted(
        {p.stem for d in (user_profiles_dir(), bundled_profiles_dir()) if d.is_dir() for p in d.glob("*.toml")}
    )
    hint = did_you_mean(spec, known)
    raise ProfileError(
        f"no profile named `{spec}` (looked for {', '.join(str(p) for p in searched)}).{hint} "
        f"Known profiles: {', '.join(known) or 'none'}. Pass a path to use a file elsewhere."
    )


def is_path_spec(spec: str) -> bool:
    """A value containing a path separator or ending in .toml names a file; anything else is a name."""
    return "/" in spec or os.sep in spec or spec.endswith(".toml")


def resolve_profile_path(spec: str | None, env: Mapping[str, str]) -> Path:
    return resolve_profile(spec, env).path


class ProfileEntry(NamedTuple):
    """A profile orcli can see: its name, file, where it lives, and whether a user profile hides it."""

    name: str
    path: Path
    source: str  # "user" | "bundled"
    shadowed: bool = False


def visible_profiles() -> list[ProfileEntry]:
    """Every `*.toml` in the user config dir, then bundled (`profiles list`); a bundled profile a
    user profile of the same name hides is listed as shadowed."""
    entries: list[ProfileEntry] = []
    seen: set[str] = set()
    for source, directory in (("user", user_profiles_dir()), ("bundled", bundled_profiles_dir())):
        paths = sorted(directory.glob("*.toml")) if directory.is_dir() else []
        for path in paths:
            if path.is_file():
                entries.append(ProfileEntry(path.stem, path, source, shadowed=path.stem in seen))
        seen.update(p.stem for p in paths)
    return entries


def fallback_note(resolved: Resolved) -> str:
    """The one line a command prints when the bundled example stands in for a missing `default`."""
    return (
        f"no `default` profile (looked for {resolved.looked_for[0]}); using the bundled example "
        f"({resolved.path}), whose prices may be stale. Run `orcli profiles init` to write your own."
    )


def load_profile(spec: str | None, env: Mapping[str, str], notice: Callable[[str], None] | None = None) -> Profile:
    """The command's profile; `notice` hears of the example standing in for `default`. It lives as long as
    the process, so it is moved out of the cyclic garbage collector's way (gc.freeze): with a large profile,
    every full collection would walk it again."""
    import gc

    from orcli.paths import default_state_dir
    from orcli.profile.cache import load_cached

    resolved = resolve_profile(spec, env)
    if resolved.looked_for and notice is not None:
        notice(fallback_note(resolved))
    # Loading makes tens of thousands of objects that all live on: collecting while they are made only walks
    # them again and again (measured: 100k endpoints load twice as fast without it).
    enabled = gc.isenabled()
    gc.disable()
    try:
        # A big profile is read from a private cache of its validated form (issue 13: TOML ~55 us/endpoint).
        profile = load_cached(resolved.path, lambda: default_state_dir(env), load_profile_file)
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    return profile


def load_profile_file(path: Path) -> Profile:
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise file_error(str(path), f"cannot read the profile: {exc.strerror or exc}") from None
    try:
        text = raw_bytes.decode("utf-8").removeprefix("\ufeff")  # editors on Windows add a BOM
    except UnicodeDecodeError as exc:
        raise file_error(str(path), f"the profile is not UTF-8 text (byte {exc.start})") from None
    return parse_profile(text, str(path))
