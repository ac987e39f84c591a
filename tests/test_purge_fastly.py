"""FastlyBackend against a local HTTP server that checks each request against Fastly's documented API.

The server stands in for Fastly's purge API, a SaaS that cannot be run
locally: it expects what the documentation specifies (POST
/purge/{host and path}, one URL a request, the Fastly-Key header, Fastly-Soft-Purge: 1
for a soft purge) and answers {"status": "ok", "id": ...} as Fastly does.
https://www.fastly.com/documentation/reference/api/purging/
"""

from __future__ import annotations

import pytest
from werkzeug import Response

from symlinkmirror import purge

TOKEN = "fastly-test-token"
OK = {"status": "ok", "id": "108-1391560174-974124"}


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture(autouse=True)
def no_state(settings):
    settings.SYMLINKMIRROR_STATE_DIR = None


def fastly(httpserver, **options) -> purge.FastlyBackend:
    backend = purge.FastlyBackend(api_token=TOKEN, api_url=httpserver.url_for("/"), **options)
    backend.alias = "fastly"
    return backend


def test_each_url_is_one_post_with_the_api_key(httpserver):
    for path in ("/purge/cdn.example.com/media/a.jpg", "/purge/cdn.example.com/static/app.css"):
        httpserver.expect_ordered_request(
            path, method="POST", headers={"Fastly-Key": TOKEN, "Accept": "application/json"}, data=b""
        ).respond_with_json(OK)

    report = purge.purge_urls(
        ["https://cdn.example.com/media/a.jpg", "/static/app.css"],
        backends={"fastly": fastly(httpserver, base_url="https://cdn.example.com/")},
    )

    httpserver.check_assertions()
    assert [request.headers.get("Fastly-Soft-Purge") for request, _ in httpserver.log] == [None, None]
    assert report.summary() == "1 batch through 1 backend: 1 purged (2 URLs), 0 failed; 0 billed paths."


def test_soft_purge_sends_the_soft_purge_header(httpserver):
    httpserver.expect_ordered_request(
        "/purge/cdn.example.com/a.jpg", method="POST", headers={"Fastly-Key": TOKEN, "Fastly-Soft-Purge": "1"}
    ).respond_with_json(OK)

    purge.purge_urls(["https://cdn.example.com/a.jpg"], backends={"fastly": fastly(httpserver, soft_purge=True)})

    httpserver.check_assertions()
    assert len(httpserver.log) == 1


def test_batches_group_urls_for_reporting_and_resume(httpserver):
    for n in range(5):
        httpserver.expect_request(f"/purge/cdn.example.com/{n}.jpg", method="POST").respond_with_json(OK)
    urls = [f"https://cdn.example.com/{n}.jpg" for n in range(5)]

    report = purge.purge_urls(urls, backends={"fastly": fastly(httpserver, batch_size=2)})

    assert [request.path for request, _ in httpserver.log] == [f"/purge/cdn.example.com/{n}.jpg" for n in range(5)]
    assert [len(batch.items) for batch in report.done] == [2, 2, 1]


def test_a_throttled_url_is_retried_without_sending_the_others_again(httpserver):
    answers = iter([Response('{"status": "ok"}', 200), Response("busy", 503), Response('{"status": "ok"}', 200)] * 2)
    httpserver.expect_request("/purge/cdn.example.com/a").respond_with_handler(lambda _: next(answers))
    httpserver.expect_request("/purge/cdn.example.com/b").respond_with_handler(lambda _: next(answers))
    httpserver.expect_request("/purge/cdn.example.com/c").respond_with_json(OK)
    events: list[purge.PurgeEvent] = []

    report = purge.purge_urls(
        ["https://cdn.example.com/a", "https://cdn.example.com/b", "https://cdn.example.com/c"],
        backends={"fastly": fastly(httpserver, retry_delay=0.0)},
        on_event=events.append,
    )

    assert [request.path for request, _ in httpserver.log] == [
        "/purge/cdn.example.com/a",
        "/purge/cdn.example.com/b",
        "/purge/cdn.example.com/b",
        "/purge/cdn.example.com/c",
    ]
    assert [event.action for event in events] == ["retrying", "purged"]
    assert events[0].reason == "Fastly answered 503 SERVICE UNAVAILABLE: busy"
    assert report.purged == 1


def test_a_refused_key_fails_the_batch_at_once(httpserver):
    httpserver.expect_request("/purge/cdn.example.com/a").respond_with_data(
        '{"msg": "Provided credentials are missing or invalid"}', status=403, content_type="application/json"
    )

    report = purge.purge_urls(["https://cdn.example.com/a"], backends={"fastly": fastly(httpserver)})

    assert len(httpserver.log) == 1
    assert report.reasons[report.failed[0].key] == (
        'Fastly answered 403 FORBIDDEN: {"msg": "Provided credentials are missing or invalid"}'
    )
