"""Data invariants over a history: no lost or duplicated writes, counters, causal traces.

``no_lost_or_duplicated_writes`` follows Jepsen's set-full checker: a write acknowledged
(``ok``) must be present exactly once in the final read; a write that surely failed
(``fail``) must be absent; a write whose outcome is unknown (``info``) may go either way but
never twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from harness.checks.verdict import Verdict
from harness.history import FAIL, INFO, OK, History, Op

__all__ = ["counter_between", "effects_carry_their_cause", "no_lost_or_duplicated_writes"]


def no_lost_or_duplicated_writes(
    history: History,
    final_read: Iterable[Hashable],
    key: Callable[[Op, Op], Hashable | None],
    *,
    what: str = "write",
    failures_are_definite: bool = True,
) -> Verdict:
    """Every acknowledged write present exactly once; none that failed; none twice.

    ``key(invoke, completion)`` names the element a write adds (an idempotency key, an
    order ID), or None for operations that are not writes. With
    ``failures_are_definite=False`` a failed operation may have left its element anyway
    (a side effect of a fan-out that failed elsewhere), but never twice.
    """
    name = "no lost or duplicated writes"
    present = Counter(final_read)
    kinds: dict[Hashable, set[str]] = {}
    for invoke, done in history.completed(OK, FAIL, INFO):
        element = key(invoke, done)
        if element is not None:
            kinds.setdefault(element, set()).add(done.type)
    # An element written more than once (a retry) takes its best-known outcome.
    outcome = {e: OK if OK in k else INFO if INFO in k else FAIL for e, k in kinds.items()}
    if not failures_are_definite:
        outcome = {e: INFO if kind == FAIL else kind for e, kind in outcome.items()}
    if not outcome:
        return Verdict.unknown(name, f"the history holds no completed {what}")
    lost = sorted(str(e) for e, kind in outcome.items() if kind == OK and present[e] == 0)
    duplicated = sorted(f"{e} (x{n})" for e, n in present.items() if n > 1)
    resurrected = sorted(str(e) for e, kind in outcome.items() if kind == FAIL and present[e])
    unexpected = sorted(str(e) for e in present if e not in outcome)
    counts = Counter(outcome.values())
    summary = (
        f"{counts[OK]} acknowledged, {counts[INFO]} unknown, {counts[FAIL]} failed {what}s; "
        f"{sum(present.values())} elements read back"
    )
    problems = [
        (lost, "acknowledged but missing (lost)"),
        (duplicated, "present more than once (duplicated)"),
        (resurrected, "failed but present anyway"),
        (unexpected, "present but never written"),
    ]
    lines = [f"{len(items)} {label}: {', '.join(items[:10])}" for items, label in problems if items]
    if lines:
        return Verdict.failing(name, f"{summary}.\n  " + "\n  ".join(lines), summary=summary)
    return Verdict.passing(name, summary)


def counter_between(
    counter: float | None, acknowledged: int, attempted: int, *, what: str = "counter"
) -> Verdict:
    """A service's counter of an operation lies between acknowledged and attempted ones."""
    name = "counter consistency"
    if counter is None:
        return Verdict.unknown(name, f"the {what} could not be read")
    if acknowledged <= counter <= attempted:
        return Verdict.passing(
            name, f"{what} = {counter:g}, within [{acknowledged} acknowledged, {attempted} sent]"
        )
    side = "fewer than were acknowledged" if counter < acknowledged else "more than were sent"
    return Verdict.failing(
        name,
        f"{what} = {counter:g} counts {side}: {acknowledged} acknowledged, {attempted} sent. "
        "Concurrent updates were lost or doubled (an unsynchronised shared variable?)",
    )


def effects_carry_their_cause(
    causes: Mapping[Any, str],
    effects: Iterable[Mapping[str, Any]],
    *,
    effect_key: str,
    effect_cause: str,
    what: str = "effect",
    complete: bool = False,
) -> Verdict:
    """Every asynchronous effect names the request that caused it.

    ``causes`` maps an effect's key (say, an order ID) to the request ID of the request
    that created it; each effect's ``effect_cause`` field must equal that request ID. With
    ``complete``, every cause must also have its effect (none was lost).
    """
    name = "trace consistency"
    seen = 0
    found: set[Hashable] = set()
    wrong: list[str] = []
    for effect in effects:
        cause = causes.get(effect.get(effect_key))
        if cause is None:
            continue
        seen += 1
        found.add(effect.get(effect_key))
        if effect.get(effect_cause) != cause:
            wrong.append(
                f"{what} for {effect.get(effect_key)} carries request ID "
                f"{effect.get(effect_cause)!r}, but request {cause!r} caused it"
            )
    missing = len(causes) - len(found)
    if seen == 0 and not (complete and causes):
        return Verdict.unknown(name, f"no {what} matched a recorded cause")
    if wrong:
        shown = "\n  ".join(wrong[:10])
        return Verdict.failing(
            name,
            f"{len(wrong)} of {seen} {what}s carry another request's ID:\n  {shown}",
        )
    if complete and missing:
        lost = sorted(str(k) for k in causes if k not in found)
        return Verdict.failing(
            name,
            f"{missing} of {len(causes)} {what}s were lost (never recorded): "
            + ", ".join(lost[:10]),
        )
    note = f" ({missing} caused {what}s not found)" if missing else ""
    return Verdict.passing(name, f"all {seen} {what}s carry the ID of their cause{note}")
