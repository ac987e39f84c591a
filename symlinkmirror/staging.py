"""How the storage's put() makes one entry: the content's own file, its directory, a link or a copy staged beside it."""

from __future__ import annotations

import errno
import io
import os
import stat
from typing import TYPE_CHECKING, Any

from django.core.files import File
from django.utils._os import safe_makedirs

from . import directories, entries
from .paths import link_stamp, link_target
from .vocab import EntryKind

if TYPE_CHECKING:
    from .storage import SymlinkOrCopyStorage


def local_path(content: Any) -> str | None:
    """The real path of the file backing content, or None.

    Only content that reads exactly the bytes of the file its name points to
    counts: Django File objects that do not change what they read, around a
    plain open file whose descriptor is that very file. A File subclass
    that rewrites its chunks (a watermark), a temporary upload (deleted
    after the request), a ContentFile or a renamed File is copied.
    """
    obj = content
    for _depth in range(4):
        if isinstance(obj, File):
            cls = type(obj)
            if cls.chunks is not File.chunks or cls.read is not File.read or cls.__iter__ is not File.__iter__:
                return None
            if hasattr(obj, "temporary_file_path"):
                return None
            obj = obj.file
            continue
        if not isinstance(obj, io.IOBase):
            return None  # an unknown wrapper may change the bytes it reads
        name = getattr(obj, "name", None)
        if not isinstance(name, str):
            return None
        try:
            opened, named = os.fstat(obj.fileno()), os.stat(name)
        except (OSError, ValueError):
            return None
        same = (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino)
        return os.path.realpath(name) if same and stat.S_ISREG(named.st_mode) else None
    return None


def directory_of(storage: SymlinkOrCopyStorage, full_path: str, *, create: bool) -> directories.Directory:
    """The directory full_path lies in, made as Django makes it, then opened without following a symlink.

    Every later step is relative to that descriptor: a component swapped
    for a symlink after the checks is refused, never written through.
    """
    directory = os.path.dirname(full_path)
    if create:
        _make_directory(storage, full_path)
    else:
        storage._refuse_outside(directory)
    location = os.path.abspath(storage.location)
    root = directories.Directory(None, location, location)
    opened = root.descend(os.path.relpath(directory, location).replace(os.sep, "/").removeprefix("."))
    try:
        opened.fd()
    except directories.NotADirectoryInMirror:
        storage._refuse_outside(directory)  # swapped for a link meanwhile
        raise FileExistsError(f"{directory} exists and is not a directory.") from None
    return opened


def _make_directory(storage: SymlinkOrCopyStorage, full_path: str) -> None:
    directory = os.path.dirname(full_path)
    # Before creating anything (realpath resolves the part that exists),
    # and again after, in case a symlink was swapped in meanwhile.
    storage._refuse_outside(directory)
    try:
        if storage.directory_permissions_mode is not None:
            safe_makedirs(directory, storage.directory_permissions_mode, exist_ok=True)
        else:
            os.makedirs(directory, exist_ok=True)
    except FileExistsError:
        raise FileExistsError(f"{directory} exists and is not a directory.") from None
    storage._refuse_outside(directory)


def make(
    storage: SymlinkOrCopyStorage,
    full_path: str,
    real_source: str | None,
    content: Any,
    style: str,
    *,
    link: bool,
    replace: bool,
    preserve: bool,
    mtime_ns: int | None,
) -> EntryKind:
    """put()'s work, once its arguments are checked: the entry made in its directory, opened by descriptor."""
    directory = directory_of(storage, full_path, create=True)  # held: its descriptor is used to the end
    dir_fd, base = directory.fd(), os.path.basename(full_path)
    if link:
        assert real_source is not None
        # The source may have changed since the caller looked at it: never
        # link a directory (it would publish every file in it) or a device.
        entries.require_regular_file(real_source)
        if not replace:
            # Creating a link is atomic and fails on an existing name: make
            # a new one in place. Only replacing needs the temporary name.
            made = link_in_place(storage, dir_fd, base, full_path, real_source, style)
            if made:
                return made
    tmp, made = stage(storage, dir_fd, full_path, real_source, content, style, link=link, preserve=preserve)
    commit_staged(tmp, dir_fd, full_path, replace=replace, mtime_ns=mtime_ns if made is EntryKind.COPY else None)
    return made


def commit_staged(tmp: str, dir_fd: int, full_path: str, *, replace: bool, mtime_ns: int | None) -> None:
    """Rename the staged tmp to full_path's name (stamping it first), or remove it and raise."""
    try:
        if mtime_ns is not None:
            entries.stamp(tmp, dir_fd, mtime_ns)
        entries.commit(tmp, os.path.basename(full_path), dir_fd, replace=replace)
    except FileExistsError:
        entries.discard(tmp, dir_fd)
        raise FileExistsError(errno.EEXIST, "File exists", full_path) from None
    except BaseException:
        entries.discard(tmp, dir_fd)
        raise


def link_in_place(
    storage: SymlinkOrCopyStorage, dir_fd: int, base: str, full_path: str, real_source: str, style: str
) -> EntryKind | None:
    """Make a new link at base; None when this filesystem cannot, so the caller copies."""
    try:
        if style == "hard":
            entries.hardlink_new(real_source, base, dir_fd)
            return EntryKind.HARDLINK
        if storage._symlinks_unsupported:
            return None
        target = link_target(real_source, full_path, style)
        entries.symlink_new(target, base, dir_fd, link_stamp(os.stat(real_source)))
        return EntryKind.SYMLINK
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "File exists", full_path) from None
    except OSError as exc:
        if exc.errno in (entries.CANNOT_HARDLINK if style == "hard" else entries.CANNOT_SYMLINK):
            return None
        raise


def stage(
    storage: SymlinkOrCopyStorage,
    dir_fd: int,
    full_path: str,
    real_source: str | None,
    content: Any,
    style: str,
    *,
    link: bool,
    preserve: bool,
) -> tuple[str, EntryKind]:
    """Make the entry under a temporary name: a link to real_source when link is set and possible, else a copy."""
    if link and real_source is not None:
        try:
            if style == "hard":
                return entries.stage_hardlink(real_source, dir_fd), EntryKind.HARDLINK
            if not storage._symlinks_unsupported:
                target = link_target(real_source, full_path, style)
                published = link_stamp(os.stat(real_source))  # the link's own mtime records it
                return entries.stage_symlink(target, dir_fd, published), EntryKind.SYMLINK
        except OSError as exc:
            if exc.errno not in (entries.CANNOT_HARDLINK if style == "hard" else entries.CANNOT_SYMLINK):
                raise
            if style != "hard" and not storage._no_symlinks(exc):
                raise  # this name's failure (an immutable directory), not the filesystem's
    if real_source is not None:
        before = entries.require_regular_file(real_source)
        mtime_ns = None
        if preserve:
            mode, mtime_ns = entries.copy_mode(before.st_mode, storage.file_permissions_mode), before.st_mtime_ns
        else:
            mode = storage._django_file_mode()
        tmp = entries.stage_copy(dir_fd, real_source=real_source, mode=mode, mtime_ns=mtime_ns)
    else:
        tmp = entries.stage_copy(dir_fd, content=content, mode=storage._django_file_mode())
    storage._ensure_location_group_id(os.path.join(os.path.dirname(full_path), tmp))  # type: ignore[attr-defined]
    return tmp, EntryKind.COPY
