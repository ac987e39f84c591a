"""The app's configuration: registers the system checks."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class SymlinkMirrorConfig(AppConfig):
    name = "symlinkmirror"
    verbose_name = "Symlink mirror"

    def ready(self) -> None:
        from . import checks as mirror_checks
        from .purge import checks as purge_checks

        for check in mirror_checks.ALL:
            checks.register(check, mirror_checks.TAG)
        for check in purge_checks.ALL:
            checks.register(check, *purge_checks.TAGS)
