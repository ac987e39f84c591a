"""Scope: the parts of the sources one run reconciles, for runs smaller than the whole mirror.

A shard of a distributed run, a directory a watcher saw change, the names a
save touched: each is a Part, reconciled through the same plan as a whole run.
Every mirror directory belongs to exactly one part of a scope, so a part's
orphans are exactly the entries its own listing finds without a source.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Part:
    """One directory of one source, and everything under it but the subdirectories another part reconciles."""

    source: str  # the source's name
    rel: str = ""  # the directory, relative to the source's root ('' for the root)
    # Source-relative directories inside rel that another part reconciles: neither walked nor orphans here.
    excluded: frozenset[str] = frozenset()
    # Its own entries only: a subdirectory the mirror already holds is left alone, one it lacks is built whole.
    shallow: bool = False
    # Only these names of the directory (files saved or deleted), None: every name.
    names: frozenset[str] | None = None

    def __post_init__(self) -> None:
        rel = self.rel.strip("/")
        if rel in (".", "..") or any(part in ("", ".", "..") for part in rel.split("/") if rel):
            raise ValueError(f"Part.rel must be a plain relative directory name, not {self.rel!r}.")
        object.__setattr__(self, "rel", rel)
        object.__setattr__(self, "excluded", frozenset(self.excluded))
        if self.names is not None:
            if isinstance(self.names, str):
                raise TypeError("Part.names must be a collection of names, not one string.")
            names = frozenset(self.names)
            if any(not name or "/" in name or name in (".", "..") for name in names):
                raise ValueError(f"Part.names must be plain names in the directory, not {sorted(names)!r}.")
            object.__setattr__(self, "names", names)


@dataclass(frozen=True)
class Scope:
    """What a run reconciles instead of every source whole."""

    parts: tuple[Part, ...]
    # Also the mirror entries outside every source's prefix (deleted with --delete), as a whole run does.
    unmanaged: bool = False
    # --clear empties each source's prefix first: only the part of a distributed run that starts it.
    clear: bool = False
    # time.monotonic() after which each part stops descending and hands its unvisited subdirectories back.
    deadline: float | None = None
    # Filled in by the run: the parts handed back at the deadline, for another run to reconcile.
    handed_off: list[Part] = field(default_factory=list, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))
