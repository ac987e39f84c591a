"""The two passes: what each one links."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class Pass(StrEnum):
    PLAIN = "plain"  # symlink_within empty: the storage must be FileSystemStorage exactly
    LINKED = "linked"  # symlink_within = the suites' sources: only copy semantics may fail


# The suites' own source folders in Django's test tree: what collectstatic
# finds (the project's documents, prefixed and pathlib dirs, the apps' static
# dirs). The tree's snapshot covers every file these links reach.
LINKED_ROOTS = ("staticfiles_tests/project", "staticfiles_tests/apps", "file_storage")


def symlink_within(pass_name: str, tree: Path, tmpdir: Path) -> list[str]:
    """SYMLINKMIRROR_SYMLINK_WITHIN for the pass: nothing for plain, the suites' sources for linked.

    file_storage opens files from disk only in folders it makes with mkdtemp()
    under runtests.py's TMPDIR (temp_storage_location), so linked also takes
    TMPDIR: the storage's own location then lies within a root, as it does
    with the default setting (MEDIA_ROOT and STATIC_ROOT).
    """
    if Pass(pass_name) == Pass.PLAIN:
        return []
    return [*(str(tree / root) for root in LINKED_ROOTS), str(tmpdir)]
