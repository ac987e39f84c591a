"""PurgeBackend, the base class of every CDN purge backend, and the Batch it is handed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, NoReturn
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured


class Kind(StrEnum):
    """What a batch holds: whole URLs, or prefixes that stand for every URL below them."""

    URL = "url"
    PREFIX = "prefix"


@dataclass(frozen=True)
class Batch:
    """Items one backend purges together, in the form its provider wants (see PurgeBackend.prepare)."""

    backend: str  # the alias in SYMLINKMIRROR_PURGE
    run_id: str
    index: int  # 1-based, per backend, run and kind
    total: int  # batches of that backend, run and kind
    kind: Kind
    items: tuple[str, ...]

    @property
    def key(self) -> str:
        """A name for this batch that a retry, a resume and another process all compute alike.

        The digest makes it change with the items, so a provider that dedupes on
        it (CloudFront's CallerReference) never sees one key with two contents,
        and with the backend: two Varnish servers, or two distributions, are sent
        the same items, and the state folder must keep each one's failure apart.
        """
        text = "\n".join((self.backend, *self.items))
        digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        return f"symlinkmirror-{self.run_id}-{self.kind}{self.index}-{digest}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "run_id": self.run_id,
            "index": self.index,
            "total": self.total,
            "kind": str(self.kind),
            "items": list(self.items),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Batch:
        return cls(
            backend=str(data["backend"]),
            run_id=str(data["run_id"]),
            index=int(data["index"]),
            total=int(data["total"]),
            kind=Kind(data["kind"]),
            items=tuple(str(item) for item in data["items"]),
        )


class PurgeFailed(Exception):
    """A batch the provider refused or could not be reached for.

    retryable: throttling, a server error or a network failure, worth another
    attempt after a pause; retry_after: the pause the provider asked for, in seconds.
    """

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class PurgeBackend:
    """Purges batches of URLs (and, where supported, prefixes) from one CDN or cache.

    A subclass sets its provider's limits and implements purge_batch(); the
    runner (symlinkmirror.purge.purge_urls) batches, retries and reports. Options
    arrive as keyword arguments from SYMLINKMIRROR_PURGE[alias]["OPTIONS"], as a
    storage's do from STORAGES; a wrong value raises ImproperlyConfigured naming it.
    """

    #: Items per batch when the batch_size option is not given.
    default_batch_size: ClassVar[int] = 100
    #: The most items one batch may hold: the provider's documented limit.
    max_batch_size: ClassVar[int] = 1000
    #: Attempts per batch when the max_attempts option is not given.
    default_max_attempts: ClassVar[int] = 5
    #: Whether purge_batch() accepts batches of Kind.PREFIX.
    supports_prefixes: ClassVar[bool] = False
    #: Modules the backend imports when it is first used, and the extra that installs them.
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        batch_size: int | None = None,
        max_attempts: int | None = None,
        retry_delay: float = 1.0,
        max_retry_delay: float = 60.0,
        timeout: float = 10.0,
        base_url: str | None = None,
    ) -> None:
        self.alias = type(self).__name__  # the factory sets the SYMLINKMIRROR_PURGE alias
        if batch_size is None:
            batch_size = self.default_batch_size
        self.batch_size = self._int_option("batch_size", batch_size, 1, self.max_batch_size)
        if max_attempts is None:
            max_attempts = self.default_max_attempts
        self.max_attempts = self._int_option("max_attempts", max_attempts, 1, 100)
        self.retry_delay = self._number_option("retry_delay", retry_delay)
        self.max_retry_delay = self._number_option("max_retry_delay", max_retry_delay)
        self.timeout = self._number_option("timeout", timeout, positive=True)
        if base_url is not None and not is_absolute(base_url):
            self.option_error("base_url", f"must be an absolute URL like 'https://cdn.example.com/', not {base_url!r}")
        self.base_url = base_url

    # What a subclass implements or adjusts.

    def purge_batch(self, batch: Batch) -> None:
        """Purge every item of batch, or raise PurgeFailed. Called again, with the same batch, to retry it."""
        raise NotImplementedError(f"{type(self).__name__} must implement purge_batch().")

    def prepare(self, item: str, kind: Kind) -> str:
        """The item as this provider names it (a path, an absolute URL...); ValueError when it cannot be named."""
        return item

    def billed_paths(self, batch: Batch) -> int:
        """How many paths the provider bills for this batch (0 where purging is free)."""
        return 0

    def group(self, items: Sequence[str], kind: Kind) -> list[tuple[str, ...]]:
        """Split prepared items into batches within the provider's limits."""
        size = self.batch_size
        return [tuple(items[start : start + size]) for start in range(0, len(items), size)]

    def close(self) -> None:
        """Release connections; called once the run is over."""

    # Helpers for subclasses.

    def option_error(self, option: str, problem: str) -> NoReturn:
        raise ImproperlyConfigured(f"The {option!r} OPTION of {type(self).__name__} {problem}.")

    def absolute_url(self, url: str) -> str:
        """url made absolute against the base_url option; ValueError naming it when that is needed and unset."""
        if is_absolute(url):
            return encoded(url)
        if self.base_url is None:
            raise ValueError(
                f"{url!r} is not an absolute URL: set the 'base_url' OPTION of SYMLINKMIRROR_PURGE[{self.alias!r}] "
                "to the CDN's address, like 'https://cdn.example.com/'"
            )
        return encoded(urljoin(self.base_url, url))

    def _int_option(self, option: str, value: Any, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.option_error(option, f"must be a whole number from {low} to {high}, not {value!r}")
        return value

    def _number_option(self, option: str, value: Any, *, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (positive and value == 0):
            self.option_error(
                option, f"must be a {'positive' if positive else 'non-negative'} number of seconds, not {value!r}"
            )
        return float(value)

    def _str_option(self, option: str, value: Any, *, secret: bool = False) -> str:
        """value when it is a non-empty string; a secret (a token, a key) is never repeated in the error."""
        if secret:
            # A token read from a file keeps its newline; http.client would then
            # refuse the header in an error that quotes the whole token.
            if not isinstance(value, str) or not value or any(c.isspace() or not c.isprintable() for c in value):
                self.option_error(
                    option,
                    "must be a non-empty string without spaces or line breaks "
                    "(a secret read from a file keeps its final newline: strip it)",
                )
        elif not isinstance(value, str) or not value.strip():
            self.option_error(option, f"must be a non-empty string, not {value!r}")
        return value


class PerRequestBackend(PurgeBackend):
    """A backend whose provider takes one item per request (Fastly, Varnish).

    A batch is then the unit of reporting, retry and resume; a retry resumes
    after the items already purged instead of sending them again.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._done: dict[str, int] = {}

    def purge_item(self, item: str, kind: Kind) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement purge_item().")

    def purge_batch(self, batch: Batch) -> None:
        start = self._done.get(batch.key, 0)
        for position in range(start, len(batch.items)):
            self.purge_item(batch.items[position], batch.kind)
            self._done[batch.key] = position + 1
        self._done.pop(batch.key, None)


def is_absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# RFC 3986 characters allowed unencoded in a path or query, and "%" so that
# what is already percent-encoded (as Storage.url() does) stays as it is.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"


def encoded(url: str) -> str:
    """url with spaces, controls and non-ASCII in its path and query percent-encoded, as CDNs match them."""
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme, parts.netloc, _quote(parts.path, _PATH_SAFE), _quote(parts.query, _QUERY_SAFE), "")
    )


def unique(items: Iterable[str]) -> list[str]:
    """items without repeats, in their first order."""
    return list(dict.fromkeys(items))


def _quote(text: str, safe: str) -> str:
    # surrogateescape: a name that is not UTF-8 keeps its own bytes, encoded.
    return quote(text, safe=safe, encoding="utf-8", errors="surrogateescape")
