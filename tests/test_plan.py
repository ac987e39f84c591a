"""The planner over in-memory pairs: one row per rule, no file system."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
from django.core.files.storage import Storage

from symlinkmirror.directories import Directory
from symlinkmirror.pairs import MirrorEntry, Pair, SourceEntry
from symlinkmirror.paths import TEMP_PREFIX
from symlinkmirror.plan import Rules, decide
from symlinkmirror.sources import Source
from symlinkmirror.vocab import Action, EntryKind, FileType, LinkStyle, Role, SkipReason, Verdict

ROOT = Directory(None, "/mirror", "/mirror")  # never opened: every fact below is given
MEDIA_DIR = ROOT.child("media")
SOURCE = Source("media", Storage(), "media")
RULES = Rules(LinkStyle.ABSOLUTE, "/mirror", ("/srv/media",))
ORIGINAL = "/srv/media/a.txt"


def stat(size=5, mtime=1_000_000_000_000, dev=1, ino=2):
    return SimpleNamespace(st_size=size, st_mtime_ns=mtime, st_ctime_ns=mtime, st_dev=dev, st_ino=ino)


def source_file(*, linked=True, **facts) -> SourceEntry:
    return SourceEntry(FileType.FILE, ORIGINAL if linked else "/srv/static/a.txt", linked, st=stat(**facts))


def symlink(target, *, resolved=None, exists=True, to_directory=False, **facts) -> MirrorEntry:
    return MirrorEntry(
        FileType.SYMLINK,
        "a.txt",
        MEDIA_DIR,
        st=stat(**facts),
        target=target,
        resolved=resolved or target,
        exists=exists,
        to_directory=to_directory,
    )


def copy(*, same=True, **facts) -> MirrorEntry:
    return MirrorEntry(FileType.FILE, "a.txt", MEDIA_DIR, st=stat(**facts), same=same)


def other(kind: FileType) -> MirrorEntry:
    return MirrorEntry(kind, "a.txt", MEDIA_DIR, st=stat())


class Failing:
    """A storage's own exception, not an OSError (botocore's EndpointConnectionError, say)."""

    st_dev = st_ino = 0

    def __getattr__(self, name):
        raise RuntimeError("Could not connect to the endpoint URL")


def plan_of(src, dst, *, name="media/a.txt", role=Role.MANAGED, **rules) -> tuple[Verdict, Action, EntryKind | None]:
    step = decide(Pair(SOURCE, name, src, dst, directory=MEDIA_DIR, role=role), replace(RULES, **rules))
    return step.verdict, step.action, step.made


DIRECTORY = SourceEntry(FileType.DIRECTORY)
TABLE = [
    # A source file, and what the mirror holds at its name.
    ("missing, to link", source_file(), None, {}, (Verdict.MISSING, Action.CREATE, EntryKind.SYMLINK)),
    ("missing, to copy", source_file(linked=False), None, {}, (Verdict.MISSING, Action.CREATE, EntryKind.COPY)),
    (
        "missing, to hard-link",
        source_file(),
        None,
        {"style": LinkStyle.HARD},
        (Verdict.MISSING, Action.CREATE, EntryKind.HARDLINK),
    ),
    ("the wanted link", source_file(), symlink(ORIGINAL), {}, (Verdict.OK, Action.NONE, None)),
    (
        "the wanted relative link",
        source_file(),
        symlink("../../srv/media/a.txt", resolved=ORIGINAL),
        {"style": LinkStyle.RELATIVE},
        (Verdict.OK, Action.NONE, None),
    ),
    (
        "an absolute link, relative wanted",
        source_file(),
        symlink(ORIGINAL),
        {"style": LinkStyle.RELATIVE},
        (Verdict.WRONG_TARGET, Action.REPLACE, EntryKind.SYMLINK),
    ),
    (
        "the linked file changed in place",
        source_file(mtime=2_000_000_000_000),
        symlink(ORIGINAL),
        {},
        (Verdict.CHANGED_CONTENT, Action.REPLACE, EntryKind.SYMLINK),
    ),
    (
        "a link to another original",
        source_file(),
        symlink("/srv/media/b.txt"),
        {},
        (Verdict.WRONG_TARGET, Action.REPLACE, EntryKind.SYMLINK),
    ),
    (
        "a broken link",
        source_file(),
        symlink("/srv/media/gone.txt", exists=False),
        {},
        (Verdict.BROKEN_LINK, Action.REPLACE, EntryKind.SYMLINK),
    ),
    (
        "an escaping link",
        source_file(),
        symlink("/etc/passwd"),
        {},
        (Verdict.ESCAPING_LINK, Action.REPLACE, EntryKind.SYMLINK),
    ),
    (
        "a link where a copy belongs",
        source_file(linked=False),
        symlink("/srv/media/b.txt"),
        {},
        (Verdict.KIND_MISMATCH, Action.REPLACE, EntryKind.COPY),
    ),
    (
        "a symlink, hard links wanted",
        source_file(),
        symlink(ORIGINAL),
        {"style": LinkStyle.HARD},
        (Verdict.KIND_MISMATCH, Action.REPLACE, EntryKind.HARDLINK),
    ),
    (
        "a copy where a link belongs",
        source_file(),
        copy(),
        {},
        (Verdict.KIND_MISMATCH, Action.REPLACE, EntryKind.SYMLINK),
    ),
    ("the hard link", source_file(), copy(), {"style": LinkStyle.HARD}, (Verdict.OK, Action.NONE, None)),
    (
        "an equal copy on the hard link's filesystem (the kernel refused the link)",
        source_file(),
        copy(ino=3),
        {"style": LinkStyle.HARD},
        (Verdict.OK, Action.NONE, None),
    ),
    (
        "a stale copy on the hard link's filesystem",
        source_file(),
        copy(ino=3, size=6),
        {"style": LinkStyle.HARD},
        (Verdict.STALE_COPY, Action.REPLACE, EntryKind.HARDLINK),
    ),
    (
        "--checksum: a copy of other bytes on the hard link's filesystem",
        source_file(),
        copy(ino=3, same=False),
        {"style": LinkStyle.HARD, "checksum": True},
        (Verdict.STALE_COPY, Action.REPLACE, EntryKind.HARDLINK),
    ),
    (
        "a copy across filesystems, hard wanted",
        source_file(),
        copy(dev=9, ino=3),
        {"style": LinkStyle.HARD},
        (Verdict.OK, Action.NONE, None),
    ),
    ("an equal copy", source_file(linked=False), copy(), {}, (Verdict.OK, Action.NONE, None)),
    (
        "a copy on FAT, mtime in whole seconds",
        source_file(linked=False, mtime=1_000_000_000_123),
        copy(mtime=1_001_000_000_000),
        {"coarse_mtime": True},
        (Verdict.OK, Action.NONE, None),
    ),
    (
        "a copy a second older than its source, where mtimes are exact",
        source_file(linked=False, mtime=1_001_000_000_000),
        copy(mtime=1_000_000_000_000),
        {},
        (Verdict.STALE_COPY, Action.REPLACE, EntryKind.COPY),
    ),
    (
        "a copy of another size",
        source_file(linked=False),
        copy(size=6),
        {},
        (Verdict.STALE_COPY, Action.REPLACE, EntryKind.COPY),
    ),
    (
        "a copy of another mtime",
        source_file(linked=False),
        copy(mtime=7),
        {},
        (Verdict.STALE_COPY, Action.REPLACE, EntryKind.COPY),
    ),
    (
        "--checksum: other bytes",
        source_file(linked=False),
        copy(same=False),
        {"checksum": True},
        (Verdict.STALE_COPY, Action.REPLACE, EntryKind.COPY),
    ),
    (
        "--checksum: equal bytes, other mtime",
        source_file(linked=False),
        copy(mtime=7),
        {"checksum": True},
        (Verdict.OK, Action.RESTAMP, None),
    ),
    (
        "a directory where a file belongs",
        source_file(),
        other(FileType.DIRECTORY),
        {},
        (Verdict.NOT_A_FILE, Action.REPLACE, EntryKind.SYMLINK),
    ),
    (
        "a FIFO where a file belongs",
        source_file(),
        other(FileType.SPECIAL),
        {},
        (Verdict.NOT_A_FILE, Action.REPLACE, EntryKind.SYMLINK),
    ),
    (
        "a source that cannot be read",
        SourceEntry(error="Permission denied"),
        copy(),
        {},
        (Verdict.UNREADABLE, Action.FAIL, None),
    ),
    (
        "a storage that raises its own error",
        SourceEntry(FileType.FILE, None, False, st=Failing()),
        copy(),
        {},
        (Verdict.UNREADABLE, Action.FAIL, None),
    ),
    # A source directory.
    ("a directory, none in the mirror", DIRECTORY, None, {}, (Verdict.OK, Action.NONE, None)),
    ("a directory, one in the mirror", DIRECTORY, other(FileType.DIRECTORY), {}, (Verdict.OK, Action.NONE, None)),
    (
        "a file where a directory belongs",
        DIRECTORY,
        other(FileType.FILE),
        {},
        (Verdict.NOT_A_FILE, Action.DELETE, None),
    ),
    (
        "a symlink out of the mirror where a directory belongs",
        DIRECTORY,
        symlink("/etc"),
        {},
        (Verdict.ESCAPING_LINK, Action.DELETE, None),
    ),
    (
        "a symlink into a trusted root where a directory belongs: in the way, not an escape",
        DIRECTORY,
        symlink("/srv/media/photos"),
        {},
        (Verdict.NOT_A_FILE, Action.DELETE, None),
    ),
    (
        "a symlink inside the mirror where a directory belongs",
        DIRECTORY,
        symlink("/mirror/static"),
        {},
        (Verdict.NOT_A_FILE, Action.DELETE, None),
    ),
    # No source entry.
    ("an orphan, --delete", None, copy(), {"delete": True}, (Verdict.ORPHAN, Action.DELETE, None)),
    ("an orphan, kept", None, copy(), {}, (Verdict.ORPHAN, Action.NONE, None)),
    (
        "an escaping orphan link, --delete",
        None,
        symlink("/etc/passwd"),
        {"delete": True},
        (Verdict.ESCAPING_LINK, Action.DELETE, None),
    ),
    (
        "the entry of a skipped source link",
        SourceEntry(skip=SkipReason.ESCAPING_LINK),
        copy(),
        {"delete": True},
        (Verdict.ORPHAN, Action.DELETE, None),
    ),
    (
        "an escaping orphan link, without --delete: removed all the same",
        None,
        symlink("/etc/passwd"),
        {},
        (Verdict.ESCAPING_LINK, Action.DELETE, None),
    ),
    (
        "the mirror directory of a source directory that became an escaping link",
        SourceEntry(skip=SkipReason.ESCAPING_LINK, detail="a symlink to '/outside', outside every trusted root"),
        MirrorEntry(FileType.DIRECTORY),
        {},
        (Verdict.ESCAPING_LINK, Action.DELETE, None),
    ),
    (
        "an orphan link to a directory inside a trusted root, without --delete",
        None,
        symlink("/srv/media/photos", to_directory=True),
        {},
        (Verdict.ESCAPING_LINK, Action.DELETE, None),
    ),
    (
        "a skipped source link, nothing mirrored",
        SourceEntry(skip=SkipReason.ESCAPING_LINK),
        None,
        {},
        (Verdict.OK, Action.NONE, None),
    ),
    (
        "a file the storage also lists as a directory",
        SourceEntry(skip=SkipReason.CONFLICT),
        None,
        {},
        (Verdict.OK, Action.NONE, None),
    ),
]


@pytest.mark.parametrize(("src", "dst", "rules", "expected"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_plan(src, dst, rules, expected):
    assert plan_of(src, dst, **rules) == expected


def test_a_regular_file_where_the_sources_prefix_belongs_is_deleted_and_verified_as_such():
    # verifymirror once said "3 missing" while collectmirror --dry-run said it would delete 'media'.
    prefix = MirrorEntry(FileType.FILE, "media", ROOT, st=stat())

    step = decide(Pair(SOURCE, "media", DIRECTORY, prefix, directory=ROOT), RULES)

    assert (step.verdict, step.action, step.detail) == (
        Verdict.NOT_A_FILE,
        Action.DELETE,
        "not a directory, where the source has one",
    )


@pytest.mark.parametrize(
    ("live", "expected"), [(False, (Verdict.TEMP_FILE, Action.CLEAN, None)), (True, (Verdict.OK, Action.NONE, None))]
)
def test_a_temporary_file_is_a_finding_only_once_its_writer_is_gone(live, expected):
    leftover = MirrorEntry(FileType.FILE, f"{TEMP_PREFIX}1-abc", MEDIA_DIR, live=live)

    assert plan_of(None, leftover, name=f"media/{TEMP_PREFIX}1-abc") == expected


@pytest.mark.parametrize(
    ("role", "dst", "expected"),
    [
        (Role.KEPT, copy(), (Verdict.OK, Action.NONE, None)),
        (Role.KEPT, symlink("/etc/passwd"), (Verdict.ESCAPING_LINK, Action.DELETE, None)),
        (Role.UNMANAGED, symlink(ORIGINAL), (Verdict.OK, Action.NONE, None)),
        (Role.UNMANAGED, symlink("/srv/media/gone", exists=False), (Verdict.BROKEN_LINK, Action.NONE, None)),
        (Role.UNMANAGED, symlink("/etc/passwd"), (Verdict.ESCAPING_LINK, Action.DELETE, None)),
    ],
)
def test_entries_at_ignored_names_and_outside_every_prefix_are_kept_unless_they_escape(role, dst, expected):
    assert plan_of(None, dst, role=role, delete=True) == expected


def test_a_missing_source_root_whose_mirror_entries_remain_is_an_orphan_never_deleted():
    absent = SourceEntry(FileType.DIRECTORY, skip=SkipReason.ABSENT, detail="the source directory does not exist")
    still_there = MirrorEntry(FileType.DIRECTORY, "media", ROOT, holds=True)

    assert plan_of(absent, still_there, name="media", delete=True) == (Verdict.ORPHAN, Action.NONE, None)
