"""One example of an exploration over a running system, from a healed baseline to its checks.

:class:`ExampleRun` is a :class:`faults.schedule.StepExecutor`: it does what a schedule's
steps say (a fault on, a fault off, a wait, a burst of one of the model's operations) and
checks invariants as it goes. The Hypothesis state machine (:mod:`harness.explore.machine`)
calls it one step at a time; a replay (:func:`run_example`) hands it to
:func:`faults.schedule.run_schedule`, the one interpreter of schedules. Either way every
step is recorded, so a failure comes with the schedule that caused it.

What it checks comes from invariants (:mod:`harness.explore.invariants`): the generic ones,
which hold for any HTTP service whatever it does, and the model's. An example does not
stop at the first one broken: it runs to its end (a harness error in a step aside), heals,
quiesces, and then reports every invariant it broke, ordered by cause, so a process that
died is read before the timeouts it caused.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from faults import (
    Disconnect,
    Fault,
    FaultOff,
    FaultOn,
    Kill,
    LoadBurst,
    Pause,
    ProcessFault,
    Schedule,
    Step,
    Wait,
    run_schedule,
)
from harness.checks import Outcome, Verdict, goroutine_baseline, snapshot
from harness.errors import ChaosError, ConfigError
from harness.explore.calibration import Calibration, calibrate
from harness.explore.invariants import Invariant, Rank, generic
from harness.explore.invariants.outcomes import captured_headers
from harness.explore.invariants.replies import EPSILON_MS
from harness.explore.model import Operation, SystemModel, check_model
from harness.sampler import MetricSampler

if TYPE_CHECKING:
    from harness.checks.goroutines import GoroutineBaseline
    from harness.checks.process import ServiceSnapshot
    from harness.environment import Environment
    from harness.history import History
    from harness.load import LoadResult
    from harness.probes import Metrics

__all__ = [
    "EPSILON_MS",
    "MAX_ACTIVE",
    "Burst",
    "ExampleRun",
    "InvariantBroken",
    "broken_message",
    "calibrated",
    "check_schedule",
    "patient_timeout_s",
    "replay",
    "run_example",
]

MAX_ACTIVE = 2  # faults on at once
QUIESCE_S = 0.2  # after healing, before the end-of-example checks
SAMPLE_EVERY_S = 0.05
PATIENT_S = 5.0  # the least a patient client waits; more when a budget needs it


class InvariantBroken(Exception):
    """An invariant failed; the message says which and why.

    Not an ``AssertionError``: :func:`faults.schedule.run_schedule` turns those into a
    failed step, and a broken invariant is the finding itself, passed through unchanged.
    """


def patient_timeout_s(operation: Operation) -> float:
    """How long a patient client waits: long enough for the budget + epsilon to be judged."""
    return min(120.0, max(PATIENT_S, (operation.limit_ms + EPSILON_MS) / 1000 + 1))


def _target(fault: Fault) -> str:
    """What a fault occupies: two faults on the same thing never go on together."""
    data = fault.to_json()
    if isinstance(fault, ProcessFault | Disconnect):
        return f"process:{data.get('service')}"
    if "link" in data:
        return f"link:{data['link']}:{fault.kind}"
    return f"group:{fault.kind}"


def _silences(fault: Fault, service: str) -> bool:
    """Faults after which ``service`` itself cannot answer (killed, frozen, unplugged)."""
    return (
        isinstance(fault, ProcessFault | Disconnect) and fault.to_json().get("service") == service
    )


def _replaces_process(fault: Fault) -> bool:
    return isinstance(fault, ProcessFault) and not isinstance(fault, Pause)


@dataclass
class Burst:
    """One burst of load, as the model's ``after_burst`` hook sees it."""

    step: LoadBurst
    operation: Operation
    key: str  # no other burst has it: the prefix of this burst's idempotency keys
    history: History
    sent: int
    judged: bool  # the service was reachable and the clients patient: timing is judged
    # The model's sampled services' /metrics: one scrape just before the first request,
    # then every SAMPLE_EVERY_S until the last answer (None: they could not be reached).
    metrics: MetricSampler | None = None

    def before(self, service: str) -> Metrics | None:
        """A sampled service's /metrics just before the burst (None: not scraped, or the
        scrape failed); read one value with :func:`harness.probes.sample`."""
        if self.metrics is None:
            return None
        for scrape in self.metrics.scrapes:
            if scrape.service == service:
                return scrape.metrics
        return None


@dataclass
class ExampleRun:
    """One example over a running system, from a healed baseline to its checks.

    What hooks may read: ``env``, ``operations``, ``watched``, ``active`` (faults on now),
    ``bursts`` so far, ``replaced`` (services the schedule restarted: a new process),
    ``killed`` (SIGKILLed), ``snapshots`` and ``baselines`` (per watched service, taken
    at the start).
    """

    env: Environment
    model: SystemModel
    on_failure: Callable[[Schedule, str], None] | None = None
    operations: Sequence[Operation] = ()
    watched: Sequence[str] = ()
    steps: list[Step] = field(default_factory=list)
    active: list[Fault] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    replaced: set[str] = field(default_factory=set)  # services restarted by the schedule
    killed: set[str] = field(default_factory=set)  # services SIGKILLed by the schedule
    snapshots: dict[str, ServiceSnapshot] = field(default_factory=dict)
    baselines: dict[str, GoroutineBaseline] = field(default_factory=dict)
    unobserved: dict[str, str] = field(default_factory=dict)  # service -> why no baseline
    invariants: list[Invariant] = field(default_factory=list)  # generic, then the model's
    # What each operation does fault-free (None: not learnt; invariants that compare say
    # unknown).
    calibration: Calibration | None = None
    # Every invariant broken so far, first one per check: (rank, order, verdict).
    failures: list[tuple[Rank, int, Verdict]] = field(default_factory=list)
    prefix: str = field(default_factory=lambda: f"x{uuid.uuid4().hex[:10]}")
    finished: bool = False

    def __post_init__(self) -> None:
        if not self.operations:
            self.operations = check_model(self.model, self.env.topology)
        if not self.watched:
            self.watched = list(self.model.watched(self.env.topology))
        if not self.invariants:
            # Fresh ones for every example: an invariant may keep what it saw in this one.
            self.invariants = [*filter(self.model.keeps, generic())]
            self.invariants += self.model.invariants(self.env.topology)

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    # -- start: a healed baseline ---------------------------------------------------------

    def start(self) -> None:
        # Not guarded: a system that cannot be brought back to its baseline is no finding
        # of this example's schedule (which has no step yet), so the error stops the run.
        self.env.reset()
        self._judge(lambda: self.model.start(self), self.model.rank, guarded=False)
        for name in self.watched:
            self.snapshots[name] = snapshot(self.env, name)
            if self.env.topology.service(name).pprof is None:
                self.unobserved[name] = (
                    f"{name} declares no pprof endpoint (x-chaos.services.{name}.pprof)"
                )
                continue
            try:
                self.baselines[name] = goroutine_baseline(self.env, name)
            except ChaosError as exc:
                self.unobserved[name] = f"could not read the goroutines of {name}: {exc}"
        for each in self.invariants:
            self._judge(lambda i=each: i.start(self), each.rank, guarded=False)  # type: ignore[misc]

    # -- steps (the StepExecutor protocol) ------------------------------------------------

    def can_apply(self, fault: Fault) -> bool:
        taken = {_target(f) for f in self.active}
        return len(self.active) < MAX_ACTIVE and _target(fault) not in taken

    def fault_on(self, fault: Fault) -> None:
        self.steps.append(FaultOn(fault))
        self.active.append(fault)
        self._guard(lambda: fault.apply(self.env))
        if _replaces_process(fault):
            self.replaced.add(str(fault.to_json()["service"]))
        if isinstance(fault, Kill):
            self.killed.add(str(fault.to_json()["service"]))

    def fault_off(self, fault: Fault) -> None:
        if fault not in self.active:
            return
        for each in self.invariants:
            self._judge(lambda i=each: i.before_fault_off(self, fault), each.rank)  # type: ignore[misc]
        self.steps.append(FaultOff(fault))
        self.active.remove(fault)
        self._guard(lambda: fault.heal(self.env))

    def wait(self, seconds: float) -> None:
        self.steps.append(Wait(seconds))
        time.sleep(seconds)

    def burst(self, step: LoadBurst) -> LoadResult | None:
        self.steps.append(step)
        operation = self._operation(step)
        if any(_silences(f, step.service) for f in self.active):
            # Killed, frozen or unplugged by the schedule: there is no reply to judge (and a
            # disconnected container has no published address to send to).
            self.env.events.progress(f"burst skipped, {step.service} is down: {step.describe()}")
            return None
        key = f"{self.prefix}b{len(self.bursts)}"
        sampler = self._sampler(step)
        if sampler is not None:
            sampler.scrape_now()  # the state the burst is compared with, before it starts
        with sampler if sampler is not None else contextlib.nullcontext():
            result: LoadResult = self._guard(
                lambda: operation.load(
                    self.env,
                    step.service,
                    operation.sends(step.request, key),
                    rate=step.rate,
                    seconds=step.seconds,
                    max_requests=step.max_requests,
                    timeout=step.timeout_s,
                    classify=self.model.classify,
                    capture_headers=captured_headers(self.env.topology, step.service),
                )
            )
        patient = step.timeout_s * 1000 >= operation.limit_ms + EPSILON_MS
        burst = Burst(step, operation, key, result.history, result.sent, patient, sampler)
        self.bursts.append(burst)
        self._judge(lambda: self.model.after_burst(self, burst), self.model.rank)
        for each in self.invariants:
            self._judge(lambda i=each: i.after_burst(self, burst), each.rank)  # type: ignore[misc]
        return result

    def _operation(self, step: LoadBurst) -> Operation:
        for operation in self.operations:
            if operation.matches(step):
                return operation
        self._fail(Verdict.failing("step runs", _no_operation(step, self.operations)))

    def _sampler(self, step: LoadBurst) -> MetricSampler | None:
        if not self.model.sampled:
            return None
        try:
            return MetricSampler(
                self.env,
                self.model.sampled,
                interval_s=SAMPLE_EVERY_S,
                max_seconds=step.seconds + 10,
            )
        except ChaosError:
            return None  # a sampled service is not reachable: what it would show is unknown

    # -- after every step: cheap ----------------------------------------------------------

    def after_step(self, step: Step | None = None) -> None:
        """Tell every invariant a step was taken (the last one, unless given)."""
        taken = step if step is not None else (self.steps[-1] if self.steps else None)
        if taken is None:
            return
        for each in self.invariants:
            self._judge(lambda i=each: i.after_step(self, taken), each.rank)  # type: ignore[misc]

    # -- end: heal, quiesce, check the rest -----------------------------------------------

    def finish(self) -> None:
        """Heal, quiesce, judge the end of the example; raise :class:`InvariantBroken`
        naming every invariant the example broke, the most basic cause first."""
        if self.finished:
            return
        self.finished = True
        for each in self.invariants:
            self._judge(lambda i=each: i.before_heal(self), each.rank)  # type: ignore[misc]
        for fault in reversed(list(self.active)):
            self.steps.append(FaultOff(fault))
            self.active.remove(fault)
            self._guard(lambda f=fault: f.heal(self.env))  # type: ignore[misc]
        self.env.heal_all()
        self.env.events.progress(f"quiesce after {len(self.steps)} steps")
        time.sleep(QUIESCE_S)
        for each in self.invariants:
            self._judge(lambda i=each: i.end(self), each.rank)  # type: ignore[misc]
        self._judge(lambda: self.model.end(self), self.model.rank)
        if self.failures:
            self._raise()

    # -- verdicts -------------------------------------------------------------------------

    def schedule(self) -> Schedule:
        """What the example did, as a schedule (faults left on are switched off at its end)."""
        steps = list(self.steps)
        for fault in reversed(self.active):
            steps.append(FaultOff(fault))
        return Schedule(tuple(steps))

    def _judge(
        self,
        verdicts: Callable[[], Iterable[Verdict]],
        rank: Rank | Callable[[Verdict], Rank],
        *,
        guarded: bool = True,
    ) -> None:
        """Record every verdict a hook yields; a harness error in it fails the example like
        one in a step (``guarded``), or stops the run."""
        try:
            for verdict in verdicts():
                self._require(verdict, rank if isinstance(rank, Rank) else rank(verdict))
        except ChaosError as exc:
            if not guarded:
                raise
            self._fail(Verdict.failing("step runs", f"{type(exc).__name__}: {exc}"))

    def _require(self, verdict: Verdict, rank: Rank) -> None:
        """An exploration fails on a failing verdict only; unknown (unobserved) is noted.
        The example goes on: what else it breaks is part of the story."""
        self.env.events.verdict(verdict)
        if verdict.outcome is not Outcome.FAIL:
            return
        if any(seen.check == verdict.check for _, _, seen in self.failures):
            return  # the first failure of a check tells it; later ones follow from it
        self.failures.append((rank, len(self.failures), verdict))
        first = verdict.message.splitlines()[0][:120]
        self.env.events.progress(
            f"broken after {len(self.steps)} steps: [{verdict.check}: fail] {first}"
        )

    def _fail(self, verdict: Verdict) -> NoReturn:
        """A step could not be taken: the example ends here, with what it broke so far."""
        self._require(verdict, Rank.PROCESS)
        self._raise()

    def _raise(self) -> NoReturn:
        message = broken_message(self.failures)
        if self.on_failure is not None:
            self.on_failure(self.schedule(), message)
        raise InvariantBroken(message)

    def _guard(self, call: Callable[[], Any]) -> Any:
        """A harness error in a step (a fault that cannot be applied, a service that does
        not come back) fails the example like a broken invariant, schedule recorded."""
        try:
            return call()
        except ChaosError as exc:
            self._fail(Verdict.failing("step runs", f"{type(exc).__name__}: {exc}"))


def broken_message(failures: Sequence[tuple[Rank, int, Verdict]]) -> str:
    """Every broken invariant, the most basic cause first (then in the order they broke)."""
    ordered = [verdict for _, _, verdict in sorted(failures, key=lambda f: (f[0], f[1]))]
    lines = [f"[{v.check}: {v.outcome.value}] {v.message}" for v in ordered]
    if len(lines) == 1:
        return lines[0]
    numbered = "\n".join(f"{n}. {line}" for n, line in enumerate(lines, start=1))
    return f"{len(lines)} invariants broken, the most basic cause first:\n{numbered}"


def _no_operation(step: LoadBurst, operations: Sequence[Operation]) -> str:
    known = "; ".join(f"{', '.join(op.requests)} to {op.service}" for op in operations)
    return (
        f"no operation of the model sends {step.request} to {step.service}; "
        f"its operations send: {known}"
    )


# -- replay: a schedule through the one interpreter ----------------------------------------


def check_schedule(env: Environment, model: SystemModel, schedule: Schedule) -> None:
    """A ConfigError, before anything runs, if ``schedule`` does not fit this system: a
    fault on a link or service it does not have, a burst no operation sends."""
    operations = check_model(model, env.topology)
    try:
        schedule.validate(env)
    except ChaosError as exc:
        raise ConfigError(f"it does not fit this system: {exc}") from None
    for step in schedule.steps:
        if isinstance(step, LoadBurst) and not any(op.matches(step) for op in operations):
            raise ConfigError(f"it does not fit this model: {_no_operation(step, operations)}")


def calibrated(env: Environment, model: SystemModel) -> Calibration:
    """Bring the system to its healed baseline and learn what each operation does there."""
    baseline = ExampleRun(env, model)
    baseline.start()
    return calibrate(env, model, baseline.operations)


def run_example(
    env: Environment,
    model: SystemModel,
    schedule: Schedule,
    on_failure: Callable[[Schedule, str], None] | None = None,
    calibration: Calibration | None = None,
) -> ExampleRun:
    """Run a saved schedule as one example: same start, steps, checks and end."""
    run = ExampleRun(env, model, on_failure=on_failure, calibration=calibration)
    run.start()
    try:
        run_schedule(schedule, env, executor=run, on_step=lambda record: run.after_step())
    finally:
        run.finish()
    return run


def replay(
    env: Environment, model: SystemModel, schedule: Schedule, runs: int
) -> tuple[int, list[str]]:
    """Run ``schedule`` ``runs`` times; (how many broke an invariant, their messages)."""
    check_schedule(env, model, schedule)
    calibration = calibrated(env, model)
    messages: list[str] = []
    for number in range(1, runs + 1):
        env.events.progress(f"replay {number}/{runs}")
        try:
            run_example(env, model, schedule, calibration=calibration)
        except InvariantBroken as exc:
            messages.append(f"run {number}: {exc}")
    return len(messages), messages
