"""Hostile and awkward names, through storage.save() and through a whole run over a real source tree."""

from __future__ import annotations

import errno
import os
import re
import unicodedata
from datetime import UTC, datetime

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage

from symlinkmirror.sources import Source
from symlinkmirror.storage import SymlinkOrCopyStorage

from .helpers import (
    audit_site,
    collect,
    expected_tree,
    files_only,
    make_site,
    manage,
    messages,
    mirror_tree,
    project_env,
    temp_leftovers,
    write,
)

NFC = unicodedata.normalize("NFC", "café.txt")
NFD = unicodedata.normalize("NFD", "café.txt")
LONGEST = "n" * 251 + ".txt"  # 255 bytes, the most one component may hold


def listing(root) -> list[str]:
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../escape.txt", "Detected path traversal attempt in '../escape.txt'"),
        ("a/../../escape.txt", "Detected path traversal attempt in 'a/../../escape.txt'"),
        ("/tmp/escape.txt", "Detected path traversal attempt in '/tmp/escape.txt'"),
        ("..", "Could not derive file name from '..'"),
        ("", "Could not derive file name from ''"),
        ("dir/", "Could not derive file name from 'dir/'"),
        ("nul\x00.txt", "The name 'nul\\x00.txt' contains a NUL character."),
        ("dir/\x00/x.txt", "The name 'dir/\\x00/x.txt' contains a NUL character."),
    ],
)
def test_save_refuses_unsafe_names(tmp_path, name, message):
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=[tmp_path / "originals"])
    before = listing(tmp_path)

    with pytest.raises(SuspiciousFileOperation, match=f"^{re.escape(message)}$"):
        storage.save(name, ContentFile(b"payload"))

    assert listing(tmp_path) == before
    assert listing(tmp_path / "mirror") == []
    assert not os.path.exists("/tmp/escape.txt")


@pytest.mark.parametrize(
    "name",
    [
        LONGEST,
        NFC,
        NFD,
        "new\nline.txt",
        "-rf",
        "--help.txt",
        " leading space.txt",
        "trailing space ",
        "\udcff\udcfe.bin",
    ],
    ids=["255-bytes", "nfc", "nfd", "newline", "dash", "double-dash", "leading-space", "trailing-space", "not-utf8"],
)
def test_save_stores_awkward_but_safe_names_exactly(tmp_path, name):
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", base_url="/", allow_overwrite=True)

    saved = storage.save(f"dir/{name}", ContentFile(b"payload"))

    assert saved == f"dir/{name}"
    assert os.listdir(tmp_path / "mirror" / "dir") == [name]
    assert (tmp_path / "mirror" / "dir" / name).read_bytes() == b"payload"
    assert temp_leftovers(tmp_path / "mirror") == []


def test_nfc_and_nfd_names_are_two_files(tmp_path):
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror")

    first = storage.save(NFC, ContentFile(b"composed"))
    second = storage.save(NFD, ContentFile(b"decomposed"))

    assert (first, second) == (NFC, NFD)
    assert (tmp_path / "mirror" / NFC).read_bytes() == b"composed"
    assert (tmp_path / "mirror" / NFD).read_bytes() == b"decomposed"


def test_url_of_a_name_that_is_not_utf8_quotes_its_bytes(tmp_path):
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", base_url="https://cdn.example.com/")

    assert storage.url("media/\udcff\udcfe.bin") == "https://cdn.example.com/media/%FF%FE.bin"
    assert storage.url("media/new\nline.txt") == "https://cdn.example.com/media/new%0Aline.txt"
    assert storage.url(NFD) == "https://cdn.example.com/cafe%CC%81.txt"


def test_save_reports_a_component_longer_than_255_bytes(tmp_path):
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror")

    with pytest.raises(OSError) as raised:
        storage.save("n" * 256, ContentFile(b"payload"))

    assert raised.value.errno == errno.ENAMETOOLONG
    assert listing(tmp_path / "mirror") == []


def test_save_near_path_max_either_succeeds_whole_or_leaves_nothing(tmp_path):
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror")
    root = len(os.fsencode(str(tmp_path / "mirror"))) + 1
    component = "d" * 200 + "/"
    depth = (4000 - root) // len(component)
    deep = component * depth  # the directory alone stays under PATH_MAX (4096)
    fits = deep + "f" * (4050 - root - len(deep))
    too_long = deep + "f" * (4100 - root - len(deep))

    saved = storage.save(fits, ContentFile(b"payload"))
    with pytest.raises(OSError) as raised:
        storage.save(too_long, ContentFile(b"payload"))

    assert saved == fits
    assert (tmp_path / "mirror" / fits).read_bytes() == b"payload"
    assert raised.value.errno == errno.ENAMETOOLONG
    assert os.listdir(tmp_path / "mirror" / deep) == [os.path.basename(fits)]


def make_awkward_tree(site) -> None:
    """The same awkward names in media (linked) and static (copied), made with bytes paths."""
    for root in (site.media, site.static):
        base = os.fsencode(root)
        for name in [
            b"\xff\xfe.bin",  # not UTF-8
            NFC.encode(),
            NFD.encode(),
            b"new\nline.txt",
            b"-rf",
            b" leading space.txt",
            LONGEST.encode(),
            b"dir\xe9/inner.txt",  # a Latin-1 directory name
        ]:
            write(base + b"/" + name, b"bytes of " + name)


def test_collect_mirrors_awkward_names_inside_the_mirror(tmp_path):
    site = make_site(tmp_path)
    make_awkward_tree(site)

    report, events = collect(site)

    assert report.errors == []
    assert report.totals["linked"] == report.totals["copied"] == 8
    assert files_only(mirror_tree(site.mirror_dir)) == expected_tree(site)
    for dirpath, _dirnames, filenames in os.walk(site.mirror_dir):
        for name in filenames:
            entry = os.path.join(dirpath, name)
            assert os.path.commonpath([os.path.abspath(entry), str(site.mirror_dir)]) == str(site.mirror_dir)
    assert "Linking 'media/new\\nline.txt'" in messages(events)
    assert "Copying 'static/\\xff\\xfe.bin'" in messages(events)
    assert "Copying 'static/dir\\xe9/inner.txt'" in messages(events)
    assert audit_site(site, checksum=True).clean


def test_collect_reports_a_mirror_path_longer_than_path_max_and_goes_on(tmp_path):
    site = make_site(tmp_path)
    # The mirror name is 'static/...' under mirror/: 7 bytes longer than the
    # source path, so a source path just under PATH_MAX cannot be mirrored.
    root = len(os.fsencode(str(site.static))) + 1
    component = "d" * 200 + "/"
    deep = component * ((4000 - root) // len(component))
    name = deep + "f" * (4093 - root - len(deep))
    write(site.static / name, b"deep")
    write(site.static / "z.txt", b"after")

    report, events = collect(site)

    assert report.errors == [("static", f"static/{name}", "File name too long")]
    assert "Copying 'static/z.txt'" in messages(events)
    assert (site.mirror_dir / "static" / "z.txt").read_bytes() == b"after"
    assert temp_leftovers(site.mirror_dir) == []


def test_collectmirror_prints_awkward_names_on_a_strict_utf8_stdout(tmp_path):
    site = make_site(tmp_path)
    make_awkward_tree(site)
    env = project_env(tmp_path, media=site.media, static=site.static, mirror=site.mirror_dir, symlink_within=site.media)

    done = manage("collectmirror", "-v", "2", "--changed-urls", str(tmp_path / "urls.txt"), env=env)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 17  # one line per file, whatever its name holds, and the summary
    assert "Linking 'media/\\xff\\xfe.bin'" in lines
    assert "Copying 'static/new\\nline.txt'" in lines
    assert lines[-1] == "8 files linked, 8 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 0 failed."
    urls = (tmp_path / "urls.txt").read_text().splitlines()
    assert "/media/%FF%FE.bin" in urls
    assert "/static/dir%E9/inner.txt" in urls
    assert "/static/new%0Aline.txt" in urls
    assert len(urls) == 16
    verified = manage("verifymirror", env=env)
    assert (verified.returncode, verified.stdout) == (0, "16 files checked: the mirror is clean.\n")


class RemoteStorage(Storage):
    """Stands in for a remote storage (S3 keys can hold '..', '//' or a leading '/'): no path(), hostile listings."""

    tree = {
        "": (["..", ".", "sub"], ["", "ok.txt", "../static/app.css", "/etc/passwd", "a/b.txt", "nul\x00.txt", ".."]),
        "sub": ([], ["in.txt"]),
        "..": ([], ["escaped.txt"]),
    }

    def listdir(self, path):
        return self.tree.get(path, ([], []))

    def open(self, name, mode="rb"):
        return ContentFile(b"remote bytes of " + name.encode(), name=name)

    def size(self, name):
        return len(b"remote bytes of " + name.encode())

    def get_modified_time(self, name):
        return datetime(2024, 1, 1, tzinfo=UTC)


class ListingStorage(FileSystemStorage):
    """A local storage whose own listdir() names a file outside its location."""

    def listdir(self, path):
        dirs, files = super().listdir(path)
        return dirs, [*files, "../secret.txt"] if not path else files


def test_collect_skips_names_a_storage_lists_that_are_not_plain_file_names(tmp_path):
    site = make_site(tmp_path / "site")
    write(site.static / "app.css", b"body {}")
    write(tmp_path / "site" / "secret.txt", b"secret")
    write(site.media / "photo.jpg", b"jpeg")
    site.sources = [
        Source("remote", RemoteStorage(), "remote"),
        Source("static", site.sources[1].storage, "static"),
        Source("media", ListingStorage(location=site.media), "media"),
    ]

    report, events = collect(site, ignore_patterns=[])  # --no-default-ignore: '.*' would hide most

    unplain = "the storage lists it under a name that is not a plain file name"
    assert [message for message in messages(events) if message.startswith("Skipping")] == [
        f"Skipping 'remote' ({unplain})",
        f"Skipping 'remote/.' ({unplain})",
        f"Skipping 'remote/..' ({unplain})",
        f"Skipping 'remote/..' ({unplain})",
        f"Skipping 'remote/../static/app.css' ({unplain})",
        f"Skipping 'remote//etc/passwd' ({unplain})",
        f"Skipping 'remote/a/b.txt' ({unplain})",
        f"Skipping 'remote/nul\\x00.txt' ({unplain})",
        f"Skipping 'media/../secret.txt' ({unplain})",
    ]
    assert report.errors == []
    assert files_only(mirror_tree(site.mirror_dir)) == {
        "remote/ok.txt": ("file", b"remote bytes of ok.txt"),
        "remote/sub/in.txt": ("file", b"remote bytes of sub/in.txt"),
        "static/app.css": ("file", b"body {}"),
        "media/photo.jpg": ("link", str(site.media / "photo.jpg")),
    }


def make_deeper_than_path_max(root) -> str:
    """Directories nested past PATH_MAX, made relative to open descriptors; the relative name of the deepest."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    parts = []
    try:
        for _ in range(24):  # 24 x 201 bytes: past 4096 whatever root is
            os.mkdir("d" * 200, dir_fd=fd)
            inner = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
            parts.append("d" * 200)
        out = os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, b"deep")
        os.close(out)
    finally:
        os.close(fd)
    return "/".join(parts)


def test_collect_reports_a_source_directory_deeper_than_path_max_and_goes_on(tmp_path):
    site = make_site(tmp_path / "site")
    deep = make_deeper_than_path_max(site.static)
    write(site.static / "z.css", b"after")

    report, events = collect(site)

    [(source, name, reason)] = report.errors
    assert (source, reason) == ("static", "File name too long")
    assert f"static/{deep}".startswith(name + "/")  # the first directory too deep to reach
    assert f"Failed '{name}': File name too long" in messages(events)
    assert (site.mirror_dir / "static" / "z.css").read_bytes() == b"after"
    assert temp_leftovers(site.mirror_dir) == []
