"""Unit tests for ``x-chaos.workload``: how it is read and checked (harness.topology), and the
exploration model built from it (harness.explore.workload)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from faults import LinkDown, LoadBurst
from harness.checks import Outcome
from harness.errors import ConfigError, TopologyError
from harness.explore.engine import Burst
from harness.explore.model import DEFAULT_BUDGET_MS, Operation, check_model
from harness.explore.workload import WorkloadModel, operation_of
from harness.history import History
from harness.topology import Topology, WorkloadRequest, load_topology


def compose(tmp_path: Path, workload: object) -> Path:
    doc: dict[str, Any] = {
        "services": {
            "front": {"image": "front:1", "ports": ["8080"]},
            "back": {"image": "back:1", "expose": ["9000"]},
        },
        "x-chaos": {"links": ["front->back"], "workload": workload},
    }
    path = tmp_path / "compose.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def workload(tmp_path: Path, entries: object) -> tuple[WorkloadRequest, ...]:
    found = load_topology(compose(tmp_path, entries)).workload
    assert found is not None
    return found


# -- reading the workload ---------------------------------------------------------------


def test_the_smallest_entry_gets_sensible_defaults(tmp_path: Path) -> None:
    (entry,) = workload(tmp_path, [{"service": "front", "request": "get /test"}])

    assert entry == WorkloadRequest(name="GET /test to front", service="front", request="GET /test")
    assert (entry.rate, entry.budget_ms, entry.statuses, entry.body) == (10.0, None, None, None)
    assert operation_of(entry).limit_ms == DEFAULT_BUDGET_MS  # a hang is still a finding


def test_every_key_of_an_entry_is_read(tmp_path: Path) -> None:
    (entry,) = workload(
        tmp_path,
        [
            {
                "name": "item create",
                "service": "front",
                "request": "POST /items?dry=1",
                "rate": 20,
                "budget_ms": 1500,
                "statuses": [201, 503],
                "body": {"name": "pen", "tags": ["a"]},
                "headers": {"Authorization": "Bearer abc", "X-Retries": 3},
                "overload": False,
            }
        ],
    )

    assert entry.name == "item create"
    assert entry.request == "POST /items?dry=1"
    assert (entry.rate, entry.budget_ms) == (20.0, 1500.0)
    assert entry.statuses == frozenset({201, 503})
    assert entry.body == {"name": "pen", "tags": ["a"]}
    assert entry.headers == {"Authorization": "Bearer abc", "X-Retries": "3"}


def test_a_file_without_workload_has_none(tmp_path: Path) -> None:
    path = compose(tmp_path, None)
    assert load_topology(path).workload is None


@pytest.mark.parametrize(
    ("entries", "fragment"),
    [
        ({"service": "front"}, "x-chaos.workload in {file} must be a list of the requests"),
        ([], "x-chaos.workload in {file} must be a list"),
        (["GET /"], "x-chaos.workload[0] in {file} must be a mapping like {service: front"),
        ([{"request": "GET /"}], "x-chaos.workload[0] in {file} needs `service:`"),
        (
            [{"service": "nowhere", "request": "GET /"}],
            "x-chaos.workload[0].service in {file} is 'nowhere', which is not a service; "
            "the services are: back, front",
        ),
        ([{"service": "front"}], "x-chaos.workload[0].request in {file} must be a request line"),
        ([{"service": "front", "request": "/items"}], "must be a request line like"),
        ([{"service": "front", "request": "GET items"}], "must be a request line like"),
        ([{"service": "front", "request": "GET /", "rate": 0}], ".rate in {file} must be"),
        ([{"service": "front", "request": "GET /", "rate": "fast"}], "requests per second"),
        ([{"service": "front", "request": "GET /", "budget_ms": -1}], ".budget_ms in {file}"),
        ([{"service": "front", "request": "GET /", "budget_ms": True}], "at most 120000"),
        ([{"service": "front", "request": "GET /", "statuses": [200, 999]}], "statuses: [200"),
        ([{"service": "front", "request": "GET /", "statuses": "200"}], "HTTP statuses"),
        ([{"service": "front", "request": "GET /", "body": 3}], ".body in {file} must be JSON"),
        ([{"service": "front", "request": "GET /", "headers": ["A: b"]}], ".headers in {file}"),
        ([{"service": "front", "request": "GET /", "headers": {"A b": "c"}}], "HTTP tokens"),
        ([{"service": "front", "request": "GET /", "headers": {"A": "b\nc"}}], "one line"),
        ([{"service": "front", "request": "GET /", "overload": "yes"}], "true or false"),
        ([{"service": "front", "request": "GET /", "name": ""}], ".name in {file} must be"),
        (
            [{"service": "front", "request": "GET /", "timeout": 3}],
            "x-chaos.workload[0] in {file} uses the key 'timeout'",
        ),
        (
            [{"service": "front", "request": "GET /"}, {"service": "front", "request": "GET /"}],
            "two entries named GET / to front; give one of them a `name:`",
        ),
    ],
)
def test_a_bad_workload_is_refused_naming_the_key_and_what_to_write(
    tmp_path: Path, entries: object, fragment: str
) -> None:
    path = compose(tmp_path, entries)
    expected = fragment.replace("{file}", str(path.resolve()))
    with pytest.raises(TopologyError, match=re.escape(expected)):
        load_topology(path)


# -- the model -----------------------------------------------------------------------------


def _topology(tmp_path: Path, entries: object) -> Topology:
    return load_topology(compose(tmp_path, entries))


def test_each_entry_is_one_operation_of_the_model(tmp_path: Path) -> None:
    topology = _topology(
        tmp_path,
        [
            {"service": "front", "request": "GET /items", "rate": 20, "budget_ms": 800},
            {"service": "front", "request": "GET /slow", "statuses": [200], "overload": True},
        ],
    )

    read, slow = check_model(WorkloadModel(topology), topology)

    assert (read.name, read.service, read.requests) == (
        "GET /items to front",
        "front",
        ("GET /items",),
    )
    assert (read.budget_ms, read.rate, read.overload) == (800.0, 20.0, False)
    assert read.sends("GET /items", "k") == "GET /items"  # no body or headers: the line itself
    assert (slow.name, slow.overload) == ("GET /slow to front", True)


def test_any_complete_reply_is_well_formed(tmp_path: Path) -> None:
    (entry,) = workload(tmp_path, [{"service": "front", "request": "GET /", "statuses": [200]}])
    operation = operation_of(entry)
    assert operation.statuses is None, "ExpectedStatuses judges them, naming the key"
    assert operation.is_well_formed({"status": 502, "text": "Bad Gateway"})
    assert operation.is_well_formed({"status": 200})  # an empty body is a body
    assert not operation.is_well_formed({"status": None})


def _burst(operation: Operation, statuses: list[int | None]) -> Burst:
    history = History()
    for n, status in enumerate(statuses):
        invoke = history.invoke(n, "GET /", {})
        history.complete(
            invoke, "ok" if status == 200 else "fail", {"status": status, "latency_ms": 3.0}
        )
    step = LoadBurst(operation.service, operation.requests[0])
    return Burst(step, operation, "k", history, len(statuses), judged=True)


def test_statuses_an_entry_lists_are_the_only_ones_its_answers_may_have(tmp_path: Path) -> None:
    topology = _topology(
        tmp_path,
        [
            {"service": "front", "request": "GET /a"},
            {"service": "front", "request": "GET /b", "statuses": [200, 503]},
        ],
    )
    model = WorkloadModel(topology)
    (check,) = model.invariants(topology)
    anything, strict = model.operations(topology)
    example: Any = SimpleNamespace(active=[LinkDown("front->back")])

    assert list(check.after_burst(example, _burst(anything, [500, 200]))) == []
    (good,) = check.after_burst(example, _burst(strict, [200, 503, None]))
    assert good.passed
    (bad,) = check.after_burst(example, _burst(strict, [200, 504, 504, 500, None]))
    assert bad.outcome is Outcome.FAIL
    assert bad.message.startswith(
        "3 of 4 answered GET /b to front requests got a status x-chaos.workload[1].statuses "
        "does not list (500 x1, 504 x2; it lists 200, 503) while this was on: link front->back down"
    )
    assert "request 1 (GET /, sent at" in bad.message


def test_body_and_headers_go_with_every_request(tmp_path: Path) -> None:
    (entry,) = workload(
        tmp_path,
        [
            {
                "service": "front",
                "request": "POST /items",
                "body": {"name": "pen"},
                "headers": {"X-Token": "t"},
            }
        ],
    )
    factory = operation_of(entry).sends("POST /items", "burst-key")
    assert callable(factory)
    first, second = factory(0), factory(1)
    assert first == ("POST", "/items", {"X-Token": "t"}, {"name": "pen"})
    assert first[2] is not second[2], "each request gets its own headers to add to"

    (text,) = workload(
        tmp_path, [{"service": "front", "request": "PUT /note", "body": "plain words"}]
    )
    put = operation_of(text).sends("PUT /note", "k")
    assert callable(put)
    assert put(0) == ("PUT", "/note", {}, "plain words")


def test_a_topology_without_workload_cannot_make_the_model(tmp_path: Path) -> None:
    topology = _topology(tmp_path, None)
    with pytest.raises(ConfigError, match=r"(?s)no `workload:` in its x-chaos block.*- \{service"):
        WorkloadModel(topology)
