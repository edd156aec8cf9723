"""End to end: any system explored with no Python of its user's (``--chaos-explore`` and the
compose file's ``x-chaos.workload``), and a functional test rerun under faults
(``@pytest.mark.chaos_explore``), each run as a user runs it, in a folder of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.runs import RECORDER, Run, compose_proxied

# What a user of the reference gateway sends: a product read, answered 200 within 2 s.
WORKLOAD = """\
  workload:
    - {service: gateway, request: "GET /products/1", rate: 10, budget_ms: 2000, statuses: [200]}
"""
OPTIONS = ("--chaos-backend=docker", "--chaos-explore-budget=15", "-p", "no:cacheprovider")


def with_workload(compose: str) -> str:
    return compose.replace("x-chaos:\n", "x-chaos:\n" + WORKLOAD, 1)


def test_an_empty_folder_explores_the_compose_file_and_replays_what_it_found(
    harness: Run, tmp_path: Path
) -> None:
    system = tmp_path / "compose.yml"  # not in the folder pytest runs in
    system.write_text(with_workload(compose_proxied(harness.context)))
    harness.pytester.makeconftest(RECORDER)  # records what the run started; not a test file

    result = harness.run(f"--chaos-compose={system}", "--chaos-explore", "-v", *OPTIONS)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"{system}::explore FAILED*",
            "*_ explore compose.yml _*",
            "exploration broke an invariant after * examples, on *, build inputs *.",
            "*statuses the workload expects: fail*x-chaos.workload[[]0[]].statuses does not list*",
            "shortest failing schedule (1 fault steps, * steps):",
            "saved to .chaos/replays/explore-seed*.json; replay it with:",
            "*--chaos-explore --chaos-replay=.chaos/replays/explore-seed*.json "
            f"--chaos-replay-runs=5 --chaos-compose={system} --chaos-seed=*",
            "*chaos-harness summary*",
            "*statuses the workload expects*FAIL*",
            "fault kinds x targets covered: */25 (* broke an invariant)",
            "failing schedule saved: .chaos/replays/explore-seed*.json",
        ]
    )
    saved = re.search(r"saved to (\.chaos/replays/\S+\.json);", result.stdout.str())
    assert saved is not None

    replayed = harness.run(
        f"--chaos-compose={system}",
        "--chaos-explore",
        f"--chaos-replay={saved.group(1)}",
        "--chaos-replay-runs=2",
        *OPTIONS,
    )

    replayed.stdout.fnmatch_lines(
        [f"replay of {harness.path}/{saved.group(1)}: reproduced ?/2", "*chaos-harness summary*"]
    )
    replayed.stdout.no_fnmatch_line("*coverage 1/*")  # a replay does not explore
    assert len(harness.sessions) == 2
    harness.assert_nothing_left()


def test_a_compose_file_without_workload_is_a_usage_error_saying_what_to_add(
    pytester: pytest.Pytester,
) -> None:
    system = pytester.path / "elsewhere" / "compose.yml"
    system.parent.mkdir()
    system.write_text('services:\n  front: {image: "front:1", ports: ["8080"]}\n')

    result = pytester.runpytest_subprocess(
        f"--chaos-compose={system}", "--chaos-explore", "-p", "no:cacheprovider"
    )

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: chaos-harness: --chaos-explore: {system} has no `workload:` in its x-chaos "
            "block, so there is nothing to send; add the requests your users send, e.g.",
            "  x-chaos:",
            "    workload:",
            '      - {service: front, request: "GET /", rate: 20, budget_ms: 2000}',
            "*or give the exploration a model of your own with a `chaos_model` fixture*",
        ]
    )


MARKED = """
import urllib.request

import pytest


@pytest.mark.chaos_explore(budget_ms=2000)
def test_a_product_is_served(chaos):
    # A functional test as its team wrote it: the system's address comes from `chaos`.
    with urllib.request.urlopen(chaos.url("gateway") + "/products/1", timeout=3) as reply:
        assert reply.status == 200


@pytest.mark.chaos_explore
def test_that_fails_without_faults(chaos):
    with urllib.request.urlopen(chaos.url("gateway") + "/products/1", timeout=3) as reply:
        assert reply.status == 201
"""


def test_a_marked_functional_test_is_rerun_under_faults_and_its_failures_are_findings(
    harness: Run,
) -> None:
    harness.setup(MARKED, compose_proxied(harness.context))

    result = harness.run("-v", *OPTIONS)

    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*test_that_fails_without_faults fails with no fault on, so nothing was explored*",
            "*[[]test_a_product_is_served passes under faults: fail[]] * of * runs of "
            "test_a_product_is_served failed or overran their 2000 ms*",
            "*run 1 (*s): HTTPError: HTTP Error 50?: *",
            "shortest failing schedule (1 fault steps, * steps):",
            "*LoadBurst(service='gateway', request='TEST /test_a_product_is_served'*",
            "*test_chaos.py::test_a_product_is_served --chaos-replay=.chaos/replays/*.json "
            "--chaos-replay-runs=5 --chaos-seed=*",
            "fault kinds x targets covered: */25 (* broke an invariant)",
        ]
    )
    saved = re.search(r"saved to (\.chaos/replays/\S+\.json);", result.stdout.str())
    assert saved is not None

    replayed = harness.run(
        "test_chaos.py::test_a_product_is_served",
        f"--chaos-replay={saved.group(1)}",
        "--chaos-replay-runs=1",
        *OPTIONS,
    )

    replayed.stdout.fnmatch_lines([f"replay of {harness.path}/{saved.group(1)}: reproduced ?/1"])
    harness.assert_nothing_left()
