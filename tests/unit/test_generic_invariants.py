"""Unit tests for the pure parts of the invariants that compare with fault-free behaviour:
JSON shapes, which failures are honest, where a fault is against an operation's path, and
the slack a success rate is allowed. Their behaviour on real services is tested in
tests/exploration/test_generic_invariants.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from faults import HttpError, HttpMalformed, Isolate, Kill, Latency, LinkDown, Pause
from harness.explore import Operation
from harness.explore.calibration import Calibration, OperationBaseline, json_shape
from harness.explore.invariants.isolation import allowed_shortfall
from harness.explore.invariants.outcomes import Excuses, fits, shape_fits
from harness.explore.invariants.paths import on_path, reachable
from harness.topology import Topology, load_topology

ITEM = {"item": {"id": 1, "name": "widget", "tags": ["a"]}, "via": "front"}


@pytest.mark.parametrize(
    ("body", "same"),
    [
        ({"item": {"id": 2, "name": "x", "tags": []}, "via": "f"}, True),  # empty list fits
        ({"item": {"id": 2, "name": None, "tags": ["b"]}, "via": "f"}, True),  # null: no data
        ({"item": {"id": "2", "name": "x", "tags": ["b"]}, "via": "f"}, False),  # a type
        ({"item": {"id": 2, "name": "x", "tags": ["b"]}}, False),  # a key missing
        ({"error": "back: connection refused"}, False),  # a failure in disguise
        ([ITEM], False),
    ],
)
def test_a_reply_fits_the_fault_free_shape_by_keys_and_types(body: Any, same: bool) -> None:
    assert shape_fits({"status": 200, "body": body}, [json_shape(ITEM)]) is same


def test_a_body_that_is_not_json_never_fits_a_json_shape() -> None:
    assert not shape_fits({"status": 200, "body": None, "text": "ok"}, [json_shape(ITEM)])
    assert fits(None, {"a": "number"})
    assert fits({"a": "number"}, None)


def _baseline(
    statuses: dict[int | None, int] | None = None, links: frozenset[str] | None = None
) -> OperationBaseline:
    return OperationBaseline(
        operation="item read",
        sent=10,
        succeeded=10,
        statuses=statuses or {200: 10},
        shapes=(json_shape(ITEM),),
        links=links,
        services=frozenset({"front", *(link.split("->")[1] for link in links or ())}),
    )


@pytest.mark.parametrize(
    ("faults", "status", "honest"),
    [
        ([], 502, True),
        ([], 503, True),
        ([], 504, True),
        ([], 500, False),
        ([], 400, False),
        ([], 404, True),  # it got 404 fault-free too
        ([HttpError("front->back", status=429)], 429, True),  # the injected refusal, relayed
        ([HttpError("front->back", status=429)], 400, False),
        ([HttpError("front->back", status=500)], 500, False),
        ([HttpMalformed("front->back")], 500, True),  # a reply it could not read
    ],
)
def test_which_failures_honestly_report_a_downstream_fault(
    faults: list[Any], status: int, honest: bool
) -> None:
    baseline = _baseline({200: 9, 404: 1})
    assert Excuses.of(faults).honest(status, baseline) is honest


def test_chance_may_cost_a_fifth_of_a_burst_and_at_least_one_request() -> None:
    assert [allowed_shortfall(n) for n in (1, 3, 5, 10, 11, 50)] == [1, 1, 1, 2, 3, 10]


# -- where a fault is against an operation's path ------------------------------------------


@dataclass
class _Env:
    topology: Topology


@pytest.fixture
def env(tmp_path: Path) -> _Env:
    doc = {
        "services": {
            "back": {"image": "x", "expose": ["8080"]},
            "side": {"image": "x", "expose": ["8080"]},
            "lone": {"image": "x", "expose": ["8080"]},
            "front": {"image": "x", "expose": ["8080"], "depends_on": ["back", "side"]},
        },
        "x-chaos": {"links": ["front->back", "front->side"]},
    }
    path = tmp_path / "compose.yml"
    path.write_text(yaml.safe_dump(doc))
    return _Env(load_topology(path))


ITEM_READ = Operation("item read", "front", ("GET /item",), budget_ms=1000)


@pytest.mark.parametrize(
    ("fault", "placed"),
    [
        (Latency("front->back", ms=100), True),
        (Kill("back"), True),
        (Pause("front"), True),  # the service it is sent to
        (LinkDown("front->side"), False),
        (Kill("side"), False),
        (Isolate("side"), False),
        (Isolate("back"), True),
    ],
)
def test_a_fault_is_on_the_path_the_operation_travels_fault_free(
    env: _Env, fault: Any, placed: bool
) -> None:
    baseline = _baseline(links=frozenset({"front->back"}))
    calibration = Calibration({"item read": baseline})
    assert on_path(fault, ITEM_READ, baseline, calibration, env) is placed  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fault", "placed"),
    [
        (LinkDown("front->side"), None),  # links unknown: a link fault cannot be placed
        (Kill("side"), None),  # front may call side (a declared link)
        (Kill("lone"), False),  # nothing leads from front to lone
        (Kill("front"), True),
    ],
)
def test_without_the_links_only_a_service_nothing_leads_to_is_off_the_path(
    env: _Env, fault: Any, placed: bool | None
) -> None:
    baseline = _baseline(links=None)
    calibration = Calibration({"item read": baseline})
    assert on_path(fault, ITEM_READ, baseline, calibration, env) is placed  # type: ignore[arg-type]


def test_links_read_as_none_for_every_operation_are_unknown(env: _Env) -> None:
    # Counts that never moved say nothing: a proxy that counts nothing looks the same.
    baseline = _baseline(links=frozenset())
    calibration = Calibration({"item read": baseline})
    placed = on_path(LinkDown("front->side"), ITEM_READ, baseline, calibration, env)  # type: ignore[arg-type]
    assert placed is None


def test_what_a_service_reaches_follows_links_and_dependencies(env: _Env) -> None:
    assert reachable(env.topology, "front") == {"front", "back", "side"}
    assert reachable(env.topology, "lone") == {"lone"}
