from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError

from symlinkmirror import engine
from symlinkmirror.lock import LOCK_NAME
from symlinkmirror.paths import TEMP_PREFIX
from tests.conftest import manage_env, sqlite_database


def collectmirror(*args, **options):
    """Run the command; return (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("collectmirror", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def summary(*, linked=0, copied=0, replaced=0, unmodified=0, deleted=0, skipped=0, failed=0) -> str:
    return (
        f"{linked} {'file' if linked == 1 else 'files'} linked, {copied} copied, {replaced} replaced, "
        f"{unmodified} unmodified, {deleted} deleted, {skipped} skipped, {failed} failed."
    )


@pytest.fixture
def site(mirror_in_tmp_path):
    """Two media files and one static file; MEDIA_ROOT and STATIC_ROOT are the default symlink_within."""
    (mirror_in_tmp_path.media / "photos").mkdir()
    (mirror_in_tmp_path.media / "a.txt").write_text("alpha")
    (mirror_in_tmp_path.media / "photos" / "b.jpg").write_bytes(b"jpeg")
    (mirror_in_tmp_path.static / "app.css").write_text("body {}")
    return mirror_in_tmp_path


def real(path: Path) -> str:
    return os.path.realpath(path)


def test_default_sources_mirror_media_and_static_under_their_url_paths(site):
    out, err = collectmirror(verbosity=2)

    assert out.splitlines() == [
        "Linking 'media/a.txt'",
        "Linking 'media/photos/b.jpg'",
        "Linking 'static/app.css'",
        summary(linked=3),
    ]
    assert err == ""
    assert os.readlink(site.mirror / "media" / "a.txt") == real(site.media / "a.txt")
    assert os.readlink(site.mirror / "static" / "app.css") == real(site.static / "app.css")


def test_default_prefixes_follow_media_url_and_static_url(site, settings):
    settings.MEDIA_URL = "https://cdn.example.com/uploads/"
    settings.STATIC_URL = "/assets/v1/"

    collectmirror()

    assert sorted(os.listdir(site.mirror)) == [LOCK_NAME, "assets", "uploads"]
    assert os.readlink(site.mirror / "uploads" / "a.txt") == real(site.media / "a.txt")
    assert os.readlink(site.mirror / "assets" / "v1" / "app.css") == real(site.static / "app.css")


def test_custom_sources_use_their_own_prefixes(site, settings):
    settings.SYMLINKMIRROR_SOURCES = {
        "uploads": {"storage": "default", "prefix": "/u/"},
        "assets": {"storage": "staticfiles", "prefix": "a/b"},
    }

    out, _err = collectmirror(verbosity=2)

    assert out.splitlines()[:3] == ["Linking 'u/a.txt'", "Linking 'u/photos/b.jpg'", "Linking 'a/b/app.css'"]
    assert os.readlink(site.mirror / "u" / "photos" / "b.jpg") == real(site.media / "photos" / "b.jpg")
    assert os.readlink(site.mirror / "a" / "b" / "app.css") == real(site.static / "app.css")


def test_source_limits_the_run(site):
    out, _err = collectmirror("--source", "static")

    assert out.splitlines()[-1] == summary(linked=1)
    assert not (site.mirror / "media").exists()
    assert (site.mirror / "static" / "app.css").is_symlink()


def test_source_can_be_repeated(site, settings):
    settings.SYMLINKMIRROR_SOURCES = {
        "media": {"storage": "default", "prefix": "media"},
        "static": {"storage": "staticfiles", "prefix": "static"},
        "again": {"storage": "staticfiles", "prefix": "again"},
    }

    out, _err = collectmirror("--source", "static", "--source", "media")

    assert out.splitlines()[-1] == summary(linked=3)
    assert sorted(os.listdir(site.mirror)) == [LOCK_NAME, "media", "static"]


def test_an_unknown_source_names_the_setting(site):
    with pytest.raises(CommandError) as caught:
        collectmirror("--source", "nope")

    assert str(caught.value) == "Unknown source 'nope' given to --source: SYMLINKMIRROR_SOURCES defines media, static."
    assert not site.mirror.exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "SYMLINKMIRROR_SOURCES must be a non-empty dict of {name: {'storage': alias, 'prefix': path}}."),
        ({"media": "default"}, "SYMLINKMIRROR_SOURCES['media'] must be a dict with a 'storage' alias."),
        (
            {"media": {"storage": "default", "prefix": "../up"}},
            "SYMLINKMIRROR_SOURCES['media']['prefix'] must be a path inside the mirror, without '..', like 'media'.",
        ),
        (
            {"media": {"storage": "nowhere"}},
            "SYMLINKMIRROR_SOURCES['media'] names the storage alias 'nowhere', which STORAGES does not define.",
        ),
    ],
)
def test_a_malformed_sources_setting_names_the_setting(site, settings, value, message):
    settings.SYMLINKMIRROR_SOURCES = value

    with pytest.raises(CommandError) as caught:
        collectmirror()

    assert str(caught.value) == message


def test_a_mirror_that_is_not_a_symlink_or_copy_storage_names_the_setting(site, settings):
    settings.STORAGES = {**settings.STORAGES, "mirror": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}

    with pytest.raises(CommandError) as caught:
        collectmirror()

    assert str(caught.value) == (
        "STORAGES['mirror'] must be a symlinkmirror.storage.SymlinkOrCopyStorage (see SYMLINKMIRROR_STORAGE), "
        "not FileSystemStorage."
    )


def test_a_missing_mirror_alias_names_the_setting(site, settings):
    settings.SYMLINKMIRROR_STORAGE = "cdn"

    with pytest.raises(CommandError) as caught:
        collectmirror()

    assert str(caught.value) == "STORAGES has no 'cdn' alias for the mirror: add it, or set SYMLINKMIRROR_STORAGE."


def test_a_storage_without_local_paths_is_mirrored_as_copies(site, settings):
    settings.STORAGES = {**settings.STORAGES, "memory": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    settings.SYMLINKMIRROR_SOURCES = {"memory": {"storage": "memory", "prefix": "mem"}}
    memory = storages["memory"]
    memory.save("docs/a.txt", ContentFile(b"from memory"))
    memory.save("b.bin", ContentFile(b"\x00\x01"))

    first, _err = collectmirror(verbosity=2)
    second, _err = collectmirror(verbosity=2)

    assert first.splitlines() == ["Copying 'mem/b.bin'", "Copying 'mem/docs/a.txt'", summary(copied=2)]
    assert second.splitlines() == [
        "Skipping 'mem/b.bin' (not modified)",
        "Skipping 'mem/docs/a.txt' (not modified)",
        summary(unmodified=2),
    ]
    entry = site.mirror / "mem" / "docs" / "a.txt"
    assert not entry.is_symlink()
    assert entry.read_bytes() == b"from memory"
    assert (site.mirror / "mem" / "b.bin").read_bytes() == b"\x00\x01"
    modified = memory.get_modified_time("docs/a.txt")
    assert entry.stat().st_mtime_ns == int(modified.timestamp() * 1_000_000) * 1000


def test_rerun_changed_added_and_deleted_sources(site):
    collectmirror()
    site.mirror.joinpath("static", "app.css").unlink()
    site.mirror.joinpath("static", "app.css").write_text("body {}")
    (site.media / "c.txt").write_text("new")
    (site.media / "photos" / "b.jpg").unlink()

    out, _err = collectmirror("--delete", verbosity=2)

    assert out.splitlines() == [
        "Skipping 'media/a.txt' (not modified)",
        "Linking 'media/c.txt'",
        "Deleting 'media/photos/b.jpg'",
        "Replacing 'static/app.css' with a link (kind-mismatch)",
        summary(linked=1, replaced=1, unmodified=1, deleted=1),
    ]
    assert not os.path.lexists(site.mirror / "media" / "photos" / "b.jpg")
    assert os.readlink(site.mirror / "static" / "app.css") == real(site.static / "app.css")


def test_without_delete_entries_of_deleted_sources_stay(site):
    collectmirror()
    (site.media / "a.txt").unlink()

    out, _err = collectmirror()

    assert out.splitlines()[-1] == summary(unmodified=2)
    assert os.path.lexists(site.mirror / "media" / "a.txt")


def add_thumbs_source(site, settings, prefix):
    thumbs = site.media.parent / "thumbs"
    thumbs.mkdir()
    (thumbs / "t.jpg").write_bytes(b"thumb")
    settings.STORAGES = {
        **settings.STORAGES,
        "thumbs": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(thumbs)}},
    }
    settings.SYMLINKMIRROR_SOURCES = {
        "media": {"storage": "default", "prefix": "media"},
        "thumbs": {"storage": "thumbs", "prefix": prefix},
    }


def test_delete_keeps_ignored_names_and_other_sources_prefixes(site, settings):
    add_thumbs_source(site, settings, "thumbs")
    collectmirror()
    (site.media / "old.txt").write_text("old")
    collectmirror()
    (site.media / "old.txt").unlink()
    (site.media / ".keep").write_text("an ignored source file")
    (site.mirror / "media" / ".keep").write_text("an ignored name")

    out, _err = collectmirror("--delete", verbosity=2)

    assert [line for line in out.splitlines() if not line.startswith("Skipping")] == [
        "Deleting 'media/old.txt'",
        summary(unmodified=3, deleted=1),
    ]
    assert (site.mirror / "media" / ".keep").read_text() == "an ignored name"
    assert (site.mirror / "thumbs" / "t.jpg").is_symlink() is False
    assert (site.mirror / "thumbs" / "t.jpg").read_bytes() == b"thumb"


def test_delete_with_source_keeps_the_entries_of_the_sources_left_out(site, settings):
    add_thumbs_source(site, settings, "thumbs")
    collectmirror()
    (site.mirror / "stray.txt").write_text("stray")

    media_out, _err = collectmirror("--source", "media", "--delete", verbosity=2)

    assert media_out.splitlines()[-1] == summary(unmodified=2)
    assert (site.mirror / "media" / "a.txt").is_symlink()
    assert (site.mirror / "thumbs" / "t.jpg").read_bytes() == b"thumb"
    assert (site.mirror / "stray.txt").read_text() == "stray"


def test_nested_source_prefixes_are_refused_before_anything_is_written(site, settings):
    add_thumbs_source(site, settings, "media/thumbs")

    with pytest.raises(CommandError, match="give each source its own directory, neither inside the other"):
        collectmirror("--delete")

    assert not site.mirror.exists()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("wrong-target", "Replacing 'media/a.txt' with a link (wrong-target)"),
        ("broken-link", "Replacing 'media/a.txt' with a link (broken-link)"),
        ("stale-copy", "Replacing 'static/app.css' with a copy (stale-copy)"),
        ("link-where-a-copy-belongs", "Replacing 'static/app.css' with a copy (kind-mismatch)"),
    ],
)
def test_tampered_mirror_entries_are_replaced_under_the_same_name(site, settings, kind, message):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(site.media)]  # static files are copied
    collectmirror()
    link, copy = site.mirror / "media" / "a.txt", site.mirror / "static" / "app.css"
    if kind == "wrong-target":
        link.unlink()
        link.symlink_to(site.media / "photos" / "b.jpg")
    elif kind == "broken-link":
        link.unlink()
        link.symlink_to(site.media / "gone.txt")
    elif kind == "stale-copy":
        copy.write_text("body { margin: 0 }")
    else:
        copy.unlink()
        copy.symlink_to(site.media / "a.txt")

    out, _err = collectmirror(verbosity=2)

    assert message in out.splitlines()
    assert out.splitlines()[-1] == summary(replaced=1, unmodified=2)
    assert os.readlink(link) == real(site.media / "a.txt")
    assert not copy.is_symlink()
    assert copy.read_text() == "body {}"
    assert sorted(os.listdir(site.mirror / "media")) == ["a.txt", "photos"]
    assert sorted(os.listdir(site.mirror / "static")) == ["app.css"]


def test_checksum_catches_a_copy_tampered_behind_its_size_and_mtime(site, settings):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(site.media)]
    collectmirror()
    copy = site.mirror / "static" / "app.css"
    mtime = copy.stat().st_mtime_ns
    copy.write_text("BODY {}")
    os.utime(copy, ns=(mtime, mtime))

    plain, _err = collectmirror()
    after_plain = copy.read_text()
    checked, _err = collectmirror("--checksum", verbosity=2)

    assert plain.splitlines()[-1] == summary(unmodified=3)
    assert after_plain == "BODY {}"
    assert "Replacing 'static/app.css' with a copy (stale-copy)" in checked.splitlines()
    assert copy.read_text() == "body {}"


def test_dry_run_pretends_and_changes_nothing(site):
    collectmirror()
    (site.media / "c.txt").write_text("new")
    (site.media / "a.txt").unlink()
    (site.mirror / "static" / "app.css").unlink()
    before = sorted(os.listdir(site.mirror / "media")), sorted(os.listdir(site.mirror / "static"))

    out, _err = collectmirror("--dry-run", "--delete", verbosity=2)

    assert out.splitlines() == [
        "Pretending to link 'media/c.txt'",
        "Pretending to delete 'media/a.txt'",
        "Skipping 'media/photos/b.jpg' (not modified)",
        "Pretending to link 'static/app.css'",
        "Dry run: " + summary(linked=2, unmodified=1, deleted=1),
    ]
    assert (sorted(os.listdir(site.mirror / "media")), sorted(os.listdir(site.mirror / "static"))) == before


def test_default_verbosity_lists_what_a_dry_run_would_do_and_real_deletions_as_collectstatic_does(site):
    collectmirror()
    (site.media / "c.txt").write_text("new")
    (site.media / "a.txt").unlink()

    dry, _err = collectmirror("--dry-run", "--delete")
    real_run, _err = collectmirror("--delete")

    assert dry.splitlines() == [
        "Pretending to link 'media/c.txt'",
        "Pretending to delete 'media/a.txt'",
        "Dry run: " + summary(linked=1, unmodified=2, deleted=1),
    ]
    assert real_run.splitlines() == ["Deleting 'media/a.txt'", summary(linked=1, unmodified=2, deleted=1)]


def test_clear_noinput_rebuilds_the_mirror(site):
    collectmirror()
    (site.mirror / "media" / "orphan.txt").write_text("o")

    out, _err = collectmirror("--clear", "--noinput", verbosity=2)

    assert out.splitlines() == [
        "Deleting 'media/a.txt' (--clear)",
        "Deleting 'media/orphan.txt' (--clear)",
        "Deleting 'media/photos/b.jpg' (--clear)",
        "Linking 'media/a.txt'",
        "Linking 'media/photos/b.jpg'",
        "Deleting 'static/app.css' (--clear)",
        "Linking 'static/app.css'",
        summary(linked=3, deleted=4),
    ]
    assert sorted(os.listdir(site.mirror / "media")) == ["a.txt", "photos"]


def test_clear_asks_first_and_no_cancels(site, monkeypatch):
    collectmirror()
    (site.mirror / "media" / "orphan.txt").write_text("o")
    prompts = []

    def answer_no(prompt):
        prompts.append(prompt)
        return "no"

    # The confirmation is read with input(); there is no terminal in a test, so answer it here.
    monkeypatch.setattr("builtins.input", answer_no)

    with pytest.raises(CommandError) as caught:
        collectmirror("--clear")

    assert str(caught.value) == "Collecting the mirror cancelled."
    assert str(site.mirror) in prompts[0]
    assert "'media', 'static'" in prompts[0]
    assert (site.mirror / "media" / "orphan.txt").exists()


def test_clear_asks_first_and_yes_goes_on(site, monkeypatch):
    collectmirror()
    (site.mirror / "media" / "orphan.txt").write_text("o")
    # The confirmation is read with input(); there is no terminal in a test, so answer it here.
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")

    out, _err = collectmirror("--clear")

    assert out.splitlines()[-1] == summary(linked=3, deleted=4)
    assert not (site.mirror / "media" / "orphan.txt").exists()


def test_ignore_patterns_and_default_ignores(site):
    (site.media / ".hidden").write_text("h")
    (site.media / "x~").write_text("backup")
    (site.media / "CVS").mkdir()
    (site.media / "CVS" / "Entries").write_text("cvs")
    (site.media / "notes.log").write_text("log")
    (site.media / "photos" / "raw.tif").write_text("raw")

    default_out, _err = collectmirror("-i", "*.log", "--ignore", "photos/*.tif", verbosity=2)
    everything_out, _err = collectmirror("--no-default-ignore", "--ignore", "*.log", verbosity=2)

    assert default_out.splitlines() == [
        "Linking 'media/a.txt'",
        "Linking 'media/photos/b.jpg'",
        "Linking 'static/app.css'",
        summary(linked=3),
    ]
    assert everything_out.splitlines() == [
        "Linking 'media/.hidden'",
        "Skipping 'media/a.txt' (not modified)",
        "Linking 'media/x~'",
        "Linking 'media/CVS/Entries'",
        "Skipping 'media/photos/b.jpg' (not modified)",
        "Linking 'media/photos/raw.tif'",
        "Skipping 'static/app.css' (not modified)",
        summary(linked=4, unmodified=3),
    ]
    assert not os.path.lexists(site.mirror / "media" / "notes.log")


def test_four_workers_give_the_same_result_as_one(site, settings, tmp_path):
    for n in range(40):
        (site.media / "photos" / f"p{n:02}.jpg").write_bytes(b"p" * n)
        (site.static / f"s{n:02}.css").write_text("s" * n)
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(site.media)]
    one_out, _err = collectmirror("--workers", "1", verbosity=2)
    one_tree = {p.relative_to(site.mirror): (p.is_symlink(), p.read_bytes()) for p in site.mirror.rglob("*.*")}
    settings.STORAGES = {
        **settings.STORAGES,
        "mirror": {
            "BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage",
            "OPTIONS": {"location": str(tmp_path / "mirror4"), "base_url": "/"},
        },
    }

    four_out, _err = collectmirror("--workers", "4", verbosity=2)

    four_tree = {
        p.relative_to(tmp_path / "mirror4"): (p.is_symlink(), p.read_bytes())
        for p in (tmp_path / "mirror4").rglob("*.*")
    }
    assert four_out == one_out
    assert four_out.splitlines()[-1] == summary(linked=42, copied=41)
    assert four_tree == one_tree


def test_workers_must_be_positive(site):
    with pytest.raises(CommandError) as caught:
        collectmirror("--workers", "0")

    assert str(caught.value) == "--workers must be 1 or more."


@pytest.mark.parametrize(
    ("style", "check"),
    [
        ("relative", lambda entry, source: os.readlink(entry) == "../../media/a.txt"),
        ("hard", lambda entry, source: not entry.is_symlink() and entry.stat().st_ino == source.stat().st_ino),
        ("absolute", lambda entry, source: os.readlink(entry) == real(source)),
    ],
)
def test_link_style_overrides_the_storage(site, settings, style, check):
    settings.SYMLINKMIRROR_LINK_STYLE = "relative" if style != "relative" else "absolute"

    first, _err = collectmirror("--link-style", style)
    second, _err = collectmirror("--link-style", style)

    assert check(site.mirror / "media" / "a.txt", site.media / "a.txt")
    assert first.splitlines()[-1] == summary(linked=3)
    assert second.splitlines()[-1] == summary(unmodified=3)


def test_json_prints_one_document(site, tmp_path):
    (site.media / "escape").symlink_to(tmp_path)

    out, _err = collectmirror("--json", verbosity=2)

    data = json.loads(out)
    assert data["totals"] == {
        "linked": 3,
        "copied": 0,
        "replaced": 0,
        "unmodified": 0,
        "deleted": 0,
        "skipped": 1,
        "failed": 0,
    }
    assert data["sources"]["media"]["linked"] == 2
    assert data["sources"]["media"]["skipped"] == 1
    assert data["sources"]["static"]["linked"] == 1
    assert data["errors"] == []
    assert data["dry_run"] is False
    assert isinstance(data["duration"], float)


def test_json_and_changed_urls_name_a_file_that_is_not_utf8_in_strict_utf8(mirror_in_tmp_path, tmp_path):
    with open(os.fsencode(mirror_in_tmp_path.media) + b"/caf\xe9.txt", "wb") as latin1:
        latin1.write(b"Latin-1")
    urls = tmp_path / "urls.txt"

    out, _err = collectmirror("--json", "--changed-urls", str(urls))

    data = json.loads(out)
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # strict: a lone surrogate would raise
    assert data["changed"] == [
        {"name": "media/caf\\xe9.txt", "url": "/media/caf%E9.txt", "action": "linked", "verdict": "missing"}
    ]
    assert urls.read_bytes() == b"/media/caf%E9.txt\n"


def test_changed_urls_lists_created_replaced_and_deleted_entries(site, settings, tmp_path):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(site.media)]
    urls = tmp_path / "urls.txt"
    (site.media / "with space.txt").write_text("s")
    collectmirror("--changed-urls", str(urls))
    first = urls.read_text().splitlines()
    (site.static / "app.css").write_text("body { color: red }")
    (site.media / "photos" / "b.jpg").unlink()
    (site.media / "photos" / "c.jpg").write_bytes(b"c")

    collectmirror("--delete", "--changed-urls", str(urls))

    assert first == ["/media/a.txt", "/media/with%20space.txt", "/media/photos/b.jpg", "/static/app.css"]
    assert urls.read_text().splitlines() == ["/media/photos/c.jpg", "/media/photos/b.jpg", "/static/app.css"]


def test_verbosity_zero_prints_nothing(site, tmp_path):
    (site.media / "escape").symlink_to(tmp_path / "outside.txt")
    (tmp_path / "outside.txt").write_text("o")

    out, err = collectmirror(verbosity=0)

    assert out == ""
    assert err == ""
    assert (site.mirror / "media" / "a.txt").is_symlink()


def test_verbosity_two_lists_every_file(site):
    collectmirror()
    (site.media / "c.txt").write_text("c")

    out, _err = collectmirror(verbosity=2)

    assert out.splitlines() == [
        "Skipping 'media/a.txt' (not modified)",
        "Linking 'media/c.txt'",
        "Skipping 'media/photos/b.jpg' (not modified)",
        "Skipping 'static/app.css' (not modified)",
        "1 file linked, 0 copied, 0 replaced, 3 unmodified, 0 deleted, 0 skipped, 0 failed.",
    ]


def test_the_summary_line_closes_the_output(site):
    out, _err = collectmirror()

    assert out.splitlines()[-1] == "3 files linked, 0 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 0 failed."


def test_an_escaping_symlink_is_skipped_unless_external_links_are_followed(site, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("external")
    (site.media / "x").symlink_to(outside / "x.txt")

    skipped, _err = collectmirror()
    followed, _err = collectmirror("--follow-external-links", verbosity=2)

    assert skipped.splitlines() == [
        f"Skipping 'media/x' (a symlink to '{real(outside / 'x.txt')}', outside the source root and every trusted root)",
        summary(linked=3, skipped=1),
    ]
    assert "Copying 'media/x'" in followed.splitlines()
    assert followed.splitlines()[-1] == summary(copied=1, unmodified=3)
    entry = site.mirror / "media" / "x"
    assert not entry.is_symlink()
    assert entry.read_text() == "external"


def test_a_held_lock_fails_fast_with_exit_code_75(site):
    with engine.mirror_lock(str(site.mirror)), pytest.raises(CommandError) as caught:
        collectmirror()

    assert caught.value.returncode == 75
    assert str(caught.value) == (
        f"The mirror '{site.mirror}' is locked by a run in progress (pid {os.getpid()}); try again when it ends."
    )
    assert not (site.mirror / "media").exists()


@contextmanager
def lock_held_elsewhere(lock_path: Path, *, write_pid: bool):
    """Hold flock on lock_path in another process, as a concurrent run would; yield its pid."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "if sys.argv[2] == 'yes':\n"
            "    os.pwrite(fd, str(os.getpid()).encode(), 0)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(lock_path),
            "yes" if write_pid else "no",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_a_lock_held_by_another_run_fails_fast(site):
    site.mirror.mkdir()
    with lock_held_elsewhere(site.mirror / LOCK_NAME, write_pid=True) as pid, pytest.raises(CommandError) as caught:
        collectmirror()
    out, _err = collectmirror()

    assert caught.value.returncode == 75
    assert str(caught.value) == (
        f"The mirror '{site.mirror}' is locked by a run in progress (pid {pid}); try again when it ends."
    )
    assert out.splitlines()[-1] == summary(linked=3)


def test_a_lock_held_by_a_process_that_wrote_no_pid_fails_fast(site):
    site.mirror.mkdir()
    with lock_held_elsewhere(site.mirror / LOCK_NAME, write_pid=False), pytest.raises(CommandError) as caught:
        collectmirror()

    assert caught.value.returncode == 75
    assert str(caught.value) == f"The mirror '{site.mirror}' is locked by another process; try again when it ends."


def long_name(base: Path, length: int) -> str:
    """A name under base whose full path is length characters long, in directories of 200."""
    room = length - len(str(base)) - 1
    parts = []
    while room > 250:
        parts.append("d" * 200)
        room -= 201
    parts.append("f" * (room - 4) + ".txt")
    return "/".join(parts)


@pytest.fixture
def too_deep_for_the_mirror(site):
    """A media file whose path fits PATH_MAX (4096) but whose mirror path, 7 characters longer, does not."""
    name = long_name(site.media, 4090)
    path = site.media / name
    path.parent.mkdir(parents=True)
    path.write_text("deep")
    assert len(str(site.mirror / "media" / name)) == 4097
    return f"media/{name}"


def test_a_file_that_fails_is_reported_and_the_run_goes_on(site, too_deep_for_the_mirror):
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as caught:
        call_command("collectmirror", stdout=out, stderr=err)

    assert str(caught.value) == "1 file(s) failed; see the messages above."
    assert caught.value.returncode == 1
    assert err.getvalue() == f"Failed '{too_deep_for_the_mirror}': File name too long\n"
    assert out.getvalue().splitlines()[-1] == summary(linked=3, failed=1)
    assert (site.mirror / "media" / "photos" / "b.jpg").is_symlink()
    assert (site.mirror / "static" / "app.css").is_symlink()


def test_a_failed_file_is_listed_in_the_json_errors(site, too_deep_for_the_mirror):
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command("collectmirror", "--json", stdout=out, stderr=io.StringIO())

    data = json.loads(out.getvalue())
    assert data["errors"] == [{"source": "media", "name": too_deep_for_the_mirror, "reason": "File name too long"}]
    assert data["totals"]["failed"] == 1
    assert data["totals"]["linked"] == 3


def test_leftover_temporary_files_of_dead_processes_are_removed(site):
    collectmirror()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead_name, alive_name = f"{TEMP_PREFIX}{dead.pid}-00112233aabb", f"{TEMP_PREFIX}{alive.pid}-00112233aabb"
    (site.mirror / "media" / dead_name).write_text("half a copy")
    (site.mirror / "media" / "photos" / alive_name).write_text("a copy in progress")
    try:
        out, _err = collectmirror(verbosity=2)
    finally:
        alive.kill()
        alive.wait()

    assert f"Removing leftover temporary file 'media/{dead_name}'" in out.splitlines()
    assert not os.path.lexists(site.mirror / "media" / dead_name)
    assert (site.mirror / "media" / "photos" / alive_name).read_text() == "a copy in progress"
    assert out.splitlines()[-1] == summary(unmodified=3)


def test_checksum_restamps_an_equal_copy_so_the_next_plain_run_keeps_it(site, settings):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(site.media)]
    collectmirror()
    copy = site.mirror / "static" / "app.css"
    os.utime(copy, ns=(1_000_000_000, 1_000_000_000))

    checked, _err = collectmirror("--checksum")
    plain, _err = collectmirror()

    assert checked.splitlines()[-1] == summary(unmodified=3)
    assert copy.stat().st_mtime_ns == (site.static / "app.css").stat().st_mtime_ns
    assert plain.splitlines()[-1] == summary(unmodified=3)


def test_changed_urls_keeps_the_previous_list_when_the_lock_refuses_the_run(site, tmp_path):
    urls = tmp_path / "changed-urls.txt"
    collectmirror("--changed-urls", str(urls))
    (site.media / "c.txt").write_text("new")

    with engine.mirror_lock(str(site.mirror)), pytest.raises(CommandError):
        collectmirror("--changed-urls", str(urls))

    assert urls.read_text().splitlines() == ["/media/a.txt", "/media/photos/b.jpg", "/static/app.css"]
    assert sorted(os.listdir(tmp_path)) == sorted(["changed-urls.txt", "media", "mirror", "static"])


def test_the_command_runs_the_system_checks_first(tmp_path):
    # call_command skips system checks; manage.py does not: run it for real.
    env = manage_env(
        DATABASES=sqlite_database(tmp_path / "db.sqlite3"),
        MEDIA_ROOT=tmp_path,
        STATIC_ROOT=tmp_path,
        SYMLINKMIRROR_ROOT=tmp_path / "mirror",
        SYMLINKMIRROR_LINK_STYLE="Relative",
    )
    manage = Path(__file__).resolve().parent.parent / "manage.py"

    result = subprocess.run([sys.executable, str(manage), "collectmirror"], env=env, capture_output=True, text=True)

    assert result.returncode == 1
    assert "SystemCheckError" in result.stderr
    assert "(symlinkmirror.E005) SYMLINKMIRROR_LINK_STYLE is 'Relative'." in result.stderr
    assert not (tmp_path / "mirror").exists()


def test_changed_urls_in_a_missing_directory_is_an_error_naming_the_option(site, tmp_path):
    target = tmp_path / "no" / "such" / "urls.txt"

    with pytest.raises(CommandError, match=r"^Cannot write --changed-urls '.*urls\.txt': No such file or directory\.$"):
        collectmirror("--changed-urls", str(target))

    assert not (site.mirror / "media").exists()


def test_without_media_root_the_project_directory_is_never_mirrored(site, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = ""
    monkeypatch.chdir(tmp_path)  # where abspath("") would point

    out, _err = collectmirror()

    assert out.splitlines()[-1] == summary(linked=1)
    assert sorted(os.listdir(site.mirror)) == [".symlinkmirror.lock", "static"]
