"""The watcher: a full run, then every directory inotify reports changed, reconciled through the plan batch by batch.

Plain Python, no management imports: collectmirror --watch (management/watching.py)
supplies what a batch does with its report. Each batch is its own run, under the
mirror's lock for that run only, so a cron run can come in between two batches.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from . import engine
from .finisher import Progress
from .lock import MirrorError, MirrorLocked
from .report import Report
from .scope import Part, Scope
from .sources import Source
from .storage import SymlinkOrCopyStorage

DEFAULT_DEBOUNCE = 0.2  # seconds: a save's create, write and close land in one batch
DEFAULT_RECONCILE_INTERVAL = 3600.0  # seconds: what no watcher sees (NFS writes from other hosts) is caught hourly
LOCK_RETRY = 1.0  # seconds between tries while another run holds the mirror


class WatchUnavailable(MirrorError):
    """inotify cannot be used here: no Linux, no binding, or the kernel refuses another instance."""


class Reason(StrEnum):
    START = "start"
    CHANGES = "changes"
    OVERFLOW = "overflow"
    INTERVAL = "interval"


_DESCRIPTIONS = {
    Reason.START: "Full reconcile at start",
    Reason.OVERFLOW: "Full reconcile: the kernel's event queue overflowed",
    Reason.INTERVAL: "Periodic full reconcile",
}


@dataclass(frozen=True)
class Batch:
    """One run of the watcher: every source whole (full), or the directories seen changed."""

    reason: Reason
    parts: tuple[Part, ...] = ()  # shallow parts of the in-place sources
    whole: tuple[str, ...] = ()  # sources run whole: generational ones touched (every source if full)
    directories: int = 0  # how many directories were seen changed

    @property
    def full(self) -> bool:
        return self.reason is not Reason.CHANGES

    @property
    def description(self) -> str:
        if self.full:
            return _DESCRIPTIONS[self.reason]
        count = self.directories
        text = f"{count} {'directory' if count == 1 else 'directories'} changed"
        if self.whole:
            text += f", {' and '.join(repr(name) for name in self.whole)} run whole (generations)"
        return text


def collect_batch(
    batch: Batch,
    sources: list[Source],
    mirror: SymlinkOrCopyStorage,
    options: engine.Options,
    *,
    on_event: Callable[[engine.FileEvent], None] | None = None,
    on_progress: Progress | None = None,
) -> Report:
    """The batch applied: one collect() over its parts, one over the sources it runs whole; one report."""
    if batch.full:
        return engine.collect(sources, mirror, options, on_event=on_event, on_progress=on_progress)
    report = Report()
    runs: list[tuple[list[Source], Scope | None]] = []
    touched = {part.source for part in batch.parts}
    if batch.parts:
        runs.append(([s for s in sources if s.name in touched], Scope(batch.parts)))
    if batch.whole:
        runs.append(([s for s in sources if s.name in batch.whole], None))
    for chosen, scope in runs:
        done = engine.collect(chosen, mirror, options, scope=scope, on_event=on_event, on_progress=on_progress)
        for source, counts in done.counts.items():
            for action, count in counts.items():
                report.add_count(source, action, count)  # type: ignore[arg-type]
        report.errors += done.errors
        report.generations += done.generations
        report.duration += done.duration
    return report


class Stop:
    """A request to stop after the batch in hand, from a signal or from code; it wakes the watcher's wait."""

    def __init__(self) -> None:
        self.requested = False
        self.signal: int | None = None
        self._wake: Callable[[], None] | None = None

    def request(self, signum: int | None = None, _frame: Any = None) -> None:
        self.requested = True
        self.signal = signum
        if self._wake is not None:
            self._wake()

    @contextmanager
    def on_signals(self, *signums: int) -> Iterator[None]:
        """SIGTERM and SIGINT (by default) request the stop while inside; main thread only."""
        signums = signums or (signal.SIGTERM, signal.SIGINT)
        previous = {signum: signal.signal(signum, self.request) for signum in signums}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


_STOP = object()
_OVERFLOW = object()


class Watcher:
    """Full runs at start, on overflow and every interval; between them, batches of the directories seen changed.

    inotify=False polls: a full run every reconcile_interval and nothing else.
    run_batch may raise MirrorLocked: the batch is tried again a second later.
    """

    def __init__(
        self,
        sources: list[Source],
        run_batch: Callable[[Batch], None],
        *,
        debounce: float = DEFAULT_DEBOUNCE,
        reconcile_interval: float = DEFAULT_RECONCILE_INTERVAL,
        inotify: bool = True,
        stop: Stop | None = None,
        log: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.sources = sources
        self.run_batch = run_batch
        self.debounce = debounce
        self.reconcile_interval = reconcile_interval
        self.stop = stop or Stop()
        self.log = log
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # SimpleQueue.put is reentrant: a signal handler may call it while the loop waits in get().
        self.stop._wake = lambda: self.queue.put(_STOP)
        self.generational = {source.name for source in sources if source.generations}
        self.tree = Tree(sources, self.queue, log) if inotify else None

    def run(self) -> None:
        """Until stopped: the batch in hand always finishes first."""
        tree = self.tree
        if tree is not None:
            tree.rescan()
            tree.start()
        try:
            self._loop()
        finally:
            if tree is not None:
                tree.close()

    def _loop(self) -> None:
        full: Reason | None = Reason.START
        pending: dict[tuple[str, str], bool] = {}  # (source, rel): whether it is new, to be built whole
        first_seen = 0.0
        retry_at = 0.0
        locked = False
        next_full = time.monotonic() + self.reconcile_interval
        while not self.stop.requested:
            now = time.monotonic()
            due = next_full if full is None else now
            if pending and full is None:
                due = min(due, first_seen + self.debounce)
            due = max(due, retry_at)
            if due > now:
                if self._wait(due - now, pending):
                    full = Reason.OVERFLOW
                if pending and not first_seen:
                    first_seen = time.monotonic()
                continue
            if full is None and now >= next_full:
                full = Reason.INTERVAL
            batch = Batch(full) if full is not None else self._batch(pending)
            if batch.full and self.tree is not None and full is not Reason.START:
                self.tree.rescan()  # directories made while events were lost have no watch yet
            try:
                self.run_batch(batch)
            except MirrorLocked as exc:
                if not locked:
                    self.log(f"{exc} Trying again every {LOCK_RETRY:g} s.")
                locked = True
                retry_at = time.monotonic() + LOCK_RETRY
                continue
            if locked:
                self.log("The mirror is free again.")
            locked = False
            if batch.full:
                next_full = time.monotonic() + self.reconcile_interval
                full = None
            pending.clear()
            first_seen = 0.0

    def _wait(self, timeout: float, pending: dict[tuple[str, str], bool]) -> bool:
        """Take what the tree reports, waiting up to timeout: directories into pending; whether events were lost."""
        overflowed = False
        try:
            item = self.queue.get(timeout=timeout)
        except queue.Empty:
            return False
        while True:
            if item is _OVERFLOW:
                overflowed = True
            elif isinstance(item, tuple):
                source, rel, tree = item
                pending[(source, rel)] = tree or pending.get((source, rel), False)
            elif isinstance(item, str):
                self.log(item)
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return overflowed

    def _batch(self, pending: dict[tuple[str, str], bool]) -> Batch:
        """pending's directories as parts: a new one whole (first), each other one shallow, parents first."""
        whole: list[str] = []
        trees = {key for key, tree in pending.items() if tree}
        for source, _rel in pending:
            if source in self.generational and source not in whole:
                whole.append(source)

        def inside_tree(source: str, rel: str, strict: bool) -> bool:
            ancestors = [rel[:i] for i, char in enumerate(rel) if char == "/"]
            return any((source, a) in trees for a in ancestors) or (not strict and (source, rel) in trees)

        new = [
            Part(source, rel)
            for source, rel in sorted(trees)
            if source not in self.generational and not inside_tree(source, rel, strict=True)
        ]
        shallow = [
            Part(source, rel, shallow=True)
            for source, rel in pending
            if source not in self.generational and not inside_tree(source, rel, strict=False)
        ]
        # Parents first: one directory new to the mirror is built whole by one part, the first to reach it.
        shallow.sort(key=lambda part: (part.source, part.rel.count("/") + bool(part.rel), part.rel))
        return Batch(Reason.CHANGES, (*new, *shallow), tuple(whole), len(pending))


# What a watched directory reports: a name made, removed, renamed in or out, written and closed, or chmod'ed.
_EVENTS = 0x100 | 0x200 | 0x40 | 0x80 | 0x08 | 0x04  # CREATE DELETE MOVED_FROM MOVED_TO CLOSE_WRITE ATTRIB
_SELF = 0x400 | 0x800  # DELETE_SELF MOVE_SELF
_WATCH_MASK = _EVENTS | _SELF | 0x01000000 | 0x02000000 | 0x04000000  # ONLYDIR DONT_FOLLOW EXCL_UNLINK
_MOVED_FROM, _CREATE_OR_MOVED_TO, _ISDIR = 0x40, 0x100 | 0x80, 0x40000000
_Q_OVERFLOW, _IGNORED = 0x4000, 0x8000


def inotify() -> Any:
    """A new inotify instance, or WatchUnavailable saying why there is none."""
    try:
        from inotify_simple import INotify  # imported lazily: Linux only
    except ImportError as exc:
        raise WatchUnavailable(f"inotify is unavailable: {exc} (pip install inotify-simple, on Linux).") from exc
    try:
        return INotify()
    except OSError as exc:
        raise WatchUnavailable(f"inotify is unavailable: {os.strerror(exc.errno or 0)}.") from exc


class Tree:
    """Recursive inotify watches over the sources' directories: each watch descriptor is one (source, rel).

    A thread reads the events as they come (so the kernel's queue drains while a
    batch runs) and puts each changed directory's (source, rel, False) on the
    queue. A directory that appears is watched at once, with all it holds, and
    reported as (source, rel, True), to be reconciled whole: the files made in it
    before its watch existed raised no event.
    """

    def __init__(self, sources: list[Source], out: queue.SimpleQueue[Any], log: Callable[[str], None]) -> None:
        self.fd = inotify()
        self.out = out
        self.log = log
        self.roots: dict[str, str] = {}
        for source in sources:
            root = source.local_root
            if root is None:
                log(f"The source '{source.name}' has no local directory to watch: only full reconciles mirror it.")
            else:
                self.roots[source.name] = os.path.realpath(root)
        self.watches: dict[int, tuple[str, str]] = {}
        self.by_dir: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()
        self.short_of_watches = False
        self.closed = False
        self.thread = threading.Thread(target=self._read, name="symlinkmirror-watch", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.closed = True
        self.thread.join(timeout=2)
        self.fd.close()

    def rescan(self) -> None:
        """Watch every directory of every source now, and forget the watches of directories gone."""
        with self.lock:
            before = dict(self.watches)
            self.watches.clear()
            self.by_dir.clear()
            for source, root in self.roots.items():
                if not os.path.isdir(root):
                    self.log(f"The source directory '{root}' does not exist: it is watched once it does.")
                    continue
                for _rel in self._walk(source, ""):
                    pass
            for wd in before.keys() - self.watches.keys():
                self._forget(wd)

    def _walk(self, source: str, rel: str) -> Iterator[str]:
        """Add a watch on rel and every directory under it (no symlink followed); yield each one watched."""
        root = self.roots[source]
        stack = [rel]
        while stack:
            rel = stack.pop()
            path = os.path.join(root, rel) if rel else root
            try:
                wd = self.fd.add_watch(path, _WATCH_MASK)
            except OSError as exc:
                if exc.errno == errno.ENOSPC and not self.short_of_watches:
                    self.short_of_watches = True
                    self.out.put(
                        f"Cannot watch '{path}': the kernel's limit of watches is reached (raise "
                        "fs.inotify.max_user_watches); the full reconciles mirror what goes unseen."
                    )
                continue  # gone already, or not a directory any more: its parent's event covers it
            self.watches[wd] = (source, rel)
            self.by_dir[(source, rel)] = wd
            yield rel
            try:
                with os.scandir(path) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(f"{rel}/{entry.name}" if rel else entry.name)
            except OSError:
                continue

    def _forget(self, wd: int) -> None:
        with contextlib.suppress(OSError):  # the kernel dropped it already: the directory is gone
            self.fd.rm_watch(wd)

    def _drop(self, source: str, rel: str) -> None:
        """Stop watching rel and everything under it: it moved away (where it went reports itself)."""
        inside = rel + "/"
        for key in [key for key in self.by_dir if key[0] == source and (key[1] == rel or key[1].startswith(inside))]:
            wd = self.by_dir.pop(key)
            self.watches.pop(wd, None)
            self._forget(wd)

    def _read(self) -> None:
        import select

        poller = select.poll()
        poller.register(self.fd.fileno(), select.POLLIN)
        while not self.closed:
            if not poller.poll(250):
                continue
            try:
                events = self.fd.read(timeout=0)
            except OSError:
                return
            with self.lock:
                for event in events:
                    self._handle(event)

    def _handle(self, event: Any) -> None:
        mask = event.mask
        if mask & _Q_OVERFLOW:
            self.out.put(_OVERFLOW)
            return
        where = self.watches.get(event.wd)
        if where is None:
            return
        source, rel = where
        if mask & _IGNORED:
            del self.watches[event.wd]
            if self.by_dir.get(where) == event.wd:
                del self.by_dir[where]
            return
        if mask & _SELF:
            if not rel:  # the source's root itself moved or went: only a full look can tell what is where
                self.out.put(_OVERFLOW)
            return
        if mask & _ISDIR and event.name:
            child = f"{rel}/{event.name}" if rel else event.name
            if mask & _MOVED_FROM:
                self._drop(source, child)
            elif mask & _CREATE_OR_MOVED_TO:
                self._drop(source, child)  # a directory moved within the tree: its old names are stale
                for _found in self._walk(source, child):
                    pass
                self.out.put((source, child, True))
        self.out.put((source, rel, False))
