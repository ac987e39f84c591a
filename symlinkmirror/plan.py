"""The decision: one Step (verdict, action) for each pair. Pure over the pair's facts; table-tested in memory.

collect applies the steps, verify reports those whose verdict is not ok, a dry
run prints them, and repair applies them with --delete: one rule, one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from .entries import describe, is_temp
from .pairs import MirrorEntry, Pair, SourceEntry
from .paths import containing_root, is_within, same_mtime
from .vocab import Action, EntryKind, FileType, LinkStyle, Role, SkipReason, Verdict


@dataclass(frozen=True, slots=True)
class Rules:
    """What the plan needs beside the pair: the run's options and the mirror's roots."""

    style: LinkStyle
    mirror_root: str  # resolved
    trusted: tuple[str, ...]  # resolved; a mirror link resolving outside all of them is escaping
    checksum: bool = False
    delete: bool = False


class Step(NamedTuple):
    """What the plan decided for one pair. detail is the finding's sentence. (A tuple: one is made per file.)"""

    pair: Pair
    verdict: Verdict
    action: Action
    detail: str = ""
    made: EntryKind | None = None  # for CREATE and REPLACE: what the entry becomes

    @property
    def name(self) -> str:
        return self.pair.name


MISSING_DETAIL = "the source file has no mirror entry"
ORPHAN_DETAIL = "no source file has this name"
BROKEN_DETAIL = "the link's target does not exist"
IN_THE_WAY = "not a directory, where the source has one"
CHANGED_DETAIL = "the linked file changed since its link was published"


def decide(pair: Pair, rules: Rules) -> Step:
    """The step for one pair; a fact that cannot be read (any storage's error) makes it unreadable."""
    try:
        src = pair.src
        if src is None:
            return _without_source(pair, rules)
        if src.error is not None:
            return Step(pair, Verdict.UNREADABLE, Action.FAIL, src.error)
        if src.skip is not None:
            return _skipped(pair, src, rules)
        if src.kind is FileType.DIRECTORY:
            return _directory(pair, rules)
        return _file(pair, src, rules)
    except Exception as exc:  # a remote storage raises its own
        return Step(pair, Verdict.UNREADABLE, Action.FAIL, describe(exc))


def clear(pair: Pair) -> Step:
    """--clear: every entry of the source's mirror directory goes, whatever it is."""
    return Step(pair, Verdict.OK, Action.DELETE, "--clear")


def _file(pair: Pair, src: SourceEntry, rules: Rules) -> Step:
    dst = pair.dst
    wants = src.wants_link and src.real_path is not None
    made = (EntryKind.HARDLINK if rules.style is LinkStyle.HARD else EntryKind.SYMLINK) if wants else EntryKind.COPY
    if dst is None:
        return Step(pair, Verdict.MISSING, Action.CREATE, MISSING_DETAIL, made)
    if dst.kind is FileType.SYMLINK:
        symlink_wanted = wants and rules.style is not LinkStyle.HARD
        if symlink_wanted and dst.target() == wanted_target(pair, rules.style):
            if dst.lstat().st_mtime_ns != src.stat()[1]:
                return Step(pair, Verdict.CHANGED_CONTENT, Action.REPLACE, CHANGED_DETAIL, made)
            return Step(pair, Verdict.OK, Action.NONE)
        verdict, detail = _bad_link(dst, src, rules, wanted=symlink_wanted)
        return Step(pair, verdict, Action.REPLACE, detail, made)
    if dst.kind is not FileType.FILE:
        return Step(pair, Verdict.NOT_A_FILE, Action.REPLACE, "not a regular file or a link", made)
    return _copy(pair, src, dst, rules, made)


def _copy(pair: Pair, src: SourceEntry, dst: MirrorEntry, rules: Rules, made: EntryKind) -> Step:
    st = dst.lstat()
    if made is EntryKind.SYMLINK:
        return Step(pair, Verdict.KIND_MISMATCH, Action.REPLACE, "a copy where a link belongs", made)
    if made is EntryKind.HARDLINK:
        dev, ino = src.inode()
        if (st.st_dev, st.st_ino) == (dev, ino):
            return Step(pair, Verdict.OK, Action.NONE)
        if st.st_dev == dev:
            return Step(pair, Verdict.KIND_MISMATCH, Action.REPLACE, "a copy where a link belongs", made)
        # Hard links cannot cross filesystems: the entry is a copy, compared as one.
    size, mtime_ns = src.stat()
    stale = Step(pair, Verdict.STALE_COPY, Action.REPLACE, "the copy differs from its source", made)
    if st.st_size != size:
        return stale
    if rules.checksum:
        if not dst.same_bytes(src):
            return stale
        return Step(pair, Verdict.OK, Action.NONE if st.st_mtime_ns == mtime_ns else Action.RESTAMP)
    return Step(pair, Verdict.OK, Action.NONE) if same_mtime(st.st_mtime_ns, mtime_ns) else stale


def _bad_link(dst: MirrorEntry, src: SourceEntry, rules: Rules, *, wanted: bool) -> tuple[Verdict, str]:
    """Name what is wrong with a mirror symlink that is not the wanted one."""
    resolved = dst.resolved()
    if containing_root(resolved, rules.trusted) is None:
        return Verdict.ESCAPING_LINK, escaping_detail(resolved)
    if not dst.resolves():
        return Verdict.BROKEN_LINK, BROKEN_DETAIL
    if wanted:
        return Verdict.WRONG_TARGET, "a link to something other than its source"
    if src.wants_link:
        return Verdict.KIND_MISMATCH, "a symlink where a hard link belongs"
    return Verdict.KIND_MISMATCH, "a link where a copy belongs"


def _directory(pair: Pair, rules: Rules) -> Step:
    dst = pair.dst
    if dst is None or dst.kind is FileType.DIRECTORY:
        return Step(pair, Verdict.OK, Action.NONE)
    # A file, or a symlink (perhaps to a directory outside the mirror), where a
    # real directory belongs: removed, never looked through.
    if dst.kind is FileType.SYMLINK and not is_within(dst.resolved(), rules.mirror_root):
        return Step(pair, Verdict.ESCAPING_LINK, Action.DELETE, "a symlinked directory leading outside the mirror")
    return Step(pair, Verdict.NOT_A_FILE, Action.DELETE, IN_THE_WAY)


def _skipped(pair: Pair, src: SourceEntry, rules: Rules) -> Step:
    dst = pair.dst
    if src.skip is SkipReason.ABSENT:
        if dst is not None and dst.holds_entries():
            detail = f"{src.detail}, yet the mirror still holds entries for it (is it mounted?)"
            return Step(pair, Verdict.ORPHAN, Action.NONE, detail)
        return Step(pair, Verdict.OK, Action.NONE, src.detail)
    if dst is None:
        return Step(pair, Verdict.OK, Action.NONE, src.detail)
    return _without_source(pair, rules)  # what the mirror holds at a skipped name is an orphan


def _without_source(pair: Pair, rules: Rules) -> Step:
    dst = pair.dst
    assert dst is not None
    if is_temp(pair.base):
        if dst.temp_live():  # a concurrent save() about to rename it into place
            return Step(pair, Verdict.OK, Action.NONE, "its writer is still running")
        return Step(pair, Verdict.TEMP_FILE, Action.CLEAN, "left by an interrupted run")
    delete = Action.DELETE if rules.delete else Action.NONE
    if dst.kind is FileType.SYMLINK:
        resolved = dst.resolved()
        if containing_root(resolved, rules.trusted) is None:
            return Step(pair, Verdict.ESCAPING_LINK, delete, escaping_detail(resolved))
        if pair.role is Role.UNMANAGED and not dst.resolves():
            return Step(pair, Verdict.BROKEN_LINK, Action.NONE, BROKEN_DETAIL)
    if pair.role is not Role.MANAGED:
        return Step(pair, Verdict.OK, Action.NONE)
    return Step(pair, Verdict.ORPHAN, delete, ORPHAN_DETAIL)


def escaping_detail(resolved: str) -> str:
    return f"a symlink to '{resolved}', outside every trusted root"


def wanted_target(pair: Pair, style: LinkStyle) -> str:
    """What the mirror symlink holds: the resolved source file, absolute or relative to the link's directory."""
    src = pair.src
    assert src is not None and src.real_path is not None and pair.directory is not None
    if style is not LinkStyle.RELATIVE:
        return src.real_path
    head, tail = os.path.split(src.real_path)
    return _relative_prefix(head, pair.directory.real) + tail


@lru_cache(maxsize=512)
def _relative_prefix(real_dir: str, link_dir: str) -> str:
    relative = os.path.relpath(real_dir, link_dir)
    return "" if relative == "." else relative + "/"
