"""Pairs (source entry, mirror entry) directory by directory, with an explicit stack: no recursion.

Memory holds the listings of the directories waiting on the stack, never the
whole tree, plus the identity of each directory walked: a directory reached
through symlinks is mirrored once per source, the other paths to it reported.
Source symlinks are follow.py's to judge, mirror-only entries orphans.py's.
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Generator, Iterator
from typing import Any

from .directories import Directory
from .follow import Follower
from .frame import Frame
from .listing import (
    SKIPS,
    Descriptor,
    Row,
    check_directory,
    identity,
    list_mirror,
    list_source,
    lookup,
    mirror_entries,
    open_source_directory,
    reason,
    rows,
    scan_mirror,
)
from .lock import LOCK_NAME
from .orphans import MirrorOnly, push_orphan_directory
from .pairs import MirrorEntry, Pair, SourceEntry
from .paths import containing_root
from .plan import link_prefix
from .scope import Part
from .settle import Settled, Settler
from .sources import Source, compile_patterns, uses_fast_path
from .vocab import FileType, SkipReason

# Looked up once: an enum member read through its class costs as much as the rest of a file's pair on Python 3.11.
_FILE, _DIRECTORY = FileType.FILE, FileType.DIRECTORY


class Walk:
    """One source's pairs, in name order within each directory, each directory's pair before its contents."""

    def __init__(
        self,
        source: Source,
        root: Directory,
        *,
        link_roots: tuple[str, ...],
        trusted: tuple[str, ...] = (),
        ignore_patterns: list[str] | None = None,
        follow_external: bool = False,
        reserved: frozenset[str] = frozenset(),
        descend_orphans: bool = False,
        against_empty: bool = False,
        fast: bool | None = None,
        settler: Settler | None = None,
        part: Part | None = None,
        deadline: float | None = None,
    ) -> None:
        self.source = source
        scoped, part = part is not None, part or Part(source.name)
        self.start = part.rel  # the directory the walk starts at, '' for the source's root
        self.excluded = part.excluded
        self.shallow = part.shallow
        self.names = part.names
        self.deadline = deadline  # time.monotonic() after which unvisited subdirectories are handed off
        self.handed_off: list[str] = []  # their source-relative names
        self.root = root
        self.link_roots = link_roots  # resolved: files inside are linked
        self._ignored = compile_patterns(ignore_patterns or [])
        self.reserved = reserved  # mirror names of other sources
        self.descend_orphans = descend_orphans  # look inside orphan and kept directories, entry by entry
        self.against_empty = against_empty  # a dry run of --clear: walk as if the mirror were empty
        local_root = source.local_root
        self.real_root = os.path.realpath(local_root) if local_root is not None else None
        self.fast = uses_fast_path(source.storage) if fast is None else fast
        if self.real_root is None:
            self.fast = False
        # Entries exactly right are settled without a Pair (a directory listed through its descriptor only).
        self.settler = settler if self.fast and not against_empty and part.names is None else None
        self._mirror_only = MirrorOnly(source, reserved, descend_orphans)
        self._follower = Follower(
            source,
            root,
            real_root=self.real_root,
            link_roots=link_roots,
            trusted=trusted or link_roots,  # resolved: source links may lead inside
            follow_external=follow_external,
            against_empty=against_empty,
            scoped=scoped,
            ignored=self._ignored,
        )

    def __iter__(self) -> Iterator[Pair | Settled]:
        start = yield from self._prefix()
        if start is None:
            return
        stack, deferred, mirror_only = [start], self._follower.deferred, self._mirror_only
        while stack or deferred:
            if not stack:
                frame = yield from self._follower.undefer()
                if frame is not None:
                    stack.append(frame)
                continue
            if self.deadline is not None and stack[-1] is not start and time.monotonic() > self.deadline:
                self._hand_off(stack)
                if not stack:
                    continue
            frame = stack.pop()
            if frame.leave:
                assert frame.pair is not None
                yield frame.pair
            elif frame.role is not None:
                yield from mirror_only.directory(frame, stack)
            else:
                yield from self._directory(frame, stack)

    def _hand_off(self, stack: list[Frame]) -> None:
        """Past the deadline: the source directories not yet listed go to another walk, the rest is finished here."""
        kept = []
        for frame in stack:
            # Only a plain directory of the source can be a part: an orphan's, or one reached through a link, stays.
            plain = frame.role is None and not frame.leave and frame.rel
            if plain and (self.real_root is None or frame.real == os.path.join(self.real_root, frame.rel)):
                self.handed_off.append(frame.rel)
            else:
                kept.append(frame)
        stack[:] = kept
        self.deadline = None  # once: what is left is this walk's to finish

    # The source's own directory, reached through its prefix.

    def _prefix(self) -> Generator[Pair | Settled, None, Frame | None]:
        directory, exists = self.root, not self.against_empty
        parts = self.source.prefix.split("/") if self.source.prefix else []
        if self.start:
            if self.real_root is not None and not self._start_is_a_directory():
                return None  # gone, or no longer a plain directory: the part holding its parent reconciles it
            parts += self.start.split("/")
        pair = None
        for i, part in enumerate(parts):
            name = "/".join(parts[: i + 1])
            dst = lookup(directory, part) if exists else None
            pair = Pair(self.source, name, SourceEntry(FileType.DIRECTORY), dst, directory=directory)
            if i < len(parts) - 1:
                yield pair  # a file or a link where a directory of the path belongs is cleared first
            directory = directory.child(part)
            exists = dst is not None and dst.kind is FileType.DIRECTORY
        if self.real_root is None:
            return Frame(self.start, None, None, directory, exists, frozenset(), pair)
        real = os.path.join(self.real_root, self.start) if self.start else self.real_root
        try:
            st = os.stat(real)
        except FileNotFoundError:
            # A fresh site: nothing uploaded or collected yet. Nothing to mirror, nothing to delete.
            detail = f"the source directory '{self.real_root}' does not exist"
            yield self._root_pair(pair, SourceEntry(FileType.DIRECTORY, skip=SkipReason.ABSENT, detail=detail))
            return None
        except OSError as exc:
            yield self._root_pair(pair, SourceEntry(FileType.DIRECTORY, error=exc.strerror or str(exc)))
            return None
        key = (st.st_dev, st.st_ino)
        return Frame(self.start, real, key, directory, exists, frozenset({key}), pair)

    def _start_is_a_directory(self) -> bool:
        """Whether the part's directory is a directory of the source reached through no symlink."""
        assert self.real_root is not None
        path = os.path.join(self.real_root, self.start)
        return os.path.realpath(path) == path and os.path.isdir(path)

    def _root_pair(self, pair: Pair | None, src: SourceEntry) -> Pair:
        if pair is None:
            return Pair(self.source, "", src, None, directory=self.root)
        pair.src = src
        return pair

    # A source directory and its mirror directory, side by side.

    def _directory(self, frame: Frame, stack: list[Frame]) -> Iterator[Pair | Settled]:
        holder = None
        try:
            if self.fast:
                assert frame.real is not None
                holder = Descriptor(open_source_directory(frame.real, frame.expect))
            elif frame.real is not None and frame.expect is not None:
                check_directory(frame.real, frame.expect)
            if self.settler is not None and holder is not None:
                listing, mirror = self._settle(frame, holder)
            else:
                listing = list_source(self.source.storage, frame.rel, frame.real, holder)
                mirror = list_mirror(frame.directory) if frame.listed else {}
            if self.names is not None and frame.rel == self.start:
                names = self.names
                listing = [row for row in listing if row[0] in names]
                mirror = {name: entry for name, entry in mirror.items() if name in names}
        except Exception as exc:  # any storage's: the directory fails, nothing of it is deleted
            if frame.pair is not None:
                frame.pair.src = SourceEntry(FileType.DIRECTORY, error=reason(exc))
                yield frame.pair
            else:
                yield Pair(self.source, self.source.prefix, SourceEntry(error=reason(exc)), None)
            return
        if frame.expect is not None:
            self._follower.visited.add(frame.expect)
        if frame.pair is not None:
            yield frame.pair
        yield from self._contents(frame, listing, mirror, stack, holder)

    def _settle(self, frame: Frame, holder: Descriptor) -> tuple[list[Row], dict[str, MirrorEntry]]:
        """Both listings, less what the settler settles: the rest become pairs, in name order."""
        assert self.settler is not None and frame.real is not None
        with os.scandir(holder.fd) as listed:
            entries = list(listed)
        scanned = scan_mirror(frame.directory) if frame.listed else {}
        if scanned:
            entries, settled = self.settler.directory(
                entries,
                scanned,
                frame.directory.fd(),
                link_prefix=self._link_prefix(frame),
                rel_prefix=f"{frame.rel}/" if frame.rel else "",
                unsettled=self._unsettled(frame),
            )
            settled.sort()  # announced in name order, among the pairs
            frame.settled = settled
        return rows(entries), mirror_entries(frame.directory, scanned)

    def _link_prefix(self, frame: Frame) -> str | None:
        """What the wanted link of each file in the directory holds before the file's name, or None: copies."""
        assert self.settler is not None and frame.real is not None
        if containing_root(frame.real, self.link_roots) is None:
            return None
        return link_prefix(frame.real, frame.directory.real, self.settler.style)

    def _unsettled(self, frame: Frame) -> frozenset[str]:
        """Names in this directory the plan must see: the lock file's, other sources' prefixes."""
        if frame.rel:
            return frozenset()
        names = {LOCK_NAME} if not self.source.prefix else set()
        skip = len(self.source.prefix) + 1 if self.source.prefix else 0
        names.update(other[skip:].partition("/")[0] for other in self.reserved)
        return frozenset(names)

    def _settled(self, frame: Frame, mirror_prefix: str, before: str | None) -> Settled:
        """The names settled that sort before `before` (None: all of them), taken from the frame's."""
        settled = frame.settled
        assert settled is not None
        count = len(settled) if before is None else bisect.bisect_left(settled, before)
        names = settled[:count]
        del settled[:count]
        return Settled(self.source.name, mirror_prefix, names)

    def _contents(
        self,
        frame: Frame,
        listing: list[Row],
        mirror: dict[str, MirrorEntry],
        stack: list[Frame],
        holder: Descriptor | None,
    ) -> Iterator[Pair | Settled]:
        """Each listed name's pair (or Settled) in name order, then the orphans; the subdirectories go on the stack."""
        present: set[str] = set()
        subdirs: list[Frame] = []
        wants_link = frame.real is not None and containing_root(frame.real, self.link_roots) is not None
        ignored, descend = self._ignored, self.descend_orphans
        rel_prefix, mirror_prefix, real_prefix = self._prefixes(frame)
        directory, source = frame.directory, self.source
        settled = frame.settled
        excluded, shallow = self.excluded, self.shallow and frame.rel == self.start
        for name, kind, node in listing:
            if settled and settled[0] < name:
                yield self._settled(frame, mirror_prefix, name)  # in name order, as if each were a pair
            rel = rel_prefix + name
            mirror_name = mirror_prefix + name if name else source.mirror_name(rel)
            present.add(name)
            if ignored is not None and (ignored.match(name) or (kind != "dir" and rel_prefix and ignored.match(rel))):
                if name in mirror:  # ignored names keep their mirror entries
                    yield from self._mirror_only.kept(frame, name, mirror_name, mirror[name], stack)
                continue
            dst = mirror.get(name)
            if kind == "file" and (dst is None or dst.kind is not _DIRECTORY or not descend):
                real = None if real_prefix is None else real_prefix + name
                if holder is not None:  # a DirEntry, stat()ed through holder's descriptor when the plan needs it
                    src = SourceEntry(_FILE, real, wants_link, node=node, owner=holder)
                else:  # listed without a descriptor: a stat, or None for a storage without local paths
                    src = SourceEntry(_FILE, real, wants_link, st=node, storage=source.storage, rel=rel)
                yield Pair(source, mirror_name, src, dst, directory=directory, base=name)
            elif kind == "dir":
                if rel in excluded or (shallow and dst is not None and dst.kind is _DIRECTORY):
                    continue  # another part's, or left alone by a shallow part: never an orphan here
                subdirs.append(self._subframe(frame, name, rel, mirror_name, dst, node))
            elif kind == "file":
                # A directory where the file belongs: its contents are orphans, then the file replaces it.
                src = self._file_entry(frame, name, rel, node, wants_link, holder)
                pair = Pair(source, mirror_name, src, dst, directory=directory)
                push_orphan_directory(stack, mirror_name, directory.child(name), pair)
            else:
                other = self._other(frame, name, kind, rel, mirror_name, dst)
                if other is not None:
                    yield other
        if settled:
            yield self._settled(frame, mirror_prefix, None)
        yield from self._mirror_only.orphans(frame, mirror, present, stack)
        stack.extend(reversed(subdirs))

    def _prefixes(self, frame: Frame) -> tuple[str, str, str | None]:
        """What each name in the directory is prefixed with, computed once per directory: (source, mirror, real)."""
        rel_prefix = f"{frame.rel}/" if frame.rel else ""
        mirror_prefix = self.source.mirror_name(rel_prefix) if rel_prefix else self.source.mirror_name("x")[:-1]
        real_prefix = None if frame.real is None else os.path.join(frame.real, "")
        return rel_prefix, mirror_prefix, real_prefix

    def _other(
        self, frame: Frame, name: str, kind: str, rel: str, mirror_name: str, dst: MirrorEntry | None
    ) -> Pair | None:
        """A source link's pair (None: a directory, walked after every real directory, once), or a skipped entry's."""
        if kind == "link":
            assert frame.real is not None
            src = self._follower.follow(rel, os.path.join(frame.real, name), frame.ancestors)
            if src is None:
                return None
        else:
            src = SKIPS[kind]()
            if kind != "special":
                dst = None  # not a plain name, or the directory's: nothing in the mirror stands for it
        return Pair(self.source, mirror_name, src, dst, directory=frame.directory, base=name)

    def _file_entry(
        self, frame: Frame, name: str, rel: str, node: Any, wants_link: bool, holder: Descriptor | None
    ) -> SourceEntry:
        real = None if frame.real is None else os.path.join(frame.real, name)
        st = node if isinstance(node, os.stat_result) else None
        entry = node if st is None and node is not None else None
        storage = self.source.storage
        return SourceEntry(FileType.FILE, real, wants_link, st=st, node=entry, storage=storage, rel=rel, owner=holder)

    def _subframe(
        self, frame: Frame, name: str, rel: str, mirror_name: str, dst: MirrorEntry | None, node: Any
    ) -> Frame:
        key = identity(node)
        real = None if frame.real is None else os.path.join(frame.real, name)
        pair = Pair(self.source, mirror_name, SourceEntry(FileType.DIRECTORY), dst, directory=frame.directory)
        listed = dst is not None and dst.kind is FileType.DIRECTORY
        ancestors = frame.ancestors if key is None else frame.ancestors | {key}
        return Frame(rel, real, key, frame.directory.child(name), listed, ancestors, pair)
