"""VarnishBackend for real: Debian's varnishd in front of a real nginx serving the mirror, with a VCL written here."""

from __future__ import annotations

import io
import os
import re
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.peers import running_varnish
from tests.test_origin import is_root, running_nginx

pytestmark = [pytest.mark.nginx, pytest.mark.varnish]

# PURGE and BAN as README's "CDN purge" section shows them: an ACL, return
# (purge), and std.ban() on the headers each cached object carries.
VCL = """\
vcl 4.1;
import std;

backend origin {{ .host = "127.0.0.1"; .port = "{port}"; }}

acl purgers {{ "127.0.0.1"; }}

sub vcl_recv {{
    if (req.method == "PURGE") {{
        if (client.ip !~ purgers) {{ return (synth(405, "Not allowed")); }}
        return (purge);
    }}
    if (req.method == "BAN") {{
        if (client.ip !~ purgers) {{ return (synth(405, "Not allowed")); }}
        if (std.ban("obj.http.x-host == " + req.http.host + " && obj.http.x-url ~ " + req.http.X-Ban-Pattern)) {{
            return (synth(200, "Banned"));
        }}
        return (synth(400, std.ban_error()));
    }}
}}

sub vcl_backend_response {{
    set beresp.ttl = 1h;
    set beresp.http.x-url = bereq.url;
    set beresp.http.x-host = bereq.http.host;
}}

sub vcl_deliver {{
    if (obj.hits > 0) {{ set resp.http.X-Cache = "HIT"; }} else {{ set resp.http.X-Cache = "MISS"; }}
    unset resp.http.x-url;
    unset resp.http.x-host;
}}
"""

# A Varnish nobody taught to purge: PURGE goes on to nginx, which refuses it.
VCL_WITHOUT_PURGE = """\
vcl 4.1;
backend origin {{ .host = "127.0.0.1"; .port = "{port}"; }}
"""


@pytest.fixture
def site(settings, mirror_in_tmp_path, tmp_path):
    """Media linked, static files copied, mirrored once; the purge state beside the mirror."""
    setup = mirror_in_tmp_path
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(setup.media)]
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")
    (setup.media / "docs").mkdir()
    (setup.media / "docs" / "a.pdf").write_bytes(b"%PDF a, first")
    (setup.media / "docs" / "b.pdf").write_bytes(b"%PDF b, first")
    (setup.static / "site.css").write_bytes(b"body { color: black }")
    call_command("collectmirror", stdout=io.StringIO())
    return setup


@contextmanager
def serving(site, tmp_path, settings, vcl: str):
    """nginx serving the mirror, Varnish with vcl in front of it, and SYMLINKMIRROR_PURGE pointing at that Varnish."""
    user = "user root;" if is_root() else ""
    with (
        running_nginx(site.mirror, tmp_path / "nginx", user=user) as origin,
        running_varnish(vcl.format(port=origin.port), tmp_path / "varnish") as cache,
    ):
        settings.SYMLINKMIRROR_PURGE = {
            "edge": {"BACKEND": "symlinkmirror.purge.VarnishBackend", "OPTIONS": {"location": cache.location}}
        }
        yield origin, cache


@pytest.fixture
def varnish(site, tmp_path, settings):
    with serving(site, tmp_path, settings, VCL) as (origin, cache):
        yield origin, cache


def rewrite(path, data: bytes) -> None:
    path.write_bytes(data)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # surely newer than the copy


def purgemirror(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("purgemirror", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().splitlines()


def test_a_cached_file_keeps_its_old_bytes_until_purgemirror_purges_its_url(site, varnish, tmp_path):
    origin, cache = varnish
    first = [cache.get("/static/site.css"), cache.get("/static/site.css")]
    rewrite(site.static / "site.css", b"body { color: darkred }")
    changed = tmp_path / "changed-urls.txt"

    call_command("collectmirror", "--changed-urls", str(changed), stdout=io.StringIO())
    stale = cache.get("/static/site.css")
    lines = purgemirror(str(changed))
    fresh = cache.get("/static/site.css")

    assert first == [(200, b"body { color: black }", "MISS"), (200, b"body { color: black }", "HIT")]
    assert changed.read_text() == "/static/site.css\n"
    assert origin.get("/static/site.css") == (200, b"body { color: darkred }")
    assert stale == (200, b"body { color: black }", "HIT")
    assert lines == [
        "Purged batch 1 of 1 through 'edge' (1 URL)",
        "1 batch through 1 backend: 1 purged (1 URL), 0 failed; 0 billed paths.",
    ]
    assert fresh == (200, b"body { color: darkred }", "MISS")


def test_a_ban_of_a_prefix_refreshes_everything_under_it_and_nothing_else(site, varnish):
    _origin, cache = varnish
    for path in ("/media/docs/a.pdf", "/media/docs/b.pdf", "/static/site.css"):
        cache.get(path)
    # Media are linked: a changed original shows through its link at once, except through the cache.
    rewrite(site.media / "docs" / "a.pdf", b"%PDF a, second")
    rewrite(site.media / "docs" / "b.pdf", b"%PDF b, second")
    rewrite(site.static / "site.css", b"body { color: darkred }")
    call_command("collectmirror", stdout=io.StringIO())

    lines = purgemirror("--prefix", "/media/docs/")
    after = {path: cache.get(path) for path in ("/media/docs/a.pdf", "/media/docs/b.pdf", "/static/site.css")}

    assert lines == [
        "Purged batch 1 of 1 through 'edge' (1 prefix)",
        "1 batch through 1 backend: 1 purged (1 prefix), 0 failed; 0 billed paths.",
    ]
    assert after == {
        "/media/docs/a.pdf": (200, b"%PDF a, second", "MISS"),
        "/media/docs/b.pdf": (200, b"%PDF b, second", "MISS"),
        "/static/site.css": (200, b"body { color: black }", "HIT"),
    }


def test_a_varnish_that_does_not_handle_purge_fails_the_batch_and_keeps_it(site, tmp_path, settings):
    urls = tmp_path / "urls.txt"
    urls.write_text("/static/site.css\n")
    err = io.StringIO()

    with serving(site, tmp_path, settings, VCL_WITHOUT_PURGE), pytest.raises(CommandError) as caught:
        call_command("purgemirror", str(urls), stdout=io.StringIO(), stderr=err)

    assert str(caught.value) == (
        f"1 batch(es) failed; they are kept in '{tmp_path / 'state'}' for 'purgemirror --resume'."
    )
    assert re.fullmatch(
        r"Failed to purge batch 1 of 1 through 'edge' \(1 URL\): Varnish \(PURGE '/static/site.css'\) answered "
        r"405 Not Allowed: 405 Not Allowed 405 Not Allowed nginx/[0-9.]+ "
        r"\(does its VCL handle PURGE\? see README 'CDN purge'\)\n",
        err.getvalue(),
    )
    assert caught.value.returncode == 1
