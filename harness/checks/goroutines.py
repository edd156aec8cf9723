"""Goroutine leaks: after load stops and faults heal, goroutines return to their baseline.

Read from the service's goroutine dump (pprof ``goroutine?debug=2``), grouped by stack
shape (IDs, waits and offsets stripped), so a failure names the code that leaked, not
just a number. Goroutines that only wait on a connection (an idle keep-alive connection,
a pooled outgoing connection's loops) end when the peer closes it and are not leaks; a
connection goroutine that is inside a request handler is work in progress and counts. A
service without pprof gets *unknown*, with what was tried and how to add it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.checks.verdict import Verdict
from harness.errors import ChaosError
from harness.probes import (
    DUMP_WRITER,
    IDLE_INCOMING,
    OUTGOING_POOL,
    REQUEST_READER,
    GoroutineGroup,
    diff_goroutines,
    format_groups,
    handling_request,
    idle_connection,
    total_goroutines,
)
from harness.signals import read_goroutines

if TYPE_CHECKING:
    from harness.environment import Environment

__all__ = ["GoroutineBaseline", "goroutine_baseline", "no_leaked_goroutines"]

_MATCHED = "goroutines matching ignore_frames"
# The role names are plurals, as they mostly count many; these read right for one.
_ONE = {
    IDLE_INCOMING: "idle keep-alive connection",
    REQUEST_READER: "background reader of a request in progress",
    OUTGOING_POOL: "read/write loop of a pooled outgoing connection",
    DUMP_WRITER: "goroutine writing the dump",
    _MATCHED: "goroutine matching ignore_frames",
}


@dataclass(frozen=True)
class GoroutineBaseline:
    """A service's goroutines before a fault, or why they could not be read."""

    service: str
    groups: tuple[GoroutineGroup, ...]
    count: int | None  # goroutines in the baseline dump; None when it could not be taken
    unavailable: str | None = None  # why the baseline could not be taken

    @property
    def taken(self) -> bool:
        return self.unavailable is None


def goroutine_baseline(env: Environment, service: str) -> GoroutineBaseline:
    """Record a service's goroutines before a fault, to compare against after it.

    Never raises for a service that cannot be observed: the baseline then records why,
    and :func:`no_leaked_goroutines` on it is unknown with that reason.
    """
    try:
        groups = read_goroutines(env, service)
    except ChaosError as exc:
        return GoroutineBaseline(service, (), None, unavailable=str(exc))
    return GoroutineBaseline(service, tuple(groups), total_goroutines(groups))


def no_leaked_goroutines(
    env: Environment,
    baseline: GoroutineBaseline,
    *,
    settle_s: float = 10.0,
    ignore_frames: Iterable[str] = (),
) -> Verdict:
    """After load stops and faults heal, goroutines return to the baseline within settle_s.

    Polls with backoff, because work that was in flight legitimately takes a moment to
    finish; only goroutines still there at the deadline count as leaked. Idle connection
    goroutines never count (see :func:`harness.probes.idle_connection`); nor do those with
    a frame (or creator) containing one of ``ignore_frames``, for a service's own
    goroutines that come and go on their own schedule (say, a lazily grown worker pool).
    """
    name = "no leaked goroutines"
    service = baseline.service
    if baseline.unavailable is not None:
        return Verdict.unknown(
            name,
            f"no goroutine baseline of {service} could be taken before the fault, so a leak "
            f"cannot be told from the goroutines it always has: {baseline.unavailable}",
        )
    ignored = tuple(ignore_frames)
    before = _Census(baseline.groups, ignored)
    started = time.monotonic()
    deadline = started + settle_s
    pause = 0.05
    readings: list[str] = []
    while True:
        try:
            groups = read_goroutines(env, service)
        except ChaosError as exc:
            return Verdict.unknown(name, f"could not read the goroutines of {service}: {exc}")
        now = _Census(groups, ignored)
        waited = time.monotonic() - started
        readings.append(f"+{waited:.3f}s: {now.describe()}")
        # A long-lived goroutine that merely changed state (waiting, then running) moves
        # from one group to another; only a net growth of counted goroutines is a leak.
        leaked = now.counted - before.counted
        if leaked <= 0 or time.monotonic() >= deadline:
            break
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
    evidence = {"goroutines": "\n".join([f"baseline: {before.describe()}", *readings])}
    idle_grown = [g for g in diff_goroutines(baseline.groups, groups) if now.role(g) is not None]
    if idle_grown:
        evidence["grown, but only waiting on a connection"] = format_groups(idle_grown)
    numbers = f"{before.total} → {now.total} goroutines"
    if leaked <= 0:
        return Verdict.passing(
            name, f"{service}: {numbers}{_explain_pass(before, now)}", **evidence
        )
    grown = [g for g in diff_goroutines(baseline.groups, groups) if now.role(g) is None]
    text = format_groups(grown)
    evidence["leaked goroutines"] = text
    in_handlers = sum(g.count for g in grown if handling_request(g))
    handlers = (
        f"; the grown stacks hold {in_handlers} request(s) still inside a handler, which "
        "never returned"
        if in_handlers
        else ""
    )
    idle = now.ignored_total - before.ignored_total
    if idle > 0:
        besides = f"; the other {idle} more {_not_counted(before, now)}"
    elif idle < 0:
        besides = f"; and {_changes(before, now)}"
    else:
        besides = ""
    return Verdict.failing(
        name,
        f"{service} leaked {leaked} goroutine(s): {numbers}, {leaked} more that are not idle "
        f"connections, still there after {waited:.1f} s of waiting for in-flight work to "
        f"finish{handlers}{besides}.\n"
        f"Stacks with more goroutines than at the baseline, grouped:\n{text}",
        **evidence,
    )


class _Census:
    """One dump's goroutines split into counted ones and ignored ones, by role."""

    def __init__(self, groups: Iterable[GoroutineGroup], ignore_frames: tuple[str, ...]) -> None:
        self._ignore_frames = ignore_frames
        self.total = 0
        self.counted = 0
        self.ignored: Counter[str] = Counter()
        for group in groups:
            self.total += group.count
            role = self.role(group)
            if role is None:
                self.counted += group.count
            else:
                self.ignored[role] += group.count

    @property
    def ignored_total(self) -> int:
        return sum(self.ignored.values())

    def role(self, group: GoroutineGroup) -> str | None:
        role = idle_connection(group)
        if role is None and self._ignore_frames and _matches(group, self._ignore_frames):
            role = _MATCHED
        return role

    def describe(self) -> str:
        parts = [_count(n, role) for role, n in sorted(self.ignored.items()) if n]
        ignored = f" ({'; '.join(parts)})" if parts else ""
        return f"{self.total} goroutines, {self.counted} counted{ignored}"


def _explain_pass(before: _Census, now: _Census) -> str:
    """Why the numbers in a passing message are no leak; what it says always adds up."""
    more = now.total - before.total
    other = now.counted - before.counted  # <= 0 when the check passes
    idle = now.ignored_total - before.ignored_total
    if more <= 0 and idle <= 0:
        return ", back to baseline"
    if other == 0:
        return f": all {more} more {_not_counted(before, now)}"
    return f": {idle} more {_not_counted(before, now)}, and {-other} fewer other goroutines"


def _not_counted(before: _Census, now: _Census) -> str:
    """Why the goroutines that grew are not counted, with how many of each kind."""
    if now.ignored[_MATCHED] > before.ignored[_MATCHED]:
        return f"are not counted ({_changes(before, now)})"
    return (
        f"only wait on a connection ({_changes(before, now)}), which end when their "
        "connection closes"
    )


def _changes(before: _Census, now: _Census) -> str:
    """How each kind of uncounted goroutine changed, e.g. "30 idle keep-alive connections,
    1 fewer read/write loop of a pooled outgoing connection"."""
    parts = []
    for role in sorted(set(before.ignored) | set(now.ignored)):
        delta = now.ignored[role] - before.ignored[role]
        if delta > 0:
            parts.append(_count(delta, role))
        elif delta < 0:
            parts.append(f"{-delta} fewer {_one(-delta, role)}")
    return ", ".join(parts)


def _one(n: int, role: str) -> str:
    return _ONE.get(role, role) if n == 1 else role


def _count(n: int, role: str) -> str:
    return f"{n} {_one(n, role)}"


def _matches(group: GoroutineGroup, frames: tuple[str, ...]) -> bool:
    functions = [frame.function for frame in group.frames]
    if group.created_by is not None:
        functions.append(group.created_by.function)
    return any(ignored in function for function in functions for ignored in frames)
