"""Source symlinks: a link to a trusted file is followed, a linked directory walked once per (st_dev, st_ino)."""

from __future__ import annotations

import errno
import os
import re
import stat
from collections import deque
from collections.abc import Generator

from .directories import Directory
from .frame import Frame
from .listing import Key, lookup, reason
from .pairs import Pair, SourceEntry
from .paths import containing_root, is_within
from .sources import Source
from .vocab import FileType, SkipReason


class Follower:
    """One walk's source links: the trust rule, the directories walked, the linked ones still to walk."""

    __slots__ = (
        "source",
        "root",
        "real_root",
        "link_roots",
        "trusted",
        "follow_external",
        "against_empty",
        "visited",
        "deferred",
        "scoped",
        "ignored",
    )

    def __init__(
        self,
        source: Source,
        root: Directory,
        *,
        real_root: str | None,
        link_roots: tuple[str, ...],
        trusted: tuple[str, ...],
        follow_external: bool,
        against_empty: bool,
        scoped: bool = False,
        ignored: re.Pattern[str] | None = None,
    ) -> None:
        self.source = source
        self.root = root
        self.real_root = real_root
        self.link_roots = link_roots  # resolved: files inside are linked
        self.trusted = trusted  # resolved: source links may lead inside
        self.follow_external = follow_external
        self.against_empty = against_empty  # a dry run of --clear: as if the mirror were empty
        # The identity of every directory walked, so each is mirrored once, whatever links lead to it.
        self.visited: set[Key] = set()
        # Linked directories, walked after every real directory: (rel, resolved path, identity, ancestors).
        self.deferred: deque[tuple[str, str, Key, frozenset[Key]]] = deque()
        # One part of a scoped run: every plain directory of the source is some part's to walk.
        self.scoped = scoped
        self.ignored = ignored

    def follow(self, rel: str, path: str, ancestors: frozenset[Key]) -> SourceEntry | None:
        """The entry a link at path stands for; None for a directory, deferred to be walked after every real one."""
        try:
            target = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):  # ENOTDIR: the target path runs through a file
            return SourceEntry(skip=SkipReason.BROKEN_LINK, detail="a symlink whose target does not exist")
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a chain of links that never ends
                return SourceEntry(skip=SkipReason.LOOP, detail="a symlink loop")
            return SourceEntry(error=reason(exc))
        real_path = os.path.realpath(path)
        if not self._trusted(real_path):
            detail = f"a symlink to '{real_path}', outside the source root and every trusted root"
            return SourceEntry(skip=SkipReason.ESCAPING_LINK, detail=detail)
        if stat.S_ISDIR(target.st_mode):
            self.deferred.append((rel, real_path, (target.st_dev, target.st_ino), ancestors))
            return None
        if not stat.S_ISREG(target.st_mode):
            return SourceEntry(skip=SkipReason.SPECIAL, detail="a symlink to something that is not a regular file")
        wants_link = containing_root(real_path, self.link_roots) is not None
        return SourceEntry(FileType.FILE, real_path, wants_link, st=target)

    def _trusted(self, real_path: str) -> bool:
        """A link may lead inside its source root or inside a trusted root, or anywhere with --follow-external-links."""
        assert self.real_root is not None
        return (
            self.follow_external
            or is_within(real_path, self.real_root)
            or containing_root(real_path, self.trusted) is not None
        )

    def _walked_by_another_part(self, real_path: str) -> bool:
        """Whether a part of the run other than this one walks the directory (a scoped run's parts cover the source).

        What a whole run walks as a real directory, one of its parts may not have:
        its link is then as much a duplicate as in the whole run.
        """
        if not self.scoped or self.real_root is None or not is_within(real_path, self.real_root):
            return False
        names = os.path.relpath(real_path, self.real_root).split(os.sep)
        return not (self.ignored is not None and any(self.ignored.match(name) for name in names if name != "."))

    def undefer(self) -> Generator[Pair, None, Frame | None]:
        """A symlinked directory, after every real one: walked unless its directory was walked already."""
        rel, real_path, key, ancestors = self.deferred.popleft()
        mirror_name = self.source.mirror_name(rel)
        parent_rel, _, base = mirror_name.rpartition("/")
        parent = self.root.descend(parent_rel)
        dst = None if self.against_empty else lookup(parent, base)
        if key in self.visited or self._walked_by_another_part(real_path):
            skip = SkipReason.LOOP if key in ancestors else SkipReason.DUPLICATE
            detail = (
                "a symlink to one of its own parent directories"
                if skip is SkipReason.LOOP
                else f"a symlink to '{real_path}', a directory mirrored at another name already"
            )
            yield Pair(
                self.source,
                mirror_name,
                SourceEntry(FileType.DIRECTORY, skip=skip, detail=detail),
                dst,
                directory=parent,
            )
            return None
        self.visited.add(key)
        pair = Pair(self.source, mirror_name, SourceEntry(FileType.DIRECTORY), dst, directory=parent)
        listed = dst is not None and dst.kind is FileType.DIRECTORY
        return Frame(rel, real_path, key, parent.child(base), listed, ancestors | {key}, pair)
