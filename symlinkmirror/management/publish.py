"""Run collect() or repair() for a command: events on the console, changed URLs in a file, the lock's exit status."""

from __future__ import annotations

from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError

from ..engine import LOCKED_EXIT_CODE, FileEvent, MirrorError, MirrorLocked, Options, Report
from ..sources import Source
from ..storage import SymlinkOrCopyStorage
from ..vocab import Outcome
from .options import ChangedUrls, progress_bar

Runner = Callable[..., Report]


class Publisher:
    """What collectmirror and verifymirror --fix share: how a run that changes the mirror is shown."""

    def __init__(
        self,
        command: BaseCommand,
        mirror: SymlinkOrCopyStorage,
        *,
        verbosity: int,
        as_json: bool,
        changed_urls: str | None,
        show_changes: bool = False,
    ) -> None:
        """show_changes: list every change at verbosity 1 (verifymirror --fix), not only deletions."""
        self.command = command
        self.mirror = mirror
        self.verbosity = verbosity
        self.as_json = as_json
        self.changed_urls = changed_urls
        self.show_changes = show_changes
        self.changes: list[dict[str, str]] = []  # for --json: one per change, as --changed-urls lists them

    def run(self, runner: Runner, sources: list[Source], options: Options, description: str) -> Report:
        # Written beside its final name and renamed there at the end, so a run
        # refused by the lock (or interrupted) leaves the previous list intact.
        self.urls = ChangedUrls.open(self.changed_urls)
        bar = progress_bar(self.command, self.verbosity, description)
        try:
            report = runner(sources, self.mirror, options, on_event=self.on_event, on_progress=bar.update)
        except BaseException as exc:
            if self.urls is not None:
                self.urls.discard()
            if isinstance(exc, MirrorLocked):
                raise CommandError(str(exc), returncode=LOCKED_EXIT_CODE) from exc
            if isinstance(exc, MirrorError):
                raise CommandError(str(exc)) from exc
            raise
        finally:
            bar.close()
        if self.urls is not None:
            self.urls.publish()
        return report

    def on_event(self, event: FileEvent) -> None:
        if event.changed and self.urls is not None:
            self.urls.write(self.mirror.url(event.name) + "\n")
        if event.changed and self.as_json:
            url = self.mirror.url(event.name) if self.mirror.base_url is not None else None
            self.changes.append({"name": event.name, "url": url, "action": event.action, "verdict": event.verdict})
        if event.action is Outcome.FAILED:
            self.command.stderr.write(event.message)
        elif not self.as_json and self.verbosity >= (1 if self.show_changes and _shown(event) else event.level):
            self.command.stdout.write(event.message)


def _shown(event: FileEvent) -> bool:
    return event.changed or event.action is Outcome.CLEANED
