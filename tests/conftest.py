from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


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
