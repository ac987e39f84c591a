"""SymlinkOrCopyStorage: link content that already lives under a trusted root; copy the rest."""

from __future__ import annotations

import errno
import os
import stat
import warnings
from typing import Any
from urllib.parse import quote, urljoin

import django
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage
from django.utils.deconstruct import deconstructible
from django.utils.functional import cached_property

from . import conf, entries, staging
from .capability import SymlinkCapability
from .paths import LINK_STYLES, containing_root, is_utf8, is_within, resolve_roots, split_roots
from .vocab import EntryKind

# Django 5.2's default FileSystemStorage.OS_OPEN_FLAGS, and its warning when a subclass changes them.
_DEFAULT_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
_OS_OPEN_FLAGS_WARNING = "Overriding OS_OPEN_FLAGS is deprecated"

# How many other names save() tries when the one it was given is taken.
MAX_NAME_TRIES = 100


@deconstructible(path="symlinkmirror.storage.SymlinkOrCopyStorage")
class SymlinkOrCopyStorage(FileSystemStorage):
    """Link content that already lives under a trusted root; copy everything else.

    Every entry is made under a temporary name in its final directory and
    renamed into place, so readers never see a half-written file.
    """

    def __init__(
        self,
        location: Any = None,
        base_url: str | None = None,
        file_permissions_mode: int | None = None,
        directory_permissions_mode: int | None = None,
        allow_overwrite: bool = False,
        *,
        symlink_within: Any = None,
        link_style: str | None = None,
    ) -> None:
        # Set before anything can raise: Django's __init__ connects setting_changed to
        # _clear_cached_properties, which a half-built storage must still answer.
        self._symlink_within = symlink_within
        self._link_style = link_style
        self._symlinks = SymlinkCapability()
        with warnings.catch_warnings():
            # Django warns from its own __init__ with stacklevel=2, which would name
            # this file: warn again below, naming the code that builds the storage.
            warnings.filterwarnings("ignore", _OS_OPEN_FLAGS_WARNING)
            super().__init__(location, base_url, file_permissions_mode, directory_permissions_mode, allow_overwrite)
        if django.VERSION < (6,) and getattr(self, "OS_OPEN_FLAGS", _DEFAULT_OPEN_FLAGS) != _DEFAULT_OPEN_FLAGS:
            from django.utils.deprecation import RemovedInDjango60Warning  # type: ignore[attr-defined,unused-ignore]

            warnings.warn(
                "Overriding OS_OPEN_FLAGS is deprecated. Use the allow_overwrite parameter instead.",
                RemovedInDjango60Warning,
                stacklevel=2,
            )
        if link_style is not None and link_style not in LINK_STYLES:
            raise ImproperlyConfigured(
                f"SymlinkOrCopyStorage link_style must be one of {', '.join(LINK_STYLES)}, not {link_style!r}."
            )

    @cached_property
    def symlink_within(self) -> tuple[str, ...]:
        """The resolved roots whose files are linked, in order, without repeats."""
        value = self._value_or_setting(self._symlink_within, conf.get("SYMLINK_WITHIN"))
        return resolve_roots(split_roots(value))

    @cached_property
    def link_style(self) -> str:
        style = self._value_or_setting(self._link_style, conf.get("LINK_STYLE"))
        if style not in LINK_STYLES:
            raise ImproperlyConfigured(
                f"SYMLINKMIRROR_LINK_STYLE must be one of {', '.join(LINK_STYLES)}, not {style!r}."
            )
        return str(style)

    @property
    def supports_symlinks(self) -> bool:
        """Whether the location's filesystem can hold symlinks (FAT cannot), tried once it exists."""
        return self._symlinks.supported(self.real_location, self.location)

    @property
    def _symlinks_unsupported(self) -> bool:
        """Known already: the location refused a symlink, so a link is copied without trying."""
        return self._symlinks.unsupported

    def _no_symlinks(self, exc: OSError) -> bool:
        """Whether exc, a symlink refused at one name, means this filesystem has none (then said once)."""
        return self._symlinks.refused(exc, self.real_location, self.location)

    @cached_property
    def real_location(self) -> str:
        return os.path.realpath(self.location)

    def _clear_cached_properties(self, setting: str, **kwargs: Any) -> None:
        super()._clear_cached_properties(setting, **kwargs)  # type: ignore[arg-type]
        if setting in ("SYMLINKMIRROR_SYMLINK_WITHIN", "MEDIA_ROOT", "STATIC_ROOT"):
            self.__dict__.pop("symlink_within", None)
        if setting == "SYMLINKMIRROR_LINK_STYLE":
            self.__dict__.pop("link_style", None)
        if setting == "MEDIA_ROOT":
            self.__dict__.pop("real_location", None)
            self._symlinks.reset()

    def path(self, name: str | os.PathLike[str]) -> str:
        name = os.fspath(name)
        # No file system can hold a NUL in a name; without this, Django fails later with a ValueError.
        if "\x00" in name:
            raise SuspiciousFileOperation(f"The name {name!r} contains a NUL character.")
        return super().path(name)

    def url(self, name: str | os.PathLike[str] | None) -> str:
        """Like FileSystemStorage.url, and a name read from the disk that is not valid UTF-8
        is quoted byte for byte, as the web server sees it (Django's quote() would raise)."""
        name = None if name is None else os.fspath(name)
        if name and not is_utf8(name):
            if self.base_url is None:
                raise ValueError("This file is not accessible via a URL.")
            return urljoin(self.base_url, quote(os.fsencode(name), safe="/~!*()'").lstrip("/"))
        return super().url(name)

    # Public API used by the engine and the commands.

    def wants_link(self, real_path: str) -> bool:
        """Whether a file at this resolved path is linked rather than copied."""
        return containing_root(real_path, self.symlink_within) is not None

    def entry_kind(self, name: str | os.PathLike[str]) -> EntryKind:
        """What stands at name, without following a link.

        A name that no entry can have ('file/child', one too long) is MISSING;
        any other error (a directory that cannot be searched) is raised.
        """
        try:
            st = os.lstat(self.path(name))
        except OSError as exc:
            if exc.errno in entries.CANNOT_EXIST:
                return EntryKind.MISSING
            raise
        if stat.S_ISLNK(st.st_mode):
            return EntryKind.SYMLINK
        if stat.S_ISREG(st.st_mode):
            return EntryKind.HARDLINK if st.st_nlink > 1 else EntryKind.COPY
        return EntryKind.OTHER

    def link_target(self, name: str | os.PathLike[str]) -> str | None:
        """What the symlink at name contains, or None when name is not a symlink.

        Errors are handled as in entry_kind(): only "no such entry" and "not a
        link" (EINVAL) answer None.
        """
        try:
            return os.readlink(self.path(name))
        except OSError as exc:
            if exc.errno in entries.CANNOT_EXIST or exc.errno == errno.EINVAL:
                return None
            raise

    local_path = staticmethod(staging.local_path)

    def put(
        self,
        name: str | os.PathLike[str],
        *,
        real_source: str | None = None,
        content: Any = None,
        mtime_ns: int | None = None,
        link_style: str | None = None,
        replace: bool = True,
        wants_link: bool | None = None,
        preserve: bool = False,
    ) -> EntryKind:
        """Make the entry at name from exactly one of real_source (a resolved path) or content.

        real_source is linked when it lies in a root, else copied. The entry is
        staged under a temporary name and renamed into place: replace=True
        swaps out whatever is there atomically, replace=False raises
        FileExistsError instead. Returns what it made: SYMLINK, HARDLINK or COPY.
        mtime_ns stamps a copy, so a later size+mtime comparison can skip it.
        preserve=True makes a copy of real_source keep its mtime and permission
        bits, as `cp -p` does (intersected with file_permissions_mode when that
        is set), so a copy is never more readable than its source; without it
        a copy follows Django's rule (file_permissions_mode, else the umask).
        wants_link, when the caller has already decided it, saves a containment test.
        Everything is done relative to the directory's descriptor (staging.py, entries.py),
        opened component by component without following a symlink.
        """
        if (real_source is None) == (content is None):
            raise ValueError("put() needs exactly one of real_source or content.")
        full_path = self.path(name)
        entries.check_path_length(full_path)
        if wants_link is None:
            wants_link = real_source is not None and self.wants_link(real_source)
        if wants_link and real_source is None:
            raise ValueError("wants_link=True needs a real_source to link to.")
        style = link_style or self.link_style
        return staging.make(
            self,
            full_path,
            real_source,
            content,
            style,
            link=wants_link,
            replace=replace,
            preserve=preserve,
            mtime_ns=mtime_ns,
        )

    # FileSystemStorage overrides.

    def _save(self, name: str, content: Any) -> str:
        real_source = self.local_path(content)
        link = real_source is not None and self.wants_link(real_source)
        replace = self._overwrites()
        tried = {name}
        while True:
            try:
                if link:
                    self.put(name, real_source=real_source, wants_link=True, replace=replace)
                else:
                    # Copy what content reads, as Django does (a File may wrap any stream).
                    self.put(name, content=content, wants_link=False, replace=replace)
            except FileExistsError as exc:
                # Only a taken final name earns another name: a file where a
                # directory should be would fail the same way forever.
                if self.path(name) not in (exc.filename, exc.filename2):
                    raise
                name = self._next_name(name, tried)
            else:
                break
        # Names always relative to the storage root, with forward slashes.
        return os.path.relpath(self.path(name), self.location).replace("\\", "/")

    def _overwrites(self) -> bool:
        """Whether save() replaces a taken name, as FileSystemStorage decides it.

        Django 5.2 still honours the deprecated OS_OPEN_FLAGS: a subclass that
        masks out O_EXCL overwrites (Django's own __init__ has warned about it).
        Django 6 removed the attribute and ignores it; so do we.
        """
        if self._allow_overwrite:  # type: ignore[attr-defined]
            return True
        if django.VERSION >= (6,):
            return False
        flags = getattr(self, "OS_OPEN_FLAGS", None)
        return flags is not None and not flags & os.O_EXCL

    def _next_name(self, name: str, tried: set[str]) -> str:
        """Another name for a taken one, from get_available_name(); never the same name twice.

        A get_available_name() that keeps answering a taken name would make
        save() spin forever: stop with an error instead.
        """
        candidate = self.get_available_name(name)
        if candidate in tried or len(tried) >= MAX_NAME_TRIES:
            raise FileExistsError(
                errno.EEXIST,
                f"Cannot find a free name for '{name}': get_available_name() returned '{candidate}', "
                "which is taken. Pass allow_overwrite=True to replace it, or return a new name.",
                self.path(name),
            )
        tried.add(candidate)
        return candidate

    def delete(self, name: str) -> None:
        """Remove the mirror entry only: a link is unlinked, never followed.

        By path, as FileSystemStorage does (Django's own suites check its calls);
        collectmirror removes entries relative to directory descriptors instead.
        """
        if not name:
            raise ValueError("The name must be given to delete().")
        path = self.path(name)
        # Deleting is writing: never through a symlinked directory either.
        self._refuse_outside(os.path.dirname(path))
        try:
            if os.path.islink(path):
                os.unlink(path)
            else:
                super().delete(name)
        except FileNotFoundError:
            pass

    def ensure_directory(self, name: str) -> str:
        """Create the directory name (and its parents) inside the storage; return its path.

        Raises SuspiciousFileOperation when it resolves outside the location.
        """
        path = self.path(name)
        staging.directory_of(self, os.path.join(path, ""), create=True).fd()
        return path

    # Internals.

    def _refuse_outside(self, directory: str) -> None:
        # A symlinked directory inside the mirror could point anywhere; never
        # write through one.
        if not is_within(os.path.realpath(directory), self.real_location):
            raise SuspiciousFileOperation(
                f"The directory '{directory}' resolves outside the storage location '{self.location}'; refusing to write through it."
            )

    def _django_file_mode(self) -> int:
        """Django's mode for a new file: file_permissions_mode, else 0o666 less the umask."""
        return entries.django_file_mode(self.file_permissions_mode)
