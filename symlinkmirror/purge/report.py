"""PurgeEvent and PurgeReport: what a purge run did, batch by batch, and its totals sentence."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from ..paths import printable
from .base import Batch, Kind


class PurgeAction(StrEnum):
    PLANNED = "planned"  # a dry run's batch
    PURGED = "purged"
    RETRYING = "retrying"
    FAILED = "failed"


class PurgeEvent(NamedTuple):
    """One thing that happened to one batch."""

    action: PurgeAction
    batch: Batch
    billed: int = 0
    reason: str = ""
    attempt: int = 0  # for RETRYING: the attempt that failed
    delay: float = 0.0  # for RETRYING: the pause before the next one
    max_attempts: int = 0

    @property
    def level(self) -> int:
        """The verbosity that shows the message: batches at 1, like collectstatic's deletions."""
        return 1

    @property
    def title(self) -> str:
        what = f"{count(len(self.batch.items), noun(self.batch.kind))}"
        return f"batch {self.batch.index} of {self.batch.total} through {self.batch.backend!r} ({what})"

    @property
    def message(self) -> str:
        if self.action == PurgeAction.PLANNED:
            lines = [f"Pretending to purge {self.title}, {count(self.billed, 'billed path')}:"]
            lines += [f"  {item}" for item in self.batch.items]
            return "\n".join(printable(line) for line in lines)  # a line each, each escaped
        elif self.action == PurgeAction.PURGED:
            text = f"Purged {self.title}"
        elif self.action == PurgeAction.RETRYING:
            text = (
                f"Retrying {self.title} in {self.delay:g} s (attempt {self.attempt + 1} of {self.max_attempts}): "
                f"{self.reason}"
            )
        else:
            text = f"Failed to purge {self.title}: {self.reason}"
        return printable(text)


@dataclass
class PurgeReport:
    """Totals of a purge run (or a resume), over every backend."""

    dry_run: bool = False
    backends: list[str] = field(default_factory=list)
    batches: int = 0
    done: list[Batch] = field(default_factory=list)  # purged batches
    items: dict[Kind, int] = field(default_factory=dict)  # items in purged (or, dry, planned) batches
    failed: list[Batch] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # Batch.key -> why it failed
    billed: int = 0
    duration: float = 0.0

    def add(self, event: PurgeEvent) -> None:
        if event.action in (PurgeAction.PLANNED, PurgeAction.PURGED):
            self.batches += 1
            if event.action == PurgeAction.PURGED:
                self.done.append(event.batch)
            self.items[event.batch.kind] = self.items.get(event.batch.kind, 0) + len(event.batch.items)
            self.billed += event.billed
        elif event.action == PurgeAction.FAILED:
            self.batches += 1
            self.failed.append(event.batch)
            self.reasons[event.batch.key] = event.reason

    @property
    def purged(self) -> int:
        return len(self.done)

    @property
    def failed_items(self) -> int:
        return sum(len(batch.items) for batch in self.failed)

    def summary(self) -> str:
        """One sentence: "3 batches through 2 backends: 3 purged (6 URLs), 0 failed; 3 billed paths."."""
        through = f"{count(self.batches, 'batch')} through {count(len(self.backends), 'backend')}"
        purged = " and ".join(count(self.items[kind], noun(kind)) for kind in Kind if kind in self.items) or "0 URLs"
        billed = count(self.billed, "billed path")
        if self.dry_run:
            return f"{through} would purge {purged}; {billed}."
        failed = f"{len(self.failed)} failed"
        if self.failed:
            failed += f" ({count(self.failed_items, 'item')})"
        return f"{through}: {self.purged} purged ({purged}), {failed}; {billed}."


def noun(kind: Kind) -> str:
    return "URL" if kind == Kind.URL else "prefix"


def count(n: int, word: str) -> str:
    if n == 1:
        return f"1 {word}"
    plural = word + ("es" if word.endswith(("ch", "x")) else "s")
    return f"{n} {plural}"
