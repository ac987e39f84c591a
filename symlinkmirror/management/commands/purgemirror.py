"""manage.py purgemirror: purge a changed-URL list, or the batches a failed purge left, through the CDN backends."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import purge
from ...checks import PURGE_TAG


class Command(BaseCommand):
    help = (
        "Purge the URLs listed in FILE (one a line, as collectmirror --changed-urls writes them) through every "
        "backend of SYMLINKMIRROR_PURGE, or retry the batches an earlier purge left failed."
    )
    requires_system_checks = [PURGE_TAG]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", nargs="?", metavar="FILE", help="The file of URLs to purge, one a line; '-' reads standard input."
        )
        parser.add_argument(
            "--prefix",
            action="append",
            default=[],
            dest="prefixes",
            metavar="PREFIX",
            help="Also purge every URL under this prefix (Varnish BAN, a CloudFront wildcard). Repeat for several.",
        )
        parser.add_argument(
            "--backend",
            action="append",
            dest="aliases",
            metavar="ALIAS",
            help="Purge through this backend of SYMLINKMIRROR_PURGE only. Repeat for several.",
        )
        parser.add_argument(
            "--resume",
            action="store_true",
            help="Retry the batches that earlier purges left failed in SYMLINKMIRROR_STATE_DIR, exactly as they were.",
        )
        parser.add_argument(
            "-n",
            "--dry-run",
            action="store_true",
            help="Print the batches and the number of billed paths; call no CDN.",
        )

    def handle(
        self, *args: Any, file: str | None, prefixes: list[str], aliases: list[str] | None, **options: Any
    ) -> None:
        self.verbosity = options["verbosity"]
        dry_run = options["dry_run"]
        if options["resume"] and (file or prefixes):
            raise CommandError("Give either FILE (or --prefix) or --resume, not both.")
        if not options["resume"] and not file and not prefixes:
            raise CommandError("Give the FILE of URLs to purge (collectmirror --changed-urls writes one), or --resume.")
        try:
            backends = purge.configured_backends(aliases)
            if not backends:
                raise CommandError(
                    "SYMLINKMIRROR_PURGE has no backends: add one, like "
                    "{'cdn': {'BACKEND': 'symlinkmirror.purge.CloudFrontBackend', 'OPTIONS': {'distribution_id': ...}}}."
                )
            if options["resume"]:
                report = purge.resume(dry_run=dry_run, on_event=self.on_event, backends=backends)
            else:
                urls = self.read_urls(file) if file else []
                report = purge.purge_urls(
                    urls, prefixes=prefixes, dry_run=dry_run, on_event=self.on_event, backends=backends
                )
            folder = purge.state_dir()
        except purge.PurgeError as exc:
            raise CommandError(str(exc)) from exc
        if options["resume"] and report.batches == 0 and self.verbosity >= 1:
            self.stdout.write("No failed batches to resume.")
        elif self.verbosity >= 1:
            self.stdout.write(report.summary())
        if report.failed:
            raise CommandError(failure_message(report, folder))

    def read_urls(self, file: str) -> list[str]:
        # Without a byte order mark (Windows editors write one), which would
        # otherwise become part of the first URL, and purge another.
        try:
            if file == "-":
                return sys.stdin.read().removeprefix("\ufeff").splitlines()
            with open(file, encoding="utf-8-sig") as handle:
                return handle.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise CommandError(f"Cannot read the URL list '{file}': {reason}.") from exc

    def on_event(self, event: purge.PurgeEvent) -> None:
        write_event(self, event, self.verbosity)


# Shared with any command that purges after publishing (collectmirror --purge).


def write_event(command: BaseCommand, event: purge.PurgeEvent, verbosity: int) -> None:
    """A purge event as a command prints it: failures and retries on stderr, batches on stdout."""
    if event.action == purge.PurgeAction.FAILED:
        command.stderr.write(event.message)
    elif event.action == purge.PurgeAction.RETRYING:
        if verbosity >= 1:
            command.stderr.write(event.message)
    elif verbosity >= event.level:
        command.stdout.write(event.message)
        if event.action == purge.PurgeAction.PURGED and verbosity >= 2:
            for item in event.batch.items:
                command.stdout.write(f"  {item}")


def failure_message(report: purge.PurgeReport, folder: Path | None) -> str:
    """The CommandError text for a run with failed batches, saying where they are kept."""
    if folder is None:
        kept = "set SYMLINKMIRROR_STATE_DIR to keep failed batches for 'purgemirror --resume'"
    else:
        kept = f"they are kept in '{folder}' for 'purgemirror --resume'"
    return f"{len(report.failed)} batch(es) failed; {kept}."
