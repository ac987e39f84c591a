"""FIFOs, sockets and device nodes, in a source and in the mirror: skipped or replaced, never read, never blocking."""

from __future__ import annotations

import io
import os
import socket
import stat

import pytest
from django.core.management import call_command

from .helpers import audit_site, collect, expected_tree, files_only, finishes_within, make_site, mirror_tree, write


def make_special_files(root) -> socket.socket:
    """A FIFO, a bound AF_UNIX socket, /dev/null's device number, and a symlink to the FIFO."""
    write(root / "plain.txt", b"plain")
    os.mkfifo(root / "fifo")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(root / "socket"))
    os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.symlink("fifo", root / "to-fifo")
    return server


@pytest.fixture
def sockets():
    opened = []
    yield opened
    for server in opened:
        server.close()


def test_special_files_in_sources_are_skipped_and_never_block(mirror_in_tmp_path, sockets, settings):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(mirror_in_tmp_path.media)]  # static is copied
    for root in (mirror_in_tmp_path.media, mirror_in_tmp_path.static):
        sockets.append(make_special_files(root))
    out, err = io.StringIO(), io.StringIO()

    finishes_within(30, call_command, "collectmirror", "--checksum", stdout=out, stderr=err)

    assert out.getvalue().splitlines() == [
        f"Skipping '{prefix}/{name}' ({reason})"
        for prefix in ("media", "static")
        for name, reason in [
            ("fifo", "a FIFO, socket or device, not a regular file"),
            ("null", "a FIFO, socket or device, not a regular file"),
            ("socket", "a FIFO, socket or device, not a regular file"),
            ("to-fifo", "a symlink to something that is not a regular file"),
        ]
    ] + ["1 file linked, 1 copied, 0 replaced, 0 unmodified, 0 deleted, 8 skipped, 0 failed."]
    assert err.getvalue() == ""
    assert sorted(os.listdir(mirror_in_tmp_path.mirror / "static")) == ["plain.txt"]
    assert sorted(os.listdir(mirror_in_tmp_path.mirror / "media")) == ["plain.txt"]
    verified = io.StringIO()
    finishes_within(30, call_command, "verifymirror", "--checksum", stdout=verified)
    assert verified.getvalue() == "2 files checked: the mirror is clean.\n"


def test_special_files_planted_in_the_mirror_are_replaced_or_deleted_without_blocking(tmp_path, sockets):
    site = make_site(tmp_path / "site")
    write(site.static / "app.css", b"body {}")
    write(site.media / "a.jpg", b"jpeg")
    collect(site)
    for entry in ("static/app.css", "media/a.jpg"):
        os.unlink(site.mirror_dir / entry)
        os.mkfifo(site.mirror_dir / entry)
    os.mkfifo(site.mirror_dir / "static" / "orphan-fifo")
    os.mknod(site.mirror_dir / "static" / "orphan-null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(site.mirror_dir / "static" / "orphan-socket"))
    sockets.append(server)

    found = finishes_within(30, audit_site, site, checksum=True)
    report, _ = finishes_within(30, collect, site, checksum=True, delete=True)

    assert sorted((finding.category, finding.name) for finding in found.findings) == [
        ("not-a-file", "media/a.jpg"),
        ("not-a-file", "static/app.css"),
        ("orphan", "static/orphan-fifo"),
        ("orphan", "static/orphan-null"),
        ("orphan", "static/orphan-socket"),
    ]
    assert report.errors == []
    assert files_only(mirror_tree(site.mirror_dir)) == expected_tree(site)
    assert finishes_within(30, audit_site, site, checksum=True).clean
