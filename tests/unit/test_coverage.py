"""Unit tests for the coverage phase's plan (harness.explore.coverage): every fault kind on
every target the workload touches, one example each, and how a failing case shrinks."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from faults import FaultOff, FaultOn, Latency, LoadBurst
from faults.strategies import kinds
from harness.errors import FaultError
from harness.explore.calibration import Calibration, OperationBaseline
from harness.explore.coverage import (
    BUILDERS,
    LINK_KINDS,
    Case,
    Coverage,
    Shape,
    _smaller,
    plan,
    schedule_of,
)
from harness.explore.model import Operation
from harness.topology import Topology, load_topology

READ = Operation("read", "front", ("GET /items",), budget_ms=1000, rate=20)


class CanDisconnect:
    name = "docker"

    def disconnect(self, service: str) -> None: ...

    def connect(self, service: str) -> None: ...


class CannotDisconnect:
    name = "local"


def topology(tmp_path: Path, links: list[str]) -> Topology:
    doc: dict[str, Any] = {
        "services": {
            "front": {"image": "front:1", "ports": ["8080"]},
            "back": {"image": "back:1", "expose": ["9000"]},
            "other": {"image": "other:1", "expose": ["9000"]},
        },
        "x-chaos": {"links": links},
    }
    path = tmp_path / "compose.yml"
    path.write_text(yaml.safe_dump(doc))
    return load_topology(path)


def env(topo: Topology, backend: object = None) -> Any:
    def proxy(link: str) -> object:
        raise FaultError("not running")  # HTTP faults: checked again when applied

    return SimpleNamespace(topology=topo, backend=backend or CanDisconnect(), proxy=proxy)


def calibrated(links: frozenset[str] | None, services: frozenset[str]) -> Calibration:
    baseline = OperationBaseline("read", 10, 10, {200: 10}, (), links, services)
    return Calibration({"read": baseline})


def labels(cases: list[Case]) -> list[str]:
    return [case.label for case in cases]


def test_every_kind_the_strategies_draw_has_a_representative_fault(tmp_path: Path) -> None:
    every = {kind for _, kind in kinds(topology(tmp_path, ["front->back"]))}
    assert every == set(BUILDERS) | {"split"}
    assert every >= LINK_KINDS


def test_every_kind_covers_every_link_and_service_on_the_path(tmp_path: Path) -> None:
    topo = topology(tmp_path, ["front->back", "front->other"])
    path = calibrated(frozenset({"front->back"}), frozenset({"front", "back"}))

    cases, inapplicable = plan(env(topo), [READ], 1000, path, http_links=["front->back"])

    found = set(labels(cases))
    service_kinds = set(BUILDERS) - LINK_KINDS
    assert found == {f"{k} on front->back" for k in LINK_KINDS} | {
        f"{k} on {s}" for k in service_kinds for s in ("front", "back")
    }
    assert len(cases) == 13 + 2 * 6
    assert inapplicable == []
    assert not any("other" in label for label in found), "off the path: not covered"
    assert all(case.operations == (READ,) for case in cases)


def test_families_take_turns_so_a_plan_cut_short_still_spans_them(tmp_path: Path) -> None:
    topo = topology(tmp_path, ["front->back"])
    cases, _ = plan(env(topo), [READ], 1000, None, http_links=["front->back"])

    assert labels(cases)[:4] == [
        "latency on front->back",
        "http_delay on front->back",
        "link_down on front->back",
        "pause on back",
    ]


def test_http_kinds_only_where_the_proxy_has_them(tmp_path: Path) -> None:
    topo = topology(tmp_path, ["front->back"])
    cases, _ = plan(env(topo), [READ], 1000, None, http_links=[])
    assert not [case for case in cases if case.kind.startswith("http_")]


def test_unknown_traffic_puts_every_link_and_its_ends_on_the_path(tmp_path: Path) -> None:
    topo = topology(tmp_path, ["front->back", "front->other"])
    unknown = calibrated(None, frozenset({"front"}))

    cases, _ = plan(env(topo), [READ], 1000, unknown, http_links=[])

    assert {"latency on front->back", "latency on front->other"} <= set(labels(cases))
    assert {"kill on back", "kill on other", "kill on front"} <= set(labels(cases))


def test_a_fault_the_backend_cannot_apply_is_listed_as_not_applicable(tmp_path: Path) -> None:
    topo = topology(tmp_path, ["front->back"])
    cases, inapplicable = plan(env(topo, CannotDisconnect()), [READ], 1000, None, [])

    assert "disconnect on back" not in labels(cases)
    assert any(
        text.startswith("disconnect on back (Disconnect: the local backend")
        for text in inapplicable
    )


def test_a_case_is_a_burst_the_fault_on_a_burst_the_fault_off_a_burst(tmp_path: Path) -> None:
    topo = topology(tmp_path, ["front->back"])
    cases, _ = plan(env(topo), [READ], 1000, None, [])
    (latency,) = [case for case in cases if case.label == "latency on front->back"]

    steps = schedule_of(latency).steps

    burst = LoadBurst("front", "GET /items", rate=20, seconds=0.5, timeout_s=5.0)
    slow = Latency("front->back", ms=2000)  # twice the deadline
    assert steps == (burst, FaultOn(slow), burst, FaultOff(slow), burst)
    milder = schedule_of(latency, Shape(before=False, after=False, strength=0.5)).steps
    assert milder == (
        FaultOn(Latency("front->back", ms=1000)),
        burst,
        FaultOff(Latency("front->back", ms=1000)),
    )


def test_shrinking_tries_fewer_steps_first_then_milder_faults_then_shorter_bursts(
    tmp_path: Path,
) -> None:
    topo = topology(tmp_path, ["front->back"])
    cases, _ = plan(env(topo), [READ], 1000, None, [])
    latency, kill = (
        next(c for c in cases if c.label == label)
        for label in ("latency on front->back", "kill on back")
    )

    assert [s.describe() for s in _smaller(latency, Shape())] == [
        "bursts before/during of 0.5 s, strength 1",
        "bursts during/after of 0.5 s, strength 1",
        "bursts before/after of 0.5 s, strength 1",
        "bursts before/during/after of 0.5 s, strength 0.5",
        "bursts before/during/after of 0.25 s, strength 1",
    ]
    assert all(s.strength == 1 for s in _smaller(kill, Shape())), "a kill has no milder form"
    smallest = Shape(before=False, during=False, after=False, strength=0.25, seconds=0.125)
    assert list(_smaller(latency, smallest)) == []


@pytest.mark.parametrize(
    ("coverage", "lines"),
    [
        (Coverage([], held=[]), ["fault kinds x targets covered: 0/0"]),
        (
            Coverage(
                [None, None, None],  # type: ignore[list-item]
                held=["latency on a->b"],
                not_covered=["kill on b"],
                inapplicable=["disconnect on b (cannot)"],
            ),
            [
                "fault kinds x targets covered: 1/3",
                "not covered (time budget spent): kill on b",
                "not applicable here: disconnect on b (cannot)",
            ],
        ),
    ],
)
def test_the_summary_counts_what_was_covered(coverage: Coverage, lines: list[str]) -> None:
    assert coverage.lines() == lines
