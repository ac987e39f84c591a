"""VarnishBackend: HTTP PURGE for each URL and BAN for a prefix, sent to a Varnish you run."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from .base import Kind, PerRequestBackend, PurgeFailed, encoded
from .transport import Client, check

# Varnish has no API limits of its own: what PURGE and BAN do is the VCL's
# (return (purge) in vcl_recv; std.ban() for a BAN), see README "CDN purge".
# https://varnish-cache.org/docs/trunk/users-guide/purging.html
# A batch only groups URLs for reporting and resume; each URL is its own request.
DEFAULT_BATCH_SIZE = 100
BAN_PATTERN_HEADER = "X-Ban-Pattern"


class VarnishBackend(PerRequestBackend):
    """Sends PURGE <path> for each URL, and BAN <prefix> for each prefix, to the Varnish at location.

    Varnish finds an object by its URL and Host, so each request carries the
    Host the clients used: the host option when it is set (a CDN in front may
    send Varnish another Host than the URLs name), else the URL's own (made
    absolute with base_url), else location's. A BAN also carries X-Ban-Pattern: a regular
    expression matching the prefix literally, for the VCL to hand to std.ban().
    """

    default_batch_size = DEFAULT_BATCH_SIZE
    supports_prefixes = True

    def __init__(self, *, location: str, host: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urlsplit(location) if isinstance(location, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            self.option_error("location", f"must be Varnish's address, like 'http://127.0.0.1:6081', not {location!r}")
        if host is not None:
            self._str_option("host", host)
        self.location = location.rstrip("/")
        self.host = host
        self._varnish = Client(self.location, timeout=self.timeout)

    def prepare(self, item: str, kind: Kind) -> str:
        # Absolute, so the host travels with the item into the state folder.
        url = encoded(urljoin(self.base_url or self.location + "/", item))
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("it is not a URL that Varnish can be asked about")
        return urlunsplit((parts.scheme, self.host or parts.netloc, parts.path or "/", parts.query, ""))

    def purge_item(self, item: str, kind: Kind) -> None:
        parts = urlsplit(item)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"Host": parts.netloc}
        if kind == Kind.URL:
            method = "PURGE"
        else:
            method = "BAN"
            headers[BAN_PATTERN_HEADER] = "^" + re.escape(target)
        response = self._varnish.request(method, target, headers=headers)
        try:
            check(response, f"Varnish ({method} '{target}')")
        except PurgeFailed as exc:
            if response.status in (403, 405, 501):
                raise PurgeFailed(f"{exc} (does its VCL handle {method}? see README 'CDN purge')") from exc
            raise

    def close(self) -> None:
        self._varnish.close()
