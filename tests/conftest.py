from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

# Fixtures that need more than a user's machine gives, and the markers that say so,
# so a contributor can deselect them (-m "not root"); CI runs them all.
MARKERS_BY_FIXTURE = {
    "fat": ("root", "fuse"),
    "small_mount": ("root",),
    "origin": ("nginx",),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        for fixture, markers in MARKERS_BY_FIXTURE.items():
            if fixture in fixtures:
                for marker in markers:
                    item.add_marker(marker)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory) -> None:
    """The SQLite test database in a file, not in memory: a db_worker subprocess must open it too (test_live)."""
    from django.conf import settings

    default = settings.DATABASES["default"]
    if default["ENGINE"] == "django.db.backends.sqlite3" and not default.get("TEST", {}).get("NAME"):
        default.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("database") / "test.sqlite3")


@pytest.fixture
def media(tmp_path) -> Path:
    """An empty folder of originals, tmp_path/media."""
    media = tmp_path / "media"
    media.mkdir()
    return media


@dataclass
class MirrorSetup:
    """The folders of a project whose media, static files and mirror live in tmp_path."""

    media: Path
    static: Path
    mirror: Path


@pytest.fixture
def mirror_in_tmp_path(settings, tmp_path) -> MirrorSetup:
    """Point MEDIA_ROOT, STATIC_ROOT and STORAGES['mirror'] at fresh folders under tmp_path."""
    setup = MirrorSetup(media=tmp_path / "media", static=tmp_path / "static", mirror=tmp_path / "mirror")
    setup.media.mkdir()
    setup.static.mkdir()
    settings.MEDIA_ROOT = str(setup.media)
    settings.STATIC_ROOT = str(setup.static)
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = None
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "mirror": {
            "BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage",
            "OPTIONS": {"location": str(setup.mirror), "base_url": "/"},
        },
    }
    return setup


def manage_env(**overrides: object) -> dict[str, str]:
    """The environment for manage.py in a subprocess: tests.settings with these settings overridden.

    Values go through SYMLINKMIRROR_TEST_SETTINGS as JSON (paths as strings),
    never through testproject's environment variables or .env.
    """
    values = {name: os.fspath(value) if isinstance(value, os.PathLike) else value for name, value in overrides.items()}
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "SYMLINKMIRROR_TEST_SETTINGS": json.dumps(values),
    }


def sqlite_database(path: Path) -> dict[str, dict[str, str]]:
    return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}}


SBIN_PATH = f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin{os.pathsep}/sbin"


def run(*command: str | Path) -> subprocess.CompletedProcess:
    args = [str(part) for part in command]
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PATH": SBIN_PATH})
    assert result.returncode == 0, f"'{' '.join(args)}' failed: {result.stderr.strip()}"
    return result


@pytest.fixture
def fat(tmp_path):
    """A real FAT filesystem made by mkfs.vfat, which cannot hold symlinks."""
    image = tmp_path / "fat.img"
    mountpoint = tmp_path / "fat"
    mountpoint.mkdir()
    run("mkfs.vfat", "-C", image, "4096")
    kernel = subprocess.run(
        ["mount", "-o", "loop", "-t", "vfat", str(image), str(mountpoint)],
        capture_output=True,
        env={**os.environ, "PATH": SBIN_PATH},
    )
    if kernel.returncode == 0:
        unmount = ("umount", mountpoint)
    else:
        # Some kernels (containers, minimal VMs) ship without the vfat driver:
        # mount the same image through FUSE instead; it still refuses symlinks.
        run("fusefat", "-o", "rw+", image, mountpoint)
        unmount = ("fusermount", "-u", mountpoint)
    yield mountpoint
    run(*unmount)
