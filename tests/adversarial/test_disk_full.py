"""A mirror on a real, small filesystem (a 512 KiB tmpfs) that a copy does not fit in."""

from __future__ import annotations

import errno
import io
import os
import subprocess

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError

from symlinkmirror.storage import SymlinkOrCopyStorage

from .helpers import collect, make_site, temp_leftovers, write

NO_SPACE = "No space left on device; the previous entry, if any, is unchanged."
BIG = 2 << 20  # four times the filesystem


@pytest.fixture
def small_mount(tmp_path):
    """A mounted 512 KiB tmpfs (we run as root), unmounted afterwards."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)], check=True)
    yield mount_point
    subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


def test_copy_that_does_not_fit_fails_cleanly_and_keeps_the_previous_entry(tmp_path, small_mount):
    site = make_site(tmp_path / "site")
    site.mirror = SymlinkOrCopyStorage(location=small_mount, base_url="/", symlink_within=[site.media])
    site.mirror_dir = small_mount
    write(site.static / "big.bin", b"small previous copy")
    collect(site)
    write(site.static / "big.bin", os.urandom(BIG))
    write(site.static / "z.css", b"after the failure")
    write(site.media / "photo.jpg", b"jpeg")

    report, events = collect(site)

    assert report.errors == [("static", "static/big.bin", NO_SPACE)]
    assert [event.message for event in events] == [
        "Linking 'media/photo.jpg'",
        f"Failed 'static/big.bin': {NO_SPACE}",
        "Copying 'static/z.css'",
    ]
    assert (small_mount / "static" / "big.bin").read_bytes() == b"small previous copy"
    assert (small_mount / "static" / "z.css").read_bytes() == b"after the failure"
    assert temp_leftovers(small_mount) == []


def test_collectmirror_reports_a_full_disk_and_exits_non_zero(mirror_in_tmp_path, settings, small_mount):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(mirror_in_tmp_path.media)]
    settings.STORAGES = {
        **settings.STORAGES,
        "mirror": {
            "BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage",
            "OPTIONS": {"location": str(small_mount), "base_url": "/"},
        },
    }
    write(mirror_in_tmp_path.static / "big.bin", os.urandom(BIG))
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match=r"^1 file\(s\) failed; see the messages above\.$"):
        call_command("collectmirror", stdout=out, stderr=err)

    assert err.getvalue() == f"Failed 'static/big.bin': {NO_SPACE}\n"
    assert out.getvalue() == "0 files linked, 0 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 1 failed.\n"
    assert not os.path.lexists(small_mount / "static" / "big.bin")
    assert temp_leftovers(small_mount) == []


def test_save_that_does_not_fit_keeps_the_previous_file(small_mount):
    storage = SymlinkOrCopyStorage(location=small_mount, allow_overwrite=True)
    storage.save("renditions/a.jpg", ContentFile(b"previous"))

    with pytest.raises(OSError) as raised:
        storage.save("renditions/a.jpg", ContentFile(os.urandom(BIG)))

    assert raised.value.errno == errno.ENOSPC
    assert (small_mount / "renditions" / "a.jpg").read_bytes() == b"previous"
    assert temp_leftovers(small_mount) == []
    assert storage.save("renditions/b.jpg", ContentFile(b"space is back")) == "renditions/b.jpg"


def test_run_on_a_disk_already_full_reports_each_entry_it_cannot_write(tmp_path, small_mount):
    site = make_site(tmp_path / "site")
    site.mirror = SymlinkOrCopyStorage(location=small_mount, base_url="/", symlink_within=[site.media])
    write(site.static / "app.css", b"body {}")
    write(site.static / "b.css", b"more")
    with pytest.raises(OSError) as filling, open(small_mount / "filler", "wb") as filler:
        filler.write(b"\0" * BIG)  # no lock file yet: the run must create and write it on a full disk
    assert filling.value.errno == errno.ENOSPC

    report, events = collect(site)

    assert report.errors == [("static", "static/app.css", NO_SPACE), ("static", "static/b.css", NO_SPACE)]
    assert [event.message for event in events] == [
        f"Failed 'static/app.css': {NO_SPACE}",
        f"Failed 'static/b.css': {NO_SPACE}",
    ]
    assert temp_leftovers(small_mount) == []
