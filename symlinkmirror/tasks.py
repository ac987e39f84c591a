"""The app's tasks, for Django's Tasks framework: import this module only where tasks are used.

A worker (`manage.py db_worker`, or any backend's) imports it by the task's
module path; the backend each task is enqueued on is SYMLINKMIRROR_TASK_BACKEND.
"""

from __future__ import annotations

from .taskapi import task


@task()  # type: ignore[untyped-decorator]  # taskapi picks the framework at run time
def run_shard(shard_id: int) -> str:
    """One shard of a distributed collectmirror or verifymirror (shardrun.py)."""
    from . import shardrun

    return shardrun.run(shard_id)
