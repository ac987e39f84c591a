"""A DiscoverRunner that records each test's outcome, so the harness never parses the runner's text."""

from __future__ import annotations

import io
import unittest
from pathlib import Path

from django.test.runner import DiscoverRunner

from .report import Outcome

# {test id: {"outcome": ..., "detail": traceback or skip reason}}, filled during the run.
outcomes: dict[str, dict[str, str]] = {}
totals = {"tests_run": 0}
# Where the id of the running test is written, so a pass killed by the watchdog names it.
progress: Path | None = None


class RecordingResult(unittest.TextTestResult):
    """Records into `outcomes`; the harness prints the failures itself, with their reasons."""

    def startTest(self, test):
        if progress is not None:
            progress.write_text(test.id())
        super().startTest(test)

    def _record(self, test, outcome: Outcome, detail: str = "") -> None:
        test_id = test.id()
        current = outcomes.get(test_id)
        if current is None or outcome.rank > Outcome(current["outcome"]).rank:
            outcomes[test_id] = {"outcome": outcome, "detail": detail}

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, Outcome.PASS)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, Outcome.FAIL, self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, Outcome.ERROR, self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, Outcome.SKIP, reason)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            outcome = Outcome.FAIL if issubclass(err[0], test.failureException) else Outcome.ERROR
            self._record(test, outcome, f"{subtest.id()}\n{self._exc_info_to_string(err, test)}")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, Outcome.PASS, "Django marks it expectedFailure, and it failed.")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, Outcome.FAIL, "Django marks it expectedFailure, but it passed.")

    def printErrors(self):
        pass


class ContractRunner(DiscoverRunner):
    """DiscoverRunner with RecordingResult; at verbosity 0 the runner's own lines are dropped."""

    def get_resultclass(self):
        return RecordingResult

    def run_suite(self, suite, **kwargs):
        result = super().run_suite(suite, **kwargs)
        totals["tests_run"] += result.testsRun
        return result

    def get_test_runner_kwargs(self):
        kwargs = super().get_test_runner_kwargs()
        if self.verbosity == 0:
            kwargs["stream"] = io.StringIO()  # "Ran N tests ... FAILED" counts the listed failures too
        return kwargs
