"""No request without an end: every request is answered within a budget, even when its
operation declares none, and no request is still being handled past that budget.

Two halves:

- after a burst with patient clients, an operation that declares no budget is judged
  against :data:`~harness.explore.model.DEFAULT_BUDGET_MS` (one that declares one is
  :class:`~harness.explore.invariants.replies.WithinBudget`'s): a hang is always a finding;
- just before a fault is healed (by the schedule, or at the example's end), if load was
  sent while it held, each watched service with a pprof endpoint is asked for the
  requests it is still handling (goroutines inside a handler, see
  :func:`harness.probes.handling_request`; idle connections and their readers do not
  count). Any still there once the longest budget of the operations it serves has passed
  since the last request was sent is stuck. It has to be read then: healing a blackhole
  closes the connections the stuck requests wait on, they fail, return, and leave no
  trace for the leak check after heal. Clients that gave up early (impatient bursts) are
  exactly the case where no reply shows the hang.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from faults import Disconnect, Fault, FaultOn, ProcessFault
from harness.checks import Verdict, answers_within
from harness.errors import ChaosError
from harness.explore.invariants import Invariant, Rank
from harness.explore.invariants.replies import EPSILON_MS
from harness.explore.model import DEFAULT_BUDGET_MS
from harness.probes import format_groups, handling_request, idle_connection
from harness.signals import read_goroutines

if TYPE_CHECKING:
    from faults.schedule import Step
    from harness.explore.engine import Burst, ExampleRun
    from harness.probes import GoroutineGroup

__all__ = ["NoEndlessRequests"]

CHECK = "no request without an end"


class NoEndlessRequests(Invariant):
    rank = Rank.RESOURCES  # a stuck request holds a goroutine, a connection, a slot

    def __init__(self) -> None:
        self.bursts_at_on: dict[Fault, int] = {}  # fault -> bursts sent before it went on

    def after_burst(self, run: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        if burst.operation.budget_ms is not None or not burst.judged:
            return
        verdict = answers_within(burst.history, DEFAULT_BUDGET_MS, epsilon_ms=EPSILON_MS)
        yield dataclasses.replace(
            verdict,
            check=CHECK,
            message=f"{burst.operation.name} declares no budget, so the default one "
            f"({DEFAULT_BUDGET_MS / 1000:g} s) applies: {verdict.message}",
        )

    def after_step(self, run: ExampleRun, step: Step) -> Iterator[Verdict]:
        if isinstance(step, FaultOn):
            self.bursts_at_on.setdefault(step.fault, len(run.bursts))
        return iter(())

    def before_fault_off(self, run: ExampleRun, fault: Fault) -> Iterator[Verdict]:
        if len(run.bursts) > self.bursts_at_on.pop(fault, len(run.bursts)):
            yield from self._read(run)

    def before_heal(self, run: ExampleRun) -> Iterator[Verdict]:
        if any(len(run.bursts) > self.bursts_at_on.get(f, len(run.bursts)) for f in run.active):
            yield from self._read(run)

    def _read(self, run: ExampleRun) -> Iterator[Verdict]:
        last_sent = max(_last_invoke(b) for b in run.bursts)
        down = {
            str(f.to_json().get("service"))
            for f in run.active
            if isinstance(f, ProcessFault | Disconnect)
        }
        for name in run.watched:
            if name in down or run.env.topology.service(name).pprof is None:
                continue  # frozen, gone or unplugged; or nothing to read
            serves = [op.limit_ms for op in run.operations if op.service == name]
            limit_ms = max(serves or [op.limit_ms for op in run.operations])
            yield self._stuck(run, name, last_sent + (limit_ms + EPSILON_MS) / 1000, limit_ms)

    def _stuck(self, run: ExampleRun, service: str, deadline: float, limit_ms: float) -> Verdict:
        before = run.baselines.get(service)
        usual = _in_handlers(before.groups) if before is not None else []
        pause = 0.05
        while True:
            try:
                groups = read_goroutines(run.env, service)
            except ChaosError as exc:
                return Verdict.unknown(
                    CHECK, f"could not read the requests {service} is handling: {exc}"
                )
            busy = _in_handlers(groups)
            extra = sum(g.count for g in busy) - sum(g.count for g in usual)
            if extra <= 0:
                return Verdict.passing(
                    CHECK, f"{service} handles no request past its budget while the faults hold"
                )
            now = time.monotonic()
            if now >= deadline:
                late = now - deadline + (limit_ms + EPSILON_MS) / 1000
                return Verdict.failing(
                    CHECK,
                    f"{service} is still handling {extra} request(s) {late:.1f} s after the last "
                    f"one was sent, past the longest budget of what it serves "
                    f"({limit_ms:.0f} ms + {EPSILON_MS:.0f} ms), with the faults still on: "
                    "they have no end of their own (healing would close their connections "
                    "and hide them).\nStacks of the requests in progress:\n" + format_groups(busy),
                    requests=format_groups(busy),
                )
            time.sleep(min(pause, deadline - now))
            pause = min(pause * 2, 0.5)


def _in_handlers(groups: list[GoroutineGroup] | tuple[GoroutineGroup, ...]) -> list[GoroutineGroup]:
    return [g for g in groups if handling_request(g) and idle_connection(g) is None]


def _last_invoke(burst: Burst) -> float:
    times = [op.time for op in burst.history if op.type == "invoke"]
    return burst.history.started + (max(times) if times else 0.0)
