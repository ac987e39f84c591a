"""manage.py collectstatic, which also skips the unmodified links SymlinkOrCopyStorage made without --link."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.staticfiles.management.commands import collectstatic

from ...storage import SymlinkOrCopyStorage


class Command(collectstatic.Command):
    def delete_file(self, path: str, prefixed_path: str, source_storage: Any) -> bool:
        """Skip an unmodified entry when it is a link exactly when the storage would link its source.

        collectstatic keeps an unmodified target only when it is a symlink
        exactly when --link was given, so every plain run would delete and
        remake each link this storage made. symlinkmirror must come before
        django.contrib.staticfiles in INSTALLED_APPS for this command to win.
        """
        if self.symlink or not isinstance(self.storage, SymlinkOrCopyStorage):
            return super().delete_file(path, prefixed_path, source_storage)
        try:
            source = os.path.realpath(source_storage.path(path))
        except NotImplementedError:
            return super().delete_file(path, prefixed_path, source_storage)
        # super() compares its target against self.symlink: say what to expect.
        self.symlink = self.storage.link_style != "hard" and self.storage.wants_link(source)
        try:
            return super().delete_file(path, prefixed_path, source_storage)
        finally:
            self.symlink = False
