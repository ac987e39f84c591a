"""Django's own file_storage and staticfiles_tests suites, run with SymlinkOrCopyStorage swapped in."""

from __future__ import annotations
