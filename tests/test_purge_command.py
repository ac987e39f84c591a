"""manage.py purgemirror: messages, dry run, --backend, failures kept and --resume, the state folder.

Cloudflare's API is stood in for by a local HTTP server (pytest-httpserver), a
SaaS that cannot be run locally; it checks each request's method, path,
token and body as tests/test_purge_cloudflare.py does.
"""

from __future__ import annotations

import io
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from werkzeug import Response

from tests.conftest import manage_env, sqlite_database
from tests.test_origin import free_port

ZONE = "zone-a"
SUCCESS = {"success": True, "errors": [], "messages": [], "result": {"id": "purge-1"}}


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


def cloudflare_backend(httpserver, zone: str = ZONE, **options) -> dict:
    return {
        "BACKEND": "symlinkmirror.purge.CloudflareBackend",
        "OPTIONS": {
            "zone_id": zone,
            "api_token": "token",
            "api_url": httpserver.url_for("/client/v4"),
            "base_url": "https://cdn.example.com/",
            "batch_size": 2,
            "retry_delay": 0,
            "max_attempts": 2,
            **options,
        },
    }


@pytest.fixture
def configured(settings, mirror_in_tmp_path, tmp_path, httpserver):
    """One Cloudflare backend, 'cf', a state folder beside the mirror, and a changed-URL list of 5 URLs."""
    settings.SYMLINKMIRROR_PURGE = {"cf": cloudflare_backend(httpserver)}
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")
    urls = tmp_path / "changed-urls.txt"
    urls.write_text("".join(f"/media/{n}.jpg\n" for n in range(5)))
    return urls


def purgemirror(*args: str) -> tuple[list[str], list[str]]:
    out, err = io.StringIO(), io.StringIO()
    call_command("purgemirror", *args, stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue().splitlines()


def files_sent(httpserver) -> list[list[str]]:
    return [json.loads(request.data)["files"] for request, _ in httpserver.log]


def test_purges_every_url_of_the_file_in_batches(configured, httpserver):
    httpserver.expect_request(f"/client/v4/zones/{ZONE}/purge_cache", method="POST").respond_with_json(SUCCESS)

    out, err = purgemirror(str(configured))

    assert out == [
        "Purged batch 1 of 3 through 'cf' (2 URLs)",
        "Purged batch 2 of 3 through 'cf' (2 URLs)",
        "Purged batch 3 of 3 through 'cf' (1 URL)",
        "3 batches through 1 backend: 3 purged (5 URLs), 0 failed; 0 billed paths.",
    ]
    assert err == []
    assert files_sent(httpserver) == [
        ["https://cdn.example.com/media/0.jpg", "https://cdn.example.com/media/1.jpg"],
        ["https://cdn.example.com/media/2.jpg", "https://cdn.example.com/media/3.jpg"],
        ["https://cdn.example.com/media/4.jpg"],
    ]


def test_verbosity_2_lists_the_urls_and_0_prints_nothing(configured, httpserver):
    httpserver.expect_request(f"/client/v4/zones/{ZONE}/purge_cache").respond_with_json(SUCCESS)
    configured.write_text("/a.jpg\n")

    loud, _ = purgemirror(str(configured), "-v", "2")
    quiet, _ = purgemirror(str(configured), "-v", "0")

    assert loud == [
        "Purged batch 1 of 1 through 'cf' (1 URL)",
        "  https://cdn.example.com/a.jpg",
        "1 batch through 1 backend: 1 purged (1 URL), 0 failed; 0 billed paths.",
    ]
    assert quiet == []


def test_dry_run_prints_the_batches_and_billed_paths_and_calls_nothing(configured, settings, httpserver, tmp_path):
    settings.SYMLINKMIRROR_PURGE = {
        "cdn": {"BACKEND": "symlinkmirror.purge.CloudFrontBackend", "OPTIONS": {"distribution_id": "E1"}},
        "cf": cloudflare_backend(httpserver, batch_size=3),
    }
    configured.write_text("/media/a.jpg\n/media/b.jpg\n\n/media/a.jpg\nhttps://cdn.example.com/static/app.css\n")

    out, err = purgemirror(str(configured), "--dry-run")

    assert out == [
        "Pretending to purge batch 1 of 1 through 'cdn' (3 URLs), 3 billed paths:",
        "  /media/a.jpg",
        "  /media/b.jpg",
        "  /static/app.css",
        "Pretending to purge batch 1 of 1 through 'cf' (3 URLs), 0 billed paths:",
        "  https://cdn.example.com/media/a.jpg",
        "  https://cdn.example.com/media/b.jpg",
        "  https://cdn.example.com/static/app.css",
        "2 batches through 2 backends would purge 6 URLs; 3 billed paths.",
    ]
    assert err == []
    assert httpserver.log == []
    assert not (tmp_path / "state").exists()


def test_backend_limits_the_purge_to_that_alias(configured, settings, httpserver):
    settings.SYMLINKMIRROR_PURGE = {"a": cloudflare_backend(httpserver), "b": cloudflare_backend(httpserver, "zone-b")}
    httpserver.expect_request("/client/v4/zones/zone-b/purge_cache").respond_with_json(SUCCESS)
    configured.write_text("/a.jpg\n")

    out, _ = purgemirror(str(configured), "--backend", "b")

    assert [request.path for request, _ in httpserver.log] == ["/client/v4/zones/zone-b/purge_cache"]
    assert out[-1] == "1 batch through 1 backend: 1 purged (1 URL), 0 failed; 0 billed paths."


def test_a_failed_batch_is_reported_kept_and_resumed_exactly(configured, httpserver, tmp_path):
    down = {"on": True}

    def cloudflare(request):
        if down["on"] and "https://cdn.example.com/media/2.jpg" in json.loads(request.data)["files"]:
            return Response("upstream failed", status=500)
        return Response(json.dumps(SUCCESS), content_type="application/json")

    httpserver.expect_request(f"/client/v4/zones/{ZONE}/purge_cache", method="POST").respond_with_handler(cloudflare)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as caught:
        call_command("purgemirror", str(configured), stdout=out, stderr=err)
    sent_first = files_sent(httpserver)
    httpserver.clear_log()
    down["on"] = False
    resumed, resumed_err = purgemirror("--resume")
    sent_on_resume = files_sent(httpserver)
    again, _ = purgemirror("--resume")

    assert (
        str(caught.value) == f"1 batch(es) failed; they are kept in '{tmp_path / 'state'}' for 'purgemirror --resume'."
    )
    assert caught.value.returncode == 1
    assert err.getvalue().splitlines() == [
        "Retrying batch 2 of 3 through 'cf' (2 URLs) in 0 s (attempt 2 of 2): Cloudflare answered 500 INTERNAL "
        "SERVER ERROR: upstream failed",
        "Failed to purge batch 2 of 3 through 'cf' (2 URLs): Cloudflare answered 500 INTERNAL SERVER ERROR: upstream failed",
    ]
    assert out.getvalue().splitlines() == [
        "Purged batch 1 of 3 through 'cf' (2 URLs)",
        "Purged batch 3 of 3 through 'cf' (1 URL)",
        "3 batches through 1 backend: 2 purged (3 URLs), 1 failed (2 items); 0 billed paths.",
    ]
    assert len(sent_first) == 4  # batch 2 twice
    assert sent_on_resume == [["https://cdn.example.com/media/2.jpg", "https://cdn.example.com/media/3.jpg"]]
    assert resumed == [
        "Purged batch 2 of 3 through 'cf' (2 URLs)",
        "1 batch through 1 backend: 1 purged (2 URLs), 0 failed; 0 billed paths.",
    ]
    assert resumed_err == []
    assert again == ["No failed batches to resume."]


def test_a_failure_without_a_state_folder_says_how_to_keep_it(configured, settings, httpserver):
    settings.SYMLINKMIRROR_STATE_DIR = None
    httpserver.expect_request(f"/client/v4/zones/{ZONE}/purge_cache").respond_with_json({"success": False}, status=400)

    with pytest.raises(
        CommandError, match=r"^3 batch\(es\) failed; set SYMLINKMIRROR_STATE_DIR to keep failed batches"
    ):
        purgemirror(str(configured))


def test_a_state_folder_inside_the_mirror_is_refused_before_any_purge(
    configured, settings, mirror_in_tmp_path, httpserver
):
    settings.SYMLINKMIRROR_STATE_DIR = str(mirror_in_tmp_path.mirror / ".state")

    with pytest.raises(CommandError) as caught:
        call_command("purgemirror", str(configured), stdout=io.StringIO(), stderr=io.StringIO())

    assert str(caught.value).startswith("SYMLINKMIRROR_STATE_DIR '")
    assert "lies inside the mirror location" in str(caught.value)
    assert httpserver.log == []
    assert not (mirror_in_tmp_path.mirror / ".state").exists()


def test_the_system_check_stops_purgemirror_with_a_state_folder_inside_the_mirror(
    configured, settings, mirror_in_tmp_path
):
    settings.SYMLINKMIRROR_STATE_DIR = str(mirror_in_tmp_path.mirror / ".state")

    with pytest.raises(SystemCheckError, match="symlinkmirror.E011"):
        call_command("purgemirror", str(configured), skip_checks=False, stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Give the FILE of URLs to purge (collectmirror --changed-urls writes one), or --resume."),
        (("urls.txt", "--resume"), "Give either FILE (or --prefix) or --resume, not both."),
        (("missing.txt",), "Cannot read the URL list 'missing.txt': No such file or directory."),
        (("urls.txt", "--backend", "nope"), "SYMLINKMIRROR_PURGE has no backend 'nope' (configured: 'cf')."),
        (("--prefix", "/static/", "--backend", "cf"), None),
    ],
)
def test_mistakes_are_command_errors_naming_what_to_fix(configured, httpserver, monkeypatch, args, message):
    monkeypatch.chdir(configured.parent)
    configured.rename(configured.parent / "urls.txt")
    httpserver.expect_request(f"/client/v4/zones/{ZONE}/purge_cache").respond_with_json(SUCCESS)

    if message is None:
        out, _ = purgemirror(*args)
        assert json.loads(httpserver.log[0][0].data) == {"prefixes": ["cdn.example.com/static/"]}
        assert out[-1] == "1 batch through 1 backend: 1 purged (1 prefix), 0 failed; 0 billed paths."
        return
    with pytest.raises(CommandError) as caught:
        purgemirror(*args)

    assert str(caught.value) == message


def test_no_configured_backend_is_an_error(settings, tmp_path):
    settings.SYMLINKMIRROR_PURGE = {}
    (tmp_path / "urls.txt").write_text("/a\n")

    with pytest.raises(CommandError, match="^SYMLINKMIRROR_PURGE has no backends: add one"):
        purgemirror(str(tmp_path / "urls.txt"))


def test_a_backend_that_cannot_purge_prefixes_is_named(configured, settings):
    settings.SYMLINKMIRROR_PURGE = {
        "fastly": {"BACKEND": "symlinkmirror.purge.FastlyBackend", "OPTIONS": {"api_token": "t"}}
    }

    with pytest.raises(CommandError) as caught:
        purgemirror("--prefix", "/static/")

    assert str(caught.value) == (
        "The backend 'fastly' (FastlyBackend) cannot purge by prefix: leave it out with --backend, or purge its URLs."
    )


def test_manage_py_exits_1_when_a_batch_fails_and_lists_it_for_resume(tmp_path):
    """manage.py for real, as cron or a deploy script runs it: the exit status says the purge failed."""
    closed = free_port()  # nothing listens there: the connection is refused
    env = manage_env(
        DATABASES=sqlite_database(tmp_path / "db.sqlite3"),
        MEDIA_ROOT=tmp_path / "media",
        STATIC_ROOT=tmp_path / "static",
        SYMLINKMIRROR_ROOT=tmp_path / "mirror",
        SYMLINKMIRROR_STATE_DIR=tmp_path / "state",
        SYMLINKMIRROR_PURGE={
            "edge": {
                "BACKEND": "symlinkmirror.purge.VarnishBackend",
                "OPTIONS": {"location": f"http://127.0.0.1:{closed}", "max_attempts": 1},
            }
        },
    )
    (tmp_path / "urls.txt").write_text("/static/app.css\n")
    manage = [sys.executable, str(Path(__file__).resolve().parent.parent / "manage.py"), "purgemirror"]

    failed = subprocess.run([*manage, str(tmp_path / "urls.txt")], env=env, capture_output=True, text=True)
    planned = subprocess.run([*manage, "--resume", "--dry-run"], env=env, capture_output=True, text=True)

    assert failed.returncode == 1
    assert failed.stdout.splitlines() == [
        "1 batch through 1 backend: 0 purged (0 URLs), 1 failed (1 item); 0 billed paths."
    ]
    assert failed.stderr.splitlines()[0].startswith(
        f"Failed to purge batch 1 of 1 through 'edge' (1 URL): cannot reach http://127.0.0.1:{closed}: "
    )
    assert failed.stderr.splitlines()[-1] == (
        f"CommandError: 1 batch(es) failed; they are kept in '{tmp_path / 'state'}' for 'purgemirror --resume'."
    )
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.splitlines() == [
        "Pretending to purge batch 1 of 1 through 'edge' (1 URL), 0 billed paths:",
        f"  http://127.0.0.1:{closed}/static/app.css",
        "1 batch through 1 backend would purge 1 URL; 0 billed paths.",
    ]


def test_manage_py_killed_mid_purge_leaves_its_batches_for_resume(tmp_path):
    """A deploy tool's timeout, systemd or Kubernetes stops a purge with SIGTERM, which runs no finally block."""
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        env = manage_env(
            DATABASES=sqlite_database(tmp_path / "db.sqlite3"),
            MEDIA_ROOT=tmp_path / "media",
            STATIC_ROOT=tmp_path / "static",
            SYMLINKMIRROR_ROOT=tmp_path / "mirror",
            SYMLINKMIRROR_STATE_DIR=tmp_path / "state",
            SYMLINKMIRROR_PURGE={
                "edge": {
                    "BACKEND": "symlinkmirror.purge.VarnishBackend",
                    "OPTIONS": {"location": f"http://127.0.0.1:{silent.getsockname()[1]}", "timeout": 60},
                }
            },
        )
        (tmp_path / "urls.txt").write_text("/static/app.css\n")
        manage = [sys.executable, str(Path(__file__).resolve().parent.parent / "manage.py"), "purgemirror"]
        process = subprocess.Popen([*manage, str(tmp_path / "urls.txt")], env=env, stdout=subprocess.DEVNULL)
        try:
            silent.settimeout(30)
            connection, _ = silent.accept()  # the PURGE is on its way
            connection.close()
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)

    planned = subprocess.run([*manage, "--resume", "--dry-run"], env=env, capture_output=True, text=True)

    assert process.returncode == -signal.SIGTERM
    assert planned.stdout.splitlines()[-1] == "1 batch through 1 backend would purge 1 URL; 0 billed paths."


def test_a_mirror_storage_that_cannot_be_created_is_a_command_error(configured, settings, httpserver):
    """purgemirror runs only the purge checks: the mirror's own (E004) do not stop it first."""
    settings.STORAGES = {**settings.STORAGES, "mirror": {"BACKEND": "symlinkmirror.no_such_module.Storage"}}

    with pytest.raises(CommandError) as caught:
        purgemirror(str(configured))

    assert str(caught.value) == (
        "STORAGES['mirror'] cannot be created, so SYMLINKMIRROR_STATE_DIR cannot be checked to lie outside the "
        "mirror: Could not find backend 'symlinkmirror.no_such_module.Storage': No module named "
        "'symlinkmirror.no_such_module'."
    )
    assert httpserver.log == []


def test_a_list_saved_with_a_byte_order_mark_purges_its_first_url(configured, httpserver):
    """Windows editors and PowerShell 5 start UTF-8 files with U+FEFF, which made absolute named another URL."""
    httpserver.expect_request(f"/client/v4/zones/{ZONE}/purge_cache").respond_with_json(SUCCESS)
    configured.write_text("/media/0.jpg\n/media/1.jpg\n", encoding="utf-8-sig")

    purgemirror(str(configured))

    assert files_sent(httpserver) == [["https://cdn.example.com/media/0.jpg", "https://cdn.example.com/media/1.jpg"]]
