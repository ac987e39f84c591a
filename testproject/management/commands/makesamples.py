"""manage.py makesamples: a small media tree for the demo, with published renditions."""

from __future__ import annotations

from typing import Any

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandParser

from testproject.models import Photo


class Command(BaseCommand):
    help = "Create sample photos in MEDIA_ROOT and publish their renditions through the mirror storage."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=6, help="How many photos to create. Defaults to 6.")

    def handle(self, *args: Any, count: int, **options: Any) -> None:
        for number in range(1, count + 1):
            photo = Photo(title=f"Sample {number}", watermark="© demo" if number % 3 == 0 else "")
            photo.original.save(
                f"sample-{number}.jpg", ContentFile(f"sample image {number}\n".encode() * 64), save=True
            )
            photo.publish()
            kind = "copy (watermarked)" if photo.watermark else "link"
            self.stdout.write(f"Published '{photo.rendition.name}' as a {kind}.")
