"""collectmirror --purge and verifymirror --fix --purge: the run's changed URLs purged after the last entry is in place.

The Cloudflare tests use a local HTTP server standing in for Cloudflare's purge
API (a SaaS that cannot be run locally), as tests/test_purge_cloudflare.py
does; the Varnish test runs a real varnishd in front of a real nginx.
"""

from __future__ import annotations

import io
import json
import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from werkzeug import Response

from tests.test_purge_varnish import VCL, rewrite, serving

ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "cf-test-token"
SUCCESS = {"success": True, "errors": [], "messages": [], "result": {"id": "purge-1"}}
PURGE_PATH = f"/client/v4/zones/{ZONE}/purge_cache"


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture
def site(settings, mirror_in_tmp_path, tmp_path):
    """Media linked, static copied, mirrored once; purged through a Cloudflare stand-in; the state beside the mirror."""
    setup = mirror_in_tmp_path
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(setup.media)]
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")
    (setup.media / "a.jpg").write_bytes(b"jpeg a")
    (setup.media / "old.pdf").write_bytes(b"%PDF old")
    (setup.static / "site.css").write_bytes(b"body { color: black }")
    call_command("collectmirror", stdout=io.StringIO())
    return setup


@pytest.fixture
def cloudflare(settings, httpserver):
    settings.SYMLINKMIRROR_PURGE = {
        "cf": {
            "BACKEND": "symlinkmirror.purge.CloudflareBackend",
            "OPTIONS": {
                "zone_id": ZONE,
                "api_token": TOKEN,
                "api_url": httpserver.url_for("/client/v4"),
                "base_url": "https://cdn.example.com",
            },
        }
    }
    return httpserver


def run(command: str, *args: str) -> tuple[list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue()


def purged_files(httpserver) -> list[str]:
    return [url for request, _ in httpserver.log for url in json.loads(request.data)["files"]]


def change_the_site(site) -> None:
    rewrite(site.static / "site.css", b"body { color: darkred }")  # a copy replaced
    rewrite(site.media / "a.jpg", b"jpeg a, edited in place")  # an edit behind a link
    (site.media / "old.pdf").unlink()  # deleted with --delete
    (site.media / "new.jpg").write_bytes(b"jpeg new")  # created


def test_collectmirror_purge_sends_the_changed_urls_once_every_entry_is_in_place(site, cloudflare):
    change_the_site(site)
    seen_at_purge = {}

    def handler(request):
        # What the origin holds at the moment the CDN is told to forget: the new bytes, never the old.
        seen_at_purge["site.css"] = (site.mirror / "static" / "site.css").read_bytes()
        seen_at_purge["a.jpg"] = (site.mirror / "media" / "a.jpg").read_bytes()
        seen_at_purge["old.pdf exists"] = os.path.lexists(site.mirror / "media" / "old.pdf")
        return Response(json.dumps(SUCCESS), content_type="application/json")

    cloudflare.expect_request(PURGE_PATH, method="POST").respond_with_handler(handler)

    lines, err = run("collectmirror", "--delete", "--purge")

    assert sorted(purged_files(cloudflare)) == [
        "https://cdn.example.com/media/a.jpg",
        "https://cdn.example.com/media/old.pdf",
        "https://cdn.example.com/static/site.css",
    ]
    assert seen_at_purge == {
        "site.css": b"body { color: darkred }",
        "a.jpg": b"jpeg a, edited in place",
        "old.pdf exists": False,
    }
    assert lines[-3:] == [
        "1 file linked, 0 copied, 2 replaced, 0 unmodified, 1 deleted, 0 skipped, 0 failed.",
        "Purged batch 1 of 1 through 'cf' (3 URLs)",
        "1 batch through 1 backend: 1 purged (3 URLs), 0 failed; 0 billed paths.",
    ]
    assert err == ""


def test_created_names_are_purged_too_with_purge_created(site, cloudflare, settings):
    settings.SYMLINKMIRROR_PURGE_CREATED = True
    (site.media / "new.jpg").write_bytes(b"jpeg new")
    cloudflare.expect_request(PURGE_PATH, method="POST").respond_with_json(SUCCESS)

    run("collectmirror", "--purge")

    assert purged_files(cloudflare) == ["https://cdn.example.com/media/new.jpg"]


def test_a_run_that_changes_nothing_sends_no_request(site, cloudflare):
    lines, _ = run("collectmirror", "--purge")

    assert cloudflare.log == []
    assert lines[-1] == "0 batches through 1 backend: 0 purged (0 URLs), 0 failed; 0 billed paths."


def test_dry_run_purge_prints_the_batches_and_calls_nothing(site, cloudflare):
    change_the_site(site)

    lines, _ = run("collectmirror", "--delete", "--purge", "--dry-run", "-v", "2")

    assert cloudflare.log == []
    assert (site.mirror / "static" / "site.css").read_bytes() == b"body { color: black }"
    assert lines[-6:] == [
        "Dry run: 1 file linked, 0 copied, 2 replaced, 0 unmodified, 1 deleted, 0 skipped, 0 failed.",
        "Pretending to purge batch 1 of 1 through 'cf' (3 URLs), 0 billed paths:",
        "  https://cdn.example.com/media/a.jpg",
        "  https://cdn.example.com/media/old.pdf",
        "  https://cdn.example.com/static/site.css",
        "1 batch through 1 backend would purge 3 URLs; 0 billed paths.",
    ]


def test_a_failed_purge_keeps_what_was_published_and_fails_the_run(site, cloudflare, tmp_path):
    change_the_site(site)
    cloudflare.expect_request(PURGE_PATH, method="POST").respond_with_json(
        {"success": False, "errors": [{"code": 1000, "message": "Invalid API token"}]}, status=403
    )

    with pytest.raises(CommandError) as caught:
        run("collectmirror", "--delete", "--purge")

    assert str(caught.value).startswith("1 batch(es) failed; they are kept in ")
    assert "for 'purgemirror --resume'" in str(caught.value)
    # Published all the same: a failed purge never unpublishes anything.
    assert (site.mirror / "static" / "site.css").read_bytes() == b"body { color: darkred }"
    assert not os.path.lexists(site.mirror / "media" / "old.pdf")
    assert os.listdir(tmp_path / "state")  # the failed batch, for purgemirror --resume


def test_purge_is_refused_before_the_run_without_backends(site, settings):
    settings.SYMLINKMIRROR_PURGE = {}
    rewrite(site.static / "site.css", b"body { color: darkred }")

    with pytest.raises(
        CommandError, match=r"^--purge has nothing to purge through: add a backend to SYMLINKMIRROR_PURGE\.$"
    ):
        run("collectmirror", "--purge")

    assert (site.mirror / "static" / "site.css").read_bytes() == b"body { color: black }"


def test_collectmirror_json_with_purge_stays_one_document(site, cloudflare):
    rewrite(site.static / "site.css", b"body { color: darkred }")
    cloudflare.expect_request(PURGE_PATH, method="POST").respond_with_json(SUCCESS)

    out = io.StringIO()
    call_command("collectmirror", "--purge", "--json", stdout=out, stderr=io.StringIO())

    document = json.loads(out.getvalue())
    assert document["purge"]["purged"] == 1
    assert document["purge"]["failed"] == []
    assert [change["name"] for change in document["changed"]] == ["static/site.css"]


def test_verifymirror_fix_purge_purges_what_the_repair_replaced(site, cloudflare):
    entry = site.mirror / "static" / "site.css"
    entry.unlink()
    entry.write_bytes(b"tampered")
    os.utime(entry, ns=(0, 0))
    cloudflare.expect_request(PURGE_PATH, method="POST").respond_with_json(SUCCESS)

    lines, _ = run("verifymirror", "--fix", "--purge")

    assert purged_files(cloudflare) == ["https://cdn.example.com/static/site.css"]
    assert entry.read_bytes() == b"body { color: black }"
    assert "1 batch through 1 backend: 1 purged (1 URL), 0 failed; 0 billed paths." in lines


def test_verifymirror_purge_needs_fix(site, cloudflare):
    with pytest.raises(CommandError, match=r"^--purge purges what --fix changes: pass --fix too, or leave it out\.$"):
        run("verifymirror", "--purge")


@pytest.mark.nginx
@pytest.mark.varnish
def test_after_collectmirror_purge_the_cache_serves_the_new_bytes_at_once(site, tmp_path, settings):
    with serving(site, tmp_path, settings, VCL) as (_origin, cache):
        warm = [cache.get("/static/site.css"), cache.get("/media/a.jpg"), cache.get("/media/a.jpg")]
        rewrite(site.static / "site.css", b"body { color: darkred }")
        rewrite(site.media / "a.jpg", b"jpeg a, edited in place")

        run("collectmirror", "--purge")
        after = [cache.get("/static/site.css"), cache.get("/media/a.jpg")]

    assert warm[1:] == [(200, b"jpeg a", "MISS"), (200, b"jpeg a", "HIT")]
    assert after == [(200, b"body { color: darkred }", "MISS"), (200, b"jpeg a, edited in place", "MISS")]
