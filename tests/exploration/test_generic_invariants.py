"""The generic invariants that compare with fault-free behaviour break on a purpose-built
faulty demo and hold on its correct build.

The demo (``tests/demo_http``: front calls back and side) has one mutation per invariant,
switched on by ``DEMO_MUTATIONS``; none of them is one of the reference's seeded bugs. Each
case runs one short hand-written schedule, calibrated first as an exploration is: on the
mutation the named invariant must break, and on the correct build the very same schedule
must keep every invariant (an invariant that cannot fail, or fails on correct behaviour,
is caught here rather than by a long exploration).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from faults import (
    Blackhole,
    Fault,
    FaultOff,
    FaultOn,
    HttpError,
    LinkDown,
    LoadBurst,
    Schedule,
    Step,
)
from harness.backends.docker import DockerBackend
from harness.environment import Environment
from harness.explore import InvariantBroken, Operation, SystemModel, run_example
from harness.explore.calibration import Calibration
from harness.explore.engine import calibrated
from harness.labels import new_session_id
from harness.settings import Settings
from harness.topology import Topology, load_topology

DEMO = Path(__file__).resolve().parents[1] / "demo_http" / "docker-compose.yml"
BACK, SIDE = "front->back", "front->side"
ITEM, NOTE = "GET /item", "GET /note"


class Demo(SystemModel):
    """front's two reads; ``note_budget_ms=None`` leaves the note read without a budget."""

    def __init__(self, note_budget_ms: float | None = 1000.0) -> None:
        self.note_budget_ms = note_budget_ms

    def operations(self, topology: Topology) -> Sequence[Operation]:
        return [
            Operation("item read", "front", (ITEM,), budget_ms=1000.0),
            Operation("note read", "front", (NOTE,), budget_ms=self.note_budget_ms),
        ]


def burst(request: str, *, rate: float = 20, seconds: float = 0.5, timeout: float = 5.0) -> Step:
    return LoadBurst("front", request, rate=rate, seconds=seconds, timeout_s=timeout)


def during(fault: Fault, *steps: Step) -> tuple[Step, ...]:
    return (FaultOn(fault), *steps, FaultOff(fault))


@dataclass(frozen=True)
class Case:
    mutations: tuple[str, ...]
    steps: tuple[Step, ...]
    broken: str  # the invariant the mutation must break
    model: Callable[[], SystemModel] = Demo


CASES: dict[str, Case] = {
    # back is cut off, then back again: a client that latched the error keeps failing.
    "liveness after heal": Case(
        ("sticky-failure",), during(LinkDown(BACK), burst(ITEM)), "liveness after heal"
    ),
    # back's failures open the one breaker both downstreams share: note reads, which never
    # touch back, are refused while it is open.
    "fault isolation": Case(
        ("shared-breaker",),
        during(LinkDown(BACK), burst(ITEM), burst(NOTE)),
        "fault isolation",
    ),
    # back answers 503: front says 500 (its own fault?) or 200 {"error": ...} (it worked?).
    "honest error contract, 500": Case(
        ("status-500",),
        during(HttpError(BACK, status=503), burst(ITEM), burst(NOTE)),
        "honest error contract",
    ),
    "honest error contract, error in a 200": Case(
        ("error-in-200",),
        during(HttpError(BACK, status=503), burst(ITEM)),
        "honest error contract",
    ),
    # side swallows every byte and clients give up at once: with no deadline of its own,
    # front's handlers wait for ever, which only a look while the blackhole holds can see
    # (the schedule heals it right after the burst).
    "no request without an end": Case(
        ("no-timeout",),
        during(Blackhole(SIDE), burst(NOTE, rate=10, seconds=0.3, timeout=0.2)),
        "requests end within budget",
    ),
    # The same hang with patient clients and no budget declared: the default budget judges.
    "no request without an end, no budget declared": Case(
        ("no-timeout",),
        during(Blackhole(SIDE), burst(NOTE, rate=5, seconds=0.4, timeout=11.0)),
        "note read declares no budget, so the default one",
        lambda: Demo(note_budget_ms=None),
    ),
    # Every note read hangs for longer than the recovery budget while /healthz says 200.
    "honest health": Case(
        ("no-timeout", "health-lies"),
        during(Blackhole(SIDE), burst(NOTE, rate=10, seconds=0.5, timeout=5.0)),
        "honest health",
    ),
}


@contextlib.contextmanager
def demo(settings: Settings, mutations: Sequence[str] = ()) -> Iterator[Environment]:
    env = Environment(
        load_topology(DEMO),
        DockerBackend(new_session_id()),
        service_env={"DEMO_MUTATIONS": ",".join(mutations)},
        startup_timeout_s=settings.startup_timeout_s,
        seed=settings.seed,
    )
    with env:
        yield env


@pytest.fixture(scope="module")
def correct(chaos_settings: Settings) -> Iterator[tuple[Environment, dict[str, Calibration]]]:
    """The demo's correct build, and its calibration per model (learnt on first use)."""
    with demo(chaos_settings) as env:
        yield env, {}


def _calibration(
    env: Environment, model: SystemModel, cache: dict[str, Calibration]
) -> Calibration:
    key = repr([(op.name, op.budget_ms) for op in model.operations(env.topology)])
    if key not in cache:
        cache[key] = calibrated(env, model)
    return cache[key]


@pytest.mark.parametrize("case", CASES)
def test_a_mutation_breaks_its_invariant(chaos_settings: Settings, case: str) -> None:
    chosen = CASES[case]
    model = chosen.model()
    with demo(chaos_settings, chosen.mutations) as env:
        calibration = calibrated(env, model)
        with pytest.raises(InvariantBroken, match=chosen.broken) as broken:
            run_example(env, model, Schedule(chosen.steps), calibration=calibration)
    print(broken.value)


@pytest.mark.parametrize("case", CASES)
def test_the_same_schedule_keeps_every_invariant_on_the_correct_build(
    correct: tuple[Environment, dict[str, Calibration]], case: str
) -> None:
    env, cache = correct
    chosen = CASES[case]
    model = chosen.model()
    run = run_example(
        env, model, Schedule(chosen.steps), calibration=_calibration(env, model, cache)
    )
    assert not run.failed


def test_an_honest_health_endpoint_keeps_honest_health_on_the_same_hang(
    chaos_settings: Settings,
) -> None:
    """The control for honest health: the same hang, but /healthz says front is stuck. The
    example breaks the hang's invariants, and not honest health."""
    chosen = CASES["honest health"]
    model = chosen.model()
    with demo(chaos_settings, ("no-timeout",)) as env:
        calibration = calibrated(env, model)
        with pytest.raises(InvariantBroken) as broken:
            run_example(env, model, Schedule(chosen.steps), calibration=calibration)
    assert "requests end within budget" in str(broken.value)
    assert "honest health" not in str(broken.value)
