"""The facts the plan decides on: one source entry and one mirror entry, read lazily, or given outright in tests."""

from __future__ import annotations

import errno
import os
from stat import S_ISREG
from typing import Any

from .directories import Directory
from .entries import open_regular, same_bytes
from .paths import link_stamp, temp_owner_alive
from .sources import Source
from .vocab import FileType, Role, SkipReason


class SourceEntry:
    """What the source holds at a name: a file (followed through its links), a directory, or why not.

    The stat is read once, when the plan first needs it. A test builds one
    with st= given (any object with st_size, st_mtime_ns, st_ctime_ns, st_dev, st_ino).
    """

    __slots__ = (
        "kind",
        "real_path",
        "wants_link",
        "skip",
        "detail",
        "error",
        "_st",
        "_node",
        "_storage",
        "_rel",
        "_owner",
    )

    def __init__(
        self,
        kind: FileType = FileType.FILE,
        real_path: str | None = None,
        wants_link: bool = False,
        *,
        skip: SkipReason | None = None,
        detail: str = "",
        error: str | None = None,
        st: Any = None,
        node: Any = None,
        storage: Any = None,
        rel: str = "",
        owner: Any = None,
    ) -> None:
        self.kind = kind
        self.real_path = real_path  # resolved; None for a storage without local paths
        self.wants_link = wants_link  # real_path lies inside a trusted root
        self.skip = skip
        self.detail = detail
        self.error = error  # the source could not be read (listed, or followed)
        self._st = st
        self._node = node  # a DirEntry of the regular file, stat()ed only when needed
        self._storage = storage
        self._rel = rel
        self._owner = owner  # keeps the directory descriptor a DirEntry node stats through open

    def _stat(self) -> Any:
        if self._st is None:
            if self._node is not None:
                self._st = self._node.stat(follow_symlinks=False)
            elif self.real_path is not None:
                self._st = os.stat(self.real_path)
        return self._st

    def stat(self) -> tuple[int, int]:
        """(size, mtime_ns); any storage's exception propagates, for the plan to call it unreadable."""
        st = self._stat()
        if st is not None:
            return st.st_size, st.st_mtime_ns
        modified = self._storage.get_modified_time(self._rel)
        return self._storage.size(self._rel), int(modified.timestamp() * 1_000_000) * 1000

    def regular(self) -> Any:
        """The file's stat, which must show a regular file still: a link to a directory would publish it all.

        Read relative to the source directory's descriptor where the walk listed
        it (no path walked again), once: the stat the plan read, if it read one.
        """
        st = self._stat()
        if st is None:
            raise OSError(errno.EINVAL, "The source has no local file", self._rel)
        if not S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "The source is no longer a regular file", self.real_path)
        return st

    def link_stamp(self) -> int:
        """What the mirror symlink to this file records of it (paths.link_stamp): a local file's ctime."""
        return link_stamp(self._stat())

    def inode(self) -> tuple[int, int]:
        st = self._stat()
        return st.st_dev, st.st_ino

    def open(self) -> Any:
        """The bytes to copy or compare: a local file never blocks (O_NONBLOCK) and must be regular."""
        if self.real_path is not None:
            fd, _st = open_regular(self.real_path)
            return os.fdopen(fd, "rb", buffering=0)
        return self._storage.open(self._rel, "rb")


class MirrorEntry:
    """What the mirror holds at a name, read relative to its directory's descriptor when first asked."""

    __slots__ = (
        "kind",
        "base",
        "directory",
        "_st",
        "_target",
        "_resolved",
        "_exists",
        "_same",
        "_live",
        "_holds",
        "_to_directory",
    )

    def __init__(
        self,
        kind: FileType,
        base: str = "",
        directory: Directory | None = None,
        *,
        st: Any = None,
        target: str | None = None,
        resolved: str | None = None,
        exists: bool | None = None,
        same: bool | None = None,
        live: bool | None = None,
        holds: bool | None = None,
        to_directory: bool | None = None,
    ) -> None:
        self.kind = kind
        self.base = base
        self.directory = directory
        self._st, self._target, self._resolved, self._exists = st, target, resolved, exists
        self._same, self._live, self._holds, self._to_directory = same, live, holds, to_directory

    def lstat(self) -> Any:
        if self._st is None:
            assert self.directory is not None
            self._st = os.stat(self.base, dir_fd=self.directory.fd(), follow_symlinks=False)
        return self._st

    def target(self) -> str | None:
        """What the symlink holds; None when it is no longer a symlink."""
        if self._target is None:
            assert self.directory is not None
            try:
                self._target = os.readlink(self.base, dir_fd=self.directory.fd())
            except OSError:
                return None
        return self._target

    def resolved(self) -> str:
        if self._resolved is None:
            assert self.directory is not None
            self._resolved = os.path.realpath(os.path.join(self.directory.real, self.base))
        return self._resolved

    def resolves(self) -> bool:
        """Whether a symlink's target exists."""
        if self._exists is None:
            self._exists = os.path.exists(self.resolved())
        return self._exists

    def resolves_to_directory(self) -> bool:
        """Whether a symlink ends in a directory: served, it would publish every file in it."""
        if self._to_directory is None:
            self._to_directory = os.path.isdir(self.resolved())
        return self._to_directory

    def same_bytes(self, source: SourceEntry) -> bool:
        if self._same is None:
            assert self.directory is not None
            with source.open() as content:
                return same_bytes(content, self.base, self.directory.fd())
        return self._same

    def temp_live(self) -> bool:
        """Whether the process that made this temporary entry still runs (a save() about to commit it)."""
        if self._live is None:
            self._live = temp_owner_alive(self.base)
        return self._live

    def holds_entries(self) -> bool:
        if self._holds is not None:
            return self._holds
        if self.kind is not FileType.DIRECTORY or self.directory is None:
            return False
        child = self.directory.child(self.base)  # referenced while its descriptor is in use
        try:
            with os.scandir(child.fd()) as entries:
                return any(True for _entry in entries)
        except OSError:
            return False


class Pair:
    """One source entry and the mirror entry at the same name: the plan's unit (None on a side that has none)."""

    __slots__ = ("source", "name", "base", "directory", "src", "dst", "role")

    def __init__(
        self,
        source: Source,
        name: str,
        src: SourceEntry | None,
        dst: MirrorEntry | None,
        *,
        directory: Directory | None = None,
        role: Role = Role.MANAGED,
        base: str | None = None,
    ) -> None:
        self.source = source
        self.name = name  # the mirror name
        self.base = name.rpartition("/")[2] if base is None else base
        self.directory = directory  # the mirror directory the entry lives (or will live) in
        self.src = src
        self.dst = dst
        self.role = role

    def __repr__(self) -> str:
        return f"Pair({self.name!r}, src={_kind(self.src)}, dst={_kind(self.dst)}, role={self.role})"


def _kind(entry: SourceEntry | MirrorEntry | None) -> str:
    if entry is None:
        return "None"
    if isinstance(entry, SourceEntry) and (entry.skip or entry.error):
        return f"{entry.skip or 'error'}"
    return str(entry.kind)
