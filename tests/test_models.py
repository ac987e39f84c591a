from __future__ import annotations

import os

import pytest
from django.core.files.storage import storages

from testproject.models import Photo

from .factories import ORIGINAL_BYTES, PhotoFactory


@pytest.fixture
def photo_mirror(mirror_in_tmp_path, monkeypatch):
    """The testproject set up in tmp_path, with Photo.rendition writing to its mirror.

    Django calls a FileField's storage callable once, when the model class is
    created, so the field still holds the mirror of the real settings: point
    it at the mirror the settings fixture configured instead.
    """
    monkeypatch.setattr(Photo._meta.get_field("rendition"), "storage", storages["mirror"])
    return mirror_in_tmp_path


@pytest.mark.django_db
def test_photo_factory_saves_the_original_in_media_root(photo_mirror):
    PhotoFactory.reset_sequence(0)

    photo = PhotoFactory()

    assert photo.original.name == "photos/photo.jpg"
    assert (photo_mirror.media / "photos" / "photo.jpg").read_bytes() == ORIGINAL_BYTES
    assert photo.title == "Photo 0"


@pytest.mark.django_db
def test_publish_links_an_unwatermarked_rendition_to_its_original(photo_mirror):
    photo = PhotoFactory()

    photo.publish()

    photo.refresh_from_db()
    rendition = photo_mirror.mirror / "renditions" / "photo.jpg"
    assert photo.rendition.name == "renditions/photo.jpg"
    assert os.readlink(rendition) == os.path.realpath(photo_mirror.media / "photos" / "photo.jpg")
    assert rendition.read_bytes() == ORIGINAL_BYTES
    assert photo.rendition.url == "/renditions/photo.jpg"


@pytest.mark.django_db
def test_publish_copies_a_watermarked_rendition(photo_mirror):
    photo = PhotoFactory(watermark="(c) symlinkmirror")

    photo.publish()

    photo.refresh_from_db()
    rendition = photo_mirror.mirror / "renditions" / "photo.jpg"
    assert photo.rendition.name == "renditions/photo.jpg"
    assert not os.path.islink(rendition)
    assert rendition.read_bytes() == ORIGINAL_BYTES + b"\n-- watermark: (c) symlinkmirror\n"
    assert (photo_mirror.media / "photos" / "photo.jpg").read_bytes() == ORIGINAL_BYTES


@pytest.mark.django_db
def test_publish_links_each_photo_to_its_own_original(photo_mirror):
    first, second = PhotoFactory.create_batch(2)

    first.publish()
    second.publish()

    second_file = second.original.name.rsplit("/", 1)[-1]
    assert first.original.name == "photos/photo.jpg"
    assert second_file != "photo.jpg"  # FileSystemStorage gave the second upload an alternative name
    assert (first.rendition.name, second.rendition.name) == ("renditions/photo.jpg", f"renditions/{second_file}")
    assert os.readlink(photo_mirror.mirror / "renditions" / "photo.jpg") == os.path.realpath(
        photo_mirror.media / "photos" / "photo.jpg"
    )
    assert os.readlink(photo_mirror.mirror / "renditions" / second_file) == os.path.realpath(
        photo_mirror.media / "photos" / second_file
    )
