"""Mirror directories held open by descriptor, each opened from its parent with O_NOFOLLOW, never by path."""

from __future__ import annotations

import contextlib
import errno
import os
import threading

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
NOT_A_DIRECTORY = frozenset({errno.ENOTDIR, errno.ELOOP})  # what O_DIRECTORY | O_NOFOLLOW says of a file or a link

_ENSURE_LOCK = threading.RLock()  # a directory opens its parent first


class NotADirectoryInMirror(OSError):
    """A mirror path component that is a symlink or a file: never written or listed through."""


def open_directory(name: str, dir_fd: int | None = None) -> int:
    """Open a directory, refusing a symlink or a file at its name."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in NOT_A_DIRECTORY:
            raise NotADirectoryInMirror(errno.ENOTDIR, "Not a directory (or a symlink to one)", name) from None
        raise


def make_directory(name: str, dir_fd: int, mode: int | None) -> int:
    """Open the directory name inside dir_fd, creating it first when missing."""
    try:
        return open_directory(name, dir_fd)
    except FileNotFoundError:
        pass
    with contextlib.suppress(FileExistsError):  # made meanwhile: opened below, which refuses a symlink or a file
        os.mkdir(name, 0o777 if mode is None else mode, dir_fd=dir_fd)
    fd = open_directory(name, dir_fd)
    if mode is not None:
        os.fchmod(fd, mode)  # as Django's safe_makedirs, whatever the umask
    return fd


class Directory:
    """A mirror directory, opened by descriptor from its parent on first use and closed with the object.

    Whoever uses fd keeps the Directory referenced, so the descriptor cannot be
    closed (and its number reused) under it.
    """

    __slots__ = ("parent", "base", "real", "mode", "_fd", "__weakref__")

    def __init__(self, parent: Directory | None, base: str, real: str, mode: int | None = None) -> None:
        self.parent = parent
        self.base = base  # the name in parent; for the root, its resolved path
        self.real = real  # the resolved path it stands for
        self.mode = mode  # directory_permissions_mode for the directories it creates
        self._fd: int | None = None

    def child(self, base: str) -> Directory:
        return Directory(self, base, os.path.join(self.real, base), self.mode)

    def fd(self, *, create: bool = False) -> int:
        """The open descriptor; create=True makes the directory (and its parents) first when missing."""
        if self._fd is not None:
            return self._fd
        with _ENSURE_LOCK:
            if self._fd is None:
                self._fd = self._open(create)
                # Open now, it needs its parent no more: letting go keeps the descriptors held
                # to those of the directories still waiting to be opened, not the whole depth.
                self.parent = None
        return self._fd

    def _open(self, create: bool) -> int:
        # From the nearest ancestor already open, one component at a time (no recursion:
        # a tree may be as deep as PATH_MAX allows); the ancestors opened on the way are
        # closed again, never published, so no other thread can be using them.
        chain: list[Directory] = []
        node: Directory = self
        while node._fd is None and node.parent is not None:
            chain.append(node)
            node = node.parent
        if node._fd is None:
            if create:
                os.makedirs(node.base, exist_ok=True)
            node._fd = os.open(node.base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            if not chain:
                return node._fd
        fd, opened = node._fd, []
        try:
            for child in reversed(chain):
                fd = make_directory(child.base, fd, child.mode) if create else open_directory(child.base, fd)
                opened.append(fd)
        except BaseException:
            for extra in opened:
                os.close(extra)
            raise
        for extra in opened[:-1]:
            os.close(extra)
        return fd

    def descend(self, rel: str) -> Directory:
        directory = self
        for part in rel.split("/") if rel else ():
            directory = directory.child(part)
        return directory

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
