"""Listing one directory of a source (three ways, one result) or of the mirror (through its descriptor)."""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

from django.core.files.storage import Storage

from .directories import Directory, NotADirectoryInMirror
from .pairs import MirrorEntry, SourceEntry
from .vocab import FileType, SkipReason

Key = tuple[int, int]  # (st_dev, st_ino) of a directory
Row = tuple[str, str, Any]  # (name, listing kind, DirEntry, stat or None)

STALE = "The directory was replaced while it was being mirrored"


def list_source(storage: Storage, rel: str, real: str | None, holder: Descriptor | None) -> list[Row]:
    """[(name, kind, stat-or-DirEntry)], kind in file, dir, link, special, unsafe, conflict; sorted by name.

    Through the descriptor the walk checked (holder, for Django's own
    FileSystemStorage), storage.listdir() and lstat() for a storage with local
    paths, storage.listdir() alone for one without.
    """
    if holder is not None:
        with os.scandir(holder.fd) as entries:  # through the descriptor checked, not by path again
            return rows(list(entries))
    listing = _list_local(storage, rel, real) if real is not None else _list_remote(storage, rel)
    listing.sort(key=lambda row: row[0])
    return listing


def _list_local(storage: Storage, rel: str, real: str) -> list[Row]:
    try:
        dirs, files = storage.listdir(rel)
    except OSError:
        # FileSystemStorage.listdir follows every symlink and raises on a loop:
        # list the names here, so one bad link is skipped, not the directory.
        with os.scandir(real) as entries:
            dirs, files = [], [entry.name for entry in entries]
    listing: list[Row] = []
    for name in dict.fromkeys([*dirs, *files]):
        if not _plain_name(name):
            listing.append((name, "unsafe", None))
            continue
        try:
            st = os.lstat(os.path.join(real, name))
        except FileNotFoundError:
            continue  # vanished between listing and looking
        listing.append((name, _kind_of_mode(st.st_mode), st))
    return listing


def _list_remote(storage: Storage, rel: str) -> list[Row]:
    dirs, files = storage.listdir(rel)
    listing: list[Row] = [(name, "dir" if _plain_name(name) else "unsafe", None) for name in dict.fromkeys(dirs)]
    taken = set(dirs)
    for name in dict.fromkeys(files):
        # A key 'reports' beside 'reports/2024.pdf': the directory wins, deterministically.
        kind = "unsafe" if not _plain_name(name) else "conflict" if name in taken else "file"
        listing.append((name, kind, None))
    return listing


class Descriptor:
    """A source directory's descriptor, open while any DirEntry listed through it may still be stat()ed."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __del__(self) -> None:
        os.close(self.fd)


SKIPS = {
    "special": lambda: SourceEntry(skip=SkipReason.SPECIAL, detail="a FIFO, socket or device, not a regular file"),
    "unsafe": lambda: SourceEntry(
        skip=SkipReason.UNSAFE_NAME, detail="the storage lists it under a name that is not a plain file name"
    ),
    "conflict": lambda: SourceEntry(
        skip=SkipReason.CONFLICT, detail="the storage lists a directory of the same name, which is mirrored instead"
    ),
}


def lookup(directory: Directory, base: str) -> MirrorEntry | None:
    """The mirror entry base in directory, or None."""
    try:
        st = os.stat(base, dir_fd=directory.fd(), follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryInMirror, NotADirectoryError):
        return None
    return MirrorEntry(_entry_kind(st.st_mode), base, directory, st=st)


def list_mirror(directory: Directory) -> dict[str, MirrorEntry]:
    return mirror_entries(directory, scan_mirror(directory))


def scan_mirror(directory: Directory) -> dict[str, os.DirEntry[str]]:
    try:
        with os.scandir(directory.fd()) as entries:
            return {entry.name: entry for entry in entries}
    except (FileNotFoundError, NotADirectoryInMirror, NotADirectoryError):
        return {}  # gone, or swapped for a symlink: never listed through


def mirror_entries(directory: Directory, scanned: dict[str, os.DirEntry[str]]) -> dict[str, MirrorEntry]:
    return {name: MirrorEntry(_mirror_kind(entry), name, directory) for name, entry in scanned.items()}


def rows(entries: list[os.DirEntry[str]]) -> list[Row]:
    """A source directory's DirEntries as listing rows, sorted by name."""
    listing = [(entry.name, _kind_of_entry(entry), entry) for entry in entries]
    listing.sort(key=lambda row: row[0])
    return listing


# Looked up once: an enum member read through its class costs more than the DirEntry's answer on Python 3.11.
_SYMLINK, _DIRECTORY, _FILE, _SPECIAL = FileType.SYMLINK, FileType.DIRECTORY, FileType.FILE, FileType.SPECIAL


def _mirror_kind(entry: os.DirEntry[str]) -> FileType:
    if entry.is_symlink():
        return _SYMLINK
    if entry.is_dir(follow_symlinks=False):
        return _DIRECTORY
    if entry.is_file(follow_symlinks=False):
        return _FILE
    return _SPECIAL


def _entry_kind(mode: int) -> FileType:
    if stat.S_ISLNK(mode):
        return FileType.SYMLINK
    if stat.S_ISDIR(mode):
        return FileType.DIRECTORY
    if stat.S_ISREG(mode):
        return FileType.FILE
    return FileType.SPECIAL


def _plain_name(name: str) -> bool:
    """One path component: a listing (a remote storage's keys) may hold '..', '' or 'a/b',
    which would land elsewhere in the mirror, outside the source's prefix."""
    return name not in ("", ".", "..") and "/" not in name and "\x00" not in name


_KINDS = {FileType.SYMLINK: "link", FileType.DIRECTORY: "dir", FileType.FILE: "file", FileType.SPECIAL: "special"}


def _kind_of_entry(entry: os.DirEntry[str]) -> str:
    return _KINDS[_mirror_kind(entry)]


def _kind_of_mode(mode: int) -> str:
    return _KINDS[_entry_kind(mode)]


def identity(node: Any) -> Key | None:
    """(st_dev, st_ino) of a listed directory, to recognise it when the walk gets there."""
    if node is None:
        return None
    st = node if isinstance(node, os.stat_result) else node.stat(follow_symlinks=False)
    return st.st_dev, st.st_ino


def open_source_directory(path: str, expect: Key | None) -> int:
    """Open a source directory without following a symlink swapped in since it was listed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if expect is not None and exc.errno in (errno.ENOTDIR, errno.ELOOP):  # now a symlink or a file
            raise OSError(errno.ESTALE, STALE, path) from exc
        raise
    if expect is not None:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != expect:
            os.close(fd)
            raise OSError(errno.ESTALE, STALE, path)
    return fd


def check_directory(path: str, expect: Key) -> None:
    st = os.stat(path)  # a symlinked directory is walked through its link, checked against its target
    if not stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) != expect:
        raise OSError(errno.ESTALE, STALE, path)


def reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__
