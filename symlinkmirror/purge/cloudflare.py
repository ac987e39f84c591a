"""CloudflareBackend: purge by URL (and by prefix) through the zone's purge_cache API."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from .base import Batch, Kind, PurgeBackend, PurgeFailed, is_absolute
from .transport import Client, check

API_URL = "https://api.cloudflare.com/client/v4"
# Single-file purge: at most 100 URLs per request on the Free, Pro and Business
# plans, 500 on Enterprise (an account then raises batch_size), within 800 URLs
# per second (Free) to 3,000 (Enterprise).
# https://developers.cloudflare.com/cache/how-to/purge-cache/
MAX_URLS_PER_REQUEST = 100
MAX_URLS_PER_REQUEST_ENTERPRISE = 500
# "Maximum 30 prefixes per API call."
# https://developers.cloudflare.com/cache/how-to/purge-cache/purge_by_prefix/
MAX_PREFIXES_PER_REQUEST = 30


class CloudflareBackend(PurgeBackend):
    """Purges URLs from one Cloudflare zone, authenticated by an API token with the Cache Purge permission."""

    default_batch_size = MAX_URLS_PER_REQUEST
    max_batch_size = MAX_URLS_PER_REQUEST_ENTERPRISE
    supports_prefixes = True

    def __init__(self, *, zone_id: str, api_token: str, api_url: str = API_URL, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.zone_id = self._str_option("zone_id", zone_id)
        self.api_token = self._str_option("api_token", api_token, secret=True)
        if not isinstance(api_url, str) or not is_absolute(api_url):
            self.option_error("api_url", f"must be an http:// or https:// URL, not {api_url!r}")
        self.api_url = api_url.rstrip("/")
        self._api = Client(self.api_url, timeout=self.timeout)

    def prepare(self, item: str, kind: Kind) -> str:
        url = self.absolute_url(item)
        if kind == Kind.PREFIX:
            # Prefixes are written without a scheme: 'www.example.com/foo'.
            parts = urlsplit(url)
            return parts.netloc + parts.path
        return url

    def group(self, items: Sequence[str], kind: Kind) -> list[tuple[str, ...]]:
        size = self.batch_size if kind == Kind.URL else min(self.batch_size, MAX_PREFIXES_PER_REQUEST)
        return [tuple(items[start : start + size]) for start in range(0, len(items), size)]

    def purge_batch(self, batch: Batch) -> None:
        field = "files" if batch.kind == Kind.URL else "prefixes"
        path = urlsplit(self.api_url).path
        response = self._api.request(
            "POST",
            f"{path}/zones/{quote(self.zone_id, safe='')}/purge_cache",
            headers={"Authorization": f"Bearer {self.api_token}", "Content-Type": "application/json"},
            body=json.dumps({field: list(batch.items)}).encode(),
        )
        document = check(response, "Cloudflare").json()
        if not isinstance(document, dict) or document.get("success") is not True:
            errors = document.get("errors") if isinstance(document, dict) else None
            raise PurgeFailed(f"Cloudflare refused the purge: {_describe(errors) or repr(document)}")

    def close(self) -> None:
        self._api.close()


def _describe(errors: Any) -> str:
    if not isinstance(errors, list):
        return ""
    return "; ".join(
        f"{error.get('code', '?')} {error.get('message', '')}".strip() for error in errors if isinstance(error, dict)
    )
