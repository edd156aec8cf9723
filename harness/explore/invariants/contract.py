"""An honest error contract: a request that succeeds fault-free is never answered 4xx or 500
because of a downstream fault, and a success under a fault is not a failure in disguise.

Under a fault (on, or healed within the recovery budget), every answered request of an
operation that succeeds fault-free gets one of:

- a success whose JSON body has the shape of the fault-free successes (same keys, same
  types), or one the service marks degraded as its ``x-chaos`` block declares;
- 502, 503 or 504, or a status it also got fault-free;
- a 4xx an HTTP fault injects downstream (the refusal, relayed), or a 500 while a fault
  garbles downstream replies (see :mod:`harness.explore.invariants.outcomes`).

A 500 or 400 for a downstream that is merely down, slow or failing tells the client its
request or the service is broken when neither is; a 200 with ``{"error": ...}`` tells it
the request worked. Requests nobody answered are the budget invariants' business.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from harness.checks import Verdict
from harness.explore.calibration import json_shape
from harness.explore.invariants import Rank
from harness.explore.invariants.outcomes import (
    Excuses,
    describe_shape,
    marker_of,
    reply_of,
    shape_fits,
)
from harness.explore.invariants.paths import FaultsAround

if TYPE_CHECKING:
    from harness.explore.engine import Burst, ExampleRun

__all__ = ["HonestErrors"]

CHECK = "honest error contract"
SHOWN = 3  # examples of a broken reply quoted in a message


class HonestErrors(FaultsAround):
    rank = Rank.CONTRACT

    def after_burst(self, run: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        faults = self.around(run, burst)
        if not faults:
            return  # no fault: whatever it answered, it was not because of one
        operation = burst.operation
        baseline = run.calibration.of(operation) if run.calibration is not None else None
        if baseline is None:
            yield Verdict.unknown(
                CHECK,
                f"what {operation.name} answers fault-free was not learnt (no calibration), "
                "so an answer under a fault cannot be compared with it",
            )
            return
        if baseline.succeeded == 0:
            return  # it never succeeds fault-free: there is no success to keep honest
        marker = marker_of(run.env.topology, operation.service)
        excuses = Excuses.of(faults)
        tally: Counter[str] = Counter()
        wrong: Counter[int] = Counter()
        disguised: list[str] = []
        for _, done in burst.history.completed():
            reply = reply_of(done)
            status = reply.get("status")
            if not isinstance(status, int):
                continue  # no answer: the budget invariants judge that
            if 200 <= status < 300:
                if marker is not None and marker.marks(reply):
                    tally["degraded"] += 1
                elif not baseline.shapes or shape_fits(reply, baseline.shapes):
                    tally["succeeded"] += 1
                else:
                    disguised.append(_quote(reply))
            elif excuses.honest(status, baseline):
                tally[str(status)] += 1
            else:
                wrong[status] += 1
        answered = sum(tally.values()) + sum(wrong.values()) + len(disguised)
        if not answered:
            return
        under = self.describe(run, faults)
        fault_free = f"fault-free it succeeded {baseline.succeeded}/{baseline.sent}"
        problems = []
        if wrong:
            statuses = ", ".join(f"{s} x{n}" for s, n in sorted(wrong.items()))
            problems.append(
                f"{sum(wrong.values())} were answered {statuses}: a downstream fault must be "
                "answered 502, 503 or 504 (or succeed), not as if the request or the service "
                "were broken"
            )
        if disguised:
            expected = " or ".join(describe_shape(s) for s in baseline.shapes)
            degraded = (
                f", and not marked degraded ({marker.describe()})"
                if marker is not None
                else "; a degraded answer may differ once the service declares how it marks "
                f"one (x-chaos.services.{operation.service}.degraded)"
            )
            problems.append(
                f"{len(disguised)} succeeded with a body of another shape than the fault-free "
                f"successes ({expected}){degraded}: a failure in disguise, e.g. "
                + "; ".join(disguised[:SHOWN])
            )
        if problems:
            yield Verdict.failing(
                CHECK,
                f"{operation.name} under {under}: of {answered} answered requests, "
                + "; ".join(problems)
                + f" ({fault_free})",
            )
            return
        parts = ", ".join(f"{n} {what}" for what, n in sorted(tally.items()))
        yield Verdict.passing(
            CHECK, f"{operation.name} under {under}: {answered} answered honestly ({parts})"
        )


def _quote(reply: Mapping[str, Any]) -> str:
    body = reply.get("body")
    if body is None:
        return (
            f"{reply.get('status')} with a body that is not JSON: {str(reply.get('text'))[:80]!r}"
        )
    shown = str(body)
    shown = shown if len(shown) <= 120 else shown[:117] + "..."
    return f"{reply.get('status')} {shown} (shape {describe_shape(json_shape(body))})"
