"""A source storage that behaves like a network filesystem: every metadata call waits a fixed latency.

The distributed tests use it to make a shard last long enough to kill its
worker in the middle; the benchmark, to show how shards scale when each call
waits on the network (NFS, EFS, CephFS) rather than on the CPU.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.files.storage import FileSystemStorage
from django.utils.deconstruct import deconstructible


@deconstructible(path="testproject.storages.LatencyFileSystemStorage")
class LatencyFileSystemStorage(FileSystemStorage):
    """FileSystemStorage with `latency` seconds added to a listing and to each entry it lists (one stat each)."""

    def __init__(self, *args: Any, latency: float = 0.001, **kwargs: Any) -> None:
        self.latency = latency
        super().__init__(*args, **kwargs)

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        directories, files = super().listdir(path)
        time.sleep(self.latency * (1 + len(directories) + len(files)))
        return directories, files
