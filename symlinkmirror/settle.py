"""The plan's "ok", reached without a Pair: entries exactly right, settled a directory at a time.

On a refresh nearly every entry is already right, and building a SourceEntry,
a MirrorEntry, a Pair and a Step for each costs more than its syscalls. The
settler recognises the three entries the plan calls ok with nothing to do
(the wanted symlink whose target is unchanged, an equal copy, the wanted hard
link) from the DirEntries of the two listings and the syscalls plan.decide()
would make, and hands back everything else for a Pair and plan.decide(). It
may decline any entry (the plan then decides it); it never settles one the
plan would not call ok: tests/test_settle.py holds the two to the same answer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import NamedTuple

from .paths import link_stamp
from .vocab import LinkStyle


class Settled(NamedTuple):
    """Entries of one directory found right, in the walk's stream among the pairs: unmodified, all of them."""

    source: str  # the source's name
    prefix: str  # their mirror directory's name, with its trailing '/' ('' for the mirror root)
    names: list[str]  # their base names, in name order


class Settler:
    """One run's shortcut: which entries it may settle."""

    __slots__ = ("style", "checksum", "ignored")

    def __init__(self, style: LinkStyle, *, checksum: bool = False, ignored: re.Pattern[str] | None = None) -> None:
        self.style = style
        self.checksum = checksum  # copies then need their bytes compared: the plan does that
        self.ignored = ignored  # ignored names keep whatever the mirror holds: the plan says so

    def directory(
        self,
        entries: list[os.DirEntry[str]],
        mirror: dict[str, os.DirEntry[str]],
        mirror_fd: int,
        *,
        link_prefix: str | None,
        rel_prefix: str,
        unsettled: frozenset[str] = frozenset(),
    ) -> tuple[list[os.DirEntry[str]], list[str]]:
        """Settle what is right in one directory: (the source entries left, the names settled), theirs dropped from mirror.

        link_prefix: what the wanted symlink of each file holds before its name
        (None: the directory's files are copies, or hard links with style hard).
        """
        stat = os.stat
        if link_prefix is not None and self.style is not LinkStyle.HARD:
            readlink = os.readlink

            def right(name: str, entry: os.DirEntry[str]) -> bool:
                # plan._file's first case: the wanted symlink, which still records its target's ctime.
                return readlink(name, dir_fd=mirror_fd) == link_prefix + name and stat(
                    name, dir_fd=mirror_fd, follow_symlinks=False
                ).st_mtime_ns == link_stamp(entry.stat(follow_symlinks=False))

        elif link_prefix is not None or not self.checksum:
            # plan._copy's ok: the wanted hard link (one inode), or a copy of equal size and mtime.
            same = _same_inode if link_prefix is not None else _same_size_and_mtime

            def right(name: str, entry: os.DirEntry[str]) -> bool:
                return same(stat(name, dir_fd=mirror_fd, follow_symlinks=False), entry.stat(follow_symlinks=False))

        else:
            return entries, []  # --checksum: every copy's bytes are the plan's to compare
        symlinks = link_prefix is not None and self.style is not LinkStyle.HARD
        return self._settle(entries, mirror, rel_prefix, unsettled, symlinks, right)

    def _settle(
        self,
        entries: list[os.DirEntry[str]],
        mirror: dict[str, os.DirEntry[str]],
        rel_prefix: str,
        unsettled: frozenset[str],
        symlinks: bool,
        right: Callable[[str, os.DirEntry[str]], bool],
    ) -> tuple[list[os.DirEntry[str]], list[str]]:
        """Each regular source file whose mirror entry is of the wanted type and right; the rest for the plan."""
        rest, names = [], []
        ignored = self.ignored
        for entry in entries:
            name = entry.name
            dst = mirror.get(name)
            if (
                dst is None
                or not (dst.is_symlink() if symlinks else dst.is_file(follow_symlinks=False))
                or not entry.is_file(follow_symlinks=False)
                or name in unsettled
                or (ignored is not None and (ignored.match(name) or (rel_prefix and ignored.match(rel_prefix + name))))
            ):
                rest.append(entry)
                continue
            try:
                settled = right(name, entry)
            except OSError:
                settled = False  # the plan looks again, and names what it finds
            if settled:
                del mirror[name]
                names.append(name)
            else:
                rest.append(entry)
        return rest, names


def _same_inode(ours: os.stat_result, theirs: os.stat_result) -> bool:
    return ours.st_ino == theirs.st_ino and ours.st_dev == theirs.st_dev


def _same_size_and_mtime(ours: os.stat_result, theirs: os.stat_result) -> bool:
    return ours.st_size == theirs.st_size and ours.st_mtime_ns == theirs.st_mtime_ns
