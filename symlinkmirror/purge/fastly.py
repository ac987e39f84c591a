"""FastlyBackend: purge by URL through Fastly's API, hard or soft."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .base import Kind, PerRequestBackend, PurgeFailed, is_absolute
from .transport import Client, check

API_URL = "https://api.fastly.com"
# One URL per request: POST /purge/{cached_url}; "Surrogate key and URL purge
# requests are also not limited" by the API's 1,000 requests an hour.
# https://www.fastly.com/documentation/reference/api/purging/
# https://docs.fastly.com/api/ (Rate limiting)
# A batch here only groups URLs for reporting and resume; it is not a request.
DEFAULT_BATCH_SIZE = 100


class FastlyBackend(PerRequestBackend):
    """Purges URLs from Fastly's cache, one request each.

    soft_purge=True sends Fastly-Soft-Purge: 1, which marks objects stale
    rather than removing them, so Fastly can serve them while it revalidates
    (https://www.fastly.com/documentation/guides/full-site-delivery/purging/soft-purges).
    """

    default_batch_size = DEFAULT_BATCH_SIZE

    def __init__(self, *, api_token: str, soft_purge: bool = False, api_url: str = API_URL, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_token = self._str_option("api_token", api_token, secret=True)
        if not isinstance(soft_purge, bool):
            self.option_error("soft_purge", f"must be True or False, not {soft_purge!r}")
        self.soft_purge = soft_purge
        if not isinstance(api_url, str) or not is_absolute(api_url):
            self.option_error("api_url", f"must be an http:// or https:// URL, not {api_url!r}")
        self.api_url = api_url.rstrip("/")
        self._api = Client(self.api_url, timeout=self.timeout)

    def prepare(self, item: str, kind: Kind) -> str:
        # The API names a cached URL by its host and path, without the scheme.
        parts = urlsplit(self.absolute_url(item))
        return parts.netloc + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def purge_item(self, item: str, kind: Kind) -> None:
        headers = {"Fastly-Key": self.api_token, "Accept": "application/json"}
        if self.soft_purge:
            headers["Fastly-Soft-Purge"] = "1"
        response = self._api.request("POST", f"{urlsplit(self.api_url).path}/purge/{item}", headers=headers)
        document = check(response, "Fastly").json()
        if not isinstance(document, dict) or document.get("status") != "ok":
            raise PurgeFailed(f"Fastly did not purge '{item}': {document!r}")

    def close(self) -> None:
        self._api.close()
