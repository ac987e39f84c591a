"""Live mirroring: names saved or deleted through a source's storage are mirrored once their transaction commits.

Two ways in, both on with SYMLINKMIRROR_LIVE: model signals for every FileField
(the site's storages unchanged), and LiveStorageMixin for code that calls a
storage itself. Either way the names go, after the commit, to the task
livetasks.mirror_names on SYMLINKMIRROR_TASK_BACKEND, which reconciles exactly
those names through the plan. This module imports the Tasks framework only when
it enqueues, so the app works without it while SYMLINKMIRROR_LIVE is off.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.core.files.storage import FileSystemStorage, Storage
from django.db import DEFAULT_DB_ALIAS, models, transaction
from django.db.models.signals import post_delete, post_init, post_save, pre_save
from django.utils.deconstruct import deconstructible
from django.utils.functional import LazyObject, empty

from . import conf

logger = logging.getLogger(__name__)

DISPATCH_UID = "symlinkmirror.live"
# A worker waits this long for a run that holds the mirror; a task run at once (in the request) never waits.
LOCK_WAIT = 30.0
_NAMES = "_symlinkmirror_names"  # instance attribute: the FileFields' names as loaded or last saved
_PENDING = "_symlinkmirror_pending"  # instance attribute: names pre_save found, for post_save
Targets = dict[tuple[str, str], set[str]]  # (source, directory) -> names in it


def enabled() -> bool:
    return bool(conf.get("LIVE"))


def mirror_on_commit(changes: Iterable[tuple[Storage, str]], using: str | None = None) -> None:
    """Mirror these (storage, name) pairs once the transaction on `using` commits (at once outside one).

    Names no configured source holds are left out. robust: the save has
    committed whatever happens here; a failure to enqueue is logged, and the
    next reconcile mirrors the names.
    """
    if not enabled():
        return
    targets: Targets = {}
    for storage, name in changes:
        located = locate(storage, name)
        if located is not None:
            source, directory, base = located
            targets.setdefault((source, directory), set()).add(base)
    if targets:
        transaction.on_commit(partial(enqueue, targets), using=using or DEFAULT_DB_ALIAS, robust=True)


def enqueue(targets: Targets) -> None:
    """One task per directory, on SYMLINKMIRROR_TASK_BACKEND."""
    from . import taskapi
    from .livetasks import mirror_names

    task = mirror_names.using(backend=taskapi.backend_alias())
    for (source, directory), names in targets.items():
        task.enqueue(source, directory, sorted(names))


def locate(storage: Storage, name: str) -> tuple[str, str, str] | None:
    """(source, directory, base name) of a name of storage, or None if no configured source holds it.

    A source's own storage (STORAGES[alias]) is recognised as itself; any other
    storage with local files by where the name's directory really lies.
    """
    from .engine import MirrorError, configured_sources

    name = str(name or "").replace(os.sep, "/").strip("/")
    if not name:
        return None
    storage = unwrap(storage)
    try:
        sources = configured_sources()
    except MirrorError:
        return None
    relative = None
    for source in sources:
        if unwrap(source.storage) is storage:
            relative = (source.name, name)
            break
    if relative is None:
        try:
            path = storage.path(name)
        except NotImplementedError:
            return None
        # The directory resolved, never the file: a source file may itself be a symlink.
        real = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
        for source in sources:
            root = source.local_root
            if root is None:
                continue
            root = os.path.realpath(root)
            if os.path.commonpath([root, real]) == root and real != root:
                relative = (source.name, os.path.relpath(real, root).replace(os.sep, "/"))
                break
    if relative is None:
        return None
    source_name, rel = relative
    directory, _, base = rel.rpartition("/")
    if base in ("", ".", ".."):
        return None
    return source_name, directory, base


def unwrap(storage: Any) -> Any:
    """The storage behind default_storage (a LazyObject), or storage itself."""
    if isinstance(storage, LazyObject):
        if storage._wrapped is empty:
            storage._setup()
        return storage._wrapped
    return storage


def nearest_directory(root: str | None, directory: str, names: list[str]) -> tuple[str, list[str]]:
    """Where to reconcile names of directory: there, or if it is gone too, the name of its first missing part.

    A view that deletes a file and then its emptied folder leaves no directory to
    list: the deepest one that still stands reconciles the gone one's name, so its
    mirror entries leave with it.
    """
    if root is None:
        return directory, names
    real_root = os.path.realpath(root)
    while directory:
        path = os.path.join(real_root, directory)
        if os.path.realpath(path) == path and os.path.isdir(path):
            break
        directory, _, base = directory.rpartition("/")
        names = [base]
    return directory, names


def mirror(source: str, directory: str, names: list[str], *, wait: float = 0.0) -> dict[str, int]:
    """Reconcile exactly these names of one directory (with delete: a name the source lost leaves the mirror).

    A source that keeps generations is run whole, as its next generation. Another
    run holding the mirror is waited for up to `wait` seconds, then MirrorLocked.
    """
    from .engine import MirrorLocked, Options, Part, Scope, collect, configured_sources, mirror_storage

    sources = configured_sources([source])
    prefixes = tuple(spec["prefix"] for spec in conf.sources().values())
    options = Options(delete=True, keep_prefixes=prefixes, list_unmodified=False)
    directory, names = nearest_directory(sources[0].local_root, directory, names)
    scope = None if sources[0].generations else Scope((Part(source, directory, names=frozenset(names)),))
    deadline = time.monotonic() + wait
    while True:
        try:
            report = collect(sources, mirror_storage(), options, scope=scope)
            break
        except MirrorLocked:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
    totals = {str(action): count for action, count in report.totals.items() if count}
    logger.info("Mirrored %s in '%s' of the source '%s': %s", sorted(names), directory, source, report.summary())
    return totals


class LiveStorageMixin(Storage):
    """Mix into a storage class: its save() and delete() mirror exactly those names once the transaction commits."""

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        saved = super().save(name, content, max_length=max_length)
        mirror_on_commit([(self, saved)])
        return saved

    def delete(self, name: str) -> None:
        super().delete(name)
        mirror_on_commit([(self, name)])


@deconstructible(path="symlinkmirror.live.LiveFileSystemStorage")
class LiveFileSystemStorage(LiveStorageMixin, FileSystemStorage):
    """FileSystemStorage whose saves and deletions reach the mirror seconds later: a ready STORAGES BACKEND."""


# Model signals: every FileField whose storage is a source's (and not already a LiveStorageMixin).

_fields: dict[type[models.Model], list[models.FileField]] = {}


def _file_fields(model: type[models.Model]) -> list[models.FileField]:
    fields = _fields.get(model)
    if fields is None:
        fields = _fields[model] = [f for f in model._meta.concrete_fields if isinstance(f, models.FileField)]
    return fields


def _name(value: Any) -> str:
    return str(getattr(value, "name", value) or "")


def _watched(field: models.FileField) -> bool:
    return not isinstance(unwrap(field.storage), LiveStorageMixin)


def remember(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """post_init: the names as loaded (deferred fields are read in pre_save, if it comes)."""
    fields = _file_fields(sender)
    if fields:
        loaded = instance.__dict__
        instance.__dict__[_NAMES] = {f.attname: _name(loaded[f.attname]) for f in fields if f.attname in loaded}


def before_save(sender: type[models.Model], instance: models.Model, raw: bool, using: str, **kwargs: Any) -> None:
    """pre_save: the names before this save, and which fields hold a file about to be written."""
    fields = [field for field in _file_fields(sender) if _watched(field)]
    if raw or not fields:
        return
    known = instance.__dict__.get(_NAMES, {})
    unknown = [f.attname for f in fields if f.attname not in known]
    if unknown and not instance._state.adding and instance.pk is not None:
        row = sender._base_manager.using(using).filter(pk=instance.pk).values(*unknown).first() or {}
        known = {**known, **{attname: _name(row.get(attname)) for attname in unknown}}
    uploading = {f.attname for f in fields if not getattr(getattr(instance, f.attname), "_committed", True)}
    instance.__dict__[_PENDING] = (known, uploading)


def saved(sender: type[models.Model], instance: models.Model, raw: bool, using: str, **kwargs: Any) -> None:
    """post_save: a new or replaced file's name, and the name it replaced."""
    pending = instance.__dict__.pop(_PENDING, None)
    if raw or pending is None:
        return
    known, uploading = pending
    changes: list[tuple[Storage, str]] = []
    now = {}
    for field in _file_fields(sender):
        new = now[field.attname] = _name(getattr(instance, field.attname))
        if not _watched(field):
            continue
        old = known.get(field.attname, "")
        if new and (new != old or field.attname in uploading):
            changes.append((field.storage, new))
        if old and old != new:
            changes.append((field.storage, old))
    instance.__dict__[_NAMES] = now
    mirror_on_commit(changes, using=using)


def deleted(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    """post_delete: the names the row held (mirrored as the source has them once the transaction commits)."""
    changes = [
        (field.storage, _name(getattr(instance, field.attname)))
        for field in _file_fields(sender)
        if _watched(field) and _name(getattr(instance, field.attname))
    ]
    mirror_on_commit(changes, using=using)


_RECEIVERS = ((post_init, remember), (pre_save, before_save), (post_save, saved), (post_delete, deleted))


def connect_signals() -> None:
    """Connect the model signals while SYMLINKMIRROR_LIVE is on, disconnect them while it is off."""
    for signal, receiver in _RECEIVERS:
        if enabled():
            signal.connect(receiver, dispatch_uid=f"{DISPATCH_UID}.{receiver.__name__}")
        else:
            signal.disconnect(receiver, dispatch_uid=f"{DISPATCH_UID}.{receiver.__name__}")


def setting_changed(setting: str, **kwargs: Any) -> None:
    if setting == conf.PREFIX + "LIVE":
        connect_signals()


def check_tasks_framework(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """E030: SYMLINKMIRROR_LIVE is on, but Django's Tasks framework cannot be imported."""
    from django.core import checks
    from django.core.exceptions import ImproperlyConfigured

    if not enabled():
        return []
    try:
        from . import taskapi  # noqa: F401
    except ImproperlyConfigured as exc:
        return [checks.Error(f"SYMLINKMIRROR_LIVE is on: {exc}", id="symlinkmirror.E030")]
    return []


def check_task_backend(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """E031: SYMLINKMIRROR_LIVE is on, but SYMLINKMIRROR_TASK_BACKEND names no backend of TASKS."""
    from django.core import checks
    from django.core.exceptions import ImproperlyConfigured

    if not enabled():
        return []
    try:
        from . import taskapi

        taskapi.backend()
    except ImproperlyConfigured as exc:
        if "Tasks framework is not installed" in str(exc):
            return []  # E030's
        hint = "Add that alias to TASKS, or set SYMLINKMIRROR_TASK_BACKEND to one of its aliases."
        return [checks.Error(f"SYMLINKMIRROR_LIVE is on: {exc}", hint=hint, id="symlinkmirror.E031")]
    return []


CHECKS = [check_tasks_framework, check_task_backend]
