"""Unit tests of the detection matrix's JUnit parsing and its table."""

from __future__ import annotations

from pathlib import Path

from harness.matrix import CORRECT, CaseResult, RunResult, parse_junit, render

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="suites.test_goroutines" name="test_leak">
    <properties><property name="pitfall" value="leak-on-timeout"/></properties>
    <failure message="leaked">...</failure>
  </testcase>
  <testcase classname="suites.test_timeouts" name="test_fast">
    <properties><property name="pitfall" value="no-deadline"/></properties>
  </testcase>
  <testcase classname="suites.test_writes" name="test_race"><skipped message="skip"/></testcase>
  <testcase classname="suites.test_timeouts" name="test_other"><error message="setup"/></testcase>
</testsuite></testsuites>
"""


def test_parse_junit_reads_outcomes_modules_and_pitfalls(tmp_path: Path) -> None:
    path = tmp_path / "run.xml"
    path.write_text(JUNIT)
    assert parse_junit(path) == [
        CaseResult("test_goroutines", "test_leak", "failed", "leak-on-timeout"),
        CaseResult("test_timeouts", "test_fast", "passed", "no-deadline"),
        CaseResult("test_writes", "test_race", "skipped", None),
        CaseResult("test_timeouts", "test_other", "error", None),
    ]


def result(build: str, *tests: tuple[str, str, str | None]) -> RunResult:
    run = RunResult(build, 1.0)
    run.tests = [CaseResult(module, "t", outcome, pitfall) for module, outcome, pitfall in tests]
    return run


def test_a_bug_is_caught_only_by_a_failing_test_aimed_at_it() -> None:
    aimed = result("leak", ("test_goroutines", "failed", "leak"), ("test_timeouts", "passed", None))
    elsewhere = result(
        "race", ("test_goroutines", "failed", "leak"), ("test_writes", "passed", "race")
    )
    assert aimed.caught()
    assert not elsewhere.caught()
    assert elsewhere.cell("test_goroutines") == "caught"
    assert elsewhere.cell("test_writes") == "passed"


def test_table_ends_with_the_count_of_caught_bugs_and_false_alarms() -> None:
    table = render(
        [
            result(
                CORRECT, ("test_goroutines", "failed", "leak"), ("test_timeouts", "passed", None)
            ),
            result(
                "leak", ("test_goroutines", "failed", "leak"), ("test_timeouts", "passed", None)
            ),
            result(
                "slow", ("test_goroutines", "passed", "leak"), ("test_timeouts", "error", "slow")
            ),
        ]
    )
    lines = table.splitlines()
    assert "goroutines" in lines[0]
    assert "timeouts" in lines[0]
    assert "FALSE ALARM" in lines[1]
    assert lines[2].startswith("leak")
    assert lines[2].rstrip().endswith("yes")
    assert "error" in lines[3]
    assert lines[3].rstrip().endswith("NO")
    assert lines[-1] == "1/2 bugs caught, 1 false alarms"
