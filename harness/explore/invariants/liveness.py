"""Liveness after heal: once every fault is healed, every operation of the workload returns
to its fault-free success rate within the recovery budget.

After an example that broke something, each operation that succeeds fault-free is probed
with small bursts (``PROBE_REQUESTS`` patient requests) until one of them succeeds as often
as calibration did, within :func:`~harness.explore.invariants.isolation.allowed_shortfall`
(full successes: a degraded answer is not back to normal), or the recovery budget since the
heal is spent. The budget is the model's (:meth:`SystemModel.recovery_s
<harness.explore.model.SystemModel.recovery_s>`): by default a few seconds for breakers to
half-open, pools to redial and caches to refill, plus one request's budget.

A system that does not come back keeps failing after its faults are gone: a client that
cached a broken connection, a breaker that never half-opens, a worker that died with the
fault. The probes are bursts of the example like any other (:attr:`ExampleRun.bursts
<harness.explore.engine.ExampleRun.bursts>`), so a model's end-of-example checks count what
they wrote.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from faults import FaultOn, LoadBurst
from harness.checks import Verdict
from harness.explore.engine import Burst, patient_timeout_s
from harness.explore.invariants import Invariant, Rank
from harness.explore.invariants.isolation import allowed_shortfall
from harness.explore.invariants.outcomes import (
    answers,
    captured_headers,
    fully_succeeded,
    marker_of,
)

if TYPE_CHECKING:
    from harness.explore.calibration import OperationBaseline
    from harness.explore.engine import ExampleRun
    from harness.explore.model import Operation

__all__ = ["PROBE_REQUESTS", "LivenessAfterHeal"]

CHECK = "liveness after heal"
PROBE_REQUESTS = 5
PROBE_RATE = 25.0


class LivenessAfterHeal(Invariant):
    rank = Rank.RECOVERY

    def __init__(self) -> None:
        self.healed_at: float | None = None

    def before_heal(self, run: ExampleRun) -> Iterator[Verdict]:
        self.healed_at = time.monotonic()
        return iter(())

    def end(self, run: ExampleRun) -> Iterator[Verdict]:
        if not any(isinstance(step, FaultOn) for step in run.steps):
            return  # nothing was broken: nothing to come back from
        if run.calibration is None:
            yield Verdict.unknown(
                CHECK, "what the operations do fault-free was not learnt (no calibration)"
            )
            return
        budget_s = run.model.recovery_s(run.operations)
        deadline = (self.healed_at or time.monotonic()) + budget_s
        for operation in run.operations:
            baseline = run.calibration.of(operation)
            if baseline is None or baseline.succeeded == 0:
                continue  # nothing it did fault-free to return to
            yield self._recovers(run, operation, baseline, deadline, budget_s)

    def _recovers(
        self,
        run: ExampleRun,
        operation: Operation,
        baseline: OperationBaseline,
        deadline: float,
        budget_s: float,
    ) -> Verdict:
        marker = marker_of(run.env.topology, operation.service)
        pause = 0.1
        probes: list[str] = []
        while True:
            burst = self._probe(run, operation, len(probes))
            done = [d for _, d in burst.history.completed()]
            got = sum(1 for d in done if fully_succeeded(d, marker))
            waited = time.monotonic() - (deadline - budget_s)
            probes.append(f"+{waited:.1f} s: {got}/{len(done)} succeeded ({answers(done)})")
            if got >= baseline.success_rate * len(done) - allowed_shortfall(len(done)):
                return Verdict.passing(
                    CHECK,
                    f"{operation.name} succeeds as fault-free again {waited:.1f} s after the "
                    f"heal ({got}/{len(done)})",
                    probes="\n".join(probes),
                )
            if time.monotonic() >= deadline:
                return Verdict.failing(
                    CHECK,
                    f"{operation.name} did not come back: every fault was healed "
                    f"{waited:.1f} s ago (the recovery budget is {budget_s:.1f} s), yet the "
                    f"last probe got {got}/{len(done)} successes against "
                    f"{baseline.succeeded}/{baseline.sent} fault-free.\n"
                    "Probes since the heal:\n" + "\n".join(probes),
                    probes="\n".join(probes),
                )
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 1.0)

    def _probe(self, run: ExampleRun, operation: Operation, number: int) -> Burst:
        request = operation.requests[0]
        key = f"{run.prefix}r{number}{operation.name.replace(' ', '')}"[:60]
        timeout_s = patient_timeout_s(operation)
        step = LoadBurst(
            operation.service,
            request,
            rate=PROBE_RATE,
            seconds=PROBE_REQUESTS / PROBE_RATE,
            timeout_s=timeout_s,
        )
        result = operation.load(
            run.env,
            operation.service,
            operation.sends(request, key),
            rate=step.rate,
            seconds=step.seconds,
            max_requests=PROBE_REQUESTS,
            timeout=timeout_s,
            classify=run.model.classify,
            capture_headers=captured_headers(run.env.topology, operation.service),
        )
        burst = Burst(step, operation, key, result.history, result.sent, judged=True)
        run.bursts.append(burst)
        return burst
