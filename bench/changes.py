"""The 1% step: changes of every kind a refresh must catch, and the exact list of what it must report."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

Expected = set[tuple[str, str]]  # (mirror name, action)


def _files(root: Path) -> list[Path]:
    found = []
    for dirpath, _dirs, names in os.walk(root):
        found.extend(Path(dirpath) / name for name in names if not name.startswith("."))
    found.sort()
    return found


def _rewrite(path: Path, rng: random.Random) -> None:
    """New bytes, same size, in place (the same inode: what an editor saving in place, or a re-collect, does)."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.write(rng.randbytes(max(size, 1))[:size] if size else b"")
        if not size:
            handle.truncate(0)
    os.utime(path)  # a zero-byte file writes nothing: its times must still move, as an edit's do


class OnePercent:
    """About 1% of the entries changed in seven ways; undo() puts the sources back as they were (bar their bytes)."""

    def __init__(self, media: Path, static: Path, mirror: Path, seed: int) -> None:
        self.media, self.static, self.mirror = media, static, mirror
        self.rng = random.Random(seed)
        self.seed = seed
        self.deleted_sources: list[tuple[Path, int]] = []
        self.added: list[Path] = []

    def apply(self) -> Expected:
        rng = self.rng
        originals = _files(self.media)
        copies = _files(self.static)
        rng.shuffle(originals)
        rng.shuffle(copies)
        share = max(2, len(originals) // 500)
        copy_share = max(1, min(len(copies) // 3, share // 5))
        expected: Expected = set()

        def name(path: Path, root: Path, prefix: str) -> str:
            return f"{prefix}/{path.relative_to(root).as_posix()}"

        groups = [originals[i * share : (i + 1) * share] for i in range(4)]
        repointed, lost, edited, deleted = groups
        elsewhere = str(originals[-1].resolve())
        for path in repointed:  # a link repointed at another trusted file: wrong-target, replaced
            link = self.mirror / name(path, self.media, "media")
            os.unlink(link)
            os.symlink(elsewhere, link)
            expected.add((name(path, self.media, "media"), "replaced"))
        for path in lost:  # a mirror entry lost: linked again
            os.unlink(self.mirror / name(path, self.media, "media"))
            expected.add((name(path, self.media, "media"), "linked"))
        for path in edited:  # an original rewritten behind its link: changed-content, republished
            _rewrite(path, rng)
            expected.add((name(path, self.media, "media"), "replaced"))
        for path in deleted:  # a source file deleted: its entry goes (--delete)
            self.deleted_sources.append((path, path.stat().st_size))
            path.unlink()
            expected.add((name(path, self.media, "media"), "deleted"))
        added_dir = self.media / "added"
        added_dir.mkdir(exist_ok=True)
        for index in range(share):  # a new source file: linked
            path = added_dir / f"new-{self.seed}-{index}.txt"
            path.write_text("new")
            self.added.append(path)
            expected.add((name(path, self.media, "media"), "linked"))
        tampered, stale = copies[:copy_share], copies[copy_share : 2 * copy_share]
        for path in tampered:  # a copy's bytes changed in the mirror, same size: stale-copy, replaced
            _rewrite(self.mirror / name(path, self.static, "static"), rng)
            expected.add((name(path, self.static, "static"), "replaced"))
        for path in stale:  # a copied file's source rewritten, same size: stale-copy, replaced
            _rewrite(path, rng)
            expected.add((name(path, self.static, "static"), "replaced"))
        return expected

    def undo(self) -> None:
        """The deleted sources made again and the added ones removed, so every round starts from the same tree."""
        for path, size in self.deleted_sources:
            path.write_bytes(self.rng.randbytes(size))
        shutil.rmtree(self.media / "added", ignore_errors=True)


def check(report: dict, expected: Expected, label: str) -> str:
    """'' when the refresh reported exactly the changes made, else what it missed and what it made up."""
    reported = {(change["name"], change["action"]) for change in report.get("changed", [])}
    missed, extra = expected - reported, reported - expected
    if not missed and not extra:
        return ""
    return (
        f"{label}: the 1% refresh reported {len(reported)} changes, {len(expected)} were made; "
        f"missed {sorted(missed)[:5]}, not made {sorted(extra)[:5]}"
    )
