"""Benchmark collectmirror and verifymirror against the standard tools, side by side.

Every command runs as its own process, in alternating order, for several rounds;
the table shows medians, ratios to a reference tool measured in the same run, and
each command's peak RSS (from wait4). Run with `make bench`; see --help.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from corpus import make_corpus  # noqa: E402
from distributed import bench_distributed  # noqa: E402
from live import bench_live  # noqa: E402

PYTHON = sys.executable


def run(
    argv: list[str], env: dict[str, str] | None = None, check: bool = True, cwd: Path = REPO
) -> tuple[float, float, str]:
    """Run one command; return (seconds, its own peak RSS in MB, stdout).

    GNU time reports the RSS: a child forked straight from this (large) process
    would count the pages it shares with it at fork time. Its own cost is a
    fork and an exec, the same for every command measured.
    """
    with tempfile.NamedTemporaryFile("r") as rss_file:
        started = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, *argv],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        elapsed = time.perf_counter() - started
        peak_kb = int((rss_file.read().strip().splitlines() or ["0"])[-1])
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed with status {proc.returncode}")
    return elapsed, peak_kb / 1024, proc.stdout.decode(errors="replace")


def django_env(bench_dir: Path, media: Path, mirror: Path, *, symlink_within: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    empty = bench_dir / "empty-static"
    empty.mkdir(exist_ok=True)
    env.update(
        DJANGO_SETTINGS_MODULE="testproject.settings",
        DATABASE_URL=f"sqlite:///{bench_dir / 'db.sqlite3'}",
        MEDIA_ROOT=str(media),
        STATIC_ROOT=str(empty),
        SYMLINKMIRROR_ROOT=str(mirror),
    )
    if symlink_within is not None:
        env["SYMLINKMIRROR_SYMLINK_WITHIN"] = symlink_within
    return env


def manage(*args: str) -> list[str]:
    return [PYTHON, "manage.py", *args]


def remove(path: Path) -> None:
    if path.exists() or path.is_symlink():
        subprocess.run(["rm", "-rf", str(path)], check=True)


def corpus(bench_dir: Path, name: str, count: int, *, small: bool) -> Path:
    root = bench_dir / name
    marker = root / ".complete"
    if not marker.exists():
        remove(root)
        root.mkdir(parents=True)
        print(f"  making {name}: {count} files ...", flush=True)
        make_corpus(str(root), count, small=small)
        marker.touch()
    return root


def count_text(count: int) -> str:
    return f"{count // 1000}k" if count >= 1000 else str(count)


class Code:
    """A version of symlinkmirror to measure: this checkout, or a baseline commit's worktree.

    manage.py puts its own folder first on sys.path, so running it from a
    worktree imports that worktree's symlinkmirror and testproject, with the
    same interpreter and dependencies.
    """

    def __init__(self, root: Path, tag: str = "") -> None:
        self.root, self.tag = root, tag

    def label(self, text: str) -> str:
        return f"{text} @{self.tag}" if self.tag else text


def baseline_worktree(bench_dir: Path, rev: str) -> Code:
    """A detached worktree of rev under bench_dir, made once per commit."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", f"{rev}^{{commit}}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    root = bench_dir / f"baseline-{commit}"
    if not (root / "manage.py").exists():
        remove(root)
        subprocess.run(["git", "worktree", "prune"], cwd=REPO, check=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(root), commit], cwd=REPO, check=True)
    return Code(root, commit)


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, list[float], float, str, float]] = []
        self.baseline: list[tuple[str, str, str]] = []  # (group, label, baseline label)

    def add(self, group: str, label: str, times: list[float], rss: float, reference: str = "", ref_median: float = 0.0):
        self.rows.append((group, label, times, rss, reference, ref_median))

    def median(self, label: str, group: str | None = None) -> float:
        for row_group, row_label, times, *_ in self.rows:
            if row_label == label and group in (None, row_group):
                return statistics.median(times)
        raise KeyError(label)

    def against(self, group: str, label: str, baseline_label: str) -> None:
        self.baseline.append((group, label, baseline_label))

    def render_baseline(self) -> str:
        if not self.baseline:
            return ""
        lines = [
            "| group | command | this checkout, median s | baseline, median s | ratio |",
            "|---|---|---:|---:|---:|",
        ]
        for group, label, baseline_label in self.baseline:
            mine, theirs = self.median(label, group), self.median(baseline_label, group)
            lines.append(f"| {group} | {label} | {mine:.2f} | {theirs:.2f} | {mine / theirs:.2f} |")
        return "\n".join(lines)

    def render(self) -> str:
        lines = [
            "| group | command | median s | runs | vs | ratio | peak RSS MB |",
            "|---|---|---:|---:|---|---:|---:|",
        ]
        for group, label, times, rss, reference, _ in self.rows:
            median = statistics.median(times)
            ratio = f"{median / self.median(reference, group):.2f}" if reference else ""
            lines.append(f"| {group} | {label} | {median:.2f} | {len(times)} | {reference} | {ratio} | {rss:.0f} |")
        return "\n".join(lines)


def bench_small(table: Table, bench_dir: Path, count: int, rounds: int, codes: list[Code]) -> None:
    """Metadata-bound: links only, against cp -as, rsync -a and find -xtype l."""
    group = f"{count_text(count)} small files"
    src = corpus(bench_dir, f"small-{count}", count, small=True)
    mirror = bench_dir / "mirror-small"
    cp_dst, rsync_dst, loop_dst = bench_dir / "cp-as", bench_dir / "rsync", bench_dir / "pyloop"
    env = django_env(bench_dir, src, mirror)
    times: dict[str, list[float]] = {}
    rss: dict[str, float] = {}

    def measure(label: str, argv: list[str], environ: dict[str, str] | None = None, cwd: Path = REPO) -> str:
        elapsed, peak, out = run(argv, environ, cwd=cwd)
        times.setdefault(label, []).append(elapsed)
        rss[label] = max(rss.get(label, 0.0), peak)
        return out

    def collect(code: Code, index: int) -> None:
        remove(mirror)
        measure(code.label("collectmirror (first run)"), manage("collectmirror", "-v", "0"), env, code.root)
        measure(code.label("collectmirror (no-op)"), manage("collectmirror", "-v", "0", "--delete"), env, code.root)
        expected = change_one_percent(src, mirror, seed=index)
        out = measure(
            code.label("collectmirror (1% changed)"), manage("collectmirror", "--json", "--delete"), env, code.root
        )
        check_caught(json.loads(out), expected)
        undo_additions(src, expected)
        run(manage("collectmirror", "-v", "0", "--delete"), env, cwd=code.root)
        measure("find -xtype l", ["find", str(mirror), "-xtype", "l"])
        measure(code.label("verifymirror"), manage("verifymirror", "-v", "0"), env, code.root)

    for index in range(rounds):
        print(f"  {group}: round {index + 1}/{rounds}", flush=True)
        steps: list[str | Code] = ["cp", "loop", *codes, "rsync"]
        if index % 2:
            steps.reverse()
        for step in steps:
            if step == "cp":
                remove(cp_dst)
                measure("cp -as", ["cp", "-as", str(src), str(cp_dst)])
            elif step == "loop":
                remove(loop_dst)
                measure("python scandir+symlink loop", [PYTHON, str(HERE / "pyloop.py"), str(src), str(loop_dst)])
            elif step == "rsync":
                remove(rsync_dst)
                measure("rsync -a (first)", ["rsync", "-a", f"{src}/", f"{rsync_dst}/"])
                measure("rsync -a (no-op)", ["rsync", "-a", f"{src}/", f"{rsync_dst}/"])
            else:
                assert isinstance(step, Code)
                collect(step, index)

    def add(label: str, reference: str = "") -> None:
        table.add(group, label, times[label], rss[label], reference)

    add("cp -as")
    add("python scandir+symlink loop", "cp -as")
    add("rsync -a (first)", "cp -as")
    add("rsync -a (no-op)")
    add("find -xtype l")
    for code in codes:
        add(code.label("collectmirror (first run)"), "cp -as")
        add(code.label("collectmirror (no-op)"), "rsync -a (no-op)")
        add(code.label("collectmirror (1% changed)"), code.label("collectmirror (no-op)"))
        add(code.label("verifymirror"), "find -xtype l")
    for baseline in codes[1:]:
        for text in (
            "collectmirror (first run)",
            "collectmirror (no-op)",
            "collectmirror (1% changed)",
            "verifymirror",
        ):
            table.against(group, text, baseline.label(text))


def change_one_percent(src: Path, mirror: Path, seed: int) -> dict[str, int]:
    """Touch 1% of the entries in ways a refresh must catch; return what it must report."""
    rng = random.Random(seed)
    links = [Path(dirpath) / name for dirpath, _dirs, names in os.walk(mirror / "media") for name in names]
    rng.shuffle(links)
    share = max(3, len(links) // 300)
    repointed, deleted = links[:share], links[share : 2 * share]
    for link in repointed:  # a changed link target: must be replaced
        os.unlink(link)
        os.symlink(str(links[-1].resolve()), link)
    for link in deleted:  # a lost entry: must be created again
        os.unlink(link)
    added = []
    for index in range(share):  # a new source file: must be linked
        path = src / "added" / f"new-{seed}-{index}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text("new")
        added.append(path)
    return {"replaced": len(repointed), "linked": len(deleted) + len(added), "added": len(added)}


def undo_additions(src: Path, expected: dict[str, int]) -> None:
    remove(src / "added")


def check_caught(report: dict, expected: dict[str, int]) -> None:
    totals = report["totals"]
    if totals["replaced"] != expected["replaced"] or totals["linked"] != expected["linked"]:
        raise SystemExit(f"The 1% refresh missed changes: expected {expected}, got {totals}")


def bench_collectstatic(table: Table, bench_dir: Path, count: int, rounds: int, scale_to: int) -> None:
    """collectstatic --link on a smaller tree, scaled linearly to scale_to files."""
    group = f"{scale_to // 1000}k small files"
    src = corpus(bench_dir, f"small-{count}", count, small=True)
    static_root = bench_dir / "collectstatic-root"
    env = django_env(bench_dir, bench_dir / "empty-static", bench_dir / "unused-mirror")
    env["STATICFILES_DIRS"] = str(src)
    env["STATIC_ROOT"] = str(static_root)
    times: list[float] = []
    peak = 0.0
    for _ in range(rounds):
        remove(static_root)
        elapsed, rss, _ = run(manage("collectstatic", "--link", "--noinput", "-v", "0"), env)
        times.append(elapsed * scale_to / count)
        peak = max(peak, rss)
    table.add(group, f"collectstatic --link (first run, {count // 1000}k scaled)", times, peak, "cp -as")


def bench_checksum(table: Table, bench_dir: Path, count: int, rounds: int, codes: list[Code]) -> None:
    """Content-bound: every entry a copy, against rsync -anc and sha256sum."""
    src = corpus(bench_dir, f"real-{count}", count, small=False)
    size = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    group = f"{count_text(count)} files, {size / 1e9:.1f} GB"
    mirror = bench_dir / "mirror-copies"
    nowhere = bench_dir / "no-links-here"
    nowhere.mkdir(exist_ok=True)
    env = django_env(bench_dir, src, mirror, symlink_within=str(nowhere))
    if not (mirror / "media").exists():
        run(manage("collectmirror", "-v", "0", "--workers", "2"), env)
    times: dict[str, list[float]] = {}
    rss: dict[str, float] = {}
    sha_cmd = f"find '{src}' '{mirror / 'media'}' -type f -print0 | xargs -0 sha256sum > /dev/null"
    for index in range(rounds):
        print(f"  {group}: round {index + 1}/{rounds}", flush=True)
        steps: list[tuple[str, list[str], dict[str, str] | None, Path]] = [
            ("rsync -anc", ["rsync", "-anc", f"{src}/", f"{mirror / 'media'}/"], None, REPO),
            ("sha256sum (both trees)", ["sh", "-c", sha_cmd], None, REPO),
        ]
        for code in codes:
            steps.append(
                (code.label("verifymirror --checksum"), manage("verifymirror", "-v", "0", "--checksum"), env, code.root)
            )
            steps.append((code.label("verifymirror (size+mtime)"), manage("verifymirror", "-v", "0"), env, code.root))
        if index % 2:
            steps.reverse()
        for label, argv, environ, cwd in steps:
            elapsed, peak, _ = run(argv, environ, cwd=cwd)
            times.setdefault(label, []).append(elapsed)
            rss[label] = max(rss.get(label, 0.0), peak)
    table.add(group, "rsync -anc", times["rsync -anc"], rss["rsync -anc"])
    table.add(
        group, "sha256sum (both trees)", times["sha256sum (both trees)"], rss["sha256sum (both trees)"], "rsync -anc"
    )
    for code in codes:
        for text in ("verifymirror --checksum", "verifymirror (size+mtime)"):
            label = code.label(text)
            table.add(group, label, times[label], rss[label], "rsync -anc")
    for baseline in codes[1:]:
        for text in ("verifymirror --checksum", "verifymirror (size+mtime)"):
            table.against(group, text, baseline.label(text))


def bench_scaling(table: Table, bench_dir: Path, counts: list[int]) -> None:
    """collectmirror first run and no-op at growing N: cost per file should stay flat."""
    for count in counts:
        group = f"scaling, {count // 1000}k"
        src = corpus(bench_dir, f"small-{count}", count, small=True)
        mirror = bench_dir / f"mirror-scale-{count}"
        env = django_env(bench_dir, src, mirror)
        remove(mirror)
        first = run(manage("collectmirror", "-v", "0"), env)
        noop = run(manage("collectmirror", "-v", "0"), env)
        verify = run(manage("verifymirror", "-v", "0"), env)
        table.add(group, "collectmirror (first run)", [first[0]], first[1])
        table.add(group, "collectmirror (no-op)", [noop[0]], noop[1])
        table.add(group, "verifymirror", [verify[0]], verify[1])
        for label, (elapsed, *_rest) in (("first run", first), ("no-op", noop), ("verify", verify)):
            print(f"  {group}: {label} {elapsed / count * 1e6:.1f} µs per file", flush=True)
        remove(mirror)


def bench_generations(table: Table, bench_dir: Path, count: int, rounds: int) -> None:
    """A new generation against an in-place refresh, on the same corpus: what a generation costs per entry.

    Each round adds one file (so the generational mirror publishes a generation:
    every entry hard-linked, the plan applied, the switch, and the pruning of the
    oldest, as three are kept already) and measures both mirrors, then a run with
    nothing changed on each (which builds nothing).
    """
    group = f"{count_text(count)} small files, generations"
    src = corpus(bench_dir, f"small-{count}", count, small=True)
    mirrors = {"in place": bench_dir / "mirror-in-place", "generations": bench_dir / "mirror-generations"}
    envs = {
        "in place": django_env(bench_dir, src, mirrors["in place"]),
        "generations": {**django_env(bench_dir, src, mirrors["generations"]), "SYMLINKMIRROR_GENERATIONS": "3"},
    }
    for kind in mirrors:
        remove(mirrors[kind])
        run(manage("collectmirror", "-v", "0"), envs[kind])
    for index in range(3):  # the generations kept: from now on, each one published prunes one
        (src / "added").mkdir(exist_ok=True)
        (src / "added" / f"warm-{index}.txt").write_text("new")
        run(manage("collectmirror", "-v", "0"), envs["generations"])
    times: dict[str, list[float]] = {}
    rss: dict[str, float] = {}
    for index in range(rounds):
        print(f"  {group}: round {index + 1}/{rounds}", flush=True)
        (src / "added").mkdir(exist_ok=True)
        (src / "added" / f"round-{index}.txt").write_text("new")
        kinds = list(mirrors) if index % 2 == 0 else list(reversed(mirrors))
        for label in ("one file added", "nothing changed"):
            for kind in kinds:
                elapsed, peak, _ = run(manage("collectmirror", "-v", "0", "--delete"), envs[kind])
                times.setdefault(f"collectmirror, {label} ({kind})", []).append(elapsed)
                rss[f"collectmirror, {label} ({kind})"] = max(rss.get(f"collectmirror, {label} ({kind})", 0.0), peak)
    remove(src / "added")
    for label in ("one file added", "nothing changed"):
        reference = f"collectmirror, {label} (in place)"
        table.add(group, reference, times[reference], rss[reference])
        mine = f"collectmirror, {label} (generations)"
        table.add(group, mine, times[mine], rss[mine], reference)
        extra = statistics.median(times[mine]) - statistics.median(times[reference])
        print(f"  {group}: {label}, a generation costs {extra / count * 1e6:.1f} µs per entry more", flush=True)
    for mirror in mirrors.values():
        remove(mirror)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=str(HERE / "out"), help="Where corpora and mirrors go (default bench/out).")
    parser.add_argument("--files", type=int, default=100_000, help="Small-file corpus size (default 100000).")
    parser.add_argument("--rounds", type=int, default=5, help="Rounds per comparison (default 5).")
    parser.add_argument("--real-files", type=int, default=20_000, help="Realistic-size corpus (default 20000).")
    parser.add_argument("--collectstatic-files", type=int, default=10_000, help="collectstatic's smaller corpus.")
    parser.add_argument("--scale", default="10000,100000,1000000", help="Scaling counts, comma-separated.")
    parser.add_argument("--quick", action="store_true", help="A small, fast run: 10k files, 3 rounds, no 1M scaling.")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="Also measure this commit (built as a git worktree under --dir), alternating with this checkout, "
        "and add a table of this checkout's medians against it.",
    )
    parser.add_argument(
        "--parts",
        default="small,collectstatic,checksum,scaling,generations,live,distributed",
        help="Which comparisons to run, comma-separated (default: all seven).",
    )
    args = parser.parse_args()
    if args.quick:
        args.files, args.rounds, args.real_files, args.collectstatic_files = 10_000, 3, 2_000, 2_000
        args.scale = "10000,50000"
    for tool in ("rsync", "cp", "find", "sha256sum"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: `make bench` installs it (see .ci/install-os-packages).")
    bench_dir = Path(args.dir).resolve()
    bench_dir.mkdir(parents=True, exist_ok=True)
    table = Table()
    started = time.monotonic()
    print(f"Benchmarking on {machine()}", flush=True)
    parts = set(args.parts.split(","))
    codes = [Code(REPO)]
    if args.baseline:
        codes.append(baseline_worktree(bench_dir, args.baseline))
        print(f"Against the baseline {codes[1].tag}, in {codes[1].root}", flush=True)
    if "small" in parts:
        bench_small(table, bench_dir, args.files, args.rounds, codes)
    if "collectstatic" in parts:
        if "small" not in parts:  # its ratio is to cp -as, measured there
            raise SystemExit("--parts collectstatic needs small too.")
        bench_collectstatic(table, bench_dir, args.collectstatic_files, max(1, args.rounds // 2), args.files)
    if "checksum" in parts:
        bench_checksum(table, bench_dir, args.real_files, args.rounds, codes)
    if "scaling" in parts:
        bench_scaling(table, bench_dir, [int(n) for n in args.scale.split(",") if n])
    if "generations" in parts:
        bench_generations(table, bench_dir, args.files, args.rounds)
    live = bench_live(bench_dir) if "live" in parts else ""  # bench/live.py: delays and idle CPU, its own table
    shards = bench_distributed(bench_dir) if "distributed" in parts else ""  # bench/distributed.py: its own table
    text = f"Machine: {machine()}; warm cache; medians of the runs shown.\n\n{table.render()}\n"
    text += f"\n{live}" if live else ""
    text += f"\n{shards}" if shards else ""
    if args.baseline:
        text += f"\nThis checkout against {codes[1].tag} (ratio = this / baseline):\n\n{table.render_baseline()}\n"
    (bench_dir / "results.md").write_text(text)
    print()
    print(text)
    print(f"(benchmark took {time.monotonic() - started:.0f} s; table saved to {bench_dir / 'results.md'})")


if __name__ == "__main__":
    main()
