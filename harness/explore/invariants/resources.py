"""Bounded resources: what a service holds stops growing with the requests it serves, and
no request outlives its budget.

**Resources bounded.** For each watched service: its goroutines (from pprof, split as the
leak check splits them: those only waiting on a connection, and the rest), its open file
descriptors (``process_open_fds``) and its live heap (``go_memstats_alloc_bytes`` right
after a GC that pprof's heap endpoint forces, so garbage is not taken for growth). They
are read when the example starts, after every burst (cheaply, from ``/metrics``: the
evidence of how they moved) and at its end, once faults are healed and in-flight work has
ended. A resource that grew over the example is not yet a leak (a pool filling, a cache
warming, a connection kept for later), so the service is then put under a **steady
load**: ``ROUNDS`` rounds of the model's repeatable operations (``Operation.overload``,
reads), the resources read after each once it is quiet. One that grows again with every
round, by at least ``GROWTH[...]`` per request served, does not stop growing with the
requests served: a leak, with the growing series and the goroutine stacks that grew as
evidence. Connection goroutines count here like any other: a pool explains a fixed number
of them, not one more per request.

**Requests end within budget.** Just before a fault is healed (by the schedule, or at the
example's end), while it still holds, a request goroutine (a server connection's goroutine
inside a handler) still running after every burst's budget + epsilon has passed is a leak
too, whatever its client saw: it holds its memory, its connections and often a downstream
call.

Unknown where a signal is missing (no ``/metrics``, no pprof; ``harness.signals`` says how
to add it), and while a service is down or frozen; services the schedule restarted are
new processes and not compared.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import requests

from faults import Disconnect, Fault, ProcessFault
from harness.checks import Outcome, Verdict
from harness.errors import ChaosError
from harness.explore.invariants import Invariant, Rank
from harness.explore.invariants.replies import EPSILON_MS
from harness.probes import (
    DEFAULT_PPROF_PATH,
    DUMP_WRITER,
    OUTGOING_POOL,
    GoroutineGroup,
    Metrics,
    diff_goroutines,
    format_groups,
    handling_request,
    idle_connection,
    sample,
)
from harness.signals import read_goroutines, read_metrics

if TYPE_CHECKING:
    from faults.schedule import Step
    from harness.environment import Environment
    from harness.explore.engine import Burst, ExampleRun
    from harness.explore.model import Operation

T = TypeVar("T")

__all__ = [
    "GROWTH",
    "ROUNDS",
    "TRIGGER",
    "BoundedResources",
    "RequestsEndInBudget",
    "Usage",
    "read_usage",
]

ROUNDS = 3  # rounds of steady load after an example whose resources grew
PROBE_RATE = 40.0  # requests per second of each repeatable operation, per round
PROBE_S = 0.5
QUIET_S = 0.3  # after a round, before reading: in-flight work ends
MAX_LINGER_WAIT_S = 30.0

FDS = "open file descriptors"
GOROUTINES = "goroutines"
INCOMING = "goroutines of idle incoming connections"
OUTGOING = "goroutines of pooled outgoing connections"
HEAP = "live heap"
RESOURCES = (GOROUTINES, OUTGOING, INCOMING, FDS, HEAP)
MIB = 1 << 20
KIB = 1 << 10

# Growth over an example beyond which the steady load decides whether it is a leak.
TRIGGER: Mapping[str, float] = {FDS: 8, GOROUTINES: 4, INCOMING: 8, OUTGOING: 8, HEAP: 2 * MIB}


@dataclass(frozen=True)
class Growth:
    """What counts as growing with requests: every round at least ``per_round`` (and
    ``per_round_request`` per request of it), and in all ``per_request`` per request."""

    per_round: float
    per_round_request: float
    per_request: float


GROWTH: Mapping[str, Growth] = {
    FDS: Growth(2, 0.1, 0.25),  # one descriptor left open per 4 requests
    GOROUTINES: Growth(2, 0.1, 0.25),
    INCOMING: Growth(2, 0.1, 0.25),
    OUTGOING: Growth(2, 0.1, 0.25),
    HEAP: Growth(128 * KIB, 2 * KIB, 8 * KIB),  # 8 KiB kept per request
}


@dataclass(frozen=True)
class Usage:
    """What a service holds at one moment; a resource it could not be read has no value
    and says why in ``missing``."""

    at: float
    values: Mapping[str, float]
    groups: tuple[GoroutineGroup, ...] = ()
    missing: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return ", ".join(f"{r} {_show(r, v)}" for r, v in self.values.items()) or "nothing read"


def _each(names: Sequence[str], read: Callable[[str], T]) -> dict[str, T]:
    """``read`` of every service at once: they are independent HTTP reads, each mostly
    waiting on its service."""
    if len(names) < 2:
        return {name: read(name) for name in names}
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        return dict(zip(names, pool.map(read, names), strict=True))


def read_usage(
    env: Environment, service: str, groups: Sequence[GoroutineGroup] | None = None
) -> Usage:
    """A service's goroutines, open file descriptors and live heap (after a forced GC).
    ``groups``: a goroutine dump already taken now, instead of taking one."""
    values: dict[str, float] = {}
    missing: dict[str, str] = {}
    try:
        dump = list(groups) if groups is not None else read_goroutines(env, service)
    except ChaosError as exc:
        dump = []
        missing[GOROUTINES] = missing[INCOMING] = missing[OUTGOING] = str(exc)
    else:
        values.update(_split(dump))
    gc = _force_gc(env, service)
    try:
        metrics = read_metrics(env, service)
    except ChaosError as exc:
        missing[FDS] = missing[HEAP] = str(exc)
    else:
        fds = sample(metrics, "process_open_fds")
        heap = sample(metrics, "go_memstats_alloc_bytes")
        if fds is None:
            missing[FDS] = f"{service}'s /metrics has no process_open_fds (the process collector)"
        else:
            values[FDS] = fds
        if heap is None:
            missing[HEAP] = (
                f"{service}'s /metrics has no go_memstats_alloc_bytes (the Go collector)"
            )
        elif gc:
            missing[HEAP] = gc
        else:
            values[HEAP] = heap
    return Usage(time.monotonic(), values, tuple(dump), missing)


def _split(groups: Sequence[GoroutineGroup]) -> dict[str, float]:
    """Goroutines by kind: connection-scoped ones (incoming, outgoing) and the rest."""
    found = dict.fromkeys((GOROUTINES, INCOMING, OUTGOING), 0.0)
    for group in groups:
        role = idle_connection(group)
        if role is None:
            found[GOROUTINES] += group.count
        elif role == OUTGOING_POOL:
            found[OUTGOING] += group.count
        elif role != DUMP_WRITER:
            found[INCOMING] += group.count  # idle keep-alive, and a request's reader
    return found


def _force_gc(env: Environment, service: str) -> str:
    """Run a GC in the service through pprof's heap endpoint (``gc=1``), so the heap read
    next is what is live; "" if it ran, else why the live heap cannot be told."""
    path = env.topology.service(service).pprof or DEFAULT_PPROF_PATH
    try:
        reply = requests.get(f"{env.url(service)}{path}/heap?gc=1", timeout=10)
    except requests.RequestException as exc:
        return f"could not reach {service}'s pprof to run a GC first: {exc}"
    if reply.status_code != 200:
        return (
            f"GET {path}/heap?gc=1 answered {reply.status_code}: without pprof no GC can be "
            "run first, and the heap then counts garbage as well as what is live"
        )
    return ""


def _show(resource: str, value: float) -> str:
    if resource == HEAP:
        return f"{value / MIB:.1f} MiB"
    return f"{value:g}"


def _silenced(run: ExampleRun, service: str) -> str:
    """The active fault after which ``service`` cannot be read (down, frozen, unplugged)."""
    for fault in run.active:
        if (
            isinstance(fault, ProcessFault | Disconnect)
            and fault.to_json().get("service") == service
        ):
            return fault.describe()
    return ""


class BoundedResources(Invariant):
    rank = Rank.RESOURCES

    def __init__(self) -> None:
        self.first: dict[str, Usage] = {}
        self.during: dict[str, list[tuple[float, int, Mapping[str, float]]]] = {}
        self.served = 0
        self.started = time.monotonic()

    def start(self, run: ExampleRun) -> Iterator[Verdict]:
        self.started = time.monotonic()

        def first(name: str) -> Usage:
            baseline = run.baselines.get(name)
            groups = baseline.groups if baseline is not None and baseline.taken else None
            return read_usage(run.env, name, groups)

        self.first = _each(run.watched, first)
        yield from ()

    def after_burst(self, run: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        self.served += burst.sent

        def scrape(name: str) -> Metrics | None:
            try:
                return read_metrics(run.env, name, timeout=2.0)
            except ChaosError:
                return None

        scraped = _each([n for n in run.watched if not _silenced(run, n)], scrape)
        for name, metrics in scraped.items():
            if metrics is None:
                continue
            values = {
                metric: value
                for metric in ("go_goroutines", "process_open_fds", "go_memstats_alloc_bytes")
                if (value := sample(metrics, metric)) is not None
            }
            at = time.monotonic() - self.started
            self.during.setdefault(name, []).append((at, self.served, values))
        yield from ()

    def end(self, run: ExampleRun) -> Iterator[Verdict]:
        names = [n for n in run.watched if n not in run.replaced]
        last = _each(names, lambda name: read_usage(run.env, name))
        grown = {name: self._grown(name, last[name]) for name in names}
        probed = [name for name in names if grown[name]]
        rounds: dict[str, list[tuple[int, Usage]]] = {}
        repeatable = [op for op in run.operations if op.overload]
        if probed and repeatable:
            rounds = _steady_load(run, repeatable, probed, last)
        failing: list[tuple[bool, str, Verdict]] = []
        for name in names:
            verdict = self._judge(run, name, last[name], grown[name], rounds.get(name), repeatable)
            if verdict.outcome is not Outcome.FAIL:
                yield verdict
                continue
            opens = _keeps_growing(OUTGOING, rounds.get(name) or [])
            failing.append((opens, name, verdict))
        if failing:
            yield _together(failing)

    def _grown(self, name: str, last: Usage) -> dict[str, float]:
        first = self.first[name].values
        return {
            r: last.values[r] - first[r]
            for r in last.values
            if r in first and last.values[r] - first[r] > TRIGGER[r]
        }

    def _judge(
        self,
        run: ExampleRun,
        name: str,
        last: Usage,
        grown: Mapping[str, float],
        rounds: list[tuple[int, Usage]] | None,
        repeatable: Sequence[Operation],
    ) -> Verdict:
        check = "resources bounded"
        first = self.first[name]
        observed = [r for r in RESOURCES if r in first.values]
        unread = {**first.missing, **last.missing}
        if not observed:
            reasons = "; ".join(sorted(set(unread.values())))
            return Verdict.unknown(
                check, f"none of {name}'s goroutines, descriptors or heap could be read: {reasons}"
            )
        evidence = {"during the example": self._series(name, first, last)}
        blind = f" ({', '.join(sorted(unread))} not read: see evidence)" if unread else ""
        if unread:
            evidence["not read"] = "\n".join(f"{r}: {why}" for r, why in sorted(unread.items()))
        over = f"{self.served} requests sent over the example"
        if not grown:
            return Verdict.passing(
                check,
                f"{name}: no growth over the example ({over}): {first.describe()} at the start, "
                f"{last.describe()} at the end{blind}",
                **evidence,
            )
        growth = ", ".join(f"{r} +{_show(r, v)}" for r, v in grown.items())
        if rounds is None:
            return Verdict.unknown(
                check,
                f"{name} grew over the example ({growth}; {over}); whether it keeps growing "
                "with the requests served needs a steady load, and the model marks none of "
                "its operations safe to repeat (Operation(..., overload=True), a read)",
                **evidence,
            )
        evidence["steady load"] = "\n".join(
            f"after {served} requests: {usage.describe()}" for served, usage in rounds
        )
        leaking = [r for r in observed if _keeps_growing(r, rounds)]
        if not leaking:
            return Verdict.passing(
                check,
                f"{name} grew over the example ({growth}) but not with "
                f"{rounds[-1][0]} more requests of steady load: it stops growing{blind}",
                **evidence,
            )
        grew_stacks = diff_goroutines(rounds[0][1].groups, rounds[-1][1].groups)
        if grew_stacks and {GOROUTINES, INCOMING, OUTGOING} & set(leaking):
            evidence["goroutine stacks that grew under steady load"] = format_groups(grew_stacks)
        lines = []
        for resource in leaking:
            values = " → ".join(_show(resource, u.values[resource]) for _, u in rounds)
            total = rounds[-1][1].values[resource] - rounds[0][1].values[resource]
            served = rounds[-1][0]
            per = total / served if served else total
            shown = f"{per / KIB:.0f} KiB" if resource == HEAP else f"{per:.2g}"
            lines.append(f"{resource}: {values} ({shown} more per request)")
        why = ""
        if OUTGOING in leaking:
            why = (
                "; it opens a connection per request and never closes it: a pool explains a "
                "fixed number of connections, not one more per request"
            )
        elif INCOMING in leaking:
            why = (
                "; its callers leave a connection to it open per request (the leak may be "
                "theirs: see which service's outgoing connections grow)"
            )
        stacks = evidence.get("goroutine stacks that grew under steady load", "")
        return Verdict.failing(
            check,
            f"{name} does not stop growing with the requests it serves: under a steady load "
            f"of {', '.join(op.name for op in repeatable)} (nothing broken), after each round of "
            f"{rounds[1][0]} requests, {'; '.join(lines)}{why}"
            + (f".\nStacks that grew, grouped:\n{stacks}" if stacks else ""),
            **evidence,
        )

    def _series(self, name: str, first: Usage, last: Usage) -> str:
        lines = [f"start: {first.describe()}"]
        for at, served, values in self.during.get(name, []):
            shown = ", ".join(f"{k} {v:g}" for k, v in values.items())
            lines.append(f"+{at:.2f}s after a burst ({served} requests sent): {shown}")
        lines.append(f"end, quiet: {last.describe()}")
        return "\n".join(lines)


def _together(failing: Sequence[tuple[bool, str, Verdict]]) -> Verdict:
    """One verdict for every service that leaks (an example reports one failure per check);
    those whose outgoing connections grow (``True`` first in each entry) come first, as the
    likely cause of their downstreams' growing incoming ones."""
    if len(failing) == 1:
        return failing[0][2]
    ordered = sorted(failing, key=lambda entry: not entry[0])
    evidence = {
        f"{name}: {key}": text for _, name, v in ordered for key, text in v.evidence.items()
    }
    lines = "\n".join(f"{n}. {v.message}" for n, (_, _, v) in enumerate(ordered, start=1))
    return Verdict.failing(
        ordered[0][2].check,
        f"{len(ordered)} services do not stop growing with the requests they serve:\n{lines}",
        **evidence,
    )


def _steady_load(
    run: ExampleRun,
    operations: Sequence[Operation],
    services: Sequence[str],
    last: Mapping[str, Usage],
) -> dict[str, list[tuple[int, Usage]]]:
    """Rounds of fault-free load of ``operations``; each service's usage after each round
    (the first entry: before any, the example's end)."""
    from harness.explore.engine import patient_timeout_s

    run.env.events.progress(
        f"steady load: {ROUNDS} rounds of {', '.join(op.name for op in operations)}, "
        f"for {', '.join(services)}"
    )
    rounds = {name: [(0, last[name])] for name in services}
    served = 0
    for number in range(ROUNDS):
        for operation in operations:
            result = operation.load(
                run.env,
                operation.service,
                operation.sends(operation.requests[0], f"{run.prefix}steady{number}"),
                rate=PROBE_RATE,
                seconds=PROBE_S,
                timeout=patient_timeout_s(operation),
                classify=run.model.classify,
            )
            served += result.sent
        time.sleep(QUIET_S)
        for name in services:
            rounds[name].append((served, read_usage(run.env, name)))
    return rounds


def _keeps_growing(resource: str, rounds: Sequence[tuple[int, Usage]]) -> bool:
    """Whether ``resource`` grew in every round of steady load, by the ``GROWTH`` rule."""
    rule = GROWTH[resource]
    values: list[tuple[int, float]] = []
    for served, usage in rounds:
        value = usage.values.get(resource)
        if value is None:
            return False
        values.append((served, value))
    for (before_n, before), (after_n, after) in itertools.pairwise(values):
        needed = max(rule.per_round, rule.per_round_request * (after_n - before_n))
        if after - before < needed:
            return False
    return values[-1][1] - values[0][1] >= rule.per_request * values[-1][0]


class RequestsEndInBudget(Invariant):
    """No request goroutine still runs once every burst's budget + epsilon has passed.

    Read at the first step after that moment (the faults of the schedule still as they
    were), and just before a fault is healed (by the schedule, or at the example's end),
    waiting for the moment then if a request is still in a handler."""

    rank = Rank.RESOURCES

    def __init__(self) -> None:
        self.deadline: float | None = None  # monotonic: when every burst's budget is over
        self.budget_ms = 0.0

    def after_burst(self, run: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        over = time.monotonic() + (burst.operation.limit_ms + EPSILON_MS) / 1000
        self.deadline = max(self.deadline or over, over)
        self.budget_ms = max(self.budget_ms, burst.operation.limit_ms)
        yield from ()

    def after_step(self, run: ExampleRun, step: Step) -> Iterator[Verdict]:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            yield from self._check(run, wait=False)

    def before_fault_off(self, run: ExampleRun, fault: Fault) -> Iterator[Verdict]:
        # Healing a blackhole closes the connections a stuck request waits on: it fails,
        # returns and leaves no trace, so what the fault held is read while it holds.
        if self.deadline is not None:
            yield from self._check(run, wait=True)

    def before_heal(self, run: ExampleRun) -> Iterator[Verdict]:
        if self.deadline is not None:
            yield from self._check(run, wait=True)

    def _check(self, run: ExampleRun, *, wait: bool) -> Iterator[Verdict]:
        assert self.deadline is not None
        deadline, self.deadline = self.deadline, None  # bursts until now: judged once
        check = "requests end within budget"
        for name in run.watched:
            down = _silenced(run, name)
            if down:
                yield Verdict.unknown(check, f"{name}'s goroutines cannot be read: {down}")
                continue
            baseline = run.baselines.get(name)
            at_start = baseline.groups if baseline and name not in run.replaced else ()
            try:
                lingering = _in_handlers(read_goroutines(run.env, name), at_start)
                if lingering and wait and time.monotonic() < deadline:
                    time.sleep(min(MAX_LINGER_WAIT_S, deadline - time.monotonic()))
                    lingering = _in_handlers(read_goroutines(run.env, name), at_start)
            except ChaosError as exc:
                yield Verdict.unknown(check, f"could not read the goroutines of {name}: {exc}")
                continue
            budget = f"{self.budget_ms:g} ms + {EPSILON_MS:g} ms"
            if not lingering:
                yield Verdict.passing(
                    check, f"{name}: no request still in a handler past its budget ({budget})"
                )
                continue
            count = sum(g.count for g in lingering)
            stacks = format_groups(lingering, max_frames=14)
            faults = "; ".join(f.describe() for f in run.active) or "none"
            past = time.monotonic() - deadline
            yield Verdict.failing(
                check,
                f"{name} still runs {count} request goroutine(s) inside a handler "
                f"{past:.1f} s after the budget of every request sent was over ({budget} after "
                f"its burst; faults on: {faults}): "
                "a request that outlives its budget holds its goroutine, memory and "
                "connections after its client was answered or gave up, until whatever it "
                f"waits on returns, if ever.\nStacks, grouped:\n{stacks}",
                **{"request goroutines past their budget": stacks},
            )


def _in_handlers(
    groups: Sequence[GoroutineGroup], at_start: Sequence[GoroutineGroup]
) -> list[GoroutineGroup]:
    """Request goroutines (inside a handler) beyond those there when the example began."""

    def handlers(found: Sequence[GoroutineGroup]) -> list[GoroutineGroup]:
        return [g for g in found if handling_request(g) and idle_connection(g) is None]

    return diff_goroutines(handlers(at_start), handlers(groups))
