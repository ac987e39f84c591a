"""Mirror entries listed outside any source's walk: those outside every prefix, and a prefix's contents for --clear."""

from __future__ import annotations

import os
from collections.abc import Iterator

from .directories import Directory
from .entries import is_temp
from .listing import list_mirror
from .lock import LOCK_NAME
from .pairs import MirrorEntry, Pair
from .paths import GENERATIONS_DIR
from .sources import Source, reserved_prefixes
from .storage import SymlinkOrCopyStorage
from .vocab import FileType, Role

UNMANAGED = "(unmanaged)"  # the source name of entries outside every source's prefix


def clear_pairs(root: Directory, source: Source, prefixes: set[str]) -> Iterator[Pair]:
    """--clear: each entry under source's prefix, but for the lock file and other sources' prefixes inside it."""
    reserved = reserved_prefixes(source, prefixes)
    directory = root.descend(source.prefix)
    for base, dst in sorted(list_mirror(directory).items()):
        name = source.mirror_name(base)
        if (not source.prefix and base == LOCK_NAME and dst.kind is not FileType.SYMLINK) or any(
            r == name or r.startswith(name + "/") for r in reserved
        ):
            continue
        yield Pair(source, name, None, dst, directory=directory)


def unmanaged(root: Directory, mirror: SymlinkOrCopyStorage, prefixes: set[str]) -> Iterator[Pair]:
    """The entries outside every source's prefix (what the site saves through the storage itself)."""
    if "" in prefixes or not os.path.isdir(root.real):
        return
    outsider = Source(UNMANAGED, mirror)
    stack: list[tuple[Directory, str]] = [(root, "")]
    while stack:
        directory, rel = stack.pop()
        subdirs = []
        for base, dst in sorted(list_mirror(directory).items()):
            name = f"{rel}/{base}" if rel else base
            # The lock file and the generations are ours; a symlink planted at their names is an escape like any other.
            ours = not rel and base in (LOCK_NAME, GENERATIONS_DIR) and dst.kind is not FileType.SYMLINK
            if name in prefixes or ours:
                continue
            if dst.kind is FileType.DIRECTORY and not is_temp(base):  # a temporary tree is one leftover
                subdirs.append((directory.child(base), name))
            else:
                yield _outside(outsider, name, dst, directory)
        stack.extend(reversed(subdirs))


def _outside(source: Source, name: str, dst: MirrorEntry, directory: Directory) -> Pair:
    return Pair(source, name, None, dst, directory=directory, role=Role.UNMANAGED)
