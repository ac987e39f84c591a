"""What is mirrored where: Source, configured_sources(), mirror_storage() and the trusted roots."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, InMemoryStorage, Storage, storages

from . import conf
from .lock import MirrorError
from .paths import resolve_roots
from .storage import SymlinkOrCopyStorage

# collectstatic's default --ignore patterns.
DEFAULT_IGNORE_PATTERNS = ["CVS", ".*", "*~"]


@dataclass(frozen=True)
class Source:
    """A storage whose files appear in the mirror under prefix.

    trusted: resolved folders whose files this source's symlinks may lead to
    and be linked to, beside the mirror's symlink_within roots (for the
    staticfiles storage, the folders its finders collect from).
    """

    name: str
    storage: Storage
    prefix: str = ""
    trusted: tuple[str, ...] = ()
    generations: int = 0  # K >= 2: published as generations (generations.py), K kept; 0: in place

    def mirror_name(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix and name else (self.prefix or name)

    @property
    def local_root(self) -> str | None:
        """The storage's directory on disk, or None for a storage without paths."""
        if isinstance(self.storage, InMemoryStorage):
            return None  # its path() names a file under MEDIA_ROOT, but its files live in memory
        if isinstance(self.storage, FileSystemStorage) and not self.storage.base_location:
            # abspath("") is the current directory: never mirror that by accident.
            raise ImproperlyConfigured(
                f"The source {self.name!r} has no location: set MEDIA_ROOT or STATIC_ROOT, "
                "or the storage's 'location' OPTION, or leave it out of SYMLINKMIRROR_SOURCES."
            )
        try:
            return self.storage.path("")
        except NotImplementedError:
            return None


def mirror_storage(alias: str | None = None) -> SymlinkOrCopyStorage:
    alias = alias or conf.get("STORAGE")
    if alias not in settings.STORAGES:
        raise MirrorError(f"STORAGES has no {alias!r} alias for the mirror: add it, or set SYMLINKMIRROR_STORAGE.")
    storage = _create(alias, "the mirror (SYMLINKMIRROR_STORAGE)")
    if not isinstance(storage, SymlinkOrCopyStorage):
        raise MirrorError(
            f"STORAGES[{alias!r}] must be a symlinkmirror.storage.SymlinkOrCopyStorage (see SYMLINKMIRROR_STORAGE), not {type(storage).__name__}."
        )
    return storage


def configured_sources(names: list[str] | None = None) -> list[Source]:
    """The sources of SYMLINKMIRROR_SOURCES, limited to names when given."""
    try:
        specs = conf.sources()
    except ImproperlyConfigured as exc:
        raise MirrorError(str(exc)) from exc
    unknown = [name for name in names or [] if name not in specs]
    if unknown:
        raise MirrorError(
            f"Unknown source {unknown[0]!r} given to --source: SYMLINKMIRROR_SOURCES defines {', '.join(sorted(specs))}."
        )
    return [_source(name, spec) for name, spec in specs.items() if not names or name in names]


def _source(name: str, spec: dict[str, Any]) -> Source:
    alias = spec["storage"]
    if alias not in settings.STORAGES:
        raise MirrorError(
            f"SYMLINKMIRROR_SOURCES[{name!r}] names the storage alias {alias!r}, which STORAGES does not define."
        )
    trusted = finder_roots() if alias == "staticfiles" else ()
    source = Source(name, _create(alias, f"the source {name!r}"), spec["prefix"], trusted, spec.get("generations", 0))
    try:
        source.local_root  # noqa: B018 - fails now, naming the setting, rather than mid-run
    except ImproperlyConfigured as exc:
        raise MirrorError(str(exc)) from exc
    return source


def finder_roots() -> tuple[str, ...]:
    """The folders Django's staticfiles finders collect from: what `collectstatic --link` points at."""
    if not apps.is_installed("django.contrib.staticfiles"):
        return ()
    from django.contrib.staticfiles import finders

    roots = []
    for finder in finders.get_finders():
        for storage in getattr(finder, "storages", {}).values():
            location = getattr(storage, "location", None)
            if location:
                roots.append(location)
    return resolve_roots(roots)


def _create(alias: str, role: str) -> Any:
    """storages[alias], with any failure to build it named by its alias and role."""
    try:
        return storages[alias]
    except (ImproperlyConfigured, ImportError, TypeError, ValueError) as exc:
        raise MirrorError(f"STORAGES[{alias!r}], {role}, cannot be created: {exc}") from exc


def reserved_prefixes(source: Source, prefixes: set[str]) -> frozenset[str]:
    """The other sources' prefixes inside this source's: its walk must leave them alone."""
    return frozenset(
        p for p in prefixes if p != source.prefix and (not source.prefix or p.startswith(source.prefix + "/"))
    )


def compile_patterns(patterns: list[str]) -> re.Pattern[str] | None:
    """One regex matching what any of collectstatic's fnmatchcase() patterns matches."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(pattern)})" for pattern in patterns))


def uses_fast_path(storage: Storage) -> bool:
    """A FileSystemStorage whose listdir and path are Django's own can be scanned directly."""
    cls = type(storage)
    return (
        isinstance(storage, FileSystemStorage)
        and cls.listdir is FileSystemStorage.listdir
        and cls.path is FileSystemStorage.path
    )
