"""A fingerprint of every file in a tree, to prove a run never wrote through a link into it."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

SKIPPED_DIRS = {"__pycache__"}
SKIPPED_SUFFIXES = (".pyc",)


def take(root: Path) -> dict[str, str]:
    """{relative path: mode and sha256 of the content, or the target of a symlink}.

    The mode is part of it: os.chmod() follows links, so a storage that sets
    permissions on a linked entry changes the source's bits.
    """
    files = {}
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for name in filenames:
            if name.endswith(SKIPPED_SUFFIXES):
                continue
            path = os.path.join(directory, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                fingerprint = f"link {os.readlink(path)}"
            else:
                with open(path, "rb") as fh:
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
                fingerprint = f"{stat.S_IMODE(st.st_mode):o} {digest}"
            files[os.path.relpath(path, root)] = fingerprint
    return files


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """One line per file added, removed or changed, sorted by path."""
    lines = []
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            lines.append(f"removed: {path}")
        elif path not in before:
            lines.append(f"added:   {path}")
        elif before[path] != after[path]:
            lines.append(f"changed: {path} ({before[path]} -> {after[path]})")
    return lines
