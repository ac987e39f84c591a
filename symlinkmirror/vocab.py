"""The package's vocabularies: one StrEnum per idea, so --json keeps its strings and mypy catches a typo."""

from __future__ import annotations

from enum import StrEnum


class LinkStyle(StrEnum):
    """How a mirror entry reaches a trusted original."""

    ABSOLUTE = "absolute"
    RELATIVE = "relative"
    HARD = "hard"


class EntryKind(StrEnum):
    """What stands at a name in the mirror, as the storage tells it; put() and a run make the first three."""

    SYMLINK = "symlink"
    HARDLINK = "hardlink"  # a regular file that shares its inode with another name
    COPY = "copy"
    MISSING = "missing"
    OTHER = "other"  # a directory, a FIFO, a device...


class FileType(StrEnum):
    """What a name holds on disk (on either side), as lstat() sees it."""

    FILE = "file"
    SYMLINK = "symlink"
    DIRECTORY = "directory"
    SPECIAL = "special"  # a FIFO, socket or device


class Verdict(StrEnum):
    """What the plan finds at one mirror name; the order is verifymirror's report order."""

    OK = "ok"
    ESCAPING_LINK = "escaping-link"
    GENERATION = "generation"  # a generational source's structure: its prefix, its kept generations
    MISSING = "missing"
    BROKEN_LINK = "broken-link"
    WRONG_TARGET = "wrong-target"
    KIND_MISMATCH = "kind-mismatch"
    STALE_COPY = "stale-copy"
    CHANGED_CONTENT = "changed-content"
    NOT_A_FILE = "not-a-file"
    ORPHAN = "orphan"
    UNREADABLE = "unreadable"
    TEMP_FILE = "temp-file"


class Action(StrEnum):
    """What the plan does about one mirror name."""

    NONE = "none"
    CREATE = "create"
    REPLACE = "replace"
    DELETE = "delete"
    RESTAMP = "restamp"  # an equal copy (by --checksum) takes its source's mtime
    CLEAN = "clean"  # a leftover temporary file of a dead writer is removed
    FAIL = "fail"  # the source cannot be read: counted as a failure, the entry kept


class Outcome(StrEnum):
    """What happened to one entry, as the report counts it; the order is the summary's."""

    LINKED = "linked"
    COPIED = "copied"
    REPLACED = "replaced"
    UNMODIFIED = "unmodified"
    DELETED = "deleted"
    SKIPPED = "skipped"
    FAILED = "failed"
    CLEANED = "cleaned"  # a leftover temporary file removed: not counted


class GenerationAction(StrEnum):
    """What a run did to a source that keeps generations."""

    PUBLISHED = "published"
    UNCHANGED = "unchanged"  # nothing to publish: the generation served stays
    ROLLED_BACK = "rolled-back"
    KEPT = "kept"  # a rollback found no older generation: the one served stays
    IN_PLACE = "in-place"  # generations turned off: the source is mirrored in place again


class SkipReason(StrEnum):
    """Why a source entry is not mirrored."""

    ESCAPING_LINK = "escaping-link"
    BROKEN_LINK = "broken-link"
    LOOP = "loop"
    SPECIAL = "special"
    UNSAFE_NAME = "unsafe-name"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    ABSENT = "absent"


class Role(StrEnum):
    """Whose mirror entry a pair is."""

    MANAGED = "managed"  # inside a source's prefix, at a name the source walks
    KEPT = "kept"  # at a name the source ignores: kept, but no escaping link may hide there
    UNMANAGED = "unmanaged"  # outside every source's prefix: saved by the site itself
