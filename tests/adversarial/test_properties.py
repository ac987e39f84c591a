"""Property: whatever happens to the sources and the mirror, `collectmirror --delete` makes the mirror exact."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path

from django.core.management import call_command
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from symlinkmirror import engine
from symlinkmirror.paths import TEMP_PREFIX

from .helpers import audit_site, expected_tree, files_only, make_site, mirror_tree, temp_leftovers, write

SIDES = ("media", "static")  # media is linked, static copied
DIRS = ("", "d1", "d2", "d1/e", "d2/e")
NAMES = (
    "a.txt",
    "b.txt",
    unicodedata.normalize("NFC", "é.txt"),
    unicodedata.normalize("NFD", "é.txt"),
    "-x",
    " s",
    "n\nl",
)

# A process that has ended: its temporary files are leftovers of an interrupted run.
_ended = subprocess.Popen(["true"])
_ended.wait()
DEAD_PID = _ended.pid

paths = st.builds(lambda d, n: f"{d}/{n}" if d else n, st.sampled_from(DIRS), st.sampled_from(NAMES))
contents = st.binary(max_size=48)
picks = st.integers(min_value=0, max_value=1_000)  # an index into whatever exists when the step runs

source_steps = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(SIDES), paths, contents),
    st.tuples(st.just("modify"), st.sampled_from(SIDES), picks, contents),
    st.tuples(st.just("delete"), st.sampled_from(SIDES), picks),
    st.tuples(st.just("rename"), st.sampled_from(SIDES), picks, paths),
)
mirror_steps = st.one_of(
    st.tuples(st.just("tamper"), picks, contents),
    st.tuples(st.just("replace-with-outside-link"), picks),
    st.tuples(st.just("remove"), picks),
    st.tuples(st.just("link-to-another-source"), picks, picks),
    st.tuples(
        st.just("plant"),
        st.sampled_from(SIDES),
        st.one_of(paths, st.sampled_from(DIRS[1:])),
        st.sampled_from(["file", "outside-link", "dir", "outside-dir-link", "fifo", "leftover-temp"]),
    ),
)


class World:
    """A real site on disk, an outside folder that must never change, and the steps that disturb them."""

    def __init__(self, base: Path, link_style: str, workers: int) -> None:
        self.link_style = link_style
        self.workers = workers
        self.site = make_site(base / "site", link_style=link_style)
        self.outside = base / "outside"
        write(self.outside / "secret.txt", b"secret")
        (self.outside / "empty").mkdir()
        self.clock = 1_700_000_000_000_000_000

    def stamp(self, path: Path) -> None:
        # Size and mtime are the change test (--checksum compares bytes):
        # give every write its own mtime, as edits further apart than one
        # clock tick of the filesystem get.
        self.clock += 1_000_000
        os.utime(path, ns=(self.clock, self.clock))

    def root(self, side: str) -> Path:
        return self.site.media if side == "media" else self.site.static

    def source_files(self, side: str) -> list[Path]:
        root = self.root(side)
        return sorted(Path(dirpath) / name for dirpath, _dirs, names in os.walk(root) for name in names)

    def mirror_entries(self) -> list[Path]:
        found = []
        for dirpath, dirnames, filenames in os.walk(self.site.mirror_dir):
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                if name != ".symlinkmirror.lock":
                    found.append(Path(dirpath) / name)
        return sorted(found)

    def apply(self, step: tuple) -> None:
        kind = step[0]
        if kind == "add":
            _, side, rel, data = step
            write(self.root(side) / rel, data)
            self.stamp(self.root(side) / rel)
        elif kind in ("modify", "delete", "rename"):
            files = self.source_files(step[1])
            if not files:
                return
            path = files[step[2] % len(files)]
            if kind == "modify":
                write(path, step[3])
                self.stamp(path)
            elif kind == "delete":
                path.unlink()
            else:
                target = self.root(step[1]) / step[3]
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
        elif kind in ("tamper", "replace-with-outside-link", "remove", "link-to-another-source"):
            entries = self.mirror_entries()
            if not entries:
                return
            entry = entries[step[1] % len(entries)]
            entry.unlink()
            if kind == "tamper":
                write(entry, step[2])
            elif kind == "replace-with-outside-link":
                entry.symlink_to(self.outside / "secret.txt")
            elif kind == "link-to-another-source":
                others = self.source_files("media") or [self.outside / "secret.txt"]
                entry.symlink_to(others[step[2] % len(others)])
        else:
            _, side, rel, what = step
            self.plant(self.site.mirror_dir / side / rel, what)

    def plant(self, path: Path, what: str) -> None:
        parent = path.parent
        while parent != self.site.mirror_dir and not parent.exists():
            parent = parent.parent
        if parent != self.site.mirror_dir and (parent.is_symlink() or not parent.is_dir()):
            return  # a file or link holds a parent's name: nothing can be planted below it
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif os.path.lexists(path):
            path.unlink()  # a file, a link or a FIFO: never opened
        path.parent.mkdir(parents=True, exist_ok=True)
        if what == "file":
            path.write_bytes(b"planted")
        elif what == "outside-link":
            path.symlink_to(self.outside / "secret.txt")
        elif what == "dir":
            write(path / "inside.txt", b"planted")
        elif what == "fifo":
            os.mkfifo(path)
        elif what == "leftover-temp":
            write(path.parent / f"{TEMP_PREFIX}{DEAD_PID}-0123456789ab", b"half writ")
        else:
            path.symlink_to(self.outside / "empty", target_is_directory=True)

    def collectmirror_delete(self, *extra: str) -> str:
        site = self.site
        with override_settings(
            MEDIA_ROOT=str(site.media),
            STATIC_ROOT=str(site.static),
            SYMLINKMIRROR_SYMLINK_WITHIN=[str(site.media)],
            STORAGES={
                "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
                "mirror": {
                    "BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage",
                    "OPTIONS": {"location": str(site.mirror_dir), "base_url": "/", "link_style": self.link_style},
                },
            },
        ):
            out = io.StringIO()
            call_command("collectmirror", "--delete", "--workers", str(self.workers), *extra, stdout=out, stderr=out)
            return out.getvalue()

    def check(self) -> None:
        site = self.site
        tree = mirror_tree(site.mirror_dir)
        assert files_only(tree) == expected_tree(site, link_style=self.link_style)
        source_dirs = {
            os.path.join(side, os.path.relpath(dirpath, self.root(side)))
            for side in SIDES
            for dirpath, _dirs, _names in os.walk(self.root(side))
        }
        assert {name for name, entry in tree.items() if entry[0] == "dir"} <= {os.path.normpath(d) for d in source_dirs}
        assert temp_leftovers(site.mirror_dir) == []
        assert audit_site(site).clean
        assert mirror_tree(self.outside) == {"secret.txt": ("file", b"secret"), "empty": ("dir",)}


@settings(max_examples=40, deadline=None, database=None)
@given(
    initial=st.lists(st.tuples(st.just("add"), st.sampled_from(SIDES), paths, contents), max_size=8),
    rounds=st.lists(st.lists(st.one_of(source_steps, mirror_steps), max_size=8), min_size=1, max_size=3),
    link_style=st.sampled_from(["absolute", "relative"]),
    workers=st.sampled_from([1, 3]),
)
def test_collectmirror_delete_makes_the_mirror_exactly_the_model(initial, rounds, link_style, workers):
    with tempfile.TemporaryDirectory() as base:
        world = World(Path(base), link_style, workers)
        for step in initial:
            world.apply(step)
        world.collectmirror_delete()
        world.check()

        for steps in rounds:
            for step in steps:
                world.apply(step)
            before = mirror_tree(world.site.mirror_dir)
            world.collectmirror_delete("--dry-run")
            assert mirror_tree(world.site.mirror_dir) == before  # a dry run changes nothing
            world.collectmirror_delete()
            world.check()


def planned(world: World, **options) -> tuple[set[tuple[str, str]], engine.Report]:
    """(step name, verdict) of every event of a --delete run that is not ok, and its report."""
    events: list[engine.FileEvent] = []
    run = engine.Options(delete=True, workers=world.workers, **options)
    report = engine.collect(world.site.sources, world.site.mirror, run, on_event=events.append)
    return {(event.step, str(event.verdict)) for event in events if event.verdict != "ok"}, report


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 40)), deadline=None, database=None)
@given(
    initial=st.lists(st.tuples(st.just("add"), st.sampled_from(SIDES), paths, contents), max_size=8),
    steps=st.lists(st.one_of(source_steps, mirror_steps), min_size=1, max_size=8),
    link_style=st.sampled_from(["absolute", "relative"]),
    workers=st.sampled_from([1, 3]),
)
def test_verify_the_dry_run_and_the_run_agree_on_every_name_and_kind(initial, steps, link_style, workers):
    with tempfile.TemporaryDirectory() as base:
        world = World(Path(base), link_style, workers)
        for step in initial:
            world.apply(step)
        world.collectmirror_delete()
        for step in steps:
            world.apply(step)

        found = audit_site(world.site)
        findings = {(finding.name, str(finding.category)) for finding in found.findings}
        dry_run, _ = planned(world, dry_run=True)
        done, report = planned(world)

        assert findings == dry_run == done
        assert report.failed == 0
        assert audit_site(world.site).clean
