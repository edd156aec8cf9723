"""No leaked goroutines: once faults are healed and in-flight work has ended, each watched
service with a pprof endpoint is back to the goroutines it had when the example began."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from harness.checks import Verdict, no_leaked_goroutines
from harness.explore.invariants import Invariant, Rank

if TYPE_CHECKING:
    from harness.explore.engine import ExampleRun

__all__ = ["NoLeakedGoroutines"]


class NoLeakedGoroutines(Invariant):
    rank = Rank.RESOURCES

    def end(self, run: ExampleRun) -> Iterator[Verdict]:
        settle_s = run.model.settle_s(run.operations)
        for name in run.watched:
            if name in run.replaced:
                continue  # a new process: the old baseline says nothing about it
            baseline = run.baselines.get(name)
            if baseline is None:
                yield Verdict.unknown("no leaked goroutines", run.unobserved[name])
                continue
            yield no_leaked_goroutines(run.env, baseline, settle_s=settle_s)
