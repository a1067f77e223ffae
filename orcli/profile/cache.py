"""A validated profile kept in the state dir, so that a big profile loads without parsing TOML again.

Issue 13 item 6: tomllib and validation cost ~55 us per endpoint on every command (115 ms at 2,000). The cache
holds the validated `Profile` as plain tuples in `marshal` form (data only: nothing in it is executed; measured
at 2,000 endpoints: 2 ms to load and rebuild, against 4 ms for pickle of the NamedTuples and 115 ms for TOML).

It can never change behaviour: it is keyed on the profile's path, size, mtime_ns, ctime_ns, inode and device, on
orcli's version and on the Python version; its payload carries a CRC; it is read only if it is a regular file
owned by the user with mode 0600 (never through a symlink, docs/security.md). Anything off or unreadable, and the
profile is parsed as if there were no cache, then the cache is rewritten. Profiles under MIN_SIZE bytes are
not cached: parsing them costs about what reading a cache file does.
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import os
import stat
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from orcli import __version__
from orcli.types import BudgetSettings, Endpoint, HealthSettings, Price, Profile, Provider, Timeouts

MIN_SIZE = 32 * 1024  # bytes; ~100 endpoints
FORMAT = 1
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def cache_file(state_dir: Path, profile_path: Path) -> Path:
    """One cache file per profile path (the name only spreads paths out; the key inside decides)."""
    text = str(profile_path)
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in profile_path.stem)[:40]
    return state_dir / f"profile-{stem}-{zlib.crc32(text.encode('utf-8', 'surrogatepass')):08x}.cache"


def _code_stamp() -> tuple[Any, ...]:
    """What the cached value depends on besides the file: the types' layout, and (for checkouts, where the
    version does not move) the size and mtime of the modules that build a Profile."""
    layout = tuple(t._fields for t in (Profile, Provider, Endpoint, Price, Timeouts, HealthSettings, BudgetSettings))
    here = Path(__file__).parent.parent  # orcli/
    stamps: list[tuple[str, int | None, int | None]] = []
    for module in ("profile/parse.py", "profile/fields.py", "profile/readers.py", "types.py", "profile/cache.py"):
        try:
            st = os.stat(here / module)
            stamps.append((module, st.st_size, st.st_mtime_ns))
        except OSError:
            stamps.append((module, None, None))
    return (FORMAT, __version__, sys.hexversion, layout, tuple(stamps))


def cache_key(profile_path: Path, st: os.stat_result) -> tuple[Any, ...]:
    return (_code_stamp(), str(profile_path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def load_cached(
    profile_path: Path,
    state_dir: Path | Callable[[], Path],
    parse: Callable[[Path], Profile],
    min_size: int = MIN_SIZE,
) -> Profile:
    """The profile at `profile_path`: from the cache when its key matches, else `parse(profile_path)` (which
    raises for an invalid profile; errors are never cached) and the cache rewritten. `state_dir` may be a
    callable, asked only when the profile is big enough to cache."""
    try:
        before = os.stat(profile_path)
    except OSError:
        return parse(profile_path)
    if before.st_size < min_size:
        return parse(profile_path)
    try:
        where = cache_file(state_dir() if callable(state_dir) else state_dir, profile_path)
    except Exception:  # noqa: BLE001 - no state dir (platformdirs failing): no cache, same profile
        return parse(profile_path)
    key = cache_key(profile_path, before)
    cached = _read(where, key)
    if cached is not None:
        return cached
    profile = parse(profile_path)
    with contextlib.suppress(OSError):
        if cache_key(profile_path, os.stat(profile_path)) == key:  # unchanged while it was parsed
            _write(where, key, profile)
    return profile


def _read(where: Path, key: tuple[Any, ...]) -> Profile | None:
    try:
        fd = os.open(where, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077 or st.st_uid != os.getuid():
            return None
        with os.fdopen(os.dup(fd), "rb") as handle:
            blob = handle.read()
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        stored_key, crc, payload = marshal.loads(blob)
        if stored_key != key or zlib.crc32(payload) != crc:
            return None
        return _rebuild(marshal.loads(payload))
    except Exception:  # noqa: BLE001 - any damage at all means "no cache", never a different profile
        return None


def _write(where: Path, key: tuple[Any, ...], profile: Profile) -> None:
    """Write the cache privately beside the health store: the state dir 0700 (as the store makes it; its
    parents as the system makes them), the file 0600, created anew and renamed into place."""
    directory = where.parent
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        directory.mkdir(mode=0o700, exist_ok=True)
        if directory.is_symlink() or not directory.is_dir():
            return
        payload = marshal.dumps(_plain(profile))
        blob = marshal.dumps((key, zlib.crc32(payload), payload))
        tmp = directory / f".{where.name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
            os.replace(tmp, where)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except (OSError, ValueError, _Uncacheable):
        return  # a cache that cannot be written is only a slower next run


class _Uncacheable(Exception):
    """A profile holding a value this module does not know how to write back exactly."""


_PLAIN = (str, int, float, bool, type(None), frozenset)
_PRICE_AT = Endpoint._fields.index("price")
_PROFILE_FIELDS = ("name", "path", "providers", "endpoints", "routing", "timeouts", "health", "budget", "presets")


def _value(v: object) -> object:
    if isinstance(v, MappingProxyType):
        return dict(v)
    if isinstance(v, Price):
        return tuple(v)
    if isinstance(v, tuple) and not hasattr(v, "_fields"):
        return v
    if isinstance(v, _PLAIN):
        return v
    raise _Uncacheable(type(v).__name__)


def _plain(p: Profile) -> tuple[Any, ...]:
    """The profile as tuples, dicts and frozensets: what marshal writes. Generic over the fields, so a field
    added to Provider or Endpoint is carried too (the key holds the field layout; an unknown kind of value
    makes the profile uncacheable rather than rebuilt wrong)."""
    if Profile._fields != _PROFILE_FIELDS:
        raise _Uncacheable("Profile has fields this cache does not know")
    providers = tuple(tuple(_value(v) for v in provider) for provider in p.providers.values())
    endpoints = tuple(tuple(_value(v) for v in e) for e in p.endpoints)
    routing = dict(p.routing)
    presets = {name: dict(table) for name, table in p.presets.items()}
    for value in (*routing.values(), *presets.values()):
        _check_toml_value(value)
    settings = (tuple(map(_value, p.timeouts)), tuple(map(_value, p.health)), tuple(map(_value, p.budget)))
    return (p.name, p.path, providers, endpoints, routing, *settings, presets)


def _check_toml_value(value: object) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _check_toml_value(item)
    elif isinstance(value, list):
        for item in value:
            _check_toml_value(item)
    elif not isinstance(value, str | int | float | bool):
        raise _Uncacheable(type(value).__name__)


def _rebuild(plain: tuple[Any, ...]) -> Profile:
    name, path, providers, endpoints, routing, timeouts, health, budget, presets = plain
    # Tens of thousands of small tuples at once would set off the cyclic collector again and again.
    enabled = gc.isenabled()
    gc.disable()
    provider_type: Any = Provider  # built from a generic field list: the layout is checked by the key
    endpoint_type: Any = Endpoint
    try:
        by_name = {
            t[0]: provider_type(*[MappingProxyType(v) if isinstance(v, dict) else v for v in t]) for t in providers
        }
        at = _PRICE_AT
        endpoint_list = tuple(
            [endpoint_type(*t[:at], None if t[at] is None else Price(*t[at]), *t[at + 1 :]) for t in endpoints]
        )
    finally:
        if enabled:
            gc.enable()
    return Profile(
        name=name,
        path=path,
        providers=MappingProxyType(by_name),
        endpoints=endpoint_list,
        routing=MappingProxyType(routing),
        timeouts=Timeouts(*timeouts),
        health=HealthSettings(*health),
        budget=BudgetSettings(*budget),
        presets=MappingProxyType({name: MappingProxyType(table) for name, table in presets.items()}),
    )
