"""The properties an exploration checks in every example, each judged from outside.

An :class:`Invariant` is told what an example does, hook by hook, and answers each with
verdicts: when the example starts from its healed baseline, after every step, after every
burst of load, just before the schedule heals a fault, just before the faults still on are
healed, and at the end once everything is healed and quiet. None of the generic ones
(:func:`generic`) knows what the system does or which bug it has; a
:class:`~harness.explore.model.SystemModel` adds its own
(:meth:`~harness.explore.model.SystemModel.invariants`).

An example does not stop at the first broken invariant: it runs its schedule to the end
and reports every invariant it broke, ordered by cause (:class:`Rank`): a process that
died comes before the timeouts it caused.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faults.base import Fault
    from faults.schedule import Step
    from harness.checks.verdict import Verdict
    from harness.explore.engine import Burst, ExampleRun

__all__ = ["Invariant", "Rank", "generic"]


class Rank(enum.IntEnum):
    """How basic a cause a broken invariant is: failures are reported in this order."""

    PROCESS = 0  # a process died, panicked, raced: everything after follows from it
    RESOURCES = 1  # leaks and unbounded growth: they starve what comes after
    STATE = 2  # lost or duplicated writes, state that stopped adding up
    RECOVERY = 3  # a system that does not come back after heal, a health that lies
    CONTRACT = 4  # replies of the wrong kind or shape, faults leaking across operations
    TIMING = 5  # answers too late: usually a symptom of one of the above


class Invariant:
    """One property, checked through the hooks of an example (each yields verdicts)."""

    rank: Rank = Rank.CONTRACT

    def start(self, run: ExampleRun) -> Iterable[Verdict]:
        """The example starts from its healed baseline: take what later hooks compare with."""
        return ()

    def after_step(self, run: ExampleRun, step: Step) -> Iterable[Verdict]:
        """A step (fault on or off, wait, burst) was taken; cheap checks only."""
        return ()

    def after_burst(self, run: ExampleRun, burst: Burst) -> Iterable[Verdict]:
        """A burst of load ended; its history is complete."""
        return ()

    def before_fault_off(self, run: ExampleRun, fault: Fault) -> Iterable[Verdict]:
        """The schedule is about to heal ``fault``: like :meth:`before_heal`, for one fault
        switched off in the middle of an example."""
        return ()

    def before_heal(self, run: ExampleRun) -> Iterable[Verdict]:
        """The schedule is done and the faults still on are about to be healed: what only
        shows while they hold (requests stuck behind a blackhole) is read here."""
        return ()

    def end(self, run: ExampleRun) -> Iterable[Verdict]:
        """Every fault is healed and the system had time to quiesce."""
        return ()


def generic() -> list[Invariant]:
    """The invariants that hold for any HTTP service, whatever it does."""
    from harness.explore.invariants.amplification import BoundedRetryAmplification
    from harness.explore.invariants.contract import HonestErrors
    from harness.explore.invariants.goroutines import NoLeakedGoroutines
    from harness.explore.invariants.health import HonestHealth
    from harness.explore.invariants.isolation import FaultIsolation
    from harness.explore.invariants.liveness import LivenessAfterHeal
    from harness.explore.invariants.process import NoRuntimeReports, Survives
    from harness.explore.invariants.replies import RepliesWellFormed, WithinBudget
    from harness.explore.invariants.resources import BoundedResources, RequestsEndInBudget
    from harness.explore.invariants.shutdown import AnswersInFlightOnSigterm
    from harness.explore.invariants.state import StateHolds

    return [
        Survives(),
        NoRuntimeReports(),
        NoLeakedGoroutines(),
        WithinBudget(),
        RepliesWellFormed(),
        AnswersInFlightOnSigterm(),
        BoundedRetryAmplification(),
        RequestsEndInBudget(),
        FaultIsolation(),
        HonestErrors(),
        # Probes right after the heal, so the recovery budget is counted from it; honest
        # health reads the probes too.
        LivenessAfterHeal(),
        HonestHealth(),
        BoundedResources(),  # after NoLeakedGoroutines: in-flight work has ended
        StateHolds(),
    ]
