"""The decision: one Step (verdict, action) for each pair. Pure over the pair's facts; table-tested in memory.

collect applies the steps, verify reports those whose verdict is not ok, a dry
run prints them, and repair applies them with --delete: one rule, one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, NamedTuple

from .entries import describe, is_temp
from .pairs import MirrorEntry, Pair, SourceEntry
from .paths import containing_root, is_within, relative_prefix, same_mtime
from .vocab import Action, EntryKind, FileType, LinkStyle, Role, SkipReason, Verdict


@dataclass(frozen=True, slots=True)
class Rules:
    """What the plan needs beside the pair: the run's options and the mirror's roots."""

    style: LinkStyle
    mirror_root: str  # resolved
    trusted: tuple[str, ...]  # resolved; a mirror link resolving outside all of them is escaping
    checksum: bool = False
    delete: bool = False
    # The mirror keeps whole seconds at best (FAT, which has no symlinks either):
    # a copy's mtime may then read back rounded. Elsewhere mtimes must be equal.
    coarse_mtime: bool = False


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
DIRECTORY_LINK_DETAIL = "a symlink to the directory '{}', which would publish every file in it"

# Enum members as module globals: a member lookup through its class costs more than the rest of
# an unchanged file's step on Python 3.11, and the plan runs once per file.
_OK, _NONE, _REPLACE = Verdict.OK, Action.NONE, Action.REPLACE
_SYMLINK_TYPE, _FILE_TYPE, _DIRECTORY_TYPE = FileType.SYMLINK, FileType.FILE, FileType.DIRECTORY
_HARD, _RELATIVE = LinkStyle.HARD, LinkStyle.RELATIVE
_SYMLINK, _HARDLINK, _COPY = EntryKind.SYMLINK, EntryKind.HARDLINK, EntryKind.COPY
_CHANGED_CONTENT = Verdict.CHANGED_CONTENT
_new_step = tuple.__new__  # Step's own __new__ is a Python function filling in the defaults


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
        if src.kind is _DIRECTORY_TYPE:
            return _directory(pair, rules)
        return _file(pair, src, rules)
    except Exception as exc:  # a remote storage raises its own
        return Step(pair, Verdict.UNREADABLE, Action.FAIL, describe(exc))


def clear(pair: Pair) -> Step:
    """--clear: every entry of the source's mirror directory goes, whatever it is."""
    return Step(pair, Verdict.OK, Action.DELETE, "--clear")


def _ok(pair: Pair) -> Step:
    return _new_step(Step, (pair, _OK, _NONE, "", None))


def _file(pair: Pair, src: SourceEntry, rules: Rules) -> Step:
    dst = pair.dst
    style = rules.style
    wants = src.wants_link and src.real_path is not None
    if dst is not None and dst.kind is _SYMLINK_TYPE:
        # A refresh's usual case first: the wanted link, with nothing else worked out for it.
        symlink_wanted = wants and style is not _HARD
        if symlink_wanted and dst.target() == wanted_target(pair, style):
            if dst.lstat().st_mtime_ns != src.link_stamp():
                return Step(pair, _CHANGED_CONTENT, _REPLACE, CHANGED_DETAIL, _SYMLINK)
            return _ok(pair)
        verdict, detail = _bad_link(dst, src, rules, wanted=symlink_wanted)
        return Step(pair, verdict, _REPLACE, detail, (_HARDLINK if style is _HARD else _SYMLINK) if wants else _COPY)
    made = (_HARDLINK if style is _HARD else _SYMLINK) if wants else _COPY
    if dst is None:
        return Step(pair, Verdict.MISSING, Action.CREATE, MISSING_DETAIL, made)
    if dst.kind is not _FILE_TYPE:
        return Step(pair, Verdict.NOT_A_FILE, _REPLACE, "not a regular file or a link", made)
    return _copy(pair, src, dst, rules, made)


def _copy(pair: Pair, src: SourceEntry, dst: MirrorEntry, rules: Rules, made: EntryKind) -> Step:
    st = dst.lstat()
    if made is EntryKind.SYMLINK:
        return Step(pair, Verdict.KIND_MISMATCH, Action.REPLACE, "a copy where a link belongs", made)
    if made is EntryKind.HARDLINK:
        dev, ino = src.inode()
        if (st.st_dev, st.st_ino) == (dev, ino):
            return _ok(pair)
        if st.st_dev == dev:
            return _same_filesystem_copy(pair, src, dst, st, made)
        # Across filesystems a hard link cannot be made: the entry is a copy, compared as one.
    size, mtime_ns = src.stat()
    stale = Step(pair, Verdict.STALE_COPY, Action.REPLACE, "the copy differs from its source", made)
    if st.st_size != size:
        return stale
    if rules.checksum:
        if not dst.same_bytes(src):
            return stale
        return Step(pair, Verdict.OK, Action.NONE if st.st_mtime_ns == mtime_ns else Action.RESTAMP)
    if st.st_mtime_ns == mtime_ns or (rules.coarse_mtime and same_mtime(st.st_mtime_ns, mtime_ns)):
        return _ok(pair)
    return stale


def _same_filesystem_copy(pair: Pair, src: SourceEntry, dst: MirrorEntry, st: Any, made: EntryKind) -> Step:
    """Another file where the hard link belongs, on its filesystem: kept only if its bytes are the source's.

    It is the copy made where the kernel refused a link (EPERM: protected_hardlinks,
    an immutable source; EMLINK), which a mismatch would replace every run; or the
    old inode a rename over the source left behind, whose size and mtime may both
    still match (rsync -a, cp -p keep the mtime): only the bytes tell them apart.
    A stale one is re-made, as a hard link where one can be made.
    """
    size, mtime_ns = src.stat()
    if st.st_size != size or not dst.same_bytes(src):
        return Step(pair, Verdict.STALE_COPY, Action.REPLACE, "the copy differs from its source", made)
    return Step(pair, Verdict.OK, Action.NONE if st.st_mtime_ns == mtime_ns else Action.RESTAMP)


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
    if dst is None or dst.kind is _DIRECTORY_TYPE:
        return _ok(pair)
    # A file, or a symlink (perhaps to a directory outside the mirror), where a
    # real directory belongs: removed, never looked through.
    if dst.kind is FileType.SYMLINK:
        resolved = dst.resolved()
        if not is_within(resolved, rules.mirror_root) and containing_root(resolved, rules.trusted) is None:
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
    if src.skip is SkipReason.ESCAPING_LINK and dst.kind is _DIRECTORY_TYPE:
        # The links in this mirror directory were published through this name,
        # which now leads out of every trusted root: kept, they would serve what
        # it leads to. They go with or without --delete. (A link at the name
        # itself resolves outside too, and goes below; a copy is only stale.)
        return Step(pair, Verdict.ESCAPING_LINK, Action.DELETE, f"the source is now {src.detail}")
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
        # Never kept, --delete or not: a link out of every trusted root serves
        # what it points at, and a link to a directory every file in it.
        if containing_root(resolved, rules.trusted) is None:
            return Step(pair, Verdict.ESCAPING_LINK, Action.DELETE, escaping_detail(resolved))
        if pair.role is Role.MANAGED and dst.resolves_to_directory():
            return Step(pair, Verdict.ESCAPING_LINK, Action.DELETE, DIRECTORY_LINK_DETAIL.format(resolved))
        if pair.role is Role.UNMANAGED and not dst.resolves():
            return Step(pair, Verdict.BROKEN_LINK, Action.NONE, BROKEN_DETAIL)
    if pair.role is not Role.MANAGED:
        return _ok(pair)
    return Step(pair, Verdict.ORPHAN, delete, ORPHAN_DETAIL)


def escaping_detail(resolved: str) -> str:
    return f"a symlink to '{resolved}', outside every trusted root"


def wanted_target(pair: Pair, style: LinkStyle) -> str:
    """What the mirror symlink holds: the resolved source file, absolute or relative to the link's directory."""
    src = pair.src
    assert src is not None and src.real_path is not None and pair.directory is not None
    if style is not _RELATIVE:
        return src.real_path
    head, tail = os.path.split(src.real_path)
    return link_prefix(head, pair.directory.real, style) + tail


def link_prefix(real_dir: str, link_dir: str, style: LinkStyle) -> str:
    """What the wanted symlink in link_dir to a file in real_dir holds before the file's name."""
    if style is _RELATIVE:
        return relative_prefix(real_dir, link_dir)
    return os.path.join(real_dir, "")
