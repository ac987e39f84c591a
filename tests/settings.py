"""Settings for the test suite: testproject's embedded defaults, never the environment or .env.

A test that runs manage.py in a subprocess passes its own values as a JSON
object in SYMLINKMIRROR_TEST_SETTINGS (see tests.conftest.manage_env), a
variable nothing else sets.
"""

from __future__ import annotations

import json
import os

from testproject.defaults import *  # noqa: F403
from testproject.defaults import storages

_overrides = json.loads(os.environ.get("SYMLINKMIRROR_TEST_SETTINGS") or "{}")
if "SYMLINKMIRROR_ROOT" in _overrides:
    STORAGES = storages(_overrides["SYMLINKMIRROR_ROOT"])
globals().update(_overrides)
