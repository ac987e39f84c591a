from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from symlinkmirror import conf


def test_default_sources_serve_media_and_static_under_their_url_paths(settings):
    settings.MEDIA_ROOT, settings.MEDIA_URL = "/srv/media", "/uploads/"
    settings.STATIC_ROOT, settings.STATIC_URL = "/srv/static", "https://cdn.example.com/assets/"

    assert conf.sources() == {
        "media": {"storage": "default", "prefix": "uploads"},
        "static": {"storage": "staticfiles", "prefix": "assets"},
    }


def test_default_sources_leave_out_an_unset_root_rather_than_mirror_the_current_directory(settings):
    settings.MEDIA_ROOT = ""
    settings.STATIC_ROOT = "/srv/static"

    assert conf.sources() == {"static": {"storage": "staticfiles", "prefix": "static"}}


def test_no_root_and_no_sources_is_a_configuration_error_naming_the_settings(settings):
    settings.MEDIA_ROOT = ""
    settings.STATIC_ROOT = None

    with pytest.raises(ImproperlyConfigured, match="set MEDIA_ROOT or STATIC_ROOT, or SYMLINKMIRROR_SOURCES"):
        conf.sources()


def test_an_empty_url_path_falls_back_to_the_source_name(settings):
    settings.MEDIA_ROOT, settings.MEDIA_URL = "/srv/media", ""
    settings.STATIC_ROOT, settings.STATIC_URL = "/srv/static", "/"

    assert {name: spec["prefix"] for name, spec in conf.sources().items()} == {"media": "media", "static": "static"}


@pytest.mark.parametrize(
    ("given", "normalised"), [("a//b/", "a/b"), ("/media", "media"), ("./x", "x"), ("", ""), ("/", "")]
)
def test_prefixes_are_normalised(settings, given, normalised):
    settings.SYMLINKMIRROR_SOURCES = {"one": {"storage": "default", "prefix": given}}

    assert conf.sources()["one"]["prefix"] == normalised


@pytest.mark.parametrize("prefix", [None, "../up", "a/../../b", "nul\x00"])
def test_a_prefix_that_is_not_a_path_inside_the_mirror_is_refused(settings, prefix):
    settings.SYMLINKMIRROR_SOURCES = {"one": {"storage": "default", "prefix": prefix}}

    with pytest.raises(ImproperlyConfigured, match=r"SYMLINKMIRROR_SOURCES\['one'\]\['prefix'\] must be a path"):
        conf.sources()


@pytest.mark.parametrize(
    ("first", "second"), [("site", "site"), ("media", "media/thumbs"), ("", "static"), ("a/b", "a//b/")]
)
def test_equal_or_nested_prefixes_are_refused(settings, first, second):
    settings.SYMLINKMIRROR_SOURCES = {
        "one": {"storage": "default", "prefix": first},
        "two": {"storage": "staticfiles", "prefix": second},
    }

    with pytest.raises(ImproperlyConfigured, match="give each source its own directory, neither inside the other"):
        conf.sources()


def test_sibling_prefixes_sharing_a_parent_are_accepted(settings):
    settings.SYMLINKMIRROR_SOURCES = {
        "media": {"storage": "default", "prefix": "site/media"},
        "static": {"storage": "staticfiles", "prefix": "site/static"},
        "media2": {"storage": "default", "prefix": "site/media2"},
    }

    assert [spec["prefix"] for spec in conf.sources().values()] == ["site/media", "site/static", "site/media2"]


def test_generations_are_kept_only_where_set(settings):
    settings.SYMLINKMIRROR_SOURCES = {
        "media": {"storage": "default", "prefix": "media", "generations": 0},
        "static": {"storage": "staticfiles", "prefix": "static", "generations": 3},
    }

    assert conf.sources() == {
        "media": {"storage": "default", "prefix": "media"},
        "static": {"storage": "staticfiles", "prefix": "static", "generations": 3},
    }


@pytest.mark.parametrize("value", [1, -2, True, 2.0, "3"])
def test_generations_must_be_an_integer_of_two_or_more(settings, value):
    settings.SYMLINKMIRROR_SOURCES = {"static": {"storage": "staticfiles", "prefix": "static", "generations": value}}

    with pytest.raises(
        ImproperlyConfigured,
        match=r"SYMLINKMIRROR_SOURCES\['static'\]\['generations'\] must be an integer of 2 or more",
    ):
        conf.sources()


def test_a_source_keeping_generations_needs_a_prefix(settings):
    settings.SYMLINKMIRROR_SOURCES = {"site": {"storage": "default", "prefix": "", "generations": 3}}

    with pytest.raises(ImproperlyConfigured, match=r"SYMLINKMIRROR_SOURCES\['site'\] keeps generations, so it needs"):
        conf.sources()


@pytest.mark.parametrize("prefix", [".generations", ".generations/static", "/.generations/"])
def test_the_generations_folder_is_no_prefix(settings, prefix):
    settings.SYMLINKMIRROR_SOURCES = {"one": {"storage": "default", "prefix": prefix}}

    with pytest.raises(ImproperlyConfigured, match="may not start with '.generations'"):
        conf.sources()
