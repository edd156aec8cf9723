"""Hypothesis strategies: what they generate is valid on the topology, round-trips, stays in
bounds, and shrinks toward the mildest fault and the shortest schedule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from faults import (
    Bandwidth,
    Fault,
    FaultOff,
    FaultOn,
    HttpError,
    HttpFault,
    Kill,
    Latency,
    LoadBurst,
    Pause,
    Schedule,
    Wait,
    fault_from_json,
    fault_kinds,
    schedule_from_json,
)
from faults.process import ProcessFault
from faults.strategies import (
    _kinds,
    faults,
    http_faults,
    network_faults,
    partition_faults,
    process_faults,
    schedules,
)
from harness.backends.base import Backend
from harness.backends.docker import DockerBackend
from harness.errors import FaultError
from harness.topology import Topology, load_topology
from tests.faults.support import COMPOSE, LINK

TOPOLOGY = load_topology(COMPOSE)
QUICK = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# The explain phase (which reruns a shrunk example to say which parts mattered) costs
# seconds per search and tells these tests nothing.
FIND = settings(database=None, max_examples=2000, phases=[Phase.generate, Phase.shrink])


@dataclass
class StaticTarget:
    topology: Topology
    backend: Backend

    def proxy(self, link: str) -> Any:
        raise FaultError(f"link {link!r} has no proxy: the environment is not running")


TARGET = StaticTarget(TOPOLOGY, object.__new__(DockerBackend))  # validate() reads the class


@QUICK
@given(faults(TOPOLOGY))
def test_generated_faults_are_valid_on_the_topology_and_round_trip(fault: Fault) -> None:
    fault.validate(TARGET)  # type: ignore[arg-type]
    assert fault_from_json(fault.dumps()) == fault
    assert "\n" not in fault.describe()


OWN_TOXIPROXY = load_topology(COMPOSE.with_name("compose-own-toxiproxy.yml"))


@QUICK
@given(process_faults(OWN_TOXIPROXY))
def test_process_faults_never_aim_at_the_files_own_toxiproxy(fault: Fault) -> None:
    assert isinstance(fault, ProcessFault)
    assert fault.service != "toxiproxy"


@QUICK
@given(network_faults(TOPOLOGY, max_ms=300) | http_faults(TOPOLOGY, max_ms=300))
def test_generated_parameters_stay_within_their_bounds(fault: Fault) -> None:
    for name in ("ms", "delay_ms", "after_ms"):
        assert getattr(fault, name, 0) <= 300
    assert getattr(fault, "seed", None) is None, "seeds come from the session seed"


def test_shrinking_finds_the_mildest_fault() -> None:
    assert find(faults(TOPOLOGY), lambda f: True, settings=FIND) == Latency(LINK, ms=0)
    assert find(
        network_faults(TOPOLOGY), lambda f: isinstance(f, Bandwidth), settings=FIND
    ) == Bandwidth(LINK, kilobytes_per_s=10_000)
    mild_error = find(http_faults(TOPOLOGY), lambda f: isinstance(f, HttpError), settings=FIND)
    assert mild_error == HttpError(LINK, status=503, rate=0.01)
    assert find(process_faults(TOPOLOGY), lambda f: True, settings=FIND) == Pause("gateway")
    assert find(
        faults(TOPOLOGY, families=["process"]), lambda f: isinstance(f, Kill), settings=FIND
    ) == Kill("gateway")


MILD_FIRST = [
    "latency",
    "bandwidth",
    "slicer",
    "slow_close",
    "http_delay",
    "http_error",
    "http_malformed",
    "limit_data",
    "timeout",
    "reset_peer",
    "blackhole",
    "link_down",
    "isolate",
    "split",
    "disconnect",
    "pause",
    "restart",
    "terminate",
    "kill",
]


def test_kinds_are_offered_mildest_first() -> None:
    assert [kind for _, kind, _ in _kinds(TOPOLOGY, 1000, True)] == MILD_FIRST
    assert sorted(MILD_FIRST) == sorted(fault_kinds())


@pytest.mark.parametrize("kind", ["bandwidth", "http_error", "link_down", "pause"])
def test_when_several_kinds_fail_shrinking_reports_the_mildest(kind: str) -> None:
    # A "failure" caused by this kind and every more severe one: the shrunk example is
    # this kind, although kinds with fewer parameters (Kill has one) come after it.
    severe = set(MILD_FIRST[MILD_FIRST.index(kind) :])
    assert find(faults(TOPOLOGY), lambda f: f.kind in severe, settings=FIND).kind == kind


def test_shrinking_a_failure_keeps_only_what_it_needs() -> None:
    # A "failure" that needs a latency of at least 500 ms: the minimal example is exactly
    # that, with nothing added.
    found = find(
        network_faults(TOPOLOGY),
        lambda f: isinstance(f, Latency) and f.ms >= 500,
        settings=FIND,
    )
    assert found == Latency(LINK, ms=500)


@QUICK
@given(schedules(TOPOLOGY, max_episodes=3, max_hold_ms=500, load=("gateway", "GET /products/1")))
def test_generated_schedules_are_well_formed_bounded_and_round_trip(schedule: Schedule) -> None:
    assert schedule_from_json(schedule.dumps()) == schedule
    schedule.validate(TARGET)  # type: ignore[arg-type]
    assert 3 <= len(schedule.steps) <= 9
    on = [s for s in schedule.steps if isinstance(s, FaultOn)]
    off = [s for s in schedule.steps if isinstance(s, FaultOff)]
    assert len(on) == len(off), "every fault a generated schedule turns on, it turns off"
    for step in schedule.steps:
        if isinstance(step, Wait | LoadBurst):
            assert step.seconds <= 0.5


def test_schedules_shrink_to_one_short_mild_episode() -> None:
    smallest = find(schedules(TOPOLOGY), lambda s: True, settings=FIND)
    latency = Latency(LINK, ms=0)
    assert smallest == Schedule((FaultOn(latency), Wait(0.001), FaultOff(latency)))
    # Needing two episodes gives exactly two, each as mild as it can be.
    two = find(schedules(TOPOLOGY), lambda s: len(s.faults()) >= 2, settings=FIND)
    assert len(two.steps) == 6
    assert two.faults() == [latency, latency]


REFERENCE = load_topology(Path(__file__).resolve().parents[2] / "compose" / "docker-compose.yml")


@QUICK
@given(faults(REFERENCE, http_links=["gateway->payment"]))
def test_http_faults_are_drawn_only_on_links_whose_proxy_has_the_http_toxics(
    fault: Fault,
) -> None:
    if isinstance(fault, HttpFault):
        assert fault.link == "gateway->payment"


def test_no_http_fault_is_drawn_when_no_proxy_has_the_http_toxics() -> None:
    assert http_faults(TOPOLOGY, http_links=[]).is_empty
    kinds = [kind for _, kind, _ in _kinds(TOPOLOGY, 1000, True, http_links=[])]
    assert kinds == [k for k in MILD_FIRST if not k.startswith("http_")]
    assert find(
        faults(REFERENCE, http_links=["gateway->payment"]),
        lambda f: isinstance(f, HttpError),
        settings=FIND,
    ) == HttpError("gateway->payment", status=503, rate=0.01)


def test_families_are_checked() -> None:
    with pytest.raises(FaultError, match=r"families=.* takes some of network, http"):
        faults(TOPOLOGY, families=["weather"])  # type: ignore[list-item]


@given(st.data())
@settings(max_examples=20, deadline=None, database=None)
def test_partitions_only_pick_links_that_exist(data: st.DataObject) -> None:
    fault = data.draw(partition_faults(TOPOLOGY))
    fault.validate(TARGET)  # type: ignore[arg-type]
