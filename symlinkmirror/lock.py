"""One run per mirror: an advisory flock on the mirror root's lock file."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress

LOCK_NAME = ".symlinkmirror.lock"
LOCKED_EXIT_CODE = 75  # EX_TEMPFAIL: another run holds the mirror; try again later


class MirrorError(Exception):
    """A problem with the whole run (configuration, lock), not one file."""


class MirrorLocked(MirrorError):
    pass


# The leases this process holds (SYMLINKMIRROR_LOCK = "database"): each set once it was lost.
_leases_lost: list[threading.Event] = []


def check_held() -> None:
    """MirrorLocked if a lease this process holds expired unrenewed: another run may hold the mirror now."""
    if any(lost.is_set() for lost in _leases_lost):
        raise MirrorLocked(
            "This run's database lease on the mirror expired before it could renew it (SYMLINKMIRROR_LEASE_SECONDS): "
            "another run may hold the mirror now, so this one stops."
        )


@contextmanager
def watched_lease(lost: threading.Event) -> Iterator[None]:
    _leases_lost.append(lost)
    try:
        yield
    finally:
        _leases_lost.remove(lost)


def run_lock(mirror_root: str) -> AbstractContextManager[None]:
    """The lock SYMLINKMIRROR_LOCK chooses: "file" (flock, one host) or "database" (a lease row, every host)."""
    from . import conf

    kind = conf.get("LOCK")
    if kind == "file":
        return mirror_lock(mirror_root)
    if kind == "database":
        from .leases import database_lock

        return database_lock(mirror_root)
    raise MirrorError(f"SYMLINKMIRROR_LOCK must be 'file' or 'database', not {kind!r}.")


@contextmanager
def mirror_lock(mirror_root: str) -> Iterator[None]:
    """One writer per mirror: an advisory lock that dies with its process."""
    path = os.path.join(mirror_root, LOCK_NAME)
    fd = _open_lock(mirror_root, path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            holder = f"a run in progress (pid {pid})" if pid.isdigit() else "another process"
            raise MirrorLocked(f"The mirror '{mirror_root}' is locked by {holder}; try again when it ends.") from None
        os.ftruncate(fd, 0)
        # The pid only names the holder in the message above; a full disk must
        # not stop the run, which then reports each entry it cannot write.
        with suppress(OSError):
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def _open_lock(mirror_root: str, path: str) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        os.makedirs(mirror_root, exist_ok=True)
        # O_NOFOLLOW: a symlink planted at the lock's name must not make the
        # run truncate and write whatever file it points to.
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            # The mirror is hostile ground: the planted link is removed (never
            # followed), and the lock made anew where nothing else may stand.
            os.unlink(path)
            fd = os.open(path, flags | os.O_EXCL, 0o644)
    except OSError as exc:
        reason = "it is a symlink; remove it" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise MirrorError(f"Cannot lock the mirror '{mirror_root}' with '{path}': {reason}.") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise MirrorError(f"Cannot lock the mirror '{mirror_root}' with '{path}': it is not a regular file; remove it.")
    return fd
