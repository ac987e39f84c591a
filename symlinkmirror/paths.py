"""Path containment, link targets and temporary names: pure functions over os.path."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

# Every temporary entry symlinkmirror creates starts with this, so an
# interrupted run's leftovers can be recognised and removed later.
TEMP_PREFIX = ".symlinkmirror-tmp-"
# Where the sources that keep generations keep them, in the mirror root: never a source's prefix.
GENERATIONS_DIR = ".generations"

LINK_STYLES = ("absolute", "relative", "hard")

StrPath = str | os.PathLike[str]


def split_roots(value: StrPath | Iterable[StrPath] | None) -> list[str]:
    """Accept a list of directories or one os.pathsep-joined string (for env vars)."""
    if value is None:
        return []
    if isinstance(value, str | os.PathLike):
        value = str(value).split(os.pathsep)
    return [os.fspath(root) for root in value if os.fspath(root)]


def resolve_roots(roots: Iterable[StrPath]) -> tuple[str, ...]:
    """Resolve each root once; drop repeats, keeping the first occurrence."""
    resolved = (os.path.realpath(root) for root in roots)
    return tuple(dict.fromkeys(resolved))


def is_within(real_path: str, real_root: str) -> bool:
    """True when real_path is real_root or below it.

    Both must already be resolved (os.path.realpath): the comparison is on
    whole path components, so '/srv/media2/x' is not within '/srv/media'.
    """
    try:
        return os.path.commonpath((real_path, real_root)) == real_root
    except ValueError:  # one relative and one absolute, or different drives
        return False


def containing_root(real_path: str, real_roots: Iterable[str]) -> str | None:
    """The first root that contains real_path, or None."""
    for root in real_roots:
        if is_within(real_path, root):
            return root
    return None


def link_target(real_source: str, link_path: str, style: str) -> str:
    """What a symlink at link_path should contain to reach real_source.

    A relative target is computed between real paths on both sides: the
    kernel resolves it from the link's real directory, and the pair then
    survives moving or remounting the tree that holds both.
    """
    if style == "relative":
        link_dir = os.path.realpath(os.path.dirname(link_path))
        return os.path.relpath(real_source, link_dir)
    return real_source


def same_mtime(copy_ns: int, source_ns: int) -> bool:
    """Whether a copy's mtime is its source's, allowing for filesystems that keep whole seconds.

    FAT keeps two-second steps: a copy stamped with its source's mtime reads
    back rounded, so a whole-second mtime within 2 s of the source's counts.
    """
    if copy_ns == source_ns:
        return True
    return copy_ns % 1_000_000_000 == 0 and abs(copy_ns - source_ns) < 2_000_000_000


def fresh_temp_base() -> str:
    """A fresh temporary name, tagged with our pid, to stage an entry beside its final name."""
    return f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"


def temp_name(directory: str) -> str:
    """A fresh temporary path in directory."""
    return os.path.join(directory, fresh_temp_base())


def is_temp_name(name: str) -> bool:
    return os.path.basename(name).startswith(TEMP_PREFIX)


def temp_owner_alive(name: str) -> bool:
    """Whether the process that made this temporary entry still runs here.

    A live owner may be a concurrent storage.save() about to rename it into
    place, so its temporary entries must be left alone.
    """
    rest = os.path.basename(name)[len(TEMP_PREFIX) :]
    pid_text = rest.split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def printable(text: str) -> str:
    """text as one printable line, for messages about names read from the disk.

    A name may hold a newline, or bytes that are not valid UTF-8 (which Python
    decodes to surrogates): printed raw, it would split the line or make a
    strict UTF-8 stdout raise. Such characters appear as escapes instead.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def strict_utf8(text: str) -> str:
    """text that any strict UTF-8 encoder or JSON parser accepts, for names read from the disk in --json.

    os.fsdecode() turns bytes that are not valid UTF-8 into lone surrogates:
    each appears as printable() shows it ('caf\\xe9.txt'), and everything
    else, a newline too, is left as it is.
    """
    if is_utf8(text):
        return text
    return "".join(_escape(char) if 0xD800 <= ord(char) <= 0xDFFF else char for char in text)


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # surrogate escapes of undecodable bytes
        return False
    return True


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's escape of an undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")


def as_path(value: StrPath) -> Path:
    return Path(os.fspath(value))


def link_stamp(st: os.stat_result) -> int:
    """What a mirror symlink's own mtime records of the file it links: that file's ctime.

    Any write, a rename over it or a chmod moves a file's ctime, and nothing can
    set it back; an mtime can be (rsync -a, cp -p and tar keep it across a rename
    over), so a link stamped with it would miss such an edit.
    """
    return st.st_ctime_ns


@lru_cache(maxsize=512)
def relative_prefix(real_dir: str, link_dir: str) -> str:
    """What a relative link in link_dir holds before a file name to reach real_dir ('' for the same directory)."""
    relative = os.path.relpath(real_dir, link_dir)
    return "" if relative == "." else relative + "/"
