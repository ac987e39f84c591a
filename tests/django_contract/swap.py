"""Put SymlinkOrCopyStorage where Django's FileSystemStorage was, and count what goes through it."""

from __future__ import annotations

import functools
import os
import stat
import sys
from collections import Counter

# Each binds FileSystemStorage by name when imported (StaticFilesStorage
# subclasses it, the finders and collectstatic use it): imported before the
# swap, they would keep Django's class.
BIND_AT_IMPORT = (
    "django.contrib.staticfiles.storage",
    "django.contrib.staticfiles.finders",
    "django.contrib.staticfiles.management.commands.collectstatic",
)

# "instances" built, "saves" made, and of those how many left a "symlink" or a "hardlink".
counts: Counter[str] = Counter()


def install() -> None:
    """Swap the class in both modules that export it; call before anything imports staticfiles."""
    _refuse_if_bound("before the swap")
    import django.core.files.storage
    import django.core.files.storage.filesystem

    from symlinkmirror.storage import SymlinkOrCopyStorage

    _refuse_if_bound("by symlinkmirror.storage")
    _count_calls(SymlinkOrCopyStorage)
    django.core.files.storage.FileSystemStorage = SymlinkOrCopyStorage
    django.core.files.storage.filesystem.FileSystemStorage = SymlinkOrCopyStorage


def problems() -> list[str]:
    """Why the swap did not hold during the run, if it did not: one sentence each."""
    from django.conf import global_settings
    from django.contrib.staticfiles import finders
    from django.contrib.staticfiles.management.commands import collectstatic
    from django.contrib.staticfiles.storage import ManifestStaticFilesStorage, StaticFilesStorage
    from django.utils.module_loading import import_string

    from symlinkmirror.storage import SymlinkOrCopyStorage

    found = []
    for backend in (alias["BACKEND"] for alias in global_settings.STORAGES.values()):
        if not issubclass(import_string(backend), SymlinkOrCopyStorage):
            found.append(f"STORAGES backend '{backend}' does not resolve to SymlinkOrCopyStorage.")
    for cls in (StaticFilesStorage, ManifestStaticFilesStorage):
        if SymlinkOrCopyStorage not in cls.__mro__:
            found.append(f"{cls.__name__}.__mro__ lacks SymlinkOrCopyStorage.")
    for module in (finders, collectstatic):
        if module.FileSystemStorage is not SymlinkOrCopyStorage:
            found.append(f"{module.__name__}.FileSystemStorage is not SymlinkOrCopyStorage.")
    if not counts["instances"] or not counts["saves"]:
        found.append(f"Only {counts['instances']} storages were built and {counts['saves']} files saved through it.")
    return found


def _refuse_if_bound(when: str) -> None:
    bound = [name for name in BIND_AT_IMPORT if name in sys.modules]
    if bound:
        raise RuntimeError(f"{', '.join(bound)} imported {when}: they would keep Django's FileSystemStorage.")


def _count_calls(cls: type) -> None:
    """Wrap __new__ and _save in place: the class under test stays the one Django's suites see.

    Not __init__: a frame there would move the warnings Django's __init__
    raises with stacklevel=2, which file_storage checks. A link is counted
    from what the save left on disk, not from what the storage says it did.
    """
    new, save = cls.__new__, cls._save  # __new__ is deconstructible's, which records the arguments

    def counted_new(klass, *args, **kwargs):
        counts["instances"] += 1
        return new(klass, *args, **kwargs)

    @functools.wraps(save)
    def counted_save(self, *args, **kwargs):
        name = save(self, *args, **kwargs)
        counts["saves"] += 1
        st = os.lstat(self.path(name))
        if stat.S_ISLNK(st.st_mode):
            counts["symlink"] += 1
        elif st.st_nlink > 1:
            counts["hardlink"] += 1
        return name

    cls.__new__, cls._save = staticmethod(counted_new), counted_save
