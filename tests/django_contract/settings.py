"""Django's own test settings (test_sqlite), plus the recording runner and the pass's symlink_within."""

from __future__ import annotations

import os
from pathlib import Path

from test_sqlite import *  # noqa: F403  (on sys.path: the child runs from Django's test tree)

from . import passes

TEST_RUNNER = "tests.django_contract.runner.ContractRunner"

# runtests.py sets RUNTESTS_DIR and TMPDIR before it loads the settings; the child sets the pass.
SYMLINKMIRROR_SYMLINK_WITHIN = passes.symlink_within(
    os.environ["DJANGO_CONTRACT_PASS"], Path(os.environ["RUNTESTS_DIR"]), Path(os.environ["TMPDIR"])
)
SYMLINKMIRROR_LINK_STYLE = "absolute"
