"""What a new generation keeps: the plan, with the rule that a name the source lost stays one generation.

With --delete, a name the source no longer has stays in the first generation built
without it (listed in that generation's .carried file), so a page fetched just
before the switch still finds it, and goes with the next generation published.
The .carried file, written as the names are found and read back by the next run,
is kept here too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import BinaryIO

from . import entries
from .directories import NotADirectoryInMirror
from .generations import CARRIED, Layout
from .pairs import Pair
from .paths import fresh_temp_base
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


def read_carried(layout: Layout, gid: str | None) -> frozenset[str]:
    """The names generation gid carried (relative to it). Held in memory: one generation's deletions."""
    if gid is None:
        return frozenset()
    try:
        fd, _st = entries.open_regular(gid + CARRIED, layout.home.fd(), follow=False)
    except (FileNotFoundError, NotADirectoryInMirror):
        return frozenset()
    with os.fdopen(fd, "rb") as manifest:
        return frozenset(os.fsdecode(name) for name in manifest.read().split(b"\0") if name)


class Manifest:
    """The names a generation being built carries, written as they are found: NUL-separated, as names hold newlines.

    The file is made on the first name: a run that carries none writes nothing.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.tmp = fresh_temp_base()
        self.file: BinaryIO | None = None

    def add(self, name: str) -> None:
        if self.file is None:
            dir_fd = self.layout.home.fd(create=True)
            self.file = os.fdopen(os.open(self.tmp, entries.NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd), "wb")
        self.file.write(os.fsencode(name) + b"\0")

    def commit(self, gid: str) -> None:
        if self.file is not None:
            self.file.close()
            home = self.layout.home.fd()
            os.replace(self.tmp, gid + CARRIED, src_dir_fd=home, dst_dir_fd=home)

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
            entries.discard(self.tmp, self.layout.home.fd())
