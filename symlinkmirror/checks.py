"""System checks: one small function per problem, one id each, under the app's own tag."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import InvalidStorageError, storages

from . import conf
from .paths import LINK_STYLES, is_within
from .sources import Source

TAG = "symlinkmirror"
PURGE_TAG = "symlinkmirror_purge"  # purge/checks.py's, which also run with the files checks
BACKEND = "symlinkmirror.storage.SymlinkOrCopyStorage"
Messages = list[checks.CheckMessage]


def check_link_style(app_configs: Any = None, **kwargs: Any) -> Messages:
    """E005: SYMLINKMIRROR_LINK_STYLE is not a link style."""
    style = conf.get("LINK_STYLE")
    if style in LINK_STYLES:
        return []
    hint = f"Use one of: {', '.join(LINK_STYLES)}."
    return [checks.Error(f"SYMLINKMIRROR_LINK_STYLE is {style!r}.", hint=hint, id="symlinkmirror.E005")]


def check_sources_setting(app_configs: Any = None, **kwargs: Any) -> Messages:
    """E006: SYMLINKMIRROR_SOURCES is malformed."""
    try:
        conf.sources()
    except ImproperlyConfigured as exc:
        return [
            checks.Error(str(exc), hint="See the Settings table in symlinkmirror's README.", id="symlinkmirror.E006")
        ]
    return []


def check_mirror_alias(app_configs: Any = None, **kwargs: Any) -> Messages:
    """W001: STORAGES has no mirror alias."""
    alias = conf.get("STORAGE")
    if alias in settings.STORAGES:
        return []
    return [
        checks.Warning(
            f"STORAGES has no {alias!r} alias, so collectmirror and verifymirror have no mirror to write.",
            hint=f"Add STORAGES[{alias!r}] = {{'BACKEND': '{BACKEND}', 'OPTIONS': {{'location': ...}}}}, or set SYMLINKMIRROR_STORAGE.",
            id="symlinkmirror.W001",
        )
    ]


def check_mirror_storage(app_configs: Any = None, **kwargs: Any) -> Messages:
    """E004: the mirror alias cannot be created."""
    alias = conf.get("STORAGE")
    if alias not in settings.STORAGES:
        return []
    try:
        storages[alias]
    except (ImproperlyConfigured, InvalidStorageError, ImportError, TypeError) as exc:
        message = f"STORAGES[{alias!r}] cannot be created: {exc}"
        return [checks.Error(message, hint="Fix its BACKEND or OPTIONS.", id="symlinkmirror.E004")]
    return []


def check_mirror_backend(app_configs: Any = None, **kwargs: Any) -> Messages:
    """E012: the mirror alias is not a SymlinkOrCopyStorage."""
    from .storage import SymlinkOrCopyStorage

    alias = conf.get("STORAGE")
    storage = _storage(alias)
    if storage is None or isinstance(storage, SymlinkOrCopyStorage):
        return []
    message = f"STORAGES[{alias!r}] is a {type(storage).__name__}, not a SymlinkOrCopyStorage."
    return [checks.Error(message, hint=f"Set its BACKEND to '{BACKEND}'.", id="symlinkmirror.E012")]


def check_explicit_roots(app_configs: Any = None, **kwargs: Any) -> Messages:
    """E001: a symlink_within root given explicitly does not exist (a typo)."""
    mirror = _mirror()
    if mirror is None or not _explicit_roots(mirror):
        return []
    hint = "Create it, or fix the storage's symlink_within OPTION / SYMLINKMIRROR_SYMLINK_WITHIN."
    return [checks.Error(_missing_root(root), hint=hint, id="symlinkmirror.E001") for root in _missing_roots(mirror)]


def check_default_roots(app_configs: Any = None, **kwargs: Any) -> Messages:
    """W002: a default root (MEDIA_ROOT or STATIC_ROOT) does not exist yet."""
    mirror = _mirror()
    if mirror is None or _explicit_roots(mirror):
        return []
    hint = "It defaults to MEDIA_ROOT and STATIC_ROOT; create the directory (collectstatic does for STATIC_ROOT)."
    return [checks.Warning(_missing_root(root), hint=hint, id="symlinkmirror.W002") for root in _missing_roots(mirror)]


def check_source_aliases(app_configs: Any = None, **kwargs: Any) -> Messages:
    """E013: a source names a storage alias STORAGES does not define."""
    return [
        checks.Error(
            f"SYMLINKMIRROR_SOURCES[{name!r}] names the storage alias {spec['storage']!r}, which STORAGES does not define.",
            hint="Add that alias to STORAGES or fix SYMLINKMIRROR_SOURCES.",
            id="symlinkmirror.E013",
        )
        for name, spec in _source_specs().items()
        if _mirror() is not None and spec["storage"] not in settings.STORAGES
    ]


def check_source_storages(app_configs: Any = None, **kwargs: Any) -> Messages:
    """E014: a source's storage cannot be used (it cannot be created, or has no location)."""
    if _mirror() is None:
        return []
    errors: Messages = []
    for name, spec in _source_specs().items():
        if spec["storage"] in settings.STORAGES:
            try:
                Source(name, storages[spec["storage"]]).local_root  # noqa: B018 - raises when unusable
            except (ImproperlyConfigured, ImportError, TypeError, ValueError) as exc:
                errors.append(
                    checks.Error(
                        f"The source {name!r} of SYMLINKMIRROR_SOURCES cannot be used: {exc}",
                        hint=f"Fix STORAGES[{spec['storage']!r}] or SYMLINKMIRROR_SOURCES.",
                        id="symlinkmirror.E014",
                    )
                )
    return errors


def check_mirror_outside_sources(app_configs: Any = None, **kwargs: Any) -> Messages:
    """E002: the mirror location lies inside a source root: it would mirror itself."""
    mirror = _mirror()
    if mirror is None:
        return []
    return [
        checks.Error(
            f"The mirror location '{mirror.real_location}' lies inside the source root '{root}': the mirror would mirror itself.",
            hint="Put the mirror outside MEDIA_ROOT, STATIC_ROOT and every symlink_within root.",
            id="symlinkmirror.E002",
        )
        for root in _source_roots(mirror)
        if is_within(mirror.real_location, root)
    ]


def check_sources_outside_mirror(app_configs: Any = None, **kwargs: Any) -> Messages:
    """E003: a source root lies inside the mirror location."""
    mirror = _mirror()
    if mirror is None:
        return []
    return [
        checks.Error(
            f"The source root '{root}' lies inside the mirror location '{mirror.real_location}': the mirror would contain its own sources.",
            hint="Put the mirror location beside the source roots, not above them.",
            id="symlinkmirror.E003",
        )
        for root in _source_roots(mirror)
        if is_within(root, mirror.real_location) and not is_within(mirror.real_location, root)
    ]


def check_lock_settings(app_configs: Any = None, **kwargs: Any) -> Messages:
    """E032: SYMLINKMIRROR_LOCK, SYMLINKMIRROR_LEASE_SECONDS or SYMLINKMIRROR_SHARD_SECONDS has no usable value."""
    problems = []
    lock = conf.get("LOCK")
    if lock not in ("file", "database"):
        problems.append(f"SYMLINKMIRROR_LOCK is {lock!r}: it must be 'file' (flock, one host) or 'database'.")
    for name in ("LEASE_SECONDS", "SHARD_SECONDS"):
        value = conf.get(name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value < 0
            or (name == "LEASE_SECONDS" and not value)
        ):
            least = "more than 0" if name == "LEASE_SECONDS" else "0 or more"
            problems.append(f"SYMLINKMIRROR_{name} is {value!r}: it must be a number of seconds, {least}.")
    return [
        checks.Error(text, hint="See the Settings table in symlinkmirror's README.", id="symlinkmirror.E032")
        for text in problems
    ]


# In report order; apps.ready() registers each under TAG.
ALL: list[Callable[..., Messages]] = [
    check_link_style,
    check_sources_setting,
    check_mirror_alias,
    check_mirror_storage,
    check_mirror_backend,
    check_explicit_roots,
    check_default_roots,
    check_source_aliases,
    check_source_storages,
    check_mirror_outside_sources,
    check_sources_outside_mirror,
    check_lock_settings,
]


def check_mirror(app_configs: Any = None, **kwargs: Any) -> Messages:
    """Every check of the app, in report order."""
    return [message for check in ALL for message in check(app_configs, **kwargs)]


# Helpers: each quietly None or empty where another check reports the problem.


def _storage(alias: str) -> Any:
    if alias not in settings.STORAGES:
        return None
    try:
        return storages[alias]
    except (ImproperlyConfigured, InvalidStorageError, ImportError, TypeError):
        return None


def _mirror() -> Any:
    from .storage import SymlinkOrCopyStorage

    storage = _storage(conf.get("STORAGE"))
    return storage if isinstance(storage, SymlinkOrCopyStorage) else None


def _explicit_roots(mirror: Any) -> bool:
    # An explicitly configured root that is missing is a typo; MEDIA_ROOT or
    # STATIC_ROOT, the defaults, may simply not have been created yet.
    return mirror._symlink_within is not None or getattr(settings, "SYMLINKMIRROR_SYMLINK_WITHIN", None) is not None


def _missing_roots(mirror: Any) -> list[str]:
    return [root for root in mirror.symlink_within if not os.path.isdir(root)]


def _missing_root(root: str) -> str:
    return (
        f"The symlink_within root '{root}' of STORAGES[{conf.get('STORAGE')!r}] does not exist or is not a directory."
    )


def _source_specs() -> dict[str, dict[str, str]]:
    try:
        return conf.sources()
    except ImproperlyConfigured:
        return {}


def _source_roots(mirror: Any) -> list[str]:
    roots = set(mirror.symlink_within)
    for name, spec in _source_specs().items():
        try:
            local_root = Source(name, storages[spec["storage"]]).local_root
        except (ImproperlyConfigured, ImportError, TypeError, ValueError, KeyError, InvalidStorageError):
            continue
        if local_root is not None:  # a storage without local files cannot loop through the mirror
            roots.add(os.path.realpath(local_root))
    return sorted(roots)
