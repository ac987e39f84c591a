"""Mirror generations: the layout, the atomic switch, what a generation keeps, pruning, rollback, audit and repair.

Real trees under tmp_path, real symlinks and hard links; the engine is called
directly, the commands through call_command.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.core.management.base import CommandError
from werkzeug import Response

from symlinkmirror import carry, engine, generations
from symlinkmirror.generation_audit import LEFTOVER
from symlinkmirror.generational import NO_SYMLINKS
from symlinkmirror.paths import GENERATIONS_DIR, TEMP_PREFIX
from symlinkmirror.report import GenerationEvent
from symlinkmirror.sources import Source
from symlinkmirror.storage import SymlinkOrCopyStorage
from symlinkmirror.vocab import GenerationAction
from tests.test_engine import snapshot

ID = re.compile(r"\d{8}-\d{8}T\d{6}Z")


@dataclass
class Site:
    """media (linked) and static (copied), each keeping three generations, and their mirror."""

    base: Path
    media: Path
    static: Path
    mirror_dir: Path
    mirror: SymlinkOrCopyStorage
    sources: list[Source]

    def source(self, name: str) -> Source:
        return next(source for source in self.sources if source.name == name)

    def keep(self, name: str, generations: int) -> None:
        """Change one source's 'generations' (0: in place), as editing SYMLINKMIRROR_SOURCES would."""
        self.sources = [replace(s, generations=generations) if s.name == name else s for s in self.sources]

    def home(self, prefix: str = "static") -> Path:
        return self.mirror_dir / GENERATIONS_DIR / prefix

    def ids(self, prefix: str = "static") -> list[str]:
        return sorted(name for name in os.listdir(self.home(prefix)) if ID.fullmatch(name))

    def served(self, prefix: str = "static") -> str:
        return os.readlink(self.mirror_dir / prefix).rpartition("/")[2]

    def entry(self, gid: str, name: str, prefix: str = "static") -> Path:
        return self.home(prefix) / gid / name


def make_site(base: Path, *, link_style: str | None = None, keep: int = 3) -> Site:
    media, static, mirror_dir = base / "media", base / "static", base / "mirror"
    (media / "photos").mkdir(parents=True)
    (static / "css").mkdir(parents=True)
    (media / "photos" / "a.jpg").write_bytes(b"jpeg a")
    (static / "css" / "app.css").write_text("v1")
    (static / "old.css").write_text("old")
    (static / "app.js").write_text("run()")
    mirror = SymlinkOrCopyStorage(location=mirror_dir, base_url="/", symlink_within=[media], link_style=link_style)
    sources = [
        Source("media", FileSystemStorage(location=media), "media", generations=keep),
        Source("static", FileSystemStorage(location=static), "static", generations=keep),
    ]
    return Site(base, media, static, mirror_dir, mirror, sources)


@pytest.fixture
def site(tmp_path) -> Site:
    return make_site(tmp_path)


def collect(site: Site, **options) -> tuple[engine.Report, list[str]]:
    events = []
    report = engine.collect(site.sources, site.mirror, engine.Options(**options), on_event=events.append)
    return report, [event.message for event in events]


def changed(site: Site, **options) -> list[str]:
    """The messages of a run, without its unmodified files."""
    return [message for message in collect(site, **options)[1] if "(not modified)" not in message]


def rollback(site: Site, **options) -> tuple[engine.Report, list[str]]:
    events = []
    report = engine.rollback(site.sources, site.mirror, engine.Options(**options), on_event=events.append)
    return report, [event.message for event in events]


def findings(site: Site) -> list[tuple[str, str, str]]:
    result = engine.verify(site.sources, site.mirror)
    return [(str(finding.category), finding.name, finding.detail) for finding in result.findings]


def rewrite(path: Path, text: str) -> None:
    """Give path new content and a new mtime, as collectstatic would."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def publish_changes(site: Site, count: int) -> list[str]:
    """count more generations of static, each from a new app.css; their ids."""
    for index in range(count):
        rewrite(site.static / "css" / "app.css", f"change {index}")
        collect(site, delete=True)
    return site.ids()


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """chattr +i: link(2) of the file fails with EPERM, and nothing is made or renamed in the directory."""
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


# The layout and the switch.


def test_the_first_run_serves_each_source_from_its_first_generation_through_a_relative_symlink(site):
    report, messages = collect(site)

    media_id, static_id = site.served("media"), site.served("static")
    assert ID.fullmatch(static_id) and static_id.startswith("00000001-")
    assert os.readlink(site.mirror_dir / "static") == f"{GENERATIONS_DIR}/static/{static_id}"
    assert (site.mirror_dir / "static" / "css" / "app.css").read_text() == "v1"
    assert (site.mirror_dir / "media" / "photos" / "a.jpg").read_bytes() == b"jpeg a"
    assert os.readlink(site.entry(media_id, "photos/a.jpg", "media")) == os.path.realpath(site.media / "photos/a.jpg")
    assert messages == [
        "Linking 'media/photos/a.jpg'",
        "Copying 'static/app.js'",
        "Copying 'static/old.css'",
        "Copying 'static/css/app.css'",
    ]
    assert report.generations == [
        GenerationEvent("media", GenerationAction.PUBLISHED, media_id),
        GenerationEvent("static", GenerationAction.PUBLISHED, static_id),
    ]
    assert report.generations[1].message == f"Published generation '{static_id}' of 'static'."
    assert sorted(os.listdir(site.home())) == [static_id]  # nothing half-built, no manifest of nothing


def test_a_prefix_of_several_components_links_up_to_the_generations_folder(tmp_path):
    site = make_site(tmp_path)
    site.sources = [replace(site.source("static"), prefix="site/static")]

    collect(site)

    gid = os.listdir(site.home("site/static"))[0]
    assert os.readlink(site.mirror_dir / "site" / "static") == f"../{GENERATIONS_DIR}/site/static/{gid}"
    assert (site.mirror_dir / "site" / "static" / "old.css").read_text() == "old"


def test_a_new_generation_is_switched_in_by_renaming_a_symlink_over_the_prefix(site, monkeypatch):
    collect(site)
    calls = []
    for name in ("replace", "rename", "unlink", "rmdir", "symlink"):
        real = getattr(os, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append((_name, *(arg for arg in args if isinstance(arg, str))))
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    rewrite(site.static / "css" / "app.css", "v2")

    collect(site)

    on_prefix = [call for call in calls if "static" in call[1:]]
    assert [call[0] for call in on_prefix] == ["replace"]  # one rename(2) over it: never unlinked first
    assert on_prefix[0][1].startswith(TEMP_PREFIX)
    assert (site.mirror_dir / "static" / "css" / "app.css").read_text() == "v2"


def test_a_reader_never_finds_the_prefix_missing_while_generations_are_switched(site):
    collect(site)
    misses, reads, done = [], [0], threading.Event()

    def reader():
        while not done.is_set():
            try:
                (site.mirror_dir / "static" / "app.js").read_text()
                reads[0] += 1
            except OSError as exc:
                misses.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        publish_changes(site, 15)
    finally:
        done.set()
        thread.join()

    assert misses == []
    assert reads[0] > 0


def test_a_source_with_no_files_publishes_no_generation_and_says_so(site):
    for path in (site.static / "css" / "app.css", site.static / "old.css", site.static / "app.js"):
        path.unlink()

    report, _messages = collect(site)

    assert not (site.mirror_dir / "static").exists()
    assert report.generations[1].message == (
        "Nothing to publish for 'static': it has no files, and no generation is served yet."
    )


# What a generation shares with the one before it, which it never writes.


def test_a_new_generation_shares_every_unchanged_entry_with_the_previous_by_inode(site):
    collect(site)
    first_media, first_static = site.served("media"), site.served("static")
    (site.media / "photos" / "b.jpg").write_bytes(b"jpeg b")
    rewrite(site.static / "css" / "app.css", "v2")

    collect(site)

    second_media, second_static = site.served("media"), site.served("static")
    assert second_static != first_static and second_media != first_media

    def inode(gid, name, prefix):
        return os.lstat(site.entry(gid, name, prefix)).st_ino

    assert inode(first_static, "app.js", "static") == inode(second_static, "app.js", "static")  # a copy
    assert inode(first_media, "photos/a.jpg", "media") == inode(second_media, "photos/a.jpg", "media")  # a symlink
    assert site.entry(second_media, "photos/a.jpg", "media").is_symlink()
    assert inode(first_static, "css/app.css", "static") != inode(second_static, "css/app.css", "static")


def test_replacing_a_copy_never_changes_the_bytes_or_mtime_of_the_previous_generations_copy(site):
    collect(site)
    first = site.served()
    old_copy = site.entry(first, "css/app.css")
    before = (old_copy.read_bytes(), old_copy.stat().st_mtime_ns, old_copy.stat().st_ino)
    rewrite(site.static / "css" / "app.css", "v2, longer than v1")

    collect(site)

    assert (old_copy.read_bytes(), old_copy.stat().st_mtime_ns, old_copy.stat().st_ino) == before
    assert site.entry(site.served(), "css/app.css").read_text() == "v2, longer than v1"


def test_the_generation_served_is_never_written_whatever_the_next_one_changes(site, tmp_path):
    (site.static / "becomes-a-file").mkdir()
    (site.static / "becomes-a-file" / "x.css").write_text("x")
    (site.static / "becomes-a-dir").write_text("a file first")
    collect(site, delete=True)
    first = site.home() / site.served()
    (first / f"{TEMP_PREFIX}999999999-0123456789ab").write_text("left by a dead writer")
    os.symlink("/etc/passwd", first / "planted.css")  # planted: escaping, deleted at once
    before = snapshot(first)
    rewrite(site.static / "css" / "app.css", "v2")  # a copy replaced
    rewrite(site.media / "photos" / "a.jpg", "jpeg a, edited")  # changed content behind a link
    (site.static / "old.css").unlink()  # carried
    (site.static / "fresh" / "deep").mkdir(parents=True)
    (site.static / "fresh" / "deep" / "new.js").write_text("new")  # created in new directories
    (site.static / "becomes-a-file" / "x.css").unlink()
    (site.static / "becomes-a-file").rmdir()
    (site.static / "becomes-a-file").write_text("now a file")  # a directory where a file belongs
    (site.static / "becomes-a-dir").unlink()
    (site.static / "becomes-a-dir").mkdir()
    (site.static / "becomes-a-dir" / "y.css").write_text("y")  # a file where a directory belongs

    for workers in (1, 2):
        collect(site, delete=True, checksum=True, workers=workers)
        rewrite(site.static / "css" / "app.css", f"v{workers + 2}")

    assert snapshot(first) == before
    served = site.mirror_dir / "static"
    assert (served / "becomes-a-file").read_text() == "now a file"
    assert (served / "becomes-a-dir" / "y.css").read_text() == "y"
    assert (served / "fresh" / "deep" / "new.js").read_text() == "new"
    assert not (served / "planted.css").is_symlink()
    assert findings(site) == [("stale-copy", "static/css/app.css", "the copy differs from its source")]


def test_a_file_that_cannot_be_hard_linked_is_copied_into_the_new_generation_with_its_mode_and_mtime(site):
    collect(site)
    first = site.served()
    served = site.entry(first, "app.js")
    os.chmod(served, 0o640)
    with immutable(served):  # link(2) fails with EPERM, as at an inode's link limit
        rewrite(site.static / "css" / "app.css", "v2")
        collect(site)
        second = site.served()

        copy = site.entry(second, "app.js")
        assert second != first
        assert copy.read_text() == "run()" and not os.path.samestat(copy.stat(), served.stat())
        assert stat.S_IMODE(copy.stat().st_mode) == 0o640
        assert copy.stat().st_mtime_ns == served.stat().st_mtime_ns
        assert not [name for name in os.listdir(site.home() / second) if name.startswith(TEMP_PREFIX)]
        assert findings(site) == []


def test_a_new_generations_directory_gets_its_mode_once_it_is_filled(site, monkeypatch):
    collect(site)
    os.chmod(site.entry(site.served(), "css"), 0o555)  # no owner write: a run as its owner could not fill it
    real_fchmod = os.fchmod
    held = []

    def fchmod(fd: int, mode: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            held.append((mode, sorted(os.listdir(fd))))
        real_fchmod(fd, mode)

    monkeypatch.setattr(os, "fchmod", fchmod)
    rewrite(site.static / "app.js", "run(2)")
    collect(site)

    assert (0o555, ["app.css"]) in held
    assert stat.S_IMODE(site.entry(site.served(), "css").stat().st_mode) == 0o555


def test_checksum_gives_a_new_copy_instead_of_restamping_one_an_older_generation_shares(site):
    collect(site)
    first = site.served()
    source = site.static / "app.js"
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 5_000_000_000))  # same bytes
    old_mtime = site.entry(first, "app.js").stat().st_mtime_ns

    messages = changed(site, checksum=True)

    assert messages == ["Replacing 'static/app.js' with a copy (stale-copy)"]
    assert site.entry(first, "app.js").stat().st_mtime_ns == old_mtime
    assert site.entry(site.served(), "app.js").stat().st_mtime_ns == source.stat().st_mtime_ns


def test_relative_links_keep_resolving_through_the_switched_prefix_and_are_carried_unchanged(tmp_path):
    site = make_site(tmp_path, link_style="relative")
    collect(site)
    (site.media / "photos" / "b.jpg").write_bytes(b"jpeg b")

    messages = changed(site)

    link = site.mirror_dir / "media" / "photos" / "a.jpg"
    assert not os.readlink(link).startswith("/")
    assert link.read_bytes() == b"jpeg a"
    assert messages == ["Linking 'media/photos/b.jpg'"]
    assert engine.verify(site.sources, site.mirror).clean


def test_hard_links_to_sources_are_carried_as_links_to_the_same_files(tmp_path):
    site = make_site(tmp_path, link_style="hard")
    collect(site)
    first = site.served("media")
    (site.media / "photos" / "b.jpg").write_bytes(b"jpeg b")

    collect(site)

    source = (site.media / "photos" / "a.jpg").stat().st_ino
    assert site.entry(site.served("media"), "photos/a.jpg", "media").stat().st_ino == source
    assert site.entry(first, "photos/a.jpg", "media").stat().st_ino == source
    assert engine.verify(site.sources, site.mirror).clean


def test_two_workers_build_the_same_generation(site):
    collect(site)
    (site.static / "more").mkdir()
    for index in range(40):
        (site.static / "more" / f"{index}.css").write_text(f"p{index} {{}}")
    rewrite(site.static / "css" / "app.css", "v2")

    report, _messages = collect(site, workers=2, delete=True)

    assert report.summary() == "0 files linked, 40 copied, 1 replaced, 3 unmodified, 0 deleted, 0 skipped, 0 failed."
    assert (site.mirror_dir / "static" / "more" / "39.css").read_text() == "p39 {}"
    assert engine.verify(site.sources, site.mirror).clean


# What a generation keeps of the one before it.


def test_a_name_deleted_from_the_source_stays_one_generation_and_goes_with_the_next(site):
    (site.static / "gone").mkdir()
    (site.static / "gone" / "page.css").write_text("p {}")
    collect(site, delete=True)
    (site.static / "old.css").unlink()
    (site.static / "gone" / "page.css").unlink()
    (site.static / "gone").rmdir()
    rewrite(site.static / "css" / "app.css", "v2")

    second = changed(site, delete=True)
    kept = {name: (site.mirror_dir / "static" / name).exists() for name in ("old.css", "gone/page.css")}
    carried = carry.read_carried(generations.Layout(_root(site), "static"), site.served())
    rewrite(site.static / "css" / "app.css", "v3")
    third = changed(site, delete=True)

    assert second == ["Replacing 'static/css/app.css' with a copy (stale-copy)"]
    assert kept == {"old.css": True, "gone/page.css": True}
    assert carried == {"old.css", "gone", "gone/page.css"}
    assert third == [
        "Replacing 'static/css/app.css' with a copy (stale-copy)",
        "Deleting 'static/old.css'",
        "Deleting 'static/gone/page.css'",
        "Deleting 'static/gone'",
    ]
    assert sorted(os.listdir(site.mirror_dir / "static")) == ["app.js", "css"]
    assert not (site.home() / f"{site.served()}{generations.CARRIED}").exists()


def test_a_deletion_waiting_for_the_next_generation_publishes_nothing_by_itself(site):
    collect(site, delete=True)
    (site.static / "old.css").unlink()
    rewrite(site.static / "css" / "app.css", "v2")
    collect(site, delete=True)
    served = site.served()

    report, _messages = collect(site, delete=True)

    assert site.served() == served
    assert (site.mirror_dir / "static" / "old.css").read_text() == "old"
    assert report.generations[1].message == f"Nothing to publish for 'static': generation '{served}' is still served."


def test_without_delete_a_name_gone_from_the_source_is_kept_in_every_generation(site):
    collect(site)
    (site.static / "old.css").unlink()

    for index in range(3):
        rewrite(site.static / "css" / "app.css", f"v{index + 2}")
        collect(site)

    assert (site.mirror_dir / "static" / "old.css").read_text() == "old"


def test_a_run_that_changes_nothing_publishes_no_generation_and_leaves_nothing_behind(site):
    collect(site)
    before = snapshot(site.mirror_dir)

    report, messages = collect(site)

    assert snapshot(site.mirror_dir) == before
    assert messages == [
        "Skipping 'media/photos/a.jpg' (not modified)",
        "Skipping 'static/app.js' (not modified)",
        "Skipping 'static/old.css' (not modified)",
        "Skipping 'static/css/app.css' (not modified)",
    ]
    assert [event.action for event in report.generations] == [GenerationAction.UNCHANGED] * 2


# Pruning.


def test_only_the_k_newest_generations_are_kept(site):
    collect(site)
    all_ids = [site.served()] + [publish_changes(site, 1)[-1] for _ in range(4)]

    assert site.ids() == all_ids[-3:]
    assert not any(name.endswith(generations.CARRIED) for name in os.listdir(site.home()))


def test_pruning_keeps_the_generation_served_before_the_current_one_whatever_its_age(tmp_path):
    site = make_site(tmp_path, keep=2)
    collect(site)
    first, second, third = [site.served(), *publish_changes(site, 2)[-2:]]

    rollback(site)
    after_rollback = site.ids()
    rewrite(site.static / "css" / "app.css", "after the rollback")
    collect(site)

    assert after_rollback == [second, third]
    assert site.ids()[0] == second and site.served() != third  # second was served a moment ago: kept
    assert first not in site.ids()


def test_pruning_removes_an_old_generation_without_following_a_link_planted_in_it(tmp_path):
    site = make_site(tmp_path, keep=2)
    collect(site)
    first = site.home() / site.served()
    publish_changes(site, 1)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    generations.remove(_root(site).descend(f"{GENERATIONS_DIR}/static/{first.name}"), "css")
    os.symlink(outside, first / "css")  # a directory swapped for a link to somewhere else

    publish_changes(site, 1)

    assert not first.exists()
    assert (outside / "keep.txt").read_text() == "keep"


# Rollback.


def test_rollback_serves_the_generation_before_and_lists_every_entry_that_differs(site):
    collect(site, delete=True)
    first = site.served()
    (site.static / "old.css").unlink()
    (site.static / "new.css").write_text("new")
    rewrite(site.static / "css" / "app.css", "v2")
    collect(site, delete=True)
    second = site.served()
    rewrite(site.static / "css" / "app.css", "v3")
    (site.static / "new.css").unlink()
    (site.static / "newer.css").write_text("newer")
    collect(site, delete=True)
    third = site.served()

    report, messages = rollback(site)

    assert first != second != third
    assert site.served() == second
    assert (site.mirror_dir / "static" / "css" / "app.css").read_text() == "v2"
    reason = f"rolled back to '{second}'"
    assert messages == [
        f"Deleting 'static/newer.css' ({reason})",
        "Copying 'static/old.css'",
        f"Replacing 'static/css/app.css' with a copy ({reason})",
    ]
    assert report.generations[1].message == f"Rolled 'static' back from generation '{third}' to '{second}'."


def test_rolling_back_again_goes_one_further_back_until_none_is_older(site):
    collect(site)
    ids = [site.served(), *publish_changes(site, 2)[-2:]]

    served = []
    for _ in range(2):
        rollback(site)
        served.append(site.served())

    assert served == [ids[1], ids[0]]
    with pytest.raises(engine.MirrorError, match=f"keeps no generation older than '{ids[0]}'"):
        rollback(site)


def test_a_generation_rolled_back_from_is_withdrawn_and_never_served_again_by_a_rollback(site):
    collect(site)
    good = site.served()
    bad = publish_changes(site, 1)[-1]
    rollback(site)
    assert site.served() == good
    fixed = publish_changes(site, 1)[-1]

    rollback(site)

    assert site.served() == good  # not the withdrawn bad one
    withdrawn = sorted(name for name in os.listdir(site.home()) if name.endswith(generations.WITHDRAWN))
    assert withdrawn == [bad + generations.WITHDRAWN, fixed + generations.WITHDRAWN]
    assert [finding for finding in findings(site) if finding[0] == "generation"] == []  # no leftover
    with pytest.raises(engine.MirrorError, match=f"older than '{good}' to roll back to"):
        rollback(site)
    publish_changes(site, 1)  # keeps 3: the one served, the one before it (good) and fixed; bad goes
    assert bad not in site.ids()
    assert not (site.home() / (bad + generations.WITHDRAWN)).exists()


def test_rollback_leaves_a_source_with_no_older_generation_as_it_is(site):
    collect(site)
    media = site.served("media")
    rewrite(site.static / "css" / "app.css", "v2")
    collect(site)

    report, _messages = rollback(site)

    assert site.served("media") == media
    assert report.generations[0].message == f"'media' keeps no generation older than '{media}': it is left as it is."
    assert report.generations[1].action is GenerationAction.ROLLED_BACK


def test_rollback_with_no_older_generation_anywhere_is_an_error_naming_the_source(site):
    collect(site)

    with pytest.raises(engine.MirrorError, match=r"The source 'media' keeps no generation older than '\d{8}-"):
        rollback(site)

    assert (site.mirror_dir / "static").is_symlink()


def test_rollback_without_a_source_that_keeps_generations_is_an_error(site):
    site.keep("media", 0)
    site.keep("static", 0)
    collect(site)

    with pytest.raises(engine.MirrorError, match="No source to roll back: 'media', 'static' keep"):
        rollback(site)


def test_a_dry_run_rollback_lists_the_differences_and_switches_nothing(site):
    collect(site)
    rewrite(site.static / "css" / "app.css", "v2")
    collect(site)
    served = site.served()

    report, messages = rollback(site, dry_run=True)

    assert site.served() == served
    assert messages[0].startswith("Pretending to replace 'static/css/app.css' with a copy (rolled back to '00000001-")
    assert report.generations[1].message.startswith("Would roll 'static' back from generation '00000002-")


# Dry runs.


def test_a_dry_run_plans_against_the_generation_served_and_writes_nothing(site):
    collect(site, delete=True)
    served = site.served()
    (site.static / "old.css").unlink()
    rewrite(site.static / "css" / "app.css", "v2")
    before = snapshot(site.mirror_dir)

    report, messages = collect(site, delete=True, dry_run=True)

    assert snapshot(site.mirror_dir) == before
    assert [message for message in messages if "not modified" not in message] == [
        "Pretending to replace 'static/css/app.css' with a copy (stale-copy)"
    ]  # old.css would be carried one generation, not deleted
    assert report.generations[1].message == f"Would publish a new generation of 'static', after '{served}'."


def test_a_dry_run_first_run_creates_nothing(site):
    report, messages = collect(site, dry_run=True)

    assert not site.mirror_dir.exists()
    assert messages[0] == "Pretending to link 'media/photos/a.jpg'"
    assert report.generations[1].message == "Would publish a new generation of 'static'."


# Switching to generations and back; --clear.


def test_an_in_place_source_becomes_its_first_generation_in_one_exchange_sharing_its_copies(site):
    site.keep("static", 0)
    collect(site)
    in_place = os.stat(site.mirror_dir / "static" / "app.js").st_ino
    site.keep("static", 3)

    report, messages = collect(site)

    assert (site.mirror_dir / "static").is_symlink()
    assert site.entry(site.served(), "app.js").stat().st_ino == in_place
    assert [m for m in messages if m.startswith("Copying") or m.startswith("Replacing")] == []
    assert report.generations[1].action is GenerationAction.PUBLISHED
    assert not [name for name in os.listdir(site.mirror_dir) if name.startswith(TEMP_PREFIX)]
    assert engine.verify(site.sources, site.mirror).clean


def test_turning_generations_off_puts_the_source_back_in_place_and_removes_them(site):
    collect(site, delete=True)
    rewrite(site.static / "css" / "app.css", "v2")
    collect(site, delete=True)
    served = site.served()
    site.keep("static", 0)
    (site.static / "old.css").unlink()

    report, messages = collect(site, delete=True)

    assert not (site.mirror_dir / "static").is_symlink()
    assert (site.mirror_dir / "static" / "css" / "app.css").read_text() == "v2"
    assert not (site.mirror_dir / GENERATIONS_DIR / "static").exists()
    assert "Deleting 'static/old.css'" in messages  # in place, --delete deletes at once
    assert report.generations[1].message == f"Put 'static' back in place from generation '{served}'."
    assert engine.verify(site.sources, site.mirror).clean


def test_clear_builds_the_next_generation_from_nothing(site):
    collect(site)
    first = site.served()
    (site.static / "old.css").unlink()

    messages = changed(site, clear=True)

    assert "Deleting 'static/old.css' (--clear)" in messages and "Copying 'static/app.js'" in messages
    assert not (site.mirror_dir / "static" / "old.css").exists()
    assert site.entry(first, "old.css").read_text() == "old"  # the generation before is untouched
    assert site.entry(site.served(), "app.js").stat().st_ino != site.entry(first, "app.js").stat().st_ino


# Other sources, the unmanaged entries, a filesystem without symlinks.


def test_an_in_place_source_and_the_unmanaged_walk_leave_the_generations_alone(site):
    site.keep("media", 0)
    collect(site)
    (site.mirror_dir / "renditions").mkdir()
    (site.mirror_dir / "renditions" / "r.jpg").write_bytes(b"saved by the site")
    before = snapshot(site.mirror_dir / GENERATIONS_DIR)

    _report, messages = collect(site, delete=True)

    assert [m for m in messages if "not modified" not in m] == []
    assert snapshot(site.mirror_dir / GENERATIONS_DIR) == before
    assert (site.mirror_dir / "static").is_symlink()
    assert engine.verify(site.sources, site.mirror).clean


def test_a_mirror_without_symlinks_cannot_keep_generations_and_says_so(tmp_path, fat, settings):
    settings.FILE_UPLOAD_PERMISSIONS = None  # FAT has no permission bits to set
    site = make_site(tmp_path)
    (fat / "mirror").mkdir()
    site.mirror_dir = fat / "mirror"
    site.mirror = SymlinkOrCopyStorage(location=fat / "mirror", base_url="/", symlink_within=[site.media])
    site.keep("media", 0)

    with pytest.warns(RuntimeWarning, match="Cannot create symlinks"):
        report, messages = collect(site)
    found = findings(site)

    assert f"Failed 'static': {NO_SYMLINKS}" in messages
    assert report.totals["copied"] == 1  # media, in place
    assert not (site.mirror_dir / "static").exists()
    assert ("generation", "static", NO_SYMLINKS) in found


# verifymirror: the structure, and --fix.


def test_verify_audits_the_generation_served_and_not_the_names_it_carries(site):
    collect(site, delete=True)
    (site.static / "old.css").unlink()
    rewrite(site.static / "css" / "app.css", "v2")
    collect(site, delete=True)
    (site.static / "app.js").unlink()

    found = findings(site)

    assert found == [("orphan", "static/app.js", "no source file has this name")]  # old.css: carried


def test_a_directory_at_the_prefix_is_a_finding_and_fix_makes_it_the_first_generation(site):
    site.keep("static", 0)
    collect(site)
    site.keep("static", 3)

    before = findings(site)
    engine.repair(site.sources, site.mirror)

    assert before == [
        (
            "generation",
            "static",
            "a directory, not yet a symlink to a generation (the next collectmirror publishes one)",
        )
    ]
    assert (site.mirror_dir / "static").is_symlink()
    assert findings(site) == []


def test_a_half_built_generation_is_a_finding_and_the_next_run_removes_it(site):
    collect(site)
    partial = site.home() / f"00000007-20250101T000000Z{generations.PARTIAL}"
    (partial / "css").mkdir(parents=True)
    (partial / "css" / "app.css").write_text("half")
    stray = site.home() / f"{TEMP_PREFIX}12345-abcdef"
    os.symlink(site.served(), stray)

    before = findings(site)
    rewrite(site.static / "css" / "app.css", "v2")
    collect(site)

    assert sorted(before) == sorted(
        [
            ("generation", f"{GENERATIONS_DIR}/static/{partial.name}", LEFTOVER),
            ("generation", f"{GENERATIONS_DIR}/static/{stray.name}", LEFTOVER),
        ]
    )
    assert not partial.exists() and not stray.is_symlink()
    assert site.served().startswith("00000008-")  # a name is never used twice
    assert findings(site) == []


def test_a_temporary_symlink_left_beside_the_prefix_is_a_temp_file_finding_and_fix_removes_it(site):
    collect(site)
    leftover = site.mirror_dir / f"{TEMP_PREFIX}999999999-0123456789ab"  # no such process
    os.symlink(f"{GENERATIONS_DIR}/static/{site.served()}", leftover)

    before = findings(site)
    engine.repair(site.sources, site.mirror)

    assert before == [("temp-file", leftover.name, "left by an interrupted run")]
    assert not leftover.is_symlink()
    assert findings(site) == []


def test_a_tree_left_at_a_temporary_name_beside_the_prefix_is_one_temp_file_finding_and_is_removed(site):
    collect(site)
    leftover = site.mirror_dir / f"{TEMP_PREFIX}999999999-0123456789ab"  # no such process
    (leftover / "css").mkdir(parents=True)
    (leftover / "css" / "app.css").write_text("an interrupted exchange's old directory")

    before = findings(site)
    engine.repair(site.sources, site.mirror)

    assert before == [("temp-file", leftover.name, "left by an interrupted run")]
    assert not leftover.exists()


def test_more_generations_than_kept_is_a_finding_and_fix_prunes_them(site):
    collect(site)
    publish_changes(site, 3)
    site.keep("static", 2)
    ids = site.ids()

    before = findings(site)
    engine.repair(site.sources, site.mirror)

    assert before == [
        (
            "generation",
            f"{GENERATIONS_DIR}/static",
            f"3 generations kept, more than the 2 of SYMLINKMIRROR_SOURCES['static']['generations']: '{ids[0]}' would go",
        )
    ]
    assert site.ids() == ids[1:]
    assert findings(site) == []


def test_a_prefix_leading_to_a_removed_generation_is_a_finding_and_fix_serves_a_new_one(site):
    collect(site)
    first = site.served()
    rewrite(site.static / "css" / "app.css", "v2")
    collect(site)
    second = site.served()
    generations.remove(_root(site).descend(f"{GENERATIONS_DIR}/static"), second)

    before = findings(site)
    engine.repair(site.sources, site.mirror)

    assert before[0] == (
        "generation",
        "static",
        f"a symlink to the generation '{GENERATIONS_DIR}/static/{second}', which is not there",
    )
    assert ("missing", "static/css/app.css", "the source file has no mirror entry") in before
    assert site.served() not in (first, second)
    assert (site.mirror_dir / "static" / "css" / "app.css").read_text() == "v2"
    assert findings(site) == []


def test_a_link_planted_at_the_prefix_is_an_escaping_link_and_fix_switches_back_without_following_it(site):
    collect(site)
    outside = site.base / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    (outside / "app.js").write_text("not ours")
    os.unlink(site.mirror_dir / "static")
    os.symlink(outside, site.mirror_dir / "static")

    before = findings(site)
    engine.repair(site.sources, site.mirror, engine.Options(delete=True))

    assert before[0] == ("escaping-link", "static", f"a symlink to '{outside}', outside every trusted root")
    assert sorted(os.listdir(outside)) == ["app.js", "secret"]
    assert (outside / "app.js").read_text() == "not ours"
    assert (site.mirror_dir / "static" / "app.js").read_text() == "run()"
    assert findings(site) == []


def test_a_link_planted_at_the_generations_folder_is_unlinked_never_written_through(site):
    collect(site)
    outside = site.base / "outside"
    outside.mkdir()
    generations.remove(_root(site), GENERATIONS_DIR)
    os.symlink(outside, site.mirror_dir / GENERATIONS_DIR)

    engine.repair(site.sources, site.mirror)

    assert os.listdir(outside) == []
    assert not (site.mirror_dir / GENERATIONS_DIR).is_symlink()
    assert (site.mirror_dir / "static" / "app.js").read_text() == "run()"
    assert findings(site) == []


def test_generations_of_a_source_that_keeps_none_are_a_finding(site):
    collect(site)
    site.keep("static", 0)

    found = findings(site)

    assert found[0] == (
        "generation",
        "static",
        f"served from the generation '{site.served()}', but SYMLINKMIRROR_SOURCES['static'] keeps no generations "
        "(the next collectmirror puts it back in place)",
    )


def _root(site: Site):
    from symlinkmirror.directories import Directory

    real = os.path.realpath(site.mirror_dir)
    return Directory(None, real, real)


# The commands.


@pytest.fixture
def configured(settings, mirror_in_tmp_path):
    """The project's media and static folders, each keeping three generations in the mirror."""
    setup = mirror_in_tmp_path
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(setup.media)]
    settings.SYMLINKMIRROR_SOURCES = {
        "media": {"storage": "default", "prefix": "media", "generations": 3},
        "static": {"storage": "staticfiles", "prefix": "static", "generations": 3},
    }
    (setup.media / "a.jpg").write_bytes(b"jpeg a")
    (setup.static / "site.css").write_text("v1")
    (setup.static / "old.css").write_text("old")
    return setup


def command(name: str, *args: str) -> list[str]:
    out = io.StringIO()
    call_command(name, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().splitlines()


def test_collectmirror_says_what_it_published_before_its_totals(configured):
    lines = command("collectmirror")

    assert re.fullmatch(r"Published generation '00000001-\d{8}T\d{6}Z' of 'media'\.", lines[0])
    assert re.fullmatch(r"Published generation '00000001-\d{8}T\d{6}Z' of 'static'\.", lines[1])
    assert lines[2] == "1 file linked, 2 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 0 failed."


def test_collectmirror_json_says_what_each_generational_source_published(configured):
    command("collectmirror")
    rewrite(configured.static / "site.css", "v2")
    out = io.StringIO()

    call_command("collectmirror", "--json", stdout=out)

    document = json.loads(out.getvalue())
    media, static = document["generations"]
    assert media["action"] == "unchanged" and media["pruned"] == []
    assert static["action"] == "published" and static["previous"].startswith("00000001-")
    assert static["generation"].startswith("00000002-")
    assert [change["name"] for change in document["changed"]] == ["static/site.css"]


def test_the_changed_urls_of_a_publication_are_its_changes_and_a_carried_name_waits(configured, tmp_path):
    command("collectmirror", "--delete")
    (configured.static / "old.css").unlink()
    rewrite(configured.static / "site.css", "v2")
    (configured.static / "new.css").write_text("new")
    urls = tmp_path / "urls.txt"

    command("collectmirror", "--delete", "--changed-urls", str(urls))
    second = urls.read_text().splitlines()
    rewrite(configured.static / "site.css", "v3")
    command("collectmirror", "--delete", "--changed-urls", str(urls))

    assert second == ["/static/new.css", "/static/site.css"]
    assert urls.read_text().splitlines() == ["/static/site.css", "/static/old.css"]


def test_collectmirror_rollback_switches_back_and_lists_the_urls_that_differ(configured, tmp_path):
    command("collectmirror")
    rewrite(configured.static / "site.css", "v2")
    (configured.static / "new.css").write_text("new")
    command("collectmirror")
    urls = tmp_path / "urls.txt"

    lines = command("collectmirror", "--rollback", "--changed-urls", str(urls))

    assert (configured.mirror / "static" / "site.css").read_text() == "v1"
    assert urls.read_text().splitlines() == ["/static/new.css", "/static/site.css"]
    assert re.fullmatch(r"Rolled 'static' back from generation '00000002-\S+' to '00000001-\S+'\.", lines[-2])
    assert lines[-1] == "0 files linked, 0 copied, 1 replaced, 0 unmodified, 1 deleted, 0 skipped, 0 failed."


def test_a_rollback_whose_switch_fails_for_one_source_still_switches_the_others_and_lists_their_urls(
    configured, tmp_path
):
    command("collectmirror")
    first_media = os.readlink(configured.mirror / "media")
    (configured.media / "b.jpg").write_bytes(b"jpeg b")
    rewrite(configured.static / "site.css", "v2")
    command("collectmirror")
    static_home = configured.mirror / GENERATIONS_DIR / "static"
    served = os.readlink(configured.mirror / "static")
    urls = tmp_path / "urls.txt"

    with immutable(static_home), pytest.raises(CommandError, match=r"1 file\(s\) failed"):
        command("collectmirror", "--rollback", "--changed-urls", str(urls))

    assert os.readlink(configured.mirror / "media") == first_media
    assert os.readlink(configured.mirror / "static") == served
    assert urls.read_text().splitlines() == ["/media/b.jpg"]


def test_collectmirror_rollback_of_a_source_that_keeps_no_generations_is_a_command_error(configured, settings):
    settings.SYMLINKMIRROR_SOURCES = {"media": {"storage": "default", "prefix": "media"}}

    with pytest.raises(CommandError, match=r"No source to roll back: 'media' keep\(s\) no generations"):
        command("collectmirror", "--rollback")


def test_collectmirror_rollback_with_nothing_to_roll_back_to_is_a_command_error(configured):
    command("collectmirror")

    with pytest.raises(CommandError, match="keeps no generation older than"):
        command("collectmirror", "--rollback", "--source", "static")


def test_collectmirror_rollback_refuses_clear_and_delete(configured):
    with pytest.raises(CommandError, match="leave out --clear and --delete"):
        command("collectmirror", "--rollback", "--delete")


def test_verifymirror_reports_the_structure_and_fix_repairs_it(configured, settings):
    settings.SYMLINKMIRROR_SOURCES = {"static": {"storage": "staticfiles", "prefix": "static"}}
    command("collectmirror")
    settings.SYMLINKMIRROR_SOURCES = {"static": {"storage": "staticfiles", "prefix": "static", "generations": 2}}

    out = io.StringIO()
    with pytest.raises(CommandError, match=r"The mirror has 1 finding\(s\)"):
        call_command("verifymirror", stdout=out)
    fixed = command("verifymirror", "--fix")

    assert out.getvalue().splitlines() == [
        "generation (1):",
        "  'static': a directory, not yet a symlink to a generation (the next collectmirror publishes one)",
        "2 files checked: 1 finding (1 generation).",
    ]
    assert re.fullmatch(r"Published generation '00000001-\S+' of 'static'\.", fixed[0])
    assert fixed[1:] == ["Fixed 1 of 1 finding.", "2 files checked: the mirror is clean."]
    assert (configured.mirror / "static").is_symlink()


# --purge, through a stand-in for Cloudflare's purge API (as tests/test_purge_publish.py).


ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
PURGE_PATH = f"/client/v4/zones/{ZONE}/purge_cache"
SUCCESS = {"success": True, "errors": [], "messages": [], "result": {"id": "purge-1"}}


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture
def cloudflare(settings, httpserver, tmp_path):
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")
    settings.SYMLINKMIRROR_PURGE = {
        "cf": {
            "BACKEND": "symlinkmirror.purge.CloudflareBackend",
            "OPTIONS": {
                "zone_id": ZONE,
                "api_token": "cf-test-token",
                "api_url": httpserver.url_for("/client/v4"),
                "base_url": "https://cdn.example.com",
            },
        }
    }
    return httpserver


def purged_at(cloudflare, mirror: Path, names: list[str]) -> list[dict]:
    """Answer each purge with success, noting what the origin serves at that moment."""
    seen = []

    def handler(request):
        seen.append({name: (mirror / name).read_text() if (mirror / name).exists() else None for name in names})
        seen[-1]["files"] = sorted(json.loads(request.data)["files"])
        return Response(json.dumps(SUCCESS), content_type="application/json")

    cloudflare.expect_request(PURGE_PATH, method="POST").respond_with_handler(handler)
    return seen


def test_collectmirror_purge_purges_once_the_new_generation_is_served_and_a_carried_name_when_it_goes(
    configured, cloudflare
):
    command("collectmirror", "--delete")
    seen = purged_at(cloudflare, configured.mirror, ["static/site.css", "static/old.css"])
    rewrite(configured.static / "site.css", "v2")
    (configured.static / "old.css").unlink()

    command("collectmirror", "--delete", "--purge")
    rewrite(configured.static / "site.css", "v3")
    command("collectmirror", "--delete", "--purge")

    assert seen == [
        {"static/site.css": "v2", "static/old.css": "old", "files": ["https://cdn.example.com/static/site.css"]},
        {
            "static/site.css": "v3",
            "static/old.css": None,
            "files": ["https://cdn.example.com/static/old.css", "https://cdn.example.com/static/site.css"],
        },
    ]


def test_collectmirror_rollback_purge_purges_what_differs_once_switched_back(configured, cloudflare):
    command("collectmirror")
    rewrite(configured.static / "site.css", "v2")
    (configured.static / "new.css").write_text("new")
    command("collectmirror")
    seen = purged_at(cloudflare, configured.mirror, ["static/site.css", "static/new.css"])

    lines = command("collectmirror", "--rollback", "--purge")

    assert seen == [
        {
            "static/site.css": "v1",
            "static/new.css": None,
            "files": ["https://cdn.example.com/static/new.css", "https://cdn.example.com/static/site.css"],
        }
    ]
    assert lines[-1] == "1 batch through 1 backend: 1 purged (2 URLs), 0 failed; 0 billed paths."
