"""Settings for the demo project: testproject.defaults, each value overridable from the environment or .env."""

from __future__ import annotations

import environ

from testproject.defaults import *  # noqa: F403
from testproject.defaults import BASE_DIR, VAR_DIR, storages

env = environ.Env(DEBUG=(bool, False))
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env("DEBUG")
SECRET_KEY = env.str("SECRET_KEY", default="testproject-insecure")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}

MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "static"))
STATICFILES_DIRS = env.list("STATICFILES_DIRS", default=[])

SYMLINKMIRROR_ROOT = env.str("SYMLINKMIRROR_ROOT", default=str(VAR_DIR / "mirror"))
SYMLINKMIRROR_SYMLINK_WITHIN = env.str("SYMLINKMIRROR_SYMLINK_WITHIN", default=None)
SYMLINKMIRROR_LINK_STYLE = env.str("SYMLINKMIRROR_LINK_STYLE", default="absolute")
SYMLINKMIRROR_TASK_BACKEND = env.str("SYMLINKMIRROR_TASK_BACKEND", default="default")
SYMLINKMIRROR_LOCK = env.str("SYMLINKMIRROR_LOCK", default="file")

# 2 or more: media and static are published as generations, that many kept (README, "Generations").
SYMLINKMIRROR_GENERATIONS = env.int("SYMLINKMIRROR_GENERATIONS", default=0)
if SYMLINKMIRROR_GENERATIONS:
    SYMLINKMIRROR_SOURCES = {
        name: {"storage": alias, "prefix": name, "generations": SYMLINKMIRROR_GENERATIONS}
        for name, alias in (("media", "default"), ("static", "staticfiles"))
    }

STORAGES = storages(SYMLINKMIRROR_ROOT)
