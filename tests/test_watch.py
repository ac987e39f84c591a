"""collectmirror --watch as a real process over real trees: each change ends as a fresh full run would leave it."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from symlinkmirror.lock import LOCK_NAME, mirror_lock
from tests.conftest import manage_env, sqlite_database

MANAGE = Path(__file__).resolve().parent.parent / "manage.py"
START_TIMEOUT = 60  # seconds: Django's start-up and the first full run, on a machine shared with other jobs
SETTLE_TIMEOUT = 20


def entries(root: Path) -> dict[str, tuple]:
    """Every entry under root but the lock: a link's target, a file's bytes, or a directory that is not empty.

    A refresh keeps the mirror directory of a source directory emptied since, which a first run never makes.
    """
    found: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if rel == LOCK_NAME:
                continue
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                if any(path.iterdir()):
                    found[rel] = ("dir",)
            else:
                found[rel] = ("file", path.read_bytes())
    return found


def stray_directories(site: Site) -> list[str]:
    """Mirror directories (empty ones too) whose source directory is gone."""
    roots = {"media": site.media, "static": site.static}
    stray = []
    for dirpath, _dirnames, _filenames in os.walk(site.mirror):
        rel = Path(dirpath).relative_to(site.mirror)
        if rel.parts and not (roots[rel.parts[0]] / Path(*rel.parts[1:])).is_dir():
            stray.append(str(rel))
    return stray


def wait_until(condition: Callable[[], object], timeout: float = SETTLE_TIMEOUT, what: str = "") -> float:
    """Seconds until condition() holds, polled every 10 ms; a failure naming what after timeout."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"Not within {timeout} s: {what or condition}")
        time.sleep(0.01)
    return time.monotonic() - started


@dataclass
class Site:
    root: Path
    media: Path
    static: Path
    mirror: Path
    settings: dict[str, object] = field(default_factory=dict)

    def env(self, **overrides: object) -> dict[str, str]:
        return {**manage_env(**{**self.settings, **overrides}), "PYTHONUNBUFFERED": "1"}

    def manage(self, *args: str, **overrides: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(MANAGE), *args], env=self.env(**overrides), capture_output=True, text=True
        )

    def fresh(self) -> dict[str, tuple]:
        """What a full run from nothing makes of the sources now."""
        fresh = self.root / f"fresh-{time.monotonic_ns()}"
        result = self.manage("collectmirror", "--delete", "-v", "0", SYMLINKMIRROR_ROOT=fresh)
        assert result.returncode == 0, result.stderr
        return entries(fresh)

    def verified(self) -> bool:
        result = self.manage("verifymirror")
        assert result.returncode == 0, result.stdout + result.stderr
        return True


@pytest.fixture
def site(tmp_path) -> Site:
    media, static, mirror = tmp_path / "media", tmp_path / "static", tmp_path / "mirror"
    media.mkdir()
    static.mkdir()
    (media / "photos").mkdir()
    (media / "photos" / "a.jpg").write_text("a")
    (media / "doc.txt").write_text("doc")
    (static / "app.css").write_text("body {}")
    settings = {
        "DATABASES": sqlite_database(tmp_path / "db.sqlite3"),
        "MEDIA_ROOT": media,
        "STATIC_ROOT": static,
        "SYMLINKMIRROR_ROOT": mirror,
    }
    return Site(tmp_path, media, static, mirror, settings)


class Watcher:
    """A running `manage.py collectmirror --watch`; its stdout and stderr in files."""

    def __init__(self, process: subprocess.Popen[bytes], out: Path, err: Path) -> None:
        self.process, self.out, self.err = process, out, err

    def lines(self) -> list[str]:
        return self.out.read_text().splitlines()

    def wait_for_line(self, start: str, count: int = 1, timeout: float = SETTLE_TIMEOUT) -> list[str]:
        def found() -> list[str]:
            if self.process.poll() is not None:
                pytest.fail(f"The watcher exited with {self.process.returncode}: {self.err.read_text()}")
            return [line for line in self.lines() if line.startswith(start)][count - 1 :]

        wait_until(found, timeout, f"{count} line(s) starting {start!r} in {self.lines()}")
        return [line for line in self.lines() if line.startswith(start)]

    def batches(self) -> int:
        return sum(1 for line in self.lines() if " changed: " in line)

    def quiet(self) -> None:
        """Until no batch has started for 0.6 s (three debounces): the changes made so far are all applied."""
        seen = -1
        while seen != self.batches():
            seen = self.batches()
            time.sleep(0.6)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=SETTLE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail("The watcher did not stop within 20 s of SIGTERM.")


@contextmanager
def watching(site: Site, *args: str, **overrides: object) -> Iterator[Watcher]:
    out, err = site.root / f"watch-{time.monotonic_ns()}.out", site.root / "watch.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(MANAGE), "collectmirror", "--watch", *args],
            env=site.env(**overrides),
            stdout=stdout,
            stderr=stderr,
        )
    watcher = Watcher(process, out, err)
    try:
        watcher.wait_for_line("Full reconcile at start", timeout=START_TIMEOUT)
        yield watcher
    finally:
        if process.poll() is None:
            status = watcher.stop()
            assert status == 0, err.read_text()


def test_a_new_file_reaches_the_mirror_within_two_seconds(site):
    with watching(site) as watcher:
        started = time.monotonic()
        (site.media / "photos" / "new.jpg").write_text("new")
        wait_until(lambda: (site.mirror / "media" / "photos" / "new.jpg").is_symlink())
        delay = time.monotonic() - started
        watcher.wait_for_line("1 directory changed: 1 file linked")

    assert delay < 2.0
    assert os.readlink(site.mirror / "media" / "photos" / "new.jpg") == str(site.media / "photos" / "new.jpg")


def test_renames_of_a_file_and_of_a_directory_end_as_a_full_run_does(site):
    (site.media / "photos" / "deep").mkdir()
    (site.media / "photos" / "deep" / "d.jpg").write_text("d")
    with watching(site, "--delete") as watcher:
        (site.media / "doc.txt").rename(site.media / "renamed.txt")
        (site.media / "photos").rename(site.media / "pictures")
        wait_until(lambda: (site.mirror / "media" / "pictures" / "deep" / "d.jpg").is_symlink())
        watcher.quiet()

        assert entries(site.mirror) == site.fresh()
        assert stray_directories(site) == []
        assert not (site.mirror / "media" / "photos").exists()
        assert not (site.mirror / "media" / "doc.txt").exists()
        assert site.verified()


def test_a_directory_moved_in_is_mirrored_whole(site):
    outside = site.root / "upload-staging"
    (outside / "2024" / "05").mkdir(parents=True)
    for index in range(20):
        (outside / "2024" / "05" / f"{index}.jpg").write_text(str(index))
    (outside / "2024" / "cover.jpg").write_text("cover")
    with watching(site, "--delete") as watcher:
        outside.rename(site.media / "albums")
        wait_until(lambda: (site.mirror / "media" / "albums" / "2024" / "05" / "19.jpg").is_symlink())
        (site.media / "albums" / "2024" / "05" / "later.jpg").write_text("later")  # its watch exists by now
        wait_until(lambda: (site.mirror / "media" / "albums" / "2024" / "05" / "later.jpg").is_symlink())
        watcher.quiet()

        assert entries(site.mirror) == site.fresh()
        assert stray_directories(site) == []
        assert site.verified()


def test_an_atomic_replace_by_temporary_file_and_rename_reaches_the_copy(site):
    elsewhere = site.root / "not-trusted"
    elsewhere.mkdir()
    site.settings["SYMLINKMIRROR_SYMLINK_WITHIN"] = [str(elsewhere)]
    with watching(site) as watcher:
        assert (site.mirror / "media" / "doc.txt").read_text() == "doc"  # a copy: the sources are not trusted
        temporary = site.media / ".doc.txt.tmp"
        temporary.write_text("version two")
        os.replace(temporary, site.media / "doc.txt")
        wait_until(lambda: (site.mirror / "media" / "doc.txt").read_text() == "version two")
        watcher.quiet()

        assert entries(site.mirror) == site.fresh()
        assert stray_directories(site) == []
        assert not (site.mirror / "media" / ".doc.txt.tmp").exists()
        assert site.verified()


def test_deletions_are_mirrored_with_delete(site):
    (site.media / "old" / "inner").mkdir(parents=True)
    (site.media / "old" / "inner" / "o.jpg").write_text("o")
    with watching(site, "--delete") as watcher:
        assert (site.mirror / "media" / "old" / "inner" / "o.jpg").is_symlink()
        (site.media / "photos" / "a.jpg").unlink()
        subprocess.run(["rm", "-r", str(site.media / "old")], check=True)
        wait_until(lambda: not (site.mirror / "media" / "old").exists())
        wait_until(lambda: not os.path.lexists(site.mirror / "media" / "photos" / "a.jpg"))
        watcher.quiet()

        assert entries(site.mirror) == site.fresh()
        assert stray_directories(site) == []
        assert site.verified()
    assert "Deleting 'media/old/inner/o.jpg'" not in watcher.lines()  # per-file messages start at -v 2


def test_without_delete_a_deleted_source_file_stays_in_the_mirror(site):
    with watching(site) as watcher:
        (site.media / "doc.txt").unlink()
        (site.media / "photos" / "b.jpg").write_text("b")  # a later change shows the first batch is done
        wait_until(lambda: (site.mirror / "media" / "photos" / "b.jpg").is_symlink())
        watcher.quiet()

    assert os.path.lexists(site.mirror / "media" / "doc.txt")


def test_a_queue_overflow_leads_to_a_full_reconcile(site):
    queued = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    count = queued // 2 + 2000  # each file raises CREATE and CLOSE_WRITE: more events than the queue holds
    with watching(site, "--delete") as watcher:
        watcher.process.send_signal(signal.SIGSTOP)  # nothing reads the queue while it fills
        try:
            burst = site.media / "photos"  # watched: each file made in it raises its events
            for index in range(count):
                (burst / f"{index}.txt").write_text("x")
            (site.media / "doc.txt").unlink()
        finally:
            watcher.process.send_signal(signal.SIGCONT)
        watcher.wait_for_line("Full reconcile: the kernel's event queue overflowed")
        watcher.quiet()

        assert entries(site.mirror) == site.fresh()
        assert stray_directories(site) == []
        assert len(os.listdir(site.mirror / "media" / "photos")) == count + 1
        assert site.verified()


def test_sigterm_finishes_the_batch_in_hand_and_exits_0(site):
    elsewhere = site.root / "not-trusted"
    elsewhere.mkdir()
    big = site.media / "big"
    big.mkdir()
    block = os.urandom(1 << 20)
    for index in range(150):
        (big / f"{index}.bin").write_bytes(block)
    out = site.root / "sigterm.out"
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, str(MANAGE), "collectmirror", "--watch", "-v", "3"],
            env=site.env(SYMLINKMIRROR_SYMLINK_WITHIN=[str(elsewhere)]),
            stdout=stdout,
            stderr=subprocess.PIPE,
        )
    wait_until(lambda: "Copying 'media/big/" in out.read_text(), START_TIMEOUT, "the first copy")
    process.send_signal(signal.SIGTERM)
    in_hand = "Full reconcile at start" not in out.read_text()
    status = process.wait(timeout=START_TIMEOUT)

    lines = out.read_text().splitlines()
    assert status == 0, process.stderr.read().decode() if process.stderr else ""
    assert in_hand  # the signal came while the first run was copying
    assert lines[-2].startswith("Full reconcile at start: 0 files linked, 153 copied")
    assert lines[-1] == "Stopped on signal 15."
    copies = sorted(os.listdir(site.mirror / "media" / "big"))
    assert copies == sorted(f"{index}.bin" for index in range(150))  # no temporary name left, none missing
    assert all((site.mirror / "media" / "big" / name).read_bytes() == block for name in copies)


def test_changed_urls_are_appended_batch_by_batch(site):
    urls = site.root / "changed-urls.txt"
    with watching(site, "--changed-urls", str(urls)) as watcher:
        (site.media / "one.txt").write_text("1")
        watcher.wait_for_line("1 directory changed")
        (site.media / "photos" / "two.jpg").write_text("2")
        watcher.wait_for_line("1 directory changed", count=2)

    assert urls.read_text().splitlines() == [
        "/media/doc.txt",
        "/media/photos/a.jpg",
        "/static/app.css",
        "/media/one.txt",
        "/media/photos/two.jpg",
    ]
    assert sorted(path.name for path in site.root.glob(".changed-urls-*")) == []


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


def test_purge_purges_each_batch_once_it_is_in_place(site, httpserver):
    zone = "023e105f4ecef8ad9ca31a8372d0c353"
    success = {"success": True, "errors": [], "messages": [], "result": {"id": "purge-1"}}
    httpserver.expect_request(f"/client/v4/zones/{zone}/purge_cache", method="POST").respond_with_json(success)
    options = {"zone_id": zone, "api_token": "t", "api_url": httpserver.url_for("/client/v4")}
    backends = {"cf": {"BACKEND": "symlinkmirror.purge.CloudflareBackend", "OPTIONS": options}}
    cdn = {"BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage", "OPTIONS": {"location": str(site.mirror)}}
    cdn["OPTIONS"]["base_url"] = "https://cdn.example.com/"
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "mirror": cdn,
    }
    with watching(site, "--delete", "--purge", SYMLINKMIRROR_PURGE=backends, STORAGES=storages) as watcher:
        (site.media / "photos" / "a.jpg").unlink()
        line = watcher.wait_for_line("1 directory changed")[0]

    purged = [url for request, _ in httpserver.log for url in json.loads(request.data)["files"]]
    assert purged == ["https://cdn.example.com/media/photos/a.jpg"]
    assert " Purge: 1 batch through 1 backend: 1 purged (1 URL), 0 failed" in line
    assert " Purge: 0 batches through 1 backend: 0 purged (0 URLs), 0 failed" in watcher.lines()[0]  # created only


def test_a_cron_run_interleaves_with_the_watcher(site):
    with watching(site, "--delete") as watcher:
        (site.media / "cron.txt").write_text("seen by cron")
        cron = site.manage("collectmirror", "--delete")
        watcher.quiet()

    assert cron.returncode == 0, cron.stderr
    assert (site.mirror / "media" / "cron.txt").is_symlink()


def test_a_batch_that_finds_the_mirror_locked_is_tried_again_once_it_is_free(site):
    with watching(site) as watcher:
        with mirror_lock(str(site.mirror)):
            (site.media / "while-locked.txt").write_text("w")
            watcher.wait_for_line("The mirror '")
            time.sleep(1.5)  # a try or two more, each refused
            assert not os.path.lexists(site.mirror / "media" / "while-locked.txt")
        wait_until(lambda: (site.mirror / "media" / "while-locked.txt").is_symlink())
        watcher.wait_for_line("The mirror is free again.")

    refused = [line for line in watcher.lines() if line.startswith("The mirror '")]
    assert refused == [
        f"The mirror '{site.mirror}' is locked by a run in progress (pid {os.getpid()}); try again when it ends. Trying again every 1 s."
    ]


def test_a_source_with_generations_is_run_whole_per_batch(site):
    sources = {"media": {"storage": "default", "prefix": "media", "generations": 2}}
    with watching(site, "--delete", SYMLINKMIRROR_SOURCES=sources) as watcher:
        (site.media / "photos" / "g.jpg").write_text("g")
        line = watcher.wait_for_line("1 directory changed")[0]
        wait_until(lambda: (site.mirror / "media" / "photos" / "g.jpg").is_symlink())

    assert line.startswith("1 directory changed, 'media' run whole (generations): 1 file linked")
    assert os.path.islink(site.mirror / "media")  # the generation served


def test_reconcile_interval_without_watch_polls(site):
    out = site.root / "poll.out"
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, str(MANAGE), "collectmirror", "--reconcile-interval", "1"],
            env=site.env(),
            stdout=stdout,
            stderr=subprocess.PIPE,
        )
    try:
        wait_until(lambda: "Full reconcile at start" in out.read_text(), START_TIMEOUT)
        (site.media / "polled.txt").write_text("p")
        wait_until(lambda: (site.mirror / "media" / "polled.txt").is_symlink())
    finally:
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=SETTLE_TIMEOUT)

    assert status == 0
    assert "Periodic full reconcile: 1 file linked" in out.read_text()
    assert " changed: " not in out.read_text()


def test_without_inotify_watch_fails_naming_the_polling_fallback(site):
    # A user namespace of its own, allowed no inotify instance: inotify_init1() fails there with EMFILE.
    command = (
        "echo 0 > /proc/sys/user/max_inotify_instances && "
        f"exec {sys.executable} {MANAGE} collectmirror --watch --noinput"
    )
    result = subprocess.run(
        ["unshare", "-U", "-r", "sh", "-c", command], env=site.env(), capture_output=True, text=True
    )

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "CommandError: --watch cannot run: inotify is unavailable: Too many open files. Without inotify, run with "
        "--reconcile-interval SECONDS and without --watch to poll, a full reconcile every SECONDS."
    )
    assert not (site.mirror / "media").exists()


@pytest.mark.parametrize(("flag", "shown"), [("--dry-run", "--dry-run"), ("--clear", "--clear"), ("--json", "--json")])
def test_watch_refuses_the_options_of_a_single_run(flag, shown, mirror_in_tmp_path):
    with pytest.raises(CommandError, match=f"^{shown} cannot be combined with --watch or --reconcile-interval"):
        call_command("collectmirror", "--watch", flag, "--noinput", stdout=io.StringIO())
