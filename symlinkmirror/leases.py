"""Leases in the database: one run per mirror across hosts, and a shard per worker, renewed while work goes on.

flock() holds on one host (and not on every network filesystem); a lease row
holds wherever the database is shared. A holder that dies stops renewing, and
its lease expires after SYMLINKMIRROR_LEASE_SECONDS.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from . import conf
from .lock import MirrorLocked, watched_lease


def lease_seconds() -> float:
    """SYMLINKMIRROR_LEASE_SECONDS: how long a lease lasts unless renewed (renewed every third of it)."""
    value = conf.get("LEASE_SECONDS")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"SYMLINKMIRROR_LEASE_SECONDS must be a positive number of seconds, not {value!r}.")
    return float(value)


def expiry(seconds: float | None = None) -> datetime:
    return timezone.now() + timedelta(seconds=lease_seconds() if seconds is None else seconds)


def holder_name() -> str:
    """This process, as a lease names its holder: host and pid, and a token for the lease itself."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def database_lock(mirror_root: str) -> Iterator[None]:
    """Hold the mirror's lease row while the block runs; MirrorLocked at once if a live run holds it."""
    from .models import MirrorLease

    holder = holder_name()
    with transaction.atomic():
        try:
            with transaction.atomic():
                MirrorLease.objects.create(mirror=mirror_root, holder=holder, expires=expiry())
        except IntegrityError:
            taken = MirrorLease.objects.filter(mirror=mirror_root, expires__lt=timezone.now()).update(
                holder=holder, expires=expiry()
            )
            if not taken:
                current = MirrorLease.objects.filter(mirror=mirror_root).values_list("holder", "expires").first()
                who = f"{current[0]} until {current[1]:%H:%M:%S} UTC" if current else "another run"
                raise MirrorLocked(
                    f"The mirror '{mirror_root}' is locked by a run in progress ({who}, SYMLINKMIRROR_LOCK = "
                    "'database'); try again when it ends."
                ) from None

    def renew() -> bool:
        # Never an expired lease: another run may have taken it, or may take it at any moment.
        held = MirrorLease.objects.filter(mirror=mirror_root, holder=holder, expires__gte=timezone.now())
        return bool(held.update(expires=expiry()))

    lost = threading.Event()
    with renewing(renew, on_lost=lost.set), watched_lease(lost):
        try:
            yield
        finally:
            MirrorLease.objects.filter(mirror=mirror_root, holder=holder).delete()


@contextmanager
def renewing(renew: Callable[[], bool], on_lost: Callable[[], None] | None = None) -> Iterator[None]:
    """Call renew() every third of a lease in a thread while the block runs; on_lost() when it reports the lease gone."""
    stop = threading.Event()
    interval = lease_seconds() / 3

    def loop() -> None:
        try:
            while not stop.wait(interval):
                try:
                    held = renew()
                except Exception:  # a database hiccup: try again at the next beat, the lease has two more
                    connection.close()  # a broken connection is made anew at the next beat
                    continue
                if not held:
                    if on_lost is not None:
                        on_lost()
                    return
        finally:
            connection.close()  # the thread's own connection

    thread = threading.Thread(target=loop, name="symlinkmirror-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
