"""End to end: --chaos-keep-on-failure keeps a failed system up, and pytest -n 2 runs
two isolated topologies side by side."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import requests

from harness.build import IMAGE_LABEL, context_hash
from harness.topology import Build
from tests.runs import Run, compose_one, docker_cli

FAILING = """
def test_fails(chaos):
    assert chaos.url("inventory").startswith("http://127.0.0.1:")
    assert False, "fails on purpose"
"""


def test_keep_on_failure_leaves_the_system_up_on_loopback_and_prints_how_to_reach_and_remove_it(
    harness: Run,
) -> None:
    harness.setup(FAILING, compose_one(harness.context))

    result = harness.run("--chaos-keep-on-failure")

    result.assert_outcomes(failed=1)
    (session,) = harness.sessions
    result.stdout.fnmatch_lines(
        [
            f"chaos-harness kept session {session} running (--chaos-keep-on-failure):",
            "  inventory: http://127.0.0.1:*",
        ]
    )
    url = re.search(r"  inventory: (http://127\.0\.0\.1:\d+)", result.stdout.str())
    assert url is not None
    assert requests.get(url.group(1) + "/healthz", timeout=5).status_code == 200
    kept = harness.docker_leftovers()
    assert any(item.startswith("container ") for item in kept), kept
    assert any(item.startswith("network ") for item in kept), kept
    assert any(item.startswith("volume ") for item in kept), kept

    # Reachable on loopback only: every published port of the session binds 127.0.0.1.
    label = f"label=chaos-harness.session={session}"
    for container in docker_cli("ps", "-q", "--filter", label):
        bindings = docker_cli("port", container)
        assert bindings, container
        assert all(line.split(" -> ")[1].startswith("127.0.0.1:") for line in bindings), bindings

    # The printed removal command removes all of it.
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "remove it with:" in line)
    command = lines[start].split("remove it with:", 1)[1].strip()
    subprocess.run(["sh", "-c", command], timeout=60, check=True, capture_output=True)
    harness.assert_nothing_left()


PARALLEL = """
import time
from pathlib import Path

import pytest
import requests


def _both_up(chaos):
    assert requests.get(chaos.url("inventory") + "/healthz", timeout=5).status_code == 200
    record = Path(__file__).parent / "record" / "sessions"
    for _ in range(600):  # bounded: 60 s for the other worker's system to come up
        if len(set(record.read_text().split())) == 2:
            return
        time.sleep(0.1)
    pytest.fail("the other worker's system never came up while this one was running")


def test_a(chaos):
    _both_up(chaos)


def test_b(chaos):
    _both_up(chaos)
"""


def test_xdist_runs_isolated_topologies_side_by_side_with_one_printed_seed_and_one_build(
    harness: Run, tmp_path: Path
) -> None:
    # A build context no image exists for yet, so both workers need the image at once.
    context = tmp_path / "fresh-context"
    shutil.copytree(harness.context, context)
    (context / "bin" / "marker").write_text(f"{time.time_ns()}\n")
    digest = context_hash(Build(context=context, args={"BINARY": "inventory"}))
    harness.images.append(digest)
    harness.setup(PARALLEL, compose_one(context))

    result = harness.run("-n", "2")

    result.assert_outcomes(passed=2)
    sessions = harness.sessions
    assert len(sessions) == 2
    assert len(set(sessions)) == 2, sessions
    assert sorted(s.rsplit("-", 1)[1] for s in sessions) == ["gw0", "gw1"]
    harness.assert_nothing_left()
    # One image for those inputs: a second, concurrent build would leave a dangling copy.
    built = docker_cli("images", "-q", "--no-trunc", "--filter", f"label={IMAGE_LABEL}={digest}")
    assert len(built) == 1, built

    # The seed the controller printed is the one `--chaos-seed=last` brings back.
    seed = re.search(r"chaos-harness: backend docker, seed (\d+),", result.stdout.str())
    assert seed is not None
    again = harness.run("--chaos-seed=last", "--co")
    again.stdout.fnmatch_lines([f"chaos-harness: backend docker, seed {seed.group(1)}, *"])
