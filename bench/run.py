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

from changes import OnePercent, check  # noqa: E402
from corpus import make_corpus  # noqa: E402
from distributed import bench_distributed  # noqa: E402
from fresh import EXT4, FOLDER, TMPFS, FreshFilesystems  # noqa: E402
from live import bench_live  # noqa: E402
from plot import draw  # noqa: E402

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


def compile_code(code: Code) -> None:
    """Bytecode for the package and the project, as an install makes it: not compiled anew by every command.

    (With PYTHONDONTWRITEBYTECODE set, no run writes it, and each measured
    start-up would include compiling every module of the checkout.)
    """
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", "symlinkmirror", "testproject", "manage.py"], cwd=code.root, check=True
    )


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


def small_env(bench_dir: Path, count: int, mirror: Path) -> tuple[Path, Path, dict[str, str]]:
    """The small corpus (linked) and 1% as many static files (copied: only media lies within symlink_within)."""
    src = corpus(bench_dir, f"small-{count}", count, small=True)
    static = corpus(bench_dir, f"static-{count}", max(10, count // 100), small=True)
    env = django_env(bench_dir, src, mirror, symlink_within=str(src))
    env["STATIC_ROOT"] = str(static)
    return src, static, env


class Group:
    """One group's measurements: every run's time and the peak RSS of each command."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.rss: dict[str, float] = {}
        self.problems: list[str] = []

    def measure(self, label: str, argv: list[str], environ: dict[str, str] | None = None, cwd: Path = REPO) -> str:
        elapsed, peak, out = run(argv, environ, cwd=cwd)
        self.times.setdefault(label, []).append(elapsed)
        self.rss[label] = max(self.rss.get(label, 0.0), peak)
        return out


def measure_tools(group: Group, fresh: FreshFilesystems, src: Path, static: Path, count: int, step: str) -> None:
    """The standard tools' first runs, each into a filesystem of its own, and rsync's no-op and find after them."""
    files = count + count // 100
    with fresh(files) as fs:
        if step == "cp":
            group.measure("cp -as", ["cp", "-as", str(src), str(fs / "cp")])
        elif step == "loop":
            group.measure("python scandir+symlink loop", [PYTHON, str(HERE / "pyloop.py"), str(src), str(fs / "loop")])
        else:
            dst = fs / "rsync"
            group.measure("rsync -a (first)", ["rsync", "-a", f"{src}/", f"{dst}/"])
            group.measure("rsync -a --delete (no-op)", ["rsync", "-a", "--delete", f"{src}/", f"{dst}/"])


def measure_code(
    group: Group, fresh: FreshFilesystems, code: Code, bench_dir: Path, count: int, index: int, one_percent: bool
) -> None:
    """collectmirror's first run on a fresh filesystem, then its no-op, the 1% refresh, find and verifymirror there."""
    with fresh(count + count // 100) as fs:
        mirror = fs / "mirror"
        src, static, env = small_env(bench_dir, count, mirror)
        group.measure(code.label("collectmirror (first run)"), manage("collectmirror", "-v", "0"), env, code.root)
        group.measure(
            code.label("collectmirror --delete (no-op)"), manage("collectmirror", "-v", "0", "--delete"), env, code.root
        )
        if one_percent:
            changes = OnePercent(src, static, mirror, seed=index)
            expected = changes.apply()
            out = group.measure(
                code.label("collectmirror (1% changed)"), manage("collectmirror", "--json", "--delete"), env, code.root
            )
            changes.undo()
            problem = check(json.loads(out), expected, code.label("collectmirror"))
            if problem and not code.tag:
                raise SystemExit(problem)
            if problem:
                group.problems.append(problem)
            run(manage("collectmirror", "-v", "0", "--delete"), env, cwd=code.root)
        group.measure("find -xtype l", ["find", str(mirror), "-xtype", "l"])
        group.measure(code.label("verifymirror"), manage("verifymirror", "-v", "0"), env, code.root)


def bench_small(
    table: Table, bench_dir: Path, fresh: FreshFilesystems, count: int, rounds: int, codes: list[Code]
) -> None:
    """Metadata-bound: links (and 1% copies), against cp -as, the Python loop, rsync -a and find -xtype l."""
    name = f"{count_text(count)} small files"
    small_env(bench_dir, count, bench_dir / "unused")  # the corpora, made before any timing
    src, static = bench_dir / f"small-{count}", bench_dir / f"static-{count}"
    group = Group()
    for index in range(rounds):
        print(f"  {name}: round {index + 1}/{rounds}", flush=True)
        steps: list[str | Code] = ["cp", "loop", *codes, "rsync"]
        if index % 2:
            steps.reverse()
        for step in steps:
            if isinstance(step, Code):
                measure_code(group, fresh, step, bench_dir, count, index, one_percent=True)
            else:
                measure_tools(group, fresh, src, static, count, step)

    def add(label: str, reference: str = "") -> None:
        table.add(name, label, group.times[label], group.rss[label], reference)

    add("cp -as")
    add("python scandir+symlink loop", "cp -as")
    add("rsync -a (first)", "cp -as")
    add("rsync -a --delete (no-op)")
    add("find -xtype l")
    for code in codes:
        add(code.label("collectmirror (first run)"), "cp -as")
        table.add(
            name,
            code.label("collectmirror (first run)"),
            group.times[code.label("collectmirror (first run)")],
            group.rss[code.label("collectmirror (first run)")],
            "python scandir+symlink loop",
        )
        add(code.label("collectmirror --delete (no-op)"), "rsync -a --delete (no-op)")
        add(code.label("collectmirror (1% changed)"), code.label("collectmirror --delete (no-op)"))
        add(code.label("verifymirror"), "find -xtype l")
    for baseline in codes[1:]:
        for text in (
            "collectmirror (first run)",
            "collectmirror --delete (no-op)",
            "collectmirror (1% changed)",
            "verifymirror",
        ):
            table.against(name, text, baseline.label(text))
    for problem in group.problems:
        print(f"  note: {problem}", flush=True)


def bench_collectstatic(
    table: Table, bench_dir: Path, fresh: FreshFilesystems, count: int, rounds: int, scale_to: int
) -> None:
    """collectstatic --link on a smaller tree (into a fresh filesystem each run), scaled linearly to scale_to files."""
    group = f"{count_text(scale_to)} small files"
    src = corpus(bench_dir, f"small-{count}", count, small=True)
    times: list[float] = []
    peak = 0.0
    for _ in range(rounds):
        with fresh(count) as fs:
            env = django_env(bench_dir, bench_dir / "empty-static", fs / "unused-mirror")
            env["STATICFILES_DIRS"] = str(src)
            env["STATIC_ROOT"] = str(fs / "collectstatic-root")
            elapsed, rss, _ = run(manage("collectstatic", "--link", "--noinput", "-v", "0"), env)
        times.append(elapsed * scale_to / count)
        peak = max(peak, rss)
    table.add(group, f"collectstatic --link (first run, {count_text(count)} scaled)", times, peak, "cp -as")


def bench_checksum(table: Table, bench_dir: Path, count: int, rounds: int, codes: list[Code]) -> None:
    """Content-bound: every entry a copy, against rsync -anc and sha256sum."""
    src = corpus(bench_dir, f"real-{count}", count, small=False)
    size = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    group = f"{count_text(count)} files, {size / 1e9:.1f} GB"
    mirror = bench_dir / f"mirror-copies-{count}"
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
        # The comparisons in two threads: what the interpreter lock leaves of overlapping the reads.
        threaded = manage("verifymirror", "-v", "0", "--checksum", "--workers", "2")
        steps.append(("verifymirror --checksum --workers 2", threaded, env, REPO))
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
    label = "verifymirror --checksum --workers 2"
    table.add(group, label, times[label], rss[label], "rsync -anc")
    for baseline in codes[1:]:
        for text in ("verifymirror --checksum", "verifymirror (size+mtime)"):
            table.against(group, text, baseline.label(text))


def bench_scaling(
    table: Table, bench_dir: Path, fresh: FreshFilesystems, counts: list[int], rounds: int
) -> dict[str, dict[int, float]]:
    """Every command at growing N, each first run on a fresh filesystem: cost per file and peak RSS should stay flat.

    Returns series -> {files: median seconds}, for the plot.
    """
    series: dict[str, dict[int, float]] = {}
    code = Code(REPO)
    for count in counts:
        name = f"scaling, {count_text(count)}"
        small_env(bench_dir, count, bench_dir / "unused")
        src, static = bench_dir / f"small-{count}", bench_dir / f"static-{count}"
        group = Group()
        times = rounds if count <= 100_000 else 1
        for index in range(times):
            print(f"  {name}: round {index + 1}/{times}", flush=True)
            steps: list[str] = ["cp", "loop", "code", "rsync"]
            for step in reversed(steps) if index % 2 else steps:
                if step == "code":
                    measure_code(group, fresh, code, bench_dir, count, index, one_percent=False)
                else:
                    measure_tools(group, fresh, src, static, count, step)
        references = {
            "collectmirror (first run)": "cp -as",
            "collectmirror --delete (no-op)": "rsync -a --delete (no-op)",
            "verifymirror": "find -xtype l",
            "python scandir+symlink loop": "cp -as",
        }
        for label in (
            "cp -as",
            "python scandir+symlink loop",
            "collectmirror (first run)",
            "rsync -a --delete (no-op)",
            "collectmirror --delete (no-op)",
            "find -xtype l",
            "verifymirror",
        ):
            table.add(name, label, group.times[label], group.rss[label], references.get(label, ""))
            median = statistics.median(group.times[label])
            series.setdefault(label, {})[count] = median
            print(f"  {name}: {label} {median / count * 1e6:.1f} µs per file, {group.rss[label]:.0f} MB", flush=True)
        table.add(
            name,
            "collectmirror (first run)",
            group.times["collectmirror (first run)"],
            group.rss["collectmirror (first run)"],
            "python scandir+symlink loop",
        )
    return series


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
    parser.add_argument(
        "--scale-rounds", type=int, default=3, help="Rounds per scaling count up to 100k (default 3; above, one)."
    )
    parser.add_argument("--plot", default=None, help="Where the scaling plot goes (default: scaling.png in --dir).")
    parser.add_argument(
        "--filesystem",
        choices=["auto", "ext4", "tmpfs", "folder"],
        default="auto",
        help="Where first runs write: a fresh ext4 image or tmpfs per measurement (as root), or a folder (default auto).",
    )
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
        args.scale, args.scale_rounds = "10000,30000", 1
    for tool in ("rsync", "cp", "find", "sha256sum"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: `make bench` installs it (see .ci/install-os-packages).")
    bench_dir = Path(args.dir).resolve()
    bench_dir.mkdir(parents=True, exist_ok=True)
    table = Table()
    started = time.monotonic()
    kinds = {"ext4": EXT4, "tmpfs": TMPFS, "folder": FOLDER, "auto": None}
    fresh = FreshFilesystems(bench_dir, kinds[args.filesystem])
    print(f"Benchmarking on {machine()}; first runs write to a {fresh.kind} filesystem each", flush=True)
    parts = set(args.parts.split(","))
    codes = [Code(REPO)]
    if args.baseline:
        codes.append(baseline_worktree(bench_dir, args.baseline))
        print(f"Against the baseline {codes[1].tag}, in {codes[1].root}", flush=True)
    for code in codes:
        compile_code(code)
    if "small" in parts:
        bench_small(table, bench_dir, fresh, args.files, args.rounds, codes)
    if "collectstatic" in parts:
        if "small" not in parts:  # its ratio is to cp -as, measured there
            raise SystemExit("--parts collectstatic needs small too.")
        bench_collectstatic(table, bench_dir, fresh, args.collectstatic_files, max(1, args.rounds // 2), args.files)
    if "checksum" in parts:
        bench_checksum(table, bench_dir, args.real_files, args.rounds, codes)
    plotted = ""
    if "scaling" in parts:
        counts = [int(n) for n in args.scale.split(",") if n]
        series = bench_scaling(table, bench_dir, fresh, counts, args.scale_rounds)
        (bench_dir / "scaling.json").write_text(json.dumps(series, indent=2))
        plot = Path(args.plot) if args.plot else bench_dir / "scaling.png"
        title = f"{machine()}; first runs on a {fresh.kind} filesystem each"
        plotted = f"Plot: {plot}" if draw(series, plot, title) else "No plot: matplotlib is missing (the bench extra)."
    if "generations" in parts:
        bench_generations(table, bench_dir, args.files, args.rounds)
    live = bench_live(bench_dir) if "live" in parts else ""  # bench/live.py: delays and idle CPU, its own table
    shards = bench_distributed(bench_dir) if "distributed" in parts else ""  # bench/distributed.py: its own table
    text = (
        f"Machine: {machine()}; warm cache; medians of the runs shown; "
        f"every first run writes to a {fresh.kind} filesystem made for it.\n\n{table.render()}\n"
    )
    text += f"\n{live}" if live else ""
    text += f"\n{shards}" if shards else ""
    if args.baseline:
        text += f"\nThis checkout against {codes[1].tag} (ratio = this / baseline):\n\n{table.render_baseline()}\n"
    (bench_dir / "results.md").write_text(text)
    print()
    print(text)
    if plotted:
        print(plotted)
    print(f"(benchmark took {time.monotonic() - started:.0f} s; table saved to {bench_dir / 'results.md'})")


if __name__ == "__main__":
    main()
