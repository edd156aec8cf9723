"""Coverage first: every single fault kind on every link and service the workload touches,
one example each, before an exploration draws schedules at random.

Random schedules find combinations and timings, but may go a whole budget without trying
the one plain fault a system mishandles. So an exploration first walks a plan: for each
kind :func:`faults.strategies.kinds` knows (HTTP kinds only on links whose proxy has the
HTTP toxics) and each target of that kind on the workload's path, one example of

    a burst, the fault on, a burst, the fault off, a burst

(a burst of every operation whose path has the target), judged by the same invariants as
any example. The path comes from the fault-free calibration (the links whose proxies
carried an operation's requests, and the services at their ends); when the proxies'
traffic cannot be read, every link is on it. This is Filibuster's systematic coverage of
every downstream call, with fault kinds for exceptions.

Each kind has one representative fault (:data:`BUILDERS`), clearly a fault and scaled
to the model's deadline (a latency of twice it, HTTP errors on every response...). A case
that breaks an invariant is shrunk like a random example (fewer bursts, a milder fault,
shorter bursts, as long as one of the same invariants still breaks) and the rest of the
plan goes on, within the exploration's time budget: what did not fit is listed as not
covered.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from faults import (
    Bandwidth,
    Blackhole,
    Disconnect,
    Fault,
    FaultOff,
    FaultOn,
    HttpDelay,
    HttpError,
    HttpMalformed,
    Isolate,
    Kill,
    Latency,
    LimitData,
    LinkDown,
    LoadBurst,
    Pause,
    ResetPeer,
    Restart,
    Schedule,
    Slicer,
    SlowClose,
    Split,
    Step,
    Terminate,
    Timeout,
    run_schedule,
)
from faults.strategies import FAMILIES, kinds
from harness.errors import ChaosError
from harness.explore.engine import (
    ExampleRun,
    InvariantBroken,
    patient_timeout_s,
)
from harness.explore.model import Operation, SystemModel, check_model
from harness.explore.replays import Failure
from harness.explore.sharding import plan_shard
from harness.explore.shrink import confirmed
from harness.shard import UNSHARDED, Shard

if TYPE_CHECKING:
    from harness.environment import Environment
    from harness.explore.calibration import Calibration
    from harness.explore.profiles import Budget
    from harness.explore.replays import FailureLog
    from harness.topology import Topology

__all__ = ["BUILDERS", "Case", "Coverage", "Shape", "cover", "plan", "schedule_of"]

BURST_S = 0.5  # each burst of a coverage example, at its operation's rate
SHORTEST_BURST_S = 0.125  # shrinking halves bursts down to this
MILDEST = 0.25  # shrinking halves a fault's strength down to this
SHRINK_RUNS = 12  # examples a shrink may run (a candidate is kept after two)

# What a representative fault of each kind is: (target, deadline ms, strength 0-1] -> fault.
# Strength scales what makes a fault harsher (1: as planned); kinds without a scale
# ignore it. ``split`` gets the link's ends from the topology (see ``_split``).
Build = Callable[[str, float, float], Fault]


def _ms(deadline_ms: float, times: float, strength: float) -> int:
    return max(1, int(deadline_ms * times * strength))


BUILDERS: dict[str, Build] = {
    "latency": lambda t, d, s: Latency(t, ms=_ms(d, 2, s)),
    "bandwidth": lambda t, d, s: Bandwidth(t, kilobytes_per_s=max(1, round(1 / s))),
    "slicer": lambda t, d, s: Slicer(
        t, average_bytes=16, variation_bytes=8, delay_us=max(1, int(10_000 * s))
    ),
    "slow_close": lambda t, d, s: SlowClose(t, delay_ms=_ms(d, 1, s)),
    "http_delay": lambda t, d, s: HttpDelay(t, ms=_ms(d, 2, s)),
    "http_error": lambda t, d, s: HttpError(t, status=503, rate=s),
    # Valid JSON of the wrong shape: it passes the parser every client has and reaches the
    # code that trusts the shape (a type assertion, a missing field), where garbage stops.
    "http_malformed": lambda t, d, s: HttpMalformed(t, mode="wrong_type", rate=s),
    "limit_data": lambda t, d, s: LimitData(t, bytes=100),
    "timeout": lambda t, d, s: Timeout(t, after_ms=_ms(d, 1, 1)),
    "reset_peer": lambda t, d, s: ResetPeer(t, after_ms=0),
    "blackhole": lambda t, d, s: Blackhole(t),
    "link_down": lambda t, d, s: LinkDown(t),
    "isolate": lambda t, d, s: Isolate(t, mode="down"),
    "disconnect": lambda t, d, s: Disconnect(t),
    "pause": lambda t, d, s: Pause(t),
    "restart": lambda t, d, s: Restart(t),
    "terminate": lambda t, d, s: Terminate(t),
    "kill": lambda t, d, s: Kill(t),
}
SCALED = frozenset(
    {"latency", "bandwidth", "slicer", "slow_close", "http_delay", "http_error", "http_malformed"}
)
# Kinds whose target is a link (the rest target a service).
LINK_KINDS = frozenset(
    {"latency", "bandwidth", "slicer", "slow_close", "http_delay", "http_error"}
    | {"http_malformed", "limit_data", "timeout", "reset_peer", "blackhole", "link_down", "split"}
)


@dataclass(frozen=True)
class Case:
    """One fault kind on one target (a link or a service), with the operations whose path
    has it: theirs are the bursts around the fault."""

    kind: str
    target: str
    operations: tuple[Operation, ...]
    build: Callable[[float], Fault] = field(compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.kind} on {self.target}"

    def fault(self, strength: float = 1.0) -> Fault:
        return self.build(strength if self.kind in SCALED else 1.0)


@dataclass(frozen=True)
class Shape:
    """What a coverage example holds besides its fault; shrinking makes it smaller."""

    before: bool = True  # a burst before the fault goes on
    during: bool = True
    after: bool = True  # a burst after it went off
    strength: float = 1.0
    seconds: float = BURST_S

    def describe(self) -> str:
        bursts = [name for name in ("before", "during", "after") if getattr(self, name)]
        return (
            f"bursts {'/'.join(bursts) or 'none'} of {self.seconds:g} s, strength {self.strength:g}"
        )


def schedule_of(case: Case, shape: Shape | None = None) -> Schedule:
    """A burst, the fault on, a burst, the fault off, a burst (what ``shape`` keeps)."""
    shape = shape or Shape()
    fault = case.fault(shape.strength)

    def bursts() -> list[Step]:
        return [
            LoadBurst(
                op.service,
                op.requests[0],
                rate=op.rate,
                seconds=shape.seconds,
                timeout_s=patient_timeout_s(op),
            )
            for op in case.operations
        ]

    steps: list[Step] = bursts() if shape.before else []
    steps.append(FaultOn(fault))
    steps += bursts() if shape.during else []
    steps.append(FaultOff(fault))
    steps += bursts() if shape.after else []
    return Schedule(tuple(steps))


def _split(topology: Topology, link: str) -> Callable[[float], Fault]:
    ends = topology.links[link]
    # Silent (blackholed) between the link's two ends: link_down is the loud partition.
    return lambda strength: Split((ends.source,), (ends.upstream_service,), mode="blackhole")


def plan(
    env: Environment,
    operations: Sequence[Operation],
    deadline_ms: float,
    calibration: Calibration | None,
    http_links: Sequence[str],
) -> tuple[list[Case], list[str]]:
    """Every (kind, target) on the workload's path, families taken in turn so that a plan
    cut short by the budget still spans them; and the cases that cannot apply here."""
    topology = env.topology
    own_proxy = topology.toxiproxy.service if topology.toxiproxy else None
    links = sorted(topology.links)
    touched = calibration.touched_links if calibration is not None else None
    if touched is not None:
        links = [name for name in links if name in touched]
    linked = {topology.links[n].source for n in topology.links}
    linked |= {topology.links[n].upstream_service for n in topology.links}
    # With the path unknown, every service at the end of a link may be on it.
    on_paths = linked if calibration is None or touched is None else calibration.touched_services
    services = sorted((set(on_paths) | {op.service for op in operations}) - {own_proxy})

    def on_path(op: Operation, target: str, link: bool) -> bool:
        baseline = calibration.of(op) if calibration is not None else None
        if baseline is None or baseline.links is None:
            return True  # its path is unknown: anything may be on it
        return baseline.touches_link(target) if link else target in baseline.services

    by_family: dict[str, list[Case]] = {family: [] for family in FAMILIES}
    inapplicable: list[str] = []
    for family, kind in kinds(topology, http_links=http_links):
        link = kind in LINK_KINDS
        if family == "http":
            targets = [name for name in links if name in http_links]
        elif link:
            targets = links
        elif kind == "isolate":
            targets = [name for name in services if name in linked]
        else:
            targets = services
        for target in targets:
            chosen = tuple(op for op in operations if on_path(op, target, link))
            if not chosen:
                continue
            build: Callable[[float], Fault]
            if kind == "split":
                build = _split(topology, target)
            else:
                build = _builder(BUILDERS[kind], target, deadline_ms)
            case = Case(kind, target, chosen, build)
            try:
                case.fault().validate(env)
            except ChaosError as exc:
                inapplicable.append(f"{case.label} ({exc})")
                continue
            by_family[family].append(case)
    ordered: list[Case] = []
    while any(by_family.values()):
        for family in FAMILIES:
            if by_family[family]:
                ordered.append(by_family[family].pop(0))
    return ordered, inapplicable


def _builder(build: Build, target: str, deadline_ms: float) -> Callable[[float], Fault]:
    return lambda strength: build(target, deadline_ms, strength)


@dataclass
class Coverage:
    """What the coverage phase covered, what broke, and what it could not reach."""

    cases: list[Case]  # this shard's (all of them, unsharded)
    held: list[str] = field(default_factory=list)  # labels of cases that broke nothing
    broken: list[tuple[Case, Failure]] = field(default_factory=list)
    not_covered: list[str] = field(default_factory=list)  # the time budget was spent
    inapplicable: list[str] = field(default_factory=list)  # cannot apply to this system
    shrunk: Failure | None = None  # the first broken case, shrunk
    shard: Shard = UNSHARDED
    planned: int | None = None  # cases in the whole run's plan (None: len(cases))

    @property
    def covered(self) -> int:
        return len(self.held) + len(self.broken)

    def record(self) -> dict[str, Any]:
        """As plain JSON, for a report over many shards: every case of this shard's plan,
        with its kind, target and outcome (held, broke, not covered)."""
        broken = {case.label for case, _ in self.broken}
        held, left = set(self.held), set(self.not_covered)

        def outcome(label: str) -> str:
            if label in broken:
                return "broke"
            if label in held:
                return "held"
            return "not covered" if label in left else "not run"

        return {
            "shard": str(self.shard),
            "planned": self.planned if self.planned is not None else len(self.cases),
            "cases": [
                {"kind": c.kind, "target": c.target, "outcome": outcome(c.label)}
                for c in self.cases
            ],
            "inapplicable": list(self.inapplicable),
        }

    def lines(self) -> list[str]:
        broke = f" ({len(self.broken)} broke an invariant)" if self.broken else ""
        lines = [f"fault kinds x targets covered: {self.covered}/{len(self.cases)}{broke}"]
        if self.shard.sharded:
            lines[0] += f" (shard {self.shard}'s part of the {self.planned} planned)"
        if self.not_covered:
            lines.append(f"not covered (time budget spent): {', '.join(self.not_covered)}")
        if self.inapplicable:
            lines.append(f"not applicable here: {'; '.join(self.inapplicable)}")
        return lines


def cover(
    env: Environment,
    model: SystemModel,
    calibration: Calibration | None,
    budget: Budget,
    log: FailureLog,
    *,
    http_links: Sequence[str],
    shrink_runs: int = SHRINK_RUNS,
    shard: Shard = UNSHARDED,
) -> Coverage:
    """Run the plan (see the module's docstring), or ``shard``'s part of it (every Nth
    case, :mod:`harness.explore.sharding`); shrink the first case that broke."""
    operations = check_model(model, env.topology)
    watched = list(model.watched(env.topology))
    deadline_ms = model.deadline_ms(operations)
    planned, inapplicable = plan(env, operations, deadline_ms, calibration, http_links)
    cases = list(plan_shard(planned, seed=0, examples=0, shard=shard).cases)
    coverage = Coverage(cases, inapplicable=inapplicable, shard=shard, planned=len(planned))
    checks: set[str] = set()  # what the first broken case broke

    def run(schedule: Schedule) -> ExampleRun:
        log.count_example()
        began = time.monotonic()
        try:
            return _run(env, model, schedule, calibration, operations, watched)
        finally:
            budget.took(time.monotonic() - began)

    for number, case in enumerate(cases, start=1):
        if budget.spent:
            coverage.not_covered.append(case.label)
            continue
        env.events.progress(f"coverage {number}/{len(cases)}: {case.label}")
        done = run(schedule_of(case))
        if done.failed:
            failure = done.failure()
            coverage.broken.append((case, failure))
            log.add(failure)
            if len(coverage.broken) == 1:
                checks = {verdict.check for _, _, verdict in done.failures}
                budget.failure_found()
        else:
            coverage.held.append(case.label)
    if coverage.broken:
        case, failure = coverage.broken[0]
        coverage.shrunk = _shrink(env, case, failure, checks, run, shrink_runs, budget)
    return coverage


def _run(
    env: Environment,
    model: SystemModel,
    schedule: Schedule,
    calibration: Calibration | None,
    operations: Sequence[Operation],
    watched: Sequence[str],
) -> ExampleRun:
    """One example of ``schedule``; its ``failures`` say what it broke."""
    run = ExampleRun(env, model, operations=operations, watched=watched, calibration=calibration)
    run.start()
    # A broken invariant is in the run's failures; a step that could not be taken ends the
    # schedule early (InvariantBroken), and finish() heals and judges the end either way.
    with contextlib.suppress(InvariantBroken):
        try:
            run_schedule(schedule, env, executor=run, on_step=lambda record: run.after_step())
        finally:
            run.finish()
    return run


def _smaller(case: Case, shape: Shape) -> Iterator[Shape]:
    """Candidates one step smaller, fewest steps first (as Hypothesis orders them)."""
    replace = dataclasses.replace
    if shape.after:
        yield replace(shape, after=False)
    if shape.before:
        yield replace(shape, before=False)
    if shape.during:
        yield replace(shape, during=False)
    if case.kind in SCALED and shape.strength / 2 >= MILDEST:
        yield replace(shape, strength=shape.strength / 2)
    if shape.seconds / 2 >= SHORTEST_BURST_S and (shape.before or shape.during or shape.after):
        yield replace(shape, seconds=shape.seconds / 2)


def _shrink(
    env: Environment,
    case: Case,
    first: Failure,
    wanted: set[str],
    run: Callable[[Schedule], ExampleRun],
    runs: int,
    budget: Budget,
) -> Failure:
    """The smallest shape of ``case`` that still breaks one of the checks ``wanted``
    (those ``first`` broke), running at most ``runs`` examples within the budget (greedy:
    the first smaller one that breaks twice in a row is kept, and its own candidates are
    tried next; one lucky run of a timing failure would not replay), then confirmed as
    :func:`harness.explore.shrink.confirmed` does."""
    shape, best, tried = Shape(), first, 0
    chain = [first]

    def breaks(candidate: Shape) -> Failure | None:
        nonlocal tried
        done = None
        for _ in range(2):
            if tried >= runs or not budget.fits(budget.end):
                return None
            tried += 1
            env.events.progress(f"shrinking {case.label}: {candidate.describe()}")
            done = run(schedule_of(case, candidate))
            if not {verdict.check for _, _, verdict in done.failures} & wanted:
                return None
        return done.failure() if done is not None else None

    improved = True
    while improved:
        improved = False
        for candidate in _smaller(case, shape):
            found = breaks(candidate)
            if found is not None:
                shape, best, improved = candidate, found, True
                chain.append(best)
                break

    def again(schedule: Schedule) -> Failure | None:
        done = run(schedule)
        return done.failure() if {v.check for _, _, v in done.failures} & wanted else None

    return confirmed(env, chain, again, lambda: budget.fits(budget.end))
