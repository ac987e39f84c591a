"""A distributed run's shard, on a worker: claimed under a lease, reconciled as a scoped run, its events recorded.

Any number of workers on any host may be handed the same shard (a retry, a
lease that expired while its worker was only slow): the claim is a conditional
update, so one attempt holds it at a time, and only the holder's result counts.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from django.db import OperationalError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from . import conf, engine
from .leases import expiry, lease_seconds, renewing
from .lock import MirrorError
from .models import MirrorRun, Shard, ShardEvent
from .plan import Step
from .report import FileEvent, Report, Verification
from .runoptions import Options
from .scope import Part, Scope
from .sources import configured_sources, mirror_storage
from .vocab import Outcome

BATCH = 500  # events written per statement
CLAIM_RETRIES = (0.5, 1.0, 2.0, None)  # pauses between tries of a claim the database was too busy for
# Outcomes a coordinator prints at verbosity 1, and needs even when it lists no URL.
NOTABLE = frozenset({Outcome.DELETED, Outcome.SKIPPED, Outcome.FAILED, Outcome.CLEANED})


class ShardLost(Exception):
    """The shard's lease was taken over (it expired): another attempt holds it now, this one stops."""


def options_document(options: Options) -> dict[str, Any]:
    document = asdict(options)
    document["link_style"] = str(options.link_style) if options.link_style is not None else None
    return document


def options_from(document: dict[str, Any]) -> Options:
    return Options(**document)


def name_text(name: str) -> str:
    """A mirror name as JSON can carry it and name_of() reads it back: its bytes, one code point each."""
    return os.fsencode(name).decode("latin-1")


def name_of(text: str) -> str:
    return os.fsdecode(text.encode("latin-1"))


def run(shard_id: int) -> str:
    """Reconcile one shard if it is this worker's to run; what happened, for the task's result."""
    shard = claim(shard_id)
    if shard is None:
        return "not claimed: done, held by a live worker, or its run abandoned"
    lost = threading.Event()
    recorder = Recorder(shard, lost)
    with renewing(recorder.renew, on_lost=lost.set):
        try:
            document, handed = _reconcile(shard, recorder)
        except ShardLost:
            return "lease lost: another attempt holds the shard"
        except MirrorError as exc:  # the run as a whole cannot go on here (settings differ, a source gone)
            _finish(shard, Shard.State.FAILED, error=name_text(str(exc)))
            return f"failed: {exc}"
    recorder.flush(finished=True)
    _finish(shard, Shard.State.DONE, result=document, handed=handed)
    return "done"


def claim(shard_id: int) -> Shard | None:
    """Take the shard's lease if no live attempt holds it and its run's coordinator is alive."""
    now = timezone.now()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    stale = now - timedelta(seconds=lease_seconds())  # a coordinator renews its run every third of a lease
    claimable = Q(state=Shard.State.PENDING) | Q(state=Shard.State.LEASED, lease_expires__lt=now)
    for pause in CLAIM_RETRIES:
        try:
            taken = Shard.objects.filter(claimable, id=shard_id, run__heartbeat__gte=stale).update(
                state=Shard.State.LEASED,
                attempts=F("attempts") + 1,
                worker=worker,
                lease_expires=expiry(),
                started=now,
                checked=0,
            )
            break
        except OperationalError:  # SQLite busy beyond its timeout: the shard is still pending, try again
            if pause is None:
                raise
            time.sleep(pause)
    if not taken:
        return None
    return Shard.objects.select_related("run").get(id=shard_id)


def _reconcile(shard: Shard, recorder: Recorder) -> tuple[dict[str, Any], list[Part]]:
    run_row: MirrorRun = shard.run
    options = options_from(run_row.options["options"])
    sources = configured_sources(run_row.options["sources"])
    mirror = mirror_storage()
    here = os.path.realpath(os.fspath(mirror.location))
    if here != run_row.mirror:
        raise MirrorError(
            f"This worker's mirror is '{here}', the coordinator's '{run_row.mirror}': give every host the same "
            "STORAGES[SYMLINKMIRROR_STORAGE] location."
        )
    part = shard_part(shard)
    scope = Scope((part,), deadline=time.monotonic() + float(conf.get("SHARD_SECONDS")))
    if run_row.kind == MirrorRun.Kind.VERIFY:
        found = engine.verify(sources, mirror, options, scope=scope, on_progress=recorder.progress)
        return verification_document(found), found.handed_off
    journal = recorder.record if run_row.options.get("lists") else None
    report = engine.collect(
        sources,
        mirror,
        options,
        scope=scope,
        lock=False,
        journal=journal,
        on_event=recorder.event,
        on_progress=recorder.progress,
    )
    return report_document(report), report.handed_off


def _finish(shard: Shard, state: str, *, result: Any = None, error: str = "", handed: list[Part] | None = None) -> None:
    """The attempt's outcome, and the parts it handed off, in one transaction; nothing if it lost the lease."""
    with transaction.atomic():
        done = Shard.objects.filter(id=shard.id, attempts=shard.attempts, state=Shard.State.LEASED).update(
            state=state, result=result, error=error, lease_expires=None
        )
        if done and handed:
            excluded = shard_part(shard).excluded
            Shard.objects.bulk_create(
                shard_row(shard.run_id, Part(part.source, part.rel, excluded=_inside(excluded, part.rel)))
                for part in handed
            )


def _inside(names: frozenset[str], rel: str) -> frozenset[str]:
    return frozenset(name for name in names if name.startswith(rel + "/"))


def shard_row(run_id: Any, part: Part) -> Shard:
    """A new shard for part: its names stored as name_text(), since a directory's name need not be UTF-8."""
    return Shard(
        run_id=run_id, source=part.source, rel=name_text(part.rel), excluded=sorted(map(name_text, part.excluded))
    )


def shard_part(shard: Shard) -> Part:
    return Part(shard.source, name_of(shard.rel), excluded=frozenset(map(name_of, shard.excluded)))


class Recorder:
    """The attempt's side of the shard row: its events and planned changes written in batches, its lease renewed."""

    def __init__(self, shard: Shard, lost: threading.Event) -> None:
        self.shard = shard
        self.lost = lost
        self.lists = bool(shard.run.options.get("lists"))
        self.events: list[ShardEvent] = []
        self.planned = False  # planned rows were written
        self.checked = 0

    def renew(self) -> bool:
        held = Shard.objects.filter(id=self.shard.id, attempts=self.shard.attempts, state=Shard.State.LEASED)
        return bool(held.update(lease_expires=expiry(), checked=self.checked))

    def progress(self, count: int) -> None:
        self.checked += count
        if self.lost.is_set():
            raise ShardLost(str(self.shard))

    def event(self, event: FileEvent) -> None:
        if not self.lists and event.action not in NOTABLE:
            return
        self.events.append(self._row(event.action, event.source, event.name, event, planned=False))
        if len(self.events) >= BATCH:
            self.flush()

    def record(self, steps: list[Step]) -> None:
        """Before a batch of changes: these planned, and the events carried out so far confirmed, in one transaction."""
        if self.lost.is_set():
            raise ShardLost(str(self.shard))
        planned = [
            self._row(str(step.action), step.pair.source.name, step.pair.name, None, planned=True) for step in steps
        ]
        with transaction.atomic():
            self._confirm()
            ShardEvent.objects.bulk_create(planned, batch_size=BATCH)
        self.planned = True

    def flush(self, *, finished: bool = False) -> None:
        """The events so far confirmed; finished: every planned change was carried out, none stays planned."""
        if not self.events and not (finished and self.planned):
            return  # nothing to write: a shard with nothing to change costs no statement here
        with transaction.atomic():
            self._confirm()
            if finished:
                self._mine(planned=True).delete()

    def _confirm(self) -> None:
        """Write the events, and drop the planned rows of the steps they carried out (and of those only).

        With --workers N a step planned in an earlier batch may still be running:
        its planned row stays until its own event is written.
        """
        done = sorted({bytes(row.step) or bytes(row.name) for row in self.events}) if self.planned else []
        for start in range(0, len(done), BATCH):
            self._mine(planned=True).filter(name__in=done[start : start + BATCH]).delete()
        ShardEvent.objects.bulk_create(self.events, batch_size=BATCH)
        self.events = []

    def _mine(self, *, planned: bool) -> QuerySet[ShardEvent]:
        return ShardEvent.objects.filter(shard_id=self.shard.id, attempt=self.shard.attempts, planned=planned)

    def _row(self, action: str, source: str, name: str, event: FileEvent | None, *, planned: bool) -> ShardEvent:
        return ShardEvent(
            shard_id=self.shard.id,
            attempt=self.shard.attempts,
            planned=planned,
            action=str(action),
            source=source,
            name=os.fsencode(name),
            reason=name_text(event.reason) if event else "",
            made=str(event.made) if event else "",
            verdict=str(event.verdict) if event else "",
            step=os.fsencode(event.step) if event else b"",
        )


def report_document(report: Report) -> dict[str, Any]:
    return {"counts": {source: dict(counts) for source, counts in report.counts.items()}}


def verification_document(found: Verification) -> dict[str, Any]:
    def rows(findings: list[Any]) -> list[list[str]]:
        return [[str(f.category), f.source, name_text(f.name), name_text(f.detail)] for f in findings]

    return {"checked": found.checked, "findings": rows(found.findings), "notes": rows(found.notes)}
