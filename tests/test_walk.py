"""The walk on real trees: every kind of entry, hostile shapes, any storage's listing."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, InMemoryStorage

from symlinkmirror import engine
from symlinkmirror.directories import Directory
from symlinkmirror.paths import TEMP_PREFIX
from symlinkmirror.sources import Source
from symlinkmirror.storage import SymlinkOrCopyStorage
from symlinkmirror.walk import Walk
from tests.remote import RemoteStorage

DEFAULT_IGNORES = ["CVS", ".*", "*~"]


def rows(walk: Walk) -> list[tuple]:
    """One comparable row per pair: its name, what the source has and what the mirror has."""
    described = []
    for pair in walk:
        src = pair.src
        if src is None:
            source = None
        elif src.error is not None:
            source = ("error", src.error)
        elif src.skip is not None:
            source = (str(src.skip), src.detail)
        else:
            source = (str(src.kind), src.real_path, src.wants_link)
        described.append((pair.name, source, None if pair.dst is None else str(pair.dst.kind), str(pair.role)))
    return described


def walk(source: Source, mirror: Path, roots: tuple[str, ...] = (), **options) -> Walk:
    root = os.path.realpath(mirror)
    return Walk(source, Directory(None, root, root), link_roots=roots, **options)


@pytest.fixture
def tricky_tree(tmp_path):
    """A source root with every kind of entry the walk must tell apart, and a half-matching mirror."""
    root = tmp_path / "media"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "CVS").mkdir()
    (root / "a.txt").write_text("a")
    (root / ".hidden").write_text("hidden")
    (root / "sub" / "c.txt").write_text("c")
    (root / "sub" / "deeper" / "d.txt").write_text("d")
    (root / "link_to_a").symlink_to("a.txt")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("x")
    (root / "escape").symlink_to(outside / "x.txt")
    os.mkfifo(root / "fifo")
    (root / "dangling").symlink_to("missing.txt")
    (root / "loop").symlink_to(".")
    mirror = tmp_path / "mirror"
    (mirror / "media" / "sub" / "deeper").mkdir(parents=True)
    (mirror / "media" / "a.txt").symlink_to(root / "a.txt")
    (mirror / "media" / ".hidden").write_text("kept")
    (mirror / "media" / "escape").write_text("old copy")
    (mirror / "media" / "sub" / "gone.txt").write_text("gone")
    (mirror / "media" / "sub" / "deeper" / f"{TEMP_PREFIX}1-abc").write_text("")
    return root, mirror


@pytest.mark.parametrize("fast", [True, False], ids=["scandir", "listdir"])
def test_the_walk_pairs_every_kind_of_entry_in_name_order(tricky_tree, fast):
    root, mirror = tricky_tree
    source = Source("media", FileSystemStorage(location=root), "media")
    real = os.path.realpath(root)

    found = rows(walk(source, mirror, (real,), ignore_patterns=DEFAULT_IGNORES, fast=fast, descend_orphans=True))

    outside = os.path.realpath(root.parent / "outside" / "x.txt")
    assert found == [
        ("media", ("directory", None, False), "directory", "managed"),
        ("media/.hidden", None, "file", "kept"),
        ("media/a.txt", ("file", f"{real}/a.txt", True), "symlink", "managed"),
        ("media/dangling", ("broken-link", "a symlink whose target does not exist"), None, "managed"),
        (
            "media/escape",
            ("escaping-link", f"a symlink to '{outside}', outside the source root and every trusted root"),
            "file",
            "managed",
        ),
        ("media/fifo", ("special", "a FIFO, socket or device, not a regular file"), None, "managed"),
        ("media/link_to_a", ("file", f"{real}/a.txt", True), None, "managed"),
        ("media/sub", ("directory", None, False), "directory", "managed"),
        ("media/sub/c.txt", ("file", f"{real}/sub/c.txt", True), None, "managed"),
        ("media/sub/gone.txt", None, "file", "managed"),
        ("media/sub/deeper", ("directory", None, False), "directory", "managed"),
        ("media/sub/deeper/d.txt", ("file", f"{real}/sub/deeper/d.txt", True), None, "managed"),
        (f"media/sub/deeper/{TEMP_PREFIX}1-abc", None, "file", "managed"),
        ("media/loop", ("loop", "a symlink to one of its own parent directories"), None, "managed"),
    ]


def test_only_django_filesystem_storage_takes_the_scandir_path(tmp_path):
    class ListingStorage(FileSystemStorage):
        def listdir(self, path):
            return super().listdir(path)

    sources = [
        Source("media", FileSystemStorage(location=tmp_path), "media"),
        Source("media", ListingStorage(location=tmp_path), "media"),
        Source("media", InMemoryStorage(), "media"),
    ]

    assert [walk(source, tmp_path / "mirror").fast for source in sources] == [True, False, False]


def test_a_storage_without_paths_is_walked_through_its_api(tmp_path):
    storage = InMemoryStorage()
    storage.save("a.txt", ContentFile(b"a"))
    storage.save("sub/deeper/b.txt", ContentFile(b"bb"))
    mirror = tmp_path / "mirror"
    (mirror / "mem").mkdir(parents=True)
    (mirror / "mem" / "stale.txt").write_bytes(b"stale")

    pairs = list(walk(Source("mem", storage, "mem"), mirror))

    assert [(pair.name, pair.src is None) for pair in pairs] == [
        ("mem", False),
        ("mem/a.txt", False),
        ("mem/stale.txt", True),
        ("mem/sub", False),
        ("mem/sub/deeper", False),
        ("mem/sub/deeper/b.txt", False),
    ]
    assert pairs[-1].src.stat()[0] == 2
    with pairs[-1].src.open() as content:
        assert content.read() == b"bb"


def test_a_source_tree_600_directories_deep_is_walked_without_recursion(tmp_path, settings):
    media, mirror_dir = tmp_path / "media", tmp_path / "mirror"
    deep = media.joinpath(*["d"] * 600)
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("the bottom")
    mirror = SymlinkOrCopyStorage(location=mirror_dir, symlink_within=[media])
    sources = [Source("media", FileSystemStorage(location=media), "media")]

    report = engine.collect(sources, mirror, engine.Options(delete=True))
    verified = engine.verify(sources, mirror)

    assert report.summary() == "1 file linked, 0 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 0 failed."
    assert verified.clean
    assert (mirror_dir / "media").joinpath(*["d"] * 600, "bottom.txt").read_text() == "the bottom"


def test_a_directory_graph_of_symlinks_is_mirrored_once_per_directory_not_once_per_path(tmp_path):
    # d0/a and d0/b both lead to d1, d1's to d2, and so on: 2**12 paths to one file.
    media, mirror_dir = tmp_path / "media", tmp_path / "mirror"
    levels = 12
    for level in range(levels + 1):
        (media / f"d{level}").mkdir(parents=True)
    for level in range(levels):
        for name in ("a", "b"):
            (media / f"d{level}" / name).symlink_to(f"../d{level + 1}", target_is_directory=True)
    (media / f"d{levels}" / "leaf.txt").write_text("leaf")
    mirror = SymlinkOrCopyStorage(location=mirror_dir, symlink_within=[media])
    sources = [Source("media", FileSystemStorage(location=media), "media")]

    report = engine.collect(sources, mirror)

    entries = [path for path in (mirror_dir / "media").rglob("*") if not path.is_dir()]
    assert [path.relative_to(mirror_dir).as_posix() for path in entries] == [f"media/d{levels}/leaf.txt"]
    assert report.totals["skipped"] == 2 * levels  # each other path reported once
    assert engine.verify(sources, mirror).clean


def remote_site(tmp_path, storage):
    mirror = SymlinkOrCopyStorage(location=tmp_path / "mirror", base_url="/", symlink_within=[tmp_path])
    return [Source("remote", storage, "remote")], mirror


def test_a_key_that_is_both_a_file_and_a_directory_converges_the_directory_wins(tmp_path):
    storage = RemoteStorage({"reports": b"a file", "reports/2024.pdf": b"%PDF"})
    sources, mirror = remote_site(tmp_path, storage)
    first_events, second_events = [], []

    first = engine.collect(sources, mirror, engine.Options(delete=True), on_event=first_events.append)
    second = engine.collect(sources, mirror, engine.Options(delete=True), on_event=second_events.append)

    assert [event.message for event in first_events] == [
        "Skipping 'remote/reports' (the storage lists a directory of the same name, which is mirrored instead)",
        "Copying 'remote/reports/2024.pdf'",
    ]
    assert first.failed == second.failed == 0
    assert [event.message for event in second_events if event.changed] == []  # no purge churn
    assert (tmp_path / "mirror" / "remote" / "reports" / "2024.pdf").read_bytes() == b"%PDF"


def test_a_download_refused_by_a_storage_fails_that_file_and_the_run_goes_on(tmp_path):
    storage = RemoteStorage({"a.txt": b"a", "archived.txt": b"old", "b.txt": b"b"}, refuse={"archived.txt"})
    sources, mirror = remote_site(tmp_path, storage)
    err = io.StringIO()

    report = engine.collect(sources, mirror, on_event=lambda event: err.write(event.message + "\n"))

    assert report.summary() == "0 files linked, 2 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 1 failed."
    assert report.errors == [("remote", "remote/archived.txt", "InvalidObjectState: the object is archived")]


def test_a_directory_a_storage_cannot_list_fails_and_nothing_of_it_is_deleted(tmp_path):
    files = {"a.txt": b"a", "docs/guide.pdf": b"%PDF"}
    sources, mirror = remote_site(tmp_path, RemoteStorage(files))
    engine.collect(sources, mirror)
    sources = [Source("remote", RemoteStorage(files, unlistable={"docs"}), "remote")]

    report = engine.collect(sources, mirror, engine.Options(delete=True))
    verified = engine.verify(sources, mirror)

    assert report.errors == [("remote", "remote/docs", "Could not connect to the endpoint URL listing 'docs'")]
    assert (tmp_path / "mirror" / "remote" / "docs" / "guide.pdf").read_bytes() == b"%PDF"
    assert [(f.category, f.name) for f in verified.findings] == [("unreadable", "remote/docs")]


def test_a_source_root_a_storage_cannot_list_is_one_failure_naming_the_source(tmp_path):
    sources, mirror = remote_site(tmp_path, RemoteStorage({"a.txt": b"a"}))
    engine.collect(sources, mirror)
    sources = [Source("remote", RemoteStorage({}, unlistable={""}), "remote")]

    report = engine.collect(sources, mirror, engine.Options(delete=True))

    assert report.errors == [("remote", "remote", "Could not connect to the endpoint URL listing ''")]
    assert (tmp_path / "mirror" / "remote" / "a.txt").read_bytes() == b"a"


def test_options_are_checked_when_built_and_an_unknown_keyword_is_an_error(tmp_path):
    with pytest.raises(TypeError):
        engine.Options(dryrun=True)
    with pytest.raises(ValueError, match="link_style"):
        engine.Options(link_style="soft")
    with pytest.raises(ValueError, match="workers"):
        engine.Options(workers=0)
    with pytest.raises(TypeError):
        engine.collect([], SymlinkOrCopyStorage(location=tmp_path), engine.Options(), dry_run=True)
    assert not (tmp_path / ".symlinkmirror.lock").exists()  # the dropped keyword wrote nothing
