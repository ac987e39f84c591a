"""Retrying a batch: exponential backoff with a cap, honouring the pause a provider asks for."""

from __future__ import annotations

import time
from collections.abc import Callable

from .base import Batch, PurgeBackend, PurgeFailed


def backoff(attempt: int, *, first: float, cap: float, asked: float | None = None) -> float:
    """The pause before attempt + 1: first, doubled after each failure, never above cap.

    A provider's own Retry-After wins when it is longer, up to the same cap.
    """
    delay = min(cap, first * 2.0 ** (attempt - 1))
    if asked is not None:
        delay = max(delay, min(asked, cap))
    return float(delay)


def send(
    backend: PurgeBackend,
    batch: Batch,
    *,
    on_retry: Callable[[int, float, PurgeFailed], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Purge batch through backend, retrying what is retryable; the number of attempts made.

    Raises the last PurgeFailed when the batch cannot be purged.
    """
    attempt = 1
    while True:
        try:
            backend.purge_batch(batch)
            return attempt
        except PurgeFailed as exc:
            if not exc.retryable or attempt >= backend.max_attempts:
                raise
            delay = backoff(attempt, first=backend.retry_delay, cap=backend.max_retry_delay, asked=exc.retry_after)
            if on_retry is not None:
                on_retry(attempt, delay, exc)
            sleep(delay)
            attempt += 1
