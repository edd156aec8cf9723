"""One example of an exploration over a running system, from a healed baseline to its checks.

:class:`ExampleRun` is a :class:`faults.schedule.StepExecutor`: it does what a schedule's
steps say (a fault on, a fault off, a wait, a burst of one of the model's operations) and
checks invariants as it goes. The Hypothesis state machine (:mod:`harness.explore.machine`)
calls it one step at a time; a replay (:func:`run_example`) hands it to
:func:`faults.schedule.run_schedule`, the one interpreter of schedules. Either way every
step is recorded with when it started, a burst with the faults that landed while its
requests were in flight and an HTTP fault with its seed, so a failure comes with the
schedule that caused it, as a replay needs it.

An example starts from a healed baseline: faults healed, stopped services started, and a
service that fails its readiness check restarted (:func:`restore`); a system that cannot
be brought there is :class:`Unjudgeable`, not a finding.

What it checks comes from invariants (:mod:`harness.explore.invariants`): the generic ones,
which hold for any HTTP service whatever it does, and the model's. An example does not
stop at the first one broken: it runs to its end (a harness error in a step aside), heals,
quiesces, and then reports every invariant it broke, ordered by cause, so a process that
died is read before the timeouts it caused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from faults import (
    At,
    Disconnect,
    Fault,
    FaultOff,
    FaultOn,
    HttpFault,
    Kill,
    LoadBurst,
    Pause,
    ProcessFault,
    Schedule,
    Step,
    Wait,
    run_schedule,
)
from faults.schedule import sleep_until
from harness.checks import (
    Outcome,
    Verdict,
    goroutine_baseline,
    no_leaked_goroutines,
    no_runtime_reports,
    snapshot,
)
from harness.errors import ChaosError, ConfigError
from harness.explore.calibration import Calibration, calibrate
from harness.explore.invariants import Invariant, Rank, generic
from harness.explore.invariants.outcomes import captured_headers
from harness.explore.invariants.process import RUNTIME_REPORTS
from harness.explore.invariants.replies import EPSILON_MS
from harness.explore.model import Operation, StartedBurst, SystemModel, check_model
from harness.explore.replays import Failure
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
    "Landed",
    "ReplayResult",
    "Unjudgeable",
    "broken_message",
    "calibrated",
    "check_schedule",
    "patient_timeout_s",
    "replay",
    "replay_runs",
    "restore",
    "run_example",
]

MAX_ACTIVE = 2  # faults on at once
QUIESCE_S = 1.0  # after healing, the longest the end-of-example checks wait to start
SAMPLE_EVERY_S = 0.05
PATIENT_S = 5.0  # the least a patient client waits; more when a budget needs it
HEALTH_WAIT_S = 2.0  # a service that is not ready this long before an example is restarted


class InvariantBroken(Exception):
    """An invariant failed; the message says which and why, ``failure`` what broke it.

    Not an ``AssertionError``: :func:`faults.schedule.run_schedule` turns those into a
    failed step, and a broken invariant is the finding itself, passed through unchanged.
    """

    def __init__(self, message: str, failure: Failure | None = None) -> None:
        super().__init__(message)
        self.failure = failure


class Unjudgeable(ChaosError):
    """The system is not healthy before any fault, and restarting what was not did not
    help: nothing an example does to it could be judged. The message says why."""


def restore(env: Environment, services: Iterable[str]) -> list[str]:
    """Make sure each of ``services`` answers its readiness check (its compose healthcheck,
    else its health path, else its port), restarting one that does not; return the ones
    restarted. :class:`Unjudgeable` if a restart does not bring one back."""
    restarted: list[str] = []
    for name in services:
        service = env.topology.service(name)
        try:
            env.backend.wait_ready(service, HEALTH_WAIT_S)
            continue
        except ChaosError as exc:
            why = str(exc).splitlines()[0]
        env.events.progress(f"{name} is not healthy before the example ({why}): restarting it")
        try:
            env.restart(name)
        except ChaosError as exc:
            raise Unjudgeable(
                f"{name} was not healthy before any fault ({why}), and a restart did not "
                f"bring it back: {str(exc).splitlines()[0]}"
            ) from None
        restarted.append(name)
    return restarted


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


@dataclass(frozen=True)
class Landed:
    """A fault step taken during a burst: as planned, and when it was taken, in seconds on
    the burst's history clock (the clock its requests are stamped with)."""

    planned: At
    at_s: float

    @property
    def step(self) -> FaultOn | FaultOff:
        return self.planned.step

    @property
    def fault(self) -> Fault:
        return self.planned.step.fault


@dataclass
class Burst:
    """One burst of load, as the model's ``after_burst`` hook sees it."""

    step: LoadBurst
    operation: Operation
    key: str  # no other burst has it: the prefix of this burst's idempotency keys
    history: History
    sent: int
    # The service stayed reachable and the clients were patient: timing is judged.
    judged: bool
    # The model's sampled services' /metrics: one scrape just before the first request,
    # then every SAMPLE_EVERY_S until the last answer (None: they could not be reached).
    metrics: MetricSampler | None = None
    # Faults switched on or off while its requests were in flight, and when.
    during: tuple[Landed, ...] = ()
    # Faults on from its first request to its last answer (what the whole burst saw).
    held: tuple[Fault, ...] = ()

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
    on_failure: Callable[[Failure], None] | None = None
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
    # When each step started, in seconds since the first could (a replay keeps the gaps).
    offsets: list[float] = field(default_factory=list)
    began: float = 0.0  # time.monotonic() when the example's first step could start

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
        restore(self.env, self.watched)
        self._judge(lambda: self.model.start(self), self.model.rank, guarded=False)
        # Each service's process, log mark and goroutines at once: they are independent reads.
        with ThreadPoolExecutor(max_workers=max(1, len(self.watched))) as pool:
            list(pool.map(self._observe, self.watched))
        for each in self.invariants:
            self._judge(lambda i=each: i.start(self), each.rank, guarded=False)  # type: ignore[misc]
        self.began = time.monotonic()

    def _observe(self, name: str) -> None:
        """The baseline of one watched service: its process and log, and its goroutines."""
        self.snapshots[name] = snapshot(self.env, name)
        if self.env.topology.service(name).pprof is None:
            self.unobserved[name] = (
                f"{name} declares no pprof endpoint (x-chaos.services.{name}.pprof)"
            )
            return
        try:
            self.baselines[name] = goroutine_baseline(self.env, name)
        except ChaosError as exc:
            self.unobserved[name] = f"could not read the goroutines of {name}: {exc}"

    # -- steps (the StepExecutor protocol) ------------------------------------------------

    def can_apply(self, fault: Fault) -> bool:
        taken = {_target(f) for f in self.active}
        return len(self.active) < MAX_ACTIVE and _target(fault) not in taken

    def pinned(self, fault: Fault) -> Fault:
        """``fault`` with every random choice it leaves to the run made explicit (the seed
        an HTTP fault's toxic gets), so that its schedule replays it exactly under any
        session seed."""
        if isinstance(fault, HttpFault) and fault.seed is None:
            return dataclasses.replace(fault, seed=fault.toxic_seed(self.env.seed))
        return fault

    def fault_on(self, fault: Fault) -> None:
        fault = self.pinned(fault)
        self._record(FaultOn(fault))
        self._switch_on(fault)

    def fault_off(self, fault: Fault) -> None:
        fault = self.pinned(fault)
        if fault not in self.active:
            return
        self._record(FaultOff(fault))
        self._switch_off(fault)

    def _switch_on(self, fault: Fault) -> None:
        self.active.append(fault)
        self._guard(lambda: fault.apply(self.env))
        if _replaces_process(fault):
            self.replaced.add(str(fault.to_json()["service"]))
        if isinstance(fault, Kill):
            self.killed.add(str(fault.to_json()["service"]))

    def _switch_off(self, fault: Fault) -> None:
        # Read what only the fault still shows (requests held by a blackhole) first.
        for each in self.invariants:
            self._judge(lambda i=each: i.before_fault_off(self, fault), each.rank)  # type: ignore[misc]
        self.active.remove(fault)
        self._guard(lambda: fault.heal(self.env))

    def _record(self, step: Step) -> None:
        self.steps.append(step)
        self.offsets.append(round(time.monotonic() - self.began, 3))

    def wait(self, seconds: float) -> None:
        self._record(Wait(seconds))
        time.sleep(seconds)

    def burst(self, step: LoadBurst) -> LoadResult | None:
        if step.during:
            pinned = [At(a.at_s, type(a.step)(self.pinned(a.step.fault))) for a in step.during]
            step = dataclasses.replace(step, during=tuple(pinned))
        self._record(step)
        operation = self._operation(step)
        if any(_silences(f, step.service) for f in self.active):
            # Killed, frozen or unplugged by the schedule: there is no reply to judge (and a
            # disconnected container has no published address to send to). What the burst
            # would have done to the faults still happens, at the same offsets.
            self.env.events.progress(f"burst skipped, {step.service} is down: {step.describe()}")
            began = time.monotonic()
            self._take_during(step, lambda: time.monotonic() - began)
            return None
        key = f"{self.prefix}b{len(self.bursts)}"
        sampler = self._sampler(step)
        if sampler is not None:
            sampler.scrape_now()  # the state the burst is compared with, before it starts
        before = list(self.active)
        with sampler if sampler is not None else contextlib.nullcontext():
            run: StartedBurst = self._guard(
                lambda: operation.start(
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
            try:
                landed = self._take_during(step, run.now)
            except BaseException:
                run.stop()  # send nothing more; what is in flight ends before this returns
                run.wait()
                raise
            result: LoadResult = self._guard(run.wait)
        patient = step.timeout_s * 1000 >= operation.limit_ms + EPSILON_MS
        # A fault that silenced the service half-way leaves replies that no budget judges
        # (the in-flight ones are judged by what a SIGTERM or a kill promises instead).
        silenced = any(
            isinstance(each.step, FaultOn) and _silences(each.fault, step.service)
            for each in landed
        )
        held = tuple(f for f in before if f in self.active)
        burst = Burst(
            step,
            operation,
            key,
            result.history,
            result.sent,
            patient and not silenced,
            sampler,
            during=landed,
            held=held,
        )
        self.bursts.append(burst)
        self._judge(lambda: self.model.after_burst(self, burst), self.model.rank)
        for each in self.invariants:
            self._judge(lambda i=each: i.after_burst(self, burst), each.rank)  # type: ignore[misc]
        return result

    def _take_during(self, step: LoadBurst, clock: Callable[[], float]) -> tuple[Landed, ...]:
        """Take the burst's own fault steps at their offsets on ``clock``."""
        landed: list[Landed] = []
        for at in step.during:
            sleep_until(clock, at.at_s)
            taken = clock()
            if isinstance(at.step, FaultOn):
                self._switch_on(at.step.fault)
            elif at.step.fault in self.active:
                self._switch_off(at.step.fault)
            landed.append(Landed(at, round(taken, 3)))
        return tuple(landed)

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
            self._record(FaultOff(fault))
            self._switch_off(fault)
        self.env.heal_all()
        self.env.events.progress(f"quiesce after {len(self.steps)} steps")
        self._quiesce()
        for each in self.invariants:
            self._judge(lambda i=each: i.end(self), each.rank)  # type: ignore[misc]
        self._judge(lambda: self.model.end(self), self.model.rank)
        if self.failures:
            self._raise()

    def _quiesce(self) -> None:
        """Wait, once everything is healed, only as long as the evidence says work the
        example started is still going on: until each watched service with a goroutine
        baseline (and the same process) is back to it, at most ``QUIESCE_S`` in all.
        The checks that need longer (leaks, breakers, late effects) wait themselves."""
        deadline = time.monotonic() + QUIESCE_S
        for name, baseline in self.baselines.items():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if name not in self.replaced:
                # Its verdict is the leak invariant's to give; here it only waits.
                no_leaked_goroutines(self.env, baseline, settle_s=remaining)

    # -- verdicts -------------------------------------------------------------------------

    def schedule(self) -> Schedule:
        """What the example did, as a schedule (faults left on are switched off at its end),
        with when each step started."""
        steps = list(self.steps)
        offsets = list(self.offsets)
        now = round(time.monotonic() - self.began, 3)
        for fault in reversed(self.active):
            steps.append(FaultOff(fault))
            offsets.append(now)
        return Schedule(tuple(steps), tuple(offsets) if self.began else ())

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

    def failure(self) -> Failure:
        """What the example broke so far: its schedule, every broken invariant."""
        ordered = sorted(self.failures, key=lambda f: (f[0], f[1]))
        checks = tuple(v.check for _, _, v in ordered)
        return Failure(self.schedule(), broken_message(self.failures), checks)

    def _raise(self) -> NoReturn:
        failure = self.failure()
        if self.on_failure is not None:
            self.on_failure(failure)
        raise InvariantBroken(failure.message, failure)

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
    """Bring the system to its healed baseline and learn what each operation does there.

    An operation that never succeeds fault-free gets the services on its path restarted
    and one more try; if it still never succeeds, the system cannot be judged
    (:class:`Unjudgeable`): every example would fail for what it was before any fault.
    """
    baseline = ExampleRun(env, model)
    baseline.start()
    calibration = calibrate(env, model, baseline.operations)
    _fresh_after_reports(env, model, baseline)
    dead = [b for b in calibration.operations.values() if b.sent and not b.succeeded]
    if not dead:
        return calibration
    for name in sorted({s for b in dead for s in b.services}):
        env.events.progress(f"restarting {name}: an operation through it never succeeded")
        try:
            env.restart(name)
        except ChaosError as exc:
            raise Unjudgeable(f"{name} did not come back after a restart: {exc}") from None
    calibration = calibrate(env, model, baseline.operations)
    dead = [b for b in calibration.operations.values() if b.sent and not b.succeeded]
    if dead:
        raise Unjudgeable(
            "before any fault, even after restarting the services on their path, "
            + "; ".join(
                f"none of {b.sent} {b.operation} requests succeeded (statuses "
                f"{dict(sorted(b.statuses.items(), key=str))})"
                for b in dead
            )
            + ": the system does not serve its workload fault-free, so no example could "
            "be judged (is the model's request right? does the system answer it?)"
        )
    return calibration


def _fresh_after_reports(env: Environment, model: SystemModel, baseline: ExampleRun) -> None:
    """Restart a service whose log shows a runtime report (a data race, a panic) since
    ``baseline`` started: the race detector reports each race once per process, so a race
    the calibration's own requests drew would stay unseen by every example after it."""
    for name in baseline.watched:
        verdict = no_runtime_reports(
            env,
            name,
            since=baseline.snapshots[name].log_mark,
            kinds=RUNTIME_REPORTS,
            also=model.log_reports,
        )
        if verdict.outcome is Outcome.FAIL:
            env.events.progress(
                f"restarting {name}: it logged a runtime report before any fault, and a race "
                "detector tells each race once per process"
            )
            env.restart(name)


def run_example(
    env: Environment,
    model: SystemModel,
    schedule: Schedule,
    on_failure: Callable[[Failure], None] | None = None,
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
    result = replay_runs(env, model, schedule, runs)
    return result.failed, result.broke


@dataclass(frozen=True)
class ReplayResult:
    """What ``runs`` replays of a schedule came to: the messages of those that broke an
    invariant, and for those that kept every one, what they could not judge (an invariant
    that said unknown, say, because no request was in flight when the fault landed):
    where a replay that did not reproduce tells why."""

    runs: int
    broke: list[str]
    kept: list[str]

    @property
    def failed(self) -> int:
        return len(self.broke)


class _Unknowns:
    """The first unknown verdict of each check an example gives."""

    def __init__(self) -> None:
        self.first: dict[str, str] = {}

    def on_verdict(self, verdict: Verdict) -> None:
        if verdict.outcome is Outcome.UNKNOWN:
            self.first.setdefault(verdict.check, verdict.message.splitlines()[0])

    @property
    def seen(self) -> list[str]:
        return [f"[{check}: unknown] {message}" for check, message in self.first.items()]


def replay_runs(
    env: Environment, model: SystemModel, schedule: Schedule, runs: int
) -> ReplayResult:
    """Run ``schedule`` ``runs`` times, each as an example from a healed baseline."""
    check_schedule(env, model, schedule)
    calibration = calibrated(env, model)
    broke: list[str] = []
    kept: list[str] = []
    for number in range(1, runs + 1):
        env.events.progress(f"replay {number}/{runs}")
        unknowns = _Unknowns()
        env.events.subscribe(unknowns)
        try:
            run_example(env, model, schedule, calibration=calibration)
        except InvariantBroken as exc:
            broke.append(f"run {number}: {exc}")
            continue
        finally:
            env.events.unsubscribe(unknowns)
        why = "; ".join(unknowns.seen) or "every invariant was judged"
        kept.append(f"run {number} kept every invariant ({why})")
    return ReplayResult(runs, broke, kept)
