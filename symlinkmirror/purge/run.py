"""purge_urls() and resume(): send URLs through every configured backend. Plain Python, no management imports."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .. import conf
from .base import Batch, Kind, PurgeBackend, PurgeFailed, unique
from .report import PurgeAction, PurgeEvent, PurgeReport
from .retry import send
from .state import PendingBatches, PurgeError, state_dir

OnEvent = Callable[[PurgeEvent], None]


def new_run_id() -> str:
    """A run id no other run has: the UTC time and a random suffix, like '20250102T030405Z-1a2b3c'."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def configured_backends(aliases: Sequence[str] | None = None) -> dict[str, PurgeBackend]:
    """The backends of SYMLINKMIRROR_PURGE (only those aliases, when given), created like STORAGES' entries.

    Raises PurgeError naming the alias and the option at fault.
    """
    specs = conf.get("PURGE")
    if not isinstance(specs, dict):
        raise PurgeError("SYMLINKMIRROR_PURGE must be a dict of {alias: {'BACKEND': path, 'OPTIONS': {...}}}.")
    if aliases:
        unknown = [alias for alias in aliases if alias not in specs]
        if unknown:
            configured = ", ".join(repr(alias) for alias in specs) or "none"
            raise PurgeError(f"SYMLINKMIRROR_PURGE has no backend {unknown[0]!r} (configured: {configured}).")
        specs = {alias: specs[alias] for alias in unique(aliases)}
    return {str(alias): create_backend(str(alias), spec) for alias, spec in specs.items()}


def create_backend(alias: str, spec: Any) -> PurgeBackend:
    where = f"SYMLINKMIRROR_PURGE[{alias!r}]"
    if not isinstance(spec, dict) or not isinstance(spec.get("BACKEND"), str):
        raise PurgeError(f"{where} must be a dict with a 'BACKEND' path, like 'symlinkmirror.purge.VarnishBackend'.")
    options = spec.get("OPTIONS", {})
    if not isinstance(options, dict):
        raise PurgeError(f"{where}['OPTIONS'] must be a dict of keyword arguments.")
    try:
        cls = import_string(spec["BACKEND"])
    except ImportError as exc:
        raise PurgeError(f"{where}['BACKEND'] cannot be imported: {exc}.") from exc
    if not (isinstance(cls, type) and issubclass(cls, PurgeBackend)):
        raise PurgeError(
            f"{where}['BACKEND'] {spec['BACKEND']!r} is not a subclass of symlinkmirror.purge.PurgeBackend."
        )
    try:
        backend = cls(**options)
    except ImproperlyConfigured as exc:
        raise PurgeError(f"{where}: {exc}") from exc
    except (TypeError, ValueError) as exc:  # an unknown or missing keyword, or a value the class cannot parse
        raise PurgeError(f"{where}['OPTIONS'] do not fit {cls.__name__}: {exc}.") from exc
    backend.alias = alias
    return backend


def purge_urls(
    urls: Iterable[str],
    *,
    run_id: str | None = None,
    prefixes: Iterable[str] = (),
    dry_run: bool = False,
    on_event: OnEvent | None = None,
    backends: dict[str, PurgeBackend] | None = None,
) -> PurgeReport:
    """Purge urls (and prefixes) through every configured backend, or those given; the run's report.

    Call it after the last entry is published, never before: the CDN would
    fetch the old bytes again. Each backend batches to its provider's limits
    and retries throttling and server errors. A batch that still fails is
    reported (event FAILED), kept in SYMLINKMIRROR_STATE_DIR for resume() and
    listed in report.failed; the run goes on. Raises PurgeError, before any
    request, when the configuration or an item cannot be used.
    """
    started = time.monotonic()
    run_id = run_id or new_run_id()
    backends = configured_backends() if backends is None else backends
    folder = state_dir()
    urls = unique(url.strip() for url in urls if url.strip())
    prefixes = unique(prefix.strip() for prefix in prefixes)
    if "" in prefixes:
        # Made absolute, an empty prefix is the site's root: everything, on a
        # busy site all at once from the origin. Likelier an unset variable.
        raise PurgeError("An empty prefix would purge every URL: pass '/' to mean that.")
    planned = [
        plan(backend, run_id, Kind.URL, urls) + plan(backend, run_id, Kind.PREFIX, prefixes)
        for backend in backends.values()
    ]
    report = PurgeReport(dry_run=dry_run, backends=list(backends))
    pending = PendingBatches(folder) if folder is not None and not dry_run else None
    if pending is not None:
        # Every batch is kept before the first request and forgotten once purged:
        # a run killed outright (SIGTERM and SIGKILL run no finally, nor does a
        # reboot) leaves what it had not purged for resume(), as a failure does.
        pending.add(batch for batches in planned for batch in batches)
    try:
        for backend, batches in zip(backends.values(), planned, strict=True):
            carry_out(backend, batches, dry_run=dry_run, report=report, on_event=on_event, pending=pending)
    finally:
        for backend in backends.values():
            backend.close()
    report.duration = time.monotonic() - started
    return report


def resume(
    *,
    dry_run: bool = False,
    on_event: OnEvent | None = None,
    backends: dict[str, PurgeBackend] | None = None,
) -> PurgeReport:
    """Send again the batches earlier runs left failed, exactly as they were (same run id, items and key).

    A batch that succeeds leaves the state folder; one that fails again stays.
    Batches of backends not given (or no longer configured) are left alone.
    """
    started = time.monotonic()
    folder = state_dir()
    if folder is None:
        raise PurgeError("Nothing to resume from: set SYMLINKMIRROR_STATE_DIR, where failed batches are kept.")
    backends = configured_backends() if backends is None else backends
    pending = PendingBatches(folder)
    kept = [batch for batch in pending.load() if batch.backend in backends]
    report = PurgeReport(dry_run=dry_run, backends=list(backends))
    try:
        for alias, backend in backends.items():
            carry_out(
                backend,
                [batch for batch in kept if batch.backend == alias],
                dry_run=dry_run,
                report=report,
                on_event=on_event,
                pending=None if dry_run else pending,
            )
    finally:
        for backend in backends.values():
            backend.close()
    report.duration = time.monotonic() - started
    return report


def plan(backend: PurgeBackend, run_id: str, kind: Kind, items: Sequence[str]) -> list[Batch]:
    """items in backend's form, in batches within its limits; PurgeError when one cannot be purged there."""
    if not items:
        return []
    if kind == Kind.PREFIX and not backend.supports_prefixes:
        raise PurgeError(
            f"The backend {backend.alias!r} ({type(backend).__name__}) cannot purge by prefix: "
            "leave it out with --backend, or purge its URLs."
        )
    prepared = []
    for item in items:
        try:
            prepared.append(backend.prepare(item, kind))
        except ValueError as exc:
            raise PurgeError(f"The backend {backend.alias!r} cannot purge {item!r}: {exc}.") from exc
    groups = backend.group(unique(prepared), kind)
    return [Batch(backend.alias, run_id, index, len(groups), kind, group) for index, group in enumerate(groups, 1)]


def carry_out(
    backend: PurgeBackend,
    batches: list[Batch],
    *,
    dry_run: bool,
    report: PurgeReport,
    on_event: OnEvent | None,
    pending: PendingBatches | None = None,
) -> None:
    """Send batches through backend, reporting each; a purged batch leaves pending (the state folder) at once."""

    def emit(event: PurgeEvent) -> None:
        report.add(event)
        if on_event is not None:
            on_event(event)

    for batch in batches:
        billed = backend.billed_paths(batch)
        if dry_run:
            emit(PurgeEvent(PurgeAction.PLANNED, batch, billed=billed))
            continue

        def retrying(attempt: int, delay: float, exc: PurgeFailed, batch: Batch = batch) -> None:
            event = PurgeEvent(
                PurgeAction.RETRYING,
                batch,
                reason=str(exc),
                attempt=attempt,
                delay=delay,
                max_attempts=backend.max_attempts,
            )
            if on_event is not None:
                on_event(event)

        try:
            send(backend, batch, on_retry=retrying)
        except PurgeFailed as exc:
            emit(PurgeEvent(PurgeAction.FAILED, batch, reason=str(exc)))
        except Exception as exc:  # a subclass's bug or an SDK's surprise fails this batch, not the run
            emit(PurgeEvent(PurgeAction.FAILED, batch, reason=f"{type(exc).__name__}: {exc}"))
        else:
            if pending is not None:
                pending.remove([batch])
            emit(PurgeEvent(PurgeAction.PURGED, batch, billed=billed))


# collectmirror's FileEvent actions for a name that now serves other bytes, or none.
REPLACED_ACTIONS = frozenset({"replaced", "deleted"})
CREATED_ACTIONS = frozenset({"linked", "copied"})


def should_purge(action: str) -> bool:
    """Whether a mirror entry's URL is due a purge after this action.

    A replaced or deleted entry always is. A new name only with
    SYMLINKMIRROR_PURGE_CREATED = True, for CDNs that cache a 404.
    """
    if action in REPLACED_ACTIONS:
        return True
    return action in CREATED_ACTIONS and bool(conf.get("PURGE_CREATED"))
