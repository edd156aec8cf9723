"""The exploration: a Hypothesis state machine that breaks a running system in random ways.

Each example is an :class:`~harness.explore.engine.ExampleRun`. Its rules turn faults of
every kind on and off on every link and service (:mod:`faults.strategies`), slow a link
to around the model's deadline, send bursts of the model's operations (patient or
impatient clients), overload the operations that allow it, and wait; after every step the
watched services must still have their process. Hypothesis shrinks a failing example to
its shortest schedule; :func:`explore` keeps every failing schedule and returns the
shortest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from faults import Fault, Latency, LoadBurst
from faults.strategies import FAMILIES
from faults.strategies import faults as fault_strategy
from harness.errors import ChaosError
from harness.explore.engine import MAX_ACTIVE, ExampleRun, patient_timeout_s
from harness.explore.model import Operation, SystemModel, check_model
from harness.explore.profiles import PROFILES, Budget, hypothesis_settings
from harness.explore.replays import Failure, FailureLog

if TYPE_CHECKING:
    from harness.environment import Environment

__all__ = ["ROUND", "Exploration", "exploration_machine", "explore"]

ROUND = 25  # examples per Hypothesis run; the time budget is checked between runs
IMPATIENT_S = 0.2  # clients that give up before any budget is spent


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
    env: Environment, model: SystemModel, log: FailureLog
) -> type[RuleBasedStateMachine]:
    """A state machine class over ``env``; every failing example's schedule goes to ``log``."""
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
    overloadable = [op for op in operations if op.overload]
    variants = max(len(op.requests) for op in operations)

    def burst(
        operation: Operation, variant: int, rate: float, seconds: float, timeout: float
    ) -> LoadBurst:
        request = operation.requests[variant % len(operation.requests)]
        return LoadBurst(operation.service, request, rate=rate, seconds=seconds, timeout_s=timeout)

    class SystemExploration(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            log.examples += 1
            env.events.progress(f"example {log.examples}")
            self.run = ExampleRun(
                env, model, on_failure=log.add, operations=operations, watched=watched
            )
            self.run.start()

        @rule(fault=any_fault)
        def fault_on(self, fault: Fault) -> None:
            if not self.run.can_apply(fault):
                return  # occupied: nothing happens, and Hypothesis shrinks the step away
            self.run.fault_on(fault)

        if links:

            @rule(link=st.sampled_from(links), tenths=st.integers(5, 30))
            def slow_link(self, link: str, tenths: int) -> None:
                """Latency around the model's deadline (half to three times it), where
                timeouts, leaks and late writes live; any_fault rarely lands just there."""
                fault = Latency(link, ms=int(deadline_ms * tenths / 10))
                if self.run.can_apply(fault):
                    self.run.fault_on(fault)

        @precondition(lambda self: bool(self.run.active))
        @rule(index=st.integers(0, MAX_ACTIVE - 1))
        def fault_off(self, index: int) -> None:
            self.run.fault_off(self.run.active[index % len(self.run.active)])

        @rule(
            operation=st.sampled_from(operations),
            variant=st.integers(0, variants - 1),
            rate=st.integers(5, 25),
            tenths=st.integers(2, 6),
            impatient=st.booleans(),
        )
        def load_burst(
            self, operation: Operation, variant: int, rate: int, tenths: int, impatient: bool
        ) -> None:
            timeout = IMPATIENT_S if impatient else patient_timeout_s(operation)
            self.run.burst(burst(operation, variant, float(rate), tenths / 10, timeout))

        if overloadable:

            @rule(
                operation=st.sampled_from(overloadable),
                variant=st.integers(0, variants - 1),
                rate=st.integers(100, 300),
            )
            def overload(self, operation: Operation, variant: int, rate: int) -> None:
                """Far more requests than a service holds at once: with a slow downstream
                it must shed the surplus at once, not pile it up."""
                timeout = patient_timeout_s(operation)
                self.run.burst(burst(operation, variant, float(rate), 0.5, timeout))

        @rule(tenths=st.integers(1, 5))
        def wait(self, tenths: int) -> None:
            self.run.wait(tenths / 10)

        @invariant()
        def services_alive(self) -> None:
            self.run.check_alive()

        def teardown(self) -> None:
            self.run.finish()

    return SystemExploration


@dataclass(frozen=True)
class Exploration:
    """What an exploration came to: examples run, seconds, and the failure it kept, if any."""

    examples: int
    seconds: float
    failure: Failure | None
    error: BaseException | None

    @property
    def per_minute(self) -> float:
        return self.examples * 60 / max(self.seconds, 1e-9)


def explore(
    env: Environment,
    model: SystemModel,
    profile: str = "ci",
    *,
    seed: int,
    budget_s: float | None = None,
    max_examples: int | None = None,
) -> Exploration:
    """Run the state machine over ``env`` with the named profile and seed (``max_examples``
    and ``budget_s`` replace the profile's own).

    The time budget is kept between rounds of at most ``ROUND`` examples, each a Hypothesis
    run of its own (seed + round): stopping Hypothesis in the middle of a run would make its
    data generation depend on the clock, which it rightly refuses. The round that finds a
    failure shrinks it to the end.
    """
    from hypothesis import settings as hypothesis_settings_class
    from hypothesis.stateful import run_state_machine_as_test

    chosen = PROFILES[profile]
    wanted = max_examples if max_examples is not None else chosen.max_examples
    log = FailureLog()
    budget = Budget(budget_s if budget_s is not None else chosen.budget_s)
    check_model(model, env.topology)  # a model that does not fit fails before anything runs
    env.events.progress(f"exploring: profile {profile}, seed {seed}, budget {budget.seconds:.0f} s")
    error: BaseException | None = None
    planned = 0
    round_number = 0
    while planned < wanted and not budget.spent:
        size = min(ROUND, wanted - planned)
        planned += size
        machine = exploration_machine(env, model, log)
        machine._hypothesis_internal_use_seed = seed + round_number  # what @seed does
        round_number += 1
        try:
            run_state_machine_as_test(
                machine,
                settings=hypothesis_settings_class(hypothesis_settings(profile), max_examples=size),
            )
        except Exception as exc:  # a broken invariant, or Hypothesis saying it was flaky
            error = exc
            break
    failure = log.shortest() if error is not None else None
    if error is not None and failure is None:
        raise error
    return Exploration(log.examples, budget.elapsed_s, failure, error)
