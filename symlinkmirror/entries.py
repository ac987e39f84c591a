"""Mirror entries made, committed and read relative to open directory descriptors, never through a symlink.

The mirror is hostile ground: anyone who can write to it may swap a directory
for a symlink, or a file for a FIFO, at any moment. Every operation here works
on one name inside a directory held open by descriptor (openat, symlinkat,
renameat, unlinkat), every directory is opened with O_NOFOLLOW, and every file
opened for reading is opened with O_NONBLOCK and checked with fstat().
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import io
import os
import stat
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

from .paths import TEMP_PREFIX, fresh_temp_base

# One errno table for the package.
CANNOT_SYMLINK = frozenset({errno.EPERM, errno.ENOTSUP, errno.ENOSYS, errno.EOPNOTSUPP})
CANNOT_HARDLINK = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.ENOSYS, errno.EOPNOTSUPP})
NO_PERMISSION_BITS = frozenset({errno.EPERM, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})
GONE = frozenset({errno.ENOENT, errno.ENOTDIR})
# "No entry can exist at this name": a missing part, a file where a directory
# should be, a name too long, a loop of links.
CANNOT_EXIST = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP})

READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 20
# Compared a piece at a time: a buffer the size of a CPU's L2 cache is read into twice as fast as one of 1 MiB.
COMPARE_CHUNK = 1 << 17
PATH_MAX = os.pathconf("/", "PC_PATH_MAX")


def describe(exc: BaseException) -> str:
    """A one-line reason for a per-file failure, from any storage's exception."""
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return "No space left on device; the previous entry, if any, is unchanged."
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__


def check_path_length(path: str) -> None:
    """Refuse an entry no web server (nor FileSystemStorage) could open by its path, though a descriptor could reach it."""
    if len(os.fsencode(path)) >= PATH_MAX:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), path)


def open_regular(name: str, dir_fd: int | None = None, *, follow: bool = True) -> tuple[int, os.stat_result]:
    """Open a file to read without blocking on a FIFO, and check that it is a regular file."""
    flags = READ_FLAGS if follow else READ_FLAGS | os.O_NOFOLLOW
    fd = os.open(name, flags, dir_fd=dir_fd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "Not a regular file", name)
    return fd, st


# Making entries.


def symlink_new(target: str, base: str, dir_fd: int, mtime_ns: int | None = None) -> None:
    """A new symlink; its own mtime records the version of the file it publishes."""
    os.symlink(target, base, dir_fd=dir_fd)
    if mtime_ns is not None:
        stamp(base, dir_fd, mtime_ns)


def hardlink_new(real_source: str, base: str, dir_fd: int) -> None:
    os.link(real_source, base, dst_dir_fd=dir_fd, follow_symlinks=False)


def stamp(base: str, dir_fd: int, mtime_ns: int) -> None:
    """Set the mtime of the entry itself, never of what a symlink points to."""
    os.utime(base, ns=(mtime_ns, mtime_ns), dir_fd=dir_fd, follow_symlinks=False)


def stage_symlink(target: str, dir_fd: int, mtime_ns: int | None = None) -> str:
    tmp = fresh_temp_base()
    symlink_new(target, tmp, dir_fd, mtime_ns)
    return tmp


def stage_hardlink(real_source: str, dir_fd: int) -> str:
    tmp = fresh_temp_base()
    hardlink_new(real_source, tmp, dir_fd)
    return tmp


def stage_copy(
    dir_fd: int,
    *,
    mode: int,
    real_source: str | None = None,
    source_fd: int | None = None,
    content: Any = None,
    mtime_ns: int | None = None,
) -> str:
    """A copy under a fresh temporary name in dir_fd, from a trusted file, an open regular file or content's chunks.

    A source rewritten while it was read is refused (EAGAIN), never published
    with mixed bytes. mode is set on the copy whatever the umask.
    """
    tmp = fresh_temp_base()
    # Created private: the bytes of a private source are never readable under the temporary name.
    fd = os.open(tmp, NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        if real_source is not None:
            _copy_from_path(real_source, fd)
        elif source_fd is not None:
            _copy_from_fd(source_fd, fd)
        else:
            _copy_from_chunks(content, fd)
        _chmod(fd, mode)
        if mtime_ns is not None:
            os.utime(fd, ns=(mtime_ns, mtime_ns))
    except BaseException:
        os.close(fd)
        discard(tmp, dir_fd)
        raise
    os.close(fd)
    return tmp


def _chmod(fd: int, mode: int) -> None:
    try:
        os.fchmod(fd, mode)
    except OSError as exc:
        if exc.errno not in NO_PERMISSION_BITS:  # FAT (through FUSE too) keeps none to set
            raise


def _copy_from_path(real_source: str, out_fd: int) -> None:
    in_fd, before = open_regular(real_source)
    try:
        _send(in_fd, out_fd)
    finally:
        os.close(in_fd)
    _check_unchanged(before, os.stat(real_source))


def _copy_from_fd(in_fd: int, out_fd: int) -> None:
    """From an open regular file (read from its start); a rewrite while it was read is refused."""
    before = os.fstat(in_fd)
    _send(in_fd, out_fd)
    _check_unchanged(before, os.fstat(in_fd))


def _send(in_fd: int, out_fd: int) -> None:
    try:
        # The kernel copies without passing the bytes through Python.
        while os.sendfile(out_fd, in_fd, None, 1 << 24):
            pass
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP) or os.lseek(out_fd, 0, os.SEEK_CUR):
            raise
        while chunk := os.read(in_fd, CHUNK):
            os.write(out_fd, chunk)


def _check_unchanged(before: os.stat_result, after: os.stat_result) -> None:
    if _version(after) != _version(before):
        raise OSError(errno.EAGAIN, "The source file changed while it was being copied; run again to copy it")


def _copy_from_chunks(content: Any, out_fd: int) -> None:
    for chunk in content.chunks():
        data = chunk.encode() if isinstance(chunk, str) else chunk
        view = memoryview(data)
        while view:
            view = view[os.write(out_fd, view) :]


def _version(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def commit(tmp: str, base: str, dir_fd: int, *, replace: bool) -> None:
    """Rename a staged entry to its final name: atomically over what is there, or only where nothing is."""
    if replace:
        os.replace(tmp, base, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return
    try:
        # link() fails with EEXIST instead of clobbering: an atomic "rename unless taken".
        os.link(tmp, base, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise FileExistsError(errno.EEXIST, "File exists", base) from None
        if exc.errno not in CANNOT_HARDLINK:
            raise
        if lexists(base, dir_fd):  # no hard links here (FAT): check, then rename
            raise FileExistsError(errno.EEXIST, "File exists", base) from None
        os.replace(tmp, base, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    else:
        os.unlink(tmp, dir_fd=dir_fd)


def discard(tmp: str, dir_fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp, dir_fd=dir_fd)


def lexists(base: str, dir_fd: int) -> bool:
    try:
        os.stat(base, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def copy_mode(source_mode: int, file_permissions_mode: int | None) -> int:
    """A published copy is never more permissive than its source (as cp -p): its bits, within file_permissions_mode."""
    bits = stat.S_IMODE(source_mode) & 0o777
    return bits if file_permissions_mode is None else bits & file_permissions_mode


def django_file_mode(file_permissions_mode: int | None) -> int:
    """Django's mode for a new file: file_permissions_mode, else 0o666 less the umask."""
    if file_permissions_mode is not None:
        return file_permissions_mode
    return 0o666 & ~_current_umask()


def _current_umask() -> int:
    """The process umask, read from /proc where it can be: setting it to read it races other threads."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def require_regular_file(path: str) -> os.stat_result:
    """The stat of path, which must still be a regular file: a link to a directory would publish it all."""
    st = os.stat(path)  # FileNotFoundError when it has gone
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "The source is no longer a regular file", path)
    return st


# Reading entries.


def same_bytes(source: Any, base: str, dir_fd: int) -> bool:
    """Byte-for-byte comparison of an open source file object with the mirror entry base.

    No hash: comparing the bytes is both stronger (no collisions) and cheaper
    than hashing both sides, and it stops at the first difference. The mirror
    side is opened with O_NOFOLLOW and O_NONBLOCK: a FIFO swapped in raises.
    A local source is read into this thread's two buffers, never into a new
    object per chunk (a fresh MiB is a fresh mapping, faulted in page by page).
    """
    fd, _st = open_regular(base, dir_fd, follow=False)
    with os.fdopen(fd, "rb", buffering=0) as copy:
        if not isinstance(source, io.FileIO):
            return _same_chunks(source, copy)
        ours, theirs = _buffers()
        while True:
            read = _fill(source, ours)
            if read != _fill(copy, theirs):
                return False
            if read < COMPARE_CHUNK:
                return ours[:read] == theirs[:read]
            if ours != theirs:  # whole buffers: one memcmp, no copy
                return False


def _same_chunks(source: Any, copy: io.FileIO) -> bool:
    while True:
        ours, theirs = source.read(CHUNK), copy.read(CHUNK)
        if ours != theirs:
            return False
        if not ours:
            return True


def _fill(stream: io.FileIO, buffer: bytearray) -> int:
    """Read until buffer is full or the file ends; the bytes read."""
    view, got = memoryview(buffer), 0
    while got < len(buffer):
        read = stream.readinto(view[got:])
        if not read:
            break
        got += read
    return got


_LOCAL = threading.local()


def _buffers() -> tuple[bytearray, bytearray]:
    buffers: tuple[bytearray, bytearray] | None = getattr(_LOCAL, "buffers", None)
    if buffers is None:
        buffers = _LOCAL.buffers = (bytearray(COMPARE_CHUNK), bytearray(COMPARE_CHUNK))
    return buffers


def is_temp(base: str) -> bool:
    return base.startswith(TEMP_PREFIX)


_RENAME_EXCHANGE = 2  # <linux/fs.h>
_NO_EXCHANGE = frozenset({errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})


def exchange(dir_fd: int, first: str, second: str) -> None:
    """Swap two names in one renameat2(RENAME_EXCHANGE); where there is none, in three renames (second briefly absent)."""
    function = _renameat2()
    if function is not None:
        if function(dir_fd, os.fsencode(first), dir_fd, os.fsencode(second), _RENAME_EXCHANGE) == 0:
            return
        code = ctypes.get_errno()
        if code not in _NO_EXCHANGE:
            raise OSError(code, os.strerror(code), second)
    aside = fresh_temp_base()
    os.rename(second, aside, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    os.rename(first, second, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    os.rename(aside, first, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


@cache
def _renameat2() -> Callable[..., int] | None:
    try:
        function: Any = ctypes.CDLL(None, use_errno=True).renameat2  # glibc 2.28, musl 1.1.24
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]
