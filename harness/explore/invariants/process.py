"""The processes: a watched service keeps its process, and its runtime reports nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from faults import ProcessFault
from harness.checks import Outcome, Verdict, no_runtime_reports, survives
from harness.explore.invariants import Invariant, Rank

if TYPE_CHECKING:
    from faults.schedule import Step
    from harness.explore.engine import ExampleRun

__all__ = ["RUNTIME_REPORTS", "NoRuntimeReports", "Survives"]

RUNTIME_REPORTS = ("data race", "panic", "fatal error")


class Survives(Invariant):
    """A watched service keeps its process unless the schedule killed, stopped, froze or
    restarted it (checked after every step), and is healthy at the end."""

    rank = Rank.PROCESS

    def __init__(self) -> None:
        self.lost: set[str] = set()  # reported once, not after every later step

    def after_step(self, run: ExampleRun, step: Step) -> Iterator[Verdict]:
        busy = {str(f.to_json().get("service")) for f in run.active if isinstance(f, ProcessFault)}
        for name in run.watched:
            if name in busy or name in run.replaced or name in self.lost:
                continue
            before = run.snapshots[name].state
            now = run.env.state(name)
            if not now.alive or (before.pid is not None and now.pid not in (None, before.pid)):
                self.lost.add(name)
                yield survives(run.env, name, run.snapshots[name])

    def end(self, run: ExampleRun) -> Iterator[Verdict]:
        for name in run.watched:
            if name not in run.replaced and name not in self.lost:
                yield survives(run.env, name, run.snapshots[name])


class NoRuntimeReports(Invariant):
    """No panic, fatal error or data race (with ``--chaos-race``), nor a line the model
    names, in a watched service's log since the example began."""

    rank = Rank.PROCESS

    def end(self, run: ExampleRun) -> Iterator[Verdict]:
        for name in run.watched:
            # Logs only grow, across restarts too: the mark taken at the start still holds.
            verdict = no_runtime_reports(
                run.env,
                name,
                since=run.snapshots[name].log_mark,
                kinds=RUNTIME_REPORTS,
                also=run.model.log_reports,
            )
            if verdict.outcome is Outcome.FAIL:
                # The race detector reports a race once per process: the next example (a
                # shrink candidate, a replay) needs a fresh process to be able to see it.
                run.env.restart(name)
            yield verdict
