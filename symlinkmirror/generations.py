"""A source's generations on disk: their ids, what is served, building one beside the others, the switch, pruning.

<mirror>/<prefix> is a symlink to .generations/<prefix>/<id>. A generation is built
beside the others as <id>.partial and renamed to <id> once whole; <id>.carried lists
the names it kept only because the one before it had them; <id>.withdrawn marks a
generation a rollback left, never to be rolled back to; 'previous' is a symlink
to the generation served before the current one. Everything is done relative to
directory descriptors opened with O_NOFOLLOW, as in entries.py: the mirror is
hostile ground. Copying and comparing whole trees is trees.py's.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from . import entries, removal
from .directories import Directory, NotADirectoryInMirror
from .listing import list_mirror, lookup
from .paths import GENERATIONS_DIR, fresh_temp_base
from .trees import remove_tree
from .vocab import FileType

PARTIAL = ".partial"
CARRIED = ".carried"
WITHDRAWN = ".withdrawn"
PREVIOUS = "previous"
_ID = re.compile(r"(\d{8,})-\d{8}T\d{6}Z")
# No renameat2 here (ENOSYS), or not on this filesystem (EINVAL).


def new_id(counter: int, now: datetime | None = None) -> str:
    """A generation's name: a counter, which orders them, then the UTC time it was built, for people."""
    return f"{counter:08d}-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}"


def counter(name: str) -> int | None:
    match = _ID.fullmatch(name)
    return int(match[1]) if match else None


class Served(StrEnum):
    """What stands at the prefix of a source that keeps generations."""

    GENERATION = "generation"  # a symlink to one of its generations: the expected structure
    DIRECTORY = "directory"  # a real directory: mirrored in place (before the first generation, or after the last)
    MISSING = "missing"
    DANGLING = "dangling"  # a symlink to a generation that is not there
    FOREIGN = "foreign"  # a symlink to anything else
    OTHER = "other"  # a file, a FIFO...


class Layout:
    """Where one prefix's generations live, and the directories they are reached from."""

    def __init__(self, root: Directory, prefix: str) -> None:
        self.root = root
        self.prefix = prefix
        self.parent_name, _, self.base = prefix.rpartition("/")
        self.parent = root.descend(self.parent_name)  # holds the symlink at the prefix
        self.home_name = f"{GENERATIONS_DIR}/{prefix}"
        self.home = root.descend(self.home_name)

    def target(self, gid: str) -> str:
        """What the prefix's symlink holds: a relative path, so the mirror still works moved or mounted elsewhere."""
        return posixpath.relpath(f"{self.home_name}/{gid}", self.parent_name or ".")

    def generation(self, gid: str) -> Directory:
        return self.home.child(gid)


@dataclass
class State:
    served: Served = Served.MISSING
    link: str | None = None  # what the symlink at the prefix holds
    current: str | None = None  # the generation it leads to
    complete: list[str] = field(default_factory=list)  # oldest first
    leftovers: list[str] = field(default_factory=list)  # half-built generations, temporary and stray entries
    withdrawn: set[str] = field(default_factory=set)  # generations a rollback left: never rolled back to
    previous: str | None = None
    highest: int = 0  # the highest counter used, half-built ones included: a name is never used twice


def inspect(layout: Layout) -> State:
    """What is published at the prefix, and what its generations' folder holds."""
    state = State()
    manifests, markers = [], []
    for name, entry in sorted(list_mirror(layout.home).items()):
        gid = name.removesuffix(PARTIAL).removesuffix(CARRIED).removesuffix(WITHDRAWN)
        number = counter(gid)
        state.highest = max(state.highest, number or 0)
        if number is not None and name == gid and entry.kind is FileType.DIRECTORY:
            state.complete.append(name)
        elif number is not None and name.endswith(CARRIED) and entry.kind is FileType.FILE:
            manifests.append(gid)
        elif number is not None and name.endswith(WITHDRAWN) and entry.kind is FileType.FILE:
            markers.append(gid)
        elif name == PREVIOUS and entry.kind is FileType.SYMLINK:
            state.previous = entry.target()
        else:
            state.leftovers.append(name)
    state.complete.sort(key=lambda gid: counter(gid) or 0)
    state.leftovers += [gid + CARRIED for gid in manifests if gid not in state.complete]
    state.leftovers += [gid + WITHDRAWN for gid in markers if gid not in state.complete]
    state.withdrawn = {gid for gid in markers if gid in state.complete}
    at_prefix = lookup(layout.parent, layout.base)
    if at_prefix is None:
        return state
    if at_prefix.kind is not FileType.SYMLINK:
        state.served = Served.DIRECTORY if at_prefix.kind is FileType.DIRECTORY else Served.OTHER
        return state
    state.link = at_prefix.target()
    gid = (state.link or "").rpartition("/")[2]
    state.highest = max(state.highest, counter(gid) or 0, counter(state.previous or "") or 0)
    if counter(gid) is None or state.link != layout.target(gid):
        state.served = Served.FOREIGN
    elif gid in state.complete:
        state.served, state.current = Served.GENERATION, gid
    else:
        state.served = Served.DANGLING
    return state


def prunable(state: State, keep: int) -> list[str]:
    """The generations beyond the keep newest, oldest first: never the one served, nor the one served before it."""
    kept = {gid for gid in (state.current, state.previous) if gid in state.complete}
    for gid in reversed(state.complete):
        if len(kept) >= keep:
            break
        kept.add(gid)
    return [gid for gid in state.complete if gid not in kept]


def prune(layout: Layout, keep: int) -> tuple[str, ...]:
    state = inspect(layout)
    doomed = prunable(state, keep)
    for gid in doomed:
        remove(layout.home, gid + CARRIED)
        remove(layout.home, gid + WITHDRAWN)
        remove(layout.home, gid)
    return tuple(doomed)


def remove(directory: Directory, name: str) -> None:
    """Remove an entry, a whole tree entry by entry, never following a link; gone already is fine."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryInMirror):
        remove_tree(directory, name)


def _ignore(_name: str) -> None:
    pass


def remove_leftovers(layout: Layout, state: State) -> None:
    """What interrupted runs left (only a run holding the mirror's lock calls this: their writers are gone)."""
    for name in state.leftovers:
        remove(layout.home, name)


def remove_home(layout: Layout) -> None:
    """Remove every generation of the prefix (its source keeps none any more), and the folders left empty."""
    parts = layout.home_name.split("/")
    for depth in range(len(parts), 0, -1):
        parent = layout.root.descend("/".join(parts[: depth - 1]))
        if depth == len(parts):
            remove(parent, parts[-1])
        else:
            with contextlib.suppress(OSError):  # another prefix's generations are still there
                os.rmdir(parts[depth - 1], dir_fd=parent.fd())


def start(layout: Layout, gid: str) -> Directory:
    """The empty directory the generation gid is built in."""
    try:
        layout.home.fd(create=True)
    except NotADirectoryInMirror:  # a file or a link planted on the way: unlinked, never followed
        directory = layout.root
        for part in layout.home_name.split("/"):
            entry = lookup(directory, part)
            if entry is not None and entry.kind is not FileType.DIRECTORY:
                os.unlink(part, dir_fd=directory.fd())
            directory = directory.child(part)
        layout.home.fd(create=True)
    building = layout.home.child(gid + PARTIAL)
    building.fd(create=True)
    return building


def publish(layout: Layout, gid: str, replaced: str | None) -> None:
    """The generation built whole is renamed to its id, then served: the switch is one rename(2)."""
    home = layout.home.fd()
    os.rename(gid + PARTIAL, gid, src_dir_fd=home, dst_dir_fd=home)
    switch(layout, gid, replaced)


def switch(layout: Layout, gid: str, replaced: str | None) -> None:
    """Serve gid: a temporary symlink to it renamed over the prefix, so every reader finds the old one or the new."""
    if replaced is not None and replaced != gid:
        point(layout.home.fd(), PREVIOUS, replaced)  # first: a pruning never takes what was served a moment ago
    point(layout.parent.fd(create=True), layout.base, layout.target(gid))


def point(dir_fd: int, name: str, target: str) -> None:
    """Make name a symlink to target in one step; a directory there (mirrored in place until now) is exchanged."""
    tmp = entries.stage_symlink(target, dir_fd)
    try:
        try:
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return
        except IsADirectoryError:
            entries.exchange(dir_fd, tmp, name)
    except BaseException:
        entries.discard(tmp, dir_fd)
        raise
    # The directory, now at the temporary name. The switch is made: what cannot be removed
    # now (or a crash here) is a temporary entry, which the next run's --delete removes.
    with contextlib.suppress(OSError):
        removal.remove(tmp, dir_fd, _ignore)


def withdraw(layout: Layout, gid: str, replacement: str) -> None:
    """Mark gid withdrawn (a rollback leaves it): written beside its final name and renamed there."""
    home = layout.home.fd()
    tmp = fresh_temp_base()
    try:
        with os.fdopen(os.open(tmp, entries.NEW_FILE_FLAGS, 0o600, dir_fd=home), "wb") as marker:
            marker.write(os.fsencode(f"rolled back to {replacement}\n"))
            marker.flush()
            os.fsync(marker.fileno())
        os.replace(tmp, gid + WITHDRAWN, src_dir_fd=home, dst_dir_fd=home)
    except BaseException:
        entries.discard(tmp, home)
        raise


def unwithdraw(layout: Layout, gid: str) -> None:
    entries.discard(gid + WITHDRAWN, layout.home.fd())
