"""A SIGTERM lets in-flight requests finish: when a service is sent SIGTERM while a burst's
requests to it are in flight (a :class:`~faults.Terminate` or :class:`~faults.Restart`
landing during the burst), the requests sent before the signal are answered, not dropped.

A graceful shutdown stops accepting, finishes what it accepted, then exits. A service
that exits at once leaves its clients with a connection closed under them and no reply,
and whatever work those requests started is cut off half-way.

What counts: requests sent at least ``MARGIN_S`` before the signal was sent (a request
sent just before it may still sit in the kernel's accept queue, which no server drains)
and still unanswered when it was sent. Each must end with an HTTP reply, whatever its
status; one whose client gave up first (a timeout) says nothing either way. The signal's
moment is taken just before the fault is applied, so it errs early, on the safe side.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from faults import FaultOn, Restart, Terminate
from harness.checks import Verdict
from harness.explore.invariants import Invariant, Rank
from harness.history import request_label

if TYPE_CHECKING:
    from harness.explore.engine import Burst, ExampleRun, Landed

__all__ = ["MARGIN_S", "AnswersInFlightOnSigterm"]

MARGIN_S = 0.25
NAME = "in-flight requests answered on SIGTERM"


class AnswersInFlightOnSigterm(Invariant):
    """Requests in flight when their service gets SIGTERM are answered."""

    # How a process ends: the lost work that follows (writes, events) comes after it.
    rank = Rank.PROCESS

    def after_burst(self, run: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        for landed in burst.during:
            fault = landed.fault
            if not isinstance(landed.step, FaultOn) or not isinstance(fault, Terminate | Restart):
                continue
            if fault.service == burst.step.service:
                yield judge(burst, landed)


def judge(burst: Burst, landed: Landed) -> Verdict:
    """The verdict on one SIGTERM that landed during ``burst``."""
    service = burst.step.service
    signal_at = landed.at_s
    what = (
        f"{service} was sent SIGTERM ({landed.fault.describe()}) {signal_at:.2f} s into a "
        f"burst of {burst.step.request}"
    )
    in_flight = [
        (invoke, done)
        for invoke, done in burst.history.pairs()
        if invoke.time <= signal_at - MARGIN_S and (done is None or done.time >= signal_at)
    ]
    answered, gave_up, dropped = [], [], []
    for invoke, done in in_flight:
        value = done.value if done is not None and isinstance(done.value, dict) else {}
        error = (done.error if done is not None else None) or "no completion recorded"
        if value.get("status") is not None:
            answered.append(invoke)
        elif error.startswith(("timeout", "cancelled")):
            gave_up.append(invoke)
        else:
            dropped.append((invoke, error))
    if dropped:
        first, error = dropped[0]
        return Verdict.failing(
            NAME,
            f"{what}; of the {len(in_flight)} requests sent to it at least {MARGIN_S:g} s "
            f"before and still in flight, {len(dropped)} lost their connection without a "
            f"reply (first: {request_label(first)}: {error}): it exits without letting "
            "in-flight requests finish, so their work is cut off half-way",
        )
    if not answered:
        why = (
            f"all {len(gave_up)} of them were given up by their clients first"
            if gave_up
            else f"no request sent at least {MARGIN_S:g} s before it was still in flight"
        )
        return Verdict.unknown(NAME, f"{what}; {why}, so what a SIGTERM does to them is unknown")
    return Verdict.passing(
        NAME, f"{what}; all {len(answered)} requests in flight were answered before it exited"
    )
