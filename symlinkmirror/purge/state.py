"""The state folder (SYMLINKMIRROR_STATE_DIR): failed batches kept for `purgemirror --resume`."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import InvalidStorageError, storages

from .. import conf
from ..paths import is_within
from .base import Batch

PENDING_NAME = "purge-pending.json"
LOCK_NAME = ".purge.lock"


class PurgeError(Exception):
    """A problem with the whole purge run (configuration, state folder), not one batch."""


def state_dir() -> Path | None:
    """SYMLINKMIRROR_STATE_DIR resolved, or None when it is not set.

    Raises PurgeError when it lies inside the mirror: the mirror is published,
    and whoever may write there could forge the batches a resume sends.
    """
    value = conf.get("STATE_DIR")
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise PurgeError(f"SYMLINKMIRROR_STATE_DIR must be a folder's path, not {value!r}.")
    folder = os.path.realpath(os.path.abspath(os.fspath(value)))
    try:
        mirror = mirror_location()
    except (ImproperlyConfigured, InvalidStorageError, ImportError, TypeError) as exc:
        # purgemirror runs only the purge checks, so check_mirror's E004 has not stopped it.
        raise PurgeError(
            f"STORAGES[{conf.get('STORAGE')!r}] cannot be created, so SYMLINKMIRROR_STATE_DIR cannot be checked "
            f"to lie outside the mirror: {exc}."
        ) from exc
    if mirror is not None and is_within(folder, mirror):
        raise PurgeError(
            f"SYMLINKMIRROR_STATE_DIR '{folder}' lies inside the mirror location '{mirror}': "
            "set SYMLINKMIRROR_STATE_DIR to a folder outside the mirror, which is published."
        )
    return Path(folder)


def mirror_location() -> str | None:
    """The resolved location of the mirror storage, when it has one on this machine."""
    alias = conf.get("STORAGE")
    if alias not in settings.STORAGES:
        return None
    location = getattr(storages[alias], "location", None)
    return os.path.realpath(location) if location else None


class PendingBatches:
    """The failed batches kept in one JSON file, read and rewritten under an exclusive lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / PENDING_NAME

    def load(self) -> list[Batch]:
        with self._locked():
            return self._read()

    def add(self, batches: Iterable[Batch]) -> None:
        """Keep these batches too (a batch already kept is replaced, not doubled)."""
        new = list(batches)
        if not new:
            return
        with self._locked():
            keys = {batch.key for batch in new}
            self._write([batch for batch in self._read() if batch.key not in keys] + new)

    def remove(self, batches: Iterable[Batch]) -> None:
        keys = {batch.key for batch in batches}
        if not keys:
            return
        with self._locked():
            self._write([batch for batch in self._read() if batch.key not in keys])

    def _read(self) -> list[Batch]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return [Batch.from_dict(item) for item in data["batches"]]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PurgeError(f"Cannot read the failed batches in '{self.path}': {exc}.") from exc

    def _write(self, batches: list[Batch]) -> None:
        # A temporary file renamed over the old one: a crash leaves either list whole.
        try:
            handle, tmp = tempfile.mkstemp(prefix=".purge-pending-", dir=self.folder)
        except OSError as exc:
            raise PurgeError(f"Cannot write the failed batches to '{self.path}': {exc.strerror}.") from exc
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump({"version": 1, "batches": [batch.as_dict() for batch in batches]}, file, indent=1)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, self.path)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise PurgeError(f"Cannot write the failed batches to '{self.path}': {exc.strerror}.") from exc
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise PurgeError(f"Cannot use the state folder '{self.folder}': {exc.strerror}.") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
