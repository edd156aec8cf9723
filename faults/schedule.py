"""Schedules: a sequence of steps (fault on, fault off, wait, load burst) saved as JSON and
replayed step by step.

A burst may carry fault steps of its own (``LoadBurst(..., during=(At(0.3, FaultOn(f)),))``):
they are taken ``at_s`` seconds into the burst, while its requests are in flight, the way
Jepsen's nemesis acts concurrently with the clients. A schedule may also carry the
``offsets`` at which each step started in the run that recorded it: a replay starts no step
earlier than that, so timing-dependent failures see the same gaps.

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from faults.base import Fault, FaultTarget, current_target, fault_from_json, require_service
from faults.validation import check_service_name
from harness.errors import ChaosError, FaultError

if TYPE_CHECKING:
    from harness.load import LoadResult, LoadRun

__all__ = [
    "FORMAT_VERSION",
    "At",
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

FORMAT_VERSION = 2  # 2: bursts with fault steps during them, and step offsets
READABLE_VERSIONS = (1, 2)  # a version 1 file is a version 2 file without either
MAX_WAIT_S = 600.0
MAX_BURST_S = 60.0
MAX_BURST_RATE = 2000.0
MAX_STEPS = 1000


class ScheduleTarget(FaultTarget, Protocol):
    """A running system a schedule can drive: faults, and load for its bursts."""

    def load(self, service: str, request: str, **options: Any) -> LoadResult: ...

    def start_load(
        self,
        service: str,
        request: str,
        *,
        rate: float,
        seconds: float,
        max_requests: int | None = None,
        timeout: float = 5.0,
        **options: Any,
    ) -> LoadRun: ...


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
        run = self.target.start_load(
            step.service,
            step.request,
            rate=step.rate,
            seconds=step.seconds,
            max_requests=step.max_requests,
            timeout=step.timeout_s,
        )
        try:
            for at in step.during:
                sleep_until(run.history.now, at.at_s)
                if isinstance(at.step, FaultOn):
                    at.step.fault.apply(self.target)
                else:
                    at.step.fault.heal(self.target)
        except BaseException:
            run.stop()  # send nothing more; the requests in flight end before this returns
            run.wait()
            raise
        return run.wait()


def sleep_until(clock: Callable[[], float], at_s: float) -> None:
    """Sleep until ``clock()`` (seconds on some clock) reads ``at_s``; at once if it has."""
    remaining = at_s - clock()
    if remaining > 0:
        time.sleep(remaining)


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
    the last one has answered or timed out. ``during`` holds fault steps taken while the
    requests are in flight, each ``at_s`` seconds after the burst began (in order).
    """

    service: str
    request: str = "GET /"
    rate: float = 10.0
    seconds: float = 1.0
    timeout_s: float = 5.0
    during: tuple[At, ...] = ()

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
        if isinstance(self.during, str) or not isinstance(self.during, Sequence):
            raise FaultError(f"LoadBurst.during must be a list of At(...), got {self.during!r}")
        object.__setattr__(self, "during", tuple(self.during))
        last = 0.0
        for at in self.during:
            if not isinstance(at, At):
                raise FaultError(
                    f"LoadBurst.during holds At(seconds, FaultOn(...)) steps, got {at!r}"
                )
            if at.at_s > self.seconds:
                raise FaultError(
                    f"LoadBurst.during: {at.describe()} comes after the burst's last request "
                    f"({self.seconds:g} s); make it a step of its own after the burst"
                )
            if at.at_s < last:
                raise FaultError("LoadBurst.during must be in the order of at_s")
            last = at.at_s

    @property
    def max_requests(self) -> int:
        return max(1, math.ceil(self.rate * self.seconds))

    def __repr__(self) -> str:  # code that builds it, without the empty ``during``
        during = f", during={self.during!r}" if self.during else ""
        return (
            f"LoadBurst(service={self.service!r}, request={self.request!r}, rate={self.rate!r}, "
            f"seconds={self.seconds!r}, timeout_s={self.timeout_s!r}{during})"
        )

    def describe(self) -> str:
        text = f"load {self.request} on {self.service} at {self.rate:g}/s for {self.seconds:g} s"
        if self.during:
            text += "; " + "; ".join(at.describe() for at in self.during)
        return text


@dataclasses.dataclass(frozen=True)
class At:
    """A fault step taken ``at_s`` seconds into a burst, while its requests are in flight."""

    at_s: float
    step: FaultOn | FaultOff

    def __post_init__(self) -> None:
        value = self.at_s
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise FaultError(f"At.at_s must be a number of seconds, got {value!r}")
        if not 0 <= value <= MAX_BURST_S:
            raise FaultError(f"At.at_s must be between 0 and {MAX_BURST_S:g} seconds, got {value}")
        if not isinstance(self.step, FaultOn | FaultOff):
            raise FaultError(f"At.step must be FaultOn(...) or FaultOff(...), got {self.step!r}")

    def describe(self) -> str:
        return f"at {self.at_s:g} s {self.step.describe()}"


Step = FaultOn | FaultOff | Wait | LoadBurst
_STEP_NAMES: dict[type[Any], str] = {
    FaultOn: "on",
    FaultOff: "off",
    Wait: "wait",
    LoadBurst: "load",
}


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Steps to run in order. Building it checks that every fault switched off is on.

    ``offsets``, when given (one per step), say when each step started in the run that
    recorded the schedule, in seconds since its start; :func:`run_schedule` starts no step
    earlier than its offset.
    """

    steps: tuple[Step, ...]
    offsets: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.steps, str) or not isinstance(self.steps, Sequence):
            raise FaultError(f"Schedule.steps must be a list of steps, got {self.steps!r}")
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "offsets", tuple(self.offsets))
        if len(self.steps) > MAX_STEPS:
            raise FaultError(f"a schedule has at most {MAX_STEPS} steps, got {len(self.steps)}")
        on: list[Fault] = []
        for index, step in enumerate(self.steps):
            if not isinstance(step, FaultOn | FaultOff | Wait | LoadBurst):
                raise FaultError(
                    f"step {index} is {step!r}; a step is FaultOn, FaultOff, Wait or LoadBurst"
                )
            for fault_step in _fault_steps(step):
                _switch(on, index, fault_step)
        if self.offsets:
            if len(self.offsets) != len(self.steps):
                raise FaultError(
                    f"Schedule.offsets has {len(self.offsets)} offsets for {len(self.steps)} "
                    "steps; give one per step, or none"
                )
            for value in self.offsets:
                _check_seconds("Schedule.offsets", value, 24 * 3600.0, low_inclusive=True)
            if list(self.offsets) != sorted(self.offsets):
                raise FaultError("Schedule.offsets must not decrease: steps run in order")

    def __repr__(self) -> str:  # code that builds it, without the empty ``offsets``
        offsets = f", offsets={self.offsets!r}" if self.offsets else ""
        return f"Schedule(steps={self.steps!r}{offsets})"

    def faults(self) -> list[Fault]:
        """Every fault the schedule turns on, in order (those during bursts included)."""
        return [
            fault_step.fault
            for step in self.steps
            for fault_step in _fault_steps(step)
            if isinstance(fault_step, FaultOn)
        ]

    def without(self, indexes: Iterable[int]) -> Schedule:
        """The schedule without the steps at ``indexes``; later offsets move earlier by the
        time the dropped steps took (a FaultError if what is left is not well formed)."""
        dropped = set(indexes)
        steps = tuple(step for i, step in enumerate(self.steps) if i not in dropped)
        if not self.offsets:
            return Schedule(steps)
        offsets: list[float] = []
        shift = 0.0
        for i, start in enumerate(self.offsets):
            if i in dropped:
                end = self.offsets[i + 1] if i + 1 < len(self.offsets) else start
                shift += end - start
            else:
                offsets.append(round(max(0.0, start - shift), 3))
        return Schedule(steps, tuple(offsets))

    def validate(self, target: FaultTarget) -> None:
        for fault in self.faults():
            fault.validate(target)
        for step in self.steps:
            if isinstance(step, LoadBurst):
                require_service(target, "LoadBurst", step.service)

    def describe(self) -> str:
        return "\n".join(f"{i}. {step.describe()}" for i, step in enumerate(self.steps))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "steps": [_step_to_json(s) for s in self.steps],
        }
        if self.offsets:
            data["offsets"] = list(self.offsets)
        return data

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
    version = data.get("version")
    if version not in READABLE_VERSIONS:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise FaultError(
            f"schedule format version {version!r} is not supported; this harness reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}"
            + ("; it was written by a newer chaos-harness: upgrade to replay it" if newer else "")
        )
    offsets = data.get("offsets", [])
    if version == 1 and offsets:
        raise FaultError("schedule format version 1 has no 'offsets'; write version 2")
    if not isinstance(offsets, list):
        raise FaultError(f"a schedule's 'offsets' must be a list of seconds, got {offsets!r}")
    steps = tuple(_step_from_json(i, s) for i, s in enumerate(data["steps"]))
    return Schedule(steps, tuple(offsets))


def _step_to_json(step: Step) -> dict[str, Any]:
    name = _STEP_NAMES[type(step)]
    if isinstance(step, FaultOn | FaultOff):
        return {"step": name, "fault": step.fault.to_json()}
    data = {"step": name, **{f.name: getattr(step, f.name) for f in dataclasses.fields(step)}}
    if isinstance(step, LoadBurst):
        if step.during:
            data["during"] = [{"at_s": at.at_s, **_step_to_json(at.step)} for at in step.during]
        else:
            del data["during"]  # as a version 1 reader would write it
    return data


def _fault_steps(step: Step) -> list[FaultOn | FaultOff]:
    """The fault steps a step takes: itself, or those during a burst."""
    if isinstance(step, FaultOn | FaultOff):
        return [step]
    if isinstance(step, LoadBurst):
        return [at.step for at in step.during]
    return []


def _switch(on: list[Fault], index: int, step: FaultOn | FaultOff) -> None:
    if isinstance(step, FaultOn):
        if step.fault in on:
            raise FaultError(f"step {index} turns on {step.fault.describe()}, which is already on")
        on.append(step.fault)
    else:
        if step.fault not in on:
            raise FaultError(
                f"step {index} turns off {step.fault.describe()}, which is not on; "
                "a FaultOff needs an earlier FaultOn of the same fault"
            )
        on.remove(step.fault)


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
    if "during" in fields:
        fields["during"] = tuple(_at_from_json(index, raw) for raw in _list(fields["during"]))
    return cls(**fields)


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise FaultError(f"a burst's 'during' must be a list, got {value!r}")
    return value


def _at_from_json(index: int, raw: object) -> At:
    if not isinstance(raw, Mapping) or "at_s" not in raw:
        raise FaultError(
            f"schedule step {index}: each 'during' entry is an object with 'at_s', 'step' "
            f"and 'fault', got {raw!r}"
        )
    fields = dict(raw)
    at_s = fields.pop("at_s")
    step = _step_from_json(index, fields)
    if not isinstance(step, FaultOn | FaultOff):
        raise FaultError(f"schedule step {index}: a step during a burst is 'on' or 'off'")
    return At(at_s, step)


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
    ``on_step`` is called after each step that succeeded. A step with an offset starts no
    earlier than that many seconds after the run began. Faults still on when the run
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
            if schedule.offsets:
                sleep_until(lambda: time.monotonic() - started, schedule.offsets[index])
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
        # Before the burst: a fault it turns on half-way is healed however the run ends.
        turned_on += [at.step.fault for at in step.during if isinstance(at.step, FaultOn)]
        load = executor.burst(step)
        for at in step.during:
            if isinstance(at.step, FaultOff):
                turned_on.remove(at.step.fault)
        return load
    return None


def _check_fault(owner: str, value: object) -> None:
    if not isinstance(value, Fault):
        raise FaultError(
            f"{owner}.fault must be a fault (Latency(...), Kill(...), ...), got {value!r}"
        )


def _check_seconds(
    name: str, value: object, high: float, unit: str = "seconds", *, low_inclusive: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise FaultError(f"{name} must be a number of {unit}, got {value!r}")
    if low_inclusive and not 0 <= value <= high:
        raise FaultError(f"{name} must be between 0 and {high:g} {unit}, got {value}")
    if not low_inclusive and not 0 < value <= high:
        raise FaultError(f"{name} must be more than 0 and at most {high:g} {unit}, got {value}")
