"""manage.py collectmirror: build or refresh the CDN mirror of the configured sources."""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import engine
from ...checks import TAG
from ..options import (
    add_changed_urls_argument,
    add_distributed_arguments,
    add_purge_argument,
    add_walk_arguments,
    distributed_runner,
    resolve,
    run_options,
)
from ..publish import Publisher, failures, purge_document
from ..watching import add_watch_arguments, continuous, watch_forever

LOCKED_EXIT_CODE = engine.LOCKED_EXIT_CODE


class Command(BaseCommand):
    help = "Build or refresh the mirror, linking unmodified files and copying the rest."
    requires_system_checks = [TAG, Tags.files]  # the app's own checks, and the purge checks registered with files

    def add_arguments(self, parser: CommandParser) -> None:
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
            "--rollback",
            action="store_true",
            help=(
                "Serve each source that keeps generations (with --source, each named) from the generation before "
                "the one it serves, in one switch; the sources are not walked. With --purge, purge the URLs whose "
                "entries differ between the two."
            ),
        )
        add_distributed_arguments(parser)
        add_changed_urls_argument(parser)
        add_purge_argument(parser, after="the last entry is in place")
        add_watch_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        if options["workers"] < 1:
            raise CommandError("--workers must be 1 or more.")
        if options["rollback"] and (options["clear"] or options["delete"]):
            raise CommandError("--rollback switches generations and walks no source: leave out --clear and --delete.")
        if options["rollback"] and options["distributed"]:
            raise CommandError("--rollback switches generations in one step, here: leave out --distributed.")
        lists = bool(options["changed_urls"] or options["as_json"] or options["purge"] or verbosity >= 2)
        distributed = distributed_runner(options, "collect", lists=lists)
        sources, mirror = resolve(options)
        chosen = run_options(
            options,
            dry_run=options["dry_run"],
            clear=options["clear"],
            delete=options["delete"],
            workers=options["workers"],
            list_unmodified=verbosity >= 2,
        )
        if continuous(options):
            return watch_forever(self, sources, mirror, chosen, options)
        if options["clear"] and options["interactive"] and not options["dry_run"]:
            self.confirm_clear(os.fspath(mirror.location), sources)
        publisher = Publisher(
            self,
            mirror,
            verbosity=verbosity,
            as_json=options["as_json"],
            changed_urls=options["changed_urls"],
            purge_after=options["purge"],
        )
        if options["rollback"]:
            report = publisher.run(engine.rollback, sources, chosen, "Rolling back")
        else:
            report = publisher.run(distributed or engine.collect, sources, chosen, "Mirroring")
        if verbosity >= 1 and not options["as_json"]:
            for generation in report.generations:
                self.stdout.write(generation.message)
            self.stdout.write(report.summary())
        purged = publisher.purge_published(dry_run=options["dry_run"])
        if options["as_json"]:
            document = {**report.as_dict(), "changed": publisher.changes, **purge_document(purged)}
            self.stdout.write(json.dumps(document, indent=2))
        problem = failures(report, purged)
        if problem:
            raise CommandError(problem)

    def confirm_clear(self, location: str, sources: list[Any]) -> None:
        names = ", ".join(f"'{source.name}'" for source in sources)
        message = (
            f"\nThis will DELETE every mirror entry of the sources {names} in\n\n    {location}\n\n"
            "and build them again. Are you sure you want to do this?\n\nType 'yes' to continue, or 'no' to cancel: "
        )
        if input(message) != "yes":
            raise CommandError("Collecting the mirror cancelled.")
