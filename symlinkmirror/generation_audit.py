"""verify() on a source that keeps generations (or kept them): its structure's findings, then its entries' steps."""

from __future__ import annotations

import os
from collections.abc import Iterator

from .carry import read_carried
from .generational import NO_SYMLINKS, Context
from .generations import Layout, Served, State, inspect, prunable
from .pairs import Pair
from .paths import containing_root, is_within
from .plan import Rules, Step, escaping_detail
from .settle import Settled
from .sources import Source
from .vocab import Action, Verdict

LEFTOVER = "left by an interrupted run (a half-built generation, or a temporary entry)"


def audit(ctx: Context, source: Source) -> Iterator[Step | Settled] | None:
    """verify()'s steps for source if it keeps generations (or kept them): its structure's, then its entries'."""
    layout = Layout(ctx.root, source.prefix)
    state = inspect(layout)
    if not source.generations and state.served is not Served.GENERATION and not (state.complete or state.leftovers):
        return None
    return _audit(ctx, source, layout, state)


def _audit(ctx: Context, source: Source, layout: Layout, state: State) -> Iterator[Step | Settled]:
    for verdict, name, detail in findings(source, layout, state, ctx):
        yield Step(Pair(source, name, None, None), verdict, Action.NONE, detail)
    carried = read_carried(layout, state.current) if source.generations else frozenset()
    cut = len(source.prefix) + 1
    if state.current is not None:
        pairs = ctx.walk(source, layout.generation(state.current), False)
    elif state.served is Served.DIRECTORY or not source.generations:
        pairs = ctx.walk(source, None, False)
    else:  # nothing served: every file is missing
        pairs = ctx.walk(source, layout.home.child("next"), True)
    for pair in pairs:
        if isinstance(pair, Settled):
            yield pair  # right as it is
            continue
        step = ctx.decide(pair)
        if step.verdict is Verdict.ORPHAN and pair.name[cut:] in carried:
            step = Step(pair, Verdict.OK, Action.NONE, "kept from the generation before")
        yield step


def findings(source: Source, layout: Layout, state: State, ctx: Context) -> list[tuple[Verdict, str, str]]:
    """What is wrong with the structure: the prefix, the generations kept, what interrupted runs left."""
    found = [(Verdict.GENERATION, f"{layout.home_name}/{name}", LEFTOVER) for name in state.leftovers]
    if source.generations and not ctx.symlinks:
        return [(Verdict.GENERATION, source.prefix, NO_SYMLINKS), *found]
    if not source.generations:
        if state.served is Served.GENERATION:
            detail = (
                f"served from the generation '{state.current}', but SYMLINKMIRROR_SOURCES[{source.name!r}] keeps "
                "no generations (the next collectmirror puts it back in place)"
            )
            found.insert(0, (Verdict.GENERATION, source.prefix, detail))
        elif state.complete:
            detail = f"{len(state.complete)} generation(s) of a source that keeps none"
            found.append((Verdict.GENERATION, layout.home_name, detail))
        return found
    prefix = _served_finding(source, layout, state, ctx.rules)
    if prefix is not None:
        found.insert(0, prefix)
    extra = prunable(state, source.generations)
    if extra:
        detail = (
            f"{len(state.complete)} generations kept, more than the {source.generations} of "
            f"SYMLINKMIRROR_SOURCES[{source.name!r}]['generations']: {', '.join(repr(gid) for gid in extra)} would go"
        )
        found.append((Verdict.GENERATION, layout.home_name, detail))
    return found


def _served_finding(source: Source, layout: Layout, state: State, rules: Rules) -> tuple[Verdict, str, str] | None:
    if state.served is Served.FOREIGN:
        resolved = os.path.realpath(os.path.join(layout.parent.real, layout.base))
        if not is_within(resolved, rules.mirror_root) and containing_root(resolved, rules.trusted) is None:
            return Verdict.ESCAPING_LINK, source.prefix, escaping_detail(resolved)
    details = {
        Served.DIRECTORY: "a directory, not yet a symlink to a generation (the next collectmirror publishes one)",
        Served.DANGLING: f"a symlink to the generation '{state.link}', which is not there",
        Served.FOREIGN: f"a symlink to '{state.link}', not to one of its generations",
        Served.OTHER: "not a symlink to one of its generations",
        Served.MISSING: "missing, though generations are kept: none is served" if state.complete else "",
    }
    detail = details.get(state.served, "")
    return (Verdict.GENERATION, source.prefix, detail) if detail else None
