"""Links that lie: planted in the mirror, symlinked mirror directories, loops and escapes in a source."""

from __future__ import annotations

import io
import os

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError

from symlinkmirror.lock import LOCK_NAME
from symlinkmirror.report import Finding
from symlinkmirror.storage import SymlinkOrCopyStorage

from .helpers import (
    audit_site,
    collect,
    expected_tree,
    files_only,
    finishes_within,
    make_site,
    messages,
    mirror_tree,
    temp_leftovers,
    write,
)


@pytest.fixture
def site(tmp_path):
    site = make_site(tmp_path / "site")
    write(site.media / "photos" / "a.jpg", b"photo a")
    write(site.static / "css" / "app.css", b"body {}")
    return site


@pytest.fixture
def outside(tmp_path):
    """A folder outside the mirror holding one secret, and an empty folder beside it."""
    folder = tmp_path / "outside"
    write(folder / "secret.txt", b"root:x:0:0")
    (folder / "empty").mkdir()
    return folder


def snapshot(folder) -> dict[str, tuple]:
    return mirror_tree(folder)


@pytest.mark.parametrize("workers", [1, 4])
def test_link_planted_at_an_entry_name_is_replaced_never_written_through(site, outside, workers):
    collect(site)
    secret = outside / "secret.txt"
    before = snapshot(outside)
    for entry in ("media/photos/a.jpg", "static/css/app.css"):
        os.unlink(site.mirror_dir / entry)
        os.symlink(secret, site.mirror_dir / entry)
    os.utime(site.static / "css" / "app.css")  # the source changed too: a copy is due

    found = audit_site(site)
    report, events = collect(site, workers=workers)

    assert found.findings == [
        Finding(
            "escaping-link",
            "media",
            "media/photos/a.jpg",
            f"a symlink to '{secret}', outside every trusted root",
        ),
        Finding(
            "escaping-link",
            "static",
            "static/css/app.css",
            f"a symlink to '{secret}', outside every trusted root",
        ),
    ]
    assert messages(events) == [
        "Replacing 'media/photos/a.jpg' with a link (escaping-link)",
        "Replacing 'static/css/app.css' with a copy (escaping-link)",
    ]
    assert report.errors == []
    assert snapshot(outside) == before
    assert files_only(mirror_tree(site.mirror_dir)) == expected_tree(site)
    assert audit_site(site).clean


def test_verifymirror_reports_a_planted_link(mirror_in_tmp_path, outside):
    write(mirror_in_tmp_path.static / "app.css", b"body {}")
    call_command("collectmirror", stdout=io.StringIO())
    entry = mirror_in_tmp_path.mirror / "static" / "app.css"
    entry.unlink()
    entry.symlink_to(outside / "secret.txt")
    out = io.StringIO()

    with pytest.raises(CommandError, match=r"^The mirror has 1 finding\(s\)\.$") as raised:
        call_command("verifymirror", stdout=out)

    assert raised.value.returncode == 1
    assert out.getvalue().splitlines() == [
        "escaping-link (1):",
        f"  'static/app.css': a symlink to '{outside / 'secret.txt'}', outside every trusted root",
        "1 file checked: 1 finding (1 escaping-link).",
    ]


@pytest.mark.parametrize("workers", [1, 4])
def test_symlinked_directory_inside_the_mirror_is_never_written_through(site, outside, workers):
    write(site.static / "css" / "deep" / "more.css", b"more")
    write(site.media / "photos" / "new" / "b.jpg", b"photo b")
    for folder in ("media/photos", "static/css"):
        os.makedirs(site.mirror_dir / os.path.dirname(folder), exist_ok=True)
        os.symlink(outside / "empty", site.mirror_dir / folder, target_is_directory=True)

    found = audit_site(site)
    report, events = collect(site, workers=workers)

    assert [finding.category for finding in found.findings if finding.name in ("media/photos", "static/css")] == [
        "escaping-link",
        "escaping-link",
    ]
    assert os.listdir(outside / "empty") == []
    assert "Deleting 'static/css' (in the way of a source directory)" in messages(events)
    assert report.errors == []
    assert not os.path.islink(site.mirror_dir / "static" / "css")
    assert files_only(mirror_tree(site.mirror_dir)) == expected_tree(site)
    assert audit_site(site).clean


def test_save_through_a_symlinked_directory_creates_nothing_outside(tmp_path, outside):
    storage = make_site(tmp_path / "site").mirror
    os.makedirs(storage.location)
    os.symlink(outside / "empty", os.path.join(storage.location, "renditions"), target_is_directory=True)

    with pytest.raises(SuspiciousFileOperation, match="refusing to write through it"):
        storage.save("renditions/2024/05/a.jpg", ContentFile(b"jpeg"))

    assert os.listdir(outside / "empty") == []


@pytest.mark.parametrize("workers", [1, 4])
def test_symlinked_source_prefix_in_the_mirror_is_reported_then_replaced_never_followed(site, outside, workers):
    # Outside, a file with the source's size and mtime: looked at through the
    # link, it would pass for an unmodified copy.
    write(outside / "empty" / "css" / "app.css", b"EVIL{}!")
    mtime = os.stat(site.static / "css" / "app.css").st_mtime_ns
    os.utime(outside / "empty" / "css" / "app.css", ns=(mtime, mtime))
    os.makedirs(site.mirror_dir)
    os.symlink(outside / "empty", site.mirror_dir / "static", target_is_directory=True)
    before = snapshot(outside)

    found = audit_site(site)
    report, events = collect(site, workers=workers)

    assert Finding("escaping-link", "static", "static", "a symlinked directory leading outside the mirror") in (
        found.findings
    )
    assert "Deleting 'static' (in the way of a source directory)" in messages(events)
    assert report.errors == []
    assert snapshot(outside) == before
    assert files_only(mirror_tree(site.mirror_dir)) == expected_tree(site)
    assert audit_site(site).clean


def make_loops(root) -> None:
    """Directory symlink loops of every shape, and one real file to mirror."""
    write(root / "sub" / "deep" / "real.txt", b"real")
    os.symlink(".", root / "self")  # a -> .
    os.symlink("..", root / "sub" / "up")  # b -> ..
    os.symlink("../..", root / "sub" / "deep" / "upup")
    os.symlink("pong", root / "ping")  # a -> b, b -> a
    os.symlink("ping", root / "pong")
    os.symlink("sub", root / "alias")  # a symlinked directory whose links loop back too


@pytest.mark.parametrize("source", ["media", "static"])  # os.scandir and storage.listdir walks
def test_directory_symlink_loops_in_a_source_terminate_and_are_reported(site, source):
    root = site.media if source == "media" else site.static
    make_loops(root)

    report, events = finishes_within(30, collect, site)

    skipped = sorted(message for message in messages(events) if message.startswith(f"Skipping '{source}/"))
    assert skipped == [
        f"Skipping '{source}/alias' (a symlink to '{root / 'sub'}', a directory mirrored at another name already)",
        f"Skipping '{source}/ping' (a symlink loop)",
        f"Skipping '{source}/pong' (a symlink loop)",
        f"Skipping '{source}/self' (a symlink to one of its own parent directories)",
        f"Skipping '{source}/sub/deep/upup' (a symlink to one of its own parent directories)",
        f"Skipping '{source}/sub/up' (a symlink to one of its own parent directories)",
    ]
    assert report.errors == []
    assert os.path.exists(site.mirror_dir / source / "sub" / "deep" / "real.txt")
    assert not os.path.lexists(site.mirror_dir / source / "alias")  # one directory, mirrored once
    assert {note.category for note in audit_site(site).notes} == {"loop", "duplicate"}


def plant_escaping_source_links(site, outside) -> None:
    os.symlink(outside / "secret.txt", site.media / "passwd")
    os.symlink("../../outside", site.static / "outside-dir")  # relative, and a directory
    os.symlink(site.media / "photos" / "a.jpg", site.static / "from-media.jpg")  # another trusted root


def test_source_symlinks_escaping_their_root_are_not_mirrored_by_default(site, outside):
    plant_escaping_source_links(site, outside)

    report, events = collect(site)

    assert sorted(message for message in messages(events) if message.startswith("Skipping")) == [
        f"Skipping 'media/passwd' (a symlink to '{outside / 'secret.txt'}', outside the source root and every trusted root)",
        f"Skipping 'static/outside-dir' (a symlink to '{outside}', outside the source root and every trusted root)",
    ]
    assert report.errors == []
    for name in ("media/passwd", "static/outside-dir"):
        assert not os.path.lexists(site.mirror_dir / name)
    # A chain of links ending inside a trusted root is trusted content: linked to the file it ends in.
    assert os.readlink(site.mirror_dir / "static" / "from-media.jpg") == str(site.media / "photos" / "a.jpg")
    assert audit_site(site).clean


def test_source_symlinks_escaping_their_root_are_mirrored_on_request(site, outside):
    plant_escaping_source_links(site, outside)

    report, events = collect(site, follow_external=True)

    assert report.errors == []
    # The secret outside every trusted root is copied, never linked.
    assert (site.mirror_dir / "media" / "passwd").read_bytes() == b"root:x:0:0"
    assert not os.path.islink(site.mirror_dir / "media" / "passwd")
    assert os.readlink(site.mirror_dir / "static" / "from-media.jpg") == str(site.media / "photos" / "a.jpg")
    assert "Copying 'static/outside-dir/secret.txt'" in messages(events)


def test_file_link_where_a_mirror_directory_belongs_is_removed_not_followed(site, outside):
    os.makedirs(site.mirror_dir / "static")
    os.symlink(outside / "secret.txt", site.mirror_dir / "static" / "css")

    report, events = collect(site)

    assert "Deleting 'static/css' (in the way of a source directory)" in messages(events)
    assert report.errors == []
    assert temp_leftovers(site.mirror_dir) == []
    assert (outside / "secret.txt").read_bytes() == b"root:x:0:0"
    assert files_only(mirror_tree(site.mirror_dir)) == expected_tree(site)


def test_entries_in_the_way_of_many_directories_are_cleared_before_workers_fill_them(tmp_path, outside):
    # A file or a symlinked directory where each source directory belongs:
    # with several workers, each must be gone before its directory's entries
    # are made, or they fail (safely) until the next run.
    site = make_site(tmp_path / "site")
    os.makedirs(site.mirror_dir / "static")
    for i in range(100):
        write(site.media / f"d{i:03d}" / "e" / "x.jpg", b"x")
        write(site.static / f"d{i:03d}" / "x.css", b"x")
        write(site.mirror_dir / "media" / f"d{i:03d}", b"a file in the way")
        os.symlink(outside / "empty", site.mirror_dir / "static" / f"d{i:03d}", target_is_directory=True)

    report, _ = collect(site, workers=4)

    assert report.errors == []
    assert report.totals["deleted"] == 200
    assert files_only(mirror_tree(site.mirror_dir)) == expected_tree(site)
    assert os.listdir(outside / "empty") == []


def test_link_planted_at_the_lock_name_is_removed_never_written_through(mirror_in_tmp_path, outside):
    write(mirror_in_tmp_path.static / "app.css", b"body {}")
    lock = mirror_in_tmp_path.mirror / LOCK_NAME
    mirror_in_tmp_path.mirror.mkdir()
    lock.symlink_to(outside / "secret.txt")
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command("verifymirror", stdout=out)
    call_command("collectmirror", stdout=io.StringIO())

    assert f"  '{LOCK_NAME}': a symlink to '{os.path.realpath(outside / 'secret.txt')}'" in out.getvalue()
    assert (outside / "secret.txt").read_bytes() == b"root:x:0:0"
    assert not lock.is_symlink() and lock.is_file()
    assert (mirror_in_tmp_path.mirror / "static" / "app.css").is_symlink()


def test_fifo_planted_at_the_lock_name_stops_the_run_without_blocking(mirror_in_tmp_path):
    lock = mirror_in_tmp_path.mirror / LOCK_NAME
    mirror_in_tmp_path.mirror.mkdir()
    os.mkfifo(lock)

    with pytest.raises(CommandError) as raised:
        finishes_within(30, call_command, "collectmirror", stdout=io.StringIO())

    assert str(raised.value) == (
        f"Cannot lock the mirror '{mirror_in_tmp_path.mirror}' with '{lock}': it is not a regular file; remove it."
    )


@pytest.mark.parametrize("allow_overwrite", [False, True])
def test_save_at_the_name_of_a_planted_link_never_writes_through_it(tmp_path, outside, allow_overwrite):
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", allow_overwrite=allow_overwrite)
    os.makedirs(tmp_path / "mirror" / "renditions")
    os.symlink(outside / "secret.txt", tmp_path / "mirror" / "renditions" / "a.jpg")

    name = storage.save("renditions/a.jpg", ContentFile(b"new rendition"))

    assert (outside / "secret.txt").read_bytes() == b"root:x:0:0"
    assert (tmp_path / "mirror" / name).read_bytes() == b"new rendition"
    assert not os.path.islink(tmp_path / "mirror" / name)
    if allow_overwrite:
        assert name == "renditions/a.jpg"
    else:
        assert name != "renditions/a.jpg"
        assert os.readlink(tmp_path / "mirror" / "renditions" / "a.jpg") == str(outside / "secret.txt")
