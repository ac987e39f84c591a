from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from symlinkmirror import engine
from symlinkmirror.report import Finding


def audit_mirror(on_file=None, **options) -> engine.Verification:
    on_progress = None if on_file is None else (lambda _count: on_file())
    sources, mirror = engine.configured_sources(), engine.mirror_storage()
    return engine.verify(sources, mirror, engine.Options(**options), on_progress=on_progress)


def collect(**options) -> engine.Report:
    return engine.collect(engine.configured_sources(), engine.mirror_storage(), engine.Options(**options))


def fix(**options) -> engine.Report:
    """What verifymirror --fix runs: collect(), deleting orphans."""
    return collect(delete=True, **options)


def dead_pid() -> int:
    """The pid of a process that was killed and reaped, like an interrupted collectmirror."""
    process = subprocess.Popen(["sleep", "60"])
    process.kill()
    process.wait()
    return process.pid


@pytest.fixture
def tree(mirror_in_tmp_path):
    """media/a.txt, media/photos/b.jpg and static/site.css, collected into the mirror."""
    (mirror_in_tmp_path.media / "a.txt").write_text("alpha")
    (mirror_in_tmp_path.media / "photos").mkdir()
    (mirror_in_tmp_path.media / "photos" / "b.jpg").write_bytes(b"bravo")
    (mirror_in_tmp_path.static / "site.css").write_text("body {}")
    collect()
    return mirror_in_tmp_path


@pytest.fixture
def secret(tmp_path):
    """A file outside every trusted root, as /etc/passwd would be."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0")
    return outside / "passwd"


@pytest.fixture
def copies(settings, mirror_in_tmp_path):
    """Media outside symlink_within: media/a.txt is mirrored as a copy."""
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(mirror_in_tmp_path.static)]
    (mirror_in_tmp_path.media / "a.txt").write_text("hello")
    collect()
    assert not (mirror_in_tmp_path.mirror / "media" / "a.txt").is_symlink()
    return mirror_in_tmp_path


def replace_with_symlink(path, target) -> None:
    path.unlink()
    os.symlink(target, path)


# A clean mirror.


def test_a_collected_mirror_is_clean(tree):
    result = audit_mirror()

    assert result.findings == []
    assert result.clean
    assert result.checked == 3
    assert result.summary() == "3 files checked: the mirror is clean."


def test_a_skipped_source_link_is_a_note_not_a_finding(tree, secret):
    (tree.media / "ext.txt").symlink_to(secret)

    result = audit_mirror()

    assert result.clean
    assert result.notes == [
        Finding(
            "escaping-link",
            "media",
            "media/ext.txt",
            f"a symlink to '{secret.resolve()}', outside the source root and every trusted root",
        )
    ]


def test_summary_counts_each_category_in_report_order(tree, secret):
    (tree.mirror / "media" / "a.txt").unlink()
    (tree.mirror / "media" / "old.txt").write_text("old")
    (tree.mirror / "media" / "passwd").symlink_to(secret)

    result = audit_mirror()

    assert result.summary() == "3 files checked: 3 findings (1 escaping-link, 1 missing, 1 orphan)."
    assert result.counts() == {"missing": 1, "orphan": 1, "escaping-link": 1}
    assert list(result.by_category()) == ["escaping-link", "missing", "orphan"]
    assert result.as_dict()["clean"] is False
    assert result.as_dict()["findings"][0] == {
        "category": "missing",
        "source": "media",
        "name": "media/a.txt",
        "detail": "the source file has no mirror entry",
    }


# missing


def test_missing_entry_is_found_and_fixed(tree):
    (tree.mirror / "media" / "photos" / "b.jpg").unlink()

    result = audit_mirror()
    fix()

    assert result.findings == [Finding("missing", "media", "media/photos/b.jpg", "the source file has no mirror entry")]
    assert os.readlink(tree.mirror / "media" / "photos" / "b.jpg") == str((tree.media / "photos" / "b.jpg").resolve())
    assert audit_mirror().clean


def test_an_empty_mirror_misses_every_source_file(mirror_in_tmp_path):
    (mirror_in_tmp_path.media / "a.txt").write_text("alpha")
    (mirror_in_tmp_path.static / "site.css").write_text("body {}")

    result = audit_mirror()

    assert [(f.category, f.name) for f in result.findings] == [
        ("missing", "media/a.txt"),
        ("missing", "static/site.css"),
    ]
    assert not mirror_in_tmp_path.mirror.exists()  # the audit only reads


# orphan


def test_orphan_file_is_found_and_deleted_by_the_fix(tree):
    (tree.mirror / "media" / "old.txt").write_text("old")

    result = audit_mirror()
    report = fix()

    assert result.findings == [Finding("orphan", "media", "media/old.txt", "no source file has this name")]
    assert report.totals["deleted"] == 1
    assert not (tree.mirror / "media" / "old.txt").exists()
    assert audit_mirror().clean


def test_an_orphan_directory_is_a_finding_per_entry_and_is_removed_contents_first(tree):
    old = tree.mirror / "static" / "old"
    old.mkdir()
    (old / "x.css").write_text("x")
    (old / "y.css").write_text("y")

    result = audit_mirror()
    report = fix()

    assert result.findings == [
        Finding("orphan", "static", "static/old/x.css", "no source file has this name"),
        Finding("orphan", "static", "static/old/y.css", "no source file has this name"),
        Finding("orphan", "static", "static/old", "no source file has this name"),
    ]
    assert report.totals["deleted"] == 3
    assert not old.exists()
    assert audit_mirror().clean


# broken-link and wrong-target


def test_broken_link_is_found_and_relinked(tree):
    entry = tree.mirror / "media" / "a.txt"
    replace_with_symlink(entry, tree.media / "archive" / "a.txt")

    result = audit_mirror()
    fix()

    assert result.findings == [Finding("broken-link", "media", "media/a.txt", "the link's target does not exist")]
    assert os.readlink(entry) == str((tree.media / "a.txt").resolve())
    assert audit_mirror().clean


def test_wrong_target_is_found_and_relinked(tree):
    entry = tree.mirror / "media" / "a.txt"
    replace_with_symlink(entry, tree.media / "photos" / "b.jpg")

    result = audit_mirror()
    fix()

    assert result.findings == [
        Finding("wrong-target", "media", "media/a.txt", "a link to something other than its source")
    ]
    assert entry.read_text() == "alpha"
    assert audit_mirror().clean


def test_relative_link_style_accepts_relative_links_and_flags_absolute_ones(tree):
    result = audit_mirror(link_style="relative")
    fix(link_style="relative")

    assert {f.category for f in result.findings} == {"wrong-target"}
    assert len(result.findings) == 3
    assert os.readlink(tree.mirror / "media" / "a.txt") == "../../media/a.txt"
    assert audit_mirror(link_style="relative").clean


# escaping-link


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_escaping_link_at_a_source_name_is_found_and_replaced(tree, secret, relative):
    entry = tree.mirror / "media" / "a.txt"
    replace_with_symlink(entry, os.path.relpath(secret, entry.parent) if relative else secret)

    result = audit_mirror()
    fix()

    assert result.findings == [
        Finding(
            "escaping-link",
            "media",
            "media/a.txt",
            f"a symlink to '{secret.resolve()}', outside every trusted root",
        )
    ]
    assert entry.read_text() == "alpha"
    assert secret.read_text() == "root:x:0:0"
    assert audit_mirror().clean


def test_orphan_link_outside_every_root_is_an_escaping_link_and_is_deleted(tree, secret):
    (tree.mirror / "media" / "passwd").symlink_to(secret)

    result = audit_mirror()
    fix()

    assert result.findings == [
        Finding(
            "escaping-link",
            "media",
            "media/passwd",
            f"a symlink to '{secret.resolve()}', outside every trusted root",
        )
    ]
    assert not os.path.lexists(tree.mirror / "media" / "passwd")
    assert secret.read_text() == "root:x:0:0"  # the link was removed, never followed
    assert audit_mirror().clean


def test_symlinked_directory_leading_outside_is_an_escaping_link_and_is_replaced(tree, secret):
    photos = tree.mirror / "media" / "photos"
    shutil.rmtree(photos)
    photos.symlink_to(secret.parent, target_is_directory=True)

    result = audit_mirror()
    fix()

    assert result.findings == [
        Finding("escaping-link", "media", "media/photos", "a symlinked directory leading outside the mirror"),
        Finding("missing", "media", "media/photos/b.jpg", "the source file has no mirror entry"),
    ]
    assert not photos.is_symlink()
    assert (photos / "b.jpg").read_bytes() == b"bravo"
    assert os.listdir(secret.parent) == ["passwd"]
    assert audit_mirror().clean


def test_symlinked_source_directory_is_an_escaping_link_and_its_files_are_missing(tree, secret):
    # The whole of media/ in the mirror leads outside: an origin would serve
    # everything there. The fix unlinks it, never writing through it.
    shutil.rmtree(tree.mirror / "media")
    (secret.parent / "a.txt").write_text("alpha")
    (tree.mirror / "media").symlink_to(secret.parent, target_is_directory=True)

    result = audit_mirror()
    report = fix()

    assert result.findings == [
        Finding("escaping-link", "media", "media", "a symlinked directory leading outside the mirror"),
        Finding("missing", "media", "media/a.txt", "the source file has no mirror entry"),
        Finding("missing", "media", "media/photos/b.jpg", "the source file has no mirror entry"),
    ]
    assert report.errors == []
    assert audit_mirror().clean
    assert not (tree.mirror / "media").is_symlink()
    assert sorted(os.listdir(secret.parent)) == ["a.txt", "passwd"]
    assert (secret.parent / "a.txt").read_text() == "alpha"


def test_source_directory_linked_inside_the_mirror_is_not_a_file(tree):
    shutil.rmtree(tree.mirror / "static")
    (tree.mirror / "static").symlink_to(tree.mirror / "media", target_is_directory=True)

    result = audit_mirror()

    assert result.findings == [
        Finding("not-a-file", "static", "static", "not a directory, where the source has one"),
        Finding("missing", "static", "static/site.css", "the source file has no mirror entry"),
    ]


# kind-mismatch


def test_copy_where_a_link_belongs_is_found_and_relinked(tree):
    entry = tree.mirror / "media" / "a.txt"
    entry.unlink()
    entry.write_text("alpha")

    result = audit_mirror()
    fix()

    assert result.findings == [Finding("kind-mismatch", "media", "media/a.txt", "a copy where a link belongs")]
    assert entry.is_symlink()
    assert audit_mirror().clean


def test_symlinks_are_a_kind_mismatch_for_the_hard_style_and_become_hard_links(tree):
    result = audit_mirror(link_style="hard")
    fix(link_style="hard")

    assert [(f.name, f.detail) for f in result.findings] == [
        ("media/a.txt", "a symlink where a hard link belongs"),
        ("media/photos/b.jpg", "a symlink where a hard link belongs"),
        ("static/site.css", "a symlink where a hard link belongs"),
    ]
    assert {f.category for f in result.findings} == {"kind-mismatch"}
    assert (
        os.stat(tree.mirror / "media" / "a.txt", follow_symlinks=False).st_ino == os.stat(tree.media / "a.txt").st_ino
    )
    assert audit_mirror(link_style="hard").clean


def test_an_equal_copy_where_a_hard_link_belongs_is_clean(tree):
    fix(link_style="hard")
    entry = tree.mirror / "media" / "a.txt"
    entry.unlink()
    shutil.copy2(tree.media / "a.txt", entry)

    result = audit_mirror(link_style="hard")

    assert result.clean


def test_a_stale_copy_where_a_hard_link_belongs_is_found_and_hard_linked(tree):
    fix(link_style="hard")
    entry = tree.mirror / "media" / "a.txt"
    entry.unlink()
    entry.write_text("an older alpha")

    result = audit_mirror(link_style="hard")
    fix(link_style="hard")

    assert result.findings == [Finding("stale-copy", "media", "media/a.txt", "the copy differs from its source")]
    assert os.stat(entry).st_ino == os.stat(tree.media / "a.txt").st_ino
    assert audit_mirror(link_style="hard").clean


def test_link_into_a_root_where_a_copy_belongs_is_found_and_replaced_by_a_copy(copies):
    entry = copies.mirror / "media" / "a.txt"
    (copies.static / "site.css").write_text("body {}")
    replace_with_symlink(entry, copies.static / "site.css")

    result = audit_mirror()
    fix()

    assert result.findings == [
        Finding("kind-mismatch", "media", "media/a.txt", "a link where a copy belongs"),
        Finding("missing", "static", "static/site.css", "the source file has no mirror entry"),
    ]
    assert not entry.is_symlink()
    assert entry.read_text() == "hello"
    assert audit_mirror().clean


# stale-copy


def test_copy_of_a_grown_source_is_stale_and_is_recopied(copies):
    (copies.media / "a.txt").write_text("hello, world")

    result = audit_mirror()
    fix()

    assert result.findings == [Finding("stale-copy", "media", "media/a.txt", "the copy differs from its source")]
    assert (copies.mirror / "media" / "a.txt").read_text() == "hello, world"
    assert audit_mirror().clean


def test_copy_with_another_mtime_is_stale(copies):
    source = copies.media / "a.txt"
    mtime_ns = source.stat().st_mtime_ns + 5_000_000_000
    os.utime(source, ns=(mtime_ns, mtime_ns))

    result = audit_mirror()
    fix()

    assert [f.category for f in result.findings] == ["stale-copy"]
    assert (copies.mirror / "media" / "a.txt").stat().st_mtime_ns == mtime_ns
    assert audit_mirror().clean


def test_checksum_finds_a_copy_with_the_same_size_and_mtime_but_other_bytes(copies):
    entry = copies.mirror / "media" / "a.txt"
    mtime_ns = entry.stat().st_mtime_ns
    entry.write_text("HELLO")
    os.utime(entry, ns=(mtime_ns, mtime_ns))

    quick = audit_mirror()
    thorough = audit_mirror(checksum=True)
    fix(checksum=True)

    assert quick.clean
    assert thorough.findings == [Finding("stale-copy", "media", "media/a.txt", "the copy differs from its source")]
    assert entry.read_text() == "hello"
    assert audit_mirror(checksum=True).clean


@pytest.mark.parametrize(
    ("offset", "clean"),
    [(None, True), (0, False), ((1 << 17) - 1, False), (1 << 17, False), ((5 << 19) - 1, False)],
    ids=["equal", "first-byte", "end-of-first-chunk", "start-of-second-chunk", "last-byte"],
)
def test_checksum_compares_every_byte_of_a_file_longer_than_a_chunk(copies, offset, clean):
    data = bytes(range(256)) * (5 << 11)  # 2.5 MiB: whole chunks of 128 KiB (and of 1 MiB) and a half one
    (copies.media / "big.bin").write_bytes(data)
    collect()
    entry = copies.mirror / "media" / "big.bin"
    if offset is not None:
        mtime_ns = entry.stat().st_mtime_ns
        changed = bytearray(data)
        changed[offset] ^= 0xFF
        entry.write_bytes(bytes(changed))
        os.utime(entry, ns=(mtime_ns, mtime_ns))

    result = audit_mirror(checksum=True)

    assert result.clean is clean


# not-a-file


def test_fifo_at_an_entry_name_is_not_a_file_and_is_replaced(tree):
    entry = tree.mirror / "media" / "a.txt"
    entry.unlink()
    os.mkfifo(entry)

    result = audit_mirror()
    fix()

    assert result.findings == [Finding("not-a-file", "media", "media/a.txt", "not a regular file or a link")]
    assert entry.is_symlink()
    assert audit_mirror().clean


def test_directory_where_a_file_belongs_is_not_a_file_and_is_replaced(tree):
    entry = tree.mirror / "media" / "a.txt"
    entry.unlink()
    entry.mkdir()
    (entry / "inner.txt").write_text("inner")

    result = audit_mirror()
    report = fix()

    assert result.findings == [
        Finding("orphan", "media", "media/a.txt/inner.txt", "no source file has this name"),
        Finding("not-a-file", "media", "media/a.txt", "not a regular file or a link"),
    ]
    assert report.totals["deleted"] == 1
    assert entry.read_text() == "alpha"
    assert audit_mirror().clean


def test_file_where_the_source_has_a_directory_is_not_a_file_and_is_replaced(tree):
    photos = tree.mirror / "media" / "photos"
    shutil.rmtree(photos)
    photos.write_text("not a directory")

    result = audit_mirror()
    fix()

    assert result.findings == [
        Finding("not-a-file", "media", "media/photos", "not a directory, where the source has one"),
        Finding("missing", "media", "media/photos/b.jpg", "the source file has no mirror entry"),
    ]
    assert (photos / "b.jpg").read_bytes() == b"bravo"
    assert audit_mirror().clean


# unreadable


def test_source_directory_that_cannot_be_listed_is_unreadable(tree):
    photos = tree.media / "photos"

    def replace_photos_with_a_file() -> None:
        # The walk lists media/, reports a.txt, then lists media/photos/: in
        # between, photos/ becomes a file, so listing it fails for real.
        if photos.is_dir():
            shutil.rmtree(photos)
            photos.write_text("no longer a directory")

    result = audit_mirror(on_file=replace_photos_with_a_file)

    assert result.findings == [
        Finding("unreadable", "media", "media/photos", "The directory was replaced while it was being mirrored")
    ]
    assert result.checked == 2  # a.txt and static/site.css


def test_source_file_that_vanishes_mid_audit_is_unreadable(copies):
    (copies.media / "b.txt").write_text("bravo")
    collect()

    def remove_b() -> None:
        (copies.media / "b.txt").unlink(missing_ok=True)

    # --checksum: equal copies are then each planned, with progress between them, so the
    # removal lands between b.txt's listing and its stat (a directory's settled entries
    # are all checked before progress is told of any).
    result = audit_mirror(on_file=remove_b, checksum=True)

    assert result.findings == [Finding("unreadable", "media", "media/b.txt", "No such file or directory")]


# temp-file


def test_temp_file_of_a_dead_writer_is_found_and_removed_by_the_fix(tree):
    leftover = tree.mirror / "media" / "photos" / f".symlinkmirror-tmp-{dead_pid()}-0a1b2c"
    leftover.write_text("half a copy")

    result = audit_mirror()
    fix()

    assert result.findings == [
        Finding("temp-file", "media", f"media/photos/{leftover.name}", "left by an interrupted run")
    ]
    assert not leftover.exists()
    assert audit_mirror().clean


def test_temp_file_of_a_running_writer_is_no_finding_and_is_left_alone(tree):
    live = tree.mirror / "media" / f".symlinkmirror-tmp-{os.getpid()}-0a1b2c"
    live.write_text("being written")

    result = audit_mirror()
    fix()

    assert result.clean  # a concurrent save() about to commit it: no reason to alert
    assert live.read_text() == "being written"


# Escaping links where the walk compares nothing one by one.


def escaping(name: str, source: str, secret) -> Finding:
    return Finding("escaping-link", source, name, f"a symlink to '{secret}', outside every trusted root")


def test_an_escaping_link_inside_an_orphan_directory_is_found_and_removed_by_repair(tree, secret):
    (tree.mirror / "media" / "old").mkdir()
    (tree.mirror / "media" / "old" / "passwd.jpg").symlink_to(secret)

    result = audit_mirror()
    engine.repair(engine.configured_sources(), engine.mirror_storage(), engine.Options())

    assert result.findings == [
        escaping("media/old/passwd.jpg", "media", secret),
        Finding("orphan", "media", "media/old", "no source file has this name"),
    ]
    assert audit_mirror().clean
    assert secret.read_text() == "root:x:0:0"


def test_an_escaping_link_inside_a_directory_in_a_files_place_is_found(tree, secret):
    entry = tree.mirror / "media" / "a.txt"
    entry.unlink()
    entry.mkdir()
    (entry / "x.jpg").symlink_to(secret)

    result = audit_mirror()

    assert result.findings == [
        escaping("media/a.txt/x.jpg", "media", secret),
        Finding("not-a-file", "media", "media/a.txt", "not a regular file or a link"),
    ]


def test_an_escaping_link_under_an_ignored_name_is_found_and_unlinked_by_repair(tree, secret):
    (tree.media / ".git").mkdir()
    (tree.mirror / "media" / ".git").mkdir()
    (tree.mirror / "media" / ".git" / "config").symlink_to(secret)
    (tree.mirror / "media" / ".git" / "HEAD").write_text("ref: main")

    result = audit_mirror()
    engine.repair(engine.configured_sources(), engine.mirror_storage(), engine.Options())

    assert result.findings == [escaping("media/.git/config", "media", secret)]
    assert audit_mirror().clean
    assert not os.path.lexists(tree.mirror / "media" / ".git" / "config")
    assert (tree.mirror / "media" / ".git" / "HEAD").read_text() == "ref: main"
    assert secret.read_text() == "root:x:0:0"


def test_a_missing_source_root_whose_mirror_entries_remain_is_a_finding(tree):
    shutil.rmtree(tree.media)

    result = audit_mirror()
    report = fix()

    assert [(f.category, f.name) for f in result.findings] == [("orphan", "media")]
    assert result.findings[0].detail.endswith("yet the mirror still holds entries for it (is it mounted?)")
    assert report.totals["deleted"] == 0
    assert os.path.islink(tree.mirror / "media" / "a.txt")
