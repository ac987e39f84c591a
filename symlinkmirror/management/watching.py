"""collectmirror --watch and --reconcile-interval: the watcher's options, and one log line per batch."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from functools import partial
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from .. import watch
from ..engine import LOCKED_EXIT_CODE, MirrorLocked, Options
from ..sources import Source
from ..storage import SymlinkOrCopyStorage
from .options import ChangedUrls
from .publish import Publisher, failures

FALLBACK = "run with --reconcile-interval SECONDS and without --watch to poll, a full reconcile every SECONDS"


def add_watch_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--watch",
        action="store_true",
        help=(
            "After a full run, keep running and mirror each change as inotify reports it (Linux), until SIGTERM "
            "or SIGINT, which let the batch in hand finish."
        ),
    )
    parser.add_argument(
        "--debounce",
        type=float,
        default=watch.DEFAULT_DEBOUNCE,
        metavar="SECONDS",
        help=f"With --watch, gather the changes of this long into one batch. Defaults to {watch.DEFAULT_DEBOUNCE:g}.",
    )
    parser.add_argument(
        "--reconcile-interval",
        type=float,
        metavar="SECONDS",
        help=(
            "Keep running and reconcile the whole mirror every SECONDS, which catches what no watcher sees. With "
            f"--watch it defaults to {watch.DEFAULT_RECONCILE_INTERVAL:g}; without it, this is polling."
        ),
    )


def continuous(options: dict[str, Any]) -> bool:
    return bool(options["watch"]) or options["reconcile_interval"] is not None


def watch_forever(
    command: BaseCommand, sources: list[Source], mirror: SymlinkOrCopyStorage, chosen: Options, options: dict[str, Any]
) -> None:
    """Run batches until a signal; a batch's failed files are reported on stderr and the watcher goes on."""
    for name in ("dry_run", "clear", "rollback", "as_json"):
        if options[name]:
            flag = "--json" if name == "as_json" else "--" + name.replace("_", "-")
            raise CommandError(
                f"{flag} cannot be combined with --watch or --reconcile-interval, which run batch after batch."
            )
    interval = options["reconcile_interval"] or watch.DEFAULT_RECONCILE_INTERVAL
    if interval <= 0 or options["debounce"] < 0:
        raise CommandError("--reconcile-interval must be more than 0 seconds and --debounce 0 or more.")
    verbosity = options["verbosity"]
    publisher = BatchPublisher(
        command, mirror, verbosity=verbosity, changed_urls=options["changed_urls"], purge_after=options["purge"]
    )
    stop = watch.Stop()

    def run_batch(batch: watch.Batch) -> None:
        publisher.log_batch(batch, sources, chosen)

    try:
        watcher = watch.Watcher(
            sources,
            run_batch,
            debounce=options["debounce"],
            reconcile_interval=interval,
            inotify=options["watch"],
            stop=stop,
            log=publisher.log,
        )
    except watch.WatchUnavailable as exc:
        raise CommandError(f"--watch cannot run: {exc} Without inotify, {FALLBACK}.") from exc
    with stop.on_signals():
        watcher.run()
    if verbosity >= 1:
        publisher.log("Stopped." if stop.signal is None else f"Stopped on signal {stop.signal}.")


class AppendedUrls(ChangedUrls):
    """--changed-urls under a watcher: each batch's URLs are added to the end of the file once the batch is done."""

    def publish(self) -> None:
        try:
            self.file.close()
            with open(self.tmp, "rb") as batch, open(self.path, "ab") as urls:
                shutil.copyfileobj(batch, urls)
                urls.flush()
                os.fsync(urls.fileno())
        except OSError as exc:
            raise CommandError(f"Cannot write --changed-urls '{self.path}': {exc.strerror}.") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)


class BatchPublisher(Publisher):
    """A Publisher run once per batch: the per-file messages one verbosity level down, one line per batch at -v 1."""

    changed_urls_file = AppendedUrls

    def __init__(
        self,
        command: BaseCommand,
        mirror: SymlinkOrCopyStorage,
        *,
        verbosity: int,
        changed_urls: str | None,
        purge_after: bool,
    ) -> None:
        super().__init__(
            command, mirror, verbosity=verbosity - 1, as_json=False, changed_urls=changed_urls, purge_after=purge_after
        )
        self.batch_verbosity = verbosity

    def log(self, text: str) -> None:
        self.command.stdout.write(text)
        self.command.stdout.flush()

    def log_batch(self, batch: watch.Batch, sources: list[Source], options: Options) -> None:
        self.changes, self.deleted, self.to_purge = [], {}, []
        started = time.monotonic()
        try:
            report = self.run(partial(watch.collect_batch, batch), sources, options, "Mirroring")
        except CommandError as exc:
            if exc.returncode == LOCKED_EXIT_CODE:
                raise MirrorLocked(str(exc)) from exc
            raise
        purged = self.purge_published(dry_run=False)
        if self.batch_verbosity >= 1:
            line = f"{batch.description}: {report.summary()}"
            if purged is not None:
                line += f" Purge: {purged.summary()}"
            self.log(f"{line} ({time.monotonic() - started:.2f} s)")
        problem = failures(report, purged)
        if problem:
            self.command.stderr.write(problem)
