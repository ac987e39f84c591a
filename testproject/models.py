"""A photo whose original lives in media and whose published rendition lives in the mirror."""

from __future__ import annotations

import tempfile

from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import models


def mirror_storage() -> Storage:
    return storages["mirror"]


class Photo(models.Model):
    title = models.CharField(max_length=200)
    original = models.FileField(upload_to="photos/")
    # Unmodified, the rendition is a link to the original; watermarked, a copy.
    rendition = models.FileField(storage=mirror_storage, upload_to="renditions/", blank=True)
    watermark = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return self.title

    def publish(self) -> None:
        """Save the rendition through the mirror storage and store its name."""
        name = (self.original.name or "").rsplit("/", 1)[-1]
        if not self.watermark:
            with self.original.open("rb") as original:
                self.rendition.save(name, original.file, save=True)
            return
        # A processed rendition is written to a temporary file first, as an
        # image library would, then saved: it lives outside every root, so it is copied.
        with tempfile.NamedTemporaryFile(suffix=".tmp") as processed:
            with self.original.open("rb") as original:
                for chunk in original.chunks():
                    processed.write(chunk)
            processed.write(f"\n-- watermark: {self.watermark}\n".encode())
            processed.flush()
            processed.seek(0)
            self.rendition.save(name, File(processed), save=True)
