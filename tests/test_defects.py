"""One test per defect the plan layer fixed, through the commands only, so each also runs against the old engine."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from symlinkmirror import engine
from tests.test_origin import is_root, running_nginx

APP_STATIC = Path(__file__).resolve().parent.parent / "testproject" / "static"


def run(command: str, *args: str) -> tuple[list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue()


def failing(command: str, *args: str) -> tuple[list[str], CommandError]:
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(command, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().splitlines(), caught.value


@pytest.fixture
def media_tree(mirror_in_tmp_path):
    for name in ("a.txt", "b.txt", "photos/c.jpg"):
        path = mirror_in_tmp_path.media / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    run("collectmirror")
    return mirror_in_tmp_path


def test_verify_and_the_dry_run_agree_on_a_file_where_the_media_directory_belongs(media_tree):
    shutil.rmtree(media_tree.mirror / "media")
    (media_tree.mirror / "media").write_text("a file in the way")

    lines, _error = failing("verifymirror", "--json")
    planned, _err = run("collectmirror", "--dry-run")

    found = {finding["name"] for finding in json.loads("\n".join(lines))["findings"]}
    changes = {re.search(r"'(.*?)'", line).group(1) for line in planned if line.startswith("Pretending")}
    assert found == changes == {"media", "media/a.txt", "media/b.txt", "media/photos/c.jpg"}


def test_an_edit_behind_a_link_is_a_changed_url(media_tree, tmp_path):
    original = media_tree.media / "a.txt"
    original.write_text("a.txt, edited in place")
    later = original.stat().st_mtime_ns + 5_000_000_000
    os.utime(original, ns=(later, later))
    urls = tmp_path / "changed-urls.txt"

    run("collectmirror", "--changed-urls", str(urls))

    assert urls.read_text().splitlines() == ["/media/a.txt"]
    assert os.readlink(media_tree.mirror / "media" / "a.txt") == str(original)


def test_an_edit_behind_a_link_is_listed_as_a_change_in_json(media_tree):
    original = media_tree.media / "b.txt"
    later = original.stat().st_mtime_ns + 5_000_000_000
    os.utime(original, ns=(later, later))

    lines, _err = run("collectmirror", "--json")

    changed = json.loads("\n".join(lines))["changed"]
    assert changed == [
        {"name": "media/b.txt", "url": "/media/b.txt", "action": "replaced", "verdict": "changed-content"}
    ]


def test_new_bytes_renamed_over_a_linked_file_with_its_old_mtime_are_a_changed_url(media_tree, tmp_path):
    # A deploy by rsync -a (or cp -p, or tar) writes a temporary file, keeps the
    # original's mtime on it and renames it over: an mtime stamp would miss it.
    original = media_tree.media / "photos" / "c.jpg"
    st = original.stat()
    staged = original.with_name(".c.jpg.tmp")
    staged.write_text("photos/c.jpg, a new version of another size")
    os.utime(staged, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.rename(staged, original)
    urls = tmp_path / "changed-urls.txt"

    found, _error = failing("verifymirror")
    run("collectmirror", "--changed-urls", str(urls))
    again, _err = run("verifymirror")

    assert "changed-content" in "\n".join(found)
    assert urls.read_text().splitlines() == ["/media/photos/c.jpg"]
    assert again == ["3 files checked: the mirror is clean."]


def test_a_live_writers_temporary_file_is_not_a_finding(media_tree):
    (media_tree.mirror / "media" / f".symlinkmirror-tmp-{os.getpid()}-0a1b2c3d4e5f").write_text("being saved")

    lines, _err = run("verifymirror")

    assert lines == ["3 files checked: the mirror is clean."]


def test_fix_lists_its_changes_and_takes_changed_urls_and_json(media_tree, tmp_path):
    (media_tree.mirror / "media" / "a.txt").unlink()
    (media_tree.mirror / "media" / "old.txt").write_text("an orphan")
    urls = tmp_path / "fixed-urls.txt"

    lines, _err = run("verifymirror", "--fix", "--json", "--changed-urls", str(urls))

    document = json.loads("\n".join(lines))
    assert document["clean"] is True
    assert [(f["category"], f["name"]) for f in document["fixed"]] == [
        ("missing", "media/a.txt"),
        ("orphan", "media/old.txt"),
    ]
    assert document["fix"]["totals"]["linked"] == 1
    assert urls.read_text().splitlines() == ["/media/a.txt", "/media/old.txt"]


def test_collect_refuses_a_keyword_it_does_not_know_instead_of_writing_the_mirror(media_tree):
    before = sorted(os.listdir(media_tree.mirror / "media"))
    (media_tree.media / "new.txt").write_text("new")

    with pytest.raises(TypeError):
        engine.collect(engine.configured_sources(), engine.mirror_storage(), engine.Options(), dry_run=True)

    assert sorted(os.listdir(media_tree.mirror / "media")) == before


def test_a_source_600_directories_deep_is_mirrored(mirror_in_tmp_path):
    deep = mirror_in_tmp_path.media.joinpath(*["d"] * 600)
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("bottom")

    lines, _err = run("collectmirror")
    verified, _err = run("verifymirror")

    assert lines[-1] == "1 file linked, 0 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 0 failed."
    assert verified == ["1 file checked: the mirror is clean."]


def test_a_graph_of_directory_symlinks_mirrors_each_directory_once(mirror_in_tmp_path):
    media = mirror_in_tmp_path.media
    for level in range(13):
        (media / f"d{level}").mkdir()
    for level in range(12):
        for name in ("a", "b"):
            (media / f"d{level}" / name).symlink_to(f"../d{level + 1}", target_is_directory=True)
    (media / "d12" / "leaf.txt").write_text("leaf")

    lines, _err = run("collectmirror")

    assert lines[-1] == "1 file linked, 0 copied, 0 replaced, 0 unmodified, 0 deleted, 24 skipped, 0 failed."


# Remote storages (a bucket): their own exceptions, listings that fail, a key that is a file and a directory.


@pytest.fixture
def remote(settings, mirror_in_tmp_path):
    def configure(files, **options):
        settings.STORAGES = {
            **settings.STORAGES,
            "remote": {"BACKEND": "tests.remote.RemoteStorage", "OPTIONS": {"files": files, **options}},
        }
        settings.SYMLINKMIRROR_SOURCES = {"remote": {"storage": "remote", "prefix": "remote"}}

    return configure


def test_a_download_a_remote_storage_refuses_fails_that_file_only(remote, mirror_in_tmp_path):
    remote({"a.txt": "a", "archived.txt": "old", "b.txt": "b"}, refuse=["archived.txt"])

    lines, error = failing("collectmirror")

    assert lines[-1] == "0 files linked, 2 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 1 failed."
    assert str(error) == "1 file(s) failed; see the messages above."


def test_a_directory_a_remote_storage_cannot_list_fails_and_keeps_its_mirror_entries(remote, mirror_in_tmp_path):
    files = {"a.txt": "a", "docs/guide.pdf": "%PDF"}
    remote(files)
    run("collectmirror")
    remote(files, unlistable=["docs"])

    lines, _error = failing("collectmirror", "--delete")

    assert lines[-1] == "0 files linked, 0 copied, 0 replaced, 1 unmodified, 0 deleted, 0 skipped, 1 failed."
    assert (mirror_in_tmp_path.mirror / "remote" / "docs" / "guide.pdf").read_text() == "%PDF"


def test_a_key_that_is_a_file_and_a_directory_converges(remote, mirror_in_tmp_path, tmp_path):
    remote({"reports": "a file", "reports/2024.pdf": "%PDF"})
    urls = tmp_path / "urls.txt"

    first, _err = run("collectmirror", "--delete")
    second, _err = run("collectmirror", "--delete", "--changed-urls", str(urls))

    assert first[-1] == "0 files linked, 1 copied, 0 replaced, 0 unmodified, 0 deleted, 1 skipped, 0 failed."
    assert second[-1] == "0 files linked, 0 copied, 0 replaced, 1 unmodified, 0 deleted, 1 skipped, 0 failed."
    assert urls.read_text() == ""


# Static files that are links: collectstatic --link, or SymlinkOrCopyStorage as the staticfiles storage.


@pytest.fixture
def planted_secret(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    return outside / "secret.txt"


def collected_static_links_publish(setup, planted_secret) -> None:
    static_root = setup.static
    (static_root / "planted.css").symlink_to(planted_secret)
    assert (static_root / "testproject" / "site.css").is_symlink()

    first, _err = run("collectmirror", "--delete")
    verified, _err = run("verifymirror")
    fixed, _err = run("verifymirror", "--fix")

    entry = setup.mirror / "static" / "testproject" / "site.css"
    assert os.path.realpath(entry) == str(APP_STATIC / "testproject" / "site.css")
    assert ", 0 deleted, 1 skipped, 0 failed." in first[-1]  # the planted link, and only it
    assert not os.path.lexists(setup.mirror / "static" / "planted.css")
    assert verified[-1].endswith("the mirror is clean.")
    assert fixed == verified
    with running_nginx(setup.mirror, setup.mirror.parent / "nginx", user="user root;" if is_root() else "") as origin:
        assert origin.get("/static/testproject/site.css") == (
            200,
            (APP_STATIC / "testproject" / "site.css").read_bytes(),
        )
        assert origin.get("/static/planted.css")[0] == 404


@pytest.mark.nginx
def test_collectstatic_link_output_is_published_as_links(mirror_in_tmp_path, planted_secret):
    call_command("collectstatic", "--link", "--noinput", verbosity=0)

    collected_static_links_publish(mirror_in_tmp_path, planted_secret)


@pytest.mark.nginx
def test_symlinkorcopystorage_as_the_staticfiles_storage_is_published_as_links(
    settings, mirror_in_tmp_path, planted_secret
):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage",
            "OPTIONS": {
                "location": str(mirror_in_tmp_path.static),
                "base_url": "/static/",
                "symlink_within": [str(APP_STATIC), *_django_static_dirs()],
            },
        },
    }
    call_command("collectstatic", "--noinput", verbosity=0)

    collected_static_links_publish(mirror_in_tmp_path, planted_secret)


def _django_static_dirs() -> list[str]:
    import django

    return [str(Path(django.__file__).parent / "contrib" / "admin" / "static")]


def test_a_copy_one_second_older_than_its_source_is_stale_where_mtimes_are_exact(mirror_in_tmp_path, settings):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(mirror_in_tmp_path.static)]  # media copied
    source = mirror_in_tmp_path.media / "f.txt"
    source.write_bytes(b"AAAA")
    os.utime(source, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    run("collectmirror")
    source.write_bytes(b"BBBB")  # same size, a whole second later: FAT's rounding is no excuse here
    os.utime(source, ns=(1_700_000_001_000_000_000, 1_700_000_001_000_000_000))

    lines, _err = run("collectmirror")

    assert lines == ["0 files linked, 0 copied, 1 replaced, 0 unmodified, 0 deleted, 0 skipped, 0 failed."]
    assert (mirror_in_tmp_path.mirror / "media" / "f.txt").read_bytes() == b"BBBB"


def test_the_dry_run_of_delete_names_each_orphan_once_as_the_real_run_does(media_tree):
    deep = media_tree.mirror / "media" / "orph" / "deep"
    deep.mkdir(parents=True)
    (deep / "o").write_text("orphan")
    (media_tree.mirror / "media" / "orph" / "p").write_text("orphan too")

    planned, _err = run("collectmirror", "--delete", "--dry-run")
    done, _err = run("collectmirror", "--delete")

    pretended = [line.removeprefix("Pretending to delete ") for line in planned if line.startswith("Pretending")]
    deleted = [line.removeprefix("Deleting ") for line in done if line.startswith("Deleting")]
    assert pretended == deleted
    assert sorted(deleted) == ["'media/orph'", "'media/orph/deep'", "'media/orph/deep/o'", "'media/orph/p'"]
    assert planned[-1] == "Dry run: 0 files linked, 0 copied, 0 replaced, 3 unmodified, 4 deleted, 0 skipped, 0 failed."


@pytest.fixture
def immutable():
    """chattr +i on the files given, so the kernel refuses to hard-link them (EPERM); taken off in teardown."""
    marked: list[Path] = []

    def mark(path: Path, *, on: bool = True) -> None:
        subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)
        if on:
            marked.append(path)

    yield mark
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.root  # chattr +i needs CAP_LINUX_IMMUTABLE
def test_a_copy_made_where_the_kernel_refuses_a_hard_link_converges(media_tree, immutable, tmp_path):
    """A real refusal on the mirror's own filesystem: link() of an immutable file fails with EPERM, as
    protected_hardlinks does for a file of another user, and the run falls back to a copy."""
    source = media_tree.media / "b.txt"
    entry = media_tree.mirror / "media" / "b.txt"
    entry.unlink()
    immutable(source)
    urls = tmp_path / "changed-urls.txt"
    run("collectmirror", "--link-style", "hard")
    assert not entry.is_symlink()
    assert entry.stat().st_ino != source.stat().st_ino  # the fallback's copy, on the same device

    second, _err = run("collectmirror", "--link-style", "hard", "--changed-urls", str(urls))

    assert second == ["0 files linked, 0 copied, 0 replaced, 3 unmodified, 0 deleted, 0 skipped, 0 failed."]
    assert urls.read_text() == ""
    assert run("verifymirror", "--link-style", "hard")[0] == ["3 files checked: the mirror is clean."]

    immutable(source, on=False)
    source.write_text("b.txt, rewritten")
    immutable(source)
    third, _err = run("collectmirror", "--link-style", "hard", "--changed-urls", str(urls))
    assert third == ["0 files linked, 0 copied, 1 replaced, 2 unmodified, 0 deleted, 0 skipped, 0 failed."]
    assert urls.read_text().splitlines() == ["/media/b.txt"]
    assert entry.read_text() == "b.txt, rewritten"

    immutable(source, on=False)
    source.write_text("b.txt, rewritten once more")
    run("collectmirror", "--link-style", "hard")
    assert entry.stat().st_ino == source.stat().st_ino  # re-made as a hard link, now that one can be made


def test_hard_style_sees_new_bytes_renamed_over_its_source_with_the_old_size_and_mtime(media_tree, tmp_path):
    # The hard link is the old inode once a deploy renames new bytes over the source;
    # rsync -a keeps the mtime, and a version string keeps the size: only the bytes differ.
    source = media_tree.media / "a.txt"
    run("collectmirror", "--link-style", "hard", "--clear", "--noinput")
    entry = media_tree.mirror / "media" / "a.txt"
    assert entry.stat().st_ino == source.stat().st_ino
    st = source.stat()
    staged = source.with_name(".a.txt.tmp")
    staged.write_text("A.TXT")
    os.utime(staged, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.rename(staged, source)
    urls = tmp_path / "changed-urls.txt"

    found, _error = failing("verifymirror", "--link-style", "hard")
    run("collectmirror", "--link-style", "hard", "--changed-urls", str(urls))

    assert "stale-copy" in "\n".join(found)
    assert urls.read_text().splitlines() == ["/media/a.txt"]
    assert entry.read_text() == "A.TXT"
    assert entry.stat().st_ino == source.stat().st_ino


def test_clear_lists_each_changed_url_once(media_tree, tmp_path):
    urls = tmp_path / "changed-urls.txt"

    lines, _err = run("collectmirror", "--clear", "--noinput", "--json", "--changed-urls", str(urls))

    expected = ["/media/a.txt", "/media/b.txt", "/media/photos/c.jpg"]
    assert urls.read_text().splitlines() == expected
    changed = json.loads("\n".join(lines))["changed"]
    assert [(change["url"], change["action"]) for change in changed] == [(url, "replaced") for url in expected]


def test_the_dry_run_of_clear_lists_each_changed_url_once(media_tree, tmp_path):
    urls = tmp_path / "changed-urls.txt"

    lines, _err = run("collectmirror", "--clear", "--dry-run", "--json", "--changed-urls", str(urls))

    expected = ["/media/a.txt", "/media/b.txt", "/media/photos/c.jpg"]
    assert urls.read_text().splitlines() == expected
    assert [change["url"] for change in json.loads("\n".join(lines))["changed"]] == expected


def test_an_empty_directory_deleted_under_an_escaping_source_link_is_named(media_tree, tmp_path):
    (media_tree.media / "photos" / "c.jpg").unlink()
    run("collectmirror", "--delete")  # the mirror keeps an empty 'media/photos'
    (media_tree.media / "photos").rmdir()
    (media_tree.media / "photos").symlink_to(tmp_path)  # outside every trusted root
    urls = tmp_path / "changed-urls.txt"
    detail = (
        f"the source is now a symlink to '{os.path.realpath(tmp_path)}', outside the source root and every trusted root"
    )

    planned, _err = run("collectmirror", "--dry-run", "--changed-urls", str(urls))
    planned_urls = urls.read_text().splitlines()
    done, _err = run("collectmirror", "--changed-urls", str(urls))

    assert not os.path.lexists(media_tree.mirror / "media" / "photos")
    assert f"Deleting 'media/photos' ({detail})" in done
    assert f"Pretending to delete 'media/photos' ({detail})" in planned
    assert done[-1] == "0 files linked, 0 copied, 0 replaced, 2 unmodified, 1 deleted, 1 skipped, 0 failed."
    assert planned_urls == urls.read_text().splitlines() == ["/media/photos"]


@pytest.mark.parametrize("contents", [[], ["x", "sub/y"]])
def test_a_directory_deleted_under_a_special_source_name_is_named_as_the_dry_run_says(media_tree, tmp_path, contents):
    held = media_tree.mirror / "media" / "fifo"
    held.mkdir()
    for name in contents:
        (held / name).parent.mkdir(parents=True, exist_ok=True)
        (held / name).write_text(name)
    os.mkfifo(media_tree.media / "fifo")
    urls = tmp_path / "changed-urls.txt"

    planned, _err = run("collectmirror", "--delete", "--dry-run", "--changed-urls", str(urls))
    planned_urls = urls.read_text().splitlines()
    done, _err = run("collectmirror", "--delete", "--changed-urls", str(urls))

    expected = [f"/media/fifo/{name}" for name in sorted(contents)] or ["/media/fifo"]
    assert not os.path.lexists(held)
    assert planned_urls == urls.read_text().splitlines() == expected
    pretended = [line.removeprefix("Pretending to delete ") for line in planned if line.startswith("Pretending")]
    deleted = [line.removeprefix("Deleting ") for line in done if line.startswith("Deleting")]
    assert pretended == deleted == [f"'{url.removeprefix('/')}'" for url in expected]
