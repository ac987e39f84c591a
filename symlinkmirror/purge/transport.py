"""A small HTTP client for the purge APIs: one kept-alive connection per host, errors as PurgeFailed."""

from __future__ import annotations

import http.client
import json
import re
import ssl
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .base import PurgeFailed

USER_AGENT = "symlinkmirror-purge"


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise PurgeFailed(f"the answer is not JSON: {excerpt(self.body)}") from exc


class Client:
    """Sends requests to one origin (scheme://host:port) over a connection it keeps open between them.

    Purge APIs are called many times in a row (Fastly and Varnish once per URL):
    reusing the connection saves a TCP and TLS handshake each time. Honours
    https_proxy / http_proxy and no_proxy as urllib does.
    """

    def __init__(self, origin: str, *, timeout: float) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{origin!r} is not an http:// or https:// address")
        self.origin = origin
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.netloc = parts.netloc
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, target: str, *, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> Response:
        """Send one request; PurgeFailed(retryable=True) when the peer cannot be reached or drops the connection."""
        headers = {"User-Agent": USER_AGENT, **(headers or {})}
        reused = self._connection is not None
        for attempt in (1, 2):
            try:
                return self._send(method, target, headers, body)
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                # A kept-alive connection the server closed while idle: try once on a new one.
                stale = reused and attempt == 1 and isinstance(exc, BrokenPipeError | ConnectionResetError)
                if not stale:
                    # A certificate nobody trusts stays untrusted: no retry, as for a refusal.
                    raise PurgeFailed(
                        f"cannot reach {self.origin}: {exc or type(exc).__name__}",
                        retryable=not isinstance(exc, ssl.SSLCertVerificationError),
                    ) from exc
        raise AssertionError("unreachable")

    def _send(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> Response:
        connection = self._connection or self._connect()
        connection.request(method, target, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        response = Response(answer.status, answer.reason, {k.lower(): v for k, v in answer.getheaders()}, data)
        if answer.will_close:
            self.close()
        return response

    def _connect(self) -> http.client.HTTPConnection:
        proxy = _proxy_for(self.scheme, self.host)
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        if proxy is None:
            connection = cls(self.host, self.port, timeout=self.timeout)
        else:
            proxy_parts = urlsplit(proxy)
            connection = cls(proxy_parts.hostname or "", proxy_parts.port or 8080, timeout=self.timeout)
            connection.set_tunnel(self.host, self.port)
        self._connection = connection
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _proxy_for(scheme: str, host: str) -> str | None:
    proxy = urllib.request.getproxies().get(scheme)
    if proxy is None or urllib.request.proxy_bypass(host):
        return None
    return proxy


def check(response: Response, what: str) -> Response:
    """response when it is a success; else PurgeFailed, retryable for 429 and 5xx."""
    if 200 <= response.status < 300:
        return response
    message = f"{what} answered {response.status} {response.reason}".rstrip()
    if response.body:
        message += f": {excerpt(response.body)}"
    if response.status == 429 or response.status >= 500:
        raise PurgeFailed(message, retryable=True, retry_after=retry_after(response))
    raise PurgeFailed(message)


def retry_after(response: Response) -> float | None:
    """The Retry-After header in seconds, when it is a number (an HTTP date is ignored)."""
    value = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def excerpt(body: bytes, limit: int = 200) -> str:
    """The start of a response body on one line, without HTML tags (error pages are often HTML)."""
    text = " ".join(re.sub(r"<[^>]*>", " ", body.decode("utf-8", "replace")).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
