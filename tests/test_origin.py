"""End to end: a real nginx serves the mirror as a CDN's origin would."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError

from testproject.models import Photo
from tests.factories import PhotoFactory
from tests.peers import free_port, running

TIMEOUT = 5  # seconds, for each request and for nginx to start or stop

NGINX_CONF = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{user}
events {{
    worker_connections 16;
}}
http {{
    access_log {prefix}/access.log;
{temp_paths}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        disable_symlinks off;
        location / {{
            try_files $uri =404;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found is None:
        pytest.fail("nginx is not installed: run `make test`, which installs it with .ci/install-os-packages.")
    return found


def temp_path_directives(nginx: str, prefix: Path) -> str:
    """Keep every temporary directory under prefix, for the modules this nginx has."""
    built = subprocess.run([nginx, "-V"], capture_output=True, text=True, timeout=TIMEOUT).stderr
    lines = [f"    client_body_temp_path {prefix}/client_body;"]
    for module in ("proxy", "fastcgi", "uwsgi", "scgi"):
        if f"--without-http_{module}_module" not in built:
            lines.append(f"    {module}_temp_path {prefix}/{module};")
    return "\n".join(lines)


@dataclass
class Origin:
    port: int

    def get(self, url: str) -> tuple[int, bytes]:
        """GET a mirror URL from the origin: (status, body). Never through a proxy."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"http://127.0.0.1:{self.port}{url}", timeout=TIMEOUT) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()


@contextmanager
def running_nginx(root: Path, prefix: Path, *, user: str):
    """nginx serving root on a free local port, its files under prefix, stopped on exit."""
    nginx = nginx_binary()
    prefix.mkdir()
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            prefix=prefix, port=port, root=root, temp_paths=temp_path_directives(nginx, prefix), user=user
        )
    )
    command = [nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"]
    with running("nginx", command, port, prefix / "stderr.log"):
        yield Origin(port)


@pytest.fixture
def origin(mirror_in_tmp_path, tmp_path):
    """nginx serving the mirror directory on a free local port, stopped after the test."""
    # A root master hands requests to workers running as nobody, who cannot
    # enter tmp_path (mode 0700): keep them root here.
    with running_nginx(mirror_in_tmp_path.mirror, tmp_path / "nginx", user="user root;" if is_root() else "") as served:
        yield served


def is_root() -> bool:
    return os.geteuid() == 0


def collectmirror(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("collectmirror", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().splitlines()


@pytest.fixture
def media_linked_static_copied(settings, mirror_in_tmp_path):
    """Only MEDIA_ROOT is trusted: media files are linked, static files copied."""
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(mirror_in_tmp_path.media)]
    (mirror_in_tmp_path.media / "docs").mkdir()
    (mirror_in_tmp_path.media / "docs" / "guide.pdf").write_bytes(b"%PDF guide")
    (mirror_in_tmp_path.static / "site.css").write_bytes(b"body { color: black }")
    collectmirror()
    return mirror_in_tmp_path


@pytest.fixture
def renditions_in_tmp_path(monkeypatch, mirror_in_tmp_path):
    """Photo.rendition's storage was resolved from STORAGES at import: point it at this test's mirror."""
    monkeypatch.setattr(Photo._meta.get_field("rendition"), "storage", storages["mirror"])


@pytest.mark.django_db
@pytest.mark.usefixtures("renditions_in_tmp_path")
def test_origin_serves_linked_and_copied_files_with_their_sources_bytes(media_linked_static_copied, origin):
    setup = media_linked_static_copied
    plain = PhotoFactory(original__filename="plain.jpg", original__data=b"JPEG plain")
    marked = PhotoFactory(original__filename="marked.jpg", original__data=b"JPEG marked", watermark="ACME")
    plain.publish()
    marked.publish()
    mirror = storages["mirror"]

    responses = {
        name: origin.get(mirror.url(name))
        for name in ("media/docs/guide.pdf", "static/site.css", plain.rendition.name, marked.rendition.name)
    }

    assert (setup.mirror / "media" / "docs" / "guide.pdf").is_symlink()
    assert not (setup.mirror / "static" / "site.css").is_symlink()
    assert (setup.mirror / plain.rendition.name).is_symlink()
    assert not (setup.mirror / marked.rendition.name).is_symlink()
    assert responses == {
        "media/docs/guide.pdf": (200, b"%PDF guide"),
        "static/site.css": (200, b"body { color: black }"),
        "renditions/plain.jpg": (200, b"JPEG plain"),
        "renditions/marked.jpg": (200, b"JPEG marked\n-- watermark: ACME\n"),
    }


def test_deleted_source_is_gone_from_the_origin_after_collectmirror_delete(media_linked_static_copied, origin):
    setup = media_linked_static_copied
    before = origin.get("/media/docs/guide.pdf")
    (setup.media / "docs" / "guide.pdf").unlink()

    lines = collectmirror("--delete")
    after = origin.get("/media/docs/guide.pdf")

    assert before == (200, b"%PDF guide")
    assert lines == [
        "Deleting 'media/docs/guide.pdf'",
        "0 files linked, 0 copied, 0 replaced, 1 unmodified, 1 deleted, 0 skipped, 0 failed.",
    ]
    assert after[0] == 404


def test_escaping_link_is_reported_before_it_is_served_and_never_served_after_fix(
    media_linked_static_copied, origin, tmp_path
):
    setup = media_linked_static_copied
    secret = tmp_path / "private" / "id_rsa"
    secret.parent.mkdir()
    secret.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    (setup.mirror / "media" / "key.txt").symlink_to(secret)  # planted where no source file is
    guide = setup.mirror / "media" / "docs" / "guide.pdf"
    guide.unlink()
    guide.symlink_to(secret)  # planted in place of a source file's link
    out = io.StringIO()

    with pytest.raises(CommandError) as caught:
        call_command("verifymirror", "--json", stdout=out)
    fixed = io.StringIO()
    call_command("verifymirror", "--fix", stdout=fixed)
    responses = [origin.get("/media/key.txt"), origin.get("/media/docs/guide.pdf")]

    document = json.loads(out.getvalue())
    assert caught.value.returncode == 1
    assert document["counts"] == {"escaping-link": 2}
    assert [(f["category"], f["name"]) for f in document["findings"]] == [
        ("escaping-link", "media/key.txt"),
        ("escaping-link", "media/docs/guide.pdf"),
    ]
    assert fixed.getvalue().splitlines()[-2:] == ["Fixed 2 of 2 findings.", "2 files checked: the mirror is clean."]
    assert responses[0][0] == 404
    assert responses[1] == (200, b"%PDF guide")
    assert all(b"PRIVATE KEY" not in body for _status, body in responses)
    assert secret.read_bytes() == b"-----BEGIN OPENSSH PRIVATE KEY-----"


@pytest.fixture
def world_traversable_site(settings):
    """media/, static/ and mirror/ in a fresh folder that any user may enter (tmp_path is 0700).

    nginx's workers then run as an unprivileged user, so file modes bind them as they do on a server.
    """
    base = Path(tempfile.mkdtemp(prefix="symlinkmirror-origin-"))
    base.chmod(0o755)
    for folder in ("media", "static"):
        (base / folder).mkdir(mode=0o755)
    settings.MEDIA_ROOT = str(base / "media")
    settings.STATIC_ROOT = str(base / "static")
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(base / "media")]  # media linked, static copied
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "mirror": {
            "BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage",
            "OPTIONS": {"location": str(base / "mirror"), "base_url": "/"},
        },
    }
    yield base
    shutil.rmtree(base)


@pytest.mark.root  # nginx's master must be root to run its workers as another user
def test_a_private_source_is_refused_by_the_origin_whether_linked_or_copied(world_traversable_site, tmp_path):
    if not is_root():
        pytest.fail("This test starts nginx as root, with workers as nobody: run it as root (CI does).")
    base = world_traversable_site
    for folder, name, mode in [
        ("media", "public.jpg", 0o644),
        ("media", "private.jpg", 0o600),
        ("static", "public.css", 0o644),
        ("static", "private.css", 0o600),
    ]:
        path = base / folder / name
        path.write_bytes(f"{folder} {name}".encode())
        path.chmod(mode)
    collectmirror()
    mirror = base / "mirror"

    with running_nginx(mirror, tmp_path / "nginx", user="user nobody nogroup;") as origin:
        statuses = {url: origin.get(url)[0] for url in ("/media/public.jpg", "/media/private.jpg")}
        statuses |= {url: origin.get(url)[0] for url in ("/static/public.css", "/static/private.css")}

    assert (mirror / "media" / "private.jpg").is_symlink()
    assert not (mirror / "static" / "private.css").is_symlink()
    assert statuses == {
        "/media/public.jpg": 200,
        "/media/private.jpg": 403,
        "/static/public.css": 200,
        "/static/private.css": 403,
    }
