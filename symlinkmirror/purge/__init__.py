"""CDN purge: backends configured in SYMLINKMIRROR_PURGE, and purge_urls() to run them after a publish."""

from __future__ import annotations

from .base import Batch, Kind, PerRequestBackend, PurgeBackend, PurgeFailed
from .cloudflare import CloudflareBackend
from .cloudfront import CloudFrontBackend
from .fastly import FastlyBackend
from .report import PurgeAction, PurgeEvent, PurgeReport
from .run import configured_backends, create_backend, new_run_id, purge_urls, resume, should_purge
from .state import PurgeError, state_dir
from .varnish import VarnishBackend

__all__ = [
    "Batch",
    "CloudFrontBackend",
    "CloudflareBackend",
    "FastlyBackend",
    "Kind",
    "PerRequestBackend",
    "PurgeAction",
    "PurgeBackend",
    "PurgeError",
    "PurgeEvent",
    "PurgeFailed",
    "PurgeReport",
    "VarnishBackend",
    "configured_backends",
    "create_backend",
    "new_run_id",
    "purge_urls",
    "resume",
    "should_purge",
    "state_dir",
]
