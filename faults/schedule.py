"""Schedules: a sequence of steps (fault on, fault off, wait, load burst) saved as JSON and
replayed step by step.

A :class:`Schedule` is a value like a fault: it is checked when built (a fault switched off
that is not on, a wait of minus one second, ... are refused), round-trips through JSON, and
its ``repr`` is the Python code that builds it, so a failing schedule can be printed and
pasted into a test. :func:`run_schedule` validates every fault against the target before
the first step, then runs the steps in order and, however it ends, heals every fault it
turned on (latest first).

:func:`run_schedule` is the only interpreter of schedules. What a step *does* is up to a
:class:`StepExecutor`: the plain one (:class:`PlainExecutor`) applies, heals, sleeps and
sends load through the target; an exploration's example run is another executor that also
checks invariants after each step, so a replayed schedule runs through the same loop.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from faults.base import Fault, FaultTarget, current_target, fault_from_json, require_service
from faults.validation import check_service_name
from harness.errors import ChaosError, FaultError

if TYPE_CHECKING:
    from harness.load import LoadResult

__all__ = [
    "FaultOff",
    "FaultOn",
    "LoadBurst",
    "PlainExecutor",
    "Schedule",
    "ScheduleError",
    "ScheduleRun",
    "ScheduleTarget",
    "Step",
    "StepExecutor",
    "StepRecord",
    "Wait",
    "run_schedule",
    "schedule_from_json",
]

FORMAT_VERSION = 1
MAX_WAIT_S = 600.0
MAX_BURST_S = 60.0
MAX_BURST_RATE = 2000.0
MAX_STEPS = 1000


class ScheduleTarget(FaultTarget, Protocol):
    """A running system a schedule can drive: faults, and load for its bursts."""

    def load(self, service: str, request: str, **options: Any) -> LoadResult: ...


class StepExecutor(Protocol):
    """What one step of a schedule does, kind by kind (see :func:`run_schedule`).

    A step that cannot be done raises a :class:`~harness.errors.ChaosError` (or an
    ``AssertionError``); the run then stops with a :class:`ScheduleError`. Any other
    exception (a broken invariant, Ctrl-C) passes through unchanged. Either way the faults
    the run turned on are healed first.
    """

    def fault_on(self, fault: Fault) -> None: ...

    def fault_off(self, fault: Fault) -> None: ...

    def wait(self, seconds: float) -> None: ...

    def burst(self, step: LoadBurst) -> LoadResult | None: ...


class PlainExecutor:
    """Does each step and nothing more: apply, heal, sleep, send load through ``target``."""

    def __init__(self, target: ScheduleTarget) -> None:
        self.target = target

    def fault_on(self, fault: Fault) -> None:
        fault.apply(self.target)

    def fault_off(self, fault: Fault) -> None:
        fault.heal(self.target)

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    def burst(self, step: LoadBurst) -> LoadResult | None:
        return self.target.load(
            step.service,
            step.request,
            rate=step.rate,
            seconds=step.seconds,
            max_requests=step.max_requests,
            timeout=step.timeout_s,
        )


@dataclasses.dataclass(frozen=True)
class FaultOn:
    """Apply ``fault``."""

    fault: Fault

    def __post_init__(self) -> None:
        _check_fault("FaultOn", self.fault)

    def describe(self) -> str:
        return f"on: {self.fault.describe()}"


@dataclasses.dataclass(frozen=True)
class FaultOff:
    """Heal ``fault`` (turned on by an earlier step)."""

    fault: Fault

    def __post_init__(self) -> None:
        _check_fault("FaultOff", self.fault)

    def describe(self) -> str:
        return f"off: {self.fault.describe()}"


@dataclasses.dataclass(frozen=True)
class Wait:
    """Do nothing for ``seconds`` seconds (0 < seconds <= 600)."""

    seconds: float

    def __post_init__(self) -> None:
        _check_seconds("Wait.seconds", self.seconds, MAX_WAIT_S)

    def describe(self) -> str:
        return f"wait {self.seconds:g} s"


@dataclasses.dataclass(frozen=True)
class LoadBurst:
    """Send ``request`` to ``service`` at ``rate`` per second for ``seconds`` (open model).

    Each request waits at most ``timeout_s`` seconds for its answer; the burst ends when
    the last one has answered or timed out.
    """

    service: str
    request: str = "GET /"
    rate: float = 10.0
    seconds: float = 1.0
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        check_service_name("LoadBurst", "service", self.service)
        text = self.request if isinstance(self.request, str) else ""
        method, _, path = text.partition(" ")
        if not method.isalpha() or not path.startswith("/"):
            raise FaultError(
                f"LoadBurst.request must look like 'GET /items/1', got {self.request!r}"
            )
        _check_seconds("LoadBurst.rate", self.rate, MAX_BURST_RATE, unit="requests per second")
        _check_seconds("LoadBurst.seconds", self.seconds, MAX_BURST_S)
        _check_seconds("LoadBurst.timeout_s", self.timeout_s, 120.0)

    @property
    def max_requests(self) -> int:
        return max(1, math.ceil(self.rate * self.seconds))

    def describe(self) -> str:
        return f"load {self.request} on {self.service} at {self.rate:g}/s for {self.seconds:g} s"


Step = FaultOn | FaultOff | Wait | LoadBurst
_STEP_NAMES: dict[type[Any], str] = {
    FaultOn: "on",
    FaultOff: "off",
    Wait: "wait",
    LoadBurst: "load",
}


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Steps to run in order. Building it checks that every fault switched off is on."""

    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if isinstance(self.steps, str) or not isinstance(self.steps, Sequence):
            raise FaultError(f"Schedule.steps must be a list of steps, got {self.steps!r}")
        object.__setattr__(self, "steps", tuple(self.steps))
        if len(self.steps) > MAX_STEPS:
            raise FaultError(f"a schedule has at most {MAX_STEPS} steps, got {len(self.steps)}")
        on: list[Fault] = []
        for index, step in enumerate(self.steps):
            if isinstance(step, FaultOn):
                if step.fault in on:
                    raise FaultError(
                        f"step {index} turns on {step.fault.describe()}, which is already on"
                    )
                on.append(step.fault)
            elif isinstance(step, FaultOff):
                if step.fault not in on:
                    raise FaultError(
                        f"step {index} turns off {step.fault.describe()}, which is not on; "
                        "a FaultOff needs an earlier FaultOn of the same fault"
                    )
                on.remove(step.fault)
            elif not isinstance(step, Wait | LoadBurst):
                raise FaultError(
                    f"step {index} is {step!r}; a step is FaultOn, FaultOff, Wait or LoadBurst"
                )

    def faults(self) -> list[Fault]:
        """Every fault the schedule turns on, in order."""
        return [step.fault for step in self.steps if isinstance(step, FaultOn)]

    def validate(self, target: FaultTarget) -> None:
        for fault in self.faults():
            fault.validate(target)
        for step in self.steps:
            if isinstance(step, LoadBurst):
                require_service(target, "LoadBurst", step.service)

    def describe(self) -> str:
        return "\n".join(f"{i}. {step.describe()}" for i, step in enumerate(self.steps))

    def to_json(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, "steps": [_step_to_json(s) for s in self.steps]}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, indent=1)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.dumps() + "\n")

    @staticmethod
    def load(path: str | Path) -> Schedule:
        return schedule_from_json(Path(path).read_text())


def schedule_from_json(data: Mapping[str, Any] | str) -> Schedule:
    """Rebuild a schedule from :meth:`Schedule.to_json` output (or its JSON text)."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise FaultError(f"a schedule in JSON must be a JSON object: {exc}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("steps"), list):
        raise FaultError("a schedule in JSON must be an object with a 'steps' list")
    if data.get("version") != FORMAT_VERSION:
        raise FaultError(
            f"schedule format version {data.get('version')!r} is not supported; "
            f"this harness reads version {FORMAT_VERSION}"
        )
    return Schedule(tuple(_step_from_json(i, s) for i, s in enumerate(data["steps"])))


def _step_to_json(step: Step) -> dict[str, Any]:
    name = _STEP_NAMES[type(step)]
    if isinstance(step, FaultOn | FaultOff):
        return {"step": name, "fault": step.fault.to_json()}
    return {"step": name, **dataclasses.asdict(step)}


def _step_from_json(index: int, raw: object) -> Step:
    if not isinstance(raw, Mapping):
        raise FaultError(f"schedule step {index} must be an object, got {raw!r}")
    fields = dict(raw)
    name = fields.pop("step", None)
    if name in ("on", "off"):
        if set(fields) != {"fault"}:
            raise FaultError(f"schedule step {index} ({name}) must have exactly a 'fault'")
        fault = fault_from_json(fields["fault"])
        return FaultOn(fault) if name == "on" else FaultOff(fault)
    kinds: dict[str, type[Wait] | type[LoadBurst]] = {"wait": Wait, "load": LoadBurst}
    if name not in kinds:
        raise FaultError(
            f"schedule step {index} has step {name!r}; the steps are: on, off, wait, load"
        )
    cls = kinds[str(name)]
    allowed = {f.name for f in dataclasses.fields(cls)}
    if not set(fields) <= allowed:
        extra = ", ".join(sorted(set(fields) - allowed))
        raise FaultError(
            f"schedule step {index} ({name}) has no field(s) {extra}; "
            f"its fields are: {', '.join(sorted(allowed))}"
        )
    return cls(**fields)


@dataclasses.dataclass(frozen=True)
class StepRecord:
    """What one step did: when (seconds since the run started), and how it ended."""

    index: int
    step: Step
    started_s: float
    ended_s: float
    error: str | None = None
    load: LoadResult | None = None


@dataclasses.dataclass
class ScheduleRun:
    """The record of one run: every step taken, and faults that failed to heal."""

    schedule: Schedule
    records: list[StepRecord] = dataclasses.field(default_factory=list)
    heal_errors: list[str] = dataclasses.field(default_factory=list)

    @property
    def loads(self) -> list[LoadResult]:
        return [r.load for r in self.records if r.load is not None]


class ScheduleError(FaultError):
    """A step of a schedule failed; every fault the run had turned on was healed first."""

    def __init__(self, message: str, run: ScheduleRun) -> None:
        super().__init__(message)
        self.run = run


def run_schedule(
    schedule: Schedule,
    target: ScheduleTarget | None = None,
    *,
    on_step: Callable[[StepRecord], None] | None = None,
    executor: StepExecutor | None = None,
) -> ScheduleRun:
    """Run ``schedule`` against ``target`` (the current chaos environment if None).

    ``executor`` does the steps (default: a :class:`PlainExecutor` over ``target``);
    ``on_step`` is called after each step that succeeded. Faults still on when the run
    stops are healed on ``target`` directly, whatever the executor.
    """
    if target is None:
        target = current_target()  # type: ignore[assignment]
    assert target is not None
    if executor is None:
        executor = PlainExecutor(target)
    schedule.validate(target)  # nothing is applied if any fault cannot be
    run = ScheduleRun(schedule)
    turned_on: list[Fault] = []
    started = time.monotonic()
    failure: tuple[int, Step, BaseException] | None = None
    try:
        for index, step in enumerate(schedule.steps):
            step_started = time.monotonic() - started
            try:
                load = _run_step(step, executor, turned_on)
            except (ChaosError, AssertionError) as exc:
                failure = (index, step, exc)
                run.records.append(
                    StepRecord(index, step, step_started, time.monotonic() - started, str(exc))
                )
                break
            record = StepRecord(index, step, step_started, time.monotonic() - started, None, load)
            run.records.append(record)
            if on_step is not None:
                on_step(record)
    finally:
        # Runs on a failed step, on Ctrl-C and on a failing on_step callback alike.
        for fault in reversed(turned_on):
            try:
                fault.heal(target)
            except ChaosError as exc:
                run.heal_errors.append(f"{fault.describe()}: {exc}")
    if failure is not None:
        failed_index, failed_step, cause = failure
        healed = f"; healed {len(turned_on)} fault(s) it had turned on" if turned_on else ""
        raise ScheduleError(
            f"schedule step {failed_index} ({failed_step.describe()}) failed: {cause}{healed}",
            run,
        ) from cause
    return run


def _run_step(step: Step, executor: StepExecutor, turned_on: list[Fault]) -> LoadResult | None:
    if isinstance(step, FaultOn):
        turned_on.append(step.fault)  # before apply: a half-applied fault is healed too
        executor.fault_on(step.fault)
    elif isinstance(step, FaultOff):
        executor.fault_off(step.fault)
        turned_on.remove(step.fault)
    elif isinstance(step, Wait):
        executor.wait(step.seconds)
    else:
        return executor.burst(step)
    return None


def _check_fault(owner: str, value: object) -> None:
    if not isinstance(value, Fault):
        raise FaultError(
            f"{owner}.fault must be a fault (Latency(...), Kill(...), ...), got {value!r}"
        )


def _check_seconds(name: str, value: object, high: float, unit: str = "seconds") -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise FaultError(f"{name} must be a number of {unit}, got {value!r}")
    if not 0 < value <= high:
        raise FaultError(f"{name} must be more than 0 and at most {high:g} {unit}, got {value}")
