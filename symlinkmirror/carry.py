"""What a new generation keeps: the plan, with the rule that a name the source lost stays one generation.

With --delete, a name the source no longer has stays in the first generation built
without it (listed in that generation's .carried file), so a page fetched just
before the switch still finds it, and goes with the next generation published.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .generations import Manifest
from .pairs import Pair
from .plan import Step
from .vocab import Action, EntryKind, Verdict

RESTAMPED = "the copy's modification time is not its source's"
WRITES = frozenset({Action.CREATE, Action.REPLACE, Action.DELETE, Action.RESTAMP, Action.CLEAN})


class Carry:
    """The plan, with the rule of what a new generation keeps, and no copy shared with older ones touched in place.

    retarget: moves a step that writes from the generation walked to the one being built.
    """

    def __init__(
        self,
        decide: Callable[[Pair], Step],
        prefix: str,
        carried: frozenset[str],
        manifest: Manifest | None = None,
        retarget: Callable[[Pair], None] | None = None,
    ) -> None:
        self.decide = decide
        self.cut = len(prefix) + 1
        self.carried = carried  # what the generation served carried: it goes now
        self.manifest = manifest  # what this one carries: it goes with the next
        self.retarget = retarget
        self.due: list[str] = []  # in walk order: a directory after its contents
        self.writes = 0
        self.lock = threading.Lock()

    def __call__(self, pair: Pair) -> Step:
        step = self.decide(pair)
        if step.action is Action.RESTAMP:  # its inode may be an older generation's too: a new copy instead
            step = Step(pair, Verdict.STALE_COPY, Action.REPLACE, RESTAMPED, EntryKind.COPY)
        elif step.verdict is Verdict.ORPHAN and step.action is Action.DELETE:
            name = pair.name[self.cut :]
            with self.lock:
                if name in self.carried:
                    self.due.append(name)
                elif self.manifest is not None:
                    self.manifest.add(name)
            return Step(pair, Verdict.OK, Action.NONE)
        if step.action in WRITES:
            with self.lock:
                self.writes += 1
            if self.retarget is not None:
                self.retarget(pair)
        return step
