"""The purge runner without a network: batching, retries, options, state, report."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from symlinkmirror import purge
from symlinkmirror.purge import Batch, Kind, PurgeBackend, PurgeFailed
from symlinkmirror.purge.retry import backoff, send
from symlinkmirror.purge.state import PendingBatches


class Recorder(PurgeBackend):
    """A backend that records each batch and fails as told: {attempt number: PurgeFailed}."""

    default_batch_size = 2
    max_batch_size = 3

    def __init__(self, *, failures=None, **kwargs):
        super().__init__(**kwargs)
        self.failures = dict(failures or {})
        self.calls: list[Batch] = []

    def purge_batch(self, batch):
        self.calls.append(batch)
        failure = self.failures.pop(len(self.calls), None)
        if failure is not None:
            raise failure


def backend(alias="edge", **options) -> Recorder:
    created = Recorder(**options)
    created.alias = alias
    return created


def test_backoff_doubles_from_the_first_delay_up_to_the_cap():
    delays = [backoff(attempt, first=1.0, cap=10.0) for attempt in range(1, 7)]

    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_backoff_waits_as_long_as_the_provider_asks_within_the_cap():
    assert backoff(1, first=1.0, cap=30.0, asked=12.0) == 12.0
    assert backoff(1, first=1.0, cap=30.0, asked=120.0) == 30.0
    assert backoff(4, first=1.0, cap=30.0, asked=2.0) == 8.0


def test_send_retries_throttling_with_backoff_then_succeeds():
    throttled = PurgeFailed("429 Too Many Requests", retryable=True, retry_after=3.0)
    edge = backend(failures={1: throttled, 2: PurgeFailed("503", retryable=True)}, retry_delay=0.5)
    batch = Batch("edge", "r1", 1, 1, Kind.URL, ("/a",))
    slept: list[float] = []
    retries: list[tuple[int, float, str]] = []

    attempts = send(edge, batch, on_retry=lambda n, d, e: retries.append((n, d, str(e))), sleep=slept.append)

    assert attempts == 3
    assert slept == [3.0, 1.0]
    assert retries == [(1, 3.0, "429 Too Many Requests"), (2, 1.0, "503")]
    assert edge.calls == [batch, batch, batch]


def test_send_gives_up_after_max_attempts():
    edge = backend(failures={n: PurgeFailed(f"503 #{n}", retryable=True) for n in range(1, 10)}, max_attempts=3)
    batch = Batch("edge", "r1", 1, 1, Kind.URL, ("/a",))
    slept: list[float] = []

    with pytest.raises(PurgeFailed, match="503 #3"):
        send(edge, batch, sleep=slept.append)

    assert len(edge.calls) == 3
    assert slept == [1.0, 2.0]


def test_send_does_not_retry_a_refusal():
    edge = backend(failures={1: PurgeFailed("403 Forbidden")})

    with pytest.raises(PurgeFailed, match="403 Forbidden"):
        send(edge, Batch("edge", "r1", 1, 1, Kind.URL, ("/a",)), sleep=pytest.fail)

    assert len(edge.calls) == 1


def test_batch_key_is_the_same_for_the_same_batch_and_changes_with_its_items():
    one = Batch("cdn", "r1", 2, 3, Kind.URL, ("/a", "/b"))

    assert one.key == Batch("cdn", "r1", 2, 3, Kind.URL, ("/a", "/b")).key
    assert one.key.startswith("symlinkmirror-r1-url2-")
    assert one.key != Batch("cdn", "r1", 2, 3, Kind.URL, ("/a", "/c")).key
    assert one.key != Batch("cdn", "r2", 2, 3, Kind.URL, ("/a", "/b")).key
    assert one.key != Batch("cdn-eu", "r1", 2, 3, Kind.URL, ("/a", "/b")).key
    assert Batch.from_dict(json.loads(json.dumps(one.as_dict()))) == one


def test_purge_urls_batches_to_the_backend_size_skipping_blanks_and_repeats(settings):
    settings.SYMLINKMIRROR_STATE_DIR = None
    edge = backend()

    report = purge.purge_urls(["/a", "", "/b", "/a", "  /c  ", "/d", "/e"], run_id="r1", backends={"edge": edge})

    assert [batch.items for batch in edge.calls] == [("/a", "/b"), ("/c", "/d"), ("/e",)]
    assert [(batch.index, batch.total) for batch in edge.calls] == [(1, 3), (2, 3), (3, 3)]
    assert report.summary() == "3 batches through 1 backend: 3 purged (5 URLs), 0 failed; 0 billed paths."


def test_a_failed_batch_is_reported_kept_and_the_run_goes_on(settings, tmp_path):
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")
    edge = backend(failures={2: PurgeFailed("400 Bad Request")})
    events: list[purge.PurgeEvent] = []

    report = purge.purge_urls(
        ["/a", "/b", "/c", "/d", "/e"], run_id="r1", backends={"edge": edge}, on_event=events.append
    )

    assert [(event.action, event.batch.index) for event in events] == [
        ("purged", 1),
        ("failed", 2),
        ("purged", 3),
    ]
    assert events[1].message == "Failed to purge batch 2 of 3 through 'edge' (2 URLs): 400 Bad Request"
    assert report.summary() == "3 batches through 1 backend: 2 purged (3 URLs), 1 failed (2 items); 0 billed paths."
    assert PendingBatches(tmp_path / "state").load() == [Batch("edge", "r1", 2, 3, Kind.URL, ("/c", "/d"))]


def test_an_unexpected_exception_fails_its_batch_only(settings):
    settings.SYMLINKMIRROR_STATE_DIR = None

    class Buggy(Recorder):
        def purge_batch(self, batch):
            super().purge_batch(batch)
            if batch.index == 1:
                raise KeyError("surprise")

    edge = Buggy()
    edge.alias = "edge"

    report = purge.purge_urls(["/a", "/b", "/c"], run_id="r1", backends={"edge": edge})

    assert [batch.index for batch in report.failed] == [1]
    assert report.reasons[report.failed[0].key] == "KeyError: 'surprise'"
    assert report.purged == 1


def test_an_interrupted_run_keeps_its_unsent_batches(settings, tmp_path):
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")
    edge = backend(failures={2: KeyboardInterrupt()})

    with pytest.raises(KeyboardInterrupt):
        purge.purge_urls(["/a", "/b", "/c", "/d", "/e"], run_id="r1", backends={"edge": edge})

    kept = PendingBatches(tmp_path / "state").load()
    assert [(batch.index, batch.items) for batch in kept] == [(2, ("/c", "/d")), (3, ("/e",))]


def test_batches_are_kept_before_they_are_sent_so_a_killed_run_leaves_them(settings, tmp_path):
    """SIGTERM and SIGKILL run no finally: what is on disk while a batch is in flight is what a kill leaves."""
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")
    on_disk: list[list[int]] = []

    class Watched(Recorder):
        def purge_batch(self, batch):
            on_disk.append([kept.index for kept in PendingBatches(tmp_path / "state").load()])
            super().purge_batch(batch)

    edge = Watched(failures={2: PurgeFailed("400 Bad Request")})
    edge.alias = "edge"

    purge.purge_urls(["/a", "/b", "/c", "/d", "/e"], run_id="r1", backends={"edge": edge})

    assert on_disk == [[1, 2, 3], [2, 3], [2, 3]]
    assert [batch.index for batch in PendingBatches(tmp_path / "state").load()] == [2]


def test_resume_forgets_each_batch_as_soon_as_it_is_purged(settings, tmp_path):
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")
    kept = [Batch("edge", "r1", 1, 2, Kind.URL, ("/a",)), Batch("edge", "r1", 2, 2, Kind.URL, ("/b",))]
    PendingBatches(tmp_path / "state").add(kept)
    on_disk: list[list[int]] = []

    class Watched(Recorder):
        def purge_batch(self, batch):
            on_disk.append([kept.index for kept in PendingBatches(tmp_path / "state").load()])
            super().purge_batch(batch)

    edge = Watched()
    edge.alias = "edge"

    purge.resume(backends={"edge": edge})

    assert on_disk == [[1, 2], [2]]
    assert PendingBatches(tmp_path / "state").load() == []


def test_resume_sends_exactly_the_kept_batches_and_forgets_those_purged(settings, tmp_path):
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")
    kept = [Batch("edge", "r1", 2, 3, Kind.URL, ("/c", "/d")), Batch("edge", "r1", 3, 3, Kind.URL, ("/e",))]
    other = Batch("gone", "r0", 1, 1, Kind.URL, ("/z",))
    PendingBatches(tmp_path / "state").add([*kept, other])
    edge = backend(failures={2: PurgeFailed("400 Bad Request")})

    report = purge.resume(backends={"edge": edge})

    assert edge.calls == kept
    assert report.failed == [kept[1]]
    assert PendingBatches(tmp_path / "state").load() == [kept[1], other]


def test_backends_sent_the_same_items_keep_their_failed_batches_apart(settings, tmp_path):
    """Two Varnish servers (or CloudFront distributions) get the same batches; each one's failure is its own."""
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")
    down = {
        "n1": backend("n1", failures={1: PurgeFailed("503")}),
        "n2": backend("n2", failures={1: PurgeFailed("503")}),
    }
    purge.purge_urls(["/a"], run_id="r1", backends=down)

    report = purge.resume(backends={"n1": backend("n1"), "n2": backend("n2", failures={1: PurgeFailed("503")})})

    assert [batch.backend for batch in report.done + report.failed] == ["n1", "n2"]
    assert PendingBatches(tmp_path / "state").load() == [Batch("n2", "r1", 1, 1, Kind.URL, ("/a",))]


def test_an_interrupted_run_keeps_the_batches_another_backend_already_sent(settings, tmp_path):
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")
    edges = {"n1": backend("n1"), "n2": backend("n2", failures={1: KeyboardInterrupt()})}

    with pytest.raises(KeyboardInterrupt):
        purge.purge_urls(["/a"], run_id="r1", backends=edges)

    assert PendingBatches(tmp_path / "state").load() == [Batch("n2", "r1", 1, 1, Kind.URL, ("/a",))]


def test_a_dry_run_plans_batches_and_calls_nothing(settings, tmp_path):
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")
    edge = backend()
    events: list[purge.PurgeEvent] = []

    report = purge.purge_urls(
        ["/a", "/b", "/c"], run_id="r1", dry_run=True, backends={"edge": edge}, on_event=events.append
    )

    assert edge.calls == []
    assert [event.action for event in events] == ["planned", "planned"]
    assert events[0].message == "Pretending to purge batch 1 of 2 through 'edge' (2 URLs), 0 billed paths:\n  /a\n  /b"
    assert report.summary() == "2 batches through 1 backend would purge 3 URLs; 0 billed paths."
    assert not (tmp_path / "state").exists()


def test_prefixes_on_a_backend_without_them_stop_the_run_before_any_request(settings):
    settings.SYMLINKMIRROR_STATE_DIR = None
    edge = backend()

    with pytest.raises(purge.PurgeError, match=r"The backend 'edge' \(Recorder\) cannot purge by prefix"):
        purge.purge_urls(["/a"], prefixes=["/static/"], backends={"edge": edge})

    assert edge.calls == []


@pytest.mark.parametrize("prefix", ["", "  "])
def test_a_blank_prefix_is_refused_rather_than_purging_everything(settings, prefix):
    """`purgemirror --prefix "$PREFIX"` with PREFIX unset: CloudFront would invalidate '/*', Varnish ban '^/'."""
    settings.SYMLINKMIRROR_STATE_DIR = None
    cloudfront = purge.CloudFrontBackend(distribution_id="E1")
    cloudfront.alias = "cdn"

    with pytest.raises(purge.PurgeError) as caught:
        purge.purge_urls(["/a.jpg"], prefixes=["/static/", prefix], dry_run=True, backends={"cdn": cloudfront})

    assert str(caught.value) == "An empty prefix would purge every URL: pass '/' to mean that."


def test_prefixes_lose_surrounding_blanks_as_urls_do(settings):
    settings.SYMLINKMIRROR_STATE_DIR = None
    cloudfront = purge.CloudFrontBackend(distribution_id="E1")
    cloudfront.alias = "cdn"

    events: list[purge.PurgeEvent] = []

    purge.purge_urls([], prefixes=[" /static/ "], dry_run=True, backends={"cdn": cloudfront}, on_event=events.append)

    assert [event.batch.items for event in events] == [("/static/*",)]


def test_a_relative_url_without_base_url_names_the_option(settings):
    settings.SYMLINKMIRROR_STATE_DIR = None
    cloudflare = purge.CloudflareBackend(zone_id="z", api_token="t")
    cloudflare.alias = "cf"

    with pytest.raises(purge.PurgeError) as caught:
        purge.purge_urls(["/media/a.jpg"], backends={"cf": cloudflare})

    assert str(caught.value) == (
        "The backend 'cf' cannot purge '/media/a.jpg': '/media/a.jpg' is not an absolute URL: set the 'base_url' "
        "OPTION of SYMLINKMIRROR_PURGE['cf'] to the CDN's address, like 'https://cdn.example.com/'."
    )


def test_a_subclass_configured_in_settings_gets_its_options_and_limits(settings):
    settings.SYMLINKMIRROR_PURGE = {"mine": {"BACKEND": "tests.test_purge_base.Recorder", "OPTIONS": {"batch_size": 3}}}

    backends = purge.configured_backends()

    assert list(backends) == ["mine"]
    assert backends["mine"].alias == "mine"
    assert backends["mine"].batch_size == 3


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"BACKEND": "symlinkmirror.purge.CloudFrontBackend", "OPTIONS": {}},
            "SYMLINKMIRROR_PURGE['x']['OPTIONS'] do not fit CloudFrontBackend: CloudFrontBackend.__init__() missing "
            "1 required keyword-only argument: 'distribution_id'.",
        ),
        (
            {
                "BACKEND": "symlinkmirror.purge.CloudFrontBackend",
                "OPTIONS": {"distribution_id": "E1", "batch_size": 3001},
            },
            "SYMLINKMIRROR_PURGE['x']: The 'batch_size' OPTION of CloudFrontBackend must be a whole number from 1 to "
            "3000, not 3001.",
        ),
        (
            {"BACKEND": "symlinkmirror.purge.CloudflareBackend", "OPTIONS": {"zone_id": "z", "api_token": ""}},
            "SYMLINKMIRROR_PURGE['x']: The 'api_token' OPTION of CloudflareBackend must be a non-empty string without "
            "spaces or line breaks (a secret read from a file keeps its final newline: strip it).",
        ),
        (
            {"BACKEND": "symlinkmirror.purge.FastlyBackend", "OPTIONS": {"api_token": "t", "soft_purge": "yes"}},
            "SYMLINKMIRROR_PURGE['x']: The 'soft_purge' OPTION of FastlyBackend must be True or False, not 'yes'.",
        ),
        (
            {"BACKEND": "symlinkmirror.purge.VarnishBackend", "OPTIONS": {"location": "127.0.0.1:6081"}},
            "SYMLINKMIRROR_PURGE['x']: The 'location' OPTION of VarnishBackend must be Varnish's address, like "
            "'http://127.0.0.1:6081', not '127.0.0.1:6081'.",
        ),
        (
            {"BACKEND": "symlinkmirror.purge.VarnishBackend", "OPTIONS": {"location": "http://v", "locaton": "x"}},
            "SYMLINKMIRROR_PURGE['x']['OPTIONS'] do not fit VarnishBackend: PurgeBackend.__init__() got an unexpected "
            "keyword argument 'locaton'.",
        ),
        (
            {
                "BACKEND": "symlinkmirror.purge.CloudflareBackend",
                "OPTIONS": {"zone_id": "z", "api_token": "t", "api_url": "https://"},
            },
            "SYMLINKMIRROR_PURGE['x']: The 'api_url' OPTION of CloudflareBackend must be an http:// or https:// URL, "
            "not 'https://'.",
        ),
        (
            {"BACKEND": "tests.test_purge_checks.ParsesItsOptions", "OPTIONS": {"port": "eighty"}},
            "SYMLINKMIRROR_PURGE['x']['OPTIONS'] do not fit ParsesItsOptions: invalid literal for int() with base 10: "
            "'eighty'.",
        ),
        (
            {"BACKEND": "symlinkmirror.purge.NoSuchBackend"},
            "SYMLINKMIRROR_PURGE['x']['BACKEND'] cannot be imported: Module \"symlinkmirror.purge\" does not define "
            'a "NoSuchBackend" attribute/class.',
        ),
        (
            {"OPTIONS": {}},
            "SYMLINKMIRROR_PURGE['x'] must be a dict with a 'BACKEND' path, like 'symlinkmirror.purge.VarnishBackend'.",
        ),
    ],
)
def test_wrong_settings_name_the_alias_and_option(settings, spec, message):
    settings.SYMLINKMIRROR_PURGE = {"x": spec}

    with pytest.raises(purge.PurgeError) as caught:
        purge.configured_backends()

    assert str(caught.value) == message


def test_options_are_checked_when_the_backend_is_created():
    with pytest.raises(ImproperlyConfigured, match="The 'max_attempts' OPTION of FastlyBackend must be a whole number"):
        purge.FastlyBackend(api_token="t", max_attempts=0)
    with pytest.raises(
        ImproperlyConfigured, match="The 'base_url' OPTION of CloudflareBackend must be an absolute URL"
    ):
        purge.CloudflareBackend(zone_id="z", api_token="t", base_url="/")


@pytest.mark.parametrize(
    ("cls", "options", "option"),
    [
        (purge.CloudflareBackend, {"zone_id": "z", "api_token": "s3cr3t-token\n"}, "api_token"),
        (purge.CloudflareBackend, {"zone_id": "z", "api_token": b"s3cr3t-token"}, "api_token"),
        (purge.FastlyBackend, {"api_token": "s3cr3t-token "}, "api_token"),
        (
            purge.CloudFrontBackend,
            {"distribution_id": "E1", "aws_access_key_id": "AKIA", "aws_secret_access_key": b"s3cr3t-token"},
            "aws_secret_access_key",
        ),
        (
            purge.CloudFrontBackend,
            {"distribution_id": "E1", "aws_session_token": "s3cr3t-token\r\n"},
            "aws_session_token",
        ),
    ],
)
def test_a_malformed_secret_is_refused_without_being_repeated(cls, options, option):
    """A token read from a file keeps its newline: http.client would refuse the header, quoting the token."""
    with pytest.raises(ImproperlyConfigured) as caught:
        cls(**options)

    assert str(caught.value) == (
        f"The {option!r} OPTION of {cls.__name__} must be a non-empty string without spaces or line breaks "
        "(a secret read from a file keeps its final newline: strip it)."
    )


def test_an_unknown_backend_alias_lists_the_configured_ones(settings):
    settings.SYMLINKMIRROR_PURGE = {"cdn": {"BACKEND": "tests.test_purge_base.Recorder"}}

    with pytest.raises(purge.PurgeError, match=r"^SYMLINKMIRROR_PURGE has no backend 'edge' \(configured: 'cdn'\)\.$"):
        purge.configured_backends(["edge"])


def test_cloudfront_paths_come_from_the_urls_encoded_with_wildcards_only_at_the_end():
    cloudfront = purge.CloudFrontBackend(distribution_id="E1")

    assert cloudfront.prepare("https://cdn.example.com/media/a%20b.jpg", Kind.URL) == "/media/a%20b.jpg"
    assert cloudfront.prepare("/media/caf\u00e9 1.jpg?v=2", Kind.URL) == "/media/caf%C3%A9%201.jpg?v=2"
    assert cloudfront.prepare("/media/x*y.jpg", Kind.URL) == "/media/x*"
    assert cloudfront.prepare("/static/", Kind.PREFIX) == "/static/*"
    with pytest.raises(ValueError, match="longer than CloudFront's 4000 characters"):
        cloudfront.prepare("/" + "a" * 4000, Kind.URL)


def test_cloudfront_paths_encode_a_tilde_which_cloudfront_refuses_as_it_is():
    """RFC 1738 counts "~" unsafe, and CloudFront refuses a literal one with InvalidArgument, failing the whole batch
    (https://github.com/aws/aws-sdk/issues/525); Django's url() and a webpack build (runtime~main.js) keep it."""
    cloudfront = purge.CloudFrontBackend(distribution_id="E1")

    assert cloudfront.prepare("/static/js/runtime~main.js", Kind.URL) == "/static/js/runtime%7Emain.js"
    assert cloudfront.prepare("https://cdn.example.com/~alice/", Kind.PREFIX) == "/%7Ealice/*"


def test_varnish_sends_the_host_option_else_the_urls_own_else_locations():
    varnish = purge.VarnishBackend(location="http://127.0.0.1:6081", host="origin.example.com")
    plain = purge.VarnishBackend(location="http://127.0.0.1:6081")

    assert varnish.prepare("https://cdn.example.com/a.css", Kind.URL) == "https://origin.example.com/a.css"
    assert varnish.prepare("/a.css", Kind.URL) == "http://origin.example.com/a.css"
    assert plain.prepare("https://cdn.example.com/a.css", Kind.URL) == "https://cdn.example.com/a.css"
    assert plain.prepare("/a.css", Kind.URL) == "http://127.0.0.1:6081/a.css"


def test_cloudfront_batches_hold_at_most_3000_paths_and_15_wildcards():
    cloudfront = purge.CloudFrontBackend(distribution_id="E1")
    files = [f"/f{n}" for n in range(3001)]
    wildcards = [f"/w{n}/*" for n in range(20)]

    by_files = cloudfront.group(files, Kind.URL)
    by_wildcards = cloudfront.group(["/a", *wildcards, "/b"], Kind.URL)

    assert [len(batch) for batch in by_files] == [3000, 1]
    assert [sum(path.endswith("*") for path in batch) for batch in by_wildcards] == [15, 5]
    assert by_wildcards[0][0] == "/a" and by_wildcards[1][-1] == "/b"


def test_a_per_request_backend_retries_after_the_items_already_purged():
    class OneByOne(purge.PerRequestBackend):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.sent: list[str] = []

        def purge_item(self, item, kind):
            self.sent.append(item)
            if len(self.sent) == 2:
                raise PurgeFailed("503", retryable=True)

    edge = OneByOne()
    edge.alias = "edge"

    send(edge, Batch("edge", "r1", 1, 1, Kind.URL, ("/a", "/b", "/c")), sleep=lambda _: None)

    assert edge.sent == ["/a", "/b", "/b", "/c"]


def test_state_dir_inside_the_mirror_is_refused(settings, mirror_in_tmp_path):
    settings.SYMLINKMIRROR_STATE_DIR = str(mirror_in_tmp_path.mirror / "private" / "state")

    with pytest.raises(purge.PurgeError) as caught:
        purge.state_dir()

    assert str(caught.value) == (
        f"SYMLINKMIRROR_STATE_DIR '{mirror_in_tmp_path.mirror / 'private' / 'state'}' lies inside the mirror "
        f"location '{mirror_in_tmp_path.mirror}': set SYMLINKMIRROR_STATE_DIR to a folder outside the mirror, "
        "which is published."
    )


def test_state_dir_beside_the_mirror_is_used(settings, mirror_in_tmp_path, tmp_path):
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")

    assert purge.state_dir() == tmp_path / "state"


@pytest.mark.parametrize(
    ("action", "created", "expected"),
    [
        ("replaced", False, True),
        ("deleted", False, True),
        ("linked", False, False),
        ("copied", False, False),
        ("linked", True, True),
        ("copied", True, True),
        ("unmodified", True, False),
        ("failed", True, False),
    ],
)
def test_should_purge_replaced_and_deleted_and_created_only_when_asked(settings, action, created, expected):
    settings.SYMLINKMIRROR_PURGE_CREATED = created

    assert purge.should_purge(action) is expected


def test_cloudfront_tries_longer_by_default_as_its_in_flight_limit_clears_slowly():
    cloudfront = purge.CloudFrontBackend(distribution_id="E1")
    fastly = purge.FastlyBackend(api_token="t")

    waits = sum(
        backoff(attempt, first=cloudfront.retry_delay, cap=cloudfront.max_retry_delay) for attempt in range(1, 8)
    )

    assert (cloudfront.max_attempts, fastly.max_attempts) == (8, 5)
    assert waits == 123.0
    assert purge.CloudFrontBackend(distribution_id="E1", max_attempts=2).max_attempts == 2
