"""cProfile of collectmirror's first run (on a fresh filesystem), its no-op refresh and verifymirror: the top entries.

python bench/profile.py [--files 100000] [--code PATH] prints, for each command,
the functions with the most time of their own, as bench/profiles.md quotes them.
--code runs another checkout's manage.py (a baseline worktree) on the same corpus.
"""

from __future__ import annotations

import argparse
import io
import pstats
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fresh import FreshFilesystems  # noqa: E402
from run import PYTHON, REPO, Code, compile_code, small_env  # noqa: E402


def profile(argv: list[str], env: dict[str, str], cwd: Path, top: int) -> str:
    with tempfile.NamedTemporaryFile(suffix=".prof") as out:
        subprocess.run([PYTHON, "-m", "cProfile", "-o", out.name, "manage.py", *argv], env=env, cwd=cwd, check=True)
        text = io.StringIO()
        stats = pstats.Stats(out.name, stream=text)
        stats.sort_stats("tottime").print_stats(top)
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "function calls" in line)
    prefixes = (str(cwd) + "/", sysconfig.get_paths()["stdlib"] + "/", sys.prefix + "/")
    rows = []
    for line in lines[start:]:
        if line.strip():
            for prefix in prefixes:  # no machine's paths in the entries
                line = line.replace(prefix, "")
            rows.append(line)
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=str(HERE / "out"))
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--code", default=str(REPO), help="The checkout whose manage.py runs (default this one).")
    args = parser.parse_args()
    bench_dir = Path(args.dir).resolve()
    fresh = FreshFilesystems(bench_dir)
    cwd = Path(args.code).resolve()
    compile_code(Code(cwd))
    with fresh(args.files + args.files // 100) as fs:
        _src, _static, env = small_env(bench_dir, args.files, fs / "mirror")
        for title, argv in (
            ("collectmirror, first run", ["collectmirror", "-v", "0"]),
            ("collectmirror --delete, no-op refresh", ["collectmirror", "-v", "0", "--delete"]),
            ("verifymirror", ["verifymirror", "-v", "0"]),
        ):
            print(f"### {title} ({args.files // 1000}k files, first runs on a {fresh.kind} filesystem)\n")
            print("```")
            print(profile(argv, env, cwd, args.top))
            print("```\n", flush=True)


if __name__ == "__main__":
    main()
