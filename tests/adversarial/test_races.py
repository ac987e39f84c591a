"""Races against the mirror: a directory swapped for a symlink, a file for a FIFO, between any two steps of a run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from symlinkmirror import engine

from .helpers import finishes_within, make_site, mirror_tree, write

ORPHANS = ("o1.txt", "o2.txt", "o3.txt")


def site_with_orphans(base: Path):
    """media/sub/keep.txt in the source; media/sub/o*.txt only in the mirror; same names outside."""
    site = make_site(base / "site")
    write(site.media / "sub" / "keep.txt", b"keep")
    write(site.media / "top.txt", b"top")
    engine.collect(site.sources, site.mirror)
    for name in ORPHANS:
        write(site.mirror_dir / "media" / "sub" / name, b"orphan")
    outside = base / "outside"
    for name in (*ORPHANS, "keep.txt"):
        write(outside / name, b"never to be touched: " + name.encode())
    return site, outside


@pytest.mark.parametrize("at", range(8))
def test_a_mirror_directory_swapped_for_a_symlink_mid_run_never_makes_delete_remove_outside(tmp_path, at):
    site, outside = site_with_orphans(tmp_path)
    before = mirror_tree(outside)
    sub = site.mirror_dir / "media" / "sub"
    seen = []

    def swap(event: engine.FileEvent) -> None:
        seen.append(event)
        if len(seen) == at and not sub.is_symlink():
            sub.rename(sub.with_name("sub.moved"))
            sub.symlink_to(outside, target_is_directory=True)

    engine.collect(site.sources, site.mirror, engine.Options(delete=True), on_event=swap)

    assert mirror_tree(outside) == before  # byte-identical, every file still there


@pytest.mark.parametrize("at", range(8))
def test_a_copy_swapped_for_a_fifo_mid_run_never_blocks_a_checksum_run(tmp_path, at):
    site = make_site(tmp_path / "site")
    for name in ("a.css", "b.css", "c.css"):
        write(site.static / name, b"")  # empty: same size as a FIFO, so only the bytes can tell
    engine.collect(site.sources, site.mirror)
    targets = [site.mirror_dir / "static" / name for name in ("a.css", "b.css", "c.css")]
    seen = []

    def swap(event: engine.FileEvent) -> None:
        seen.append(event)
        target = targets[len(seen) % len(targets)]
        if len(seen) == at and not target.is_fifo():
            target.unlink()
            os.mkfifo(target)

    finishes_within(20, engine.collect, site.sources, site.mirror, engine.Options(checksum=True), on_event=swap)
    finishes_within(20, engine.collect, site.sources, site.mirror, engine.Options(checksum=True))

    assert all(target.is_file() for target in targets)  # the next run replaced the FIFO
