"""The app's tables: one run per mirror across hosts (MirrorLease), and a distributed run's shards.

The Tasks framework carries each shard to a worker, but its database backend
has no retries and leaves a killed worker's task "running" for ever: the shard
table is what the coordinator trusts. A shard's lease expires unless its worker
renews it; an expired one is enqueued again, and a retried shard changes
nothing already right (it is the plan applied once more).
"""

from __future__ import annotations

import uuid

from django.db import models


class MirrorLease(models.Model):
    """SYMLINKMIRROR_LOCK = "database": the one run that holds a mirror, until it releases it or stops renewing."""

    mirror = models.CharField(max_length=1024, unique=True)  # the mirror root's real path
    holder = models.CharField(max_length=200)  # host:pid:token of the run holding it
    expires = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.mirror} held by {self.holder} until {self.expires:%Y-%m-%d %H:%M:%S}"


class MirrorRun(models.Model):
    """One distributed collectmirror or verifymirror: its options, and the coordinator's last sign of life."""

    class Kind(models.TextChoices):
        COLLECT = "collect"
        VERIFY = "verify"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    mirror = models.CharField(max_length=1024)
    options = models.JSONField()  # what every shard runs with: engine.Options as a dict, and the source names
    started = models.DateTimeField(auto_now_add=True)
    heartbeat = models.DateTimeField()  # renewed by the coordinator: a run not renewed is abandoned

    def __str__(self) -> str:
        return f"{self.kind} of {self.mirror} ({self.id})"


class Shard(models.Model):
    """One part of a run's sources (scope.Part), leased to one worker at a time."""

    class State(models.TextChoices):
        PENDING = "pending"  # waiting for a worker (enqueued or not yet)
        LEASED = "leased"  # a worker holds it until lease_expires
        DONE = "done"
        FAILED = "failed"  # the run as a whole failed in it, or it was tried too often

    run = models.ForeignKey(MirrorRun, on_delete=models.CASCADE, related_name="shards")
    source = models.CharField(max_length=200)
    rel = models.TextField(blank=True)  # the part's directory, relative to the source's root
    excluded = models.JSONField(default=list)  # its subdirectories other shards reconcile
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    enqueued = models.DateTimeField(null=True, blank=True)  # when its latest task was enqueued
    task = models.CharField(max_length=200, blank=True)  # that task's result id, where the backend keeps results
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)  # host:pid of the attempt holding it
    lease_expires = models.DateTimeField(null=True, blank=True)
    started = models.DateTimeField(null=True, blank=True)  # when its latest attempt began
    checked = models.PositiveBigIntegerField(default=0)  # entries done by the latest attempt, for progress
    result = models.JSONField(null=True, blank=True)  # the Report's or Verification's document
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["run", "state"])]

    def __str__(self) -> str:
        return f"{self.source}:{self.rel or '/'} ({self.state})"


class ShardEvent(models.Model):
    """One event of a shard's attempt, or a change it planned and had not confirmed when it stopped."""

    shard = models.ForeignKey(Shard, on_delete=models.CASCADE, related_name="events")
    attempt = models.PositiveIntegerField()
    planned = models.BooleanField(default=False)  # recorded before the change was carried out
    action = models.CharField(max_length=16)  # an Outcome, or for a planned row the plan's Action
    source = models.CharField(max_length=200)
    name = models.BinaryField()  # the mirror name's bytes: names need not be UTF-8
    reason = models.TextField(blank=True)
    made = models.CharField(max_length=16, blank=True)
    verdict = models.CharField(max_length=32, blank=True)
    step = models.BinaryField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["shard", "attempt", "planned"])]

    def __str__(self) -> str:
        return f"{self.action} {bytes(self.name).decode(errors='replace')}"
