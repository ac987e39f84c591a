from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, InMemoryStorage

from symlinkmirror import engine
from symlinkmirror.lock import LOCK_NAME
from symlinkmirror.paths import TEMP_PREFIX
from symlinkmirror.sources import Source
from symlinkmirror.storage import SymlinkOrCopyStorage
from symlinkmirror.vocab import Outcome


@dataclass
class Site:
    """Media files (inside symlink_within, so linked), static files (outside, so copied) and their mirror."""

    media: Path
    static: Path
    mirror_dir: Path
    mirror: SymlinkOrCopyStorage
    sources: list[Source]

    def real(self, path: Path) -> str:
        return os.path.realpath(path)


def make_site(base: Path, *, link_style: str | None = None) -> Site:
    media, static, mirror_dir = base / "media", base / "static", base / "mirror"
    (media / "photos").mkdir(parents=True)
    static.mkdir()
    (media / "a.txt").write_text("alpha")
    (media / "photos" / "b.jpg").write_bytes(b"jpeg")
    (static / "app.css").write_text("body {}")
    (static / "app.js").write_text("run()")
    os.utime(static / "app.css", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    mirror = SymlinkOrCopyStorage(location=mirror_dir, base_url="/", symlink_within=[media], link_style=link_style)
    sources = [
        Source("media", FileSystemStorage(location=media), "media"),
        Source("static", FileSystemStorage(location=static), "static"),
    ]
    return Site(media, static, mirror_dir, mirror, sources)


@pytest.fixture
def site(tmp_path) -> Site:
    return make_site(tmp_path)


def collect(site: Site, **options):
    """Run collect() and return (report, messages)."""
    events = []
    report = engine.collect(site.sources, site.mirror, engine.Options(**options), on_event=events.append)
    return report, [event.message for event in events]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root but the lock: a link's target, a file's bytes, mtime and inode, or a directory."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if rel == LOCK_NAME:
                continue  # every run writes its pid there
            if os.path.islink(path):
                entries[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                entries[rel] = ("dir",)
            else:
                st = os.stat(path)
                entries[rel] = ("file", Path(path).read_bytes(), st.st_mtime_ns, st.st_ino)
    return entries


def test_first_run_links_files_inside_symlink_within_and_copies_the_rest(site):
    report, messages = collect(site)

    assert messages == [
        "Linking 'media/a.txt'",
        "Linking 'media/photos/b.jpg'",
        "Copying 'static/app.css'",
        "Copying 'static/app.js'",
    ]
    assert os.readlink(site.mirror_dir / "media" / "a.txt") == site.real(site.media / "a.txt")
    assert os.readlink(site.mirror_dir / "media" / "photos" / "b.jpg") == site.real(site.media / "photos" / "b.jpg")
    copy = site.mirror_dir / "static" / "app.css"
    assert not copy.is_symlink()
    assert copy.read_text() == "body {}"
    assert copy.stat().st_mtime_ns == 1_600_000_000_123_456_789
    assert report.summary() == "2 files linked, 2 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 0 failed."


def test_a_second_run_changes_nothing(site):
    collect(site)
    before = snapshot(site.mirror_dir)

    report, messages = collect(site)

    assert snapshot(site.mirror_dir) == before
    assert messages == [
        "Skipping 'media/a.txt' (not modified)",
        "Skipping 'media/photos/b.jpg' (not modified)",
        "Skipping 'static/app.css' (not modified)",
        "Skipping 'static/app.js' (not modified)",
    ]
    assert report.summary() == "0 files linked, 0 copied, 0 replaced, 4 unmodified, 0 deleted, 0 skipped, 0 failed."


def test_changed_source_copies_are_replaced_and_added_files_created(site):
    collect(site)
    (site.static / "app.css").write_text("body { color: red }")
    (site.static / "new.css").write_text("p {}")
    (site.media / "photos" / "c.jpg").write_bytes(b"more")

    report, messages = collect(site)

    assert messages == [
        "Skipping 'media/a.txt' (not modified)",
        "Skipping 'media/photos/b.jpg' (not modified)",
        "Linking 'media/photos/c.jpg'",
        "Replacing 'static/app.css' with a copy (stale-copy)",
        "Skipping 'static/app.js' (not modified)",
        "Copying 'static/new.css'",
    ]
    assert (site.mirror_dir / "static" / "app.css").read_text() == "body { color: red }"
    assert (site.mirror_dir / "static" / "new.css").read_text() == "p {}"
    assert os.readlink(site.mirror_dir / "media" / "photos" / "c.jpg") == site.real(site.media / "photos" / "c.jpg")
    assert report.totals["replaced"] == 1


def test_a_copy_with_the_same_size_but_another_mtime_is_replaced(site):
    collect(site)
    os.utime(site.static / "app.js", ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))

    _report, messages = collect(site)

    assert "Replacing 'static/app.js' with a copy (stale-copy)" in messages
    assert (site.mirror_dir / "static" / "app.js").stat().st_mtime_ns == 1_700_000_000_000_000_000


def test_deleted_source_files_keep_their_entries_without_delete(site):
    collect(site)
    (site.media / "a.txt").unlink()
    (site.static / "app.js").unlink()

    report, _messages = collect(site)

    assert os.path.lexists(site.mirror_dir / "media" / "a.txt")
    assert (site.mirror_dir / "static" / "app.js").exists()
    assert report.totals["deleted"] == 0


def test_delete_removes_only_the_entries_whose_source_is_gone(site):
    (site.media / ".hidden").write_text("secret")
    (site.media / "old").mkdir()
    (site.media / "old" / "x.txt").write_text("x")
    collect(site, ignore_patterns=[])
    (site.media / ".hidden").unlink()
    (site.media / "old" / "x.txt").unlink()
    (site.media / "old").rmdir()
    (site.static / "app.js").unlink()
    (site.mirror_dir / "media" / "kept~").write_text("an ignored name")
    (site.mirror_dir / "other").mkdir()
    (site.mirror_dir / "other" / "y.txt").write_text("not a source's")
    (site.media / "kept~").write_text("ignored by default")

    report, messages = collect(site, delete=True)

    assert [m for m in messages if m.startswith("Deleting")] == [
        "Deleting 'media/.hidden'",
        "Deleting 'media/old/x.txt'",
        "Deleting 'media/old'",
        "Deleting 'static/app.js'",
    ]
    assert not os.path.lexists(site.mirror_dir / "media" / ".hidden")
    assert not os.path.lexists(site.mirror_dir / "media" / "old")
    assert not os.path.lexists(site.mirror_dir / "static" / "app.js")
    assert (site.mirror_dir / "media" / "kept~").read_text() == "an ignored name"
    assert (site.mirror_dir / "other" / "y.txt").read_text() == "not a source's"
    assert (site.mirror_dir / LOCK_NAME).exists()
    assert report.totals["deleted"] == 4


def test_delete_keeps_the_entries_of_a_source_nested_in_another_ones_prefix(tmp_path):
    site = make_site(tmp_path)
    thumbs = tmp_path / "thumbs"
    thumbs.mkdir()
    (thumbs / "t.jpg").write_bytes(b"thumb")
    site.sources.append(Source("thumbs", FileSystemStorage(location=thumbs), "media/thumbs"))
    collect(site)

    report, _messages = collect(site, delete=True)

    assert (site.mirror_dir / "media" / "thumbs" / "t.jpg").read_bytes() == b"thumb"
    assert report.totals["deleted"] == 0
    assert report.totals["unmodified"] == 5


def test_a_source_with_the_empty_prefix_leaves_the_other_prefixes_and_the_lock_alone(tmp_path):
    site = make_site(tmp_path)
    root_files = tmp_path / "root"
    root_files.mkdir()
    (root_files / "robots.txt").write_text("User-agent: *")
    site.sources.append(Source("root", FileSystemStorage(location=root_files), ""))
    collect(site)
    (site.mirror_dir / "stray.txt").write_text("stray")

    report, messages = collect(site, delete=True)

    assert [m for m in messages if not m.startswith("Skipping")] == ["Deleting 'stray.txt'"]
    assert (site.mirror_dir / "robots.txt").read_text() == "User-agent: *"
    assert (site.mirror_dir / LOCK_NAME).exists()
    assert report.totals["unmodified"] == 5


def test_clear_and_delete_keep_the_prefixes_of_sources_left_out_of_the_run(tmp_path):
    site = make_site(tmp_path)
    root_files = tmp_path / "root"
    root_files.mkdir()
    (root_files / "robots.txt").write_text("User-agent: *")
    collect(site)
    site.sources = [Source("root", FileSystemStorage(location=root_files), "")]

    report, messages = collect(site, clear=True, delete=True, keep_prefixes=("media", "static"))

    assert messages == ["Copying 'robots.txt'"]
    assert sorted(os.listdir(site.mirror_dir)) == [LOCK_NAME, "media", "robots.txt", "static"]
    assert os.readlink(site.mirror_dir / "media" / "a.txt") == site.real(site.media / "a.txt")
    assert report.totals["deleted"] == 0


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            lambda site, entry: entry.symlink_to(site.media / "photos" / "b.jpg"),
            "Replacing 'media/a.txt' with a link (wrong-target)",
        ),
        (
            lambda site, entry: entry.symlink_to(site.media / "gone.txt"),
            "Replacing 'media/a.txt' with a link (broken-link)",
        ),
        (
            lambda site, entry: entry.symlink_to(site.static / "app.css"),
            "Replacing 'media/a.txt' with a link (escaping-link)",
        ),
        (lambda site, entry: entry.write_text("alpha"), "Replacing 'media/a.txt' with a link (kind-mismatch)"),
    ],
    ids=["wrong-target", "broken-link", "escaping-link", "copy-where-a-link-belongs"],
)
def test_a_tampered_link_entry_is_replaced_in_place(site, tamper, message):
    collect(site)
    entry = site.mirror_dir / "media" / "a.txt"
    entry.unlink()
    tamper(site, entry)

    report, messages = collect(site)

    assert messages[0] == message
    assert os.readlink(entry) == site.real(site.media / "a.txt")
    assert sorted(os.listdir(site.mirror_dir / "media")) == ["a.txt", "photos"]
    assert report.totals["replaced"] == 1


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            lambda site, entry: entry.symlink_to(site.media / "a.txt"),
            "Replacing 'static/app.css' with a copy (kind-mismatch)",
        ),
        (
            lambda site, entry: entry.symlink_to(site.static / "app.css"),
            "Replacing 'static/app.css' with a copy (escaping-link)",
        ),
        (
            lambda site, entry: entry.write_text("body {} /* longer */"),
            "Replacing 'static/app.css' with a copy (stale-copy)",
        ),
    ],
    ids=["link-into-symlink-within", "link-to-the-source", "stale-copy"],
)
def test_a_tampered_copy_entry_is_replaced_in_place(site, tamper, message):
    collect(site)
    entry = site.mirror_dir / "static" / "app.css"
    entry.unlink()
    tamper(site, entry)

    _report, messages = collect(site)

    assert messages[2] == message
    assert not entry.is_symlink()
    assert entry.read_text() == "body {}"
    assert entry.stat().st_mtime_ns == 1_600_000_000_123_456_789
    assert sorted(os.listdir(site.mirror_dir / "static")) == ["app.css", "app.js"]


def test_a_directory_where_a_file_belongs_is_removed_and_replaced(site):
    (site.mirror_dir / "media" / "a.txt" / "inner").mkdir(parents=True)
    (site.mirror_dir / "media" / "a.txt" / "inner" / "x.txt").write_text("x")

    report, messages = collect(site)

    assert messages[:2] == [
        "Deleting 'media/a.txt/inner/x.txt' (a directory where a file belongs)",
        "Replacing 'media/a.txt' with a link (not-a-file)",
    ]
    assert os.readlink(site.mirror_dir / "media" / "a.txt") == site.real(site.media / "a.txt")
    assert report.totals["deleted"] == 1


def test_a_file_where_a_source_directory_belongs_is_removed(site):
    (site.mirror_dir / "media").mkdir(parents=True)
    (site.mirror_dir / "media" / "photos").write_text("in the way")

    _report, messages = collect(site)

    assert messages[:3] == [
        "Linking 'media/a.txt'",
        "Deleting 'media/photos' (in the way of a source directory)",
        "Linking 'media/photos/b.jpg'",
    ]
    assert os.readlink(site.mirror_dir / "media" / "photos" / "b.jpg") == site.real(site.media / "photos" / "b.jpg")


def test_checksum_replaces_a_copy_whose_bytes_changed_behind_its_size_and_mtime(site):
    collect(site)
    entry = site.mirror_dir / "static" / "app.css"
    entry.write_text("BODY {}")
    os.utime(entry, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))

    _report, plain = collect(site)
    tampered = entry.read_text()
    report, checked = collect(site, checksum=True)

    assert "Skipping 'static/app.css' (not modified)" in plain
    assert tampered == "BODY {}"
    assert "Replacing 'static/app.css' with a copy (stale-copy)" in checked
    assert entry.read_text() == "body {}"
    assert report.totals["unmodified"] == 3


def test_dry_run_reports_what_would_change_and_touches_nothing(site):
    collect(site)
    (site.mirror_dir / "media" / "a.txt").unlink()
    (site.mirror_dir / "media" / "a.txt").write_text("alpha")
    (site.static / "app.js").unlink()
    (site.static / "new.css").write_text("p {}")
    (site.mirror_dir / "static" / f"{TEMP_PREFIX}999999999-abc").write_text("")
    before = snapshot(site.mirror_dir)

    report, messages = collect(site, dry_run=True, delete=True)

    assert snapshot(site.mirror_dir) == before
    assert messages == [
        "Pretending to replace 'media/a.txt' with a link (kind-mismatch)",
        "Skipping 'media/photos/b.jpg' (not modified)",
        "Skipping 'static/app.css' (not modified)",
        "Pretending to copy 'static/new.css'",
        f"Pretending to remove leftover temporary file 'static/{TEMP_PREFIX}999999999-abc'",
        "Pretending to delete 'static/app.js'",
    ]
    assert report.summary() == (
        "Dry run: 0 files linked, 1 copied, 1 replaced, 2 unmodified, 1 deleted, 0 skipped, 0 failed."
    )


def test_dry_run_on_an_empty_mirror_creates_nothing(site):
    report, messages = collect(site, dry_run=True)

    assert not site.mirror_dir.exists()
    assert messages[:2] == ["Pretending to link 'media/a.txt'", "Pretending to link 'media/photos/b.jpg'"]
    assert report.as_dict()["dry_run"] is True


def test_clear_removes_every_entry_of_the_sources_and_builds_them_again(site):
    collect(site)
    (site.mirror_dir / "media" / "orphan.txt").write_text("o")
    (site.mirror_dir / "elsewhere.txt").write_text("not under a prefix")

    report, messages = collect(site, clear=True)

    assert messages == [
        "Deleting 'media/a.txt' (--clear)",
        "Deleting 'media/orphan.txt' (--clear)",
        "Deleting 'media/photos/b.jpg' (--clear)",
        "Linking 'media/a.txt'",
        "Linking 'media/photos/b.jpg'",
        "Deleting 'static/app.css' (--clear)",
        "Deleting 'static/app.js' (--clear)",
        "Copying 'static/app.css'",
        "Copying 'static/app.js'",
    ]
    assert sorted(os.listdir(site.mirror_dir / "media")) == ["a.txt", "photos"]
    assert (site.mirror_dir / "elsewhere.txt").exists()
    assert report.summary() == "2 files linked, 2 copied, 0 replaced, 0 unmodified, 5 deleted, 0 skipped, 0 failed."


def test_dry_run_clear_predicts_a_real_clear(tmp_path):
    real, dry = make_site(tmp_path / "real"), make_site(tmp_path / "dry")
    collect(real)
    collect(dry)
    before = snapshot(dry.mirror_dir)

    real_report, real_messages = collect(real, clear=True)
    dry_report, dry_messages = collect(dry, clear=True, dry_run=True)

    assert snapshot(dry.mirror_dir) == before
    assert dry_report.summary() == f"Dry run: {real_report.summary()}"
    assert dry_messages[:4] == [
        "Pretending to delete 'media/a.txt' (--clear)",
        "Pretending to delete 'media/photos/b.jpg' (--clear)",
        "Pretending to link 'media/a.txt'",
        "Pretending to link 'media/photos/b.jpg'",
    ]
    assert real_messages[:4] == [
        "Deleting 'media/a.txt' (--clear)",
        "Deleting 'media/photos/b.jpg' (--clear)",
        "Linking 'media/a.txt'",
        "Linking 'media/photos/b.jpg'",
    ]


def test_follow_external_copies_a_symlink_that_leaves_its_root(site, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.txt").write_text("external")
    (site.media / "x").symlink_to(elsewhere / "x.txt")

    skipped_report, skipped = collect(site)
    followed_report, followed = collect(site, follow_external=True)

    assert (
        skipped[1]
        == f"Skipping 'media/x' (a symlink to '{site.real(elsewhere / 'x.txt')}', outside the source root and every trusted root)"
    )
    assert skipped_report.totals["skipped"] == 1
    assert followed[1] == "Copying 'media/x'"
    entry = site.mirror_dir / "media" / "x"
    assert not entry.is_symlink()
    assert entry.read_text() == "external"
    assert followed_report.totals["skipped"] == 0


def test_a_symlink_inside_the_source_root_is_linked_to_its_real_file(site):
    (site.media / "alias.txt").symlink_to("a.txt")
    (site.media / "gallery").symlink_to(site.static, target_is_directory=True)

    _report, messages = collect(site, follow_external=True)

    assert messages[:3] == ["Linking 'media/a.txt'", "Linking 'media/alias.txt'", "Linking 'media/photos/b.jpg'"]
    assert "Copying 'media/gallery/app.css'" in messages
    assert os.readlink(site.mirror_dir / "media" / "alias.txt") == site.real(site.media / "a.txt")
    assert (site.mirror_dir / "media" / "gallery").is_dir()
    assert not (site.mirror_dir / "media" / "gallery").is_symlink()


def test_a_directory_reached_through_symlinks_is_mirrored_once_and_the_other_paths_reported(site):
    (site.media / "album").symlink_to("photos", target_is_directory=True)

    report, messages = collect(site)

    assert messages == [
        "Linking 'media/a.txt'",
        "Linking 'media/photos/b.jpg'",
        f"Skipping 'media/album' (a symlink to '{site.real(site.media / 'photos')}', a directory mirrored at another name already)",
        "Copying 'static/app.css'",
        "Copying 'static/app.js'",
    ]
    assert report.totals["skipped"] == 1
    assert not os.path.lexists(site.mirror_dir / "media" / "album")


def test_special_files_and_dangling_links_are_skipped(site):
    os.mkfifo(site.media / "pipe")
    (site.media / "dangling").symlink_to("nowhere.txt")

    report, messages = collect(site)

    assert messages[:3] == [
        "Linking 'media/a.txt'",
        "Skipping 'media/dangling' (a symlink whose target does not exist)",
        "Skipping 'media/pipe' (a FIFO, socket or device, not a regular file)",
    ]
    assert not os.path.lexists(site.mirror_dir / "media" / "pipe")
    assert report.totals["skipped"] == 2
    assert report.failed == 0


def test_ignore_patterns_leave_files_out(site):
    (site.media / "notes.tmp").write_text("t")
    (site.media / "photos" / "raw.jpg").write_bytes(b"raw")

    _report, messages = collect(site, ignore_patterns=["*.tmp", "photos/raw.jpg"])

    assert messages[:2] == ["Linking 'media/a.txt'", "Linking 'media/photos/b.jpg'"]
    assert not os.path.lexists(site.mirror_dir / "media" / "notes.tmp")
    assert not os.path.lexists(site.mirror_dir / "media" / "photos" / "raw.jpg")


@pytest.mark.parametrize(
    ("style", "target"),
    [("absolute", "{media}/a.txt"), ("relative", "../../media/a.txt")],
)
def test_link_style_decides_the_link_target(site, style, target):
    collect(site, link_style=style)

    report, _messages = collect(site, link_style=style)

    entry = site.mirror_dir / "media" / "a.txt"
    assert os.readlink(entry) == target.format(media=site.real(site.media))
    assert entry.read_text() == "alpha"
    assert report.totals["unmodified"] == 4


def test_hard_link_style_shares_the_source_inode(site):
    first, messages = collect(site, link_style="hard")

    second, _messages = collect(site, link_style="hard")

    entry = site.mirror_dir / "media" / "a.txt"
    assert not entry.is_symlink()
    assert entry.stat().st_ino == (site.media / "a.txt").stat().st_ino
    assert messages[0] == "Linking 'media/a.txt'"
    assert first.totals["linked"] == 2
    assert second.totals["unmodified"] == 4


def test_changing_the_link_style_replaces_the_links(site):
    collect(site)

    _report, messages = collect(site, link_style="relative")

    assert messages[:2] == [
        "Replacing 'media/a.txt' with a link (wrong-target)",
        "Replacing 'media/photos/b.jpg' with a link (wrong-target)",
    ]
    assert os.readlink(site.mirror_dir / "media" / "a.txt") == "../../media/a.txt"


def test_the_storage_link_style_is_the_default(tmp_path):
    site = make_site(tmp_path, link_style="relative")

    collect(site)

    assert os.readlink(site.mirror_dir / "media" / "a.txt") == "../../media/a.txt"


def test_several_workers_do_exactly_what_one_does(tmp_path):
    sites = [make_site(tmp_path / "one"), make_site(tmp_path / "four")]
    for site in sites:
        for n in range(60):
            (site.media / "photos" / f"p{n:02}.jpg").write_bytes(b"p" * n)
            (site.static / f"s{n:02}.css").write_text("s" * n)

    def tree(site):
        """The mirror with each site's own base path taken out of link targets, and copies by content."""
        base = os.path.realpath(site.media.parent)
        return {
            name: ("link", entry[1].replace(base, "<base>")) if entry[0] == "link" else entry[:2]
            for name, entry in snapshot(site.mirror_dir).items()
        }

    runs = []
    for site, workers in zip(sites, (1, 4), strict=True):
        first = collect(site, workers=workers)
        for n in range(1, 60, 7):
            (site.static / f"s{n:02}.css").write_text("changed" * n)
            (site.mirror_dir / "media" / "photos" / f"p{n:02}.jpg").unlink()
        second = collect(site, workers=workers)
        runs.append((first, second, tree(site)))

    (one_first, one_second, one_tree), (four_first, four_second, four_tree) = runs
    assert four_first[1] == one_first[1]
    assert four_second[1] == one_second[1]
    assert four_second[0].summary() == one_second[0].summary()
    assert (
        one_second[0].summary()
        == "9 files linked, 0 copied, 9 replaced, 106 unmodified, 0 deleted, 0 skipped, 0 failed."
    )
    assert four_tree == one_tree
    assert len(four_tree) == 127


def test_collect_fails_fast_while_another_run_holds_the_lock(site):
    with engine.mirror_lock(str(site.mirror_dir)), pytest.raises(engine.MirrorLocked) as caught:
        collect(site)

    assert str(caught.value) == (
        f"The mirror '{site.mirror_dir}' is locked by a run in progress (pid {os.getpid()}); try again when it ends."
    )
    assert not (site.mirror_dir / "media").exists()


def test_the_lock_is_released_when_the_run_ends(site):
    collect(site)

    with engine.mirror_lock(str(site.mirror_dir)):
        pass

    assert (site.mirror_dir / LOCK_NAME).read_text() == str(os.getpid())


def test_a_dry_run_does_not_need_the_lock(site):
    with engine.mirror_lock(str(site.mirror_dir)):
        report, _messages = collect(site, dry_run=True)

    assert report.totals["linked"] == 2


def test_a_file_that_fails_is_reported_and_the_run_goes_on(site):
    (site.static / "b.css").write_text("b")
    (site.static / "c.css").write_text("c")
    events = []

    def remove_b_after_app_js(event):
        # b.css was listed by the walk; removing it now makes its copy fail for real.
        events.append(event)
        if event.name == "static/app.js":
            (site.static / "b.css").unlink()

    report = engine.collect(site.sources, site.mirror, on_event=remove_b_after_app_js)

    assert [event.message for event in events[-3:]] == [
        "Copying 'static/app.js'",
        "Failed 'static/b.css': No such file or directory",
        "Copying 'static/c.css'",
    ]
    assert report.errors == [("static", "static/b.css", "No such file or directory")]
    assert report.as_dict()["errors"] == [
        {"source": "static", "name": "static/b.css", "reason": "No such file or directory"}
    ]
    assert not os.path.lexists(site.mirror_dir / "static" / "b.css")
    assert not [name for name in os.listdir(site.mirror_dir / "static") if name.startswith(TEMP_PREFIX)]
    assert report.summary() == "2 files linked, 3 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 1 failed."


@pytest.fixture
def symlinked_prefix(site, tmp_path):
    """The mirror's 'media' directory is a symlink to a directory outside the mirror."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.txt").write_text("not the mirror's")
    site.mirror_dir.mkdir()
    (site.mirror_dir / "media").symlink_to(elsewhere, target_is_directory=True)
    return elsewhere


def test_a_symlinked_prefix_directory_is_unlinked_never_followed(site, symlinked_prefix):
    report, messages = collect(site, delete=True)

    assert messages[:3] == [
        "Deleting 'media' (in the way of a source directory)",
        "Linking 'media/a.txt'",
        "Linking 'media/photos/b.jpg'",
    ]
    assert sorted(os.listdir(symlinked_prefix)) == ["a.txt"]
    assert (symlinked_prefix / "a.txt").read_text() == "not the mirror's"
    assert not (site.mirror_dir / "media").is_symlink()
    assert os.readlink(site.mirror_dir / "media" / "a.txt") == site.real(site.media / "a.txt")
    assert report.summary() == "2 files linked, 2 copied, 0 replaced, 0 unmodified, 1 deleted, 0 skipped, 0 failed."


def test_a_dry_run_neither_removes_nor_looks_through_a_symlinked_prefix(site, symlinked_prefix):
    _report, messages = collect(site, dry_run=True, delete=True)

    assert messages[:3] == [
        "Pretending to delete 'media' (in the way of a source directory)",
        "Pretending to link 'media/a.txt'",
        "Pretending to link 'media/photos/b.jpg'",
    ]
    assert (site.mirror_dir / "media").is_symlink()
    assert sorted(os.listdir(symlinked_prefix)) == ["a.txt"]


def test_a_missing_source_root_is_skipped_and_deletes_nothing(site):
    collect(site)
    (site.static / "app.css").unlink()
    (site.static / "app.js").unlink()
    site.static.rmdir()

    report, messages = collect(site, delete=True)

    assert messages[2] == f"Skipping 'static' (the source directory '{site.real(site.static)}' does not exist)"
    assert sorted(os.listdir(site.mirror_dir / "static")) == ["app.css", "app.js"]
    assert report.summary() == "0 files linked, 0 copied, 0 replaced, 2 unmodified, 0 deleted, 1 skipped, 0 failed."


def test_leftover_temporary_files_of_dead_processes_are_removed(site):
    collect(site)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead_name = f"{TEMP_PREFIX}{dead.pid}-0123456789ab"
        alive_name = f"{TEMP_PREFIX}{alive.pid}-0123456789ab"
        (site.mirror_dir / "static" / dead_name).write_text("half a copy")
        (site.mirror_dir / "static" / alive_name).write_text("a copy in progress")

        report, messages = collect(site)
    finally:
        alive.kill()
        alive.wait()

    assert f"Removing leftover temporary file 'static/{dead_name}'" in messages
    assert not os.path.lexists(site.mirror_dir / "static" / dead_name)
    assert (site.mirror_dir / "static" / alive_name).read_text() == "a copy in progress"
    assert report.totals["deleted"] == 0


def test_a_storage_without_local_paths_is_copied_with_its_bytes_and_mtime(tmp_path):
    memory = InMemoryStorage()
    memory.save("docs/a.txt", ContentFile(b"in memory"))
    mirror = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=[tmp_path])
    sources = [Source("memory", memory, "mem")]

    first = engine.collect(sources, mirror)
    second = engine.collect(sources, mirror)

    entry = tmp_path / "mirror" / "mem" / "docs" / "a.txt"
    assert not entry.is_symlink()
    assert entry.read_bytes() == b"in memory"
    modified = memory.get_modified_time("docs/a.txt")
    assert entry.stat().st_mtime_ns == int(modified.timestamp() * 1_000_000) * 1000
    assert first.summary() == "0 files linked, 1 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 0 failed."
    assert second.summary() == "0 files linked, 0 copied, 0 replaced, 1 unmodified, 0 deleted, 0 skipped, 0 failed."


def test_a_changed_file_in_a_storage_without_local_paths_is_replaced(tmp_path):
    memory = InMemoryStorage()
    memory.save("a.txt", ContentFile(b"one"))
    mirror = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=[tmp_path])
    sources = [Source("memory", memory, "mem")]
    engine.collect(sources, mirror)
    memory.delete("a.txt")
    memory.save("a.txt", ContentFile(b"two!"))
    events = []

    engine.collect(sources, mirror, on_event=events.append)

    assert [event.message for event in events] == ["Replacing 'mem/a.txt' with a copy (stale-copy)"]
    assert (tmp_path / "mirror" / "mem" / "a.txt").read_bytes() == b"two!"


def test_report_as_dict_counts_per_source(site):
    (site.media / "dangling").symlink_to("nowhere")

    report, _messages = collect(site)

    data = report.as_dict()
    assert data["totals"] == {
        "linked": 2,
        "copied": 2,
        "replaced": 0,
        "unmodified": 0,
        "deleted": 0,
        "skipped": 1,
        "failed": 0,
    }
    assert data["sources"]["media"] == {**data["totals"], "copied": 0}
    assert data["sources"]["static"] == {**data["totals"], "linked": 0, "skipped": 0}
    assert data["errors"] == []
    assert data["dry_run"] is False
    assert isinstance(data["duration"], float)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (engine.FileEvent("linked", "m", "a", made="symlink"), "Linking 'a'"),
        (engine.FileEvent("linked", "m", "a", made="hardlink"), "Linking 'a'"),
        (engine.FileEvent("copied", "m", "a", made="copy"), "Copying 'a'"),
        (engine.FileEvent("copied", "m", "a", made="copy", dry_run=True), "Pretending to copy 'a'"),
        (engine.FileEvent("replaced", "m", "a", "stale-copy", "copy"), "Replacing 'a' with a copy (stale-copy)"),
        (
            engine.FileEvent("replaced", "m", "a", "wrong-target", "symlink", dry_run=True),
            "Pretending to replace 'a' with a link (wrong-target)",
        ),
        (engine.FileEvent("unmodified", "m", "a"), "Skipping 'a' (not modified)"),
        (engine.FileEvent("deleted", "m", "a"), "Deleting 'a'"),
        (engine.FileEvent("deleted", "m", "a", "--clear", dry_run=True), "Pretending to delete 'a' (--clear)"),
        (engine.FileEvent("skipped", "m", "a", "a symlink loop"), "Skipping 'a' (a symlink loop)"),
        (engine.FileEvent("failed", "m", "a", "Permission denied"), "Failed 'a': Permission denied"),
    ],
)
def test_file_event_messages(event, message):
    assert event.message == message


def test_only_changes_count_as_changed_urls():
    changed = [engine.FileEvent(action, "m", "a").changed for action in Outcome]

    assert changed == [True, True, True, False, True, False, False, False]


def test_a_mirror_on_a_filesystem_without_symlinks_converges_to_copies(tmp_path, fat, settings):
    settings.FILE_UPLOAD_PERMISSIONS = None  # FAT has no permission bits to set
    site = make_site(tmp_path)
    mirror = SymlinkOrCopyStorage(location=fat / "mirror", base_url="/", symlink_within=[site.media])
    site = Site(site.media, site.static, fat / "mirror", mirror, site.sources)

    with pytest.warns(RuntimeWarning, match="Cannot create symlinks"):
        first, _ = collect(site)
    # FAT keeps coarse local-time stamps (FUSE's fusefat even shifts them), so
    # compare contents: what must not happen is a kind-mismatch run after run.
    second, _ = collect(site, checksum=True)
    findings = engine.verify(site.sources, mirror, engine.Options(checksum=True))

    assert first.summary() == "0 files linked, 4 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 0 failed."
    assert second.summary() == "0 files linked, 0 copied, 0 replaced, 4 unmodified, 0 deleted, 0 skipped, 0 failed."
    assert findings.clean


def test_a_storage_without_modification_times_fails_its_files_and_the_run_goes_on(site):
    class NoTimes(InMemoryStorage):
        def get_modified_time(self, name):
            raise NotImplementedError("This backend doesn't support modification times.")

    remote = NoTimes()
    remote.save("r.txt", ContentFile(b"remote"))
    site.sources.append(Source("remote", remote, "remote"))

    report, messages = collect(site)

    assert "Failed 'remote/r.txt': This backend doesn't support modification times." in messages
    assert report.totals["linked"] == 2
    assert report.totals["copied"] == 2


def test_checksum_finds_one_changed_byte_deep_inside_a_large_copy(site):
    big = bytes(range(256)) * (3 * 4096 + 7)  # a little over 3 MiB: several chunks and a short last one
    (site.static / "big.bin").write_bytes(big)
    collect(site)
    copy = site.mirror_dir / "static" / "big.bin"
    mtime = copy.stat().st_mtime_ns
    tampered = bytearray(big)
    tampered[2 * 1024 * 1024 + 5] ^= 0xFF
    copy.write_bytes(bytes(tampered))
    os.utime(copy, ns=(mtime, mtime))

    plain, _ = collect(site)
    checked, messages = collect(site, checksum=True)

    assert plain.totals["replaced"] == 0
    assert "Replacing 'static/big.bin' with a copy (stale-copy)" in messages
    assert copy.read_bytes() == big
