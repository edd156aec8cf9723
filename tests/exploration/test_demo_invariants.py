"""The invariants of bounded retries, bounded resources and the system's own state, each
shown to break on its own purpose-built mistake and to hold without it.

The system is ``tests/demo_resources``: two small Go services (standard library only),
front calling back through the harness's proxy on ``front->back``. ``DEMO_MUTATION``
switches on one mistake at a time, and each short hand-written schedule below provokes
one: the named invariant must break on that build, and every invariant must hold on the
correct build under the very same schedule, the named one with a *pass* (an invariant
that says unknown on the correct build would pass this test without having looked).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from faults import FaultOff, FaultOn, HttpError, Latency, LoadBurst, Schedule, Wait
from harness.checks import Outcome, Verdict
from harness.environment import Environment
from harness.explore import (
    InvariantBroken,
    Operation,
    StateCheck,
    SystemModel,
    read_json,
    run_example,
)
from harness.explore.calibration import Calibration
from harness.explore.engine import calibrated
from harness.labels import new_session_id
from harness.settings import Settings
from harness.topology import Topology, load_topology

DEMO = Path(__file__).parents[1] / "demo_resources" / "docker-compose.yml"
LINK = "front->back"
READ = "GET /items/1"
RESERVE = "POST /reserve"


class DemoModel(SystemModel):
    """front's item reads (repeatable: the steady load of the resources check) and
    reservations, and back's stock, which must add up."""

    def operations(self, topology: Topology) -> Sequence[Operation]:
        return [
            Operation("item read", "front", (READ,), budget_ms=1000, overload=True),
            Operation("reservation", "front", (RESERVE,), budget_ms=1000),
        ]

    def state_checks(self, topology: Topology) -> Sequence[StateCheck]:
        initial = int(topology.service("back").environment["INITIAL_STOCK"])

        def violations(state: Mapping[str, Any]) -> Iterator[str]:
            total = int(state["stock"]) + int(state["reserved"])
            if total != initial:
                yield (
                    f"stock {state['stock']} + reserved {state['reserved']} = {total}, not the "
                    f"initial {initial} ({total - initial:+d})"
                )

        return [
            StateCheck(
                "stock + reserved = initial",
                read=lambda env: read_json(env, "back", "/state"),
                violations=violations,
            )
        ]


def _failing_back() -> Schedule:
    errors = HttpError(LINK, status=503)
    return Schedule(
        (FaultOn(errors), LoadBurst("front", READ, rate=10, seconds=0.5), FaultOff(errors))
    )


def _steady_reads() -> Schedule:
    return Schedule((LoadBurst("front", READ, rate=40, seconds=0.5),))


def _slow_back_then_wait() -> Schedule:
    # The reads time out at their budget (504); what a request still runs afterwards
    # is read at the first step after every budget is over, the back still slow.
    slow = Latency(LINK, ms=3000)
    return Schedule(
        (FaultOn(slow), LoadBurst("front", READ, rate=5, seconds=0.4), Wait(2.0), FaultOff(slow))
    )


def _concurrent_reservations() -> Schedule:
    return Schedule((LoadBurst("front", RESERVE, rate=150, seconds=0.4),))


CASES: dict[str, tuple[Callable[[], Schedule], str]] = {
    "retry-storm": (_failing_back, "retry amplification bounded"),
    "leak-conn": (_steady_reads, "resources bounded"),
    "leak-heap": (_steady_reads, "resources bounded"),
    "linger": (_slow_back_then_wait, "requests end within budget"),
    "unlocked-counter": (_concurrent_reservations, "stock + reserved = initial"),
}


@contextmanager
def _demo(settings: Settings, mutation: str | None = None) -> Iterator[Environment]:
    from harness.backends.docker import DockerBackend

    env = Environment(
        load_topology(DEMO),
        DockerBackend(new_session_id()),
        service_env={"DEMO_MUTATION": mutation} if mutation else {},
        startup_timeout_s=settings.startup_timeout_s,
        seed=settings.seed,
    )
    with env:
        yield env


class _Verdicts:
    """Every verdict an example told its environment."""

    def __init__(self) -> None:
        self.seen: list[Verdict] = []

    def on_verdict(self, verdict: Verdict) -> None:
        self.seen.append(verdict)

    def of(self, check: str) -> list[Verdict]:
        return [v for v in self.seen if v.check == check]


@pytest.fixture(scope="module")
def correct(chaos_settings: Settings) -> Iterator[tuple[Environment, Calibration]]:
    with _demo(chaos_settings) as env:
        yield env, calibrated(env, DemoModel())


@pytest.mark.parametrize("mutation", CASES)
def test_a_mutation_breaks_its_invariant(chaos_settings: Settings, mutation: str) -> None:
    schedule, broken = CASES[mutation]
    model = DemoModel()
    with _demo(chaos_settings, mutation) as env:
        calibration = calibrated(env, model)
        with pytest.raises(InvariantBroken, match=re.escape(broken)) as raised:
            run_example(env, model, schedule(), calibration=calibration)
    print(raised.value)  # the message, for whoever reads the run's output


@pytest.mark.parametrize("mutation", CASES)
def test_the_same_schedule_keeps_every_invariant_on_the_correct_build(
    correct: tuple[Environment, Calibration], mutation: str
) -> None:
    env, calibration = correct
    schedule, checked = CASES[mutation]
    verdicts = _Verdicts()
    env.events.subscribe(verdicts)
    try:
        run_example(env, DemoModel(), schedule(), calibration=calibration)
    finally:
        env.events.unsubscribe(verdicts)
    judged = verdicts.of(checked)
    assert judged, f"{checked} gave no verdict"
    assert all(v.outcome is Outcome.PASS for v in judged), [v.message for v in judged]
    print(*(f"[{checked}: pass] {v.message}" for v in judged), sep="\n")


def test_the_steady_load_finds_no_leak_on_the_correct_build(
    correct: tuple[Environment, Calibration], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The steady load runs only after an example whose resources grew; here it is made to
    run whatever they did, and a correct build must come out of it with a pass."""
    from harness.explore.invariants import resources

    monkeypatch.setattr(resources, "TRIGGER", dict.fromkeys(resources.RESOURCES, -1.0))
    env, calibration = correct
    verdicts = _Verdicts()
    env.events.subscribe(verdicts)
    try:
        run_example(env, DemoModel(), _steady_reads(), calibration=calibration)
    finally:
        env.events.unsubscribe(verdicts)
    judged = verdicts.of("resources bounded")
    assert len(judged) == 2, [v.message for v in judged]  # front and back
    assert all(v.outcome is Outcome.PASS for v in judged), [v.message for v in judged]
    assert all("steady load" in v.evidence for v in judged)
    print(*(v.message for v in judged), sep="\n")
