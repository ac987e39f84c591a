"""collectmirror --rollback: each source that keeps generations served from the one before, in one switch.

Nothing is built and no source is walked: every entry that differs between the
two generations is an event, so --changed-urls and --purge name its URL. The
generation rolled back from is withdrawn (generations.withdraw): never served again by a rollback.
"""

from __future__ import annotations

import contextlib

from .entries import describe
from .generational import Context
from .generations import Layout, inspect, prune, switch, unwithdraw, withdraw
from .generations import counter as id_counter
from .lock import MirrorError
from .report import FileEvent, GenerationEvent
from .sources import Source
from .trees import Change, differences
from .vocab import EntryKind, GenerationAction, Outcome


def roll_back(ctx: Context, sources: list[Source]) -> None:
    """Serve each source's generation before the one it serves: one switch, each entry that differs an event.

    A source with no older generation is left as it is, unless none has one. A
    source whose switch fails is a failure, and the one it serves stays served;
    the others are still switched, and their entries are events only once they are.
    """
    moves = [(source, _rollback_move(ctx, source)) for source in sources]  # all checked before any is switched
    if all(isinstance(move, str) for _source, move in moves):
        raise MirrorError(str(moves[0][1]))
    for source, move in moves:
        if isinstance(move, str):
            current = inspect(Layout(ctx.root, source.prefix)).current or ""
            ctx.note(GenerationEvent(source.name, GenerationAction.KEPT, current, dry_run=ctx.dry_run))
            continue
        layout, current, target = move
        if not ctx.dry_run:
            try:
                withdraw(layout, current, target)  # first: a crash after the switch never leaves it to roll back to
                try:
                    switch(layout, target, current)
                except BaseException:
                    with contextlib.suppress(OSError):
                        unwithdraw(layout, current)  # still served
                    raise
            except OSError as exc:
                reason = f"could not be rolled back to '{target}': {describe(exc)}"
                ctx.finish([FileEvent(Outcome.FAILED, source.name, source.prefix, reason)])
                continue
        reason = f"rolled back to '{target}'"
        for name, change, symlink in differences(layout.generation(current), layout.generation(target)):
            ctx.finish([_rollback_event(source, name, change, symlink, reason, ctx.dry_run)])
        pruned: tuple[str, ...] = ()
        if not ctx.dry_run:
            try:
                pruned = prune(layout, source.generations)
            except OSError as exc:  # switched back all the same
                reason = f"rolled back, but its older generations could not be pruned: {describe(exc)}"
                ctx.finish([FileEvent(Outcome.FAILED, source.name, source.prefix, reason)])
        ctx.note(GenerationEvent(source.name, GenerationAction.ROLLED_BACK, target, current, pruned, ctx.dry_run))


def _rollback_move(ctx: Context, source: Source) -> tuple[Layout, str, str] | str:
    """(layout, the generation served, the newest complete one before it not withdrawn), or why there is none.

    A generation a rollback left is withdrawn: never rolled back to, so rolling
    back after the next deploy goes past it, and rolling back again goes further back.
    """
    layout = Layout(ctx.root, source.prefix)
    state = inspect(layout)
    if state.current is None:
        return (
            f"The source {source.name!r} serves no generation at '{source.prefix}' to roll back from: "
            "run collectmirror (or verifymirror --fix) first."
        )
    number = id_counter(state.current) or 0
    older = [gid for gid in state.complete if (id_counter(gid) or 0) < number]
    candidates = [gid for gid in older if gid not in state.withdrawn]
    if not candidates:
        withdrawn = ", ".join(f"'{gid}'" for gid in older if gid in state.withdrawn)
        note = f" (a rollback withdrew {withdrawn})" if withdrawn else ""
        return f"The source {source.name!r} keeps no generation older than '{state.current}' to roll back to{note}."
    return layout, state.current, candidates[-1]


def _rollback_event(source: Source, name: str, change: Change, symlink: bool, reason: str, dry_run: bool) -> FileEvent:
    mirror_name = source.mirror_name(name)
    made = EntryKind.SYMLINK if symlink else EntryKind.COPY
    if change is Change.REMOVED:
        return FileEvent(Outcome.DELETED, source.name, mirror_name, reason, "", dry_run, step=mirror_name)
    if change is Change.CHANGED:
        return FileEvent(Outcome.REPLACED, source.name, mirror_name, reason, made, dry_run, step=mirror_name)
    outcome = Outcome.LINKED if symlink else Outcome.COPIED
    return FileEvent(outcome, source.name, mirror_name, reason, made, dry_run, step=mirror_name)
