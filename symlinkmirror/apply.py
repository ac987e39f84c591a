"""Carry out the plan's steps on the mirror, relative to directory descriptors, in threads; return FileEvents."""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from . import entries, removal
from .directories import NotADirectoryInMirror
from .entries import CANNOT_HARDLINK, CANNOT_SYMLINK, describe
from .pairs import Pair
from .paths import link_stamp
from .plan import Rules, Step, wanted_target
from .report import FileEvent
from .settle import Settled
from .storage import SymlinkOrCopyStorage
from .vocab import Action, EntryKind, FileType, Outcome, Verdict

Events = list[FileEvent]
# Looked up once: an enum member read through its class is slow on Python 3.11, and these run per file.
_OK, _FILE = Verdict.OK, FileType.FILE
_REPLACED, _COPIED, _LINKED = Outcome.REPLACED, Outcome.COPIED, Outcome.LINKED
_SYMLINK, _HARDLINK, _COPY = EntryKind.SYMLINK, EntryKind.HARDLINK, EntryKind.COPY
_REPLACE, _NOT_A_FILE = Action.REPLACE, Verdict.NOT_A_FILE
# A path of fewer characters than this is shorter than PATH_MAX bytes, whatever it holds: no need to encode it.
_SURELY_SHORT = entries.PATH_MAX // 4 - 1


class Applier:
    """Does what each step says (or, in a dry run, says what it would do)."""

    def __init__(
        self, mirror: SymlinkOrCopyStorage, rules: Rules, *, dry_run: bool = False, list_unmodified: bool = True
    ) -> None:
        self.mirror = mirror
        self.rules = rules
        self.dry_run = dry_run
        # False: an unmodified file is counted, not named: one event per source serves them all.
        self.list_unmodified = list_unmodified
        self._unmodified: dict[str, FileEvent] = {}

    def run(
        self,
        pairs: Iterable[Pair | Step | Settled],
        decide: Callable[[Pair], Step],
        finish: Callable[[Events | Settled], None],
        workers: int = 1,
    ) -> None:
        """Plan and apply every pair, in walk order; files in workers threads, the rest in order, here.

        What the walk settled itself is passed on to finish as it is, in its place in that order;
        a step decided already (a journaled run's) is applied as it is.
        """
        if workers <= 1:
            for pair in pairs:
                if isinstance(pair, Settled):
                    finish(pair)
                else:
                    finish(self.apply(pair if isinstance(pair, Step) else decide(pair)))
            return
        pending: collections.deque[Future[Events | Settled]] = collections.deque()
        with ThreadPoolExecutor(workers) as pool:
            for pair in pairs:
                if isinstance(pair, Settled):
                    settled: Future[Events | Settled] = Future()
                    settled.set_result(pair)
                    pending.append(settled)
                elif _is_file(pair.pair if isinstance(pair, Step) else pair):
                    pending.append(pool.submit(self._apply_one, pair, decide))
                else:
                    # A directory's step (clearing the way for its entries) is done before they are planned.
                    done: Future[Events | Settled] = Future()
                    done.set_result(self._apply_one(pair, decide))
                    pending.append(done)
                while len(pending) > workers * 64:
                    finish(pending.popleft().result())
            while pending:
                finish(pending.popleft().result())

    def _apply_one(self, item: Pair | Step, decide: Callable[[Pair], Step]) -> Events:
        return self.apply(item if isinstance(item, Step) else decide(item))

    def apply(self, step: Step) -> Events:
        pair = step.pair
        src = pair.src
        events: Events = []
        if src is not None and src.skip is not None:
            events.append(self.event(Outcome.SKIPPED, step, src.detail))
        try:
            events += _HANDLERS[step.action](self, step)
        except Exception as exc:  # any storage's: one entry fails, the run goes on
            events.append(self.event(Outcome.FAILED, step, describe(exc)))
        return events

    def event(self, outcome: Outcome, step: Step, reason: str = "", *, name: str = "", made: Any = "") -> FileEvent:
        pair = step.pair
        return FileEvent(
            outcome, pair.source.name, name or pair.name, reason, made, self.dry_run, step.verdict, pair.name
        )

    # One method per action.

    def _none(self, step: Step) -> Events:
        if step.verdict is not _OK or not _is_file(step.pair):
            return []
        if self.list_unmodified:
            return [self.event(Outcome.UNMODIFIED, step)]
        source = step.pair.source.name
        event = self._unmodified.get(source)
        if event is None:
            event = self._unmodified[source] = FileEvent(Outcome.UNMODIFIED, source, "", dry_run=self.dry_run)
        return [event]

    def _fail(self, step: Step) -> Events:
        return [self.event(Outcome.FAILED, step, step.detail)]

    def _restamp(self, step: Step) -> Events:
        pair = step.pair
        if not self.dry_run:
            assert pair.src is not None and pair.directory is not None
            entries.stamp(pair.base, pair.directory.fd(), pair.src.stat()[1])
        return [self.event(Outcome.UNMODIFIED, step)]

    def _clean(self, step: Step) -> Events:
        pair = step.pair
        assert pair.directory is not None
        if not self.dry_run:
            try:
                removal.remove(pair.base, pair.directory.fd(), lambda _name: None)
            except FileNotFoundError:
                return []
        return [self.event(Outcome.CLEANED, step)]

    def _delete(self, step: Step) -> Events:
        pair = step.pair
        reason = _delete_reason(step)
        events: Events = []
        assert pair.directory is not None
        if self.dry_run and _walked_orphan_directory(step):
            # The walk has yielded its entries as steps of their own, each reported
            # already; the real run finds it empty by now and removes it alone.
            return [self.event(Outcome.DELETED, step, reason)]
        try:
            was_directory = removal.remove(
                pair.base,
                pair.directory.fd(),
                lambda name: events.append(self.event(Outcome.DELETED, step, reason, name=name)),
                pair.name,
                dry_run=self.dry_run,
            )
        except (FileNotFoundError, NotADirectoryInMirror):
            return events  # gone already, or its directory with it
        if was_directory and not events and _vacated(pair):
            # An empty directory (an orphan one emptied first): named itself. Not where
            # a file takes its place: that file's event names it.
            events.append(self.event(Outcome.DELETED, step, reason))
        return events

    def _put(self, step: Step) -> Events:
        pair = step.pair
        events: Events = []
        replace = step.action is _REPLACE
        if step.verdict is _NOT_A_FILE and pair.dst is not None and pair.dst.kind is FileType.DIRECTORY:
            events += self._delete(Step(pair, step.verdict, Action.DELETE, "a directory where a file belongs"))
        if self.dry_run:
            made = step.made
        else:
            directory = pair.directory
            assert directory is not None
            if len(directory.real) + len(pair.base) >= _SURELY_SHORT:  # a character is at most 4 bytes
                entries.check_path_length(os.path.join(directory.real, pair.base))
            made = self._publish(step, directory.fd(create=True), replace)
        if replace:
            events.append(self.event(_REPLACED, step, step.verdict, made=made))
        else:
            events.append(self.event(_COPIED if made is _COPY else _LINKED, step, made=made))
        return events

    def _publish(self, step: Step, dir_fd: int, replace: bool) -> EntryKind:
        """Make the entry: the link the step wants, or a copy where this filesystem cannot link."""
        pair = step.pair
        src = pair.src
        assert src is not None
        no_symlinks = step.made is _SYMLINK and self.mirror._symlinks_unsupported
        if step.made is not _COPY and src.real_path is not None and not no_symlinks:
            try:
                return self._link(step, src.real_path, dir_fd, replace)
            except OSError as exc:
                cannot = CANNOT_HARDLINK if step.made is _HARDLINK else CANNOT_SYMLINK
                if exc.errno not in cannot:
                    raise
                if step.made is _SYMLINK and not self.mirror._no_symlinks(exc):
                    raise  # this name's failure (an immutable directory), not the filesystem's
        self._copy(pair, dir_fd, replace)
        return _COPY

    def _link(self, step: Step, real_path: str, dir_fd: int, replace: bool) -> EntryKind:
        # The walk listed it a moment ago: it may be gone, or be a directory
        # now, whose link would publish every file in it (ignored ones too).
        pair = step.pair
        assert pair.src is not None
        st = pair.src.regular()
        if not replace:
            try:
                if step.made is _HARDLINK:
                    entries.hardlink_new(real_path, pair.base, dir_fd)
                else:
                    entries.symlink_new(wanted_target(pair, self.rules.style), pair.base, dir_fd, link_stamp(st))
                return step.made  # type: ignore[return-value]
            except FileExistsError:
                pass  # made meanwhile: replace it
        if step.made is _HARDLINK:
            tmp = entries.stage_hardlink(real_path, dir_fd)
        else:
            tmp = entries.stage_symlink(wanted_target(pair, self.rules.style), dir_fd, link_stamp(st))
        _commit(tmp, pair.base, dir_fd, replace=True)
        return step.made  # type: ignore[return-value]

    def _copy(self, pair: Pair, dir_fd: int, replace: bool) -> None:
        src = pair.src
        assert src is not None
        mtime_ns = src.stat()[1]
        fpm = self.mirror.file_permissions_mode
        if src.real_path is not None:
            mode = entries.copy_mode(entries.require_regular_file(src.real_path).st_mode, fpm)
            tmp = entries.stage_copy(dir_fd, real_source=src.real_path, mode=mode, mtime_ns=mtime_ns)
        else:
            with src.open() as content:
                tmp = entries.stage_copy(dir_fd, content=content, mode=entries.django_file_mode(fpm), mtime_ns=mtime_ns)
        _commit(tmp, pair.base, dir_fd, replace=replace)


def decide_all(
    items: Iterable[Pair | Settled], decide: Callable[[Pair], Step], workers: int
) -> Iterator[Step | Settled]:
    """Each pair's step (and what the walk settled) in walk order, the files' decided in workers threads."""
    pending: collections.deque[Future[Step | Settled]] = collections.deque()
    with ThreadPoolExecutor(workers) as pool:
        for item in items:
            if not isinstance(item, Settled) and _is_file(item):
                pending.append(pool.submit(decide, item))
            else:
                done: Future[Step | Settled] = Future()
                done.set_result(item if isinstance(item, Settled) else decide(item))
                pending.append(done)
            while len(pending) > workers * 64:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _commit(tmp: str, base: str, dir_fd: int, *, replace: bool) -> None:
    try:
        try:
            entries.commit(tmp, base, dir_fd, replace=replace)
        except FileExistsError:
            entries.commit(tmp, base, dir_fd, replace=True)  # made meanwhile: replace it
    except BaseException:
        entries.discard(tmp, dir_fd)
        raise


def _delete_reason(step: Step) -> str:
    if step.detail in ("--clear", "a directory where a file belongs"):
        return step.detail
    pair = step.pair
    if pair.src is not None and pair.src.kind is FileType.DIRECTORY and pair.src.skip is None:
        return "in the way of a source directory"
    return step.detail if step.verdict is Verdict.ESCAPING_LINK else ""


def _vacated(pair: Pair) -> bool:
    """Whether nothing is published at the name once its entry is deleted: it has no source, or a skipped one."""
    src = pair.src
    return src is None or src.skip is not None


def _walked_orphan_directory(step: Step) -> bool:
    dst = step.pair.dst
    # A directory at a skipped source name is an orphan too, but the walk does not
    # enter it: its entries are removed (and reported) with it, as one tree.
    return (
        step.pair.src is None
        and step.verdict is Verdict.ORPHAN
        and dst is not None
        and dst.kind is FileType.DIRECTORY
        and not entries.is_temp(step.pair.base)
    )


def _is_file(pair: Pair) -> bool:
    src = pair.src
    return src is not None and src.kind is _FILE and src.skip is None and src.error is None


_HANDLERS: dict[Action, Callable[[Applier, Step], Events]] = {
    Action.NONE: Applier._none,
    Action.FAIL: Applier._fail,
    Action.RESTAMP: Applier._restamp,
    Action.CLEAN: Applier._clean,
    Action.DELETE: Applier._delete,
    Action.CREATE: Applier._put,
    Action.REPLACE: Applier._put,
}
