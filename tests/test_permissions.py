"""Who may read what the mirror publishes: a copy keeps its source's mode; save() keeps Django's rule."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.management import call_command

from symlinkmirror.storage import EntryKind, SymlinkOrCopyStorage


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def write(path: Path, data: bytes, permissions: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(permissions)
    return path


@pytest.fixture
def private_media(mirror_in_tmp_path):
    """Three media files: private to the owner, readable by the group, and public."""
    media = mirror_in_tmp_path.media
    write(media / "owner.txt", b"owner only", 0o600)
    write(media / "group.txt", b"group too", 0o640)
    write(media / "public.txt", b"everyone", 0o644)
    return mirror_in_tmp_path


def collect(*args: str) -> None:
    call_command("collectmirror", *args, stdout=io.StringIO(), stderr=io.StringIO())


def test_collectmirror_copies_keep_the_mode_of_their_source(private_media, settings):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = []  # copy everything

    collect()

    mirrored = private_media.mirror / "media"
    assert {name: mode(mirrored / name) for name in ("owner.txt", "group.txt", "public.txt")} == {
        "owner.txt": 0o600,
        "group.txt": 0o640,
        "public.txt": 0o644,
    }
    assert not (mirrored / "owner.txt").is_symlink()


def test_collectmirror_copies_are_no_more_permissive_than_file_permissions_mode(private_media, settings):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = []
    settings.STORAGES = {
        **settings.STORAGES,
        "mirror": {
            **settings.STORAGES["mirror"],
            "OPTIONS": {**settings.STORAGES["mirror"]["OPTIONS"], "file_permissions_mode": 0o604},
        },
    }

    collect()

    mirrored = private_media.mirror / "media"
    # The intersection of both: 0o640 & 0o604 is 0o600; 0o644 & 0o604 is 0o604.
    assert (mode(mirrored / "owner.txt"), mode(mirrored / "group.txt"), mode(mirrored / "public.txt")) == (
        0o600,
        0o600,
        0o604,
    )


def test_verifymirror_fix_restores_a_copy_with_the_source_mode(private_media, settings):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = []
    collect()
    (private_media.mirror / "media" / "owner.txt").unlink()

    out = io.StringIO()
    call_command("verifymirror", "--fix", stdout=out, stderr=io.StringIO())

    assert out.getvalue().splitlines()[:2] == ["Copying 'media/owner.txt'", "Fixed 1 of 1 finding."]
    assert (private_media.mirror / "media" / "owner.txt").read_bytes() == b"owner only"
    assert mode(private_media.mirror / "media" / "owner.txt") == 0o600


def test_a_setuid_source_is_copied_without_its_special_bits(private_media, settings):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = []
    settings.FILE_UPLOAD_PERMISSIONS = None  # no file_permissions_mode: the source's bits alone decide
    write(private_media.media / "tool.sh", b"#!/bin/sh\n", 0o4755)

    collect()

    assert mode(private_media.mirror / "media" / "tool.sh") == 0o755


def test_djangos_default_file_upload_permissions_caps_a_copy(private_media, settings):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = []
    assert settings.FILE_UPLOAD_PERMISSIONS == 0o644  # Django's default
    write(private_media.media / "tool.sh", b"#!/bin/sh\n", 0o775)

    collect()

    assert mode(private_media.mirror / "media" / "tool.sh") == 0o644


@pytest.fixture
def other_filesystem():
    """A folder on /dev/shm (tmpfs), another filesystem than tmp_path's, where hard links cannot reach."""
    if not os.path.isdir("/dev/shm"):
        pytest.fail("This test needs /dev/shm, a tmpfs on every Linux system.")
    folder = Path(tempfile.mkdtemp(prefix="symlinkmirror-", dir="/dev/shm"))
    yield folder
    shutil.rmtree(folder)


def test_hard_link_fallback_across_filesystems_keeps_the_source_mode(private_media, settings, other_filesystem):
    assert os.stat(other_filesystem).st_dev != os.stat(private_media.media).st_dev
    settings.SYMLINKMIRROR_LINK_STYLE = "hard"
    settings.STORAGES = {
        **settings.STORAGES,
        "mirror": {
            "BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage",
            "OPTIONS": {"location": str(other_filesystem / "mirror"), "base_url": "/"},
        },
    }

    collect()

    mirrored = other_filesystem / "mirror" / "media"
    assert (mirrored / "owner.txt").read_bytes() == b"owner only"
    assert os.stat(mirrored / "owner.txt").st_ino != os.stat(private_media.media / "owner.txt").st_ino
    assert (mode(mirrored / "owner.txt"), mode(mirrored / "group.txt"), mode(mirrored / "public.txt")) == (
        0o600,
        0o640,
        0o644,
    )


def test_put_preserve_keeps_mode_and_mtime_of_the_source(tmp_path):
    source = write(tmp_path / "source" / "a.txt", b"private", 0o600)
    os.utime(source, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=[])

    made = storage.put("a.txt", real_source=os.path.realpath(source), preserve=True)

    assert made is EntryKind.COPY
    assert mode(tmp_path / "mirror" / "a.txt") == 0o600
    assert os.stat(tmp_path / "mirror" / "a.txt").st_mtime_ns == 1_600_000_000_000_000_000


def test_save_follows_djangos_rule_so_a_private_temporary_rendition_stays_servable(tmp_path, settings):
    settings.FILE_UPLOAD_PERMISSIONS = 0o644
    rendition = write(tmp_path / "work" / "thumb.jpg", b"resized", 0o600)  # as tempfile.mkstemp makes it
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=[])

    with rendition.open("rb") as fh:
        name = storage.save("thumb.jpg", File(fh))

    assert mode(tmp_path / "mirror" / name) == 0o644
    assert (tmp_path / "mirror" / name).read_bytes() == b"resized"


def test_save_without_file_upload_permissions_uses_the_umask(tmp_path, settings):
    settings.FILE_UPLOAD_PERMISSIONS = None
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=[])
    previous = os.umask(0o027)
    try:
        name = storage.save("a.txt", ContentFile(b"data"))
        source = write(tmp_path / "work" / "b.txt", b"data", 0o600)
        with source.open("rb") as fh:
            other = storage.save("b.txt", File(fh))
    finally:
        os.umask(previous)

    assert mode(tmp_path / "mirror" / name) == mode(tmp_path / "mirror" / other) == 0o640


def test_save_applies_directory_permissions_mode_to_new_directories(tmp_path):
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=[], directory_permissions_mode=0o750)

    storage.save("a/b/c.txt", ContentFile(b"data"))

    assert mode(tmp_path / "mirror" / "a") == mode(tmp_path / "mirror" / "a" / "b") == 0o750
