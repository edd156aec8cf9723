"""Fault isolation: an operation whose fault-free path does not touch a faulted link or
service keeps its fault-free success rate.

A burst is judged when every fault around it (on, or healed within the recovery budget)
is off its operation's path (:func:`~harness.explore.invariants.paths.on_path`); a fault on
the path, or one that cannot be placed, leaves it to the other invariants. Success is
full success: classified ok and not marked degraded, since a degraded answer is the
service saying it could not do all of the work.

The bound: the burst may fall short of its fault-free rate by what chance explains on a
shared machine, ``max(1, ceil(SLACK x n))`` of its ``n`` requests (20 %, at least one). A
fault that leaks across operations (a shared pool one downstream's slowness drains, one
breaker for two downstreams, an error from one call counted against another) costs far
more than that. With impatient clients, only the requests answered before they gave up
are counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from harness.checks import Verdict
from harness.explore.invariants import Rank
from harness.explore.invariants.outcomes import answers, fully_succeeded, marker_of, reply_of
from harness.explore.invariants.paths import FaultsAround, on_path, why_unknown

if TYPE_CHECKING:
    from harness.explore.engine import Burst, ExampleRun

__all__ = ["SLACK", "FaultIsolation", "allowed_shortfall"]

CHECK = "fault isolation"
SLACK = 0.2


def allowed_shortfall(requests: int) -> int:
    """How many fewer successes than the fault-free rate predicts chance explains."""
    return max(1, math.ceil(SLACK * requests))


class FaultIsolation(FaultsAround):
    rank = Rank.CONTRACT

    def after_burst(self, run: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        faults = self.around(run, burst)
        if not faults:
            return
        operation = burst.operation
        calibration = run.calibration
        baseline = calibration.of(operation) if calibration is not None else None
        if calibration is None or baseline is None:
            yield Verdict.unknown(
                CHECK,
                f"the fault-free path and success rate of {operation.name} were not learnt "
                "(no calibration)",
            )
            return
        unknown = []
        for fault in faults:
            placed = on_path(fault, operation, baseline, calibration, run.env)
            if placed:
                return  # a fault on its path: how it fares there is the other checks' say
            if placed is None:
                unknown.append(why_unknown(fault, baseline, calibration, run.env.topology))
        if unknown:
            yield Verdict.unknown(CHECK, unknown[0])
            return
        marker = marker_of(run.env.topology, operation.service)
        counted = [
            done
            for _, done in burst.history.completed()
            if burst.judged or reply_of(done).get("status") is not None
        ]
        if not counted:
            return
        got = sum(1 for done in counted if fully_succeeded(done, marker))
        degraded = sum(1 for done in counted if marker is not None and marker.marks(reply_of(done)))
        expected = baseline.success_rate * len(counted)
        path = ", ".join(sorted(baseline.links or ())) or "no proxied link"
        under = self.describe(run, faults)
        said = (
            f"{operation.name} under {under} (off its path: fault-free it travels {path}): "
            f"{got}/{len(counted)} succeeded"
            + (f" ({degraded} answered degraded)" if degraded else "")
            + f", fault-free {baseline.succeeded}/{baseline.sent}"
        )
        if got < expected - allowed_shortfall(len(counted)):
            statuses = answers(counted)
            yield Verdict.failing(
                CHECK,
                f"{said}: a fault on what it does not use must not cost it its successes "
                f"(answers: {statuses})",
            )
            return
        yield Verdict.passing(CHECK, said)
