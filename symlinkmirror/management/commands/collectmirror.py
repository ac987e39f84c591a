"""manage.py collectmirror: build or refresh the CDN mirror of the configured sources."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any

from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError

from ... import conf, engine
from ..options import add_walk_arguments, ignore_patterns, progress_bar, resolve

LOCKED_EXIT_CODE = engine.LOCKED_EXIT_CODE


class Command(BaseCommand):
    help = "Build or refresh the mirror, linking unmodified files and copying the rest."
    requires_system_checks = [Tags.files]  # where check_mirror is registered

    def add_arguments(self, parser):
        add_walk_arguments(parser)
        parser.add_argument(
            "-n", "--dry-run", action="store_true", help="Report what would change; leave the mirror untouched."
        )
        parser.add_argument(
            "-c",
            "--clear",
            action="store_true",
            help="Delete the mirror's existing entries for the selected sources before building it again.",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do NOT prompt the user for input of any kind.",
        )
        parser.add_argument(
            "--delete", action="store_true", help="Delete mirror entries whose source file no longer exists."
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            metavar="N",
            help="Compare and write entries in N threads (helps when copying). Defaults to 1.",
        )
        parser.add_argument(
            "--changed-urls",
            metavar="FILE",
            help=(
                "Write the URL of every entry created, replaced or deleted to FILE, one a line, for a CDN purge "
                "(with --dry-run: every URL that would change)."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        self.as_json = options["as_json"]
        if options["workers"] < 1:
            raise CommandError("--workers must be 1 or more.")
        sources, mirror = resolve(options)
        run_options = engine.Options(
            dry_run=options["dry_run"],
            clear=options["clear"],
            delete=options["delete"],
            checksum=options["checksum"],
            ignore_patterns=ignore_patterns(options),
            follow_external=options["follow_external_links"],
            workers=options["workers"],
            link_style=options["link_style"],
            keep_prefixes=tuple(spec["prefix"] for spec in conf.sources().values()),
            list_unmodified=self.verbosity >= 2,
        )
        if options["clear"] and options["interactive"] and not options["dry_run"]:
            self.confirm_clear(os.fspath(mirror.location), sources)
        self.mirror = mirror
        # Written beside its final name and renamed there at the end, so a run
        # refused by the lock (or interrupted) leaves the previous list intact.
        self.urls = None
        if options["changed_urls"]:
            try:
                self.urls = ChangedUrls(options["changed_urls"])
            except OSError as exc:
                raise CommandError(f"Cannot write --changed-urls '{options['changed_urls']}': {exc.strerror}.") from exc
        self.bar = progress_bar(self, self.verbosity, "Mirroring")
        try:
            report = self.collect(sources, mirror, run_options)
        except BaseException:
            if self.urls is not None:
                self.urls.discard()
            raise
        finally:
            self.bar.close()
        if self.urls is not None:
            try:
                self.urls.publish()
            except OSError as exc:
                self.urls.discard()
                raise CommandError(f"Cannot write --changed-urls '{self.urls.path}': {exc.strerror}.") from exc
        if self.as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        elif self.verbosity >= 1:
            self.stdout.write(report.summary())
        if report.failed:
            raise CommandError(f"{report.failed} file(s) failed; see the messages above.")

    def collect(self, sources, mirror, run_options) -> engine.Report:
        try:
            return engine.collect(sources, mirror, run_options, on_event=self.on_event, on_progress=self.bar.update)
        except engine.MirrorLocked as exc:
            raise CommandError(str(exc), returncode=LOCKED_EXIT_CODE) from exc
        except engine.MirrorError as exc:
            raise CommandError(str(exc)) from exc

    def on_event(self, event: engine.FileEvent) -> None:
        if event.changed and self.urls is not None:
            self.urls.write(self.mirror.url(event.name) + "\n")
        if event.action == "failed":
            self.stderr.write(event.message)
        elif not self.as_json and self.verbosity >= event.level:
            self.stdout.write(event.message)

    def confirm_clear(self, location: str, sources: list[Any]) -> None:
        names = ", ".join(f"'{source.name}'" for source in sources)
        message = (
            f"\nThis will DELETE every mirror entry of the sources {names} in\n\n    {location}\n\n"
            "and build them again. Are you sure you want to do this?\n\nType 'yes' to continue, or 'no' to cancel: "
        )
        if input(message) != "yes":
            raise CommandError("Collecting the mirror cancelled.")


class ChangedUrls:
    """The --changed-urls file: one URL a line, published whole or not at all."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        handle, self.tmp = tempfile.mkstemp(prefix=".changed-urls-", dir=os.path.dirname(self.path))
        self.file = os.fdopen(handle, "w", encoding="utf-8")

    def write(self, text: str) -> None:
        self.file.write(text)

    def publish(self) -> None:
        self.file.close()
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)
