"""A freshly made filesystem for each first-run measurement: what it costs to build a tree, not what was freed before.

On a filesystem that has just had a large tree deleted, ext4 skips the inodes
freed recently, and building a tree there was up to 15 times slower than on one
never used: first-run figures measured the filesystem's recent history. Each
measurement here gets a new one: an ext4 image made and loop-mounted (as root),
else a fresh tmpfs (root too), else, without root, a new folder in the bench
directory, which is not fresh at all (the table says which).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

EXT4, TMPFS, FOLDER = "fresh ext4", "fresh tmpfs", "bench folder (not fresh)"


def _quiet(argv: list[str]) -> bool:
    return subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


class FreshFilesystems:
    """Makes one filesystem per `with`, big enough for `files` entries, and removes it afterwards."""

    def __init__(self, bench_dir: Path, kind: str | None = None) -> None:
        self.base = bench_dir / "fresh"
        self.count = 0
        self.kind = kind or self._probe()

    def _probe(self) -> str:
        if os.geteuid() != 0:
            return FOLDER
        mkfs = shutil.which("mkfs.ext4") or ("/usr/sbin/mkfs.ext4" if os.path.exists("/usr/sbin/mkfs.ext4") else None)
        if mkfs is not None:
            try:
                with self.make(1000, EXT4):
                    return EXT4
            except OSError:
                pass
        try:
            with self.make(1000, TMPFS):
                return TMPFS
        except OSError:
            return FOLDER

    def __call__(self, files: int) -> _Mounted:
        return self.make(files, self.kind)

    def make(self, files: int, kind: str) -> _Mounted:
        self.count += 1
        return _Mounted(self.base, self.count, files, kind)


class _Mounted:
    def __init__(self, base: Path, index: int, files: int, kind: str) -> None:
        self.mount = base / f"mnt-{index}"
        self.image = base / f"fs-{index}.img"
        self.files, self.kind = files, kind

    def __enter__(self) -> Path:
        self.mount.parent.mkdir(parents=True, exist_ok=True)
        self.mount.mkdir(exist_ok=True)
        # Each link holds an absolute path longer than an inode's 60 bytes: one 4 KiB block per entry.
        blocks = self.files * 6 * 1024 + (256 << 20)
        if self.kind == EXT4:
            self.image.unlink(missing_ok=True)
            with open(self.image, "wb") as handle:
                handle.truncate(blocks)
            inodes = self.files + self.files // 5 + 20_000
            # Inode tables and journal zeroed now, not by a kernel thread during the measurement.
            options = "lazy_itable_init=0,lazy_journal_init=0"
            if not _quiet(["mkfs.ext4", "-q", "-F", "-N", str(inodes), "-E", options, str(self.image)]):
                raise OSError(f"mkfs.ext4 failed on {self.image}")
            if not _quiet(["mount", "-o", "loop,noatime", str(self.image), str(self.mount)]):
                self.image.unlink(missing_ok=True)
                raise OSError(f"cannot loop-mount {self.image}")
        elif self.kind == TMPFS:
            options = f"size={blocks},nr_inodes={self.files * 2 + 20_000}"
            if not _quiet(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(self.mount)]):
                raise OSError("cannot mount a tmpfs")
        return self.mount

    def __exit__(self, *exc: object) -> None:
        if self.kind == FOLDER:
            subprocess.run(["rm", "-rf", str(self.mount)], check=True)
            return
        subprocess.run(["umount", str(self.mount)], check=True)
        self.mount.rmdir()
        self.image.unlink(missing_ok=True)
