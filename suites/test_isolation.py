"""Isolation: a fault on one downstream costs only the operations that call it.

Product reads call inventory alone; orders call inventory and payment at once. With
payment cut off, orders fail (honestly), and the reads must not notice: the exploration's
generic fault-isolation invariant (:mod:`harness.explore.invariants.isolation`) compares
them with what they do fault-free, on the path calibration saw them travel.

The way it broke: an order's two calls run in an errgroup, which cancels the reservation
with payment's error as its cause once the charge fails; net/http returns that cause
instead of ``context.Canceled``, so inventory's breaker counted payment's outage as
inventory's failure, opened, and product reads went degraded while inventory was fine.
"""

from __future__ import annotations

from faults import FaultOff, FaultOn, LinkDown, LoadBurst, Schedule
from harness.checks import Outcome, Verdict
from harness.environment import Environment
from harness.explore import run_example
from harness.explore.engine import calibrated
from suites.model import GATEWAY, ORDERS, ReferenceModel


class _Verdicts:
    def __init__(self) -> None:
        self.seen: list[Verdict] = []

    def on_verdict(self, verdict: Verdict) -> None:
        self.seen.append(verdict)


def test_a_payment_outage_leaves_product_reads_alone(chaos: Environment) -> None:
    model = ReferenceModel()
    calibration = calibrated(chaos, model)
    down = LinkDown("gateway->payment")
    # Orders first, long enough for payment's breaker to open (every later order then
    # fails at once, while its reservation is still in flight), then reads at once.
    schedule = Schedule(
        (
            FaultOn(down),
            LoadBurst(GATEWAY, ORDERS, rate=20, seconds=1.0, timeout_s=5.0),
            LoadBurst(GATEWAY, "GET /products/1", rate=20, seconds=0.5, timeout_s=5.0),
            FaultOff(down),
        )
    )
    verdicts = _Verdicts()
    chaos.events.subscribe(verdicts)
    try:
        run_example(chaos, model, schedule, calibration=calibration)
    finally:
        chaos.events.unsubscribe(verdicts)
    judged = [v for v in verdicts.seen if v.check == "fault isolation"]
    assert judged, "the product reads were not judged: calibration did not place them"
    assert all(v.outcome is Outcome.PASS for v in judged), judged
