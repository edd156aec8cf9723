"""One example of an exploration over a running system, from a healed baseline to its checks.

:class:`ExampleRun` is a :class:`faults.schedule.StepExecutor`: it does what a schedule's
steps say (a fault on, a fault off, a wait, a burst of one of the model's operations) and
checks invariants as it goes. The Hypothesis state machine (:mod:`harness.explore.machine`)
calls it one step at a time; a replay (:func:`run_example`) hands it to
:func:`faults.schedule.run_schedule`, the one interpreter of schedules. Either way every
step is recorded, so a failure comes with the schedule that caused it.

The invariants here hold for any HTTP service, whatever it does; the model
(:class:`~harness.explore.model.SystemModel`) adds its own through its hooks:

- answers within budget: with a reachable service and patient clients, every request of a
  burst is answered within its operation's budget + ``EPSILON_MS``;
- replies well formed: a complete HTTP reply the operation accepts (its statuses, its
  predicate, by default a JSON body); with impatient clients, the replies that came back;
- survives: a watched service keeps its process unless the schedule killed, stopped,
  froze or restarted it (after every step), and is healthy at the end;
- no runtime reports: no panic, fatal error or data race (with ``--chaos-race``) in any
  watched service's log since the example began; a service that made one is restarted,
  since the race detector reports a race once per process;
- no leaked goroutines, per watched service with a pprof endpoint (unknown otherwise),
  once faults are healed and in-flight work has had ``model.settle_s`` to end.
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
from harness.checks import (
    Outcome,
    Verdict,
    answers_within,
    goroutine_baseline,
    no_leaked_goroutines,
    no_runtime_reports,
    replies_well_formed,
    snapshot,
    survives,
)
from harness.errors import ChaosError, ConfigError
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
    "check_schedule",
    "patient_timeout_s",
    "replay",
    "run_example",
]

EPSILON_MS = 500.0  # on top of a budget: scheduling noise on a busy machine
MAX_ACTIVE = 2  # faults on at once
QUIESCE_S = 0.2  # after healing, before the end-of-example checks
SAMPLE_EVERY_S = 0.05
PATIENT_S = 5.0  # the least a patient client waits; more when a budget needs it
RUNTIME_REPORTS = ("data race", "panic", "fatal error")


class InvariantBroken(Exception):
    """An invariant failed; the message says which and why.

    Not an ``AssertionError``: :func:`faults.schedule.run_schedule` turns those into a
    failed step, and a broken invariant is the finding itself, passed through unchanged.
    """


def patient_timeout_s(operation: Operation) -> float:
    """How long a patient client waits: long enough for the budget + epsilon to be judged."""
    return min(120.0, max(PATIENT_S, (operation.budget_ms + EPSILON_MS) / 1000 + 1))


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
    failed: bool = False
    prefix: str = field(default_factory=lambda: f"x{uuid.uuid4().hex[:10]}")
    finished: bool = False

    def __post_init__(self) -> None:
        if not self.operations:
            self.operations = check_model(self.model, self.env.topology)
        if not self.watched:
            self.watched = list(self.model.watched(self.env.topology))

    # -- start: a healed baseline ---------------------------------------------------------

    def start(self) -> None:
        # Not guarded: a system that cannot be brought back to its baseline is no finding
        # of this example's schedule (which has no step yet), so the error stops the run.
        self.env.reset()
        self._judge(lambda: self.model.start(self), guarded=False)
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
                lambda: self.env.load(
                    step.service,
                    operation.sends(step.request, key),
                    rate=step.rate,
                    seconds=step.seconds,
                    max_requests=step.max_requests,
                    timeout=step.timeout_s,
                    classify=self.model.classify,
                )
            )
        patient = step.timeout_s * 1000 >= operation.budget_ms + EPSILON_MS
        burst = Burst(step, operation, key, result.history, result.sent, patient, sampler)
        self.bursts.append(burst)
        self._judge(lambda: self.model.after_burst(self, burst))
        if burst.judged:
            self._require(answers_within(burst.history, operation.budget_ms, epsilon_ms=EPSILON_MS))
            self._require(
                replies_well_formed(burst.history, is_well_formed=operation.is_well_formed)
            )
        elif operation.statuses is not None or operation.well_formed is not None:
            # Impatient clients gave up early, so no timing is judged; the replies that did
            # come back must still be what the operation promises.
            self._require(_answered_well_formed(burst.history, operation))
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

    def check_alive(self) -> None:
        """Services the schedule did not stop keep their process."""
        busy = {str(f.to_json().get("service")) for f in self.active if isinstance(f, ProcessFault)}
        for name in self.watched:
            if name in busy or name in self.replaced:
                continue
            before = self.snapshots[name].state
            now = self._guard(lambda n=name: self.env.state(n))  # type: ignore[misc]
            if not now.alive or (before.pid is not None and now.pid not in (None, before.pid)):
                self._fail(survives(self.env, name, self.snapshots[name]))

    # -- end: heal, quiesce, check the rest -----------------------------------------------

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        for fault in reversed(list(self.active)):
            self.steps.append(FaultOff(fault))
            self.active.remove(fault)
            self._guard(lambda f=fault: f.heal(self.env))  # type: ignore[misc]
        self.env.heal_all()
        if self.failed:
            return  # the first broken invariant is the story; the rest would only add noise
        self.env.events.progress(f"quiesce after {len(self.steps)} steps")
        time.sleep(QUIESCE_S)
        for name in self.watched:
            if name not in self.replaced:
                self._require(survives(self.env, name, self.snapshots[name]))
            # Logs only grow, across restarts too: the mark taken at the start still holds.
            reports = no_runtime_reports(
                self.env,
                name,
                since=self.snapshots[name].log_mark,
                kinds=RUNTIME_REPORTS,
                also=self.model.log_reports,
            )
            if reports.outcome is Outcome.FAIL:
                # The race detector reports a race once per process: the next example (a
                # shrink candidate, a replay) needs a fresh process to be able to see it.
                self._guard(lambda n=name: self.env.restart(n))  # type: ignore[misc]
            self._require(reports)
        settle_s = self.model.settle_s(self.operations)
        for name in self.watched:
            if name in self.replaced:
                continue  # a new process: the old baseline says nothing about it
            baseline = self.baselines.get(name)
            if baseline is None:
                self._require(Verdict.unknown("no leaked goroutines", self.unobserved[name]))
                continue
            self._require(no_leaked_goroutines(self.env, baseline, settle_s=settle_s))
        self._judge(lambda: self.model.end(self))

    # -- verdicts -------------------------------------------------------------------------

    def schedule(self) -> Schedule:
        """What the example did, as a schedule (faults left on are switched off at its end)."""
        steps = list(self.steps)
        for fault in reversed(self.active):
            steps.append(FaultOff(fault))
        return Schedule(tuple(steps))

    def _judge(self, verdicts: Callable[[], Iterable[Verdict]], *, guarded: bool = True) -> None:
        """Require every verdict a model hook yields; a harness error in it fails the
        example like one in a step (``guarded``), or stops the run."""
        try:
            for verdict in verdicts():
                self._require(verdict)
        except ChaosError as exc:
            if not guarded:
                raise
            self._fail(Verdict.failing("step runs", f"{type(exc).__name__}: {exc}"))

    def _require(self, verdict: Verdict) -> None:
        """An exploration fails on a failing verdict only; unknown (unobserved) is noted."""
        self.env.events.verdict(verdict)
        if verdict.outcome is Outcome.FAIL:
            self._fail(verdict, noted=True)

    def _fail(self, verdict: Verdict, *, noted: bool = False) -> NoReturn:
        self.failed = True
        if not noted:
            self.env.events.verdict(verdict)
        message = f"[{verdict.check}: {verdict.outcome.value}] {verdict.message}"
        self.env.events.progress(
            f"broken after {len(self.steps)} steps: {message.splitlines()[0][:120]}"
        )
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


def _answered_well_formed(history: History, operation: Operation) -> Verdict:
    name = "replies well formed"
    answered = [d.value for _, d in history.completed() if isinstance(d.value, dict)]
    answered = [v for v in answered if v.get("status") is not None]
    bad = [v for v in answered if not operation.is_well_formed(v)]
    if not answered:
        return Verdict.unknown(
            name, f"no {operation.name} request was answered before its client gave up"
        )
    if bad:
        statuses = sorted({str(v.get("status")) for v in bad})
        return Verdict.failing(
            name,
            f"{len(bad)} of {len(answered)} answered {operation.name} requests got a reply "
            f"the operation does not accept (statuses {', '.join(statuses)})",
        )
    return Verdict.passing(
        name, f"all {len(answered)} answered {operation.name} requests well formed"
    )


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


def run_example(
    env: Environment,
    model: SystemModel,
    schedule: Schedule,
    on_failure: Callable[[Schedule, str], None] | None = None,
) -> ExampleRun:
    """Run a saved schedule as one example: same start, steps, checks and end."""
    run = ExampleRun(env, model, on_failure=on_failure)
    run.start()
    try:
        run.check_alive()
        run_schedule(schedule, env, executor=run, on_step=lambda _: run.check_alive())
    finally:
        run.finish()
    return run


def replay(
    env: Environment, model: SystemModel, schedule: Schedule, runs: int
) -> tuple[int, list[str]]:
    """Run ``schedule`` ``runs`` times; (how many broke an invariant, their messages)."""
    check_schedule(env, model, schedule)
    messages: list[str] = []
    for number in range(1, runs + 1):
        env.events.progress(f"replay {number}/{runs}")
        try:
            run_example(env, model, schedule)
        except InvariantBroken as exc:
            messages.append(f"run {number}: {exc}")
    return len(messages), messages
