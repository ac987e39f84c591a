from __future__ import annotations

import io
import os

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from symlinkmirror.checks import check_mirror

BACKEND = "symlinkmirror.storage.SymlinkOrCopyStorage"


def real(path) -> str:
    return os.path.realpath(path)


def mirror_options(settings, **options) -> None:
    settings.STORAGES = {**settings.STORAGES, "mirror": {"BACKEND": BACKEND, "OPTIONS": options}}


def test_a_clean_configuration_has_no_messages(mirror_in_tmp_path):
    assert check_mirror() == []


def test_check_command_passes_on_a_clean_configuration(mirror_in_tmp_path):
    out = io.StringIO()

    call_command("check", stdout=out)

    assert out.getvalue() == "System check identified no issues (0 silenced).\n"


def test_e001_an_explicit_root_is_missing(settings, mirror_in_tmp_path, tmp_path):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = f"{mirror_in_tmp_path.media}{os.pathsep}{tmp_path / 'missing'}"

    messages = check_mirror()

    assert messages == [
        checks.Error(
            f"The symlink_within root '{real(tmp_path / 'missing')}' of STORAGES['mirror'] does not exist or is not a directory.",
            hint="Create it, or fix the storage's symlink_within OPTION / SYMLINKMIRROR_SYMLINK_WITHIN.",
            id="symlinkmirror.E001",
        )
    ]


def test_e001_an_explicit_root_in_the_storage_options_is_a_file(settings, mirror_in_tmp_path, tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    mirror_options(settings, location=str(mirror_in_tmp_path.mirror), symlink_within=[str(tmp_path / "a-file")])

    messages = check_mirror()

    assert [(message.id, message.msg) for message in messages] == [
        (
            "symlinkmirror.E001",
            f"The symlink_within root '{real(tmp_path / 'a-file')}' of STORAGES['mirror'] does not exist or is not a directory.",
        )
    ]


def test_w002_a_default_root_is_missing(settings, mirror_in_tmp_path, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "not-yet")

    messages = check_mirror()

    assert messages == [
        checks.Warning(
            f"The symlink_within root '{real(tmp_path / 'not-yet')}' of STORAGES['mirror'] does not exist or is not a directory.",
            hint="It defaults to MEDIA_ROOT and STATIC_ROOT; create the directory (collectstatic does for STATIC_ROOT).",
            id="symlinkmirror.W002",
        )
    ]


def test_e002_the_mirror_lies_inside_media_root(settings, mirror_in_tmp_path):
    inside = mirror_in_tmp_path.media / "mirror"
    mirror_options(settings, location=str(inside))

    messages = check_mirror()

    assert messages == [
        checks.Error(
            f"The mirror location '{real(inside)}' lies inside the source root '{real(mirror_in_tmp_path.media)}': the mirror would mirror itself.",
            hint="Put the mirror outside MEDIA_ROOT, STATIC_ROOT and every symlink_within root.",
            id="symlinkmirror.E002",
        )
    ]


def test_e003_media_root_lies_inside_the_mirror(settings, mirror_in_tmp_path):
    media = mirror_in_tmp_path.mirror / "media"
    media.mkdir(parents=True)
    settings.MEDIA_ROOT = str(media)

    messages = check_mirror()

    assert messages == [
        checks.Error(
            f"The source root '{real(media)}' lies inside the mirror location '{real(mirror_in_tmp_path.mirror)}': the mirror would contain its own sources.",
            hint="Put the mirror location beside the source roots, not above them.",
            id="symlinkmirror.E003",
        )
    ]


def test_e012_the_mirror_alias_is_a_filesystemstorage(settings, mirror_in_tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "mirror": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(mirror_in_tmp_path.mirror)},
        },
    }

    messages = check_mirror()

    assert messages == [
        checks.Error(
            "STORAGES['mirror'] is a FileSystemStorage, not a SymlinkOrCopyStorage.",
            hint=f"Set its BACKEND to '{BACKEND}'.",
            id="symlinkmirror.E012",
        )
    ]


def test_e004_the_mirror_alias_cannot_be_created(settings, mirror_in_tmp_path):
    mirror_options(settings, location=str(mirror_in_tmp_path.mirror), link_style="bogus")

    messages = check_mirror()

    assert messages == [
        checks.Error(
            "STORAGES['mirror'] cannot be created: SymlinkOrCopyStorage link_style must be one of absolute, relative, hard, not 'bogus'.",
            hint="Fix its BACKEND or OPTIONS.",
            id="symlinkmirror.E004",
        )
    ]


def test_e005_a_bad_link_style_setting(settings, mirror_in_tmp_path):
    settings.SYMLINKMIRROR_LINK_STYLE = "bogus"

    messages = check_mirror()

    assert messages == [
        checks.Error(
            "SYMLINKMIRROR_LINK_STYLE is 'bogus'.",
            hint="Use one of: absolute, relative, hard.",
            id="symlinkmirror.E005",
        )
    ]


def test_e013_a_source_names_an_unknown_alias(settings, mirror_in_tmp_path):
    settings.SYMLINKMIRROR_SOURCES = {"media": {"storage": "default"}, "uploads": {"storage": "nowhere"}}

    messages = check_mirror()

    assert messages == [
        checks.Error(
            "SYMLINKMIRROR_SOURCES['uploads'] names the storage alias 'nowhere', which STORAGES does not define.",
            hint="Add that alias to STORAGES or fix SYMLINKMIRROR_SOURCES.",
            id="symlinkmirror.E013",
        )
    ]


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        (["media"], "SYMLINKMIRROR_SOURCES must be a non-empty dict of {name: {'storage': alias, 'prefix': path}}."),
        ({}, "SYMLINKMIRROR_SOURCES must be a non-empty dict of {name: {'storage': alias, 'prefix': path}}."),
        ({"media": "default"}, "SYMLINKMIRROR_SOURCES['media'] must be a dict with a 'storage' alias."),
        (
            {"media": {"storage": "default", "prefix": "a/../.."}},
            "SYMLINKMIRROR_SOURCES['media']['prefix'] must be a path inside the mirror, without '..', like 'media'.",
        ),
        (
            {"static": {"storage": "staticfiles", "prefix": "static", "generations": 1}},
            "SYMLINKMIRROR_SOURCES['static']['generations'] must be an integer of 2 or more (the generation served "
            "and the one before it are always kept), or 0 to mirror the source in place; not 1.",
        ),
    ],
)
def test_e006_malformed_sources(settings, mirror_in_tmp_path, sources, message):
    settings.SYMLINKMIRROR_SOURCES = sources

    messages = check_mirror()

    assert messages == [
        checks.Error(message, hint="See the Settings table in symlinkmirror's README.", id="symlinkmirror.E006")
    ]


def test_w001_no_mirror_alias(settings, mirror_in_tmp_path):
    settings.STORAGES = {alias: spec for alias, spec in settings.STORAGES.items() if alias != "mirror"}

    messages = check_mirror()

    assert messages == [
        checks.Warning(
            "STORAGES has no 'mirror' alias, so collectmirror and verifymirror have no mirror to write.",
            hint=f"Add STORAGES['mirror'] = {{'BACKEND': '{BACKEND}', 'OPTIONS': {{'location': ...}}}}, or set SYMLINKMIRROR_STORAGE.",
            id="symlinkmirror.W001",
        )
    ]


def test_w001_names_the_alias_from_symlinkmirror_storage(settings, mirror_in_tmp_path):
    settings.SYMLINKMIRROR_STORAGE = "origin"

    messages = check_mirror()

    assert [(message.id, message.msg) for message in messages] == [
        (
            "symlinkmirror.W001",
            "STORAGES has no 'origin' alias, so collectmirror and verifymirror have no mirror to write.",
        )
    ]


def test_check_command_fails_on_an_error(settings, mirror_in_tmp_path):
    settings.SYMLINKMIRROR_LINK_STYLE = "bogus"

    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check")

    assert (
        "?: (symlinkmirror.E005) SYMLINKMIRROR_LINK_STYLE is 'bogus'.\n\tHINT: Use one of: absolute, relative, hard."
        in str(excinfo.value)
    )


def test_check_command_reports_a_warning_without_failing(settings, mirror_in_tmp_path):
    settings.STORAGES = {alias: spec for alias, spec in settings.STORAGES.items() if alias != "mirror"}
    out = io.StringIO()
    err = io.StringIO()

    call_command("check", stdout=out, stderr=err)

    assert err.getvalue() == (
        "System check identified some issues:\n\nWARNINGS:\n"
        "?: (symlinkmirror.W001) STORAGES has no 'mirror' alias, so collectmirror and verifymirror have no mirror to write.\n"
        f"\tHINT: Add STORAGES['mirror'] = {{'BACKEND': '{BACKEND}', 'OPTIONS': {{'location': ...}}}}, or set SYMLINKMIRROR_STORAGE.\n"
        "\nSystem check identified 1 issue (0 silenced).\n"
    )
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        (
            "SYMLINKMIRROR_LOCK",
            "nfs",
            "SYMLINKMIRROR_LOCK is 'nfs': it must be 'file' (flock, one host) or 'database'.",
        ),
        (
            "SYMLINKMIRROR_LEASE_SECONDS",
            0,
            "SYMLINKMIRROR_LEASE_SECONDS is 0: it must be a number of seconds, more than 0.",
        ),
        (
            "SYMLINKMIRROR_SHARD_SECONDS",
            "1m",
            "SYMLINKMIRROR_SHARD_SECONDS is '1m': it must be a number of seconds, 0 or more.",
        ),
    ],
)
def test_the_lock_and_lease_settings_are_checked(mirror_in_tmp_path, settings, setting, value, message):
    setattr(settings, setting, value)
    assert [(m.id, m.msg) for m in check_mirror()] == [("symlinkmirror.E032", message)]


def test_a_database_lock_with_short_shards_is_a_clean_configuration(mirror_in_tmp_path, settings):
    settings.SYMLINKMIRROR_LOCK = "database"
    settings.SYMLINKMIRROR_SHARD_SECONDS = 0
    settings.SYMLINKMIRROR_LEASE_SECONDS = 2.5
    assert check_mirror() == []
