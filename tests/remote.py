"""A storage without local paths, like an S3 bucket: keys in memory, and errors of its own."""

from __future__ import annotations

import datetime
import threading
import time

from django.core.files.base import ContentFile
from django.core.files.storage import Storage


class EndpointConnectionError(Exception):
    """As botocore's: not an OSError."""


class RemoteStorage(Storage):
    def __init__(self, files: dict[str, bytes] | None = None, *, refuse=(), unlistable=()) -> None:
        self.files = {name: data if isinstance(data, bytes) else data.encode() for name, data in (files or {}).items()}
        self.refuse = set(refuse)  # keys whose download fails, as an archived S3 object's does
        self.unlistable = set(unlistable)  # prefixes whose listing fails, as with an endpoint that is down

    def listdir(self, path):
        if path in self.unlistable:
            raise EndpointConnectionError(f"Could not connect to the endpoint URL listing '{path}'")
        prefix = f"{path}/" if path else ""
        dirs, files = set(), set()
        for key in self.files:
            if key.startswith(prefix):
                head, _, rest = key[len(prefix) :].partition("/")
                (dirs if rest else files).add(head)
        return sorted(dirs), sorted(files)

    def open(self, name, mode="rb"):
        if name in self.refuse:
            raise RuntimeError("InvalidObjectState: the object is archived")
        return ContentFile(self.files[name], name=name)

    def size(self, name):
        return len(self.files[name])

    def get_modified_time(self, name):
        return datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)

    def exists(self, name):
        return name in self.files


class SlowRemoteStorage(RemoteStorage):
    """A remote storage whose downloads take a while, as over a network: records the thread of each one."""

    threads: set[int] = set()

    def open(self, name, mode="rb"):
        SlowRemoteStorage.threads.add(threading.get_ident())
        time.sleep(0.05)
        return super().open(name, mode)
