"""The task live mirroring enqueues: a worker on any host imports it by this module's path."""

from __future__ import annotations

from . import live, taskapi


@taskapi.task()  # type: ignore[untyped-decorator]
def mirror_names(source: str, directory: str, names: list[str]) -> dict[str, int]:
    """Reconcile these names of one directory of a source; the run's totals (JSON, for the task's result)."""
    # A worker waits for a run that holds the mirror; a task run at once, in the request that saved, never does.
    wait = live.LOCK_WAIT if taskapi.runs_elsewhere(taskapi.backend()) else 0.0
    return live.mirror(source, directory, names, wait=wait)
