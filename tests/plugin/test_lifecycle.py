"""End to end: whatever way a run ends, nothing of the harness outlives it.

Each test starts real pytest processes that bring up real containers, ends them in one way
(pass, fail, Ctrl-C, SIGKILL) and then asks Docker and ``/proc`` what is left.
"""

from __future__ import annotations

import signal
import time

import requests

from tests.runs import Run, compose_one, docker_cli

PASSING = """
import pytest
import requests


@pytest.mark.pitfall("no-deadline")
def test_service_answers(chaos):
    reply = requests.get(chaos.url("inventory") + "/products/1", timeout=5)
    assert reply.status_code == 200
    assert reply.json()["id"] == 1
"""


def test_passing_run_prints_header_accepts_markers_and_leaves_nothing(harness: Run) -> None:
    harness.setup(PASSING, compose_one(harness.context))

    result = harness.run(
        "--strict-markers",
        "--chaos-seed=1234",
        "--chaos-bugs=leak-on-timeout",
        "--chaos-keep-on-failure",  # keeps nothing when nothing failed
    )

    result.assert_outcomes(passed=1)
    header = "chaos-harness: backend docker, seed 1234, bugs leak-on-timeout, compose *compose.yml"
    result.stdout.fnmatch_lines([header])
    assert len(harness.sessions) == 1
    harness.assert_nothing_left()

    # The seed of the last run is remembered: `--chaos-seed=last` reuses it.
    again = harness.run("--chaos-seed=last", "--co")
    again.stdout.fnmatch_lines(["chaos-harness: backend docker, seed 1234, *"])


FAILING = """
import requests


def test_fails(chaos):
    assert requests.get(chaos.url("inventory") + "/healthz", timeout=5).status_code == 200
    assert False, "this test fails on purpose"
"""


def test_failing_run_leaves_nothing(harness: Run) -> None:
    harness.setup(FAILING, compose_one(harness.context))

    result = harness.run()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*this test fails on purpose*"])
    assert len(harness.sessions) == 1
    harness.assert_nothing_left()


SLEEPING = """
import time
from pathlib import Path


def test_sleeps(chaos):
    Path("started").write_text(chaos.url("inventory"))
    for _ in range(600):  # bounded: the outer test signals long before
        time.sleep(0.1)
"""


def _start_and_wait(harness: Run) -> None:
    """Start the sleeping run, wait until its test runs, and check its containers exist."""
    harness.setup(SLEEPING, compose_one(harness.context))
    proc = harness.popen("-s")
    harness.wait_for_file("started", proc, timeout=180)
    assert harness.docker_leftovers(), "the run's containers should exist while it runs"
    url = (harness.path / "started").read_text()
    assert requests.get(url + "/healthz", timeout=5).status_code == 200


def test_sigint_mid_test_removes_everything(harness: Run) -> None:
    _start_and_wait(harness)
    proc = harness.popens[0]

    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)

    assert "KeyboardInterrupt" in harness.output(0)
    harness.assert_nothing_left()


def test_sigkill_leaves_resources_that_the_next_run_reaps(harness: Run) -> None:
    _start_and_wait(harness)
    proc = harness.popens[0]

    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.5)
    left = harness.docker_leftovers()
    assert any(item.startswith("container ") for item in left), left
    assert any(item.startswith("network ") for item in left), left
    assert any(item.startswith("volume ") for item in left), left
    running = harness.live_processes()
    assert any(item.startswith("container-pids ") for item in running), running

    (harness.path / "test_chaos.py").write_text(PASSING)
    harness.run().assert_outcomes(passed=1)

    assert len(harness.sessions) == 2
    harness.assert_nothing_left()


def test_sigterm_mid_test_removes_everything(harness: Run) -> None:
    _start_and_wait(harness)
    proc = harness.popens[0]

    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)

    harness.assert_nothing_left()


def test_sigint_during_startup_stops_promptly_and_removes_everything(harness: Run) -> None:
    # /no-such-path never answers 200, so start-up would wait the full 120 s timeout.
    harness.setup(PASSING, compose_one(harness.context, health="/no-such-path"))
    proc = harness.popen("--chaos-startup-timeout=120")
    deadline = time.monotonic() + 120
    while not harness.docker_leftovers():  # bounded: until its containers exist
        assert proc.poll() is None, harness.output(0)
        assert time.monotonic() < deadline, "the run's containers never appeared"
        time.sleep(0.2)
    time.sleep(1.0)  # now it waits for readiness

    interrupted = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=150)

    assert time.monotonic() - interrupted < 15, "Ctrl-C waited for the start-up timeout"
    harness.assert_nothing_left()


def test_new_runs_reaper_leaves_a_live_run_alone(harness: Run) -> None:
    harness.setup(SLEEPING, compose_one(harness.context))
    harness.pytester.makepyfile(test_other=PASSING)
    proc = harness.popen("-s", "test_chaos.py")
    harness.wait_for_file("started", proc, timeout=180)
    (live,) = harness.sessions

    other = harness.run("test_other.py")  # its reaper runs while the first run is alive

    other.assert_outcomes(passed=1)
    assert proc.poll() is None, "the first run died"
    label = f"label=chaos-harness.session={live}"
    assert len(docker_cli("ps", "--filter", label, "--filter", "status=running", "-q")) == 1
    url = (harness.path / "started").read_text()
    assert requests.get(url + "/healthz", timeout=5).status_code == 200

    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    harness.assert_nothing_left()
