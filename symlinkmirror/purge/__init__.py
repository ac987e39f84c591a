"""CDN purge: backends configured in SYMLINKMIRROR_PURGE, and purge_urls() to run them after a publish.

Every name is imported on first use (PEP 562): the system checks import this
package at start-up, and a run that purges nothing should not pay for HTTP
clients and TLS it does not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Batch, Kind, PerRequestBackend, PurgeBackend, PurgeFailed
    from .cloudflare import CloudflareBackend
    from .cloudfront import CloudFrontBackend
    from .fastly import FastlyBackend
    from .report import PurgeAction, PurgeEvent, PurgeReport
    from .run import configured_backends, create_backend, new_run_id, purge_urls, resume, should_purge
    from .state import PurgeError, state_dir
    from .varnish import VarnishBackend

_MODULES = {
    "Batch": "base",
    "Kind": "base",
    "PerRequestBackend": "base",
    "PurgeBackend": "base",
    "PurgeFailed": "base",
    "CloudflareBackend": "cloudflare",
    "CloudFrontBackend": "cloudfront",
    "FastlyBackend": "fastly",
    "PurgeAction": "report",
    "PurgeEvent": "report",
    "PurgeReport": "report",
    "configured_backends": "run",
    "create_backend": "run",
    "new_run_id": "run",
    "purge_urls": "run",
    "resume": "run",
    "should_purge": "run",
    "PurgeError": "state",
    "state_dir": "state",
    "VarnishBackend": "varnish",
}

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


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
