"""The engine's own shrinking pass: drop the steps of a failing schedule that do not matter.

Hypothesis shrinks the choices an example was drawn from, and within a hard budget it may
stop before every step that does not matter is gone. This pass works on the schedule
itself, one example per candidate: it drops a whole fault episode first (a fault turned on,
with the step that turns it off), then a fault that lands during a burst (the burst stays),
then each other step (a wait, a burst). A candidate is kept when it still breaks the
invariant the failure broke first, twice in a row (a failure that hangs on timing or a
race must not be shrunk on one lucky run); the pass starts again from it, and ends when no
single drop keeps the failure or the budget has no room for another example.

A candidate keeps the gaps between the steps that are left (:meth:`Schedule.without`), so a
failure that needs a fault to land at a given moment is tried with the same timing.

Twice in a row is still luck now and then: among the many candidates a pass tries, one that
breaks it one run in three gets through in time. So the pass ends by confirming its result
(:data:`CONFIRM_RUNS` more runs, all breaking it); a result that does not confirm gives way
to the schedule it was cut from, and so on back to where the pass started: a saved schedule
must replay the failure, not merely have shown it once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from faults import Fault, FaultOff, FaultOn, LoadBurst, Schedule, Wait
from harness.errors import ChaosError, FaultError
from harness.explore.engine import InvariantBroken, run_example

if TYPE_CHECKING:
    from harness.environment import Environment
    from harness.explore.calibration import Calibration
    from harness.explore.model import SystemModel
    from harness.explore.profiles import Budget
    from harness.explore.replays import Failure, FailureLog

__all__ = ["CONFIRM_RUNS", "EXAMPLE_OVERHEAD_S", "candidates", "confirmed", "minimize"]

EXAMPLE_OVERHEAD_S = 3.0  # an example's start and end checks, besides its steps
CONFIRM_RUNS = 3  # runs the result must break it in, one after another, to be kept


def candidates(schedule: Schedule) -> Iterator[tuple[str, Schedule]]:
    """Smaller schedules, the biggest cuts first, each with what it leaves out (a cut that
    leaves no schedule at all, a fault switched off that was never on, is skipped)."""
    steps = schedule.steps
    cuts: list[tuple[str, Callable[[], Schedule]]] = []
    for index, step in enumerate(steps):
        if isinstance(step, FaultOn):
            cuts.append(_cut(schedule, f"without {step.fault.describe()}", index, [step.fault]))
        elif isinstance(step, LoadBurst) and step.during:
            cuts.append(_cut(schedule, f"without {step.describe()}", index, _during_faults(step)))
    for index, step in enumerate(steps):
        if isinstance(step, LoadBurst) and step.during:
            cuts.append((f"without the faults during step {index}", _calm(schedule, index, step)))
    for index, step in enumerate(steps):
        if isinstance(step, Wait) or (isinstance(step, LoadBurst) and not step.during):
            cuts.append((f"without {step.describe()}", _dropping(schedule, [index])))
    for what, build in cuts:
        try:
            smaller = build()
        except FaultError:
            continue
        if smaller.steps:
            yield what, smaller


def _dropping(schedule: Schedule, indexes: list[int]) -> Callable[[], Schedule]:
    return lambda: schedule.without(indexes)


def _calm(schedule: Schedule, index: int, step: LoadBurst) -> Callable[[], Schedule]:
    """The burst at ``index`` without the faults that land during it (nor their ends)."""

    def build() -> Schedule:
        # The ends come after the burst, so dropping them first leaves its index as it was.
        ended = schedule.without(_offs(schedule.steps, index, _during_faults(step)))
        kept = dataclasses.replace(step, during=())
        steps = tuple(kept if i == index else s for i, s in enumerate(ended.steps))
        return Schedule(steps, ended.offsets)

    return build


def _during_faults(step: LoadBurst) -> list[Fault]:
    return [at.step.fault for at in step.during if isinstance(at.step, FaultOn)]


def _offs(steps: tuple[object, ...], after: int, faults: list[Fault]) -> list[int]:
    """The indexes of the steps after ``after`` that turn ``faults`` off."""
    wanted = list(faults)
    found = []
    for index in range(after + 1, len(steps)):
        step = steps[index]
        if isinstance(step, FaultOff) and step.fault in wanted:
            wanted.remove(step.fault)
            found.append(index)
    return found


def _cut(
    schedule: Schedule, what: str, index: int, faults: list[Fault]
) -> tuple[str, Callable[[], Schedule]]:
    """Without the step at ``index`` and the steps that turn its ``faults`` off."""
    return what, _dropping(schedule, [index, *_offs(schedule.steps, index, faults)])


def minimize(
    env: Environment,
    model: SystemModel,
    failure: Failure,
    log: FailureLog,
    *,
    budget: Budget,
    calibration: Calibration | None = None,
) -> Failure:
    """The smallest failing schedule this pass finds from ``failure`` within ``budget``.

    A failure that hangs on timing or on a race does not break every run, and one lucky
    run must not make a schedule the report. So the pass starts from the shortest failure
    of ``log`` that breaks the same invariant once more (``failure`` itself if none does
    in time), and keeps a candidate only if it breaks it twice in a row.
    """
    # A candidate is a part of the failing schedule: it takes about as long as the failing
    # example did, at most (its steps, then the start and the end checks).
    offsets = failure.schedule.offsets
    longest = [(offsets[-1] if offsets else 0.0) + EXAMPLE_OVERHEAD_S]

    def fits() -> bool:
        return time.monotonic() + max(longest) <= budget.end

    def attempt(schedule: Schedule) -> Failure | None:
        """One run; the failure if it broke what ``failure`` broke first (always that one,
        so that a chain of candidates cannot drift to another finding)."""
        began = time.monotonic()
        found = _attempt(env, model, schedule, log, budget, calibration)
        longest.append(time.monotonic() - began)
        return found if found is not None and failure.same_cause(found) else None

    best = failure
    for known in log.ranked():
        if not fits():
            break
        if not failure.same_cause(known):
            continue
        again = attempt(known.schedule)
        if again is not None:
            env.events.progress("shrinking: starting from a failure that broke it again")
            best = again
            break
        env.events.progress("shrinking: a failure did not break it again; trying a longer one")
    chain = [best]  # each schedule the pass kept, cut from the one before
    tried: set[Schedule] = set()
    improved = True
    while improved:
        improved = False
        for what, candidate in candidates(best.schedule):
            if candidate in tried:
                continue
            if not fits():
                env.events.progress("shrinking: out of budget, keeping the shortest so far")
                return confirmed(env, chain, attempt, fits)
            tried.add(candidate)
            found = attempt(candidate)
            if found is not None and fits():
                found = attempt(candidate)  # once more: a lucky run is no finding
            if found is None:
                env.events.progress(f"shrinking: {what}: no longer breaks it every time")
                continue
            env.events.progress(f"shrinking: {what}: still breaks it")
            best = found
            chain.append(best)
            improved = True
            break
    return confirmed(env, chain, attempt, fits)


def confirmed(
    env: Environment,
    chain: list[Failure],
    attempt: Callable[[Schedule], Failure | None],
    fits: Callable[[], bool],
) -> Failure:
    """The last schedule of ``chain`` that breaks it :data:`CONFIRM_RUNS` runs in a row;
    when none does, the one with the longest run of breaks (the shortest among equals).
    What the budget has no room to confirm is kept as it is."""
    kept, streak = chain[-1], -1
    for failure in reversed(chain):
        broke = 0
        while broke < CONFIRM_RUNS and fits() and attempt(failure.schedule) is not None:
            broke += 1
        steps = len(failure.schedule.steps)
        if broke == CONFIRM_RUNS:
            env.events.progress(f"shrinking: {steps} steps broke it {broke} runs more: kept")
            return failure
        if broke > streak:
            kept, streak = failure, broke
        if not fits():
            break
        env.events.progress(
            f"shrinking: {steps} steps broke it {broke} of {CONFIRM_RUNS} runs more: "
            "trying the schedule it was cut from"
        )
    return kept


def _attempt(
    env: Environment,
    model: SystemModel,
    schedule: Schedule,
    log: FailureLog,
    budget: Budget,
    calibration: Calibration | None,
) -> Failure | None:
    """Run one candidate as an example: the failure it broke, or None if it kept every
    invariant (or the system could not be brought to its baseline for it)."""
    log.count_example()
    began = time.monotonic()
    try:
        run_example(env, model, schedule, calibration=calibration)
    except InvariantBroken as exc:
        return exc.failure
    except ChaosError as exc:
        env.events.progress(f"shrinking: a candidate could not run: {exc}")
        return None
    finally:
        budget.took(time.monotonic() - began)
    return None
