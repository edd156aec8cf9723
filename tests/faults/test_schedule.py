"""Schedules: checked when built, JSON round-trip and files, and the runner that heals
everything it turned on however a run ends (recorded on a plain target, then on real
Toxiproxy)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from faults import (
    At,
    Fault,
    FaultOff,
    FaultOn,
    HttpError,
    Kill,
    Latency,
    LinkDown,
    LoadBurst,
    Schedule,
    ScheduleError,
    Wait,
    run_schedule,
    schedule_from_json,
)
from faults.base import FaultTarget
from harness.environment import Environment
from harness.errors import FaultError
from harness.topology import Topology, load_topology
from tests.faults.support import COMPOSE, LINK, assert_nothing_remains

LATENCY = Latency(LINK, ms=100)
DOWN = LinkDown(LINK)


def test_a_schedule_round_trips_through_json_and_files(tmp_path: Path) -> None:
    schedule = Schedule(
        (
            FaultOn(LATENCY),
            LoadBurst("gateway", "GET /products/1", rate=20, seconds=0.5),
            FaultOn(HttpError(LINK, rate=0.25)),
            Wait(0.2),
            FaultOff(LATENCY),
            FaultOn(Kill("inventory")),
        )
    )
    assert schedule_from_json(schedule.to_json()) == schedule
    assert schedule_from_json(schedule.dumps()) == schedule
    path = tmp_path / "replay.json"
    schedule.save(path)
    assert Schedule.load(path) == schedule
    assert len(schedule.describe().splitlines()) == len(schedule.steps)


def test_the_repr_of_a_schedule_is_code_that_rebuilds_it() -> None:
    import faults

    schedule = Schedule((FaultOn(LATENCY), Wait(0.5), FaultOff(LATENCY)))
    assert eval(repr(schedule), vars(faults)) == schedule


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ((FaultOff(LATENCY),), r"step 0 turns off latency 100 ms .* which is not on"),
        ((FaultOn(DOWN), FaultOn(DOWN)), r"step 1 turns on link .* already on"),
        (("wait",), r"step 0 is 'wait'; a step is FaultOn, FaultOff, Wait or LoadBurst"),
    ],
)
def test_ill_formed_schedules_are_refused(steps: tuple[Any, ...], message: str) -> None:
    with pytest.raises(FaultError, match=message):
        Schedule(steps)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Wait(0), r"Wait\.seconds must be more than 0 and at most 600"),
        (lambda: Wait(-1.0), r"Wait\.seconds must be more than 0"),
        (lambda: LoadBurst("gateway", "products"), r"LoadBurst\.request must look like"),
        (lambda: LoadBurst("gateway", rate=0), r"LoadBurst\.rate must be more than 0"),
        (lambda: LoadBurst("gateway", seconds=61), r"LoadBurst\.seconds must be more than 0"),
        (lambda: LoadBurst("gateway", 5), r"LoadBurst\.request must look like"),
        (lambda: FaultOn("latency"), r"FaultOn\.fault must be a fault"),
    ],
)
def test_bad_steps_are_refused(build: Any, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        build()


def test_bad_json_is_refused_naming_what_is_wrong() -> None:
    with pytest.raises(FaultError, match=r"format version 9 is not supported"):
        schedule_from_json({"version": 9, "steps": []})
    with pytest.raises(FaultError, match=r"step 0 has step 'jump'; the steps are"):
        schedule_from_json({"version": 1, "steps": [{"step": "jump"}]})
    with pytest.raises(FaultError, match=r"step 0 \(wait\) has no field\(s\) ms"):
        schedule_from_json({"version": 1, "steps": [{"step": "wait", "ms": 5}]})


# -- the runner on a recording target --------------------------------------------------------


@dataclass
class RecordingTarget:
    """A target that records what faults did to it; its faults (below) touch nothing else."""

    topology: Topology
    backend: Any = None
    seed: int = 0
    startup_timeout_s: float = 1.0
    log: list[str] = field(default_factory=list)
    active: list[Fault] = field(default_factory=list)

    @property
    def active_faults(self) -> tuple[Fault, ...]:
        return tuple(self.active)

    def proxy(self, link: str) -> Any:
        raise AssertionError("recorded faults use no proxy")

    def track_fault(self, fault: Fault, active: bool) -> None:
        if active and fault not in self.active:
            self.active.append(fault)
        elif not active and fault in self.active:
            self.active.remove(fault)

    def url(self, service: str) -> str:
        raise AssertionError("no load in these schedules")


@dataclasses.dataclass(frozen=True)
class Recorded(Fault):
    name: str
    fails: bool = False

    def _apply(self, target: FaultTarget) -> None:
        target.log.append(f"on {self.name}")  # type: ignore[attr-defined]
        if self.fails:
            raise FaultError(f"{self.name} could not be applied")

    def _heal(self, target: FaultTarget) -> None:
        target.log.append(f"off {self.name}")  # type: ignore[attr-defined]

    def describe(self) -> str:
        return f"recorded {self.name}"


# Set after the class is made, so the test-only kind does not join the fault registry.
Recorded.kind = "recorded"


@pytest.fixture
def target() -> RecordingTarget:
    return RecordingTarget(load_topology(COMPOSE))


def test_the_runner_runs_steps_in_order_and_records_them(target: RecordingTarget) -> None:
    a, b = Recorded("a"), Recorded("b")
    seen: list[int] = []
    run = run_schedule(
        Schedule((FaultOn(a), FaultOn(b), Wait(0.01), FaultOff(a), FaultOff(b))),
        target,
        on_step=lambda record: seen.append(record.index),
    )
    assert target.log == ["on a", "on b", "off a", "off b"]
    assert seen == [0, 1, 2, 3, 4]
    assert [r.error for r in run.records] == [None] * 5
    assert run.records[2].ended_s - run.records[2].started_s >= 0.01
    assert target.active == []


def test_a_failing_step_heals_everything_turned_on_latest_first(target: RecordingTarget) -> None:
    a, b, bad = Recorded("a"), Recorded("b"), Recorded("bad", fails=True)
    schedule = Schedule((FaultOn(a), FaultOn(b), FaultOn(bad), FaultOff(a), FaultOff(b)))
    with pytest.raises(ScheduleError, match=r"step 2 \(on: recorded bad\) failed") as raised:
        run_schedule(schedule, target)
    # bad is undone by its own apply, then the runner heals b, then a.
    assert target.log == ["on a", "on b", "on bad", "off bad", "off bad", "off b", "off a"]
    assert target.active == []
    assert [r.error is None for r in raised.value.run.records] == [True, True, False]


class Interrupted(Exception):
    pass


def test_an_interrupted_run_heals_too(target: RecordingTarget) -> None:
    a = Recorded("a")

    def interrupt(record: object) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        run_schedule(Schedule((FaultOn(a), Wait(5.0))), target, on_step=interrupt)
    assert target.log == ["on a", "off a"]


def test_nothing_is_applied_when_a_later_fault_cannot_be(target: RecordingTarget) -> None:
    schedule = Schedule((FaultOn(Recorded("a")), FaultOn(Latency("gateway->payment", ms=1))))
    with pytest.raises(FaultError, match=r"no link named 'gateway->payment'"):
        run_schedule(schedule, target)
    assert target.log == []


class Broken(Exception):
    """What an executor's own check raises: not a failed step, the finding itself."""


@dataclass
class CheckingExecutor:
    """An executor that does each step through the target and notes it, and breaks on
    the step named ``breaks_on`` the way an exploration's checks do."""

    target: RecordingTarget
    breaks_on: str | None = None
    seen: list[str] = field(default_factory=list)

    def fault_on(self, fault: Fault) -> None:
        self.seen.append(f"on {fault.describe()}")
        fault.apply(self.target)  # type: ignore[arg-type]

    def fault_off(self, fault: Fault) -> None:
        self.seen.append(f"off {fault.describe()}")
        fault.heal(self.target)  # type: ignore[arg-type]

    def wait(self, seconds: float) -> None:
        self.seen.append(f"wait {seconds:g}")
        if self.breaks_on == "wait":
            raise Broken("an invariant broke after the wait")

    def burst(self, step: LoadBurst) -> None:
        self.seen.append(f"load {step.request}")


def test_the_runner_hands_every_step_to_its_executor(target: RecordingTarget) -> None:
    a = Recorded("a")
    executor = CheckingExecutor(target)
    schedule = Schedule((FaultOn(a), LoadBurst("gateway", "GET /x"), Wait(0.01), FaultOff(a)))
    run = run_schedule(schedule, target, executor=executor)
    assert executor.seen == ["on recorded a", "load GET /x", "wait 0.01", "off recorded a"]
    assert [r.error for r in run.records] == [None] * 4
    assert target.log == ["on a", "off a"]


def test_an_executors_own_exception_passes_through_once_everything_is_healed(
    target: RecordingTarget,
) -> None:
    a = Recorded("a")
    executor = CheckingExecutor(target, breaks_on="wait")
    with pytest.raises(Broken, match="after the wait"):
        run_schedule(Schedule((FaultOn(a), Wait(0.01), FaultOff(a))), target, executor=executor)
    assert target.log == ["on a", "off a"]
    assert target.active == []


# -- faults during bursts, offsets ------------------------------------------------------------


def test_a_fault_during_a_burst_round_trips_and_counts_as_turned_on() -> None:
    stop = Kill("gateway")
    burst = LoadBurst("gateway", "GET /x", seconds=0.5, during=(At(0.3, FaultOn(stop)),))
    schedule = Schedule((burst, Wait(0.1), FaultOff(stop)), offsets=(0.0, 0.5, 0.6))
    assert schedule_from_json(schedule.dumps()) == schedule
    assert schedule.faults() == [stop]
    assert "at 0.3 s on: service gateway killed" in schedule.describe()
    assert schedule.to_json()["version"] == 2
    plain = LoadBurst("gateway", "GET /x").__repr__()
    assert "during" not in plain, "an empty during stays out of the code"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: At(-1, FaultOn(LATENCY)), "At.at_s must be between 0 and"),
        (lambda: At(0.1, Wait(1)), "At.step must be FaultOn"),
        (
            lambda: LoadBurst("gateway", seconds=0.5, during=(At(0.6, FaultOn(LATENCY)),)),
            "comes after the burst's last request",
        ),
        (
            lambda: LoadBurst(
                "gateway", during=(At(0.5, FaultOn(LATENCY)), At(0.2, FaultOff(LATENCY)))
            ),
            "in the order of at_s",
        ),
        (
            lambda: Schedule((LoadBurst("gateway", during=(At(0.1, FaultOff(LATENCY)),)),)),
            "which is not on",
        ),
        (lambda: Schedule((Wait(1), Wait(1)), offsets=(0.0,)), "1 offsets for 2 steps"),
        (lambda: Schedule((Wait(1), Wait(1)), offsets=(1.0, 0.5)), "must not decrease"),
    ],
)
def test_ill_formed_bursts_and_offsets_are_refused(build: Any, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        build()


def test_a_version_1_schedule_reads_and_a_newer_one_says_to_upgrade() -> None:
    old = {"version": 1, "steps": [{"step": "wait", "seconds": 1}]}
    assert schedule_from_json(old) == Schedule((Wait(1),))
    with pytest.raises(FaultError, match="written by a newer chaos-harness: upgrade"):
        schedule_from_json({"version": 3, "steps": []})


def test_dropping_steps_keeps_the_gaps_between_those_left() -> None:
    schedule = Schedule((Wait(0.5), Wait(0.2), Wait(0.1)), offsets=(0.0, 0.5, 0.7))
    assert schedule.without([0]).offsets == (0.0, 0.2)
    assert schedule.without([1]).offsets == (0.0, 0.5)


def test_the_runner_starts_no_step_before_its_offset(target: RecordingTarget) -> None:
    a = Recorded("a")
    run = run_schedule(Schedule((FaultOn(a), FaultOff(a)), offsets=(0.0, 0.2)), target)
    assert run.records[1].started_s >= 0.2
    assert target.log == ["on a", "off a"]


@dataclass
class DuringExecutor(CheckingExecutor):
    """Takes a burst's own fault steps, as an exploration's executor does."""

    def burst(self, step: LoadBurst) -> None:
        self.seen.append(f"load {step.request}")
        for at in step.during:
            if isinstance(at.step, FaultOn):
                self.fault_on(at.step.fault)
            else:
                self.fault_off(at.step.fault)
        if self.breaks_on == "burst":
            raise Broken("an invariant broke after the burst")


def test_a_fault_turned_on_during_a_burst_is_healed_however_the_run_ends(
    target: RecordingTarget,
) -> None:
    a = Recorded("a")
    burst = LoadBurst("gateway", "GET /x", during=(At(0.1, FaultOn(a)),))
    with pytest.raises(Broken):
        run_schedule(
            Schedule((burst, FaultOff(a))), target, executor=DuringExecutor(target, "burst")
        )
    assert target.log == ["on a", "off a"]
    assert target.active == []


# -- the runner on real Toxiproxy -------------------------------------------------------------


def test_a_schedule_replays_on_the_real_link_and_heals_after_a_failure(
    link_env: Environment, baseline_ms: float
) -> None:
    proxy = link_env.proxy(LINK)
    observed: list[tuple[int, list[str], bool]] = []

    def observe(record: Any) -> None:
        observed.append((record.index, [t.name for t in proxy.toxics()], proxy.enabled))
        if record.index == 3:
            raise Interrupted("stop with both faults on")

    schedule = Schedule(
        (
            FaultOn(LATENCY),
            LoadBurst("gateway", "GET /products/1", rate=20, seconds=0.25, timeout_s=2),
            FaultOn(DOWN),
            Wait(0.05),
            FaultOff(DOWN),
            FaultOff(LATENCY),
        )
    )
    with pytest.raises(Interrupted):
        run_schedule(schedule, on_step=observe)
    assert observed == [
        (0, ["chaos-latency-downstream"], True),
        (1, ["chaos-latency-downstream"], True),
        (2, ["chaos-latency-downstream"], False),
        (3, ["chaos-latency-downstream"], False),
    ]
    assert_nothing_remains(link_env, baseline_ms)

    run = run_schedule(schedule_from_json(schedule.dumps()))  # replayed from JSON, to the end
    assert [r.error for r in run.records] == [None] * 6
    assert len(run.loads) == 1
    assert run.loads[0].sent == 5
    assert_nothing_remains(link_env, baseline_ms)
