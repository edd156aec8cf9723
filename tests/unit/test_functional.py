"""Unit tests for a functional test as an exploration's workload (harness.explore.functional):
how a burst runs its body, and how its runs are judged."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from faults import LinkDown, LoadBurst
from harness.checks import Outcome
from harness.errors import ConfigError
from harness.explore.engine import Burst
from harness.explore.functional import FunctionalTest, TestPasses, entry_service
from harness.explore.invariants import Rank, generic
from harness.timeline import Timeline
from harness.topology import load_topology


def fake_env() -> Any:
    return SimpleNamespace(topology=None, timeline=Timeline())


def burst_of(model: FunctionalTest, seconds: float = 0.2, runs: int = 100) -> Burst:
    (operation,) = model.operations(None)  # type: ignore[arg-type]
    result = operation.load(fake_env(), "front", model.request, seconds=seconds, max_requests=runs)
    step = LoadBurst("front", model.request, seconds=seconds)
    return Burst(step, operation, "k", result.history, result.sent, judged=True)


def test_a_burst_runs_the_body_one_run_at_a_time_for_its_length() -> None:
    inside = 0
    overlap = False
    runs = 0

    def body() -> None:
        nonlocal inside, overlap, runs
        inside += 1
        overlap = overlap or inside > 1
        runs += 1
        time.sleep(0.02)
        inside -= 1

    burst = burst_of(FunctionalTest("test_x", body, "front"), seconds=0.2)

    assert 3 <= runs == burst.sent <= 11
    assert not overlap
    assert {done.type for _, done in burst.history.completed()} == {"ok"}
    assert burst_of(FunctionalTest("test_x", body, "front"), seconds=0.2, runs=2).sent == 2


def test_a_failing_run_is_recorded_with_its_error_and_judged_with_the_faults_on() -> None:
    calls = iter([None, "boom", None])

    def body() -> None:
        if next(calls) == "boom":
            raise AssertionError("assert 504 == 200")

    model = FunctionalTest("test_x", body, "front", budget_ms=1000)
    burst = burst_of(model, seconds=10, runs=3)
    example: Any = SimpleNamespace(active=[LinkDown("front->back")])

    (verdict,) = TestPasses("test_x", 1000).after_burst(example, burst)

    assert verdict.outcome is Outcome.FAIL
    assert verdict.check == "test_x passes under faults"
    assert verdict.message.startswith(
        "1 of 3 runs of test_x failed or overran their 1000 ms (+ 500 ms) budget while this "
        "was on: link front->back down\n  run 2 ("
    )
    assert verdict.message.endswith("): AssertionError: assert 504 == 200")


def test_a_run_that_hangs_is_given_up_on_and_no_other_run_starts_while_it_lasts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import harness.explore.functional as functional

    monkeypatch.setattr(functional, "patient_timeout_s", lambda operation: 0.1)
    release = threading.Event()
    model = FunctionalTest("test_x", lambda: release.wait(5), "front")

    first = burst_of(model, seconds=1)
    second = burst_of(model, seconds=1)
    release.set()

    ((_, hung),) = first.history.completed()
    assert (hung.type, hung.error) == (
        "info",
        "did not finish within 0.1 s (it goes on in the background)",
    )
    ((_, skipped),) = second.history.completed()
    assert skipped.error == "not started: an earlier run is still running past its budget"
    (verdict,) = TestPasses("test_x", 5000).after_burst(SimpleNamespace(active=[]), first)  # type: ignore[arg-type]
    assert verdict.outcome is Outcome.FAIL


def test_only_the_invariants_about_processes_and_resources_apply_to_a_test_body() -> None:
    model = FunctionalTest("test_x", lambda: None, "front")
    kept = {type(i).__name__ for i in generic() if model.keeps(i)}
    assert {"Survives", "NoRuntimeReports", "NoLeakedGoroutines"} <= kept
    assert all(i.rank in (Rank.PROCESS, Rank.RESOURCES) for i in generic() if model.keeps(i))
    assert not kept & {"WithinBudget", "RepliesWellFormed"}, "a run is not an HTTP reply"


def test_the_service_a_test_calls_is_the_one_no_link_leads_into(tmp_path: Path) -> None:
    def topology(links: list[str]) -> Any:
        doc = {
            "services": {
                "front": {"image": "f:1", "ports": ["8080"]},
                "back": {"image": "b:1", "ports": ["9000"]},
            },
            "x-chaos": {"links": links},
        }
        path = tmp_path / "compose.yml"
        path.write_text(yaml.safe_dump(doc))
        return load_topology(path)

    assert entry_service(topology(["front->back"])) == "front"
    with pytest.raises(ConfigError, match=r'several .*\(back, front\); name it: .*service="front"'):
        entry_service(topology([]))
