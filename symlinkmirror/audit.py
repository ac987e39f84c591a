"""audit(): check the mirror against its sources and the storage's rules, returning findings."""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .engine import (
    BROKEN_LINK,
    DEFAULT_IGNORE_PATTERNS,
    ESCAPING_LINK,
    KIND_MISMATCH,
    MISSING,
    NOT_A_FILE,
    OK,
    FileEvent,
    Options,
    Report,
    bad_link,
    collect,
    compare,
    link_roots,
    mirror_lock,
)
from .paths import is_temp_name, is_within, temp_owner_alive
from .storage import SymlinkOrCopyStorage
from .walk import (
    ABSENT,
    LOCK_NAME,
    UNREADABLE,
    Blocked,
    Item,
    Kept,
    Orphan,
    Skipped,
    Source,
    TempFile,
    Unchanged,
    UnchangedCount,
    Walker,
    reserved_prefixes,
)

ORPHAN = "orphan"
UNREADABLE_FINDING = "unreadable"
TEMP_FILE = "temp-file"

# Report order: what exposes files first, then what breaks URLs, then clutter.
CATEGORIES = (
    ESCAPING_LINK,
    "missing",
    "broken-link",
    "wrong-target",
    "kind-mismatch",
    "stale-copy",
    NOT_A_FILE,
    ORPHAN,
    UNREADABLE_FINDING,
    TEMP_FILE,
)

# The source name of findings outside every source's prefix.
UNMANAGED = "(unmanaged)"

# Findings that collect() cannot repair: the source itself must be fixed.
UNREPAIRABLE = {UNREADABLE_FINDING}


@dataclass(frozen=True)
class Finding:
    category: str
    source: str
    name: str  # the mirror name
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"category": self.category, "source": self.source, "name": self.name, "detail": self.detail}


@dataclass
class Audit:
    """Every finding, plus what the walk skipped on purpose (notes, not faults)."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    checked: int = 0
    duration: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.findings

    def by_category(self) -> dict[str, list[Finding]]:
        groups: dict[str, list[Finding]] = {category: [] for category in CATEGORIES}
        for finding in self.findings:
            groups.setdefault(finding.category, []).append(finding)
        return {category: found for category, found in groups.items() if found}

    def counts(self) -> dict[str, int]:
        return dict(collections.Counter(finding.category for finding in self.findings))

    def summary(self) -> str:
        checked = f"{self.checked} {'file' if self.checked == 1 else 'files'} checked"
        if self.clean:
            return f"{checked}: the mirror is clean."
        parts = ", ".join(f"{len(found)} {category}" for category, found in self.by_category().items())
        count = len(self.findings)
        return f"{checked}: {count} {'finding' if count == 1 else 'findings'} ({parts})."

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "checked": self.checked,
            "counts": self.counts(),
            "findings": [finding.as_dict() for finding in self.findings],
            "skipped": [note.as_dict() for note in self.notes],
            "duration": round(self.duration, 3),
        }


def audit(
    sources: list[Source],
    mirror: SymlinkOrCopyStorage,
    *,
    checksum: bool = False,
    ignore_patterns: list[str] | None = None,
    follow_external: bool = False,
    link_style: str | None = None,
    on_file: Callable[[], None] | None = None,
    keep_prefixes: tuple[str, ...] = (),
    on_progress: Callable[[int], None] | None = None,
) -> Audit:
    """Read-only: walk every source with its mirror directory and record what is wrong.

    keep_prefixes names the mirror prefixes of every configured source, also
    those left out of this audit: they are neither orphans nor unmanaged.
    """
    started = time.monotonic()
    result = Audit()
    style = link_style or mirror.link_style
    patterns = list(DEFAULT_IGNORE_PATTERNS) if ignore_patterns is None else ignore_patterns
    mirror_root = mirror.real_location
    prefixes = {source.prefix for source in sources} | set(keep_prefixes)
    for source in sources:
        reserved = reserved_prefixes(source, prefixes)
        symlinked = _symlinked_prefix(source, mirror_root)
        if symlinked is not None:
            # collect() refuses to write through it; never look through it either.
            result.findings.append(symlinked)
            continue
        walker = Walker(
            source,
            mirror_root,
            link_roots(mirror, style),
            ignore_patterns=patterns,
            follow_external=follow_external,
            reserved=reserved,
            settle=(style, checksum),
            report_unchanged=on_file is not None,
        )
        for event in walker:
            if isinstance(event, UnchangedCount):
                result.checked += event.count
                if on_progress is not None:
                    on_progress(event.count)
                continue
            if isinstance(event, Unchanged):
                result.checked += 1
            else:
                _record(event, mirror, style, checksum, result)
            if isinstance(event, Item | Unchanged):
                if on_file is not None:
                    on_file()
                if on_progress is not None:
                    on_progress(1)
    if "" not in prefixes:
        _audit_unmanaged(mirror, mirror_root, "", prefixes, result)
    result.duration = time.monotonic() - started
    return result


def _audit_unmanaged(
    mirror: SymlinkOrCopyStorage, directory: str, rel_dir: str, prefixes: set[str], result: Audit
) -> None:
    """Check links outside every source's prefix (what the site saves through the storage).

    collectmirror does not manage those entries, so they are never orphans; but
    the CDN serves them, so a link there that escapes every root is a finding.
    """
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        name = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        if name in prefixes or (not rel_dir and entry.name == LOCK_NAME):
            continue
        if is_temp_name(entry.name):
            result.findings.append(Finding(TEMP_FILE, UNMANAGED, name, _temp_detail(entry.path)))
        elif entry.is_symlink():
            resolved = os.path.realpath(entry.path)
            if not mirror.wants_link(resolved):
                result.findings.append(Finding(ESCAPING_LINK, UNMANAGED, name, _escaping_detail(resolved)))
            elif not os.path.exists(resolved):
                result.findings.append(Finding(BROKEN_LINK, UNMANAGED, name, "the link's target does not exist"))
        elif entry.is_dir(follow_symlinks=False):
            _audit_unmanaged(mirror, entry.path, name, prefixes, result)


def _find_escapes(mirror: SymlinkOrCopyStorage, entry: os.DirEntry[str], name: str, source: str, result: Audit) -> None:
    """Report every link at or below entry that resolves outside every root.

    For what the walk does not compare one by one (orphan directories,
    directories in a file's place, entries at ignored names): whatever they
    hold, the CDN serves it.
    """
    if entry.is_symlink():
        resolved = os.path.realpath(entry.path)
        if not mirror.wants_link(resolved):
            result.findings.append(Finding(ESCAPING_LINK, source, name, _escaping_detail(resolved)))
        return
    if not entry.is_dir(follow_symlinks=False):
        return
    try:
        children = sorted(os.scandir(entry.path), key=lambda child: child.name)
    except OSError:
        return
    for child in children:
        _find_escapes(mirror, child, f"{name}/{child.name}", source, result)


def _record(event: Any, mirror: SymlinkOrCopyStorage, style: str, checksum: bool, result: Audit) -> None:
    if isinstance(event, Item):
        result.checked += 1
        try:
            verdict = compare(event, mirror, style, checksum=checksum)
        except OSError as exc:
            result.findings.append(
                Finding(UNREADABLE_FINDING, event.source.name, event.mirror_name, exc.strerror or str(exc))
            )
            return
        if verdict != OK:
            result.findings.append(Finding(verdict, event.source.name, event.mirror_name, _detail(verdict, event)))
        if verdict == NOT_A_FILE and event.entry is not None and event.entry.is_dir(follow_symlinks=False):
            _find_escapes(mirror, event.entry, event.mirror_name, event.source.name, result)
    elif isinstance(event, Skipped):
        if event.reason == ABSENT and _holds_entries(os.path.join(mirror.real_location, event.mirror_name)):
            detail = f"{event.detail}, yet the mirror still holds entries for it (is it mounted?)"
            result.findings.append(Finding(ORPHAN, event.source.name, event.mirror_name, detail))
        elif event.reason == UNREADABLE:
            result.findings.append(Finding(UNREADABLE_FINDING, event.source.name, event.mirror_name, event.detail))
        else:
            result.notes.append(Finding(event.reason, event.source.name, event.mirror_name, event.detail))
    elif isinstance(event, Orphan):
        category = ORPHAN
        if event.entry.is_symlink() and bad_link(event.entry.path, mirror, wanted=False) == ESCAPING_LINK:
            category = ESCAPING_LINK
        detail = "no source file has this name"
        if category == ESCAPING_LINK:
            detail = _escaping_detail(os.path.realpath(event.entry.path))
        result.findings.append(Finding(category, event.source.name, event.mirror_name, detail))
        if event.entry.is_dir(follow_symlinks=False):
            _find_escapes(mirror, event.entry, event.mirror_name, event.source.name, result)
    elif isinstance(event, Kept):
        _find_escapes(mirror, event.entry, event.mirror_name, event.source.name, result)
    elif isinstance(event, Blocked):
        if event.entry.is_symlink() and not is_within(os.path.realpath(event.entry.path), mirror.real_location):
            result.findings.append(
                Finding(
                    ESCAPING_LINK,
                    event.source.name,
                    event.mirror_name,
                    "a symlinked directory leading outside the mirror",
                )
            )
        else:
            result.findings.append(
                Finding(NOT_A_FILE, event.source.name, event.mirror_name, "not a directory, where the source has one")
            )
    elif isinstance(event, TempFile):
        result.findings.append(Finding(TEMP_FILE, "", event.mirror_name, _temp_detail(event.path)))


def _escaping_detail(resolved: str) -> str:
    return f"a symlink to '{resolved}', outside every symlink_within root"


def _temp_detail(path: str) -> str:
    return "its writer is still running" if temp_owner_alive(path) else "left by an interrupted run"


def _holds_entries(path: str) -> bool:
    try:
        with os.scandir(path) as entries:
            return any(True for _entry in entries)
    except OSError:
        return False


def _symlinked_prefix(source: Source, mirror_root: str) -> Finding | None:
    """A finding when the source's mirror directory is reached through a symlink."""
    if not source.prefix:
        return None
    path = os.path.join(mirror_root, source.prefix)
    if not os.path.lexists(path) or os.path.realpath(path) == path:
        return None
    if is_within(os.path.realpath(path), mirror_root):
        return Finding(NOT_A_FILE, source.name, source.prefix, "not a directory, where the source has one")
    return Finding(ESCAPING_LINK, source.name, source.prefix, "a symlinked directory leading outside the mirror")


def _detail(verdict: str, item: Item) -> str:
    if verdict == MISSING:
        return "the source file has no mirror entry"
    if verdict == BROKEN_LINK:
        return "the link's target does not exist"
    if verdict == ESCAPING_LINK:
        assert item.entry is not None
        return _escaping_detail(os.path.realpath(item.entry.path))
    if verdict == NOT_A_FILE:
        return "not a regular file or a link"
    if verdict == KIND_MISMATCH:
        assert item.entry is not None
        if not item.entry.is_symlink():
            return "a copy where a link belongs"
        # A symlink that the source wants linked: only the hard style rejects it.
        return "a symlink where a hard link belongs" if item.wants_link else "a link where a copy belongs"
    return {
        "wrong-target": "a link to something other than its source",
        "stale-copy": "the copy differs from its source",
    }[verdict]


def repair(sources: list[Source], mirror: SymlinkOrCopyStorage, found: Audit, options: Options) -> Report:
    """Fix what can be fixed: collect() with --delete, then the escaping links and leftovers it leaves.

    collect() never touches entries outside every source's prefix or at ignored
    names; an escaping link there is unlinked all the same (never followed).
    Same atomicity and lock as collectmirror; per-entry failures are in the report.
    """
    report = collect(sources, mirror, replace(options, delete=True))
    leftovers = [
        f for f in found.findings if f.category == ESCAPING_LINK or (f.source == UNMANAGED and f.category == TEMP_FILE)
    ]
    if leftovers and not options.dry_run:
        with mirror_lock(os.fspath(mirror.location)):
            for finding in leftovers:
                path = os.path.join(mirror.real_location, finding.name)
                if finding.category == TEMP_FILE and temp_owner_alive(path):
                    continue
                if finding.category == ESCAPING_LINK and not _still_escaping(mirror, path):
                    continue  # collect() replaced it already
                try:
                    os.unlink(path)  # a link or a temporary file: never followed
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    report.add(FileEvent("failed", finding.source, finding.name, exc.strerror or str(exc)))
                    continue
                report.add(FileEvent("deleted", finding.source, finding.name, finding.detail))
    return report


def _still_escaping(mirror: SymlinkOrCopyStorage, path: str) -> bool:
    if not os.path.islink(path) or not is_within(os.path.realpath(os.path.dirname(path)), mirror.real_location):
        return False  # gone, replaced, or reached through a link collect() removed
    resolved = os.path.realpath(path)
    return not mirror.wants_link(resolved)
