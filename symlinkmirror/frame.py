"""One directory waiting on the walk's stack, in a module of its own: whatever stacks frames need not import walk."""

from __future__ import annotations

from dataclasses import dataclass

from .directories import Directory
from .listing import Key
from .pairs import Pair
from .vocab import Role


@dataclass(slots=True)
class Frame:
    rel: str  # the directory's name in the source ('' for its root)
    real: str | None  # its resolved path, None for a storage without local paths
    expect: Key | None  # its identity when its parent was listed
    directory: Directory  # the mirror directory of the same name
    listed: bool  # the mirror holds a real directory there, to list
    ancestors: frozenset[Key]
    pair: Pair | None  # its own pair, yielded once the source is listed
    role: Role | None = None  # set: a mirror-only directory (an orphan's, a kept one's)
    leave: bool = False  # yield pair after the contents: an orphan directory, deleted last
    settled: list[str] | None = None  # names the settler found right, announced in name order
