"""Real trees, a model of what the mirror must hold, and subprocess runs, shared by the adversarial tests."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from django.contrib.staticfiles.storage import StaticFilesStorage
from django.core.files.storage import FileSystemStorage

from symlinkmirror import engine
from symlinkmirror.lock import LOCK_NAME
from symlinkmirror.paths import TEMP_PREFIX
from symlinkmirror.sources import Source
from symlinkmirror.storage import SymlinkOrCopyStorage
from tests.conftest import manage_env, sqlite_database

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Site:
    """media/ lies inside symlink_within (its files are linked), static/ does not (copied)."""

    media: Path
    static: Path
    mirror_dir: Path
    mirror: SymlinkOrCopyStorage
    sources: list[Source]


def make_site(base: Path, **mirror_options) -> Site:
    """Empty media and static folders and a mirror under base.

    static is read through StaticFilesStorage, as in a project: its path()
    override sends the walk down the storage.listdir path, media down os.scandir.
    """
    media, static, mirror_dir = base / "media", base / "static", base / "mirror"
    media.mkdir(parents=True)
    static.mkdir(parents=True)
    mirror = SymlinkOrCopyStorage(location=mirror_dir, base_url="/", symlink_within=[media], **mirror_options)
    sources = [
        Source("media", FileSystemStorage(location=media), "media"),
        Source("static", StaticFilesStorage(location=static), "static"),
    ]
    return Site(media, static, mirror_dir, mirror, sources)


def write(path: Path | bytes, data: bytes) -> None:
    """Create a file, parents included; a bytes path may hold any byte but NUL and '/'."""
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def make_big_tree(media: Path, *, dirs: int, per_dir: int = 200) -> None:
    """media/originals/dNNN and media/renditions/dNNN, per_dir small files in each.

    Make media/originals the only symlink_within root: its files are linked,
    those of media/renditions copied.
    """
    for top in ("originals", "renditions"):
        for d in range(dirs):
            folder = media / top / f"d{d:03d}"
            folder.mkdir(parents=True)
            for f in range(per_dir):
                (folder / f"f{f:03d}.bin").write_bytes(f"{top} {d} {f} ".encode() * 200)


def collect(site: Site, **options) -> tuple[engine.Report, list[engine.FileEvent]]:
    events: list[engine.FileEvent] = []
    report = engine.collect(site.sources, site.mirror, engine.Options(**options), on_event=events.append)
    return report, events


def audit_site(site: Site, **options) -> engine.Verification:
    return engine.verify(site.sources, site.mirror, engine.Options(**options))


def messages(events: list[engine.FileEvent]) -> list[str]:
    return [event.message for event in events]


def mirror_tree(root: Path) -> dict[str, tuple]:
    """Every entry under root but the lock: ('link', target), ('file', bytes), ('dir',) or ('other',)."""
    entries: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if rel == LOCK_NAME:
                continue
            if os.path.islink(path):
                entries[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                entries[rel] = ("dir",)
            elif os.path.isfile(path):
                entries[rel] = ("file", Path(path).read_bytes())
            else:
                entries[rel] = ("other",)
    return entries


def expected_tree(
    site: Site, ignore_patterns: list[str] | None = None, link_style: str = "absolute"
) -> dict[str, tuple]:
    """What the mirror must hold: each media file as a link to it, each static file as a copy."""
    patterns = engine.DEFAULT_IGNORE_PATTERNS if ignore_patterns is None else ignore_patterns
    expected: dict[str, tuple] = {}
    for prefix, root in (("media", site.media), ("static", site.static)):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [name for name in dirnames if not matches_patterns(name, patterns)]
            for name in filenames:
                path = os.path.join(dirpath, name)
                if matches_patterns(name, patterns) or not os.path.isfile(path) or os.path.islink(path):
                    continue
                rel = os.path.join(prefix, os.path.relpath(path, root))
                if prefix == "media" and link_style == "relative":
                    entry_dir = os.path.realpath(os.path.dirname(site.mirror_dir / rel))
                    expected[rel] = ("link", os.path.relpath(os.path.realpath(path), entry_dir))
                elif prefix == "media":
                    expected[rel] = ("link", os.path.realpath(path))
                else:
                    expected[rel] = ("file", Path(path).read_bytes())
    return expected


def matches_patterns(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def files_only(tree: dict[str, tuple]) -> dict[str, tuple]:
    return {name: entry for name, entry in tree.items() if entry[0] != "dir"}


def temp_leftovers(root: Path) -> list[str]:
    """Relative paths of every temporary entry under root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            if name.startswith(TEMP_PREFIX):
                found.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(found)


def project_env(base: Path, *, media: Path, static: Path, mirror: Path, symlink_within: Path) -> dict[str, str]:
    """The environment for `manage.py` in a subprocess, with every folder under base."""
    env = manage_env(
        MEDIA_ROOT=media,
        STATIC_ROOT=static,
        SYMLINKMIRROR_ROOT=mirror,
        SYMLINKMIRROR_SYMLINK_WITHIN=[str(symlink_within)],
        DATABASES=sqlite_database(base / "db.sqlite3"),
    )
    env["PYTHONIOENCODING"] = "utf-8"  # strict, as on a server with a UTF-8 locale
    return env


def manage_command(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "manage.py"), *args]


def manage(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        manage_command(*args),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=timeout,
        check=False,
    )


def finishes_within(seconds: float, function, *args, **kwargs):
    """Run function in a thread; fail the test (not hang it) when it does not return in time."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{function.__name__} did not return within {seconds} seconds (blocked?)"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")
