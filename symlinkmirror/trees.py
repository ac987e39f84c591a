"""Whole mirror trees on descriptors: a copy of one made of hard links, and the entries two of them differ in.

Both walk an explicit stack of directories opened with O_NOFOLLOW from their
parents (directories.py), never following a symlink, never recursing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from enum import StrEnum

from . import entries
from .directories import Directory, NotADirectoryInMirror


def link_tree(source: Directory, target: Directory) -> None:
    """Fill the empty directory target with hard links of every entry under source; directories are made anew.

    A symlink is linked as itself (one inode: its target and its mtime come with
    it), never followed. A file that cannot be linked (an inode at its link limit,
    an immutable one) is copied, with its mode and mtime: the plan ran against
    source, where it is right, so the new tree must hold it too. Temporary entries
    and what is neither a file nor a link (a FIFO) stay behind.
    """
    # (source, target, the target's mode once filled, filled): a directory's mode is set
    # after everything under it is made, so one without owner write (0o555) can be filled.
    stack: list[tuple[Directory, Directory, int | None, bool]] = [(source, target, None, False)]
    while stack:
        src, dst, mode, filled = stack.pop()
        if filled:
            assert mode is not None
            os.fchmod(dst.fd(), mode)
            continue
        try:
            src_fd = src.fd()
        except (NotADirectoryInMirror, FileNotFoundError):
            continue  # swapped for a link, or gone, since it was listed: nothing of it is carried
        dst_fd = dst.fd()
        if mode is not None:
            stack.append((src, dst, mode, True))
        with os.scandir(src_fd) as listing:
            for entry in listing:
                name = entry.name
                if entries.is_temp(name):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    os.mkdir(name, 0o700, dir_fd=dst_fd)  # its own mode once it is filled
                    st = entry.stat(follow_symlinks=False)
                    stack.append((src.child(name), dst.child(name), stat.S_IMODE(st.st_mode), False))
                elif entry.is_symlink() or entry.is_file(follow_symlinks=False):
                    _link(name, src_fd, dst_fd, entry.is_symlink())


def _link(name: str, src_fd: int, dst_fd: int, symlink: bool) -> None:
    try:
        os.link(name, name, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in entries.GONE:
            return
        if exc.errno not in entries.CANNOT_HARDLINK:
            raise
        if symlink:  # a filesystem that cannot hard-link a symlink: the same one made again, with its mtime
            st = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
            entries.symlink_new(os.readlink(name, dir_fd=src_fd), name, dst_fd, st.st_mtime_ns)
        else:
            _copy(name, src_fd, dst_fd)


def _copy(name: str, src_fd: int, dst_fd: int) -> None:
    """A copy of the regular file name, staged and renamed in: its mode (never more readable) and mtime kept."""
    try:
        fd, st = entries.open_regular(name, src_fd, follow=False)
    except OSError as exc:
        if exc.errno in entries.GONE or exc.errno in (errno.ELOOP, errno.EINVAL):
            return  # gone, or swapped for a link or a FIFO since it was listed: the plan makes it
        raise
    try:
        tmp = entries.stage_copy(
            dst_fd, mode=entries.copy_mode(st.st_mode, None), source_fd=fd, mtime_ns=st.st_mtime_ns
        )
    finally:
        os.close(fd)
    try:
        entries.commit(tmp, name, dst_fd, replace=False)
    except BaseException:
        entries.discard(tmp, dst_fd)
        raise


def remove_tree(directory: Directory, name: str) -> None:
    """Remove the tree name in directory, entry by entry, never through a link; gone already is fine.

    The listing's types say what to unlink and what to enter, so a file costs one
    unlink (removal.remove, made for one entry anywhere, tries each as a directory first).
    """
    stack: list[tuple[Directory, Directory, bool]] = [(directory, directory.child(name), False)]
    while stack:
        parent, here, emptied = stack.pop()
        if emptied:
            os.rmdir(here.base, dir_fd=parent.fd())
            continue
        try:
            fd = here.fd()
        except (NotADirectoryInMirror, FileNotFoundError):
            with contextlib.suppress(FileNotFoundError):  # swapped for a link or a file: unlinked, not entered
                os.unlink(here.base, dir_fd=parent.fd())
            continue
        stack.append((parent, here, True))
        with os.scandir(fd) as listing:
            for entry in listing:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((here, here.child(entry.name), False))
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.name, dir_fd=fd)


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


Listing = dict[str, tuple[bool, os.stat_result | None]]  # name: (a directory, its lstat if not)


def differences(old: Directory | None, new: Directory | None) -> Iterator[tuple[str, Change, bool]]:
    """(name, change, whether new's entry is a symlink) for each file or link that differs from old to new.

    Equal: the same inode, or symlinks with the same target and mtime. One listing
    of each side per directory waiting on the stack is held, never the whole tree.
    """
    stack: list[tuple[str, Directory | None, Directory | None]] = [("", old, new)]
    while stack:
        rel, a, b = stack.pop()
        left, right = _listing(a), _listing(b)
        subdirs = []
        for name in sorted(left.keys() | right.keys()):
            child = f"{rel}/{name}" if rel else name
            x, y = left.get(name), right.get(name)
            x_dir, y_dir = x is not None and x[0], y is not None and y[0]
            if x_dir or y_dir:
                subdirs.append((child, a.child(name) if a and x_dir else None, b.child(name) if b and y_dir else None))
            x_st = None if x is None else x[1]
            y_st = None if y is None else y[1]
            if x_st is not None and y_st is not None:
                assert a is not None and b is not None
                if not _same(name, x_st, a, y_st, b):
                    yield child, Change.CHANGED, stat.S_ISLNK(y_st.st_mode)
            elif x_st is not None:
                yield child, Change.REMOVED, False
            elif y_st is not None:
                yield child, Change.ADDED, stat.S_ISLNK(y_st.st_mode)
        stack.extend(reversed(subdirs))


def _listing(directory: Directory | None) -> Listing:
    if directory is None:
        return {}
    try:
        fd = directory.fd()
        with os.scandir(fd) as scan:
            found = [entry for entry in scan if not entries.is_temp(entry.name)]
        listing: Listing = {}
        for entry in found:
            st = None if entry.is_dir(follow_symlinks=False) else entry.stat(follow_symlinks=False)
            if st is None or stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                listing[entry.name] = (st is None, st)
        return listing
    except (FileNotFoundError, NotADirectoryInMirror):
        return {}


def _same(name: str, x: os.stat_result, a: Directory, y: os.stat_result, b: Directory) -> bool:
    if (x.st_dev, x.st_ino) == (y.st_dev, y.st_ino):
        return True
    if not (stat.S_ISLNK(x.st_mode) and stat.S_ISLNK(y.st_mode)) or x.st_mtime_ns != y.st_mtime_ns:
        return False
    return os.readlink(name, dir_fd=a.fd()) == os.readlink(name, dir_fd=b.fd())
