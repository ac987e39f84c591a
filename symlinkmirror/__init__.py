"""A CDN origin mirror for Django media and static files."""

from __future__ import annotations

__version__ = "0.1.0"
