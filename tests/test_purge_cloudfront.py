"""CloudFrontBackend against a real moto server process, and botocore's Stubber for errors moto never returns."""

from __future__ import annotations

import http.client
import http.server
import threading
from contextlib import contextmanager
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.stub import Stubber

from symlinkmirror import purge
from symlinkmirror.purge import Batch, Kind
from tests.peers import running_moto
from tests.test_origin import free_port

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """moto's server in its own process on 127.0.0.1: its endpoint URL."""
    with running_moto(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto, monkeypatch):
    """A boto3 CloudFront client on the moto server, for the test to create distributions and read invalidations."""
    for variable in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(variable, raising=False)
    client = boto3.client("cloudfront", endpoint_url=moto, **CREDENTIALS)
    yield client
    client.close()


def create_distribution(aws, reference: str) -> str:
    origin = {
        "Id": "origin",
        "DomainName": "origin.example.com",
        "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"},
    }
    config = {
        "CallerReference": reference,
        "Comment": "",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "origin",
            "ViewerProtocolPolicy": "allow-all",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
        },
    }
    return aws.create_distribution(DistributionConfig=config)["Distribution"]["Id"]


def recorded(aws, distribution_id: str) -> list[dict]:
    """The invalidation batches moto recorded, oldest first: {'Paths': {...}, 'CallerReference': ...}."""
    listing = aws.list_invalidations(DistributionId=distribution_id)["InvalidationList"]
    batches = [
        aws.get_invalidation(DistributionId=distribution_id, Id=item["Id"])["Invalidation"]
        for item in listing.get("Items", [])
    ]
    return [invalidation["InvalidationBatch"] for invalidation in sorted(batches, key=lambda i: i["CreateTime"])]


def cloudfront(distribution_id: str, endpoint: str, **options) -> purge.CloudFrontBackend:
    backend = purge.CloudFrontBackend(distribution_id=distribution_id, endpoint_url=endpoint, **CREDENTIALS, **options)
    backend.alias = "cdn"
    return backend


@pytest.fixture
def no_state(settings):
    settings.SYMLINKMIRROR_STATE_DIR = None


@pytest.mark.usefixtures("no_state")
def test_invalidations_hold_the_paths_in_batches_with_the_batch_key_as_caller_reference(aws, moto):
    distribution = create_distribution(aws, "batches")
    urls = [f"https://cdn.example.com/media/{n}.jpg" for n in range(5)]

    report = purge.purge_urls(urls, run_id="run-1", backends={"cdn": cloudfront(distribution, moto, batch_size=2)})

    batches = recorded(aws, distribution)
    assert [batch["Paths"]["Items"] for batch in batches] == [
        ["/media/0.jpg", "/media/1.jpg"],
        ["/media/2.jpg", "/media/3.jpg"],
        ["/media/4.jpg"],
    ]
    assert [batch["Paths"]["Quantity"] for batch in batches] == [2, 2, 1]
    assert [batch["CallerReference"] for batch in batches] == [
        Batch("cdn", "run-1", n, 3, Kind.URL, tuple(items)).key
        for n, items in enumerate(
            (["/media/0.jpg", "/media/1.jpg"], ["/media/2.jpg", "/media/3.jpg"], ["/media/4.jpg"]), 1
        )
    ]
    assert report.summary() == "3 batches through 1 backend: 3 purged (5 URLs), 0 failed; 5 billed paths."


@pytest.mark.usefixtures("no_state")
def test_relative_urls_prefixes_and_odd_names_become_valid_paths(aws, moto):
    distribution = create_distribution(aws, "paths")

    purge.purge_urls(
        ["/static/app.css", "/media/caf\u00e9 menu.pdf", "/media/x*y.jpg", "/static/runtime~main.js"],
        prefixes=["/static/admin/"],
        run_id="run-2",
        backends={"cdn": cloudfront(distribution, moto)},
    )

    assert [batch["Paths"]["Items"] for batch in recorded(aws, distribution)] == [
        ["/static/app.css", "/media/caf%C3%A9%20menu.pdf", "/media/x*", "/static/runtime%7Emain.js"],
        ["/static/admin/*"],
    ]


@pytest.mark.usefixtures("no_state")
def test_more_than_15_wildcards_go_in_several_invalidations(aws, moto):
    distribution = create_distribution(aws, "wildcards")
    prefixes = [f"/media/{n}/" for n in range(17)]

    purge.purge_urls([], prefixes=prefixes, run_id="run-3", backends={"cdn": cloudfront(distribution, moto)})

    assert [batch["Paths"]["Quantity"] for batch in recorded(aws, distribution)] == [15, 2]


class LosingProxy(http.server.ThreadingHTTPServer):
    """Forwards to moto, but answers the first invalidation with a 503 after moto has accepted it.

    That is the case a CallerReference exists for: the request reached
    CloudFront, the answer was lost, the client tries again.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.lost = 0
        super().__init__(("127.0.0.1", 0), ProxyHandler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: LosingProxy

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        # http.client, not urllib: urllib would add a form Content-Type that moto reads as another protocol.
        upstream = http.client.HTTPConnection(urlsplit(self.server.upstream).netloc, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        upstream.request("POST", self.path, body=body, headers=headers)
        response = upstream.getresponse()
        status, data, kind = response.status, response.read(), response.getheader("Content-Type", "")
        upstream.close()
        if "/invalidation" in self.path and self.server.lost == 0:
            self.server.lost += 1
            status, data, kind = 503, b"", "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


@contextmanager
def losing_proxy(upstream: str):
    proxy = LosingProxy(upstream)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join()


@pytest.mark.usefixtures("no_state")
def test_a_batch_retried_after_a_lost_answer_sends_the_same_caller_reference(aws, moto):
    """moto records each request it accepts; CloudFront itself answers the second with the first invalidation."""
    distribution = create_distribution(aws, "retried")
    events: list[purge.PurgeEvent] = []

    with losing_proxy(moto) as proxy:
        report = purge.purge_urls(
            ["/media/a.jpg", "/media/b.jpg"],
            run_id="run-4",
            backends={"cdn": cloudfront(distribution, proxy.endpoint, retry_delay=0.01)},
            on_event=events.append,
        )

    batches = recorded(aws, distribution)
    assert [event.action for event in events] == ["retrying", "purged"]
    assert events[0].reason.startswith("CloudFront answered 503")
    assert len(batches) == 2
    assert batches[0] == batches[1]
    assert batches[0]["CallerReference"] == Batch("cdn", "run-4", 1, 1, Kind.URL, ("/media/a.jpg", "/media/b.jpg")).key
    assert report.purged == 1


def test_a_resumed_batch_sends_the_caller_reference_of_its_first_try(aws, moto, settings, tmp_path):
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")
    distribution = create_distribution(aws, "resumed")
    down = cloudfront("ENOSUCHDIST", moto, max_attempts=1)

    failed = purge.purge_urls(["/media/a.jpg"], run_id="run-5", backends={"cdn": down})
    purge.state.PendingBatches(tmp_path / "state").add(
        [Batch("cdn", "run-5", 1, 1, Kind.URL, ("/media/a.jpg",))]  # as kept, now for the real distribution
    )
    resumed = purge.resume(backends={"cdn": cloudfront(distribution, moto)})

    assert failed.failed == [Batch("cdn", "run-5", 1, 1, Kind.URL, ("/media/a.jpg",))]
    assert failed.reasons[failed.failed[0].key].startswith("CloudFront answered NoSuchDistribution")
    assert resumed.purged == 1
    assert [batch["CallerReference"] for batch in recorded(aws, distribution)] == [failed.failed[0].key]
    assert purge.state.PendingBatches(tmp_path / "state").load() == []


@pytest.fixture
def stubbed(no_state):
    """A CloudFront backend whose client botocore's Stubber answers: for throttling and limits moto never hits."""
    backend = purge.CloudFrontBackend(
        distribution_id="E1", retry_delay=0.01, max_retry_delay=0.02, max_attempts=4, **CREDENTIALS
    )
    backend.alias = "cdn"
    with Stubber(backend.client) as stubber:
        yield backend, stubber
        stubber.assert_no_pending_responses()


def expected_call(paths: list[str], run_id: str, total: int = 1, index: int = 1) -> dict:
    batch = Batch("cdn", run_id, index, total, Kind.URL, tuple(paths))
    return {
        "DistributionId": "E1",
        "InvalidationBatch": {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": batch.key},
    }


def created(paths: list[str], reference: str) -> dict:
    return {
        "Location": "https://cloudfront.amazonaws.com/2020-05-31/distribution/E1/invalidation/I1",
        "Invalidation": {
            "Id": "I1",
            "Status": "InProgress",
            "CreateTime": "2025-01-01T00:00:00Z",
            "InvalidationBatch": {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference},
        },
    }


@pytest.mark.parametrize(
    ("code", "status"),
    [("TooManyInvalidationsInProgress", 400), ("Throttling", 400), ("ServiceUnavailable", 503)],
)
def test_throttling_and_server_errors_are_retried_with_backoff(stubbed, code, status):
    backend, stubber = stubbed
    call = expected_call(["/a.jpg"], "run-6")
    stubber.add_client_error("create_invalidation", code, "slow down", status, expected_params=call)
    stubber.add_client_error("create_invalidation", code, "slow down", status, expected_params=call)
    stubber.add_response("create_invalidation", created(["/a.jpg"], call["InvalidationBatch"]["CallerReference"]), call)
    events: list[purge.PurgeEvent] = []

    report = purge.purge_urls(["/a.jpg"], run_id="run-6", backends={"cdn": backend}, on_event=events.append)

    assert [(event.action, event.delay) for event in events] == [
        ("retrying", 0.01),
        ("retrying", 0.02),
        ("purged", 0.0),
    ]
    assert events[0].message == (
        f"Retrying batch 1 of 1 through 'cdn' (1 URL) in 0.01 s (attempt 2 of 4): CloudFront answered {code}: slow down"
    )
    assert report.purged == 1


@pytest.mark.parametrize("code", ["BatchTooLarge", "InvalidArgument", "AccessDenied", "NoSuchDistribution"])
def test_refusals_fail_the_batch_at_once(stubbed, code):
    backend, stubber = stubbed
    stubber.add_client_error("create_invalidation", code, "no", 400, expected_params=expected_call(["/a.jpg"], "run-7"))

    report = purge.purge_urls(["/a.jpg"], run_id="run-7", backends={"cdn": backend})

    assert len(report.failed) == 1
    assert report.reasons[report.failed[0].key] == f"CloudFront answered {code}: no"


def test_throttling_that_outlasts_max_attempts_fails_the_batch(stubbed):
    backend, stubber = stubbed
    for _ in range(4):
        stubber.add_client_error("create_invalidation", "TooManyInvalidationsInProgress", "wait", 400)

    report = purge.purge_urls(["/a.jpg"], run_id="run-8", backends={"cdn": backend})

    assert report.reasons[report.failed[0].key] == "CloudFront answered TooManyInvalidationsInProgress: wait"


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """boto3's whole credential chain comes up empty, as on a host nobody gave AWS credentials."""
    for variable in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(variable, raising=False)
    for variable in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "BOTO_CONFIG"):
        monkeypatch.setenv(variable, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.usefixtures("no_state", "no_credentials")
def test_missing_credentials_fail_the_batch_at_once(moto):
    backend = purge.CloudFrontBackend(distribution_id="E1", endpoint_url=moto, region_name="us-east-1")
    backend.alias = "cdn"
    events: list[purge.PurgeEvent] = []

    report = purge.purge_urls(["/a.jpg"], run_id="run-9", backends={"cdn": backend}, on_event=events.append)

    assert [event.action for event in events] == ["failed"]
    assert report.reasons[report.failed[0].key] == "CloudFront cannot be called: Unable to locate credentials"


@pytest.mark.usefixtures("no_state")
def test_an_unreachable_endpoint_is_retried():
    closed = free_port()  # nothing listens there: the connection is refused
    backend = cloudfront("E1", f"http://127.0.0.1:{closed}", retry_delay=0.0, max_attempts=2)
    events: list[purge.PurgeEvent] = []

    purge.purge_urls(["/a.jpg"], run_id="run-10", backends={"cdn": backend}, on_event=events.append)

    assert [event.action for event in events] == ["retrying", "failed"]
    assert events[1].reason.startswith("cannot reach CloudFront: Could not connect to the endpoint URL")
