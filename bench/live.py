"""Live mirroring under `collectmirror --watch`: the delay from a file's creation to its mirror entry, and idle CPU.

bench/run.py calls bench_live() for `--parts live`; it returns the section of the results it adds.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IDLE_SECONDS = 10.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process so far, from /proc/PID/stat (fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"live bench: no {what} within {timeout} s")
        time.sleep(0.005)


def bench_live(bench_dir: Path, *, singles: int = 50, burst: int = 10_000) -> str:
    """Start a watcher over an empty media tree; time single files, then a burst; measure it idle."""
    root = bench_dir / "live"
    shutil.rmtree(root, ignore_errors=True)
    media, static, mirror = root / "media", root / "static", root / "mirror"
    for folder in (media / "single", media / "burst", static):
        folder.mkdir(parents=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "testproject.settings",
        "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}",
        "MEDIA_ROOT": str(media),
        "STATIC_ROOT": str(static),
        "SYMLINKMIRROR_ROOT": str(mirror),
        "PYTHONUNBUFFERED": "1",
    }
    log = root / "watch.log"
    with log.open("wb") as output:
        watcher = subprocess.Popen(
            [sys.executable, "manage.py", "collectmirror", "--watch", "--delete"],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "Full reconcile at start" in log.read_text(), 60, "first full run")
        time.sleep(1.0)
        print(f"  live: watcher idle for {IDLE_SECONDS:g} s", flush=True)
        before = cpu_seconds(watcher.pid)
        time.sleep(IDLE_SECONDS)
        idle = (cpu_seconds(watcher.pid) - before) / IDLE_SECONDS

        print(f"  live: {singles} single files", flush=True)
        single: list[float] = []
        for index in range(singles):
            entry = mirror / "media" / "single" / f"{index}.txt"
            created = time.monotonic()
            (media / "single" / f"{index}.txt").write_text("x")
            wait_for(lambda entry=entry: os.path.lexists(entry), 30, f"mirror entry for single file {index}")
            single.append(time.monotonic() - created)
            time.sleep(0.3)  # each file its own batch

        print(f"  live: a burst of {burst} files", flush=True)
        created_at: dict[str, float] = {}
        for index in range(burst):
            name = f"{index}.txt"
            (media / "burst" / name).write_text("x")
            created_at[name] = time.monotonic()
        written = time.monotonic()
        seen_at: dict[str, float] = {}
        deadline = time.monotonic() + 300
        target = mirror / "media" / "burst"
        while len(seen_at) < burst and time.monotonic() < deadline:
            now = time.monotonic()
            if target.is_dir():
                for entry in os.scandir(target):
                    seen_at.setdefault(entry.name, now)
            time.sleep(0.01)
        if len(seen_at) < burst:
            raise SystemExit(f"live bench: {burst - len(seen_at)} burst files never reached the mirror")
        bursts = [seen_at[name] - created_at[name] for name in created_at]
        last = max(seen_at.values()) - written
        overflowed = "overflowed" in log.read_text()
    finally:
        watcher.send_signal(signal.SIGTERM)
        status = watcher.wait(timeout=60)
    if status != 0:
        raise SystemExit(f"live bench: the watcher exited with {status}:\n{log.read_text()}")
    shutil.rmtree(root, ignore_errors=True)
    ms = 1000.0
    rows = [
        "| live mirroring (`collectmirror --watch`, debounce 0.2 s) | median ms | p99 ms | max ms |",
        "|---|---:|---:|---:|",
        f"| single file, creation to mirror entry ({singles} files) | {statistics.median(single) * ms:.0f} "
        f"| {percentile(single, 0.99) * ms:.0f} | {max(single) * ms:.0f} |",
        f"| burst of {burst} files, each creation to its entry | {statistics.median(bursts) * ms:.0f} "
        f"| {percentile(bursts, 0.99) * ms:.0f} | {max(bursts) * ms:.0f} |",
    ]
    notes = (
        f"The burst took {(written - min(created_at.values())):.2f} s to write; its last entry appeared "
        f"{last:.2f} s after the last file was written{' (the event queue overflowed: a full reconcile ran)' if overflowed else ''}. "
        f"Idle watcher: {idle * 100:.2f}% of one core over {IDLE_SECONDS:g} s (from /proc/PID/stat)."
    )
    return "\n".join(rows) + "\n\n" + notes + "\n"
