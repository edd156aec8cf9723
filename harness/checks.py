"""Invariants, checked from outside. Each returns a three-valued :class:`Verdict`.

A check reads standard signals only (the history of HTTP replies, ``/metrics``,
``/debug/pprof/goroutine``, logs, process state) and never knows which bug is switched on.
When it cannot observe what it needs it says ``unknown``: an unobserved pass is no pass.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.errors import ChaosError
from harness.history import FAIL, INFO, OK, History
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
    "GoroutineBaseline",
    "Outcome",
    "Verdict",
    "answers_within",
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


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    check: str
    outcome: Outcome
    message: str
    evidence: Mapping[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    def require(self) -> None:
        """Fail the test unless the check passed; an unknown verdict fails too."""
        __tracebackhide__ = True
        if self.outcome is Outcome.PASS:
            return
        from harness.report import attach_text

        for name, text in self.evidence.items():
            attach_text(f"{self.check}: {name}", text)
        raise AssertionError(f"[{self.check}: {self.outcome.value}] {self.message}")


# -- goroutine leaks ----------------------------------------------------------------------


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
    leaked = sum(g.count for g in grown)
    text = format_groups(grown)
    evidence["leaked goroutines"] = text
    return Verdict(
        name,
        Outcome.FAIL,
        f"{baseline.service} leaked {leaked} goroutine(s): they were still there {settle_s:.0f} s "
        f"after load stopped and faults healed (go_goroutines {baseline.count} → {count}).\n"
        f"Leaked stacks, grouped:\n{text}",
        evidence,
    )


def _ignored(group: GoroutineGroup, frames: tuple[str, ...]) -> bool:
    functions = [frame.function for frame in group.frames]
    if group.created_by is not None:
        functions.append(group.created_by.function)
    return any(ignored in function for function in functions for ignored in frames)


# -- graceful timeouts ----------------------------------------------------------------------


def answers_within(
    history: History,
    budget_ms: float,
    *,
    epsilon_ms: float = 250.0,
    statuses: Iterable[int] | None = None,
    select: Callable[[Mapping[str, Any]], bool] | None = None,
) -> Verdict:
    """Every request got an HTTP answer within budget + epsilon (no client-side timeout).

    With ``statuses``, every answer must also have one of those codes (e.g. 200, 503, 504:
    success or a graceful refusal).
    """
    name = "answers within budget"
    limit = budget_ms + epsilon_ms
    allowed = set(statuses) if statuses is not None else None
    completed = history.completed(OK, FAIL, INFO)
    if not completed:
        return Verdict(name, Outcome.UNKNOWN, "the history holds no completed request")
    problems: list[str] = []
    for invoke, done in completed:
        value = done.value if isinstance(done.value, dict) else {}
        if select is not None and not select(value):
            continue
        status, latency = value.get("status"), value.get("latency_ms")
        if status is None:
            problems.append(f"#{invoke.index} got no answer ({done.error}) after {latency} ms")
        elif isinstance(latency, int | float) and latency > limit:
            problems.append(f"#{invoke.index} answered {status} after {latency:.0f} ms")
        elif allowed is not None and status not in allowed:
            problems.append(f"#{invoke.index} answered {status}, not one of {sorted(allowed)}")
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        return Verdict(
            name,
            Outcome.FAIL,
            f"{len(problems)} of {len(completed)} requests broke the budget of {budget_ms:.0f} ms "
            f"+ {epsilon_ms:.0f} ms:\n  {shown}{more}",
            {"violations": "\n".join(problems)},
        )
    return Verdict(
        name,
        Outcome.PASS,
        f"all {len(completed)} requests answered within {limit:.0f} ms",
    )


def status_counts(history: History) -> dict[int | None, int]:
    """How many completions had each HTTP status (None: no answer)."""
    counts: dict[int | None, int] = {}
    for _, done in history.completed(OK, FAIL, INFO):
        status = done.value.get("status") if isinstance(done.value, dict) else None
        key = status if isinstance(status, int) else None
        counts[key] = counts.get(key, 0) + 1
    return counts
