"""CloudflareBackend against a local HTTP server that checks each request against Cloudflare's documented API.

The server stands in for Cloudflare's purge API, a SaaS that cannot be run
locally: it expects what the documentation specifies (POST
/zones/{zone_id}/purge_cache, a bearer token, a JSON body of "files" or
"prefixes") and answers as Cloudflare does.
https://developers.cloudflare.com/api/go/resources/cache/methods/purge
"""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading

import pytest
from werkzeug import Response

from symlinkmirror import purge

ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "cf-test-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
SUCCESS = {"success": True, "errors": [], "messages": [], "result": {"id": "purge-1"}}


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture(autouse=True)
def no_state(settings):
    settings.SYMLINKMIRROR_STATE_DIR = None


def cloudflare(httpserver, **options) -> purge.CloudflareBackend:
    backend = purge.CloudflareBackend(
        zone_id=ZONE, api_token=TOKEN, api_url=httpserver.url_for("/client/v4"), **options
    )
    backend.alias = "cf"
    return backend


def sent(httpserver) -> list[tuple[str, str, dict]]:
    return [(request.method, request.path, json.loads(request.data)) for request, _ in httpserver.log]


def test_urls_are_purged_100_a_request_with_the_bearer_token(httpserver):
    urls = [f"https://cdn.example.com/media/{n}.jpg" for n in range(250)]
    for start in (0, 100, 200):
        httpserver.expect_ordered_request(
            f"/client/v4/zones/{ZONE}/purge_cache",
            method="POST",
            headers=HEADERS,
            json={"files": urls[start : start + 100]},
        ).respond_with_json(SUCCESS)

    report = purge.purge_urls(urls, run_id="r1", backends={"cf": cloudflare(httpserver)})

    httpserver.check_assertions()
    assert [len(body["files"]) for _, _, body in sent(httpserver)] == [100, 100, 50]
    assert report.summary() == "3 batches through 1 backend: 3 purged (250 URLs), 0 failed; 0 billed paths."


def test_an_enterprise_zone_may_send_500_a_request(httpserver):
    urls = [f"https://cdn.example.com/{n}" for n in range(501)]
    httpserver.expect_request(f"/client/v4/zones/{ZONE}/purge_cache", method="POST").respond_with_json(SUCCESS)

    purge.purge_urls(urls, run_id="r1", backends={"cf": cloudflare(httpserver, batch_size=500)})

    assert [len(body["files"]) for _, _, body in sent(httpserver)] == [500, 1]


def test_relative_urls_are_made_absolute_with_base_url(httpserver):
    httpserver.expect_ordered_request(
        f"/client/v4/zones/{ZONE}/purge_cache",
        method="POST",
        headers=HEADERS,
        json={"files": ["https://cdn.example.com/media/a%20b.jpg", "https://cdn.example.com/static/app.css"]},
    ).respond_with_json(SUCCESS)

    report = purge.purge_urls(
        ["/media/a%20b.jpg", "/static/app.css"],
        backends={"cf": cloudflare(httpserver, base_url="https://cdn.example.com/")},
    )

    httpserver.check_assertions()
    assert report.purged == 1


def test_prefixes_are_sent_without_scheme_30_a_request(httpserver):
    prefixes = [f"/static/{n}/" for n in range(35)]
    httpserver.expect_request(f"/client/v4/zones/{ZONE}/purge_cache", method="POST").respond_with_json(SUCCESS)

    purge.purge_urls(
        [], prefixes=prefixes, backends={"cf": cloudflare(httpserver, base_url="https://cdn.example.com/")}
    )

    bodies = [body for _, _, body in sent(httpserver)]
    assert [len(body["prefixes"]) for body in bodies] == [30, 5]
    assert bodies[0]["prefixes"][0] == "cdn.example.com/static/0/"


def test_a_rate_limited_request_is_retried_after_the_pause_cloudflare_asks(httpserver):
    answers = iter(
        [
            Response(json.dumps({"success": False, "errors": [{"code": 971, "message": "Please wait"}]}), 429,
                     {"Retry-After": "1"}, content_type="application/json"),
            Response(json.dumps(SUCCESS), 200, content_type="application/json"),
        ]
    )  # fmt: skip
    httpserver.expect_request(f"/client/v4/zones/{ZONE}/purge_cache").respond_with_handler(lambda _: next(answers))
    events: list[purge.PurgeEvent] = []

    report = purge.purge_urls(
        ["https://cdn.example.com/a"],
        backends={"cf": cloudflare(httpserver, retry_delay=0.01, max_retry_delay=0.05)},
        on_event=events.append,
    )

    assert [(event.action, event.delay) for event in events] == [("retrying", 0.05), ("purged", 0.0)]
    assert events[0].reason.startswith("Cloudflare answered 429 TOO MANY REQUESTS: ")
    assert len(httpserver.log) == 2
    assert report.purged == 1


def test_a_refused_purge_fails_its_batch_with_cloudflares_reason(httpserver):
    refusal = {"success": False, "errors": [{"code": 1012, "message": "Request must contain one of ..."}]}
    httpserver.expect_request(f"/client/v4/zones/{ZONE}/purge_cache").respond_with_json(refusal)

    report = purge.purge_urls(["https://cdn.example.com/a"], backends={"cf": cloudflare(httpserver)})

    assert len(httpserver.log) == 1
    assert report.reasons[report.failed[0].key] == "Cloudflare refused the purge: 1012 Request must contain one of ..."


def test_a_server_error_that_persists_fails_after_max_attempts(httpserver):
    httpserver.expect_request(f"/client/v4/zones/{ZONE}/purge_cache").respond_with_data("oops", status=502)

    report = purge.purge_urls(
        ["https://cdn.example.com/a"],
        backends={"cf": cloudflare(httpserver, retry_delay=0.0, max_attempts=3)},
    )

    assert len(httpserver.log) == 3
    assert report.reasons[report.failed[0].key] == "Cloudflare answered 502 BAD GATEWAY: oops"


@pytest.fixture
def untrusted_https(tmp_path):
    """An HTTPS server on 127.0.0.1 whose certificate is self-signed: no client trusts it."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_an_untrusted_certificate_fails_the_batch_at_once(untrusted_https):
    backend = purge.CloudflareBackend(zone_id=ZONE, api_token=TOKEN, api_url=untrusted_https, retry_delay=0.0)
    backend.alias = "cf"
    events: list[purge.PurgeEvent] = []

    report = purge.purge_urls(["https://cdn.example.com/a"], backends={"cf": backend}, on_event=events.append)

    assert [event.action for event in events] == ["failed"]
    assert "CERTIFICATE_VERIFY_FAILED" in report.reasons[report.failed[0].key]
