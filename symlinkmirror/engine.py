"""collect(): build or refresh the mirror from its sources. Plain Python, no management imports."""

from __future__ import annotations

import collections
import errno
import fcntl
import functools
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files.storage import storages

from . import conf
from .paths import printable, same_mtime, temp_owner_alive
from .storage import SymlinkOrCopyStorage, require_regular_file
from .walk import (
    LOCK_NAME,
    UNREADABLE,
    Blocked,
    Item,
    Orphan,
    Skipped,
    Source,
    TempFile,
    Unchanged,
    UnchangedCount,
    Walker,
    reserved_prefixes,
)

# collectstatic's default --ignore patterns.
DEFAULT_IGNORE_PATTERNS = ["CVS", ".*", "*~"]

# What compare() finds when it holds a source file against its mirror entry.
OK = "ok"
MISSING = "missing"
WRONG_TARGET = "wrong-target"
BROKEN_LINK = "broken-link"
ESCAPING_LINK = "escaping-link"
KIND_MISMATCH = "kind-mismatch"
STALE_COPY = "stale-copy"
NOT_A_FILE = "not-a-file"

# Report actions, in summary order.
ACTIONS = ("linked", "copied", "replaced", "unmodified", "deleted", "skipped", "failed")

CHUNK = 1 << 20
PATH_MAX = os.pathconf("/", "PC_PATH_MAX") if hasattr(os, "pathconf") else 4096

# errno values meaning "this filesystem cannot make that kind of link here".
_CANNOT_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.ENOSYS, errno.EOPNOTSUPP}


class MirrorError(Exception):
    """A problem with the whole run (configuration, lock), not one file."""


class MirrorLocked(MirrorError):
    pass


LOCKED_EXIT_CODE = 75  # EX_TEMPFAIL: another run holds the mirror; try again later


class FileEvent(NamedTuple):
    """One thing that happened (or, in a dry run, would happen) to one mirror entry."""

    action: str  # one of ACTIONS, or "cleaned" for a removed temporary file
    source: str
    name: str  # the mirror name
    reason: str = ""
    made: str = ""  # for linked/copied/replaced: "symlink", "hardlink" or "copy"
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        """Whether the entry's URL now serves something else (a CDN purge is due)."""
        return self.action in ("linked", "copied", "replaced", "deleted")

    @property
    def level(self) -> int:
        """The verbosity that shows the message, as collectstatic's: creating at 2, deleting at 1."""
        if self.action in ("deleted", "skipped", "failed") or (self.dry_run and self.action != "unmodified"):
            return 1
        return 2

    @property
    def message(self) -> str:
        verb = {"symlink": "link", "hardlink": "link", "copy": "copy"}.get(self.made, "copy")
        if self.action in ("linked", "copied"):
            text = (
                f"Pretending to {verb} '{self.name}'"
                if self.dry_run
                else f"{'Linking' if verb == 'link' else 'Copying'} '{self.name}'"
            )
        elif self.action == "replaced":
            text = (
                f"Pretending to replace '{self.name}' with a {verb}"
                if self.dry_run
                else f"Replacing '{self.name}' with a {verb}"
            )
            text += f" ({self.reason})"
        elif self.action == "unmodified":
            text = f"Skipping '{self.name}' (not modified)"
        elif self.action == "deleted":
            text = f"Pretending to delete '{self.name}'" if self.dry_run else f"Deleting '{self.name}'"
            if self.reason:
                text += f" ({self.reason})"
        elif self.action == "cleaned":
            text = f"Removing leftover temporary file '{self.name}'"
        elif self.action == "skipped":
            text = f"Skipping '{self.name}' ({self.reason})"
        else:
            text = f"Failed '{self.name}': {self.reason}"
        return printable(text)  # a name may hold a newline or bytes that are not UTF-8


@dataclass
class Report:
    """What a collect() run did, per source and in total."""

    dry_run: bool = False
    counts: dict[str, collections.Counter[str]] = field(default_factory=dict)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (source, name, reason)
    duration: float = 0.0

    def add(self, event: FileEvent) -> None:
        if event.action not in ACTIONS:
            return
        self.add_count(event.source, event.action)
        if event.action == "failed":
            self.errors.append((event.source, event.name, event.reason))

    def add_count(self, source: str, action: str, count: int = 1) -> None:
        counts = self.counts.get(source)
        if counts is None:
            counts = self.counts[source] = collections.Counter()
        counts[action] += count

    @property
    def totals(self) -> collections.Counter[str]:
        total: collections.Counter[str] = collections.Counter()
        for counts in self.counts.values():
            total.update(counts)
        return total

    @property
    def failed(self) -> int:
        return self.totals["failed"]

    def summary(self) -> str:
        t = self.totals
        text = (
            f"{t['linked']} {'file' if t['linked'] == 1 else 'files'} linked, {t['copied']} copied, {t['replaced']} replaced, "
            f"{t['unmodified']} unmodified, {t['deleted']} deleted, {t['skipped']} skipped, {t['failed']} failed."
        )
        return f"Dry run: {text}" if self.dry_run else text

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "totals": {action: self.totals[action] for action in ACTIONS},
            "sources": {name: {action: counts[action] for action in ACTIONS} for name, counts in self.counts.items()},
            "errors": [{"source": s, "name": n, "reason": r} for s, n, r in self.errors],
            "duration": round(self.duration, 3),
        }


# Configuration.


def mirror_storage(alias: str | None = None) -> SymlinkOrCopyStorage:
    alias = alias or conf.get("STORAGE")
    if alias not in settings.STORAGES:
        raise MirrorError(f"STORAGES has no {alias!r} alias for the mirror: add it, or set SYMLINKMIRROR_STORAGE.")
    storage = _create(alias, "the mirror (SYMLINKMIRROR_STORAGE)")
    if not isinstance(storage, SymlinkOrCopyStorage):
        raise MirrorError(
            f"STORAGES[{alias!r}] must be a symlinkmirror.storage.SymlinkOrCopyStorage (see SYMLINKMIRROR_STORAGE), not {type(storage).__name__}."
        )
    return storage


def configured_sources(names: list[str] | None = None) -> list[Source]:
    """The sources of SYMLINKMIRROR_SOURCES, limited to names when given."""
    try:
        specs = conf.sources()
    except ImproperlyConfigured as exc:
        raise MirrorError(str(exc)) from exc
    unknown = [name for name in names or [] if name not in specs]
    if unknown:
        raise MirrorError(
            f"Unknown source {unknown[0]!r} given to --source: SYMLINKMIRROR_SOURCES defines {', '.join(sorted(specs))}."
        )
    sources = []
    for name, spec in specs.items():
        if names and name not in names:
            continue
        if spec["storage"] not in settings.STORAGES:
            raise MirrorError(
                f"SYMLINKMIRROR_SOURCES[{name!r}] names the storage alias {spec['storage']!r}, which STORAGES does not define."
            )
        source = Source(name, _create(spec["storage"], f"the source {name!r}"), spec["prefix"])
        try:
            source.local_root  # noqa: B018 - fails now, naming the setting, rather than mid-run
        except ImproperlyConfigured as exc:
            raise MirrorError(str(exc)) from exc
        sources.append(source)
    return sources


def _create(alias: str, role: str) -> Any:
    """storages[alias], with any failure to build it named by its alias and role."""
    try:
        return storages[alias]
    except (ImproperlyConfigured, ImportError, TypeError, ValueError) as exc:
        raise MirrorError(f"STORAGES[{alias!r}], {role}, cannot be created: {exc}") from exc


# Comparison, shared with the audit.


def link_roots(mirror: SymlinkOrCopyStorage, style: str) -> tuple[str, ...]:
    """The roots whose files are linked, or none where the mirror cannot hold symlinks.

    Where symlinks cannot be made the storage copies; saying so up front keeps
    compare() from calling every such copy a kind-mismatch, run after run.
    """
    if style != "hard" and not mirror.supports_symlinks:
        return ()
    return mirror.symlink_within


def compare(item: Item, mirror: SymlinkOrCopyStorage, style: str, *, checksum: bool = False) -> str:
    """Hold a source file against its mirror entry; return OK or what is wrong."""
    entry = item.entry
    if entry is None:
        return MISSING
    if entry.is_symlink():
        target = os.readlink(entry.path)
        if (
            item.wants_link
            and item.real_path is not None
            and style != "hard"
            and target == wanted_target(item, mirror, style)
        ):
            return OK
        return bad_link(entry.path, mirror, wanted=item.wants_link and style != "hard")
    if not entry.is_file(follow_symlinks=False):
        return NOT_A_FILE
    st = entry.stat(follow_symlinks=False)
    if item.wants_link and item.real_path is not None:
        if style != "hard":
            return KIND_MISMATCH
        source_dev, source_ino = item.source_inode()
        if (st.st_dev, st.st_ino) == (source_dev, source_ino):
            return OK
        if source_dev == st.st_dev:
            return KIND_MISMATCH
        # Hard links cannot cross filesystems; the storage copies instead.
    size, mtime_ns = item.stat()
    if st.st_size != size:
        return STALE_COPY
    if checksum:
        return OK if same_content(item, entry.path) else STALE_COPY
    return OK if same_mtime(st.st_mtime_ns, mtime_ns) else STALE_COPY


def wanted_target(item: Item, mirror: SymlinkOrCopyStorage, style: str) -> str:
    assert item.real_path is not None
    if style == "relative":
        mirror_dir = os.path.dirname(os.path.join(mirror.real_location, item.mirror_name))
        return os.path.relpath(item.real_path, mirror_dir)
    return item.real_path


def bad_link(path: str, mirror: SymlinkOrCopyStorage, *, wanted: bool) -> str:
    """Name what is wrong with a mirror symlink that is not the wanted one."""
    resolved = os.path.realpath(path)
    if not mirror.wants_link(resolved):  # no root contains it
        return ESCAPING_LINK
    if not os.path.exists(resolved):
        return BROKEN_LINK
    return WRONG_TARGET if wanted else KIND_MISMATCH


def same_content(item: Item, mirror_path: str) -> bool:
    """Byte-for-byte comparison: exact, and it stops at the first difference.

    No hash: comparing the bytes is both stronger (no collisions) and cheaper
    (memcmp, no digest) than hashing both sides; local files are read into two
    reused buffers, with no copy through Python objects.
    """
    if item.real_path is None:
        with item.open() as source, open(mirror_path, "rb") as copy:
            while True:
                a, b = source.read(CHUNK), copy.read(CHUNK)
                if a != b:
                    return False
                if not a:
                    return True
    # One byte more than the file holds, up to CHUNK: a short read then means the end.
    length = min(CHUNK, item.stat()[0] + 1)
    ours, theirs = bytearray(length), bytearray(length)
    with open(item.real_path, "rb", buffering=0) as source, open(mirror_path, "rb", buffering=0) as copy:
        while True:
            read_ours, read_theirs = source.readinto(ours), copy.readinto(theirs)
            if read_ours != read_theirs:
                return False
            if read_ours < length:  # the last piece: compare only what was read
                return read_ours == 0 or ours[:read_ours] == theirs[:read_theirs]
            if ours != theirs:
                return False


# The lock.


@contextmanager
def mirror_lock(mirror_root: str) -> Iterator[None]:
    """One writer per mirror: an advisory lock that dies with its process."""
    path = os.path.join(mirror_root, LOCK_NAME)
    try:
        os.makedirs(mirror_root, exist_ok=True)
        # O_NOFOLLOW: a symlink planted at the lock's name must not make the
        # run truncate and write whatever file it points to.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        reason = "it is a symlink; remove it" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise MirrorError(f"Cannot lock the mirror '{mirror_root}' with '{path}': {reason}.") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise MirrorError(f"Cannot lock the mirror '{mirror_root}' with '{path}': it is not a regular file; remove it.")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            holder = f"a run in progress (pid {pid})" if pid.isdigit() else "another process"
            raise MirrorLocked(f"The mirror '{mirror_root}' is locked by {holder}; try again when it ends.") from None
        os.ftruncate(fd, 0)
        # The pid only names the holder in the message above; a full disk must
        # not stop the run, which then reports each entry it cannot write.
        with suppress(OSError):
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


# collect().


@dataclass
class Options:
    dry_run: bool = False
    clear: bool = False
    delete: bool = False
    checksum: bool = False
    ignore_patterns: list[str] = field(default_factory=lambda: list(DEFAULT_IGNORE_PATTERNS))
    follow_external: bool = False
    workers: int = 1
    link_style: str | None = None
    # Mirror prefixes of configured sources left out of this run: never orphans.
    keep_prefixes: tuple[str, ...] = ()
    # False: unmodified files are counted, not announced one by one (no
    # "Skipping ... (not modified)" events): the no-op refresh's fast path.
    list_unmodified: bool = True


def collect(
    sources: list[Source],
    mirror: SymlinkOrCopyStorage,
    options: Options | None = None,
    on_event: Callable[[FileEvent], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    **kwargs: Any,
) -> Report:
    """Make the mirror hold every source file, linked or copied, and report each change.

    Per-file failures are reported and counted; the run goes on. on_progress
    receives counts of files done, for a progress bar.
    """
    options = options or Options(**kwargs)
    run = _Run(sources, mirror, options, on_event, on_progress)
    started = time.monotonic()
    if options.dry_run:
        run.go()
    else:
        with mirror_lock(os.fspath(mirror.location)):
            run.go()
    run.report.duration = time.monotonic() - started
    return run.report


class _Run:
    def __init__(
        self,
        sources: list[Source],
        mirror: SymlinkOrCopyStorage,
        options: Options,
        on_event: Callable[[FileEvent], None] | None,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.on_progress = on_progress
        self.sources = sources
        self.mirror = mirror
        self.options = options
        self.on_event = on_event
        self.style = options.link_style or mirror.link_style
        self.report = Report(dry_run=options.dry_run)
        self._root_length = len(os.fsencode(mirror.real_location)) + 1
        self._local = threading.local()  # per thread: (directory, fd, generation)
        self._fds: set[int] = set()
        self._fds_lock = threading.Lock()
        self._generation = 0

    def emit(self, action: str, source: str, name: str, reason: str = "", made: str = "") -> None:
        if action == "unmodified" and not name:  # a directory's worth, counted, not listed
            count = int(reason)
            self.report.add_count(source, action, count)
            if self.on_progress is not None:
                self.on_progress(count)
            return
        if self.on_progress is not None:
            self.on_progress(1)
        event = FileEvent(action, source, name, reason, made, self.options.dry_run)
        self.report.add(event)
        if self.on_event is not None:
            self.on_event(event)

    def go(self) -> None:
        try:
            self._go()
        finally:
            self._close_directories()

    def _go(self) -> None:
        mirror_root = (
            self.mirror.real_location if os.path.exists(self.mirror.location) else os.path.abspath(self.mirror.location)
        )
        prefixes = {source.prefix for source in self.sources} | set(self.options.keep_prefixes)
        for source in self.sources:
            reserved = reserved_prefixes(source, prefixes)
            prefix_state = self._prefix_is_safe(source, mirror_root)
            if prefix_state is False:
                continue
            if self.options.clear:
                self._clear(source, mirror_root, reserved)
                self._close_directories()  # some may have been deleted
            walker = Walker(
                source,
                # A dry run leaves the cleared entries in place: walk as if they were gone.
                None if (self.options.clear and self.options.dry_run) or prefix_state is None else mirror_root,
                link_roots(self.mirror, self.style),
                ignore_patterns=self.options.ignore_patterns,
                follow_external=self.options.follow_external,
                reserved=reserved,
                settle=(self.style, self.options.checksum),
                report_unchanged=self.options.list_unmodified,
            )
            self._apply_all(source, walker)

    def _prefix_is_safe(self, source: Source, mirror_root: str) -> bool | None:
        """Clear the way to the source's mirror directory: no symlink or file may stand on it.

        A symlink there would make every entry of the source land wherever it
        points; it is unlinked (never followed), as is a file in the way.
        """
        if not source.prefix:
            return True
        path = mirror_root
        for part in source.prefix.split("/"):
            path = os.path.join(path, part)
            if os.path.isdir(path) and not os.path.islink(path):
                continue
            if not os.path.lexists(path):
                return True
            name = os.path.relpath(path, mirror_root)
            out = self._remove(source, name, path, "in the way of the source's mirror directory")
            self._finish(out)
            if any(outcome[0] == "failed" for outcome in out):
                return False
            if self.options.dry_run:
                return None  # still there: walk as against an empty directory, never through it
        return True

    def _apply_all(self, source: Source, walker: Walker) -> None:
        workers = max(1, self.options.workers)
        if workers == 1:
            for event in walker:
                self._finish(self._handle(event))
            return
        pending: collections.deque[Future[Any]] = collections.deque()
        with ThreadPoolExecutor(workers) as pool:
            for event in walker:
                if isinstance(event, Blocked):
                    # Clear the way here, before the directory's own entries
                    # reach the pool: they would find the link still there.
                    done: Future[Any] = Future()
                    done.set_result(self._handle(event))
                    pending.append(done)
                    continue
                pending.append(pool.submit(self._handle, event))
                while len(pending) > workers * 64:
                    self._finish(pending.popleft().result())
            while pending:
                self._finish(pending.popleft().result())

    def _finish(self, outcomes: list[tuple[str, str, str, str, str]]) -> None:
        for outcome in outcomes:
            self.emit(*outcome)

    def _handle(self, event: Any) -> list[tuple[str, str, str, str, str]]:
        """Decide and act on one walk event; return what happened, to emit in order."""
        out: list[tuple[str, str, str, str, str]] = []
        if isinstance(event, Unchanged):
            return [("unmodified", event.source.name, event.mirror_name, "", "")]
        if isinstance(event, UnchangedCount):
            return [("unmodified", event.source.name, "", str(event.count), "")]
        if isinstance(event, Item):
            name = event.mirror_name
            try:
                verdict = compare(event, self.mirror, self.style, checksum=self.options.checksum)
                if verdict == OK:
                    if self.options.checksum and not self.options.dry_run:
                        _restamp(event)
                    return [("unmodified", event.source.name, name, "", "")]
                if verdict == NOT_A_FILE and event.entry is not None and event.entry.is_dir(follow_symlinks=False):
                    out += self._remove(event.source, name, event.entry.path, "a directory where a file belongs")
                made = self._put(event, fresh=verdict == MISSING)
                action = "linked" if made != "copy" else "copied"
                out.append(
                    ("replaced", event.source.name, name, verdict, made)
                    if verdict != MISSING
                    else (action, event.source.name, name, "", made)
                )
            except (OSError, SuspiciousFileOperation, ValueError, NotImplementedError) as exc:
                out.append(("failed", event.source.name, name, _describe(exc), ""))
        elif isinstance(event, Skipped):
            action = "failed" if event.reason == UNREADABLE else "skipped"
            out.append((action, event.source.name, event.mirror_name, event.detail, ""))
        elif isinstance(event, Blocked):
            out += self._remove(event.source, event.mirror_name, event.entry.path, "in the way of a source directory")
        elif isinstance(event, Orphan):
            if self.options.delete:
                out += self._remove(event.source, event.mirror_name, event.entry.path, "")
        elif isinstance(event, TempFile) and not self.options.dry_run and not temp_owner_alive(event.path):
            try:
                os.unlink(event.path)
                out.append(("cleaned", "", event.mirror_name, "", ""))
            except FileNotFoundError:
                pass
            except IsADirectoryError:
                shutil.rmtree(event.path, ignore_errors=True)
        return out

    def _put(self, item: Item, *, fresh: bool) -> str:
        mirror_name = item.mirror_name
        if self.options.dry_run:
            if item.wants_link and item.real_path is not None:
                return "hardlink" if self.style == "hard" else "symlink"
            return "copy"
        if fresh and item.wants_link and item.real_path is not None:
            made = self._link_new(item)
            if made:
                return made
        if item.real_path is not None:
            mtime_ns = None if item.wants_link else item.stat()[1]
            put = functools.partial(
                self.mirror.put,
                mirror_name,
                real_source=item.real_path,
                mtime_ns=mtime_ns,
                link_style=self.style,
                wants_link=item.wants_link,
                preserve=True,  # mode and mtime: never more readable than the source; compared by size+mtime later
            )
            if fresh:
                try:
                    return put(replace=False)  # a new link needs no temporary name
                except FileExistsError:
                    pass  # someone made it meanwhile: replace it
            return put(replace=True)
        _size, mtime_ns = item.stat()
        with item.open() as content:
            return self.mirror.put(mirror_name, content=content, mtime_ns=mtime_ns, wants_link=False)

    def _link_new(self, item: Item) -> str:
        """Make a link where the mirror has nothing, relative to an open directory.

        The common case of a first run: one symlinkat() per file, as `cp -as`
        does, with the directory created and checked once. '' means "use put()",
        for a name taken meanwhile or a filesystem without links.
        """
        assert item.real_path is not None
        if len(os.fsencode(item.mirror_name)) + self._root_length >= PATH_MAX:
            return ""  # reachable only relative to its directory: let put() fail it
        directory, _, base = item.mirror_name.rpartition("/")
        # The walk listed it a moment ago: it may be gone, or be a directory
        # now, whose link would publish every file in it (ignored ones too).
        require_regular_file(item.real_path)
        try:
            dir_fd = self._directory_fd(directory)
            if self.style == "hard":
                os.link(item.real_path, base, dst_dir_fd=dir_fd)
                return "hardlink"
            if self.mirror._symlinks_unsupported:
                return ""
            os.symlink(wanted_target(item, self.mirror, self.style), base, dir_fd=dir_fd)
            return "symlink"
        except OSError as exc:
            if isinstance(exc, FileExistsError | NotADirectoryError) or exc.errno in _CANNOT_LINK:
                return ""
            raise

    def _directory_fd(self, directory: str) -> int:
        """An open descriptor of the mirror directory, created and checked once per directory and thread."""
        cached = getattr(self._local, "directory", None)
        if cached is not None and cached[2] != self._generation:
            cached = None  # closed by _close_directories()
        if cached is not None and cached[0] == directory:
            return cached[1]
        path = self.mirror.ensure_directory(directory)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        with self._fds_lock:
            if cached is not None and cached[1] in self._fds:
                self._fds.discard(cached[1])
                os.close(cached[1])
            self._fds.add(fd)
        self._local.directory = (directory, fd, self._generation)
        return fd

    def _close_directories(self) -> None:
        """Close every cached directory; each thread opens afresh on its next use."""
        with self._fds_lock:
            for fd in self._fds:
                os.close(fd)
            self._fds.clear()
            self._generation += 1

    def _remove(self, source: Source, mirror_name: str, path: str, reason: str) -> list[tuple[str, str, str, str, str]]:
        """Delete a mirror entry (a whole directory tree, entry by entry), never following links."""
        out = []
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                for dirpath, dirnames, filenames in os.walk(path, topdown=False):
                    rel_dir = os.path.relpath(dirpath, path)
                    for filename in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                        name = os.path.normpath(os.path.join(mirror_name, rel_dir, filename))
                        if not self.options.dry_run:
                            os.unlink(os.path.join(dirpath, filename))
                        out.append(("deleted", source.name, name, reason, ""))
                    if not self.options.dry_run:
                        os.rmdir(dirpath)
            else:
                if not self.options.dry_run:
                    os.unlink(path)
                out.append(("deleted", source.name, mirror_name, reason, ""))
        except FileNotFoundError:
            pass
        except OSError as exc:
            out.append(("failed", source.name, mirror_name, _describe(exc), ""))
        return out

    def _clear(self, source: Source, mirror_root: str, reserved: frozenset[str]) -> None:
        directory = os.path.join(mirror_root, source.prefix) if source.prefix else mirror_root
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            return
        for entry in sorted(entries, key=lambda e: e.name):
            name = source.mirror_name(entry.name)
            if (
                (not source.prefix and entry.name == LOCK_NAME)
                or name in reserved
                or any(r.startswith(name + "/") for r in reserved)
            ):
                continue
            self._finish(self._remove(source, name, entry.path, "--clear"))


def _restamp(item: Item) -> None:
    """Give a copy found equal by --checksum its source's mtime, so size+mtime runs agree."""
    entry = item.entry
    if entry is None or entry.is_symlink() or (item.wants_link and item.real_path is not None):
        return
    mtime_ns = item.stat()[1]
    if entry.stat(follow_symlinks=False).st_mtime_ns != mtime_ns:
        os.utime(entry.path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return "No space left on device; the previous entry, if any, is unchanged."
        return exc.strerror or str(exc)
    return str(exc)
