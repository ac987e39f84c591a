"""manage.py verifymirror: audit the mirror against its sources, and repair it with --fix."""

from __future__ import annotations

import json
from typing import Any

from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError

from ... import audit, conf, engine
from ...paths import printable
from ..options import add_walk_arguments, ignore_patterns, progress_bar, resolve

EXAMPLES = 5  # findings shown per category below -v 2


class Command(BaseCommand):
    help = "Check that the mirror matches its sources; exit non-zero on any finding. --fix repairs them."
    requires_system_checks = [Tags.files]  # where check_mirror is registered

    def add_arguments(self, parser):
        add_walk_arguments(parser)
        parser.add_argument(
            "--fix",
            action="store_true",
            help="Repair what can be repaired through collectmirror's engine (which deletes orphans), then audit again.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        sources, mirror = resolve(options)
        walk_options = {
            "checksum": options["checksum"],
            "ignore_patterns": ignore_patterns(options),
            "follow_external": options["follow_external_links"],
            "link_style": options["link_style"],
        }
        keep_prefixes = tuple(spec["prefix"] for spec in conf.sources().values())
        result = self.run_audit(sources, mirror, walk_options, verbosity, keep_prefixes)
        fixed = None
        if options["fix"] and not result.clean:
            fix_options = engine.Options(keep_prefixes=keep_prefixes, **walk_options)
            try:
                fixed = audit.repair(sources, mirror, result, fix_options)
            except engine.MirrorLocked as exc:
                raise CommandError(str(exc), returncode=engine.LOCKED_EXIT_CODE) from exc
            except engine.MirrorError as exc:
                raise CommandError(str(exc)) from exc
            before = result
            result = self.run_audit(sources, mirror, walk_options, verbosity, keep_prefixes)
            remaining = {(f.category, f.name) for f in result.findings}
            repaired = [f for f in before.findings if (f.category, f.name) not in remaining]
        if options["as_json"]:
            document = result.as_dict()
            if fixed is not None:
                document["fixed"] = [finding.as_dict() for finding in repaired]
                document["fix_errors"] = fixed.as_dict()["errors"]
            self.stdout.write(json.dumps(document, indent=2))
        elif verbosity >= 1:
            if fixed is not None:
                total = len(before.findings)
                self.stdout.write(f"Fixed {len(repaired)} of {total} {'finding' if total == 1 else 'findings'}.")
                for source, name, reason in fixed.errors:
                    self.stderr.write(printable(f"Could not fix '{name}' ({source}): {reason}"))
            self.write_human(result, verbosity)
        if not result.clean:
            raise CommandError(f"The mirror has {len(result.findings)} finding(s).", returncode=1)

    def run_audit(self, sources, mirror, walk_options, verbosity, keep_prefixes) -> audit.Audit:
        bar = progress_bar(self, verbosity, "Verifying")
        try:
            return audit.audit(sources, mirror, on_progress=bar.update, keep_prefixes=keep_prefixes, **walk_options)
        finally:
            bar.close()

    def write_human(self, result: audit.Audit, verbosity: int) -> None:
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
