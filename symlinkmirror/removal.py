"""Mirror entries removed relative to open directory descriptors, a whole tree entry by entry, never through a link."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from .directories import NotADirectoryInMirror, open_directory


def remove(
    base: str, dir_fd: int, on_removed: Callable[[str], None], label: str = "", *, dry_run: bool = False
) -> bool:
    """Remove the entry base (a whole directory tree, entry by entry) without following any link.

    on_removed receives the label-relative name of each non-directory removed
    (dry_run: that would be). A directory swapped for a symlink meanwhile is
    unlinked, never entered. Returns whether base was a directory.
    """
    label = label or base
    st = os.stat(base, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        try:
            top = open_directory(base, dir_fd)
        except NotADirectoryInMirror:
            pass  # swapped for a link or a file since the lstat: unlinked below
        else:
            _remove_tree(top, base, dir_fd, label, on_removed, dry_run)
            return True
    if not dry_run:
        os.unlink(base, dir_fd=dir_fd)
    on_removed(label)
    return False


def _remove_tree(
    top: int, base: str, dir_fd: int, label: str, on_removed: Callable[[str], None], dry_run: bool
) -> None:
    # An explicit stack of (descriptor, its name in the parent, label, entries left): no recursion.
    stack: list[tuple[int, str, str, list[str]]] = [(top, base, label, _names(top))]
    try:
        while stack:
            fd, name, here, names = stack[-1]
            if not names:
                stack.pop()
                os.close(fd)
                if not dry_run:
                    os.rmdir(name, dir_fd=stack[-1][0] if stack else dir_fd)
                continue
            child_name = names.pop()
            child = f"{here}/{child_name}"
            try:
                sub = open_directory(child_name, fd)
            except NotADirectoryInMirror:
                _unlink_quietly(child_name, fd, child, on_removed, dry_run)
                continue
            except FileNotFoundError:
                continue
            stack.append((sub, child_name, child, _names(sub)))
    finally:
        for fd, *_rest in stack:
            os.close(fd)


def _names(fd: int) -> list[str]:
    with os.scandir(fd) as entries:
        return sorted((entry.name for entry in entries), reverse=True)


def _unlink_quietly(name: str, dir_fd: int, label: str, on_removed: Callable[[str], None], dry_run: bool) -> None:
    if not dry_run:
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return
    on_removed(label)
