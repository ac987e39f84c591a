"""manage.py verifymirror: the plan's findings for the mirror; --fix applies that same plan."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import engine
from ...checks import TAG
from ...paths import printable
from ...report import Report, Verification
from ..options import (
    add_changed_urls_argument,
    add_distributed_arguments,
    add_purge_argument,
    add_walk_arguments,
    distributed_runner,
    progress_bar,
    resolve,
    run_options,
)
from ..publish import Publisher, failures, purge_document

EXAMPLES = 5  # findings shown per category below -v 2


class Command(BaseCommand):
    help = "Check that the mirror matches its sources; exit non-zero on any finding. --fix repairs them."
    requires_system_checks = [TAG, Tags.files]  # the app's own checks, and the purge checks registered with files

    def add_arguments(self, parser: CommandParser) -> None:
        add_walk_arguments(parser)
        parser.add_argument(
            "--fix",
            action="store_true",
            help="Apply the plan the findings come from (which deletes orphans), list each change, then verify again.",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            metavar="N",
            help=(
                "Compare entries in N threads (helps --checksum with large files or a remote storage; on small "
                "local files the threads contend for the interpreter and one is quicker). Defaults to 1."
            ),
        )
        add_distributed_arguments(parser)
        add_changed_urls_argument(parser)
        add_purge_argument(parser, after="--fix has repaired the mirror")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        if options["changed_urls"] and not options["fix"]:
            raise CommandError("--changed-urls lists what --fix changes: pass --fix too, or leave it out.")
        if options["purge"] and not options["fix"]:
            raise CommandError("--purge purges what --fix changes: pass --fix too, or leave it out.")
        workers = options["workers"]
        if workers < 1:
            raise CommandError("--workers must be 1 or more.")
        self.distributed = distributed_runner(options, "verify")
        lists = bool(options["changed_urls"] or options["as_json"] or options["purge"] or verbosity >= 1)
        self.repair = distributed_runner(options, "collect", lists=lists)
        sources, mirror = resolve(options)
        chosen = run_options(options, workers=workers)
        result = self.verify(sources, mirror, chosen, verbosity)
        before, fixed, publisher_changes, purged = result, None, [], None
        if options["fix"] and not result.clean:
            publisher = Publisher(
                self,
                mirror,
                verbosity=verbosity,
                as_json=options["as_json"],
                changed_urls=options["changed_urls"],
                show_changes=True,
                purge_after=options["purge"],
            )
            if self.repair is not None:
                fixed = publisher.run(self.repair, sources, replace(chosen, delete=True), "Repairing")
            else:
                fixed = publisher.run(engine.repair, sources, chosen, "Repairing")
            publisher_changes = publisher.changes
            purged = publisher.purge_published(dry_run=False)
            result = self.verify(sources, mirror, chosen, verbosity)
        if options["as_json"]:
            doc = {**document(before, result, fixed, publisher_changes), **purge_document(purged)}
            self.stdout.write(json.dumps(doc, indent=2))
        elif verbosity >= 1:
            if fixed is not None:
                self.write_fixed(before, result, fixed)
            self.write_human(result, verbosity)
        problem = failures(None, purged)  # the repair's file failures stay findings
        if not result.clean:
            raise CommandError(f"The mirror has {len(result.findings)} finding(s). {problem}".strip(), returncode=1)
        if problem:
            raise CommandError(problem)

    def verify(self, sources: Any, mirror: Any, chosen: engine.Options, verbosity: int) -> Verification:
        bar = progress_bar(self, verbosity, "Verifying")
        try:
            return (self.distributed or engine.verify)(sources, mirror, chosen, on_progress=bar.update)
        except engine.MirrorError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()

    def write_fixed(self, before: Verification, after: Verification, fixed: Report) -> None:
        """The changes and failures were listed as they happened; then what became of generations, and the count."""
        for generation in fixed.generations:
            self.stdout.write(generation.message)
        total = len(before.findings)
        repaired = len(repaired_findings(before, after))
        self.stdout.write(f"Fixed {repaired} of {total} {'finding' if total == 1 else 'findings'}.")

    def write_human(self, result: Verification, verbosity: int) -> None:
        for category, findings in result.by_category().items():
            self.stdout.write(f"{category} ({len(findings)}):")
            shown = findings if verbosity >= 2 else findings[:EXAMPLES]
            for finding in shown:
                self.stdout.write(printable(f"  '{finding.name}': {finding.detail}"))
            if len(shown) < len(findings):
                self.stdout.write(f"  ... and {len(findings) - len(shown)} more (use -v 2 to list all)")
        if verbosity >= 2:
            for note in result.notes:
                self.stdout.write(printable(f"Skipped '{note.name}' ({note.detail})"))
        self.stdout.write(result.summary())


def repaired_findings(before: Verification, after: Verification) -> list[Any]:
    remaining = {(finding.category, finding.name) for finding in after.findings}
    return [finding for finding in before.findings if (finding.category, finding.name) not in remaining]


def document(
    before: Verification, after: Verification, fixed: Report | None, changes: list[dict[str, str]]
) -> dict[str, Any]:
    """--json: the (final) findings; with --fix, what was fixed and the repair's own report."""
    result = after.as_dict()
    if fixed is not None:
        result["fixed"] = [finding.as_dict() for finding in repaired_findings(before, after)]
        result["fix_errors"] = fixed.as_dict()["errors"]
        result["fix"] = {**fixed.as_dict(), "changed": changes}
    return result
