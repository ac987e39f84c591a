"""factory_boy factories for the testproject models."""

from __future__ import annotations

import factory

from testproject.models import Photo

ORIGINAL_BYTES = b"JPEG original: not a real image, but real bytes on disk\n"


class PhotoFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Photo

    title = factory.Sequence(lambda n: f"Photo {n}")
    original = factory.django.FileField(filename="photo.jpg", data=ORIGINAL_BYTES)
