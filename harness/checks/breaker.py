"""Circuit breakers: they trip under downstream failure, stop the calls, and recover.

Judged from two time series: the breaker state a service exports and the downstream's own
request counter, which shows whether calls really stopped while the breaker said it was
open. Breakers number their states differently; ``state_names`` says what the exported
values mean (by default sony/gobreaker's numbering: 0 closed, 1 half-open, 2 open).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from harness.checks.verdict import Verdict
from harness.errors import ConfigError

__all__ = ["GOBREAKER_STATES", "STATES", "breaker_trips_and_recovers"]

_CLOSED, _HALF_OPEN, _OPEN = "closed", "half-open", "open"
STATES = (_CLOSED, _HALF_OPEN, _OPEN)
"""What ``state_names`` may map an exported value to."""

GOBREAKER_STATES: Mapping[float | str, str] = {0: _CLOSED, 1: _HALF_OPEN, 2: _OPEN}
"""sony/gobreaker's ``State`` numbering, one example of a breaker's exported states."""

# Sampling can miss a short half-open phase, so open→closed is accepted; closed→half-open
# never happens in a correct breaker.
_ILLEGAL = {(_CLOSED, _HALF_OPEN)}

StateSeries = Sequence[tuple[float, float | str | None]]


def breaker_trips_and_recovers(
    states: StateSeries,
    *,
    fault_start: float,
    fault_end: float,
    timeout_s: float,
    epsilon_s: float = 1.5,
    downstream_calls: Sequence[tuple[float, float | None]] | None = None,
    calls_allowed_while_open: int = 3,
    breaker: str = "the breaker",
    state_names: Mapping[float | str, str] = GOBREAKER_STATES,
    why_states_unobserved: str = "",
    why_calls_unobserved: str = "",
) -> Verdict:
    """The breaker opens during the fault and is closed again by ``timeout_s + epsilon_s``
    after it; while open, the downstream receives (almost) no calls.

    ``states`` is the exported state over time (None where it was not observed);
    ``state_names`` maps each exported value, a number or a name, to "closed",
    "half-open" or "open" (a breaker without a half-open state may leave it out).
    ``breaker`` names it in messages, e.g. "the front's breaker for its back end".
    ``why_states_unobserved`` and ``why_calls_unobserved`` say why a series holds no value
    (``MetricSampler.why_unobserved`` tells), for the unknown verdict.
    """
    name = "breaker trips and recovers"
    _check_state_names(state_names)
    observed = [(t, s) for t, s in states if s is not None]
    if not observed:
        because = why_states_unobserved or (
            "no sample had a value (does the service export it under the name and labels "
            "read, and was it reachable?)"
        )
        return Verdict.unknown(name, f"{breaker}'s state was never observed: {because}")
    strange = sorted({_value(s) for _, s in observed if s not in state_names})
    if strange:
        return Verdict.unknown(
            name,
            f"{breaker} exported state value(s) {', '.join(strange)}, which state_names "
            f"({_describe(state_names)}) does not name; pass state_names= with this "
            "breaker's numbering",
        )
    known = [(t, state_names[s]) for t, s in observed]
    path = _path(known)
    evidence = {"state path": " → ".join(f"{s}@{t:.2f}s" for t, s in path)}
    during = [s for t, s in known if fault_start <= t <= fault_end + epsilon_s]
    if _OPEN not in during:
        seen = [
            c for t, c in downstream_calls or () if c is not None and fault_start <= t <= fault_end
        ]
        reached = f": {seen[-1] - seen[0]:g} calls reached it" if len(seen) >= 2 else ""
        return Verdict.failing(
            name,
            f"{breaker} never opened while the downstream was failing "
            f"(states seen: {sorted(set(during))}); calls went "
            f"straight through to a failing downstream{reached}",
            **evidence,
        )
    illegal = [(a, b) for (_, a), (_, b) in itertools.pairwise(path) if (a, b) in _ILLEGAL]
    if illegal:
        shown = ", ".join(f"{a} → {b}" for a, b in illegal)
        return Verdict.failing(name, f"illegal breaker transitions: {shown}", **evidence)
    recovered_by = fault_end + timeout_s + epsilon_s
    after = [(t, s) for t, s in known if t >= fault_end]
    closed_at = next((t for t, s in after if s == _CLOSED), None)
    if closed_at is None or closed_at > recovered_by:
        last = after[-1][1] if after else "unknown"
        watched = after[-1][0] - fault_end if after else 0.0
        when = (
            f"closed only at +{closed_at - fault_end:.1f} s"
            if closed_at is not None
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
            because = f": {why_calls_unobserved}" if why_calls_unobserved else ""
            return Verdict.unknown(
                name, f"the downstream's request counter was not observed{because}"
            )
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


def _check_state_names(state_names: Mapping[float | str, str]) -> None:
    unknown = sorted({str(v) for v in state_names.values()} - set(STATES))
    missing = [s for s in (_CLOSED, _OPEN) if s not in state_names.values()]
    if unknown or missing:
        raise ConfigError(
            f"state_names {_describe(state_names)} must map exported values to "
            f"{', '.join(STATES)} and name at least closed and open"
            + (f"; {', '.join(unknown)} is none of them" if unknown else "")
            + (f"; nothing maps to {' or '.join(missing)}" if missing else "")
        )


def _describe(state_names: Mapping[float | str, str]) -> str:
    return ", ".join(f"{_value(value)}: {state}" for value, state in state_names.items())


def _value(value: float | str) -> str:
    return f"{value:g}" if isinstance(value, int | float) else repr(value)


def _path(states: Sequence[tuple[float, str]]) -> list[tuple[float, str]]:
    path: list[tuple[float, str]] = []
    for t, s in states:
        if not path or path[-1][1] != s:
            path.append((t, s))
    return path


def _calls_while_open(
    states: Sequence[tuple[float, str]], calls: Sequence[tuple[float, float | None]]
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
        if s == _OPEN and opened is None:
            opened = t
        elif s != _OPEN and opened is not None:
            total += count_at(t) - count_at(opened)
            opened = None
    if opened is not None:
        total += count_at(states[-1][0]) - count_at(opened)
    return total
