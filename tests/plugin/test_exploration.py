"""End to end: ``--chaos-replay`` runs a saved schedule against the real reference system and
says how many runs reproduced the failure; nightly tests run only when ``-m`` asks for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from faults import FaultOff, FaultOn, LinkDown, LoadBurst, Schedule
from tests.runs import Run, compose_one

ROOT = Path(__file__).resolve().parents[2]

REPLAY_INI = f"""\
[pytest]
addopts = -p no:cacheprovider
chaos_compose = {ROOT / "compose" / "docker-compose.yml"}
chaos_backend = docker
chaos_startup_timeout = 60
"""

# The exploration test itself, collected from this folder.
REPLAY_TEST = "from suites.test_exploration import test_exploration_keeps_every_invariant\n"

# Inventory unreachable while products are read: the correct gateway answers from its
# cache (degraded 200); with no-fallback it answers 500, which no product read may get.
UNREACHABLE = LinkDown("gateway->inventory")
SCHEDULE = Schedule(
    (
        FaultOn(UNREACHABLE),
        LoadBurst("gateway", "GET /products/1", rate=10, seconds=0.5),
        FaultOff(UNREACHABLE),
    )
)


def test_replay_runs_the_saved_schedule_n_times_and_reports_how_many_reproduced(
    harness: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    harness.setup(REPLAY_TEST, ini=REPLAY_INI)
    SCHEDULE.save(harness.path / "saved.json")

    result = harness.run(
        "--chaos-replay=saved.json", "--chaos-replay-runs=2", "--chaos-bugs=no-fallback"
    )

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "replay of */saved.json: the replay file does not say which sources it was "
            "recorded on, so whether this run (commit *, build inputs *) is the same system "
            "is unknown",
            "replay of */saved.json: reproduced 2/2 (on sources the file does not name)",
            "*reproduced 2/2: the schedule still breaks an invariant",
            "run 1: 2 invariants broken, the most basic cause first:",
            "1. [[]replies well formed: fail[]]*",
            "*chaos-harness summary*",
            "seed *; seeded bugs on: no-fallback; source: commit *, build inputs *",
            "*replies well formed*FAIL*",
            "faults fired: 2 (link_down x2)",
        ]
    )
    assert len(harness.sessions) == 1
    harness.assert_nothing_left()


def test_a_missing_replay_file_fails_the_test_naming_it(
    harness: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    harness.setup(REPLAY_TEST, ini=REPLAY_INI)

    result = harness.run("--chaos-replay=missing.json")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*--chaos-replay: cannot read */missing.json*"])
    harness.assert_nothing_left()


UNSERVED = """
from harness.explore import Operation, SystemModel
from harness.explore.report import explore_or_replay


class Unserved(SystemModel):
    def operations(self, topology):
        return [Operation("missing", "inventory", ("GET /missing",), budget_ms=1000)]


def test_exploration(request, chaos):
    explore_or_replay(request, chaos, Unserved())
"""


def test_a_system_that_fails_its_workload_fault_free_is_not_judged_but_skipped_saying_why(
    harness: Run,
) -> None:
    harness.setup(UNSERVED, compose_one(harness.context))

    result = harness.run("-rs")

    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*chaos-harness summary*",
            "seed *; seeded bugs on: none; source: not a git checkout, build inputs *",
            "*system healthy before any fault*unknown*",
            "*chaos-harness could not judge this system: before any fault, even after "
            "restarting the services on their path, none of 10 missing requests succeeded "
            "(statuses {404: 10})*",
        ]
    )
    harness.assert_nothing_left()


NIGHTLY = """
import pytest


def test_quick():
    pass


@pytest.mark.nightly
def test_soak():
    pass
"""


def test_nightly_tests_are_deselected_by_default_and_selected_by_m_nightly(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider --strict-markers\n")
    pytester.makepyfile(test_mix=NIGHTLY)

    default = pytester.runpytest_subprocess("-v")
    default.assert_outcomes(passed=1, deselected=1)
    default.stdout.fnmatch_lines(["*test_quick PASSED*"])
    default.stdout.no_fnmatch_line("*test_soak*")

    nightly = pytester.runpytest_subprocess("-v", "-m", "nightly")
    nightly.assert_outcomes(passed=1, deselected=1)
    nightly.stdout.fnmatch_lines(["*test_soak PASSED*"])
