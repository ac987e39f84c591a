"""The floor for Python: an os.scandir walk making one os.symlink per file, nothing else."""

from __future__ import annotations

import os
import sys


def mirror(src: str, dst: str) -> None:
    os.mkdir(dst)
    with os.scandir(src) as entries:
        for entry in entries:
            target = os.path.join(dst, entry.name)
            if entry.is_dir(follow_symlinks=False):
                mirror(entry.path, target)
            else:
                os.symlink(entry.path, target)


if __name__ == "__main__":
    mirror(os.path.abspath(sys.argv[1]), sys.argv[2])
