"""The exploration: a Hypothesis state machine that breaks a running system in random ways.

Each example is an :class:`~harness.explore.engine.ExampleRun`. Its rules turn faults of
every kind on and off on every link and service (:mod:`faults.strategies`), slow a link
to around the model's deadline, send bursts of the model's operations (patient or
impatient clients), overload the operations that allow it, and wait; after every step the
watched services must still have their process. Like Jepsen's nemesis, a fault may also
land *during* a burst, while its requests are in flight (a SIGTERM then finds a service
that does not let them finish; one rule first slows a link on the burst's path, so that
there are requests in flight when the signal lands), and a fault may be held longer than
the longest period of the system's background work.

The budget is hard (:class:`~harness.explore.profiles.Budget`): once it is spent, an
example passes at once without touching the system, so Hypothesis' shrinker runs out of
candidates in moments; the engine's own pass (:mod:`harness.explore.shrink`) then drops
the steps that do not matter with what is left. :func:`explore` keeps every failing
schedule and returns the shortest.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from faults import At, Fault, FaultOn, Kill, Latency, LoadBurst, Restart, Terminate
from faults.strategies import FAMILIES
from faults.strategies import faults as fault_strategy
from harness.errors import ChaosError
from harness.explore.calibration import Calibration
from harness.explore.coverage import Coverage, cover
from harness.explore.engine import MAX_ACTIVE, ExampleRun, calibrated, patient_timeout_s
from harness.explore.invariants.paths import traveled
from harness.explore.invariants.shutdown import MARGIN_S as IN_FLIGHT_MARGIN_S
from harness.explore.model import Operation, SystemModel, check_model
from harness.explore.profiles import PROFILES, Budget, hypothesis_settings
from harness.explore.replays import Failure, FailureLog
from harness.explore.sharding import ROUND, Round, plan_rounds
from harness.explore.shrink import minimize
from harness.shard import UNSHARDED, Shard

if TYPE_CHECKING:
    from harness.environment import Environment
    from harness.topology import Topology

__all__ = ["OUTLAST_MARGIN_S", "ROUND", "Exploration", "exploration_machine", "explore"]

IMPATIENT_S = 0.2  # clients that give up before any budget is spent
OUTLAST_MARGIN_S = 3.0  # a held fault outlasts the longest background period by this much
HOLD_ONE_IN = 16  # of the waits while a fault is on, one in this many holds it that long
# Of the bursts, 6 in NEMESIS_ONE_IN have a fault land while their requests are in flight:
# 3 a fault of any kind, and one each a kill, a SIGTERM and a restart (SIGTERM, then start)
# of the service the burst is sent to, where shutdown bugs show.
NEMESIS_ONE_IN = 16
SIGTERM_ONE_IN = 4  # of the draws of the SIGTERM-in-flight rule, one in this many acts
_OWN: tuple[type[Kill] | type[Terminate] | type[Restart], ...] = (Kill, Terminate, Restart)


def _nemesis(draw: int, fault: Fault, service: str, topology: Topology) -> Fault | None:
    """What lands during a burst to ``service``, by the draw (None below the top six)."""
    own = draw - (NEMESIS_ONE_IN - len(_OWN))
    if own >= 0:
        proxy = topology.toxiproxy.service if topology.toxiproxy else None
        return None if service == proxy else _OWN[own](service)
    return fault if draw >= NEMESIS_ONE_IN - len(_OWN) - 3 else None


def outlast_default(model: SystemModel, env: Environment) -> float:
    """How long a fault is sometimes held: a few seconds longer than the longest period of
    the system's background work (0, never, when the model declares none)."""
    periods = [p for p in model.periods_s(env.topology) if p > 0]
    return max(periods) + OUTLAST_MARGIN_S if periods else 0.0


def _path(
    calibration: Calibration | None, operation: Operation, links: list[str], topology: Topology
) -> list[str]:
    """The ``links`` ``operation``'s requests travel (unknown: all of them)."""
    baseline = calibration.of(operation) if calibration is not None else None
    known = None
    if calibration is not None and baseline is not None:
        known = traveled(baseline, calibration, topology)
    return links if known is None else [name for name in links if name in known]


def _in_flight_ms(operation: Operation, tenths: int) -> int:
    """A latency that keeps requests in flight well past the SIGTERM invariant's margin:
    ``tenths`` of the operation's budget, at least the margin and 150 ms more."""
    shortest = int((IN_FLIGHT_MARGIN_S + 0.15) * 1000)
    return max(shortest, int(operation.limit_ms * tenths / 10))


def _http_links(env: Environment) -> list[str]:
    """Links whose proxy has the HTTP toxics: only there are HTTP faults drawn."""
    found = []
    for name in sorted(env.topology.links):
        try:
            if env.proxy(name).http_toxics:
                found.append(name)
        except ChaosError:
            continue  # not reachable now: no HTTP fault could be applied to it either
    return found


def exploration_machine(
    env: Environment,
    model: SystemModel,
    log: FailureLog,
    calibration: Calibration | None = None,
    budget: Budget | None = None,
    outlast_s: float = 0.0,
    *,
    worker: int = 0,
) -> type[RuleBasedStateMachine]:
    """A state machine class over ``env``; every failing example's schedule goes to ``log``.

    Once ``budget`` has no room for another example (or another topology, not ``worker``,
    found a failure), examples pass without touching the system. ``outlast_s`` (if more
    than 0) is how long a fault is sometimes held.
    """
    topology = env.topology
    operations = check_model(model, topology)
    watched = list(model.watched(topology))
    deadline_ms = model.deadline_ms(operations)
    max_fault_ms = int(3 * deadline_ms)  # latencies up to three times the deadline
    http_links = _http_links(env)
    # One family first (network, http, partition, process), then a kind within it: every
    # family gets an equal share of the draws, not a share by how many kinds it has.
    families = [
        fault_strategy(topology, families=[family], max_ms=max_fault_ms, http_links=http_links)
        for family in FAMILIES
    ]
    any_fault = st.one_of(*(family for family in families if not family.is_empty))
    links = sorted(topology.links)
    proxy_service = topology.toxiproxy.service if topology.toxiproxy else None
    overloadable = [op for op in operations if op.overload]
    variants = max(len(op.requests) for op in operations)

    def burst(
        operation: Operation, variant: int, rate: float, seconds: float, timeout: float
    ) -> LoadBurst:
        request = operation.requests[variant % len(operation.requests)]
        return LoadBurst(operation.service, request, rate=rate, seconds=seconds, timeout_s=timeout)

    def found(failure: Failure) -> None:
        log.add(failure, origin=worker)
        if budget is not None:
            budget.failure_found(worker)

    def live(machine: SystemExploration) -> ExampleRun | None:
        """The example's run, unless it passes without touching the system, the budget ends
        before its next step, or an invariant broke already: then its steps so far are its
        schedule (later steps cannot have caused what broke; the end checks still run, and
        a shrink candidate takes no longer than what it needs)."""
        run = machine.run
        if run is None or run.failed or (budget is not None and time.monotonic() >= budget.end):
            return None
        return run

    class SystemExploration(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.run: ExampleRun | None = None
            self.began = time.monotonic()
            if budget is not None and not budget.fits(worker=worker):
                return  # no room for it: it passes, and shrinking ends with the best so far
            number = log.count_example()
            env.events.progress(f"example {number}")
            self.run = ExampleRun(
                env,
                model,
                on_failure=found,
                operations=operations,
                watched=watched,
                calibration=calibration,
            )
            self.run.start()

        @rule(fault=any_fault)
        def fault_on(self, fault: Fault) -> None:
            run = live(self)
            if run is None or not run.can_apply(fault):
                return  # occupied: nothing happens, and Hypothesis shrinks the step away
            run.fault_on(fault)

        if links:

            @rule(link=st.sampled_from(links), tenths=st.integers(5, 30))
            def slow_link(self, link: str, tenths: int) -> None:
                """Latency around the model's deadline (half to three times it), where
                timeouts, leaks and late writes live; any_fault rarely lands just there."""
                run = live(self)
                fault = Latency(link, ms=int(deadline_ms * tenths / 10))
                if run is not None and run.can_apply(fault):
                    run.fault_on(fault)

        # No precondition (nothing on: nothing happens): which rules Hypothesis may draw
        # must not depend on whether an example touched the system, which the clock decides.
        @rule(index=st.integers(0, MAX_ACTIVE - 1))
        def fault_off(self, index: int) -> None:
            run = live(self)
            if run is not None and run.active:
                run.fault_off(run.active[index % len(run.active)])

        @rule(
            operation=st.sampled_from(operations),
            variant=st.integers(0, variants - 1),
            rate=st.integers(5, 25),
            tenths=st.integers(2, 6),
            impatient=st.booleans(),
            nemesis=st.integers(0, NEMESIS_ONE_IN - 1),
            fault=any_fault,
            at=st.integers(0, 10),
        )
        def load_burst(
            self,
            operation: Operation,
            variant: int,
            rate: int,
            tenths: int,
            impatient: bool,
            nemesis: int,
            fault: Fault,
            at: int,
        ) -> None:
            """A burst of one operation. Now and then (the top values of ``nemesis``) a
            fault lands ``at`` tenths into it while its requests are in flight: ``fault``,
            or a kill or a SIGTERM of the service the burst is sent to, whose clients then
            wait for their answers (a SIGTERM must let them finish)."""
            run = live(self)
            if run is None:
                return
            landing = _nemesis(nemesis, fault, operation.service, topology)
            patient = not impatient or landing is not None
            timeout = patient_timeout_s(operation) if patient else IMPATIENT_S
            step = burst(operation, variant, float(rate), tenths / 10, timeout)
            if landing is not None and run.can_apply(landing):
                offset = round(step.seconds * at / 10, 3)
                step = replace(step, during=(At(offset, FaultOn(landing)),))
            run.burst(step)

        if overloadable:

            @rule(
                operation=st.sampled_from(overloadable),
                variant=st.integers(0, variants - 1),
                rate=st.integers(100, 300),
            )
            def overload(self, operation: Operation, variant: int, rate: int) -> None:
                """Far more requests than a service holds at once: with a slow downstream
                it must shed the surplus at once, not pile it up."""
                run = live(self)
                if run is None:
                    return
                timeout = patient_timeout_s(operation)
                run.burst(burst(operation, variant, float(rate), 0.5, timeout))

        if links:

            @rule(
                operation=st.sampled_from(operations),
                variant=st.integers(0, variants - 1),
                link=st.integers(0, len(links) - 1),
                tenths=st.integers(4, 10),
                rate=st.integers(10, 25),
                length=st.integers(6, 10),
                at=st.integers(6, 10),
                restart=st.booleans(),
                act=st.integers(0, SIGTERM_ONE_IN - 1),
            )
            def sigterm_in_flight(
                self,
                operation: Operation,
                variant: int,
                link: int,
                tenths: int,
                rate: int,
                length: int,
                at: int,
                restart: bool,
                act: int,
            ) -> None:
                """Slow a link on the operation's path, then SIGTERM (or restart) the
                service a burst is sent to while its requests wait on that link: they
                are in flight when the signal lands and must be answered. Unslowed, a
                request ends in milliseconds and a SIGTERM rarely finds one in flight.
                Only the top value of ``act`` does it: a restart costs seconds, and every
                example would have one."""
                run = live(self)
                if run is None or act < SIGTERM_ONE_IN - 1 or operation.service == proxy_service:
                    return
                path = _path(calibration, operation, links, topology)
                if not path:
                    return
                slow = Latency(path[link % len(path)], ms=_in_flight_ms(operation, tenths))
                signal: Fault = (Restart if restart else Terminate)(operation.service)
                if not (run.can_apply(slow) and run.can_apply(signal)):
                    return
                run.fault_on(slow)
                step = burst(
                    operation, variant, float(rate), length / 10, patient_timeout_s(operation)
                )
                landing = At(round(step.seconds * at / 10, 3), FaultOn(signal))
                step = replace(step, during=(landing,))
                run.burst(step)

        @rule(tenths=st.integers(1, 5), hold=st.integers(0, HOLD_ONE_IN - 1))
        def wait(self, tenths: int, hold: int) -> None:
            """A short wait; now and then, with a fault on, a hold longer than the longest
            period of the system's background work (``outlast_s``), so that it runs while
            the fault holds (the last value of ``hold``: shrinking drops it first)."""
            run = live(self)
            if run is None:
                return
            if outlast_s > 0 and hold == HOLD_ONE_IN - 1 and run.active:
                run.wait(outlast_s)
            else:
                run.wait(tenths / 10)

        @invariant()
        def after_each_step(self) -> None:
            if self.run is not None and not self.run.failed:
                self.run.after_step()

        def teardown(self) -> None:
            if self.run is None:
                return
            try:
                self.run.finish()
            finally:
                if budget is not None:
                    budget.took(time.monotonic() - self.began)

    return SystemExploration


@dataclass(frozen=True)
class Exploration:
    """What an exploration came to: examples run, seconds, and the failure it kept, if any."""

    examples: int
    seconds: float  # exploring and shrinking
    failure: Failure | None
    error: BaseException | None
    found_after_s: float | None = None  # when the first failure was found, if one was
    coverage: Coverage | None = None  # the coverage phase before the random rounds
    rounds: tuple[Round, ...] = ()  # the rounds of the plan that ran (all or some examples)

    @property
    def per_minute(self) -> float:
        return self.examples * 60 / max(self.seconds, 1e-9)

    def record(self, test: str, *, seed: int, shard: Shard = UNSHARDED) -> dict[str, Any]:
        """As plain JSON (see :meth:`harness.events.Events.explored`)."""
        found = None
        if self.failure is not None:
            found = {
                "checks": list(self.failure.checks),
                "message": self.failure.message,
                "fault_steps": self.failure.fault_steps,
            }
        return {
            "test": test,
            "seed": seed,
            "shard": str(shard),
            "examples": self.examples,
            "seconds": round(self.seconds, 1),
            "per_minute": round(self.per_minute, 1),
            "found": found,
            "found_after_s": None if self.found_after_s is None else round(self.found_after_s, 1),
            "coverage": None if self.coverage is None else self.coverage.record(),
            "rounds": [{"number": r.number, "seed": r.seed} for r in self.rounds],
        }


def explore(
    env: Environment,
    model: SystemModel,
    profile: str = "ci",
    *,
    seed: int,
    budget_s: float | None = None,
    max_examples: int | None = None,
    coverage: bool = True,
    shrink_s: float | None = None,
    outlast_s: float | None = None,
    also: Sequence[Environment] = (),
    shard: Shard = UNSHARDED,
) -> Exploration:
    """Run the state machine over ``env`` with the named profile and seed (``max_examples``,
    ``budget_s`` and ``shrink_s`` replace the profile's own; ``outlast_s``, how long a fault
    is sometimes held, defaults to :func:`outlast_default`).

    Exploring and shrinking end within ``budget_s``. Before anything random, unless
    ``coverage`` is False, every single fault kind on every link and service the workload
    touches gets one example (:mod:`harness.explore.coverage`); a failure there is shrunk
    and returned without random rounds. Then examples run in rounds of at most ``ROUND``,
    each a Hypothesis run of its own (seed + round). A failure is shrunk by Hypothesis,
    then by :func:`harness.explore.shrink.minimize`, within ``shrink_s``.

    ``also``: more running topologies of the same system, explored at the same time, one
    thread each (with a copy of ``model``; each takes the plan's next round), where the
    cores allow it: an example mostly waits on the system, so two topologies run nearly
    twice the examples. Once one of them finds a failure, the others stop and it shrinks alone.

    ``shard``: this machine's part of a run over several (:mod:`harness.explore.sharding`):
    its coverage cases and its rounds of a plan N times one machine's examples, with the
    seeds the unsharded plan gives them.
    """
    chosen = PROFILES[profile]
    wanted = max_examples if max_examples is not None else chosen.max_examples
    budget = Budget(
        budget_s if budget_s is not None else chosen.budget_s,
        shrink_s=shrink_s if shrink_s is not None else chosen.shrink_s,
    )
    envs = [env, *also]
    models = [model] + [copy.deepcopy(model) for _ in also]
    for each in envs:
        check_model(model, each.topology)  # a model that does not fit fails before anything runs
    held = outlast_default(model, env) if outlast_s is None else outlast_s
    env.events.progress(
        f"exploring: profile {profile}, seed {seed}, budget {budget.seconds:.0f} s "
        f"(shrinking at most {budget.shrink_s:.0f} s of it)"
        + (f", faults sometimes held {held:g} s" if held > 0 else "")
        + (f", {len(envs)} topologies at once" if also else "")
        + (f", shard {shard}" if shard.sharded else "")
    )
    log = FailureLog()
    calibration = calibrated(env, model)
    covered = None
    if coverage:
        covered = cover(
            env, model, calibration, budget, log, http_links=_http_links(env), shard=shard
        )
        for text in covered.lines():
            env.events.note(text)
        if covered.shrunk is not None:
            found_after = None if budget.found is None else budget.found - budget.started
            return Exploration(
                log.examples, budget.elapsed_s, covered.shrunk, None, found_after, covered
            )
    size = max(1, min(ROUND, wanted))  # one machine's handful is one round, on every shard
    shared = _Rounds(list(plan_rounds(seed, wanted * shard.count, shard, size=size)))
    workers = [
        _Worker(number, each, models[number], profile, budget, log, shared, held)
        for number, each in enumerate(envs)
    ]
    workers[0].calibration = calibration
    if len(workers) == 1:
        workers[0].run()
    else:
        threads = [
            threading.Thread(target=worker.run, name=f"chaos-explore-{worker.number}")
            for worker in workers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    broken = [w.error for w in workers if w.error is not None and not w.found]
    error = next((w.error for w in workers if w.found), None)
    failure = log.shortest() if budget.found is not None else None
    if failure is None and (broken or error is not None):
        raise broken[0] if broken else error  # type: ignore[misc]
    if failure is not None:
        finder = workers[log.origin(failure)]
        failure = minimize(
            finder.env,
            finder.model,
            failure,
            log,
            budget=budget,
            calibration=finder.calibration,
        )
    found_after = None if budget.found is None else budget.found - budget.started
    ran = tuple(sorted((r for w in workers for r in w.ran), key=lambda r: r.number))
    return Exploration(log.examples, budget.elapsed_s, failure, error, found_after, covered, ran)


@dataclass
class _Rounds:
    """The rounds of the plan not yet taken: each topology takes the next one in turn."""

    planned: list[Round]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> Round | None:
        """The next round (None: every round is taken)."""
        with self.lock:
            return self.planned.pop(0) if self.planned else None


@dataclass
class _Worker:
    """One topology's share of an exploration: its rounds, one after another."""

    number: int
    env: Environment
    model: SystemModel
    profile: str
    budget: Budget
    log: FailureLog
    rounds: _Rounds
    held: float
    calibration: Calibration | None = None
    ran: list[Round] = field(default_factory=list)  # the rounds this topology started
    error: BaseException | None = None
    found: bool = False  # this worker found the failure the exploration keeps shrinking

    def run(self) -> None:
        from hypothesis import settings as hypothesis_settings_class
        from hypothesis.stateful import run_state_machine_as_test

        try:
            if self.calibration is None:
                self.calibration = calibrated(self.env, self.model)
            while self.budget.fits(worker=self.number):
                planned = self.rounds.take()
                if planned is None:
                    break
                machine = exploration_machine(
                    self.env,
                    self.model,
                    self.log,
                    self.calibration,
                    self.budget,
                    self.held,
                    worker=self.number,
                )
                # What @seed does; a round's seed is its plan's, whichever topology runs it.
                machine._hypothesis_internal_use_seed = planned.seed
                self.ran.append(planned)
                settings = hypothesis_settings_class(
                    hypothesis_settings(self.profile), max_examples=planned.size
                )
                run_state_machine_as_test(machine, settings=settings)
        except Exception as exc:  # a broken invariant, Hypothesis saying flaky, the system
            self.error = exc
            self.found = self.budget.owner == self.number
            if not self.found:
                self.budget.stop()  # a harness error: the other topologies stop too
