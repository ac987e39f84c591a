"""Options and progress output shared by collectmirror and verifymirror."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ..engine import DEFAULT_IGNORE_PATTERNS, MirrorError, configured_sources, mirror_storage
from ..paths import LINK_STYLES
from ..storage import SymlinkOrCopyStorage
from ..walk import Source


def add_walk_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--source",
        action="append",
        dest="source_names",
        metavar="NAME",
        help="Limit the run to this source of SYMLINKMIRROR_SOURCES. Repeat for several.",
    )
    parser.add_argument(
        "-i",
        "--ignore",
        action="append",
        default=[],
        dest="ignore_patterns",
        metavar="PATTERN",
        help="Ignore files, directories, or paths matching this glob-style pattern. Use multiple times to ignore more.",
    )
    parser.add_argument(
        "--no-default-ignore",
        action="store_false",
        dest="use_default_ignore_patterns",
        help="Don't ignore the common private glob-style patterns (defaults to 'CVS', '.*' and '*~').",
    )
    parser.add_argument(
        "--checksum",
        action="store_true",
        help="Compare the contents of copies with their sources, not just their size and modification time.",
    )
    parser.add_argument(
        "--follow-external-links",
        action="store_true",
        help="Mirror source files that are symlinks to paths outside their source root (skipped by default).",
    )
    parser.add_argument(
        "--link-style",
        choices=LINK_STYLES,
        help="Override the mirror storage's link_style for this run.",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        dest="as_json",
        help="Print one JSON document on stdout instead of human-readable lines.",
    )


def ignore_patterns(options: dict[str, Any]) -> list[str]:
    patterns = list(options["ignore_patterns"])
    if options["use_default_ignore_patterns"]:
        patterns += DEFAULT_IGNORE_PATTERNS
    return list(dict.fromkeys(patterns))


def resolve(options: dict[str, Any]) -> tuple[list[Source], SymlinkOrCopyStorage]:
    """The sources and mirror the settings name, or a CommandError naming the setting."""
    try:
        return configured_sources(options["source_names"]), mirror_storage()
    except MirrorError as exc:
        raise CommandError(str(exc)) from exc


def progress_bar(command: BaseCommand, verbosity: int, description: str) -> tqdm:
    """A counter on stderr, only for a person watching a terminal."""
    stream = getattr(command.stderr, "_out", sys.stderr)
    visible = verbosity >= 1 and hasattr(stream, "isatty") and stream.isatty()
    return tqdm(desc=description, unit=" files", file=stream, disable=not visible, leave=False, dynamic_ncols=True)
