"""Distributed runs: speed-up with 1, 2, 4 workers on local disk, and 1 to 16 on simulated shared storage.

bench/run.py calls bench_distributed() for `--parts distributed`; it returns the
section of the results it adds, and draws the speed-up curve as a PNG when
matplotlib (the 'bench' extra) is installed. Every run is a real coordinator
and real `manage.py db_worker` processes sharing one SQLite database.

The simulated shared storage is testproject.storages.LatencyFileSystemStorage:
each listing and each entry it lists waits a fixed latency, as a metadata call
to NFS or EFS does; the CPU then waits too, so more workers than cores help.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LOCAL_WORKERS = (1, 2, 4)
LATENCY_WORKERS = (1, 2, 4, 8, 16)
LATENCY = 0.001  # seconds per metadata call


def make_tree(root: Path, directories: int, files_per_directory: int) -> None:
    if root.exists():
        return
    for d in range(directories):
        directory = root / f"d{d // 20:02d}" / f"s{d % 20:02d}"
        directory.mkdir(parents=True)
        for f in range(files_per_directory):
            (directory / f"f{f:03d}.txt").write_bytes(b"x" * 100)


def settings(bench_dir: Path, media: Path, mirror: Path, latency: float | None) -> dict[str, str]:
    values: dict[str, object] = {
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(bench_dir / "distributed.sqlite3"),
                # Several writers: WAL lets the coordinator read while workers write, NORMAL spares an fsync a commit.
                "OPTIONS": {"timeout": 60, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
            }
        },
        "MEDIA_ROOT": str(media),
        "STATIC_ROOT": str(bench_dir / "empty-static"),
        "SYMLINKMIRROR_ROOT": str(mirror),
        "SYMLINKMIRROR_TASK_BACKEND": "database",
    }
    if latency is not None:
        values["STORAGES"] = {
            "default": {"BACKEND": "testproject.storages.LatencyFileSystemStorage", "OPTIONS": {"latency": latency}},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
            "mirror": {
                "BACKEND": "symlinkmirror.storage.SymlinkOrCopyStorage",
                "OPTIONS": {"location": str(mirror), "base_url": "/"},
            },
        }
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "SYMLINKMIRROR_TEST_SETTINGS": json.dumps(values),
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(
    bench_dir: Path, media: Path, workers: int, latency: float | None, rounds: int, shards: int
) -> tuple[float, float]:
    """(median seconds of a first run, the workers' largest peak RSS in MB) for one worker count; 0 workers: single."""
    mirror = bench_dir / "distributed-mirror"
    env = settings(bench_dir, media, mirror, latency)
    pool = [
        subprocess.Popen(
            [PYTHON, "manage.py", "db_worker", "--backend", "database", "--interval", "0.05"]
            + ["--no-startup-delay", "--no-reload", "-v", "0"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        time.sleep(1.5 if pool else 0)  # the workers' own start-up is not the run's
        times = []
        for _ in range(rounds):
            shutil.rmtree(mirror, ignore_errors=True)
            argv = [PYTHON, "manage.py", "collectmirror"]
            if pool:
                argv += ["--distributed", "--shards", str(shards)]
            times.append(timed(argv, env))
        rss = max((peak_rss_mb(worker.pid) for worker in pool), default=0.0)
    finally:
        for worker in pool:
            worker.send_signal(signal.SIGTERM)
        for worker in pool:
            worker.wait()
    return statistics.median(times), rss


def bench_distributed(bench_dir: Path, *, rounds: int = 3, files: int = 20_000) -> str:
    media = bench_dir / f"distributed-media-{files}"
    make_tree(media, directories=files // 100, files_per_directory=100)
    (bench_dir / "empty-static").mkdir(exist_ok=True)
    migrate = settings(bench_dir, media, bench_dir / "distributed-mirror", None)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=migrate, check=True)
    lines = [
        f"Distributed first run of {files} files in {files // 100} directories (SQLite queue, median of {rounds}):",
        "",
        "| storage | workers | seconds | speed-up vs 1 worker | vs single process | peak RSS per worker, MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for label, latency, counts, shards in (
        ("local disk", None, LOCAL_WORKERS, 32),
        (f"{LATENCY * 1000:g} ms per metadata call", LATENCY, LATENCY_WORKERS, 64),
    ):
        single, _ = measure(bench_dir, media, 0, latency, rounds, shards)
        lines.append(f"| {label} | single process | {single:.2f} | | 1.00 | |")
        base = None
        xs, ys = [], []
        for count in counts:
            seconds, rss = measure(bench_dir, media, count, latency, rounds, shards)
            base = base or seconds
            lines.append(
                f"| {label} | {count} | {seconds:.2f} | {base / seconds:.2f} | {single / seconds:.2f} | {rss:.0f} |"
            )
            xs.append(count)
            ys.append(base / seconds)
        curves[label] = (xs, ys)
    plot = draw(curves, bench_dir / "distributed-scaling.png")
    if plot:
        lines += ["", f"Speed-up curve: {plot}"]
    return "\n".join(lines) + "\n"


def draw(curves: dict[str, tuple[list[int], list[float]]], path: Path) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ""  # the 'bench' extra is not installed: the table says it all
    figure, axes = plt.subplots(figsize=(6, 4))
    top = max(max(xs) for xs, _ in curves.values())
    axes.plot([1, top], [1, top], linestyle=":", color="grey", label="linear")
    for label, (xs, ys) in curves.items():
        axes.plot(xs, ys, marker="o", label=label)
    axes.set_xscale("log", base=2)
    axes.set_yscale("log", base=2)
    axes.set_xlabel("db_worker processes")
    axes.set_ylabel("speed-up over 1 worker")
    axes.set_title("collectmirror --distributed, first run (2 cores)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return str(path)
