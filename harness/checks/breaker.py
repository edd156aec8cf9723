"""Circuit breakers: they trip under downstream failure, stop the calls, and recover.

Judged from two time series: the breaker state a service exports (0 closed, 1 half-open,
2 open, as `sony/gobreaker` numbers them) and the downstream's own request counter, which
shows whether calls really stopped while the breaker said it was open.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from harness.checks.verdict import Verdict

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "breaker_trips_and_recovers"]

CLOSED, HALF_OPEN, OPEN = 0.0, 1.0, 2.0
_NAMES: Mapping[float, str] = {CLOSED: "closed", HALF_OPEN: "half-open", OPEN: "open"}
# Sampling can miss a short half-open phase, so open→closed is accepted; closed→half-open
# never happens in a correct breaker.
_ILLEGAL = {(CLOSED, HALF_OPEN)}


def breaker_trips_and_recovers(
    states: Sequence[tuple[float, float | None]],
    *,
    fault_start: float,
    fault_end: float,
    timeout_s: float,
    epsilon_s: float = 1.5,
    downstream_calls: Sequence[tuple[float, float | None]] | None = None,
    calls_allowed_while_open: int = 3,
    breaker: str = "the breaker",
) -> Verdict:
    """The breaker opens during the fault and is closed again by ``timeout_s + epsilon_s``
    after it; while open, the downstream receives (almost) no calls.

    ``breaker`` names it in messages, e.g. "the gateway's breaker for inventory".
    """
    name = "breaker trips and recovers"
    known = [(t, s) for t, s in states if s is not None]
    if not known:
        return Verdict.unknown(name, "the breaker state was never observed (is it exported?)")
    path = _path(known)
    evidence = {"state path": " → ".join(f"{_NAMES.get(s, s)}@{t:.2f}s" for t, s in path)}
    during = [s for t, s in known if fault_start <= t <= fault_end + epsilon_s]
    if OPEN not in during:
        seen = [
            c for t, c in downstream_calls or () if c is not None and fault_start <= t <= fault_end
        ]
        reached = f": {seen[-1] - seen[0]:g} calls reached it" if len(seen) >= 2 else ""
        return Verdict.failing(
            name,
            f"{breaker} never opened while the downstream was failing "
            f"(states seen: {sorted({_NAMES.get(s, str(s)) for s in during})}); calls went "
            f"straight through to a failing downstream{reached}",
            **evidence,
        )
    illegal = [(a, b) for (_, a), (_, b) in itertools.pairwise(path) if (a, b) in _ILLEGAL]
    if illegal:
        return Verdict.failing(name, f"illegal breaker transitions: {illegal}", **evidence)
    recovered_by = fault_end + timeout_s + epsilon_s
    after = [(t, s) for t, s in known if t >= fault_end]
    closed_at = next((t for t, s in after if s == CLOSED), None)
    if closed_at is None or closed_at > recovered_by:
        last = _NAMES.get(after[-1][1], "?") if after else "unknown"
        watched = after[-1][0] - fault_end if after else 0.0
        when = (
            f"closed only at +{closed_at - fault_end:.1f} s"
            if closed_at
            else f"never closed (still {last} {watched:.1f} s later)"
        )
        return Verdict.failing(
            name,
            f"after the downstream healed, {breaker} {when}; it should close within "
            f"Timeout {timeout_s:.1f} s + {epsilon_s:.1f} s: it is stuck open",
            **evidence,
        )
    if downstream_calls is not None:
        leaked = _calls_while_open(known, downstream_calls)
        if leaked is None:
            return Verdict.unknown(name, "the downstream's request counter was not observed")
        evidence["downstream calls while open"] = str(leaked)
        if leaked > calls_allowed_while_open:
            return Verdict.failing(
                name,
                f"the downstream received {leaked:g} calls while {breaker} was open "
                f"(at most {calls_allowed_while_open} half-open probes expected)",
                **evidence,
            )
    return Verdict.passing(
        name,
        f"opened during the fault, closed {closed_at - fault_end:.1f} s after healing",
        **evidence,
    )


def _path(states: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    path: list[tuple[float, float]] = []
    for t, s in states:
        if not path or path[-1][1] != s:
            path.append((t, s))
    return path


def _calls_while_open(
    states: Sequence[tuple[float, float]], calls: Sequence[tuple[float, float | None]]
) -> float | None:
    """Growth of the downstream counter over the intervals the breaker was seen open."""
    counts = [(t, c) for t, c in calls if c is not None]
    if len(counts) < 2:
        return None

    def count_at(t: float) -> float:
        before = [c for ts, c in counts if ts <= t]
        return before[-1] if before else counts[0][1]

    total = 0.0
    opened: float | None = None
    for t, s in states:
        if s == OPEN and opened is None:
            opened = t
        elif s != OPEN and opened is not None:
            total += count_at(t) - count_at(opened)
            opened = None
    if opened is not None:
        total += count_at(states[-1][0]) - count_at(opened)
    return total
