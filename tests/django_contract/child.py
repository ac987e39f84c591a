"""One pass, in a process of its own: swap the storage, run Django's runtests.py in-process, write the outcomes.

A process per pass, because Django's settings and the swap last as long as the process.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shutil
import signal
import sys
import traceback
from pathlib import Path

from . import swap
from .passes import Pass

SETTINGS = "tests.django_contract.settings"
SUITES = ("file_storage", "staticfiles_tests")
_TMPDIR_BEFORE = os.environ.get("TMPDIR")  # runtests.py replaces it with a folder of its own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one contract pass; the harness calls this.")
    parser.add_argument("--pass", dest="pass_name", choices=[p.value for p in Pass], required=True)
    parser.add_argument("--tree", type=Path, required=True, help="Django's tests/ folder.")
    parser.add_argument("--results", type=Path, required=True, help="Where to write the outcomes as JSON.")
    parser.add_argument("--verbosity", type=int, default=0)
    args = parser.parse_args(argv)

    swap.install()  # first: nothing below may import staticfiles before it
    from . import runner

    runner.progress = args.results.with_suffix(".running")
    signal.signal(signal.SIGUSR1, _stop)

    os.environ["DJANGO_CONTRACT_PASS"] = args.pass_name
    runtests = args.tree / "runtests.py"
    sys.path.insert(0, str(args.tree))
    sys.argv = [str(runtests), f"--settings={SETTINGS}", "--parallel=1", "--noinput", f"--verbosity={args.verbosity}"]
    sys.argv += SUITES
    try:
        runpy.run_path(str(runtests), run_name="__main__")
    except SystemExit as exc:  # runtests exits 1 on any failure, listed ones too: the harness judges
        if exc.code not in (None, 0, 1):
            raise
    results = {
        "tests_run": runner.totals["tests_run"],
        "outcomes": runner.outcomes,
        "counts": dict(swap.counts),
        "swap_problems": swap.problems(),
    }
    args.results.write_text(json.dumps(results, indent=1, sort_keys=True))
    return 0


def _stop(signum, frame) -> None:
    """The harness's watchdog: show where the run was stuck (a save() that spins), then end."""
    print("The contract pass was stopped here:", file=sys.stderr)
    traceback.print_stack(frame, file=sys.stderr)
    made = os.environ.get("TMPDIR")
    if made and made != _TMPDIR_BEFORE:  # runtests.py's own; os._exit() skips its atexit cleanup
        shutil.rmtree(made, ignore_errors=True)
    os._exit(3)


if __name__ == "__main__":
    sys.exit(main())
