"""Finisher: counts each step's events, and what the walk settled, into a run's Report; progress in batches."""

from __future__ import annotations

from collections.abc import Callable

from .apply import Events
from .lock import check_held
from .report import FileEvent, Report
from .runoptions import Options
from .settle import Settled
from .vocab import Outcome

Progress = Callable[[int], None]
# Looked up once: an enum member read through its class is slow on Python 3.11, and these run per file.
_DELETED, _UNMODIFIED = Outcome.DELETED, Outcome.UNMODIFIED


class Finisher:
    """Counts each step's events into the report, passes them on, and the progress in batches."""

    BATCH = 256

    def __init__(
        self,
        report: Report,
        options: Options,
        on_event: Callable[[FileEvent], None] | None,
        on_progress: Progress | None,
    ) -> None:
        self.report = report
        self.list_unmodified = options.list_unmodified
        self.on_event = on_event
        self.on_progress = on_progress
        self.pending = 0

    def __call__(self, events: Events | Settled) -> None:
        if isinstance(events, Settled):
            self.settled(events)
            return
        for event in events:
            if event.action is not _DELETED:
                self.pending += 1
            self.report.add(event)
            if self.on_event is not None and (self.list_unmodified or event.action is not _UNMODIFIED):
                self.on_event(event)
        if self.pending >= self.BATCH:
            self.flush()

    def settled(self, settled: Settled) -> None:
        """Entries the walk settled itself: counted as unmodified, named only when asked to."""
        source, prefix, names = settled
        self.report.add_count(source, _UNMODIFIED, len(names))
        self.pending += len(names)
        if self.on_event is not None and self.list_unmodified:
            dry_run = self.report.dry_run
            for name in names:
                self.on_event(FileEvent(_UNMODIFIED, source, prefix + name, dry_run=dry_run, step=prefix + name))
        if self.pending >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        check_held()  # a run whose database lease was taken over stops here, every BATCH entries
        if self.on_progress is not None and self.pending:
            self.on_progress(self.pending)
        self.pending = 0
