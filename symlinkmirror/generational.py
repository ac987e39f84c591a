"""A run on a source that keeps generations: the plan applied in the next generation, or a dry run of it.

A run walks the generation served and builds the next only when a step first has
to write; the plan decides every step, as for any source, and this module only
chooses where the steps that write are carried out. What a new generation keeps
is carry.py's rule; verify()'s audit of such a source is generation_audit.py.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .carry import Carry, Manifest, read_carried
from .directories import Directory
from .entries import GONE, describe, exchange
from .generations import (
    PARTIAL,
    Layout,
    Served,
    State,
    inspect,
    new_id,
    prune,
    publish,
    remove,
    remove_home,
    remove_leftovers,
    start,
)
from .pairs import Pair
from .paths import fresh_temp_base
from .plan import Rules, Step
from .report import FileEvent, GenerationEvent
from .settle import Settled
from .sources import Source
from .trees import differences, link_tree
from .vocab import GenerationAction, Outcome, Verdict

Events = list[FileEvent]
Decide = Callable[[Pair], Step]
NO_SYMLINKS = (
    "the mirror's filesystem cannot hold symlinks, and generations are served through one: set 'generations' to 0"
)


@dataclass
class Context:
    """What the engine lends a run on one source: where the mirror is, how to walk, plan and apply."""

    root: Directory
    rules: Rules
    symlinks: bool  # the mirror's filesystem can hold them (FAT cannot)
    dry_run: bool
    clear: bool
    decide: Decide
    walk: Callable[[Source, Directory | None, bool], Iterable[Pair | Settled]]  # None: under the prefix, in the root
    run: Callable[[Iterable[Pair | Settled], Decide], None]  # plan and apply, the events to finish
    finish: Callable[[Events], None]
    note: Callable[[GenerationEvent], None]


def collect(ctx: Context, source: Source) -> bool:
    """Mirror source here if it keeps generations (or kept them); False: the caller mirrors it in place."""
    layout = Layout(ctx.root, source.prefix)
    state = inspect(layout)
    try:
        if not source.generations:
            return _in_place(ctx, source, layout, state)
        if not ctx.symlinks:
            ctx.finish([FileEvent(Outcome.FAILED, source.name, source.prefix, NO_SYMLINKS, dry_run=ctx.dry_run)])
            return True
        base = _base(layout, state)
        if ctx.clear:
            _cleared(ctx, source, base)
            base = None
        if ctx.dry_run:
            _plan(ctx, source, layout, state, base)
        else:
            _build(ctx, source, layout, state, base)
    except OSError as exc:  # the tree as a whole, not one entry: reported, the one served stays served
        reason = f"the next generation could not be built: {describe(exc)}"
        ctx.finish([FileEvent(Outcome.FAILED, source.name, source.prefix, reason, dry_run=ctx.dry_run)])
    return True


def _base(layout: Layout, state: State) -> Directory | None:
    """What the next generation starts from: the one served, the directory mirrored in place, else the newest kept."""
    if state.current is not None:
        return layout.generation(state.current)
    if state.served is Served.DIRECTORY:
        return layout.parent.child(layout.base)
    return layout.generation(state.complete[-1]) if state.complete else None


def _unpublished(state: State, base: Directory | None) -> bool:
    """Whether the prefix needs a generation switched in though nothing changed (migrating, a broken link)."""
    return state.served is not Served.GENERATION and (base is not None or state.served is not Served.MISSING)


def _build(ctx: Context, source: Source, layout: Layout, state: State, base: Directory | None) -> None:
    """Walk the generation served and build the next only when a step first has to write, then switch it in.

    A run that changes nothing builds nothing and writes nothing. Where the
    prefix needs a generation anyway (migrating, a broken link, --clear), it is
    built first and walked itself.
    """
    remove_leftovers(layout, state)
    gid = new_id(state.highest + 1)
    building = _Building(layout, gid, None if ctx.clear else base)
    manifest = Manifest(layout)
    if ctx.clear or _unpublished(state, base):
        walked, against_empty, retarget = building.start(), False, None
    else:
        walked, against_empty, retarget = base or layout.generation(gid + PARTIAL), base is None, building.retarget
    building.walked = walked.real
    carry = Carry(ctx.decide, source.prefix, read_carried(layout, state.current), manifest, retarget)
    try:
        ctx.run(ctx.walk(source, walked, against_empty), carry)
        if building.directory is not None:
            _drop(ctx, source, building.directory, carry.due, manifest)
            manifest.commit(gid)
            publish(layout, gid, state.current)
    except BaseException:
        manifest.discard()
        if building.directory is not None:
            remove(layout.home, building.directory.base)
        raise
    pruned = prune(layout, source.generations)
    if building.directory is not None:
        ctx.note(GenerationEvent(source.name, GenerationAction.PUBLISHED, gid, state.current or "", pruned))
    else:
        ctx.note(GenerationEvent(source.name, GenerationAction.UNCHANGED, state.current or "", "", pruned))


class _Building:
    """The next generation, made when a step first has to write: every entry of base hard-linked into it."""

    def __init__(self, layout: Layout, gid: str, base: Directory | None) -> None:
        self.layout, self.gid, self.base = layout, gid, base
        self.walked = ""  # the tree the walk reads: a step that writes is moved to the same place in this one
        self.directory: Directory | None = None
        self.lock = threading.Lock()
        self.moved: dict[str, Directory] = {}  # a few, by name: the walk goes directory by directory

    def start(self) -> Directory:
        with self.lock:
            if self.directory is None:
                directory = start(self.layout, self.gid)
                if self.base is not None:
                    link_tree(self.base, directory)
                self.directory = directory
            return self.directory

    def retarget(self, pair: Pair) -> None:
        building = self.start()
        assert pair.directory is not None
        rel = os.path.relpath(pair.directory.real, self.walked)
        with self.lock:
            moved = self.moved.get(rel)
            if moved is None:
                if len(self.moved) >= 64:
                    self.moved.clear()  # their descriptors close once no step holds them
                moved = self.moved[rel] = building if rel == "." else building.descend(rel)
        pair.directory = moved


def _plan(ctx: Context, source: Source, layout: Layout, state: State, base: Directory | None) -> None:
    """A dry run: the plan against the generation served (or what the next would start from); nothing written."""
    carry = Carry(ctx.decide, source.prefix, read_carried(layout, state.current))
    if state.served is Served.DIRECTORY and base is not None:
        pairs = ctx.walk(source, None, False)
    else:
        pairs = ctx.walk(source, base or layout.home.child("next"), base is None)
    ctx.run(pairs, carry)
    if carry.writes or _unpublished(state, base):
        _drop(ctx, source, None, carry.due, None)
        ctx.note(GenerationEvent(source.name, GenerationAction.PUBLISHED, "", state.current or "", dry_run=True))
    elif state.current is not None:
        ctx.note(GenerationEvent(source.name, GenerationAction.UNCHANGED, state.current, dry_run=True))


def _drop(
    ctx: Context, source: Source, building: Directory | None, names: list[str], manifest: Manifest | None
) -> None:
    """Remove what the generation served carried and the source still lacks: it has been kept one generation."""
    for name in names:
        mirror_name = source.mirror_name(name)
        if building is not None and manifest is not None:
            parent, _, base = name.rpartition("/")
            try:
                _remove_one(building.descend(parent), base)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):  # a directory holding entries again
                    manifest.add(name)
                elif exc.errno not in GONE:
                    failed = FileEvent(Outcome.FAILED, source.name, mirror_name, describe(exc), step=mirror_name)
                    ctx.finish([failed])
                continue
        event = FileEvent(Outcome.DELETED, source.name, mirror_name, "", "", ctx.dry_run, Verdict.ORPHAN, mirror_name)
        ctx.finish([event])


def _remove_one(directory: Directory, base: str) -> None:
    fd = directory.fd()
    if stat.S_ISDIR(os.stat(base, dir_fd=fd, follow_symlinks=False).st_mode):
        os.rmdir(base, dir_fd=fd)
    else:
        os.unlink(base, dir_fd=fd)


def _cleared(ctx: Context, source: Source, base: Directory | None) -> None:
    """--clear: the next generation starts from nothing, so every entry of the one served is deleted from it."""
    for name, _change, _symlink in differences(base, None):
        mirror_name = source.mirror_name(name)
        ctx.finish([FileEvent(Outcome.DELETED, source.name, mirror_name, "--clear", "", ctx.dry_run, step=mirror_name)])


def _in_place(ctx: Context, source: Source, layout: Layout, state: State) -> bool:
    """A source that keeps no generations: one still served from them is put back in place, built beside and exchanged."""
    if state.served is not Served.GENERATION:
        if not ctx.dry_run and (state.complete or state.leftovers):
            remove_home(layout)  # generations no longer served: nothing reads them
        return False
    assert state.current is not None
    current = layout.generation(state.current)
    if ctx.clear:
        _cleared(ctx, source, current)
    if ctx.dry_run:
        ctx.run(ctx.walk(source, current, ctx.clear), ctx.decide)
    else:
        building = layout.parent.child(fresh_temp_base())  # a leftover of a crash is any run's temporary entry
        building.fd(create=True)
        if not ctx.clear:
            link_tree(current, building)
        ctx.run(ctx.walk(source, building, False), ctx.decide)
        parent = layout.parent.fd()
        exchange(parent, building.base, layout.base)
        os.unlink(building.base, dir_fd=parent)  # the symlink, now at the temporary name
        remove_home(layout)
    ctx.note(GenerationEvent(source.name, GenerationAction.IN_PLACE, "", state.current, dry_run=ctx.dry_run))
    return True
