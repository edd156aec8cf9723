"""Goroutine leaks: after load stops and faults heal, goroutines return to their baseline.

Stacks are compared grouped by shape (IDs, waits and offsets stripped), so the failure
names the code that leaked, not just a number.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.checks.verdict import Outcome, Verdict
from harness.errors import ChaosError
from harness.probes import (
    GoroutineGroup,
    diff_goroutines,
    fetch_goroutines,
    fetch_metrics,
    format_groups,
    sample,
)

if TYPE_CHECKING:
    from harness.environment import Environment

__all__ = [
    "DEFAULT_IGNORED_FRAMES",
    "GoroutineBaseline",
    "goroutine_baseline",
    "no_leaked_goroutines",
]

# Goroutines that live exactly as long as a connection (the harness's own probe and load
# connections, a service's pooled keep-alive connections to its downstreams) are not leaks:
# they end when the connection closes, which the service does not control. The probe that
# reads the goroutine dump is itself such a connection.
DEFAULT_IGNORED_FRAMES: tuple[str, ...] = (
    "net/http.(*persistConn).readLoop",
    "net/http.(*persistConn).writeLoop",
    "net/http.(*conn).serve",
    "net/http.(*connReader).backgroundRead",
    "net/http.(*connReader).startBackgroundRead",
)


@dataclass(frozen=True)
class GoroutineBaseline:
    service: str
    groups: tuple[GoroutineGroup, ...]
    count: float | None  # go_goroutines at the baseline, when /metrics has it


def goroutine_baseline(env: Environment, service: str) -> GoroutineBaseline:
    """Record a service's goroutines before a fault, to compare against after it."""
    url, svc = env.url(service), env.topology.service(service)
    groups = fetch_goroutines(url, pprof_path=svc.pprof or "/debug/pprof")
    metrics = fetch_metrics(url, path=svc.metrics or "/metrics")
    return GoroutineBaseline(service, tuple(groups), sample(metrics, "go_goroutines"))


def no_leaked_goroutines(
    env: Environment,
    baseline: GoroutineBaseline,
    *,
    settle_s: float = 10.0,
    ignore_frames: Iterable[str] = DEFAULT_IGNORED_FRAMES,
) -> Verdict:
    """After load stops and faults heal, goroutines return to the baseline within settle_s.

    Polls with backoff, because work that was in flight legitimately takes a moment to
    finish; only stacks that are still there at the deadline count as leaked.
    """
    name = "no leaked goroutines"
    svc = env.topology.service(baseline.service)
    ignored = tuple(ignore_frames)
    deadline = time.monotonic() + settle_s
    pause = 0.05
    series: list[tuple[float, float | None]] = []
    started = time.monotonic()
    while True:
        try:
            url = env.url(baseline.service)
            now = fetch_goroutines(url, pprof_path=svc.pprof or "/debug/pprof")
            count = sample(fetch_metrics(url, path=svc.metrics or "/metrics"), "go_goroutines")
        except ChaosError as exc:
            return Verdict(
                name,
                Outcome.UNKNOWN,
                f"could not read goroutines of {baseline.service!r}: {exc}",
            )
        series.append((round(time.monotonic() - started, 3), count))
        grown = [g for g in diff_goroutines(list(baseline.groups), now) if not _ignored(g, ignored)]
        # A long-lived goroutine that merely changed state (waiting, then running) moves
        # from one group to another; only a net growth is a leak.
        net = _counted(now, ignored) - _counted(baseline.groups, ignored)
        if net <= 0:
            grown = []
        if not grown or time.monotonic() >= deadline:
            break
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
    evidence = {
        "go_goroutines": "\n".join(
            [f"baseline: {baseline.count}"] + [f"+{t:.3f}s: {c}" for t, c in series]
        )
    }
    if not grown:
        return Verdict(
            name,
            Outcome.PASS,
            f"{baseline.service}: goroutines back to baseline ({baseline.count} → {count})",
            evidence,
        )
    text = format_groups(grown)
    evidence["leaked goroutines"] = text
    return Verdict(
        name,
        Outcome.FAIL,
        f"{baseline.service} leaked {net} goroutine(s): they were still there {settle_s:.0f} s "
        f"after load stopped and faults healed (go_goroutines {baseline.count} → {count}).\n"
        f"Leaked stacks, grouped:\n{text}",
        evidence,
    )


def _counted(groups: Iterable[GoroutineGroup], ignored: tuple[str, ...]) -> int:
    return sum(g.count for g in groups if not _ignored(g, ignored))


def _ignored(group: GoroutineGroup, frames: tuple[str, ...]) -> bool:
    functions = [frame.function for frame in group.frames]
    if group.created_by is not None:
        functions.append(group.created_by.function)
    return any(ignored in function for function in functions for ignored in frames)
