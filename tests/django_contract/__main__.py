"""python -m tests.django_contract: Django's own storage suites as symlinkmirror's contract.

Exits 0 only when every pass held: its failures are exactly the listed ones,
the swap happened, links were (or were not) made, and Django's test tree is
unchanged.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import django

from . import expected, report, sdist, snapshot
from .passes import Pass

REPO = Path(__file__).resolve().parents[2]
TAIL = 12  # traceback lines shown per unexpected failure without -v
TIMEOUT = 900  # seconds per pass; a pass takes well under a minute, a save() that spins takes forever


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.django_contract",
        description="Run Django's own storage suites against SymlinkOrCopyStorage.",
    )
    parser.add_argument(
        "--pass",
        dest="pass_name",
        choices=[*(p.value for p in Pass), "all"],
        default="all",
        help="Which pass to run (default: all).",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="Show Django's progress and the listed failures with their reasons; -vv names every test.",
    )
    args = parser.parse_args(argv)

    version = django.__version__
    try:
        tree, files = sdist.cached_tree(version)
    except sdist.SdistError as exc:
        print(f"Cannot get Django {version}'s test tree: {exc}", file=sys.stderr)
        return 1
    print(f"Django {version} on Python {sys.version.split()[0]}, test tree '{tree.relative_to(REPO)}'.")
    verdicts = []
    for pass_name in list(Pass) if args.pass_name == "all" else [Pass(args.pass_name)]:
        verdict = run_pass(pass_name, version, tree, files, args.verbose)
        verdicts.append(verdict)
        if any(problem.startswith("Django's test tree") for problem in verdict.problems):
            break  # a later pass would run on altered test data
    if len(verdicts) > 1:
        print(*(verdict.summary() for verdict in verdicts), sep="\n")
    return 0 if all(verdict.ok for verdict in verdicts) else 1


def run_pass(pass_name: Pass, version: str, tree: Path, files: dict[str, str], verbose: int) -> report.Verdict:
    print(f"--- {pass_name} pass")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="django-contract-") as tmp:
        results_path = Path(tmp) / "results.json"
        command = [sys.executable, "-m", "tests.django_contract.child", "--pass", pass_name, "--tree", str(tree)]
        command += ["--results", str(results_path), f"--verbosity={min(verbose, 2)}"]
        ended = _run_child(command)
        results = json.loads(results_path.read_text()) if results_path.exists() else None
        running = results_path.with_suffix(".running")
        last_test = running.read_text() if running.exists() else "none yet"
    if results is None:
        problem = f"The pass stopped before writing its results ({ended}); the test running then: {last_test}."
        verdict = report.Verdict(pass_name, problems=[problem])
    else:
        verdict = report.judge(pass_name, results, expected.expected_failures(pass_name, version))
    changed = snapshot.differences(files, snapshot.take(tree))
    if changed:
        verdict.problems.append(
            f"Django's test tree changed during the run ({len(changed)} files): " + "; ".join(changed[:20])
        )
    verdict.seconds = time.monotonic() - started
    show(verdict, results, verbose)
    return verdict


def _run_child(command: list[str]) -> str:
    """Run one pass; past TIMEOUT, ask it for its stack (SIGUSR1), then kill it. Says how it ended."""
    with subprocess.Popen(command, cwd=REPO) as child:
        try:
            return f"exit {child.wait(TIMEOUT)}"
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGUSR1)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
            return f"stopped after {TIMEOUT} s"


def show(verdict: report.Verdict, results: dict | None, verbose: int) -> None:
    for test_id, detail in verdict.unexpected_failures.items():
        lines = detail.rstrip().splitlines()
        print(f"UNEXPECTED FAILURE: {test_id}", *(lines if verbose else lines[-TAIL:]), sep="\n    ")
    for test_id, what in verdict.unexpected_passes.items():
        print(f"UNEXPECTED PASS: {test_id} ({what}): remove it from tests/django_contract/expected.py.")
    for problem in verdict.problems:
        print(f"PROBLEM: {problem}")
    if verbose:
        for test_id, reason in verdict.expected.items():
            print(f"expected failure: {test_id}: {reason}")
    if results is not None:
        counts = results["counts"]
        print(
            f"{counts.get('instances', 0)} storages built, {counts.get('saves', 0)} files saved through "
            f"SymlinkOrCopyStorage, {counts.get('symlink', 0)} of them symlinked, {counts.get('hardlink', 0)} hard-linked."
        )
    print(verdict.summary())


if __name__ == "__main__":
    sys.exit(main())
