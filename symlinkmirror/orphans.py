"""Mirror entries no source entry stands for: orphans, names an ignore pattern keeps, their directories entry by entry."""

from __future__ import annotations

from collections.abc import Iterator

from .directories import Directory
from .entries import is_temp
from .frame import Frame
from .listing import list_mirror
from .lock import LOCK_NAME
from .pairs import MirrorEntry, Pair
from .sources import Source
from .vocab import FileType, Role


class MirrorOnly:
    """One source's mirror-only entries: each its own pair, or with --delete its directory walked entry by entry."""

    __slots__ = ("source", "reserved", "descend")

    def __init__(self, source: Source, reserved: frozenset[str], descend: bool) -> None:
        self.source = source
        self.reserved = reserved  # mirror names of other sources: never this source's orphans
        self.descend = descend  # look inside orphan and kept directories, entry by entry

    def kept(self, frame: Frame, name: str, mirror_name: str, dst: MirrorEntry, stack: list[Frame]) -> Iterator[Pair]:
        """The mirror entry at an ignored name: kept, and a directory's entries each kept in turn."""
        if dst.kind is FileType.DIRECTORY and self.descend:
            child = frame.directory.child(name)
            stack.append(Frame(mirror_name, None, None, child, True, frozenset(), None, Role.KEPT))
        else:
            yield Pair(self.source, mirror_name, None, dst, directory=frame.directory, role=Role.KEPT)

    def orphans(
        self, frame: Frame, mirror: dict[str, MirrorEntry], present: set[str], stack: list[Frame]
    ) -> Iterator[Pair]:
        """The mirror entries of a listed directory whose names the source lacks, in name order."""
        for name, dst in sorted(mirror.items()):
            lock = not frame.rel and name == LOCK_NAME and not self.source.prefix and dst.kind is not FileType.SYMLINK
            if name in present or lock:
                continue
            mirror_name = self.source.mirror_name(f"{frame.rel}/{name}" if frame.rel else name)
            if self._is_reserved(mirror_name):
                continue
            pair = Pair(self.source, mirror_name, None, dst, directory=frame.directory)
            if dst.kind is FileType.DIRECTORY and self.descend and not is_temp(name):
                push_orphan_directory(stack, mirror_name, frame.directory.child(name), pair)
            else:
                yield pair

    def directory(self, frame: Frame, stack: list[Frame]) -> Iterator[Pair]:
        """The entries of an orphan (or kept) directory: each its own pair, directories deleted after their contents."""
        assert frame.role is not None
        subdirs: list[Frame] = []
        for name, dst in sorted(list_mirror(frame.directory).items()):
            mirror_name = f"{frame.rel}/{name}"
            pair = Pair(self.source, mirror_name, None, dst, directory=frame.directory, role=frame.role)
            if dst.kind is not FileType.DIRECTORY or is_temp(name):
                yield pair
                continue
            child = frame.directory.child(name)
            subdirs.append(Frame(mirror_name, None, None, child, True, frozenset(), None, frame.role))
            if frame.role is Role.MANAGED:
                subdirs.append(Frame(mirror_name, None, None, child, True, frozenset(), pair, leave=True))
        stack.extend(reversed(subdirs))

    def _is_reserved(self, mirror_name: str) -> bool:
        return any(mirror_name == other or other.startswith(mirror_name + "/") for other in self.reserved)


def push_orphan_directory(stack: list[Frame], mirror_name: str, directory: Directory, pair: Pair) -> None:
    """Stack a mirror directory's entries as orphans, then its own pair: the directory goes (or is replaced) last."""
    stack.append(Frame(mirror_name, None, None, directory, True, frozenset(), pair, leave=True))
    stack.append(Frame(mirror_name, None, None, directory, True, frozenset(), None, Role.MANAGED))
