"""One pass's verdict: the outcomes held against the expected list, as counts and one summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .passes import Pass


class Outcome(StrEnum):
    """One test's outcome, from best to worst: a test whose subtests differ keeps the worst."""

    PASS = "pass"
    SKIP = "skip"
    FAIL = "fail"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return list(Outcome).index(self)


@dataclass
class Verdict:
    pass_name: Pass
    tests_run: int = 0
    passed: int = 0
    skipped: int = 0
    expected: dict[str, str] = field(default_factory=dict)  # test id -> reason, failed as listed
    unexpected_failures: dict[str, str] = field(default_factory=dict)  # test id -> traceback
    unexpected_passes: dict[str, str] = field(default_factory=dict)  # test id -> what happened instead
    problems: list[str] = field(default_factory=list)  # the swap, the link count, the tree
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.unexpected_failures or self.unexpected_passes or self.problems)

    def summary(self) -> str:
        counts = (
            f"{self.tests_run} run, {self.passed} passed, {self.skipped} skipped, "
            f"{len(self.expected)} expected failures, {len(self.unexpected_failures)} unexpected failures, "
            f"{len(self.unexpected_passes)} unexpected passes"
        )
        return f"{self.pass_name} pass: {counts} ({self.seconds:.0f} s): {'OK' if self.ok else 'FAILED'}."


def judge(pass_name: Pass, results: dict, expected: dict[str, str]) -> Verdict:
    """Hold one pass's results (written by child.py) against its expected failures."""
    verdict = Verdict(pass_name, tests_run=results["tests_run"])
    outcomes = results["outcomes"]
    for test_id, record in sorted(outcomes.items()):
        outcome, detail = Outcome(record["outcome"]), record["detail"]
        failed = outcome in (Outcome.FAIL, Outcome.ERROR)
        if test_id in expected:
            if failed:
                verdict.expected[test_id] = expected[test_id]
            else:
                verdict.unexpected_passes[test_id] = f"listed, but its outcome was '{outcome}'"
        elif failed:
            verdict.unexpected_failures[test_id] = detail
        elif outcome == Outcome.SKIP:
            verdict.skipped += 1
        else:
            verdict.passed += 1
    for test_id in sorted(expected.keys() - outcomes.keys()):
        verdict.unexpected_passes[test_id] = "listed, but it did not run"
    verdict.problems += results["swap_problems"]
    counts = results["counts"]
    links = counts.get("symlink", 0) + counts.get("hardlink", 0)
    if pass_name == Pass.PLAIN and links:
        verdict.problems.append(f"{links} saves left a link, with symlink_within empty.")
    if pass_name == Pass.LINKED and not links:
        verdict.problems.append("No save left a link: the linked pass tested copies only.")
    return verdict
