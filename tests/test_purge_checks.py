"""System checks for SYMLINKMIRROR_PURGE and SYMLINKMIRROR_STATE_DIR: one id per problem."""

from __future__ import annotations

import pytest
from django.core import checks

from symlinkmirror.purge import PurgeBackend
from symlinkmirror.purge.checks import PURGE_TAG, check_purge, check_state_dir


class NeedsAMissingSdk(PurgeBackend):
    requires = ("symlinkmirror_no_such_sdk",)
    extra = "nosuchcdn"

    def purge_batch(self, batch):
        pass


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_no_purge_backends_is_fine(settings):
    settings.SYMLINKMIRROR_PURGE = {}

    assert check_purge() == []


def test_configured_backends_pass(settings):
    settings.SYMLINKMIRROR_PURGE = {
        "cdn": {"BACKEND": "symlinkmirror.purge.CloudFrontBackend", "OPTIONS": {"distribution_id": "E1"}},
        "edge": {"BACKEND": "symlinkmirror.purge.VarnishBackend", "OPTIONS": {"location": "http://127.0.0.1:6081"}},
    }

    assert check_purge() == []


def test_e007_purge_is_not_a_dict(settings):
    settings.SYMLINKMIRROR_PURGE = ["symlinkmirror.purge.CloudFrontBackend"]

    messages = check_purge()

    assert ids(messages) == ["symlinkmirror.E007"]
    assert messages[0].msg == "SYMLINKMIRROR_PURGE is a list, not a dict."


@pytest.mark.parametrize(
    "spec", ["symlinkmirror.purge.VarnishBackend", {"OPTIONS": {}}, {"BACKEND": "x", "OPTIONS": []}]
)
def test_e007_an_entry_is_malformed(settings, spec):
    settings.SYMLINKMIRROR_PURGE = {"edge": spec}

    messages = check_purge()

    assert ids(messages) == ["symlinkmirror.E007"]
    assert messages[0].msg == (
        "SYMLINKMIRROR_PURGE['edge'] must be a dict with a 'BACKEND' path and, optionally, an 'OPTIONS' dict."
    )


@pytest.mark.parametrize("path", ["symlinkmirror.purge.NoSuchBackend", "symlinkmirror.storage.SymlinkOrCopyStorage"])
def test_e008_backend_is_not_a_purge_backend(settings, path):
    settings.SYMLINKMIRROR_PURGE = {"edge": {"BACKEND": path}}

    assert ids(check_purge()) == ["symlinkmirror.E008"]


def test_e009_options_are_wrong(settings):
    settings.SYMLINKMIRROR_PURGE = {
        "cdn": {"BACKEND": "symlinkmirror.purge.CloudFrontBackend", "OPTIONS": {"distribution_id": "E1", "timeout": 0}}
    }

    messages = check_purge()

    assert ids(messages) == ["symlinkmirror.E009"]
    assert messages[0].msg == (
        "SYMLINKMIRROR_PURGE['cdn']['OPTIONS'] are wrong: The 'timeout' OPTION of CloudFrontBackend must be a "
        "positive number of seconds, not 0."
    )


class ParsesItsOptions(PurgeBackend):
    def __init__(self, *, port="80", **kwargs):
        super().__init__(**kwargs)
        self.port = int(port)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {
                "BACKEND": "symlinkmirror.purge.CloudflareBackend",
                "OPTIONS": {"zone_id": "z", "api_token": "t", "api_url": "https://"},
            },
            "SYMLINKMIRROR_PURGE['x']['OPTIONS'] are wrong: The 'api_url' OPTION of CloudflareBackend must be an "
            "http:// or https:// URL, not 'https://'.",
        ),
        (
            {"BACKEND": "symlinkmirror.purge.FastlyBackend", "OPTIONS": {"api_token": "t", "api_url": "http:///v1"}},
            "SYMLINKMIRROR_PURGE['x']['OPTIONS'] are wrong: The 'api_url' OPTION of FastlyBackend must be an "
            "http:// or https:// URL, not 'http:///v1'.",
        ),
        (
            {"BACKEND": "tests.test_purge_checks.ParsesItsOptions", "OPTIONS": {"port": "eighty"}},
            "SYMLINKMIRROR_PURGE['x']['OPTIONS'] are wrong: invalid literal for int() with base 10: 'eighty'",
        ),
    ],
)
def test_e009_options_that_fail_as_a_value_error_are_reported_not_raised(settings, spec, message):
    settings.SYMLINKMIRROR_PURGE = {"x": spec}

    messages = check_purge()

    assert ids(messages) == ["symlinkmirror.E009"]
    assert messages[0].msg == message


def test_e010_the_sdk_is_missing(settings):
    settings.SYMLINKMIRROR_PURGE = {"x": {"BACKEND": "tests.test_purge_checks.NeedsAMissingSdk"}}

    messages = check_purge()

    assert ids(messages) == ["symlinkmirror.E010"]
    assert messages[0].hint == "Install it: pip install 'symlinkmirror[nosuchcdn]'."


def test_e011_state_dir_inside_the_mirror(settings, mirror_in_tmp_path):
    settings.SYMLINKMIRROR_STATE_DIR = str(mirror_in_tmp_path.mirror / "state")

    assert ids(check_state_dir()) == ["symlinkmirror.E011"]


def test_purge_checks_run_with_the_files_checks_and_under_their_own_tag(settings, mirror_in_tmp_path):
    settings.SYMLINKMIRROR_PURGE = {"edge": {"BACKEND": "symlinkmirror.purge.VarnishBackend"}}

    assert "symlinkmirror.E009" in ids(checks.run_checks(tags=[checks.Tags.files]))
    assert ids(checks.run_checks(tags=[PURGE_TAG])) == ["symlinkmirror.E009"]


def test_e011_leaves_a_mirror_that_cannot_be_created_to_e004(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "mirror": {"BACKEND": "symlinkmirror.no_such_module.Storage"}}
    settings.SYMLINKMIRROR_STATE_DIR = str(tmp_path / "state")

    assert check_state_dir() == []
