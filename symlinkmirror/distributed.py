"""A distributed run's coordinator: cut the sources into shards, have workers run them, add up their outcomes.

collect() and verify() take and return what engine.collect() and engine.verify()
do, so a command shows a distributed run exactly as a single one. The shards go
to Django's Tasks framework on SYMLINKMIRROR_TASK_BACKEND; the shard table, not
the backend, says what is done: a shard whose lease expired is enqueued again,
up to MAX_ATTEMPTS times.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.db import DatabaseError
from django.db.models import Sum
from django.utils import timezone

from . import engine, sharding
from .finisher import Progress
from .leases import expiry, lease_seconds, renewing
from .lock import MirrorError, check_held, run_lock
from .models import MirrorRun, Shard, ShardEvent
from .report import FileEvent, Finding, Report, Verification
from .runoptions import Options
from .scope import Part, Scope
from .shardrun import name_of, options_document, shard_part, shard_row
from .sources import Source
from .storage import SymlinkOrCopyStorage
from .vocab import Action, EntryKind, Outcome, Verdict

MAX_ATTEMPTS = 3
POLL_SECONDS = 0.1
UNCONFIRMED = "planned by an attempt that stopped before confirming it"


def collect(
    sources: list[Source],
    mirror: SymlinkOrCopyStorage,
    options: Options | None = None,
    *,
    shards: int | None = None,
    lists: bool = True,
    on_event: Callable[[FileEvent], None] | None = None,
    on_progress: Progress | None = None,
) -> Report:
    """engine.collect(), with the sources' subtrees reconciled by workers.

    lists: the caller wants every changed name (--changed-urls, --json, --purge,
    -v 2); without it shards send only what verbosity 1 prints.
    """
    options = options or Options()
    coordinator = Coordinator(MirrorRun.Kind.COLLECT, sources, mirror, options, shards, lists)
    return coordinator.collect(on_event, on_progress)


def verify(
    sources: list[Source],
    mirror: SymlinkOrCopyStorage,
    options: Options | None = None,
    *,
    shards: int | None = None,
    on_progress: Progress | None = None,
) -> Verification:
    """engine.verify(), with the sources' subtrees audited by workers."""
    options = replace(options or Options(), delete=True, dry_run=True, clear=False)
    return Coordinator(MirrorRun.Kind.VERIFY, sources, mirror, options, shards, False).verify(on_progress)


class Coordinator:
    def __init__(
        self,
        kind: str,
        sources: list[Source],
        mirror: SymlinkOrCopyStorage,
        options: Options,
        shards: int | None,
        lists: bool,
    ) -> None:
        from . import taskapi

        self.backend = taskapi.backend()
        if isinstance(self.backend, taskapi.DummyBackend):
            raise MirrorError(
                f"SYMLINKMIRROR_TASK_BACKEND is '{taskapi.backend_alias()}', a dummy backend that never runs a task: "
                "name a backend whose workers run them (django_tasks_db.DatabaseBackend and `manage.py db_worker`)."
            )
        self.alias = taskapi.backend_alias()
        self.keeps_results = bool(getattr(self.backend, "supports_get_result", False))
        try:
            MirrorRun.objects.exists()
        except DatabaseError as exc:
            raise MirrorError(
                f"The shard tables cannot be read ({exc}): run `manage.py migrate` for the symlinkmirror app."
            ) from exc
        self.kind = kind
        self.sources = sources
        self.mirror = mirror
        self.options = options
        self.target = shards or sharding.DEFAULT_SHARDS
        self.lists = lists
        # A source that keeps generations is built whole, into its next generation, by this process.
        self.whole = [source for source in sources if source.generations]
        self.parted = [source for source in sources if not source.generations]
        self.root = os.path.realpath(os.fspath(mirror.location))

    # The two runs.

    def collect(self, on_event: Callable[[FileEvent], None] | None, on_progress: Progress | None) -> Report:
        report = Report(dry_run=self.options.dry_run)
        started = time.monotonic()
        with self._held():
            if self.whole:
                whole = engine.collect(self.whole, self.mirror, self.options, lock=False, on_event=on_event)
                _merge_counts(report, whole.counts)
                report.errors += whole.errors
                report.generations += whole.generations
            with self._run() as run:
                crown, shards = self._cut(clear=self.options.clear)
                top = engine.collect(self.parted, self.mirror, self.options, scope=crown, lock=False, on_event=on_event)
                _merge_counts(report, top.counts)
                report.errors += top.errors
                self._wait(run, shards, on_progress)
                for shard in run.shards.order_by("id"):
                    _merge_counts(report, (shard.result or {}).get("counts", {}))
                    if shard.state == Shard.State.FAILED:
                        report.add(FileEvent(Outcome.FAILED, shard.source, _shard_name(shard), name_of(shard.error)))
                for event in self._events(run):
                    if event.action is Outcome.FAILED:
                        report.errors.append((event.source, event.name, event.reason))
                    if on_event is not None:
                        on_event(event)
        report.duration = time.monotonic() - started
        return report

    def verify(self, on_progress: Progress | None) -> Verification:
        result = Verification()
        started = time.monotonic()
        if self.whole:
            _add_verification(result, engine.verify(self.whole, self.mirror, self.options))
        with self._run() as run:
            crown, shards = self._cut()
            _add_verification(result, engine.verify(self.parted, self.mirror, self.options, scope=crown))
            self._wait(run, shards, on_progress)
            for shard in run.shards.order_by("id"):
                document = shard.result or {}
                result.checked += document.get("checked", 0)
                result.findings += [_finding(row) for row in document.get("findings", [])]
                result.notes += [_finding(row) for row in document.get("notes", [])]
                if shard.state == Shard.State.FAILED:
                    error = name_of(shard.error)
                    result.findings.append(Finding(Verdict.UNREADABLE, shard.source, _shard_name(shard), error))
        result.findings.sort(key=lambda finding: (finding.name, finding.category))
        result.notes.sort(key=lambda finding: finding.name)
        result.duration = time.monotonic() - started
        return result

    def _cut(self, *, clear: bool = False) -> tuple[Scope, list[Part]]:
        """The crown's scope, run here, and the shards' parts, run by workers."""
        cuts = [sharding.cut(source, self.target, self.options.ignore_patterns) for source in self.parted]
        # The entries outside every prefix are audited once: by the whole run, when there is one.
        crown = Scope(tuple(c.crown for c in cuts), unmanaged=not self.whole, clear=clear)
        return crown, [part for c in cuts for part in c.shards]

    # The run's rows, and the lock held while they live.

    def _held(self) -> Any:
        """The mirror's lock, as a single run takes it: not for a dry run."""
        return nullcontext() if self.options.dry_run else run_lock(os.fspath(self.mirror.location))

    @contextmanager
    def _run(self) -> Iterator[MirrorRun]:
        """The run's row, renewed while it lives and deleted (with its shards and events) when it ends."""
        MirrorRun.objects.filter(heartbeat__lt=timezone.now() - _lease()).delete()  # runs whose coordinator died
        document = {
            "options": options_document(self.options),
            "sources": [source.name for source in self.parted],
            "lists": self.lists,
        }
        run = MirrorRun.objects.create(kind=self.kind, mirror=self.root, options=document, heartbeat=expiry(0))

        def renew() -> bool:
            return bool(MirrorRun.objects.filter(id=run.id).update(heartbeat=timezone.now()))

        try:
            with renewing(renew):
                yield run
        finally:
            run.delete()

    # Waiting for the shards.

    def _wait(self, run: MirrorRun, parts: list[Part], on_progress: Progress | None) -> None:
        from .tasks import run_shard

        task = run_shard.using(backend=self.alias)
        Shard.objects.bulk_create(shard_row(run.id, part) for part in parts)
        reported, started, hinted = 0, time.monotonic(), False
        while True:
            check_held()  # the coordinator's database lease, if it was taken over
            self._requeue_expired(run)
            due = self._to_enqueue(run)
            Shard.objects.filter(id__in=due).update(enqueued=timezone.now())
            for shard_id in due:
                result = task.enqueue(shard_id)  # an immediate backend runs it here and now
                if self.keeps_results:
                    Shard.objects.filter(id=shard_id).update(task=str(result.id))
            states = run.shards.values_list("state", flat=True)
            checked = run.shards.aggregate(total=Sum("checked"))["total"] or 0
            if on_progress is not None and checked > reported:
                on_progress(checked - reported)
                reported = checked
            if all(state in (Shard.State.DONE, Shard.State.FAILED) for state in states):
                return
            waited = time.monotonic() - started > 2 * lease_seconds()
            if not hinted and waited and not run.shards.exclude(state=Shard.State.PENDING).exists():
                hinted = True
                sys.stderr.write(
                    f"No worker has taken a shard yet: start workers for the '{self.alias}' task backend "
                    "(SYMLINKMIRROR_TASK_BACKEND), for example `manage.py db_worker`.\n"
                )
            time.sleep(POLL_SECONDS)

    def _to_enqueue(self, run: MirrorRun) -> list[int]:
        """Pending shards with no task yet, or whose task started a lease ago and never claimed them (it died first).

        A task the backend still holds, not started, is left to wait: a busy pool
        of workers does not fill the queue with copies.
        """
        waiting = run.shards.filter(state=Shard.State.PENDING)
        due = list(waiting.filter(enqueued=None).values_list("id", flat=True))
        stale = timezone.now() - timedelta(seconds=lease_seconds())
        for shard_id, task_id in waiting.filter(enqueued__lt=stale).values_list("id", "task"):
            if not self._still_queued(task_id):
                due.append(shard_id)
        return due

    def _still_queued(self, task_id: str) -> bool:
        from . import taskapi

        if not task_id or not self.keeps_results:
            return False  # no way to ask: enqueued again each lease, the claim keeps copies harmless
        try:
            return bool(self.backend.get_result(task_id).status == taskapi.TaskResultStatus.READY)
        except Exception:  # TaskResultDoesNotExist (pruned), or the backend cannot say
            return False

    def _requeue_expired(self, run: MirrorRun) -> None:
        """A shard whose worker stopped renewing its lease: again, unless it has been tried too often."""
        expired = run.shards.filter(state=Shard.State.LEASED, lease_expires__lt=timezone.now())
        expired.filter(attempts__gte=MAX_ATTEMPTS).update(
            state=Shard.State.FAILED, error=f"its worker stopped renewing its lease {MAX_ATTEMPTS} times"
        )
        expired.filter(attempts__lt=MAX_ATTEMPTS).update(state=Shard.State.PENDING, enqueued=None, lease_expires=None)

    def _events(self, run: MirrorRun) -> Iterator[FileEvent]:
        """Every name's events, in name order, streamed from the database: a run's list is never held whole.

        Of a name's confirmed events each is given once, and a failure only from
        the attempt whose report counts. A change a dead attempt planned may or
        may not have been made: its URL is listed anyway (a superset, never a gap),
        unless a confirmed change names it.
        """
        final = dict(run.shards.values_list("id", "attempts"))
        rows = ShardEvent.objects.filter(shard__run=run).order_by("name", "source", "planned", "action", "attempt")
        group: list[ShardEvent] = []
        for row in rows.iterator(chunk_size=2000):
            if group and (bytes(row.name), row.source) != (bytes(group[0].name), group[0].source):
                yield from self._name_events(group, final)
                group = []
            group.append(row)
        if group:
            yield from self._name_events(group, final)

    def _name_events(self, rows: list[ShardEvent], final: dict[int, int]) -> Iterator[FileEvent]:
        seen: set[str] = set()
        changed = False
        rows.sort(key=lambda row: (row.planned, row.action != Outcome.DELETED))  # a --clear deletion before its remake
        for row in rows:
            name = os.fsdecode(bytes(row.name))
            if row.planned:
                if not changed:
                    yield _unconfirmed(row.source, name, row.action, self.options.dry_run)
                return
            stale_failure = row.action == Outcome.FAILED and row.attempt != final.get(row.shard_id)
            if row.action in seen or stale_failure:
                continue
            seen.add(row.action)
            event = FileEvent(
                Outcome(row.action),
                row.source,
                name,
                name_of(row.reason),
                _made(row.made),
                self.options.dry_run,
                Verdict(row.verdict) if row.verdict else Verdict.OK,
                os.fsdecode(bytes(row.step)),
            )
            changed = changed or event.changed
            yield event


def _unconfirmed(source: str, name: str, action: str, dry_run: bool) -> FileEvent:
    """A change a dead attempt planned: listed as what it would have been (a deletion, or new bytes at the URL)."""
    outcome = Outcome.DELETED if action == Action.DELETE else Outcome.REPLACED
    return FileEvent(outcome, source, name, UNCONFIRMED, "", dry_run, Verdict.OK, name)


def _made(value: str) -> EntryKind | str:
    try:
        return EntryKind(value)
    except ValueError:
        return value


def _lease() -> timedelta:
    return timedelta(seconds=2 * lease_seconds())


def _add_verification(result: Verification, other: Verification) -> None:
    result.checked += other.checked
    result.findings += other.findings
    result.notes += other.notes


def _merge_counts(report: Report, counts: dict[str, Any]) -> None:
    for source, by_action in counts.items():
        for action, count in by_action.items():
            if count:
                report.add_count(source, Outcome(action), count)


def _shard_name(shard: Shard) -> str:
    return f"{shard.source}:{shard_part(shard).rel or '/'}"


def _finding(row: list[str]) -> Finding:
    category, source, name, detail = row
    return Finding(category, source, name_of(name), name_of(detail))
