"""Cut a source into shards: the crown (the top directories' own entries) and the subtrees below it.

Each mirror directory belongs to one part: the crown walks everything above the
frontier and excludes the frontier's directories, each of which is a shard of
its own. Only plain directories become shards (a directory reached through a
symlink is its link's parent's to walk), and never an ignored one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .scope import Part
from .sources import Source, compile_patterns

DEFAULT_SHARDS = 32
MAX_DEPTH = 4  # a skewed tree is balanced by shards handing off their subdirectories, not by a deeper plan


@dataclass(frozen=True)
class Cut:
    crown: Part  # run by the coordinator, before the shards
    shards: tuple[Part, ...]


def cut(source: Source, target: int = DEFAULT_SHARDS, ignore_patterns: tuple[str, ...] = ()) -> Cut:
    """About target shards (at least that many where the tree has them within MAX_DEPTH levels), in name order."""
    ignored = compile_patterns(list(ignore_patterns))
    root = source.local_root
    real_root = os.path.realpath(root) if root is not None else None

    def subdirectories(rel: str) -> list[str]:
        try:
            names = _local_subdirectories(os.path.join(real_root, rel)) if real_root else _listed(source, rel)
        except OSError:
            return []  # unreadable: the part that holds it reports it
        return [f"{rel}/{name}" if rel else name for name in sorted(names) if not (ignored and ignored.match(name))]

    frontier = subdirectories("")
    for _depth in range(1, MAX_DEPTH):
        if len(frontier) >= target:
            break
        # Breadth first, one directory at a time, until there are enough: a directory with subdirectories
        # joins the crown and its subdirectories become shards; a leaf stays a shard as it is.
        expanded: list[str] = []
        rest = list(frontier)
        while rest and len(expanded) + len(rest) < target:
            rel = rest.pop(0)
            expanded.extend(subdirectories(rel) or [rel])
        if expanded + rest == frontier:
            break
        frontier = expanded + rest
    return Cut(Part(source.name, "", excluded=frozenset(frontier)), tuple(Part(source.name, rel) for rel in frontier))


def _local_subdirectories(path: str) -> list[str]:
    with os.scandir(path) as entries:
        return [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]


def _listed(source: Source, rel: str) -> list[str]:
    directories, _files = source.storage.listdir(rel)
    return list(directories)
