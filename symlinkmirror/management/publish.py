"""Run collect() or repair() for a command: events on the console, changed URLs in a file, the lock's exit status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from .. import purge
from ..engine import LOCKED_EXIT_CODE, FileEvent, MirrorError, MirrorLocked, Options, Report
from ..paths import strict_utf8
from ..sources import Source
from ..storage import SymlinkOrCopyStorage
from ..vocab import Outcome
from .commands.purgemirror import failure_message, write_event
from .options import ChangedUrls, progress_bar

Runner = Callable[..., Report]


class Publisher:
    """What collectmirror and verifymirror --fix share: how a run that changes the mirror is shown."""

    changed_urls_file = ChangedUrls  # a watcher's batches append to the file instead (management/watching.py)

    def __init__(
        self,
        command: BaseCommand,
        mirror: SymlinkOrCopyStorage,
        *,
        verbosity: int,
        as_json: bool,
        changed_urls: str | None,
        show_changes: bool = False,
        purge_after: bool = False,
    ) -> None:
        """show_changes: list every change at verbosity 1 (verifymirror --fix), not only deletions.

        purge_after: collect the URLs purge.should_purge() names, for purge_published().
        """
        self.command = command
        self.mirror = mirror
        self.verbosity = verbosity
        self.as_json = as_json
        self.changed_urls = changed_urls
        self.show_changes = show_changes
        self.changes: list[dict[str, str]] = []  # for --json: one per changed name, as --changed-urls lists them
        # Names deleted so far, with their place in changes (-1 without --json): a name
        # deleted and then made again (--clear) is one change, listed once. Only deletions
        # are remembered, so a first run of millions of files holds no name.
        self.deleted: dict[str, int] = {}
        self.backends: dict[str, purge.PurgeBackend] | None = None
        if purge_after:
            self.backends = self.purge_backends()
        self.to_purge: list[str] = []

    def run(self, runner: Runner, sources: list[Source], options: Options, description: str) -> Report:
        # Written beside its final name and renamed there at the end, so a run
        # refused by the lock (or interrupted) leaves the previous list intact.
        self.urls = self.changed_urls_file.open(self.changed_urls)
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

    def purge_backends(self) -> dict[str, purge.PurgeBackend]:
        """Every backend of SYMLINKMIRROR_PURGE, made before the run: a wrong setting stops it untouched."""
        if self.mirror.base_url is None:
            raise CommandError(
                "--purge needs URLs: give the mirror storage a base_url (STORAGES[...]['OPTIONS']['base_url'])."
            )
        try:
            backends = purge.configured_backends()
            purge.state_dir()  # refuses a state folder inside the mirror
        except purge.PurgeError as exc:
            raise CommandError(str(exc)) from exc
        if not backends:
            raise CommandError("--purge has nothing to purge through: add a backend to SYMLINKMIRROR_PURGE.")
        return backends

    def purge_published(self, *, dry_run: bool) -> purge.PurgeReport | None:
        """Purge what the run changed, once it is all in place (never before: the CDN would fetch the old bytes).

        None without purge_after. A failed batch is reported and kept for
        'purgemirror --resume'; it never unpublishes anything.
        """
        if self.backends is None:
            return None
        try:
            report = purge.purge_urls(self.to_purge, dry_run=dry_run, on_event=self.on_purge, backends=self.backends)
        except purge.PurgeError as exc:
            raise CommandError(str(exc)) from exc
        if self.verbosity >= 1 and not self.as_json:
            self.command.stdout.write(report.summary())
        return report

    def on_purge(self, event: purge.PurgeEvent) -> None:
        if self.as_json and event.action != purge.PurgeAction.FAILED:
            return  # stdout holds the JSON document alone
        write_event(self.command, event, self.verbosity)

    def on_event(self, event: FileEvent) -> None:
        if self.backends is not None and purge.should_purge(event.action):
            self.to_purge.append(self.mirror.url(event.name))
        if event.changed:
            self.list_change(event)
        if event.action is Outcome.FAILED:
            self.command.stderr.write(event.message)
        elif (
            self.verbosity  # every message has a level of 1 or more: at 0, none is worked out
            and not self.as_json
            and self.verbosity >= (1 if self.show_changes and _shown(event) else event.level)
        ):
            self.command.stdout.write(event.message)

    def list_change(self, event: FileEvent) -> None:
        """One line of --changed-urls and one entry of --json's "changed" per name and run."""
        earlier = self.deleted.get(event.name)
        if earlier is not None:
            if earlier >= 0 and event.action is not Outcome.DELETED:
                self.changes[earlier]["action"] = Outcome.REPLACED  # deleted, then made anew: it serves other bytes
            return
        if self.urls is not None:
            self.urls.write(self.mirror.url(event.name) + "\n")
        index = -1
        if self.as_json:
            url = self.mirror.url(event.name) if self.mirror.base_url is not None else None
            name = strict_utf8(event.name)
            index = len(self.changes)
            self.changes.append({"name": name, "url": url, "action": event.action, "verdict": event.verdict})
        if event.action is Outcome.DELETED:
            self.deleted[event.name] = index


def _shown(event: FileEvent) -> bool:
    return event.changed or event.action is Outcome.CLEANED


def failures(report: Report | None, purged: purge.PurgeReport | None) -> str:
    """The CommandError text for a run whose files or purge batches failed, or ''."""
    problems = []
    if report is not None and report.failed:
        problems.append(f"{report.failed} file(s) failed; see the messages above.")
    if purged is not None and purged.failed:
        problems.append(failure_message(purged, _state_dir()))
    return " ".join(problems)


def _state_dir() -> Path | None:
    try:
        return purge.state_dir()
    except purge.PurgeError:
        return None


def purge_document(purged: purge.PurgeReport | None) -> dict[str, object]:
    """--json's "purge" member: the purge's totals and its failed batches."""
    if purged is None:
        return {}
    return {
        "purge": {
            "summary": purged.summary(),
            "batches": purged.batches,
            "purged": purged.purged,
            "billed_paths": purged.billed,
            "failed": [{"backend": batch.backend, "items": list(batch.items)} for batch in purged.failed],
        }
    }
