"""Django's Tasks framework, imported here only: django.tasks on Django 6, the django-tasks backport on 5.2.

Nothing else in the app names either package, and nothing imports this module
until a feature that uses tasks runs (a distributed run, live mirroring).
"""

from __future__ import annotations

import importlib
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from . import conf

INSTALL_HINT = (
    "Django's Tasks framework is not installed: use Django 6, or on Django 5.2 install the django-tasks backport "
    "(pip install 'symlinkmirror[tasks]', which brings django-tasks-db's database backend too)."
)


def _framework() -> Any:
    for name in ("django.tasks", "django_tasks"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImproperlyConfigured(INSTALL_HINT)


tasks = _framework()
task = tasks.task
task_backends = tasks.task_backends
TaskResultStatus = tasks.TaskResultStatus
DummyBackend = importlib.import_module(f"{tasks.__name__}.backends.dummy").DummyBackend
ImmediateBackend = importlib.import_module(f"{tasks.__name__}.backends.immediate").ImmediateBackend


def backend_alias() -> str:
    """SYMLINKMIRROR_TASK_BACKEND: the alias of TASKS that carries the app's tasks."""
    alias = conf.get("TASK_BACKEND")
    if not isinstance(alias, str) or not alias:
        raise ImproperlyConfigured(f"SYMLINKMIRROR_TASK_BACKEND must be an alias of TASKS, not {alias!r}.")
    return alias


def backend() -> Any:
    """The backend named by SYMLINKMIRROR_TASK_BACKEND; ImproperlyConfigured naming the setting if TASKS lacks it."""
    alias = backend_alias()
    try:
        return task_backends[alias]
    except Exception as exc:  # InvalidTaskBackend(Error): the two packages name it differently
        raise ImproperlyConfigured(
            f"SYMLINKMIRROR_TASK_BACKEND is {alias!r}, which TASKS does not configure: {exc}"
        ) from exc


def runs_elsewhere(selected: Any) -> bool:
    """Whether tasks enqueued on the backend run in worker processes (not at once, here, nor never)."""
    return not isinstance(selected, ImmediateBackend | DummyBackend)
