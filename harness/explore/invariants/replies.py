"""What the clients saw: answers within each operation's budget, replies well formed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

from harness.checks import Outcome, Verdict, answers_within, replies_well_formed
from harness.explore.invariants import Invariant, Rank
from harness.explore.model import DEFAULT_BUDGET_MS

if TYPE_CHECKING:
    from harness.explore.engine import Burst, ExampleRun
    from harness.explore.model import Operation
    from harness.history import History

__all__ = ["EPSILON_MS", "RepliesWellFormed", "WithinBudget"]

EPSILON_MS = 500.0  # on top of a budget: scheduling noise on a busy machine


class WithinBudget(Invariant):
    """With a reachable service and patient clients, every request of a burst is answered
    within its operation's budget + ``EPSILON_MS``; an operation that declares no budget
    gets :data:`~harness.explore.model.DEFAULT_BUDGET_MS`, since a hang is always a finding."""

    rank = Rank.TIMING

    def after_burst(self, run: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        if not burst.judged:
            return
        operation = burst.operation
        verdict = answers_within(burst.history, operation.limit_ms, epsilon_ms=EPSILON_MS)
        if operation.budget_ms is None and verdict.outcome is not Outcome.PASS:
            verdict = dataclasses.replace(
                verdict,
                message=f"{operation.name} declares no budget, so the default one "
                f"({DEFAULT_BUDGET_MS / 1000:g} s) applies: {verdict.message}",
            )
        yield verdict


class RepliesWellFormed(Invariant):
    """A complete HTTP reply the operation accepts (its statuses, its predicate, by default
    a JSON body); with impatient clients, of the replies that came back."""

    rank = Rank.CONTRACT

    def after_burst(self, run: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        operation = burst.operation
        if burst.judged:
            yield replies_well_formed(burst.history, is_well_formed=operation.is_well_formed)
        elif operation.statuses is not None or operation.well_formed is not None:
            # Impatient clients gave up early, so no timing is judged; the replies that did
            # come back must still be what the operation promises.
            yield _answered_well_formed(burst.history, operation)


def _answered_well_formed(history: History, operation: Operation) -> Verdict:
    name = "replies well formed"
    answered = [d.value for _, d in history.completed() if isinstance(d.value, dict)]
    answered = [v for v in answered if v.get("status") is not None]
    bad = [v for v in answered if not operation.is_well_formed(v)]
    if not answered:
        return Verdict.unknown(
            name, f"no {operation.name} request was answered before its client gave up"
        )
    if bad:
        statuses = sorted({str(v.get("status")) for v in bad})
        return Verdict.failing(
            name,
            f"{len(bad)} of {len(answered)} answered {operation.name} requests got a reply "
            f"the operation does not accept (statuses {', '.join(statuses)})",
        )
    return Verdict.passing(
        name, f"all {len(answered)} answered {operation.name} requests well formed"
    )
