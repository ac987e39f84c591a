"""Walk a source storage and the matching mirror directories side by side.

The walk yields one event per source file (paired with the mirror entry of
the same name), per source entry it will not mirror, and per mirror entry
that has no source. It holds one directory listing per level at a time, so
memory grows with the depth and the widest directory, not with the tree.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, InMemoryStorage, Storage

from .paths import containing_root, is_temp_name, is_within, same_mtime

LOCK_NAME = ".symlinkmirror.lock"

# Reasons a source entry is skipped rather than mirrored.
ESCAPING, SPECIAL, LOOP, BROKEN, UNREADABLE = "escaping", "special", "loop", "broken", "unreadable"
ABSENT = "absent"  # the source root itself does not exist


@dataclass(frozen=True)
class Source:
    """A storage whose files appear in the mirror under prefix."""

    name: str
    storage: Storage
    prefix: str = ""

    def mirror_name(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix and name else (self.prefix or name)

    @property
    def local_root(self) -> str | None:
        """The storage's directory on disk, or None for a storage without paths."""
        if isinstance(self.storage, InMemoryStorage):
            return None  # its path() names a file under MEDIA_ROOT, but its files live in memory
        if isinstance(self.storage, FileSystemStorage) and not self.storage.base_location:
            # abspath("") is the current directory: never mirror that by accident.
            raise ImproperlyConfigured(
                f"The source {self.name!r} has no location: set MEDIA_ROOT or STATIC_ROOT, "
                "or the storage's 'location' OPTION, or leave it out of SYMLINKMIRROR_SOURCES."
            )
        try:
            return self.storage.path("")
        except NotImplementedError:
            return None


@dataclass(eq=False, slots=True)
class Item:
    """One source file and the mirror entry at its name (None when absent)."""

    source: Source
    name: str
    real_path: str | None  # None: the storage has no local paths
    wants_link: bool
    entry: os.DirEntry[str] | None
    _stat: os.stat_result | None = field(default=None, repr=False)

    @property
    def mirror_name(self) -> str:
        return self.source.mirror_name(self.name)

    def stat(self) -> tuple[int, int]:
        """(size, mtime_ns) of the source file."""
        if self.real_path is not None:
            if self._stat is None:
                self._stat = os.stat(self.real_path)
            return self._stat.st_size, self._stat.st_mtime_ns
        storage = self.source.storage
        modified = storage.get_modified_time(self.name)
        return storage.size(self.name), int(modified.timestamp() * 1_000_000) * 1000

    def source_inode(self) -> tuple[int, int]:
        assert self.real_path is not None
        if self._stat is None:
            self._stat = os.stat(self.real_path)
        return self._stat.st_dev, self._stat.st_ino

    def open(self) -> Any:
        return self.source.storage.open(self.name, "rb")


@dataclass(eq=False)
class Skipped:
    """A source entry that is not mirrored, and why."""

    source: Source
    name: str
    reason: str  # ESCAPING, SPECIAL, LOOP, BROKEN or UNREADABLE
    detail: str
    entry: os.DirEntry[str] | None = None  # the mirror entry at its name, if any

    @property
    def mirror_name(self) -> str:
        return self.source.mirror_name(self.name)


@dataclass(eq=False)
class Orphan:
    """A mirror entry whose name the source does not have."""

    source: Source
    mirror_name: str
    entry: os.DirEntry[str]


@dataclass(eq=False)
class Kept:
    """A mirror entry at an ignored source name: collect leaves it, the audit still looks inside."""

    source: Source
    mirror_name: str
    entry: os.DirEntry[str]


@dataclass(eq=False)
class Blocked:
    """A mirror entry that is not a real directory where the source has one."""

    source: Source
    mirror_name: str
    entry: os.DirEntry[str]


@dataclass(eq=False, slots=True)
class Unchanged:
    """A source file whose mirror entry is already what it should be."""

    source: Source
    name: str

    @property
    def mirror_name(self) -> str:
        return self.source.mirror_name(self.name)


@dataclass(eq=False)
class UnchangedCount:
    """How many files of one directory were unchanged, when they are not listed one by one."""

    source: Source
    count: int


@dataclass(eq=False)
class TempFile:
    """A temporary entry left in the mirror, and whether its owner still runs."""

    mirror_name: str
    path: str


Event = Item | Unchanged | UnchangedCount | Skipped | Orphan | Kept | Blocked | TempFile


def reserved_prefixes(source: Source, prefixes: set[str]) -> frozenset[str]:
    """The other sources' prefixes inside this source's: its walk must leave them alone."""
    return frozenset(
        p for p in prefixes if p != source.prefix and (not source.prefix or p.startswith(source.prefix + "/"))
    )


def compile_patterns(patterns: list[str]) -> re.Pattern[str] | None:
    """One regex matching what any of collectstatic's fnmatchcase() patterns matches."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(pattern)})" for pattern in patterns))


def uses_fast_path(storage: Storage) -> bool:
    """A FileSystemStorage whose listdir and path are Django's own can be scanned directly."""
    cls = type(storage)
    return (
        isinstance(storage, FileSystemStorage)
        and cls.listdir is FileSystemStorage.listdir
        and cls.path is FileSystemStorage.path
    )


class Walker:
    """Pairs one source's files with the mirror's entries, directory by directory."""

    def __init__(
        self,
        source: Source,
        mirror_root: str | None,
        link_roots: tuple[str, ...],
        *,
        ignore_patterns: list[str] | None = None,
        follow_external: bool = False,
        reserved: frozenset[str] = frozenset(),
        fast: bool | None = None,
        settle: tuple[str, bool] | None = None,
        report_unchanged: bool = True,
    ) -> None:
        """settle=(link_style, checksum) lets the walk settle unchanged entries itself.

        An entry that is already the wanted link, or a copy with the source's size
        and mtime, then costs one readlink or two stats and no Item: it is
        yielded as Unchanged, or only counted in self.unchanged (and reported
        per directory as UnchangedCount) when report_unchanged is False. Every
        other entry is yielded as an Item for compare() to judge.
        """
        self.source = source
        self.settle_style = None
        if settle is not None and settle[0] != "hard":
            self.settle_style = settle[0]
            self.settle_copies = not settle[1]  # --checksum: copies need their bytes compared
        self.report_unchanged = report_unchanged
        self.unchanged = 0
        self.mirror_root = mirror_root  # resolved; None walks the source as against an empty mirror
        self.link_roots = link_roots  # resolved
        self.ignore_patterns = ignore_patterns or []
        self._ignored = compile_patterns(self.ignore_patterns)
        self.follow_external = follow_external
        self.reserved = reserved  # mirror names that belong to other sources
        local_root = source.local_root
        self.real_root = os.path.realpath(local_root) if local_root is not None else None
        self.fast = uses_fast_path(source.storage) if fast is None else fast
        if self.real_root is None:
            self.fast = False

    def __iter__(self) -> Iterator[Event]:
        mirror_dir = (
            os.path.join(self.mirror_root, self.source.prefix)
            if self.source.prefix and self.mirror_root is not None
            else self.mirror_root
        )
        if self.real_root is None:
            yield from self._walk("", None, mirror_dir, frozenset())
            return
        try:
            root_stat = os.stat(self.real_root)
        except FileNotFoundError:
            # A fresh site: nothing uploaded or collected yet. Nothing to mirror,
            # and nothing to delete either.
            yield Skipped(self.source, "", ABSENT, f"the source directory '{self.real_root}' does not exist")
            return
        except OSError as exc:
            yield Skipped(self.source, "", UNREADABLE, _reason(exc))
            return
        yield from self._walk("", self.real_root, mirror_dir, frozenset({(root_stat.st_dev, root_stat.st_ino)}))

    # One directory.

    def _walk(
        self,
        rel_dir: str,
        real_dir: str | None,
        mirror_dir: str | None,
        ancestors: frozenset[tuple[int, int]],
        expect: tuple[int, int] | None = None,
    ) -> Iterator[Event]:
        """One directory; expect is the (st_dev, st_ino) it had when its parent was listed."""
        fd = None
        try:
            if self.fast and real_dir is not None:
                fd = _open_directory(real_dir, expect)
            elif real_dir is not None and expect is not None:
                _check_directory(real_dir, expect)
            listing = self._list_source(rel_dir, real_dir, fd)
        except OSError as exc:
            if fd is not None:
                os.close(fd)
            yield Skipped(self.source, rel_dir, UNREADABLE, _reason(exc))
            return
        try:
            yield from self._walk_listing(rel_dir, real_dir, mirror_dir, ancestors, listing)
        finally:
            if fd is not None:
                os.close(fd)

    def _walk_listing(
        self,
        rel_dir: str,
        real_dir: str | None,
        mirror_dir: str | None,
        ancestors: frozenset[tuple[int, int]],
        listing: list[tuple[str, str, Any]],
    ) -> Iterator[Event]:
        mirror_entries = _list_mirror(mirror_dir)
        present: set[str] = set()
        dir_wants_link = real_dir is not None and containing_root(real_dir, self.link_roots) is not None
        subdirs: list[tuple[str, str | None, frozenset[tuple[int, int]], tuple[int, int] | None]] = []
        ignored = self._ignored
        settle = self.settle_style is not None and real_dir is not None and mirror_dir is not None
        if settle:
            assert real_dir is not None and mirror_dir is not None
            # What a wanted link holds, but for the file's name: computed once per directory.
            if not dir_wants_link:
                link_prefix = None
            elif self.settle_style == "relative":
                link_prefix = os.path.join(os.path.relpath(real_dir, mirror_dir), "")
            else:
                link_prefix = os.path.join(real_dir, "")
            settle_copies = not dir_wants_link and self.settle_copies
            unchanged = 0

        for name, kind, node in listing:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if ignored is not None and (ignored.match(name) or (kind != "dir" and rel_dir and ignored.match(rel))):
                present.add(name)  # ignored names keep their mirror entries
                if name in mirror_entries:
                    yield Kept(self.source, self.source.mirror_name(rel), mirror_entries[name])
                continue
            if kind == "dir":
                present.add(name)
                key = _identity(node)
                sub_real = None if real_dir is None else os.path.join(real_dir, name)
                subdirs.append((name, sub_real, ancestors if key is None else ancestors | {key}, key))
                continue
            if kind == "file":
                present.add(name)
                entry = mirror_entries.get(name)
                if settle and entry is not None:
                    if link_prefix is not None:
                        if entry.is_symlink() and _readlink(entry.path) == link_prefix + name:
                            unchanged += 1
                            if self.report_unchanged:
                                yield Unchanged(self.source, rel)
                            continue
                    elif settle_copies and entry.is_file(follow_symlinks=False):
                        theirs, ours = _same_size_and_mtime(entry, node)
                        if (
                            theirs is not None
                            and ours is not None
                            and theirs[0] == ours[0]
                            and same_mtime(theirs[1], ours[1])
                        ):
                            unchanged += 1
                            if self.report_unchanged:
                                yield Unchanged(self.source, rel)
                            continue
                real_path = None if real_dir is None else os.path.join(real_dir, name)
                yield Item(self.source, rel, real_path, dir_wants_link, entry, _stat_of(node))
                continue
            if kind == "special":
                yield Skipped(
                    self.source, rel, SPECIAL, "a FIFO, socket or device, not a regular file", mirror_entries.get(name)
                )
                continue
            if kind == "unsafe":
                yield Skipped(
                    self.source, rel, ESCAPING, "the storage lists it under a name that is not a plain file name"
                )
                continue
            # kind == "link": follow it, but only where it is allowed to lead.
            assert real_dir is not None
            event = self._follow(rel, os.path.join(real_dir, name), ancestors, mirror_entries.get(name))
            if isinstance(event, tuple):
                present.add(name)
                subdirs.append((name, event[0], event[1], event[2]))
            else:
                if isinstance(event, Item):
                    present.add(name)
                elif event.reason == UNREADABLE:
                    present.add(name)  # transient: keep what the mirror has
                yield event

        if settle and unchanged:
            self.unchanged += unchanged
            if not self.report_unchanged:
                yield UnchangedCount(self.source, unchanged)

        for name, entry in mirror_entries.items():
            if name in present or (not rel_dir and name == LOCK_NAME and not self.source.prefix):
                continue
            mirror_name = self.source.mirror_name(f"{rel_dir}/{name}" if rel_dir else name)
            if is_temp_name(name):
                yield TempFile(mirror_name, entry.path)
            elif not self._is_reserved(mirror_name):
                yield Orphan(self.source, mirror_name, entry)

        for name, sub_real, sub_ancestors, sub_key in subdirs:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            entry = mirror_entries.get(name)
            sub_mirror = None if mirror_dir is None else os.path.join(mirror_dir, name)
            if entry is not None and not entry.is_dir(follow_symlinks=False):
                # A file, or a symlink (perhaps to a directory outside the
                # mirror), where a real directory belongs: never look through it.
                yield Blocked(self.source, self.source.mirror_name(rel), entry)
                sub_mirror = None
            elif entry is None:
                sub_mirror = None
            yield from self._walk(rel, sub_real, sub_mirror, sub_ancestors, sub_key)

    def _follow(
        self, rel: str, path: str, ancestors: frozenset[tuple[int, int]], entry: os.DirEntry[str] | None
    ) -> Item | Skipped | tuple[str, frozenset[tuple[int, int]], tuple[int, int]]:
        try:
            target = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):  # ENOTDIR: the target path runs through a file
            return Skipped(self.source, rel, BROKEN, "a symlink whose target does not exist", entry)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a chain of links that never ends
                return Skipped(self.source, rel, LOOP, "a symlink loop", entry)
            return Skipped(self.source, rel, UNREADABLE, _reason(exc), entry)
        real_path = os.path.realpath(path)
        assert self.real_root is not None
        if not self.follow_external and not is_within(real_path, self.real_root):
            return Skipped(self.source, rel, ESCAPING, f"a symlink to '{real_path}', outside the source root", entry)
        if stat.S_ISDIR(target.st_mode):
            key = (target.st_dev, target.st_ino)
            if key in ancestors:
                return Skipped(self.source, rel, LOOP, "a symlink to one of its own parent directories", entry)
            return real_path, ancestors | {key}, key
        if not stat.S_ISREG(target.st_mode):
            return Skipped(self.source, rel, SPECIAL, "a symlink to something that is not a regular file", entry)
        wants_link = containing_root(real_path, self.link_roots) is not None
        return Item(self.source, rel, real_path, wants_link, entry, target)

    def _is_reserved(self, mirror_name: str) -> bool:
        return any(mirror_name == other or other.startswith(mirror_name + "/") for other in self.reserved)

    # Listing a source directory, three ways with one result.

    def _list_source(self, rel_dir: str, real_dir: str | None, fd: int | None = None) -> list[tuple[str, str, Any]]:
        """[(name, kind, stat-or-DirEntry)], kind in file, dir, link, special, unsafe; sorted by name."""
        listing: list[tuple[str, str, Any]]
        if self.fast:
            assert fd is not None
            # Listed through the descriptor _walk checked, not by path again.
            with os.scandir(fd) as entries:
                listing = [(entry.name, _kind_of_entry(entry), entry) for entry in entries]
        elif real_dir is not None:
            try:
                dirs, files = self.source.storage.listdir(rel_dir)
            except OSError:
                # FileSystemStorage.listdir follows every symlink and raises on
                # a loop: list the names here, so one bad link is skipped and
                # reported rather than the whole directory.
                with os.scandir(real_dir) as entries:
                    dirs, files = [], [entry.name for entry in entries]
            listing = []
            for name in [*dirs, *files]:
                if not _plain_name(name):
                    listing.append((name, "unsafe", None))
                    continue
                try:
                    st = os.lstat(os.path.join(real_dir, name))
                except FileNotFoundError:
                    continue  # vanished between listing and looking
                listing.append((name, _kind_of_mode(st.st_mode), st))
        else:
            dirs, files = self.source.storage.listdir(rel_dir)
            listing = [(name, "dir" if _plain_name(name) else "unsafe", None) for name in dirs]
            listing += [(name, "file" if _plain_name(name) else "unsafe", None) for name in files]
        listing.sort(key=lambda row: row[0])
        return listing


def _plain_name(name: str) -> bool:
    """One path component: a listing (a remote storage's keys) may hold '..', '' or 'a/b',
    which would land elsewhere in the mirror, outside the source's prefix."""
    return name not in ("", ".", "..") and "/" not in name and "\x00" not in name


def _list_mirror(mirror_dir: str | None) -> dict[str, os.DirEntry[str]]:
    if mirror_dir is None:
        return {}
    try:
        with os.scandir(mirror_dir) as entries:
            return {entry.name: entry for entry in entries}
    except (FileNotFoundError, NotADirectoryError):
        return {}


def _kind_of_entry(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return "link"
    if entry.is_dir(follow_symlinks=False):
        return "dir"
    if entry.is_file(follow_symlinks=False):
        return "file"
    return "special"


def _kind_of_mode(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "special"


def _identity(node: Any) -> tuple[int, int] | None:
    """(st_dev, st_ino) of a listed directory, to recognise it when the walk gets there."""
    if node is None:
        return None
    st = node if isinstance(node, os.stat_result) else node.stat(follow_symlinks=False)
    return st.st_dev, st.st_ino


def _open_directory(path: str, expect: tuple[int, int] | None) -> int:
    """Open a source directory without following a symlink swapped in since it was listed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0))
    except (NotADirectoryError, OSError) as exc:
        if expect is not None and exc.errno in (errno.ENOTDIR, errno.ELOOP):  # now a symlink or a file
            raise OSError(errno.ESTALE, "The directory was replaced while it was being mirrored", path) from exc
        raise
    if expect is not None:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != expect:
            os.close(fd)
            raise OSError(errno.ESTALE, "The directory was replaced while it was being mirrored", path)
    return fd


def _check_directory(path: str, expect: tuple[int, int]) -> None:
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) != expect:
        raise OSError(errno.ESTALE, "The directory was replaced while it was being mirrored", path)


def _stat_of(node: Any) -> os.stat_result | None:
    if node is None:
        return None
    if isinstance(node, os.stat_result):
        return node
    return None  # a DirEntry: stat lazily, only when the comparison needs it


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None  # replaced meanwhile: let compare() look again


def _same_size_and_mtime(entry: os.DirEntry[str], node: Any) -> tuple[Any, Any]:
    """(size, mtime_ns) of the mirror copy and of the source file; (None, None) on any error."""
    try:
        theirs = entry.stat(follow_symlinks=False)
        # A regular source file: an lstat result already, or its DirEntry's.
        ours = node if isinstance(node, os.stat_result) else node.stat(follow_symlinks=False)
    except OSError:
        return None, None  # vanished meanwhile: let compare() look again and report it
    return (theirs.st_size, theirs.st_mtime_ns), (ours.st_size, ours.st_mtime_ns)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
