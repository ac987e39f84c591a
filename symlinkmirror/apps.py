"""The app's configuration: registers the system checks, and live mirroring's signals when it is on."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class SymlinkMirrorConfig(AppConfig):
    name = "symlinkmirror"
    verbose_name = "Symlink mirror"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from . import checks as mirror_checks
        from . import live
        from .purge import checks as purge_checks

        for check in mirror_checks.ALL:
            checks.register(check, mirror_checks.TAG)
        for check in purge_checks.ALL:
            checks.register(check, *purge_checks.TAGS)
        for check in live.CHECKS:
            checks.register(check, mirror_checks.TAG)
        # Signals only while SYMLINKMIRROR_LIVE is on: no cost per model instance otherwise.
        live.connect_signals()
        setting_changed.connect(live.setting_changed, dispatch_uid=live.DISPATCH_UID)
