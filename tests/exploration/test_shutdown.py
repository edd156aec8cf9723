"""The SIGTERM invariant (``harness/explore/invariants/shutdown.py``), faults that land
during a burst, replay fidelity and an unhealthy start, on a demo of their own
(``tests/exploration/drain``: one Go service whose ``GET /work`` takes 400 ms, which exits
at once on SIGTERM when ``DEMO_BUGS=no-drain``, and whose health fails after ``POST /sick``).

A SIGTERM that lands while requests are in flight breaks the invariant on the build that
exits at once, keeps it on the build that drains, and keeps it on the correct reference
system too. A failure that hangs on the moment a fault lands replays from its file at
least 4 times in 5. A service that fails its health before an example is restarted first;
a workload that fails fault-free even then makes the exploration say it cannot judge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from faults import (
    At,
    Fault,
    FaultOff,
    FaultOn,
    Kill,
    Latency,
    LoadBurst,
    Restart,
    Schedule,
    Terminate,
)
from harness.checks import Outcome, Verdict
from harness.environment import Environment
from harness.explore import (
    InvariantBroken,
    Operation,
    SystemModel,
    Unjudgeable,
    explore,
    load_replay,
    recorded_run,
    replay,
    replay_runs,
    run_example,
    save_replay,
)
from harness.labels import new_session_id
from harness.settings import Settings
from harness.topology import Topology, load_topology
from suites.model import ReferenceModel

DEMO = Path(__file__).resolve().parent / "drain" / "compose.yml"
NAME = "in-flight requests answered on SIGTERM"


class DrainDemo(SystemModel):
    def operations(self, topology: Topology) -> list[Operation]:
        return [Operation("work", "front", ("GET /work",), budget_ms=1000)]


class Verdicts:
    """Every verdict an environment's events tell while it listens."""

    def __init__(self) -> None:
        self.seen: list[Verdict] = []

    def on_verdict(self, verdict: Verdict) -> None:
        self.seen.append(verdict)

    def of(self, check: str) -> list[Outcome]:
        return [v.outcome for v in self.seen if v.check == check]


@dataclass(frozen=True)
class Demo:
    env: Environment
    drains: bool


def start_demo(settings: Settings, *, drains: bool) -> Environment:
    from harness.backends.docker import DockerBackend

    return Environment(
        load_topology(DEMO),
        DockerBackend(new_session_id()),
        service_env={} if drains else {"DEMO_BUGS": "no-drain"},
        startup_timeout_s=settings.startup_timeout_s,
        seed=settings.seed,
    )


@pytest.fixture(scope="module", params=["drains", "no-drain"])
def demo(request: pytest.FixtureRequest, chaos_settings: Settings) -> Iterator[Demo]:
    """The demo as it drains (its correct build) or with no-drain; removed at module end."""
    if chaos_settings.backend == "local":
        pytest.skip("the demo runs in containers")
    with start_demo(chaos_settings, drains=request.param == "drains") as env:
        yield Demo(env, drains=request.param == "drains")


def mid_burst(
    fault: Fault, *, at_s: float = 0.5, rate: float = 20, seconds: float = 0.8
) -> Schedule:
    """A burst of ``GET /work`` (400 ms each); ``fault`` lands ``at_s`` into it."""
    burst = LoadBurst(
        "front", "GET /work", rate=rate, seconds=seconds, during=(At(at_s, FaultOn(fault)),)
    )
    return Schedule((burst, FaultOff(fault)))


def run(
    env: Environment, schedule: Schedule, model: SystemModel | None = None
) -> tuple[Verdicts, InvariantBroken | None]:
    verdicts = Verdicts()
    env.events.subscribe(verdicts)
    try:
        run_example(env, model or DrainDemo(), schedule)
    except InvariantBroken as exc:
        return verdicts, exc
    finally:
        env.events.unsubscribe(verdicts)
    return verdicts, None


@pytest.mark.parametrize("fault", [Terminate("front"), Restart("front")], ids=["term", "restart"])
def test_a_sigterm_while_requests_are_in_flight_breaks_the_invariant_only_without_a_drain(
    demo: Demo, fault: Fault
) -> None:
    verdicts, broken = run(demo.env, mid_burst(fault))
    if demo.drains:
        assert broken is None, str(broken)
        assert verdicts.of(NAME) == [Outcome.PASS]
    else:
        assert broken is not None, "the build that exits at once kept the invariant"
        assert f"[{NAME}: fail]" in str(broken)
        assert "lost their connection without a reply" in str(broken)
        assert broken.failure is not None
        assert broken.failure.checks[0] == NAME


def test_a_sigkill_or_a_sigterm_with_nothing_in_flight_is_not_judged(demo: Demo) -> None:
    # SIGKILL promises nothing; a SIGTERM before any request is 0.25 s old finds none.
    for schedule in (mid_burst(Kill("front")), mid_burst(Terminate("front"), at_s=0.1)):
        verdicts, broken = run(demo.env, schedule)
        assert broken is None or NAME not in str(broken)
        assert Outcome.FAIL not in verdicts.of(NAME)
        assert Outcome.PASS not in verdicts.of(NAME)


def test_a_replay_that_keeps_every_invariant_says_what_it_could_not_judge(demo: Demo) -> None:
    # Landing before any request is 0.25 s old, the SIGTERM finds nothing to judge: the
    # replay says so rather than just "kept".
    result = replay_runs(demo.env, DrainDemo(), mid_burst(Terminate("front"), at_s=0.1), 1)
    assert result.failed == 0
    assert result.kept[0].startswith("run 1 kept every invariant ([" + NAME + ": unknown]")
    assert "no request sent at least 0.25 s before it was still in flight" in result.kept[0]


def test_a_timing_dependent_failure_replays_from_its_file_at_least_4_times_in_5(
    chaos_settings: Settings, tmp_path: Path
) -> None:
    """One request, 400 ms long, and a SIGTERM 0.3 s after it left: only a replay that
    lands the signal inside that window reproduces the failure."""
    if chaos_settings.backend == "local":
        pytest.skip("the demo runs in containers")
    with start_demo(chaos_settings, drains=False) as env:
        _, broken = run(env, mid_burst(Terminate("front"), at_s=0.3, rate=5, seconds=0.3))
        assert broken is not None
        assert broken.failure is not None
        recorded = broken.failure.schedule
        assert recorded.offsets, "the run records when each step started"
        path = save_replay(
            recorded, tmp_path, label="drain", recorded=recorded_run(env, seed=env.seed)
        )
        saved = load_replay(path)
        assert saved.schedule == recorded
        assert saved.source is not None
        assert saved.source_note(env.source) is None
        failed, messages = replay(env, DrainDemo(), saved.schedule, 5)
        assert failed >= 4, messages


def reference_sigterm() -> Schedule:
    # Reads wait on a slowed inventory, so the gateway has requests in flight when the
    # SIGTERM lands 0.4 s into the burst; the correct gateway drains them.
    slow, stop = Latency("gateway->inventory", ms=600), Terminate("gateway")
    burst = LoadBurst(
        "gateway", "GET /products/1", rate=20, seconds=0.6, during=(At(0.4, FaultOn(stop)),)
    )
    return Schedule((FaultOn(slow), burst, FaultOff(stop), FaultOff(slow)))


def test_on_the_correct_reference_a_sigterm_mid_burst_keeps_every_invariant(
    chaos: Environment, chaos_settings: Settings
) -> None:
    if chaos_settings.bugs:
        pytest.skip("needs the correct build; this run has --chaos-bugs")
    verdicts, broken = run(chaos, reference_sigterm(), ReferenceModel())
    assert broken is None, str(broken)
    assert verdicts.of(NAME) == [Outcome.PASS]


def test_on_the_reference_without_a_graceful_shutdown_it_breaks(
    chaos_environment_factory: Callable[..., Environment],
) -> None:
    env = chaos_environment_factory(bugs=("no-graceful-shutdown",))
    try:
        _, broken = run(env, reference_sigterm(), ReferenceModel())
    finally:
        env.down()
    assert broken is not None
    assert f"[{NAME}: fail]" in str(broken)


# -- an unhealthy start: restored first, or judged unknown --------------------------------


def test_a_service_that_fails_its_health_before_an_example_is_restarted_first(
    chaos_settings: Settings,
) -> None:
    if chaos_settings.backend == "local":
        pytest.skip("the demo runs in containers")
    with start_demo(chaos_settings, drains=True) as env:
        requests.post(env.url("front") + "/sick", timeout=5).raise_for_status()
        pid = env.state("front").pid
        said: list[str] = []
        env.events.subscribe(Said(said))
        run = run_example(env, DrainDemo(), Schedule((LoadBurst("front", "GET /work"),)))
        assert env.state("front").pid != pid, "the sick process was replaced"
        assert any("front is not healthy before the example" in s for s in said), said
        assert run.bursts[0].history.completed(), "and the example ran on the fresh one"


class NotServed(DrainDemo):
    def operations(self, topology: Topology) -> list[Operation]:
        return [Operation("missing", "front", ("GET /missing",), budget_ms=1000)]


def test_a_workload_that_fails_fault_free_even_after_a_restart_cannot_be_judged(
    chaos_settings: Settings,
) -> None:
    if chaos_settings.backend == "local":
        pytest.skip("the demo runs in containers")
    with start_demo(chaos_settings, drains=True) as env, pytest.raises(Unjudgeable) as raised:
        explore(env, NotServed(), "dev", seed=1, budget_s=30)
    message = str(raised.value)
    assert "none of 10 missing requests succeeded (statuses {404: 10})" in message
    assert "even after restarting the services on their path" in message
    assert "no example could be judged" in message


class Said:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def on_progress(self, text: str) -> None:
        self.lines.append(text)
