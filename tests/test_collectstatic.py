from __future__ import annotations

import io
import os
from pathlib import Path

import django.contrib.admin
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

PROJECT_STATIC = Path(django_settings.BASE_DIR) / "testproject" / "static"
ADMIN_STATIC = Path(django.contrib.admin.__file__).resolve().parent / "static"


def app_static_files() -> dict[str, str]:
    """{name in STATIC_ROOT: real path of the app's file}, as collectstatic finds them."""
    found = {}
    for root in (PROJECT_STATIC, ADMIN_STATIC):
        for directory, _, files in os.walk(root):
            for name in files:
                path = os.path.join(directory, name)
                found[os.path.relpath(path, root)] = os.path.realpath(path)
    return found


@pytest.fixture
def static_root(settings, tmp_path) -> Path:
    """STORAGES['staticfiles'] is a SymlinkOrCopyStorage that links files from the apps' static dirs."""
    root = tmp_path / "static"
    settings.STATIC_ROOT = str(root)
    settings.STATICFILES_DIRS = []  # testproject/static is the testproject app's own: found once
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage",
            "OPTIONS": {"location": str(root), "symlink_within": [str(PROJECT_STATIC), str(ADMIN_STATIC)]},
        },
    }
    return root


def collectstatic() -> str:
    out = io.StringIO()
    call_command("collectstatic", interactive=False, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def collected(root: Path) -> dict[str, str]:
    """{name: real path} of every entry under root, which must all be symlinks."""
    found = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            assert os.path.islink(path), path
            found[os.path.relpath(path, root)] = os.path.realpath(path)
    return found


def test_plain_collectstatic_links_the_apps_static_files(static_root):
    expected = app_static_files()

    summary = collectstatic()

    assert summary == f"{len(expected)} static files copied to '{static_root}'."
    assert collected(static_root) == expected
    assert "testproject/site.css" in expected
    assert "admin/css/base.css" in expected
    assert (static_root / "testproject" / "site.css").read_bytes() == (
        PROJECT_STATIC / "testproject" / "site.css"
    ).read_bytes()


def test_a_second_collectstatic_copies_nothing_new(static_root):
    expected = app_static_files()
    collectstatic()
    inode = os.lstat(static_root / "testproject" / "site.css").st_ino

    summary = collectstatic()

    assert summary == f"0 static files copied to '{static_root}', {len(expected)} unmodified."
    assert collected(static_root) == expected
    assert os.lstat(static_root / "testproject" / "site.css").st_ino == inode  # the link was not remade


def test_collectstatic_replaces_copies_from_an_earlier_plain_run_with_links(static_root, settings):
    expected = app_static_files()
    linking = settings.STORAGES["staticfiles"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    collectstatic()
    settings.STORAGES = {**settings.STORAGES, "staticfiles": linking}

    summary = collectstatic()

    assert summary == f"{len(expected)} static files copied to '{static_root}'."
    assert collected(static_root) == expected


def test_a_link_follows_its_changed_source_without_being_remade(static_root, tmp_path, settings):
    extra = tmp_path / "extra"
    (extra / "extra").mkdir(parents=True)
    (extra / "extra" / "app.js").write_text("v1")
    settings.STATICFILES_DIRS = [str(extra)]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage",
            "OPTIONS": {
                "location": str(static_root),
                "symlink_within": [str(PROJECT_STATIC), str(ADMIN_STATIC), str(extra)],
            },
        },
    }
    collectstatic()
    (extra / "extra" / "app.js").write_text("v2")

    summary = collectstatic()

    assert summary == f"0 static files copied to '{static_root}', {len(app_static_files()) + 1} unmodified."
    assert (static_root / "extra" / "app.js").read_text() == "v2"


def test_collectstatic_still_copies_files_outside_symlink_within(static_root, tmp_path, settings):
    extra = tmp_path / "extra"
    (extra / "extra").mkdir(parents=True)
    (extra / "extra" / "app.js").write_text("copied")
    settings.STATICFILES_DIRS = [str(extra)]

    first = collectstatic()
    second = collectstatic()

    assert first == f"{len(app_static_files()) + 1} static files copied to '{static_root}'."
    assert second == f"0 static files copied to '{static_root}', {len(app_static_files()) + 1} unmodified."
    assert not os.path.islink(static_root / "extra" / "app.js")
    assert (static_root / "extra" / "app.js").read_text() == "copied"
