"""App settings: every SYMLINKMIRROR_* setting, its default, and a get() helper."""

from __future__ import annotations

import posixpath
from typing import Any

from django.conf import settings

from .paths import GENERATIONS_DIR

PREFIX = "SYMLINKMIRROR_"

DEFAULTS: dict[str, Any] = {
    # Directories whose files are linked rather than copied. None means
    # MEDIA_ROOT and STATIC_ROOT, whichever are set.
    "SYMLINK_WITHIN": None,
    # "absolute", "relative" or "hard".
    "LINK_STYLE": "absolute",
    # Storage alias of the mirror that collectmirror and verifymirror write.
    "STORAGE": "mirror",
    # {name: {"storage": alias, "prefix": "path/in/mirror", "generations": K}}.
    # None means media from "default" under MEDIA_URL's path, static from
    # "staticfiles" under STATIC_URL's path. "generations" (optional, 2 or
    # more) publishes the source as generations, K of them kept.
    "SOURCES": None,
    # CDN purge backends, configured like STORAGES: {alias: {"BACKEND": path,
    # "OPTIONS": {...}}}. Empty: nothing is purged.
    "PURGE": {},
    # Purge the URLs of newly created entries too, for CDNs that cache 404s.
    "PURGE_CREATED": False,
    # A folder outside the mirror where failed purge batches are kept for
    # `purgemirror --resume`. None: they are reported, not kept.
    "STATE_DIR": None,
    # The alias of TASKS that carries distributed runs' shards and live mirroring's tasks.
    "TASK_BACKEND": "default",
    # Mirror each name saved or deleted through a source's storage once its transaction commits (live.py).
    "LIVE": False,
    # One run per mirror: "file" (flock on the mirror's lock file, one host) or
    # "database" (a lease row in the default database, across hosts).
    "LOCK": "file",
    # How long a lease (the database lock, a shard's) lasts unless its holder renews it.
    "LEASE_SECONDS": 60,
    # How long a shard runs before it hands its unvisited subdirectories to other shards.
    "SHARD_SECONDS": 60,
}


def get(name: str) -> Any:
    """The value of SYMLINKMIRROR_<name>, or its default."""
    value = getattr(settings, PREFIX + name, None)
    if value is None:
        value = DEFAULTS[name]
    if name == "SYMLINK_WITHIN" and value is None:
        value = [root for root in (settings.MEDIA_ROOT, settings.STATIC_ROOT) if root]
    return value


def sources() -> dict[str, dict[str, Any]]:
    """SYMLINKMIRROR_SOURCES, normalised to {name: {"storage": alias, "prefix": path}}, plus "generations": K where set.

    Raises ImproperlyConfigured naming the setting when it is malformed.
    """
    from django.core.exceptions import ImproperlyConfigured

    value = get("SOURCES")
    if value is None:
        # Only the roots that are set: an empty MEDIA_ROOT would make the
        # default storage's location the current directory, and publish it.
        defaults = {}
        if settings.MEDIA_ROOT:
            defaults["media"] = {"storage": "default", "prefix": _url_path(settings.MEDIA_URL) or "media"}
        if settings.STATIC_ROOT:
            defaults["static"] = {"storage": "staticfiles", "prefix": _url_path(settings.STATIC_URL) or "static"}
        if not defaults:
            raise ImproperlyConfigured(
                "symlinkmirror has nothing to mirror: set MEDIA_ROOT or STATIC_ROOT, or SYMLINKMIRROR_SOURCES."
            )
        value = defaults
    if not isinstance(value, dict) or not value:
        raise ImproperlyConfigured(
            "SYMLINKMIRROR_SOURCES must be a non-empty dict of {name: {'storage': alias, 'prefix': path}}."
        )
    normalised = {str(name): _source(str(name), spec) for name, spec in value.items()}
    # Each source owns its prefix alone: an equal or nested one would make one
    # source's run replace or delete the other's entries.
    by_prefix = sorted(normalised.items(), key=lambda item: item[1]["prefix"])
    for (name_a, a), (name_b, b) in zip(by_prefix, by_prefix[1:], strict=False):
        if a["prefix"] == b["prefix"] or not a["prefix"] or b["prefix"].startswith(a["prefix"] + "/"):
            raise ImproperlyConfigured(
                f"SYMLINKMIRROR_SOURCES[{name_a!r}] and [{name_b!r}] have the prefixes {a['prefix']!r} and "
                f"{b['prefix']!r}: give each source its own directory, neither inside the other."
            )
    return normalised


def _source(name: str, spec: Any) -> dict[str, Any]:
    """One source's spec, checked and normalised."""
    from django.core.exceptions import ImproperlyConfigured

    if not isinstance(spec, dict) or not isinstance(spec.get("storage"), str):
        raise ImproperlyConfigured(f"SYMLINKMIRROR_SOURCES[{name!r}] must be a dict with a 'storage' alias.")
    prefix = spec.get("prefix", name)
    if not isinstance(prefix, str) or "\x00" in prefix or ".." in prefix.split("/"):
        raise ImproperlyConfigured(
            f"SYMLINKMIRROR_SOURCES[{name!r}]['prefix'] must be a path inside the mirror, without '..', like 'media'."
        )
    prefix = posixpath.normpath("/" + prefix).strip("/")  # 'a//b/', '/a', './a' -> 'a/b', 'a', 'a'
    if prefix.split("/")[0] == GENERATIONS_DIR:
        raise ImproperlyConfigured(
            f"SYMLINKMIRROR_SOURCES[{name!r}]['prefix'] may not start with {GENERATIONS_DIR!r}: the mirror keeps generations there."
        )
    normalised: dict[str, Any] = {"storage": spec["storage"], "prefix": prefix}
    generations = _generations(name, spec.get("generations"), prefix)
    if generations:
        normalised["generations"] = generations
    return normalised


def _generations(name: str, value: Any, prefix: str) -> int:
    """A source's 'generations': 0 (None, absent) mirrors it in place; K >= 2 keeps K generations."""
    from django.core.exceptions import ImproperlyConfigured

    if value is None or value is False or (type(value) is int and value == 0):
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 2:
        # The generation served and the one served before it are never removed: fewer cannot be kept.
        raise ImproperlyConfigured(
            f"SYMLINKMIRROR_SOURCES[{name!r}]['generations'] must be an integer of 2 or more (the generation "
            f"served and the one before it are always kept), or 0 to mirror the source in place; not {value!r}."
        )
    if not prefix:
        raise ImproperlyConfigured(
            f"SYMLINKMIRROR_SOURCES[{name!r}] keeps generations, so it needs a 'prefix': the mirror root itself "
            "cannot be switched to a generation."
        )
    return value


def _url_path(url: str | None) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url or "").path.strip("/")
