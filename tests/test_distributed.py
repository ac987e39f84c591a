"""collectmirror and verifymirror --distributed with real db_worker processes, on SQLite and on PostgreSQL.

Everything runs as it would on a fleet: the coordinator and each worker are
manage.py processes of their own sharing one database, and the mirror they
build is compared with a single process's, entry by entry.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import manage_env
from .postgres import Postgres, running_postgres

MANAGE = [sys.executable, "manage.py"]
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with running_postgres() as server:
        yield server


def build_sources(media: Path, static: Path) -> None:
    """Media (linked) in a skewed tree, static files (copied), a source link and a name that is not UTF-8."""
    for top in range(6):
        for sub in range(3 if top else 12):
            directory = media / f"d{top}" / f"s{sub}"
            directory.mkdir(parents=True)
            for i in range(4):
                (directory / f"f{i}.txt").write_text(f"{top}/{sub}/{i}")
        (media / f"d{top}" / "top.txt").write_text(str(top))
    (media / "root.txt").write_text("root")
    (media / "d1" / "s0" / "alias.txt").symlink_to("f0.txt")
    (media / "d0" / "s1" / "to_d4").symlink_to(media / "d4")  # another shard's directory: a duplicate path
    os.makedirs(os.fsencode(media / "d2") + b"/caf\xe9")
    with open(os.fsencode(media / "d2") + b"/caf\xe9/menu.txt", "w") as handle:
        handle.write("menu")
    for sub in ("css", "js"):
        (static / sub).mkdir(parents=True)
        for i in range(3):
            (static / sub / f"app{i}.{sub}").write_text(f"{sub} {i}")


def change_sources(media: Path, static: Path) -> None:
    (media / "d0" / "s3" / "new.txt").write_text("new")
    (media / "d4" / "s1" / "f2.txt").unlink()
    shutil.rmtree(media / "d5" / "s2")
    (media / "d5" / "s2").write_text("a file where a directory was")
    (static / "css" / "app1.css").write_text("css 1, edited")


def damage(mirror: Path) -> None:
    (mirror / "media" / "d3" / "s0" / "f1.txt").unlink()
    (mirror / "media" / "d3" / "stray").mkdir()
    (mirror / "media" / "d3" / "stray" / "orphan.txt").write_text("orphan")
    (mirror / "static" / "js" / "app0.js").unlink()
    (mirror / "static" / "js" / "app0.js").write_text("stale bytes")
    (mirror / "outside.txt").write_text("unmanaged")


def entries(mirror: Path) -> dict[bytes, tuple]:
    """Every entry: a link's resolved target, a copy's bytes, or a directory; the lock file left out."""
    found: dict[bytes, tuple] = {}
    root = os.fsencode(mirror)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if rel == b".symlinkmirror.lock":
                continue
            if os.path.islink(path):
                found[rel] = ("link", os.path.realpath(path))
            elif os.path.isdir(path):
                found[rel] = ("dir",)
            else:
                with open(path, "rb") as handle:
                    found[rel] = ("copy", handle.read(), oct(os.stat(path).st_mode & 0o777))
    return found


@dataclass
class Fleet:
    """A site whose media and static folders are mirrored twice: by one process, and by a coordinator and workers."""

    base: Path
    databases: dict
    settings: dict = field(default_factory=dict)
    workers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def media(self) -> Path:
        return self.base / "media"

    @property
    def static(self) -> Path:
        return self.base / "static"

    def env(self, mirror: str, **extra: object) -> dict[str, str]:
        return manage_env(
            DATABASES=self.databases,
            MEDIA_ROOT=self.media,
            STATIC_ROOT=self.static,
            SYMLINKMIRROR_ROOT=self.base / mirror,
            SYMLINKMIRROR_SYMLINK_WITHIN=[str(self.media)],
            SYMLINKMIRROR_TASK_BACKEND="database",
            **{**self.settings, **extra},
        )

    def manage(self, mirror: str, *args: str, check: bool = True, **extra: object) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*MANAGE, *args], cwd=REPO, env=self.env(mirror, **extra), capture_output=True, text=True, timeout=300
        )
        if check:
            assert result.returncode in (0, 1), f"{args} exited {result.returncode}:\n{result.stderr}"
        return result

    def start_workers(self, count: int, mirror: str = "distributed") -> None:
        for _ in range(count):
            self.workers.append(
                subprocess.Popen(
                    [*MANAGE, "db_worker", "--backend", "database", "--interval", "0.05"]
                    + ["--no-startup-delay", "--no-reload", "-v", "0"],
                    cwd=REPO,
                    env=self.env(mirror),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self.workers = []

    def collect(self, mirror: str, *args: str, **extra: object) -> tuple[dict, list[str]]:
        urls = self.base / f"{mirror}-urls.txt"
        result = self.manage(mirror, "collectmirror", "--delete", "--json", "--changed-urls", str(urls), *args, **extra)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout), sorted(urls.read_text().splitlines())

    def verify(self, mirror: str, *args: str) -> dict:
        return json.loads(self.manage(mirror, "verifymirror", "--json", *args).stdout)


@contextmanager
def fleet_on(base: Path, databases: dict, **settings: object) -> Iterator[Fleet]:
    fleet = Fleet(base, databases, dict(settings))
    build_sources(fleet.media, fleet.static)
    migrated = fleet.manage("single", "migrate", "--noinput", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    try:
        yield fleet
    finally:
        fleet.stop_workers()


def sqlite(base: Path) -> dict:
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(base / "db.sqlite3"),
            "OPTIONS": {"timeout": 60},
        }
    }


def totals(document: dict) -> dict:
    return {"totals": document["totals"], "sources": document["sources"], "errors": document["errors"]}


def findings(document: dict) -> list[tuple[str, str]]:
    return sorted((finding["category"], finding["name"]) for finding in document["findings"])


@pytest.mark.parametrize(
    ("database", "workers", "shard_seconds"),
    [("sqlite", 2, 60), ("postgres", 4, 0)],
)
def test_a_distributed_run_builds_and_refreshes_the_mirror_a_single_run_does(
    tmp_path, request, database, workers, shard_seconds
):
    """shard_seconds 0: every shard hands its subdirectories off at once, so the shards multiply as they run."""
    databases = (
        sqlite(tmp_path) if database == "sqlite" else request.getfixturevalue("postgres").database(tmp_path.name[-60:])
    )
    with fleet_on(tmp_path, databases, SYMLINKMIRROR_SHARD_SECONDS=shard_seconds) as fleet:
        fleet.start_workers(workers)
        single = fleet.collect("single")
        distributed = fleet.collect("distributed", "--distributed", "--shards", "8")
        assert totals(distributed[0]) == totals(single[0])
        assert distributed[1] == single[1]
        assert single[0]["totals"]["linked"] > 90 and single[0]["totals"]["copied"] == 6
        assert entries(tmp_path / "distributed") == entries(tmp_path / "single")

        change_sources(fleet.media, fleet.static)
        for mirror in ("single", "distributed"):
            damage(tmp_path / mirror)
        audit = fleet.verify("distributed", "--distributed", "--shards", "8")
        assert audit["clean"] is False
        assert findings(audit) == findings(fleet.verify("single"))
        assert audit["checked"] == fleet.verify("single")["checked"]

        single = fleet.collect("single")
        distributed = fleet.collect("distributed", "--distributed", "--shards", "8")
        assert totals(distributed[0]) == totals(single[0])
        assert distributed[1] == single[1]
        assert single[0]["totals"]["deleted"] >= 4 and single[0]["totals"]["replaced"] >= 1
        assert entries(tmp_path / "distributed") == entries(tmp_path / "single")
        assert fleet.verify("distributed", "--distributed")["clean"] is True


def leased_worker_pid(database: Path, timeout: float = 60) -> int:
    """The pid of the worker holding a shard that has begun its listing, once one does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(database, timeout=30) as conn:
            row = conn.execute(
                "SELECT worker FROM symlinkmirror_shard WHERE state = 'leased' AND rel != '' LIMIT 1"
            ).fetchone()
        if row:
            return int(row[0].rsplit(":", 1)[1])
        time.sleep(0.05)
    pytest.fail("no worker took a shard")


# Slow enough that a run outlasts the test's moves against it: it is killed long before it ends.
SLOWER_STORAGES = {
    "BACKEND": "testproject.storages.LatencyFileSystemStorage",
    "OPTIONS": {"latency": 0.2},
}
SLOW_STORAGES = {
    "BACKEND": "testproject.storages.LatencyFileSystemStorage",
    "OPTIONS": {"latency": 0.03},
}


def test_a_worker_killed_in_the_middle_of_a_shard_leaves_a_run_that_still_converges(tmp_path):
    with fleet_on(tmp_path, sqlite(tmp_path), SYMLINKMIRROR_LEASE_SECONDS=2) as fleet:
        single = fleet.collect("single")
        slow = {"STORAGES": _storages(tmp_path / "distributed", default=SLOW_STORAGES)}
        fleet.settings.update(slow)
        fleet.start_workers(1)
        urls = tmp_path / "killed-urls.txt"
        coordinator = subprocess.Popen(
            [
                *MANAGE,
                "collectmirror",
                "--distributed",
                "--shards",
                "4",
                "--delete",
                "--json",
                "--changed-urls",
                str(urls),
            ],
            cwd=REPO,
            env=fleet.env("distributed"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        victim = leased_worker_pid(tmp_path / "db.sqlite3")
        time.sleep(0.3)  # into its listing
        os.kill(victim, signal.SIGKILL)
        fleet.start_workers(2)
        out, err = coordinator.communicate(timeout=240)
        assert coordinator.returncode == 0, err
        assert entries(tmp_path / "distributed") == entries(tmp_path / "single")
        # What the dead attempt made may be listed as well as what its retry made: never less than a single run's.
        assert set(single[1]) <= set(urls.read_text().splitlines())
        assert json.loads(out)["totals"]["failed"] == 0
        assert fleet.verify("distributed")["clean"] is True


def _storages(mirror: Path, default: dict | None = None) -> dict:
    return {
        "default": default or {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "mirror": {
            "BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage",
            "OPTIONS": {"location": str(mirror), "base_url": "/"},
        },
    }


@pytest.mark.parametrize("lock", ["file", "database"])
def test_a_second_coordinator_fails_at_once_with_status_75(tmp_path, lock):
    with fleet_on(tmp_path, sqlite(tmp_path), SYMLINKMIRROR_LOCK=lock, SYMLINKMIRROR_LEASE_SECONDS=6) as fleet:
        fleet.settings["STORAGES"] = _storages(tmp_path / "distributed", default=SLOWER_STORAGES)
        fleet.start_workers(1)
        first = subprocess.Popen(
            [*MANAGE, "collectmirror", "--distributed", "--shards", "4"],
            cwd=REPO,
            env=fleet.env("distributed"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        leased_worker_pid(tmp_path / "db.sqlite3")
        started = time.monotonic()
        second = fleet.manage("distributed", "collectmirror", "--distributed", check=False)
        assert second.returncode == 75, second.stderr
        assert "locked" in second.stderr and time.monotonic() - started < 30
        single = fleet.manage("distributed", "collectmirror", check=False)
        assert single.returncode == 75
        first.send_signal(signal.SIGKILL)  # a coordinator that dies, and its fleet with it
        first.communicate()
        killed = time.monotonic()
        for worker in fleet.workers:
            worker.kill()
        fleet.stop_workers()
        fast = _storages(tmp_path / "distributed")
        if lock == "database":
            # Its lease row outlives it until it expires, then the mirror is free again.
            assert fleet.manage("distributed", "collectmirror", check=False, STORAGES=fast).returncode == 75
            time.sleep(max(0.0, 6.5 - (time.monotonic() - killed)))
        again = fleet.manage("distributed", "collectmirror", "--delete", check=False, STORAGES=fast)
        assert again.returncode == 0, again.stderr
        audit = fleet.manage("distributed", "verifymirror", "--json", STORAGES=fast)
        assert json.loads(audit.stdout)["clean"] is True
