"""Settings for the test and demo project; every value can come from the environment."""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env(DEBUG=(bool, False))
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env("DEBUG")
SECRET_KEY = env.str("SECRET_KEY", default="testproject-insecure")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: its collectstatic skips the unmodified links SymlinkOrCopyStorage makes.
    "symlinkmirror",
    "django.contrib.staticfiles",
    "testproject",
]

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "/media/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "static"))
STATIC_URL = "/static/"
STATICFILES_DIRS = env.list("STATICFILES_DIRS", default=[str(BASE_DIR / "testproject" / "static")])

# The mirror an origin-pull CDN serves: its root is the CDN origin's document
# root, so media/ and static/ inside it keep their URL paths.
SYMLINKMIRROR_ROOT = env.str("SYMLINKMIRROR_ROOT", default=str(VAR_DIR / "mirror"))
SYMLINKMIRROR_SYMLINK_WITHIN = env.str("SYMLINKMIRROR_SYMLINK_WITHIN", default=None)
SYMLINKMIRROR_LINK_STYLE = env.str("SYMLINKMIRROR_LINK_STYLE", default="absolute")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "mirror": {
        "BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage",
        "OPTIONS": {"location": SYMLINKMIRROR_ROOT, "base_url": "/"},
    },
}
