"""What was published through a source name that later leads out of every trusted root is withdrawn, --delete or not."""

from __future__ import annotations

import io
import os
import subprocess

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def collectmirror(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("collectmirror", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().splitlines()


@pytest.fixture
def site(mirror_in_tmp_path, tmp_path):
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "secret").write_bytes(b"SECRET")
    (outside / "folder" / "x").write_bytes(b"SECRET x")
    media = mirror_in_tmp_path.media
    (media / "d").mkdir()
    (media / "d" / "x").write_bytes(b"public x")
    (media / "a").write_bytes(b"public a")
    (media / "sub").mkdir()
    (media / "sub" / ".hidden").write_bytes(b"ignored, never published")
    collectmirror()
    return mirror_in_tmp_path, outside


def served(path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def test_a_source_file_replaced_by_an_escaping_link_is_withdrawn(site, tmp_path):
    setup, outside = site
    (setup.media / "a").unlink()
    (setup.media / "a").symlink_to(outside / "secret")
    urls = tmp_path / "changed-urls.txt"

    lines = collectmirror("--changed-urls", str(urls))

    assert not os.path.lexists(setup.mirror / "media" / "a")
    assert urls.read_text().splitlines() == ["/media/a"]
    assert lines[1:] == [
        f"Deleting 'media/a' (a symlink to '{os.path.realpath(outside / 'secret')}', outside every trusted root)",
        "0 files linked, 0 copied, 0 replaced, 1 unmodified, 1 deleted, 1 skipped, 0 failed.",
    ]
    assert (outside / "secret").read_bytes() == b"SECRET"


def test_a_source_directory_replaced_by_an_escaping_link_is_withdrawn_whole(site):
    setup, outside = site
    (setup.media / "d" / "x").unlink()
    (setup.media / "d").rmdir()
    (setup.media / "d").symlink_to(outside / "folder")

    collectmirror()

    assert served(setup.mirror / "media" / "d" / "x") is None
    assert not os.path.lexists(setup.mirror / "media" / "d")
    assert (outside / "folder" / "x").read_bytes() == b"SECRET x"


def test_a_source_file_replaced_by_a_link_to_a_directory_is_withdrawn(site):
    setup, _outside = site
    (setup.media / "a").unlink()
    (setup.media / "a").symlink_to(setup.media / "sub")

    collectmirror()

    assert served(setup.mirror / "media" / "a" / ".hidden") is None
    assert not os.path.lexists(setup.mirror / "media" / "a")


def test_a_link_planted_in_the_mirror_is_removed_without_delete(site):
    setup, outside = site
    (setup.mirror / "media" / "pw.txt").symlink_to(outside / "secret")

    collectmirror()

    assert not os.path.lexists(setup.mirror / "media" / "pw.txt")
    assert (outside / "secret").read_bytes() == b"SECRET"


@pytest.mark.root  # chattr +i needs CAP_LINUX_IMMUTABLE
def test_one_directory_refusing_links_fails_its_files_and_links_the_rest(mirror_in_tmp_path):
    media, mirror = mirror_in_tmp_path.media, mirror_in_tmp_path.mirror
    (media / "a").mkdir()
    (media / "a" / "c").write_bytes(b"c")
    collectmirror()
    (media / "a" / "new").write_bytes(b"new")
    (media / "zz").mkdir()
    (media / "zz" / "y").write_bytes(b"y")
    subprocess.run(["chattr", "+i", str(mirror / "media" / "a")], check=True)
    try:
        with pytest.raises(CommandError, match=r"^1 file\(s\) failed; see the messages above\.$"):
            collectmirror()
    finally:
        subprocess.run(["chattr", "-i", str(mirror / "media" / "a")], check=True)

    assert not os.path.lexists(mirror / "media" / "a" / "new")
    assert os.readlink(mirror / "media" / "zz" / "y") == os.path.realpath(media / "zz" / "y")
