from __future__ import annotations

import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, InMemoryStorage

from symlinkmirror.paths import TEMP_PREFIX
from symlinkmirror.walk import LOCK_NAME, Item, Skipped, Source, TempFile, Unchanged, UnchangedCount, Walker

DEFAULT_IGNORES = ["CVS", ".*", "*~"]


def describe(events):
    """One comparable row per event: its type, name and what the walker decided about it."""
    rows = []
    for event in events:
        entry = getattr(event, "entry", None)
        entry_name = entry.name if entry is not None else None
        if isinstance(event, Item):
            rows.append(("Item", event.name, event.real_path, event.wants_link, entry_name))
        elif isinstance(event, Skipped):
            rows.append(("Skipped", event.name, event.reason, event.detail, entry_name))
        elif isinstance(event, TempFile):
            rows.append(("TempFile", event.mirror_name, event.path))
        elif isinstance(event, Unchanged):
            rows.append(("Unchanged", event.name))
        elif isinstance(event, UnchangedCount):
            rows.append(("UnchangedCount", event.count))
        else:
            rows.append((type(event).__name__, event.mirror_name, entry_name))
    return rows


@pytest.fixture
def tricky_tree(tmp_path):
    """A source root with every kind of entry the walker must tell apart, and a half-matching mirror."""
    root = tmp_path / "media"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "CVS").mkdir()
    (root / "CVS" / "Entries").write_text("cvs")
    (root / "a.txt").write_text("a")
    (root / ".hidden").write_text("hidden")
    (root / "b.txt~").write_text("backup")
    (root / "sub" / "c.txt").write_text("c")
    (root / "sub" / "deeper" / "d.txt").write_text("d")
    (root / "link_to_a").symlink_to("a.txt")
    (root / "linkdir").symlink_to("sub")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("x")
    (root / "escape").symlink_to(outside / "x.txt")
    os.mkfifo(root / "fifo")
    (root / "dangling").symlink_to("missing.txt")
    (root / "loop").symlink_to(".")
    mirror = tmp_path / "mirror"
    (mirror / "media" / "sub" / "deeper").mkdir(parents=True)
    (mirror / "media" / "CVS").mkdir()
    (mirror / "media" / "a.txt").symlink_to(root / "a.txt")
    (mirror / "media" / ".hidden").write_text("kept")
    (mirror / "media" / "escape").write_text("old copy")
    (mirror / "media" / "linkdir").write_text("a file where a directory belongs")
    (mirror / "media" / "sub" / "c.txt").write_text("c")
    (mirror / "media" / "sub" / "gone.txt").write_text("gone")
    (mirror / "media" / "sub" / "deeper" / f"{TEMP_PREFIX}1-abc").write_text("")
    return root, mirror


def test_walker_reports_every_kind_of_entry(tricky_tree):
    root, mirror = tricky_tree
    source = Source("media", FileSystemStorage(location=root), "media")
    real = os.path.realpath(root)

    rows = describe(Walker(source, str(mirror), (real,), ignore_patterns=DEFAULT_IGNORES, fast=True))

    outside = os.path.realpath(root.parent / "outside" / "x.txt")
    assert rows == [
        ("Kept", "media/.hidden", ".hidden"),
        ("Kept", "media/CVS", "CVS"),
        ("Item", "a.txt", f"{real}/a.txt", True, "a.txt"),
        ("Skipped", "dangling", "broken", "a symlink whose target does not exist", None),
        ("Skipped", "escape", "escaping", f"a symlink to '{outside}', outside the source root", "escape"),
        ("Skipped", "fifo", "special", "a FIFO, socket or device, not a regular file", None),
        ("Item", "link_to_a", f"{real}/a.txt", True, None),
        ("Skipped", "loop", "loop", "a symlink to one of its own parent directories", None),
        ("Orphan", "media/escape", "escape"),
        ("Blocked", "media/linkdir", "linkdir"),
        ("Item", "linkdir/c.txt", f"{real}/sub/c.txt", True, None),
        ("Item", "linkdir/deeper/d.txt", f"{real}/sub/deeper/d.txt", True, None),
        ("Item", "sub/c.txt", f"{real}/sub/c.txt", True, "c.txt"),
        ("Orphan", "media/sub/gone.txt", "gone.txt"),
        ("Item", "sub/deeper/d.txt", f"{real}/sub/deeper/d.txt", True, None),
        (
            "TempFile",
            "media/sub/deeper/.symlinkmirror-tmp-1-abc",
            f"{mirror}/media/sub/deeper/.symlinkmirror-tmp-1-abc",
        ),
    ]


@pytest.mark.parametrize("settle", [None, ("absolute", False), ("relative", False), ("absolute", True)])
def test_scandir_and_storage_listdir_walks_give_the_same_events(tricky_tree, settle):
    root, mirror = tricky_tree
    source = Source("media", FileSystemStorage(location=root), "media")
    roots = (os.path.realpath(root),)

    fast = describe(Walker(source, str(mirror), roots, ignore_patterns=DEFAULT_IGNORES, fast=True, settle=settle))
    generic = describe(Walker(source, str(mirror), roots, ignore_patterns=DEFAULT_IGNORES, fast=False, settle=settle))

    assert len(fast) == 16
    assert [row[0] for row in fast[:2]] == ["Kept", "Kept"]
    assert (fast[2][0] == "Unchanged") == (settle is not None and settle[0] == "absolute")
    assert generic == fast


def test_scandir_and_storage_listdir_walks_agree_when_following_external_links(tricky_tree):
    root, mirror = tricky_tree
    source = Source("media", FileSystemStorage(location=root), "media")
    roots = (os.path.realpath(root),)

    fast = describe(Walker(source, str(mirror), roots, follow_external=True, fast=True))
    generic = describe(Walker(source, str(mirror), roots, follow_external=True, fast=False))

    assert ("Item", "escape", os.path.realpath(root.parent / "outside" / "x.txt"), False, "escape") in fast
    assert ("Item", ".hidden", f"{os.path.realpath(root)}/.hidden", True, ".hidden") in fast
    assert generic == fast


def test_only_django_filesystem_storage_takes_the_scandir_path(tmp_path):
    class ListingStorage(FileSystemStorage):
        def listdir(self, path):
            return super().listdir(path)

    plain = Source("media", FileSystemStorage(location=tmp_path), "media")
    custom = Source("media", ListingStorage(location=tmp_path), "media")
    memory = Source("media", InMemoryStorage(), "media")

    walkers = [Walker(source, str(tmp_path / "mirror"), ()) for source in (plain, custom, memory)]

    assert [walker.fast for walker in walkers] == [True, False, False]


def test_a_storage_without_paths_is_walked_through_its_api(tmp_path):
    storage = InMemoryStorage()
    storage.save("a.txt", ContentFile(b"a"))
    storage.save("sub/deeper/b.txt", ContentFile(b"bb"))
    mirror = tmp_path / "mirror"
    (mirror / "mem").mkdir(parents=True)
    (mirror / "mem" / "a.txt").write_bytes(b"a")
    (mirror / "mem" / "stale.txt").write_bytes(b"stale")
    source = Source("mem", storage, "mem")

    events = list(Walker(source, str(mirror), (str(tmp_path),)))

    assert describe(events) == [
        ("Item", "a.txt", None, False, "a.txt"),
        ("Orphan", "mem/stale.txt", "stale.txt"),
        ("Item", "sub/deeper/b.txt", None, False, None),
    ]
    assert events[2].stat()[0] == 2
    with events[2].open() as content:
        assert content.read() == b"bb"


def test_files_outside_the_link_roots_are_not_wanted_as_links(tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.txt").write_text("a")
    source = Source("media", FileSystemStorage(location=tmp_path / "media"), "media")

    [item] = Walker(source, str(tmp_path / "mirror"), (os.path.realpath(tmp_path / "static"),))

    assert item.wants_link is False


def test_ignore_patterns_match_names_and_relative_paths(tmp_path):
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    (root / "keep.txt").write_text("k")
    (root / "drop.log").write_text("d")
    (root / "sub" / "a.txt").write_text("a")
    (root / "sub" / "b.css").write_text("b")
    (root / "skipdir").mkdir()
    (root / "skipdir" / "c.txt").write_text("c")
    source = Source("media", FileSystemStorage(location=root), "media")

    walker = Walker(source, str(tmp_path / "mirror"), (), ignore_patterns=["*.log", "sub/*.txt", "skipdir"])

    assert [event.name for event in walker] == ["keep.txt", "sub/b.css"]


def test_ignored_names_keep_their_mirror_entries_and_are_reported_as_kept(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    (root / ".hidden").write_text("h")
    mirror = tmp_path / "mirror"
    (mirror / "media").mkdir(parents=True)
    (mirror / "media" / ".hidden").write_text("h")
    (mirror / "media" / "gone.txt").write_text("g")
    source = Source("media", FileSystemStorage(location=root), "media")

    rows = describe(Walker(source, str(mirror), (), ignore_patterns=DEFAULT_IGNORES))

    assert rows == [("Kept", "media/.hidden", ".hidden"), ("Orphan", "media/gone.txt", "gone.txt")]


def test_other_sources_prefixes_and_the_lock_are_not_orphans(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    mirror = tmp_path / "mirror"
    (mirror / "media" / "thumbs").mkdir(parents=True)
    (mirror / "media" / "thumbs" / "t.jpg").write_text("t")
    (mirror / "static").mkdir()
    (mirror / "old.txt").write_text("o")
    (mirror / LOCK_NAME).write_text("123")
    source = Source("site", FileSystemStorage(location=root), "")

    rows = describe(Walker(source, str(mirror), (), reserved=frozenset({"media/thumbs", "static"})))

    assert rows == [("Orphan", "old.txt", "old.txt")]


def test_an_orphan_directory_is_one_event(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    mirror = tmp_path / "mirror"
    (mirror / "media" / "olddir" / "x").mkdir(parents=True)
    (mirror / "media" / "olddir" / "x" / "y.txt").write_text("y")
    source = Source("media", FileSystemStorage(location=root), "media")

    rows = describe(Walker(source, str(mirror), ()))

    assert rows == [("Orphan", "media/olddir", "olddir")]


def test_a_missing_source_root_is_absent_and_its_mirror_entries_are_not_orphans(tmp_path):
    source = Source("media", FileSystemStorage(location=tmp_path / "nowhere"), "media")
    (tmp_path / "mirror" / "media").mkdir(parents=True)
    (tmp_path / "mirror" / "media" / "a.txt").write_text("a")

    rows = describe(Walker(source, str(tmp_path / "mirror"), ()))

    assert rows == [("Skipped", "", "absent", f"the source directory '{tmp_path}/nowhere' does not exist", None)]


def test_a_symlinked_mirror_directory_is_blocked_not_followed(tmp_path):
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("a")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.txt").write_text("a")
    (elsewhere / "other.txt").write_text("o")
    mirror = tmp_path / "mirror"
    (mirror / "media").mkdir(parents=True)
    (mirror / "media" / "sub").symlink_to(elsewhere, target_is_directory=True)
    source = Source("media", FileSystemStorage(location=root), "media")

    rows = describe(Walker(source, str(mirror), ()))

    assert rows == [
        ("Blocked", "media/sub", "sub"),
        ("Item", "sub/a.txt", f"{os.path.realpath(root)}/sub/a.txt", False, None),
    ]


def test_a_symlink_through_a_regular_file_is_broken_not_unreadable(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    (root / "a.txt").write_text("a")
    (root / "through").symlink_to("a.txt/x")
    source = Source("media", FileSystemStorage(location=root), "media")

    rows = describe(Walker(source, str(tmp_path / "mirror"), ()))

    assert rows[1] == ("Skipped", "through", "broken", "a symlink whose target does not exist", None)


@pytest.fixture
def settled_tree(tmp_path):
    """Linked media and copied static files, with a mirror holding right, wrong and missing entries."""
    media, static, mirror = tmp_path / "media", tmp_path / "static", tmp_path / "mirror"
    media.mkdir()
    static.mkdir()
    (media / "a.txt").write_text("a")
    (media / "b.txt").write_text("b")
    (media / "c.txt").write_text("c")
    (static / "d.css").write_text("d")
    (static / "e.css").write_text("e")
    (mirror / "media").mkdir(parents=True)
    (mirror / "static").mkdir()
    (mirror / "media" / "a.txt").symlink_to(os.path.realpath(media / "a.txt"))
    (mirror / "media" / "b.txt").symlink_to(os.path.realpath(media / "c.txt"))
    (mirror / "media" / "c.txt").write_text("c")
    for name, content in (("d.css", "d"), ("e.css", "E")):
        (mirror / "static" / name).write_text(content)
        source_ns = (static / name).stat().st_mtime_ns
        os.utime(mirror / "static" / name, ns=(source_ns, source_ns))
    roots = (os.path.realpath(media),)
    media_source = Source("media", FileSystemStorage(location=media), "media")
    static_source = Source("static", FileSystemStorage(location=static), "static")
    return media_source, static_source, str(mirror), roots


def test_settling_yields_unchanged_for_the_right_link_and_an_equal_copy(settled_tree):
    media, static, mirror, roots = settled_tree

    rows = [describe(Walker(source, mirror, roots, settle=("absolute", False))) for source in (media, static)]

    assert [row[:2] for row in rows[0]] == [("Unchanged", "a.txt"), ("Item", "b.txt"), ("Item", "c.txt")]
    assert rows[1] == [("Unchanged", "d.css"), ("Unchanged", "e.css")]


def test_settling_with_checksum_leaves_copies_to_compare(settled_tree):
    _media, static, mirror, roots = settled_tree

    rows = describe(Walker(static, mirror, roots, settle=("absolute", True)))

    assert [row[:2] for row in rows] == [("Item", "d.css"), ("Item", "e.css")]


def test_settling_without_listing_counts_per_directory(settled_tree):
    media, static, mirror, roots = settled_tree
    walkers = [
        Walker(source, mirror, roots, settle=("absolute", False), report_unchanged=False) for source in (media, static)
    ]

    rows = [describe(walker) for walker in walkers]

    assert [row[:2] for row in rows[0]] == [("Item", "b.txt"), ("Item", "c.txt"), ("UnchangedCount", 1)]
    assert rows[1] == [("UnchangedCount", 2)]
    assert [walker.unchanged for walker in walkers] == [1, 2]


@pytest.mark.parametrize("fast", [True, False], ids=["scandir", "listdir"])
def test_a_directory_swapped_for_a_symlink_after_listing_is_not_followed(tmp_path, fast):
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "sub" / "x.txt").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0")
    source = Source("media", FileSystemStorage(location=root), "media")
    rows = []

    for event in Walker(source, str(tmp_path / "mirror"), (str(root),), fast=fast):
        rows.append(describe([event])[0])
        if isinstance(event, Item) and event.name == "a.txt":
            # The root was listed with sub/ a real directory; swap it now.
            (root / "sub").rename(root / "sub.old")
            (root / "sub").symlink_to(outside, target_is_directory=True)

    assert rows == [
        ("Item", "a.txt", str(root / "a.txt"), True, None),
        ("Skipped", "sub", "unreadable", "The directory was replaced while it was being mirrored", None),
    ]
