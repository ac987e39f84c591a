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
from .lock import LOCKED_EXIT_CODE, MirrorError, MirrorLocked, mirror_lock
from .outside import clear_pairs, unmanaged
from .pairs import Pair
from .report import FileEvent, Finding, Report, Verification
from .rollback import roll_back
from .runoptions import Options
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
    "Report",
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
    on_event: Callable[[FileEvent], None] | None = None,
    on_progress: Progress | None = None,
) -> Report:
    """Make the mirror hold every source file, linked or copied, and report each change."""
    options = options or Options()
    return _reported(_Run(sources, mirror, options), on_event, on_progress, _Run.collect)


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
    on_progress: Progress | None = None,
) -> Verification:
    """Read-only: the steps of repair()'s plan whose verdict is not ok, as findings."""
    options = replace(options or Options(), delete=True, dry_run=True, clear=False)
    run = _Run(sources, mirror, options)
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
) -> Report:
    """body's report: under the mirror's lock unless it is a dry run, timed, its progress flushed."""
    options = run.options
    report = Report(dry_run=options.dry_run)
    started = time.monotonic()
    finish = Finisher(report, options, on_event, on_progress)
    if options.dry_run:
        body(run, finish)
    else:
        with mirror_lock(os.fspath(run.mirror.location)):
            body(run, finish)
    finish.flush()
    report.duration = time.monotonic() - started
    return report


class _Run:
    """One run's rules, mirror root and pairs."""

    def __init__(self, sources: list[Source], mirror: SymlinkOrCopyStorage, options: Options) -> None:
        self.sources = sources
        self.mirror = mirror
        self.options = options
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
        for source in self.sources:
            if generational.collect(context, source):
                continue
            if self.options.clear:
                for pair in clear_pairs(self.root, source, self.prefixes):
                    finish(applier.apply(plan.clear(pair)))
            applier.run(self._walk(source), decide, finish, self.options.workers)
        if self.options.delete:
            applier.run(unmanaged(self.root, self.mirror, self.prefixes), decide, finish)

    def steps(self) -> Iterator[plan.Step | Settled]:
        """verify()'s steps: each source's (and a generational source's structure's), then the unmanaged entries'."""
        context = self.context(None, None)
        workers = self.options.workers
        for source in self.sources:
            audited = generation_audit.audit(context, source)
            yield from audited if audited is not None else decided(self._walk(source), context.decide, workers)
        yield from map(context.decide, unmanaged(self.root, self.mirror, self.prefixes))

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

    def _walk(self, source: Source, root: Directory | None = None, against_empty: bool | None = None) -> Walk:
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
