"""Steps that change the mirror, recorded before they are carried out: a run that dies loses none from its list.

A distributed run's shard is retried when its worker dies, and the retry finds
right what the dead attempt changed: without this record those URLs would be
missing from --changed-urls and the purge. The plan is unchanged: each pair is
decided as it comes; only the steps that create, replace or delete wait, in
order, until a batch of them is recorded, then are applied in that order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from .pairs import Pair
from .plan import Step
from .settle import Settled
from .vocab import Action

Record = Callable[[list[Step]], None]
CHANGES = frozenset({Action.CREATE, Action.REPLACE, Action.DELETE})


def journaled(
    items: Iterable[Pair | Settled], decide: Callable[[Pair], Step], record: Record, batch: int = 500
) -> Iterator[Step | Settled]:
    """Each item's step; those that change the mirror only once record() has them, batch by batch."""
    held: list[Step] = []
    for item in items:
        if isinstance(item, Settled):
            yield item
            continue
        step = decide(item)
        if step.action not in CHANGES:
            yield step  # changes nothing a later step depends on: carried out at once
            continue
        held.append(step)
        if len(held) >= batch:
            record(held)
            yield from held
            held = []
    if held:
        record(held)
        yield from held
