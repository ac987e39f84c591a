"""testproject's settings with their embedded defaults: no environment, no .env.

testproject.settings lets the environment override these for the demo;
tests.settings uses them as they are, so a developer's .env never reaches the tests.
"""

from __future__ import annotations

from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = False
SECRET_KEY = "testproject-insecure"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: its collectstatic skips the unmodified links SymlinkOrCopyStorage makes.
    "symlinkmirror",
    "django.contrib.staticfiles",
    # Django's Tasks framework (the django-tasks backport before Django 6) and its database backend:
    # distributed runs' shards and live mirroring's tasks.
    *(["django_tasks"] if django.VERSION < (6, 0) else []),
    "django_tasks_db",
    "testproject",
]

_TASKS_PACKAGE = "django_tasks" if django.VERSION < (6, 0) else "django.tasks"
# "default" runs each task at once, in the process that enqueues it: the demo needs no worker.
# "database" is django-tasks-db's queue, which `manage.py db_worker` processes on any host.
TASKS = {
    "default": {"BACKEND": f"{_TASKS_PACKAGE}.backends.immediate.ImmediateBackend"},
    "database": {"BACKEND": "django_tasks_db.DatabaseBackend"},
}
SYMLINKMIRROR_TASK_BACKEND = "default"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "testproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "db.sqlite3")}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

MEDIA_ROOT = str(VAR_DIR / "media")
MEDIA_URL = "/media/"
STATIC_ROOT = str(VAR_DIR / "static")
STATIC_URL = "/static/"
# testproject/static is found as the testproject app's own static folder
# (AppDirectoriesFinder): listing it here too would find every file twice.
STATICFILES_DIRS: list[str] = []

# The mirror an origin-pull CDN serves: its root is the CDN origin's document
# root, so media/ and static/ inside it keep their URL paths.
SYMLINKMIRROR_ROOT = str(VAR_DIR / "mirror")
SYMLINKMIRROR_SYMLINK_WITHIN = None  # MEDIA_ROOT and STATIC_ROOT
SYMLINKMIRROR_LINK_STYLE = "absolute"


def storages(mirror_root: str) -> dict[str, dict[str, object]]:
    """STORAGES with the mirror at mirror_root."""
    return {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "mirror": {
            "BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage",
            "OPTIONS": {"location": mirror_root, "base_url": "/"},
        },
    }


STORAGES = storages(SYMLINKMIRROR_ROOT)
