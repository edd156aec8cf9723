"""The exploration's invariants catch what they are there for, and only that.

A hand-written schedule that provokes one seeded bug must break the named invariant on
that build, and the very same schedule must keep every invariant on the correct build: an
invariant that cannot fail, or one that fails on correct behaviour, is caught here rather
than by a long exploration that happens (or not) to draw the schedule.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from faults import FaultOff, FaultOn, Latency, LinkDown, LoadBurst, Schedule, Terminate
from harness.environment import Environment
from harness.explore import InvariantBroken, run_example
from harness.settings import Settings
from suites.model import ReferenceModel

INVENTORY = "gateway->inventory"
READS = "GET /products/1"


def _cut_inventory_then_read() -> Schedule:
    down = LinkDown(INVENTORY)
    return Schedule(
        (FaultOn(down), LoadBurst("gateway", READS, rate=25, seconds=0.6), FaultOff(down))
    )


def _slow_inventory_then_overload() -> Schedule:
    slow = Latency(INVENTORY, ms=1500)
    return Schedule(
        (FaultOn(slow), LoadBurst("gateway", READS, rate=200, seconds=0.5), FaultOff(slow))
    )


def _orders_then_sigterm() -> Schedule:
    # The audit event of an order reads inventory's stock first: slowed, the events are
    # still being built when the SIGTERM arrives, and only a draining shutdown keeps them.
    slow, stop = Latency(INVENTORY, ms=500), Terminate("gateway")
    return Schedule(
        (
            FaultOn(slow),
            LoadBurst("gateway", "POST /orders", rate=10, seconds=0.5),
            FaultOn(stop),
            FaultOff(stop),
            FaultOff(slow),
        )
    )


CASES: dict[str, tuple[Callable[[], Schedule], str]] = {
    "no-breaker": (_cut_inventory_then_read, "breaker trips"),
    "unbounded-concurrency": (_slow_inventory_then_overload, "go_goroutines bounded"),
    "no-graceful-shutdown": (_orders_then_sigterm, "audit events were lost"),
}


@pytest.mark.parametrize("bug", CASES)
def test_a_provoked_bug_breaks_its_invariant(
    chaos_environment_factory: Callable[..., Environment], bug: str
) -> None:
    schedule, broken = CASES[bug]
    env = chaos_environment_factory(bugs=(bug,))
    try:
        with pytest.raises(InvariantBroken, match=broken):
            run_example(env, ReferenceModel(), schedule())
    finally:
        env.down()


@pytest.mark.parametrize("bug", CASES)
def test_the_same_schedule_keeps_every_invariant_on_the_correct_build(
    chaos: Environment, chaos_settings: Settings, bug: str
) -> None:
    if chaos_settings.bugs:
        pytest.skip("needs the correct build; this run has --chaos-bugs")
    schedule, _ = CASES[bug]
    run_example(chaos, ReferenceModel(), schedule())
