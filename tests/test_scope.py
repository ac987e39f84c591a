"""Scoped runs: parts of the sources reconciled through the plan, each mirror directory by exactly one part."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage

from symlinkmirror import engine
from symlinkmirror.engine import Part, Scope
from symlinkmirror.lock import MirrorError
from symlinkmirror.sources import Source
from symlinkmirror.storage import SymlinkOrCopyStorage
from tests.test_engine import snapshot


def build_tree(media: Path) -> None:
    for top in ("a", "b", "c"):
        for sub in ("x", "y"):
            directory = media / top / sub
            directory.mkdir(parents=True)
            for i in range(3):
                (directory / f"f{i}.txt").write_text(f"{top}/{sub}/{i}")
        (media / top / "top.txt").write_text(top)
    (media / "root.txt").write_text("root")


def damage(media: Path, mirror: Path) -> None:
    """Changes a refresh must see: a new file, a deleted one, a replaced directory, an orphan tree, a stray file."""
    (media / "a" / "x" / "new.txt").write_text("new")
    (media / "b" / "y" / "f1.txt").unlink()
    shutil.rmtree(media / "c" / "x")
    (media / "c" / "x").write_text("now a file")
    (mirror / "media" / "b" / "orphan").mkdir()
    (mirror / "media" / "b" / "orphan" / "gone.txt").write_text("gone")
    (mirror / "media" / "a" / "y" / "f0.txt").unlink()
    (media / "a" / "to_b").symlink_to(media / "b")  # a directory another part walks: a duplicate, as in a whole run
    (media / "c" / "up").symlink_to(media)  # the source's root, the crown's


def site(base: Path) -> tuple[Path, Path, list[Source], SymlinkOrCopyStorage]:
    media, mirror_dir = base / "media", base / "mirror"
    media.mkdir(parents=True)
    build_tree(media)
    mirror = SymlinkOrCopyStorage(location=mirror_dir, base_url="/", symlink_within=[media])
    return media, mirror_dir, [Source("media", FileSystemStorage(location=media), "media")], mirror


def changed(report: engine.Report) -> dict[str, int]:
    return {action: count for action, count in report.totals.items() if count}


def by_parts(sources: list[Source], mirror: SymlinkOrCopyStorage, options: engine.Options) -> dict[str, int]:
    """The tree cut as a distributed run cuts it: the crown above, one part per top directory; the summed counts."""
    crown = Scope((Part("media", "", excluded=frozenset({"a", "b", "c"})),), unmanaged=True)
    totals: dict[str, int] = {}
    for scope in (crown, *(Scope((Part("media", top),)) for top in ("a", "b", "c"))):
        for action, count in changed(engine.collect(sources, mirror, options, scope=scope)).items():
            totals[action] = totals.get(action, 0) + count
    return totals


def kinds(mirror_dir: Path) -> dict[str, tuple]:
    """Each entry's kind, and where a link leads relative to its tree's base."""
    base = mirror_dir.parent.resolve()
    return {
        rel: (entry[0], os.path.relpath(os.path.realpath(mirror_dir / rel), base) if entry[0] == "link" else "")
        for rel, entry in snapshot(mirror_dir).items()
    }


def test_the_parts_of_a_partition_do_what_one_whole_run_does(tmp_path):
    options = engine.Options(delete=True)
    whole_media, whole_mirror, whole_sources, whole_storage = site(tmp_path / "whole")
    part_media, part_mirror, part_sources, part_storage = site(tmp_path / "parts")
    first = (
        changed(engine.collect(whole_sources, whole_storage, options)),
        by_parts(part_sources, part_storage, options),
    )
    damage(whole_media, whole_mirror)
    damage(part_media, part_mirror)
    refresh = (
        changed(engine.collect(whole_sources, whole_storage, options)),
        by_parts(part_sources, part_storage, options),
    )
    assert first[0] == first[1]
    assert refresh[0] == refresh[1]
    assert refresh[0]["deleted"] >= 2 and refresh[0]["linked"] >= 2  # the refresh had work to do
    assert kinds(part_mirror) == kinds(whole_mirror)
    assert not (part_mirror / "media" / "a" / "to_b").exists() and not (part_mirror / "media" / "c" / "up").exists()
    assert engine.verify(part_sources, part_storage).clean


def test_a_part_leaves_the_subdirectories_it_excludes_alone_even_with_delete(tmp_path):
    media, mirror_dir, sources, mirror = site(tmp_path)
    engine.collect(sources, mirror, engine.Options())
    (media / "a" / "x" / "later.txt").write_text("later")
    scope = Scope((Part("media", "a", excluded=frozenset({"a/x"})),))
    report = engine.collect(sources, mirror, engine.Options(delete=True), scope=scope)
    assert report.totals["deleted"] == 0
    assert (mirror_dir / "media" / "a" / "x" / "f0.txt").is_symlink()
    assert not (mirror_dir / "media" / "a" / "x" / "later.txt").exists()


def test_a_shallow_part_builds_a_new_subdirectory_whole_and_leaves_a_mirrored_one_alone(tmp_path):
    media, mirror_dir, sources, mirror = site(tmp_path)
    engine.collect(sources, mirror, engine.Options())
    (media / "a" / "late.txt").write_text("late")
    (media / "a" / "x" / "deep.txt").write_text("deep")
    (media / "a" / "moved" / "in").mkdir(parents=True)
    (media / "a" / "moved" / "in" / "m.txt").write_text("moved in")
    scope = Scope((Part("media", "a", shallow=True),))
    report = engine.collect(sources, mirror, engine.Options(delete=True), scope=scope)
    assert report.totals["linked"] == 2
    assert (mirror_dir / "media" / "a" / "late.txt").is_symlink()
    assert (mirror_dir / "media" / "a" / "moved" / "in" / "m.txt").is_symlink()
    assert not (mirror_dir / "media" / "a" / "x" / "deep.txt").exists()


def test_a_part_of_names_reconciles_exactly_those_names(tmp_path):
    media, mirror_dir, sources, mirror = site(tmp_path)
    engine.collect(sources, mirror, engine.Options())
    (media / "a" / "saved.txt").write_text("saved")
    (media / "a" / "unnamed.txt").write_text("not named")
    (media / "a" / "top.txt").unlink()
    (mirror_dir / "media" / "a" / "stray.txt").write_text("stray")
    scope = Scope((Part("media", "a", names=frozenset({"saved.txt", "top.txt", "absent.txt"})),))
    events: list[engine.FileEvent] = []
    engine.collect(sources, mirror, engine.Options(delete=True), scope=scope, on_event=events.append)
    assert sorted((str(e.action), e.name) for e in events) == [
        ("deleted", "media/a/top.txt"),
        ("linked", "media/a/saved.txt"),
    ]
    assert not (mirror_dir / "media" / "a" / "unnamed.txt").exists()
    assert (mirror_dir / "media" / "a" / "stray.txt").exists()


def test_a_part_whose_directory_is_gone_or_a_symlink_does_nothing(tmp_path):
    media, mirror_dir, sources, mirror = site(tmp_path)
    engine.collect(sources, mirror, engine.Options())
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    shutil.rmtree(media / "c")
    (media / "c").symlink_to(outside)
    for rel in ("c", "gone", "c/x"):
        report = engine.collect(sources, mirror, engine.Options(delete=True), scope=Scope((Part("media", rel),)))
        assert not any(report.totals.values()), rel
    assert not (mirror_dir / "media" / "c" / "secret.txt").exists()
    assert (mirror_dir / "media" / "c" / "x" / "f0.txt").is_symlink()  # its parent's part reconciles it


def test_a_part_past_its_deadline_hands_off_its_unvisited_subdirectories(tmp_path):
    media, mirror_dir, sources, mirror = site(tmp_path)
    scope = Scope((Part("media", ""),), unmanaged=True, deadline=time.monotonic() - 1)
    report = engine.collect(sources, mirror, engine.Options(delete=True), scope=scope)
    handed = sorted(part.rel for part in report.handed_off)
    assert handed == ["a", "b", "c"]
    assert report.totals["linked"] == 1  # root.txt: the root's own entries are the part's to finish
    for part in report.handed_off:
        engine.collect(sources, mirror, engine.Options(delete=True), scope=Scope((part,)))
    assert engine.verify(sources, mirror).clean
    assert (mirror_dir / "media" / "c" / "y" / "f2.txt").is_symlink()


def test_verify_of_a_part_reports_that_part_only(tmp_path):
    media, mirror_dir, sources, mirror = site(tmp_path)
    engine.collect(sources, mirror, engine.Options())
    (media / "a" / "x" / "new.txt").write_text("new")
    (media / "b" / "x" / "new.txt").write_text("new")
    found = engine.verify(sources, mirror, scope=Scope((Part("media", "b"),)))
    assert [finding.name for finding in found.findings] == ["media/b/x/new.txt"]
    assert found.checked == 8  # b: x with the new file, y, top.txt


def test_a_source_that_keeps_generations_cannot_be_run_by_parts(tmp_path):
    media, mirror_dir, sources, mirror = site(tmp_path)
    keeping = [Source("media", sources[0].storage, "media", generations=3)]
    with pytest.raises(MirrorError, match="generations"):
        engine.collect(keeping, mirror, engine.Options(), scope=Scope((Part("media", "a"),)))
    with pytest.raises(MirrorError, match="names no source"):
        engine.collect(sources, mirror, engine.Options(), scope=Scope((Part("static", "a"),)))


@pytest.mark.parametrize("rel", ["../up", "a/../b", "/abs/../x", "."])
def test_a_part_is_a_plain_relative_directory(rel):
    with pytest.raises(ValueError, match="Part.rel"):
        Part("media", rel)
