"""What a run tells its caller: FileEvent per entry, Report (counts, summary, --json), Finding per problem."""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .paths import printable, strict_utf8
from .vocab import EntryKind, GenerationAction, Outcome, Verdict

# Outcomes the summary counts, in its order.
COUNTED = tuple(outcome for outcome in Outcome if outcome is not Outcome.CLEANED)
CHANGES = frozenset({Outcome.LINKED, Outcome.COPIED, Outcome.REPLACED, Outcome.DELETED})
# Looked up once: an enum member read through its class is slow on Python 3.11, and add() runs per file.
_CLEANED, _FAILED = Outcome.CLEANED, Outcome.FAILED


class FileEvent(NamedTuple):
    """One thing that happened (or, in a dry run, would happen) to one mirror entry."""

    action: Outcome
    source: str
    name: str  # the mirror name
    reason: str = ""
    made: EntryKind | str = ""
    dry_run: bool = False
    verdict: Verdict = Verdict.OK  # the plan's verdict on the step this event carries out
    step: str = ""  # the step's mirror name: a deleted tree's files share their directory's

    @property
    def changed(self) -> bool:
        """Whether the entry's URL now serves something else (a CDN purge is due)."""
        return self.action in CHANGES

    @property
    def level(self) -> int:
        """The verbosity that shows the message, as collectstatic's: creating at 2, deleting at 1."""
        if self.action in (Outcome.DELETED, Outcome.SKIPPED, Outcome.FAILED):
            return 1
        return 1 if self.dry_run and self.action != Outcome.UNMODIFIED else 2

    @property
    def message(self) -> str:
        return printable(_MESSAGES[self.action](self))  # a name may hold a newline or undecodable bytes


def _verb(event: FileEvent) -> str:
    return "copy" if event.made in ("", EntryKind.COPY) else "link"


def _created(event: FileEvent) -> str:
    if event.dry_run:
        return f"Pretending to {_verb(event)} '{event.name}'"
    return f"{'Copying' if _verb(event) == 'copy' else 'Linking'} '{event.name}'"


def _replaced(event: FileEvent) -> str:
    text = "Pretending to replace" if event.dry_run else "Replacing"
    return f"{text} '{event.name}' with a {_verb(event)} ({event.reason})"


def _deleted(event: FileEvent) -> str:
    text = f"Pretending to delete '{event.name}'" if event.dry_run else f"Deleting '{event.name}'"
    return f"{text} ({event.reason})" if event.reason else text


_MESSAGES: dict[Outcome, Callable[[FileEvent], str]] = {
    Outcome.LINKED: _created,
    Outcome.COPIED: _created,
    Outcome.REPLACED: _replaced,
    Outcome.UNMODIFIED: lambda event: f"Skipping '{event.name}' (not modified)",
    Outcome.DELETED: _deleted,
    Outcome.SKIPPED: lambda event: f"Skipping '{event.name}' ({event.reason})",
    Outcome.FAILED: lambda event: f"Failed '{event.name}': {event.reason}",
    Outcome.CLEANED: lambda event: (
        f"{'Pretending to remove' if event.dry_run else 'Removing'} leftover temporary file '{event.name}'"
    ),
}


class GenerationEvent(NamedTuple):
    """What a run did to a source that keeps generations (or kept them): one per such source."""

    source: str
    action: GenerationAction
    generation: str  # the one served after the run ('' for one a dry run would build)
    previous: str = ""  # the one served before it ('' when none was)
    pruned: tuple[str, ...] = ()  # older generations removed
    dry_run: bool = False

    @property
    def message(self) -> str:
        text = _GENERATION_MESSAGES[self.action](self)
        if self.pruned:
            names = ", ".join(f"'{gid}'" for gid in self.pruned)
            text += f" Removed {len(self.pruned)} older {'generation' if len(self.pruned) == 1 else 'generations'}: {names}."
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "action": str(self.action),
            "generation": self.generation,
            "previous": self.previous,
            "pruned": list(self.pruned),
        }


def _published(event: GenerationEvent) -> str:
    after = f", after '{event.previous}'" if event.previous else ""
    if event.dry_run:
        return f"Would publish a new generation of '{event.source}'{after}."
    return f"Published generation '{event.generation}' of '{event.source}'{after}."


_GENERATION_MESSAGES: dict[GenerationAction, Callable[[GenerationEvent], str]] = {
    GenerationAction.PUBLISHED: _published,
    GenerationAction.UNCHANGED: lambda event: (
        f"Nothing to publish for '{event.source}': generation '{event.generation}' is still served."
        if event.generation
        else f"Nothing to publish for '{event.source}': it has no files, and no generation is served yet."
    ),
    GenerationAction.ROLLED_BACK: lambda event: (
        f"{'Would roll' if event.dry_run else 'Rolled'} '{event.source}' back from generation "
        f"'{event.previous}' to '{event.generation}'."
    ),
    GenerationAction.KEPT: lambda event: (
        f"'{event.source}' keeps no generation older than '{event.generation}': it is left as it is."
    ),
    GenerationAction.IN_PLACE: lambda event: (
        f"{'Would put' if event.dry_run else 'Put'} '{event.source}' back in place from generation '{event.previous}'."
    ),
}


@dataclass
class Report:
    """What a collect() or repair() run did, per source and in total."""

    dry_run: bool = False
    counts: dict[str, collections.Counter[str]] = field(default_factory=dict)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (source, name, reason)
    duration: float = 0.0
    generations: list[GenerationEvent] = field(default_factory=list)
    # A scoped run's parts left unvisited at its deadline, for another run (scope.Part).
    handed_off: list[Any] = field(default_factory=list)

    def add(self, event: FileEvent) -> None:
        action = event.action
        if action is _CLEANED:
            return
        self.add_count(event.source, action)
        if action is _FAILED:
            self.errors.append((event.source, event.name, event.reason))

    def add_count(self, source: str, action: Outcome, count: int = 1) -> None:
        counts = self.counts.get(source)
        if counts is None:
            counts = self.counts[source] = collections.Counter()
        counts[action] += count

    @property
    def totals(self) -> collections.Counter[str]:
        total: collections.Counter[str] = collections.Counter()
        for counts in self.counts.values():
            total.update(counts)
        return total

    @property
    def failed(self) -> int:
        return self.totals[Outcome.FAILED]

    def summary(self) -> str:
        t = self.totals
        text = (
            f"{t['linked']} {'file' if t['linked'] == 1 else 'files'} linked, {t['copied']} copied, {t['replaced']} replaced, "
            f"{t['unmodified']} unmodified, {t['deleted']} deleted, {t['skipped']} skipped, {t['failed']} failed."
        )
        return f"Dry run: {text}" if self.dry_run else text

    def as_dict(self) -> dict[str, Any]:
        totals = self.totals
        document = {
            "dry_run": self.dry_run,
            "totals": {str(action): totals[action] for action in COUNTED},
            "sources": {name: {str(action): c[action] for action in COUNTED} for name, c in self.counts.items()},
            "errors": [{"source": s, "name": strict_utf8(n), "reason": strict_utf8(r)} for s, n, r in self.errors],
            "duration": round(self.duration, 3),
        }
        if self.generations:  # only where a source keeps generations: other documents keep their shape
            document["generations"] = [event.as_dict() for event in self.generations]
        return document


@dataclass(frozen=True)
class Finding:
    """One step whose verdict is not ok (or, among notes, one source entry skipped on purpose)."""

    category: str  # a Verdict, or a SkipReason for a note
    source: str
    name: str  # the mirror name
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "category": str(self.category),
            "source": self.source,
            "name": strict_utf8(self.name),
            "detail": strict_utf8(self.detail),
        }


@dataclass
class Verification:
    """Every finding of verify(), plus what the walk skipped on purpose (notes, not faults)."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    checked: int = 0
    duration: float = 0.0
    # A scoped run's parts left unvisited at its deadline, for another run (scope.Part).
    handed_off: list[Any] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def by_category(self) -> dict[str, list[Finding]]:
        groups: dict[str, list[Finding]] = {str(verdict): [] for verdict in Verdict if verdict is not Verdict.OK}
        for finding in self.findings:
            groups.setdefault(finding.category, []).append(finding)
        return {category: found for category, found in groups.items() if found}

    def counts(self) -> dict[str, int]:
        return dict(collections.Counter(str(finding.category) for finding in self.findings))

    def summary(self) -> str:
        checked = f"{self.checked} {'file' if self.checked == 1 else 'files'} checked"
        if self.clean:
            return f"{checked}: the mirror is clean."
        parts = ", ".join(f"{len(found)} {category}" for category, found in self.by_category().items())
        count = len(self.findings)
        return f"{checked}: {count} {'finding' if count == 1 else 'findings'} ({parts})."

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "checked": self.checked,
            "counts": self.counts(),
            "findings": [finding.as_dict() for finding in self.findings],
            "skipped": [note.as_dict() for note in self.notes],
            "duration": round(self.duration, 3),
        }
