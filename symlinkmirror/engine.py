"""collect() = lock, plan, apply, report; verify() = the plan's steps that are not ok; repair() = collect with --delete.

A source that keeps generations is planned and applied the same way, in a new
generation (generational.py); rollback() switches such sources back one (rollback.py).

Plain Python: no management imports. Per-file failures are reported and
counted, and the run goes on; only a problem with the whole run raises MirrorError.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from functools import partial

from . import generation_audit, generational, plan
from .apply import Applier, decide_all
from .directories import Directory
from .finisher import Finisher, Progress
from .journal import Record, journaled
from .lock import LOCKED_EXIT_CODE, MirrorError, MirrorLocked, mirror_lock, run_lock
from .outside import clear_pairs, unmanaged
from .pairs import Pair
from .report import FileEvent, Finding, Report, Verification
from .rollback import roll_back
from .runoptions import Options
from .scope import Part, Scope
from .settle import Settled, Settler
from .sources import (
    DEFAULT_IGNORE_PATTERNS,
    Source,
    compile_patterns,
    configured_sources,
    mirror_storage,
    reserved_prefixes,
)
from .storage import SymlinkOrCopyStorage
from .vocab import FileType, LinkStyle, Verdict
from .walk import Walk

__all__ = [
    "DEFAULT_IGNORE_PATTERNS",
    "LOCKED_EXIT_CODE",
    "FileEvent",
    "MirrorError",
    "MirrorLocked",
    "Options",
    "Part",
    "Report",
    "Scope",
    "Verification",
    "collect",
    "configured_sources",
    "mirror_lock",
    "mirror_storage",
    "repair",
    "rollback",
    "verify",
]

# Looked up once: an enum member read through its class is slow on Python 3.11, and these run per file.
_FILE, _OK = FileType.FILE, Verdict.OK


def collect(
    sources: list[Source],
    mirror: SymlinkOrCopyStorage,
    options: Options | None = None,
    *,
    scope: Scope | None = None,
    lock: bool = True,
    journal: Record | None = None,
    on_event: Callable[[FileEvent], None] | None = None,
    on_progress: Progress | None = None,
) -> Report:
    """Make the mirror hold every source file, linked or copied, and report each change.

    scope: only those parts of the sources (None: all of them). lock=False: the
    caller holds the mirror for this run (a distributed run's coordinator does).
    journal: given each batch of steps that change the mirror before they are carried out.
    """
    options = options or Options()
    run = _Run(sources, mirror, options, scope, journal)
    return _reported(run, on_event, on_progress, _Run.collect, lock=lock)


def repair(
    sources: list[Source],
    mirror: SymlinkOrCopyStorage,
    options: Options | None = None,
    *,
    on_event: Callable[[FileEvent], None] | None = None,
    on_progress: Progress | None = None,
) -> Report:
    """Apply verify's plan: collect() with --delete, which also unlinks escaping links outside every prefix."""
    return collect(
        sources, mirror, replace(options or Options(), delete=True), on_event=on_event, on_progress=on_progress
    )


def verify(
    sources: list[Source],
    mirror: SymlinkOrCopyStorage,
    options: Options | None = None,
    *,
    scope: Scope | None = None,
    on_progress: Progress | None = None,
) -> Verification:
    """Read-only: the steps of repair()'s plan whose verdict is not ok, as findings."""
    options = replace(options or Options(), delete=True, dry_run=True, clear=False)
    run = _Run(sources, mirror, options, scope)
    result = Verification()
    started = time.monotonic()
    for step in run.steps():
        if isinstance(step, Settled):
            result.checked += len(step.names)
            if on_progress is not None:
                on_progress(len(step.names))
            continue
        pair = step.pair
        src = pair.src
        if src is not None and src.kind is _FILE and src.skip is None:
            result.checked += 1
            if on_progress is not None:
                on_progress(1)
        if step.verdict is not _OK:
            result.findings.append(Finding(step.verdict, pair.source.name, pair.name, step.detail))
        if src is not None and src.skip is not None:
            result.notes.append(Finding(src.skip, pair.source.name, pair.name, src.detail))
    result.duration = time.monotonic() - started
    if scope is not None:
        result.handed_off = list(scope.handed_off)
    return result


def rollback(
    sources: list[Source],
    mirror: SymlinkOrCopyStorage,
    options: Options | None = None,
    *,
    on_event: Callable[[FileEvent], None] | None = None,
    on_progress: Progress | None = None,
) -> Report:
    """Serve each source that keeps generations from the one before it serves; each entry that differs is an event."""
    options = options or Options()
    chosen = [source for source in sources if source.generations]
    if not chosen:
        names = ", ".join(f"'{source.name}'" for source in sources)
        raise MirrorError(
            f"No source to roll back: {names} keep(s) no generations. Set SYMLINKMIRROR_SOURCES[name]['generations']."
        )
    return _reported(
        _Run(chosen, mirror, options), on_event, on_progress, lambda run, finish: roll_back(run.context(finish), chosen)
    )


def _reported(
    run: _Run,
    on_event: Callable[[FileEvent], None] | None,
    on_progress: Progress | None,
    body: Callable[[_Run, Finisher], None],
    *,
    lock: bool = True,
) -> Report:
    """body's report: under the mirror's lock unless it is a dry run, timed, its progress flushed."""
    options = run.options
    report = Report(dry_run=options.dry_run)
    started = time.monotonic()
    finish = Finisher(report, options, on_event, on_progress)
    if options.dry_run or not lock:
        body(run, finish)
    else:
        with run_lock(os.fspath(run.mirror.location)):
            body(run, finish)
    finish.flush()
    report.duration = time.monotonic() - started
    if run.scope is not None:
        report.handed_off = list(run.scope.handed_off)
    return report


class _Run:
    """One run's rules, mirror root and pairs."""

    def __init__(
        self,
        sources: list[Source],
        mirror: SymlinkOrCopyStorage,
        options: Options,
        scope: Scope | None = None,
        journal: Record | None = None,
    ) -> None:
        self.sources = sources
        self.mirror = mirror
        self.options = options
        self.scope = scope
        self.journal = journal
        if scope is not None:
            _check_scope(scope, sources)
        style = LinkStyle(options.link_style or mirror.link_style)
        location = os.fspath(mirror.location)
        root = mirror.real_location if os.path.exists(location) else os.path.abspath(location)
        self.root = Directory(None, root, root, mirror.directory_permissions_mode)
        trusted = tuple(dict.fromkeys([*mirror.symlink_within, *(r for s in sources for r in s.trusted)]))
        # Where symlinks cannot be made the storage copies; saying so up front
        # keeps the plan from calling every such copy a kind-mismatch, run after run.
        self.links = style is LinkStyle.HARD or mirror.supports_symlinks
        coarse_mtime = not mirror.supports_symlinks  # FAT: no symlinks, and mtimes in whole seconds
        self.rules = plan.Rules(style, root, trusted, options.checksum, options.delete, coarse_mtime)
        self.prefixes = {source.prefix for source in sources} | set(options.keep_prefixes)

    def collect(self, finish: Finisher) -> None:
        applier = Applier(
            self.mirror, self.rules, dry_run=self.options.dry_run, list_unmodified=self.options.list_unmodified
        )
        decide = partial(plan.decide, rules=self.rules)
        context = self.context(finish, applier)
        scope = self.scope
        for source in self.sources:
            if scope is None and generational.collect(context, source):
                continue
            if self.options.clear and (scope is None or scope.clear):
                for pair in clear_pairs(self.root, source, self.prefixes):
                    finish(applier.apply(plan.clear(pair)))
            for walk in self._walks(source):
                items = walk if self.journal is None else journaled(walk, decide, self.journal)
                applier.run(items, decide, finish, self.options.workers)
                self._hand_back(walk)
        if self.options.delete and (scope is None or scope.unmanaged):
            applier.run(unmanaged(self.root, self.mirror, self.prefixes), decide, finish)

    def steps(self) -> Iterator[plan.Step | Settled]:
        """verify()'s steps: each source's (and a generational source's structure's), then the unmanaged entries'."""
        context = self.context(None, None)
        scope, workers = self.scope, self.options.workers
        for source in self.sources:
            audited = generation_audit.audit(context, source) if scope is None else None
            if audited is not None:
                yield from audited
                continue
            for walk in self._walks(source):
                yield from decided(walk, context.decide, workers)
                self._hand_back(walk)
        if scope is None or scope.unmanaged:
            yield from map(context.decide, unmanaged(self.root, self.mirror, self.prefixes))

    def _walks(self, source: Source) -> Iterator[Walk]:
        """The source's walk, or with a scope one walk per part of it."""
        if self.scope is None:
            yield self._walk(source)
            return
        for part in self.scope.parts:
            if part.source == source.name:
                yield self._walk(source, part=part)

    def _hand_back(self, walk: Walk) -> None:
        if self.scope is not None:
            self.scope.handed_off.extend(Part(walk.source.name, rel) for rel in walk.handed_off)

    def context(self, finish: Finisher | None, applier: Applier | None = None) -> generational.Context:
        """What a run on a generational source needs of this one."""

        def run(pairs: Iterable[Pair | Settled], decide: Callable[[Pair], plan.Step]) -> None:
            assert applier is not None and finish is not None
            applier.run(pairs, decide, finish, self.options.workers)

        return generational.Context(
            root=self.root,
            rules=self.rules,
            symlinks=self.mirror.supports_symlinks,
            dry_run=self.options.dry_run,
            clear=self.options.clear,
            decide=partial(plan.decide, rules=self.rules),
            walk=self._walk_at,
            run=run,
            finish=finish or _ignore,
            note=finish.report.generations.append if finish is not None else _ignore,
        )

    def _walk(
        self,
        source: Source,
        root: Directory | None = None,
        against_empty: bool | None = None,
        part: Part | None = None,
    ) -> Walk:
        options = self.options
        trusted = (*self.mirror.symlink_within, *source.trusted)
        settler = Settler(
            self.rules.style,
            checksum=options.checksum,
            ignored=compile_patterns(list(options.ignore_patterns)),
        )
        return Walk(
            source,
            self.root if root is None else root,
            link_roots=trusted if self.links else (),
            trusted=trusted,
            ignore_patterns=list(options.ignore_patterns),
            follow_external=options.follow_external,
            # Another root is a generation: no other source's prefix can be inside it.
            reserved=reserved_prefixes(source, self.prefixes) if root is None else frozenset(),
            descend_orphans=options.delete,
            # A dry run leaves the cleared entries in place: walk as if they were gone.
            against_empty=(options.clear and options.dry_run) if against_empty is None else against_empty,
            settler=settler,
            part=part,
            deadline=self.scope.deadline if self.scope is not None and part is not None else None,
        )

    def _walk_at(self, source: Source, directory: Directory | None, against_empty: bool) -> Iterator[Pair | Settled]:
        """source's pairs in directory (a generation, standing for its prefix), named as under the prefix.

        None: the source under its prefix in the mirror root, as usual.
        """
        if directory is None:
            yield from self._walk(source, against_empty=against_empty)
            return
        prefix = source.prefix
        for pair in self._walk(replace(source, prefix=""), directory, against_empty):
            if isinstance(pair, Settled):
                yield pair._replace(prefix=f"{prefix}/{pair.prefix}")
                continue
            pair.source = source
            pair.name = f"{prefix}/{pair.name}" if pair.name else prefix
            yield pair


def _check_scope(scope: Scope, sources: list[Source]) -> None:
    """A scope is planned by code, not typed by users: a wrong one is a MirrorError naming the part."""
    names = {source.name: source for source in sources}
    for part in scope.parts:
        source = names.get(part.source)
        if source is None:
            raise MirrorError(f"The part {part!r} names no source of this run ({', '.join(names)}).")
        if source.generations:
            raise MirrorError(
                f"The source '{source.name}' keeps generations: it is mirrored whole, into its next generation, "
                f"not part by part. Set SYMLINKMIRROR_SOURCES['{source.name}']['generations'] to 0, or run it whole."
            )


def _ignore(_value: object) -> None:
    pass


def decided(
    items: Iterable[Pair | Settled], decide: Callable[[Pair], plan.Step], workers: int = 1
) -> Iterator[plan.Step | Settled]:
    """Each pair's step, and what the walk settled as it is; files decided in threads when workers > 1."""
    if workers > 1:
        yield from decide_all(items, decide, workers)
        return
    for item in items:
        yield item if isinstance(item, Settled) else decide(item)
