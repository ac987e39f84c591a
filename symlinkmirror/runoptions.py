"""Options: one run's options, shared by collect(), verify(), repair() and rollback(), checked when built."""

from __future__ import annotations

from dataclasses import dataclass

from .sources import DEFAULT_IGNORE_PATTERNS
from .vocab import LinkStyle


@dataclass(frozen=True)
class Options:
    """One run's options, for collect, verify and repair alike; checked when built."""

    dry_run: bool = False
    clear: bool = False
    delete: bool = False
    checksum: bool = False
    ignore_patterns: tuple[str, ...] = tuple(DEFAULT_IGNORE_PATTERNS)
    follow_external: bool = False
    workers: int = 1
    link_style: LinkStyle | None = None
    # Mirror prefixes of configured sources left out of this run: never orphans.
    keep_prefixes: tuple[str, ...] = ()
    # False: unmodified files are counted, not announced one by one.
    list_unmodified: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"Options.workers must be an int of 1 or more, not {self.workers!r}.")
        if self.link_style is not None:
            try:
                object.__setattr__(self, "link_style", LinkStyle(self.link_style))
            except ValueError:
                styles = ", ".join(LinkStyle)
                raise ValueError(f"Options.link_style must be one of {styles}, not {self.link_style!r}.") from None
        if isinstance(self.ignore_patterns, str):
            raise TypeError("Options.ignore_patterns must be a sequence of patterns, not one string.")
        object.__setattr__(self, "ignore_patterns", tuple(self.ignore_patterns))
        object.__setattr__(self, "keep_prefixes", tuple(self.keep_prefixes))
