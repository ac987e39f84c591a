"""Options, progress output and the --changed-urls file, shared by collectmirror and verifymirror."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from .. import conf
from ..engine import DEFAULT_IGNORE_PATTERNS, MirrorError, Options, configured_sources, mirror_storage
from ..sources import Source
from ..storage import SymlinkOrCopyStorage
from ..vocab import LinkStyle

if TYPE_CHECKING:
    from tqdm import tqdm


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
        help="Mirror source files that are symlinks to paths outside their source root and every trusted root (skipped by default).",
    )
    parser.add_argument(
        "--link-style",
        choices=[str(style) for style in LinkStyle],
        help="Override the mirror storage's link_style for this run.",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        dest="as_json",
        help="Print one JSON document on stdout instead of human-readable lines.",
    )


def add_changed_urls_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--changed-urls",
        metavar="FILE",
        help=(
            "Write the URL of every entry created, replaced or deleted to FILE, one a line, for a CDN purge "
            "(with --dry-run: every URL that would change)."
        ),
    )


def add_purge_argument(parser: CommandParser, *, after: str) -> None:
    parser.add_argument(
        "--purge",
        action="store_true",
        help=(
            f"After {after}, purge the URLs of the entries replaced or deleted (created too with "
            "SYMLINKMIRROR_PURGE_CREATED) through every backend of SYMLINKMIRROR_PURGE "
            "(with --dry-run: print the batches)."
        ),
    )


def add_distributed_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--distributed",
        action="store_true",
        help=(
            "Coordinate the run: cut the sources into shards and have workers of the SYMLINKMIRROR_TASK_BACKEND "
            "task backend (on any host) reconcile them; the output is a single run's."
        ),
    )
    parser.add_argument(
        "--shards",
        type=int,
        metavar="N",
        help="With --distributed: cut each source into about N shards (default 32).",
    )


def distributed_runner(options: dict[str, Any], kind: str, *, lists: bool = True) -> Callable[..., Any] | None:
    """The distributed engine's collect or verify for --distributed (None without it), bound to --shards."""
    if options["shards"] is not None and (options["shards"] < 1 or not options["distributed"]):
        raise CommandError("--shards N needs --distributed, and N must be 1 or more.")
    if not options["distributed"]:
        return None
    from .. import distributed

    body: Callable[..., Any] = distributed.collect if kind == "collect" else distributed.verify
    extra: dict[str, Any] = {"lists": lists} if kind == "collect" else {}

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return body(*args, shards=options["shards"], **extra, **kwargs)
        except ImproperlyConfigured as exc:  # TASKS, SYMLINKMIRROR_TASK_BACKEND: named in the message
            raise MirrorError(str(exc)) from exc

    return run


def ignore_patterns(options: dict[str, Any]) -> list[str]:
    patterns = list(options["ignore_patterns"])
    if options["use_default_ignore_patterns"]:
        patterns += DEFAULT_IGNORE_PATTERNS
    return list(dict.fromkeys(patterns))


def run_options(options: dict[str, Any], **extra: Any) -> Options:
    """The engine's Options from a command's parsed options."""
    return Options(
        checksum=options["checksum"],
        ignore_patterns=tuple(ignore_patterns(options)),
        follow_external=options["follow_external_links"],
        link_style=options["link_style"],
        keep_prefixes=tuple(spec["prefix"] for spec in conf.sources().values()),
        **extra,
    )


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
    from tqdm import tqdm  # imported when a bar is made: not every command shows one

    return tqdm(desc=description, unit=" files", file=stream, disable=not visible, leave=False, dynamic_ncols=True)


class ChangedUrls:
    """The --changed-urls file: one URL a line, published whole or not at all."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        handle, self.tmp = tempfile.mkstemp(prefix=".changed-urls-", dir=os.path.dirname(self.path))
        self.file = os.fdopen(handle, "w", encoding="utf-8")

    @classmethod
    def open(cls, path: str | None) -> ChangedUrls | None:
        if not path:
            return None
        try:
            return cls(path)
        except OSError as exc:
            raise CommandError(f"Cannot write --changed-urls '{path}': {exc.strerror}.") from exc

    def write(self, text: str) -> None:
        self.file.write(text)

    def publish(self) -> None:
        try:
            self.file.close()
            os.chmod(self.tmp, 0o644)
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.discard()
            raise CommandError(f"Cannot write --changed-urls '{self.path}': {exc.strerror}.") from exc

    def discard(self) -> None:
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)
