"""Faults as values: validation when built, validation against a topology, JSON round-trip,
one-line descriptions, and the seed pattern HTTP faults share with the Go toxics.

No running system is needed: validation reads the topology and the backend's class only.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import pytest

import faults
from faults import (
    Bandwidth,
    Blackhole,
    Disconnect,
    Fault,
    HttpDelay,
    HttpError,
    HttpMalformed,
    Isolate,
    Kill,
    Latency,
    LimitData,
    LinkDown,
    Pause,
    ResetPeer,
    Restart,
    Slicer,
    SlowClose,
    Split,
    Terminate,
    Timeout,
    affected,
    derive_seed,
    fault_from_json,
    fault_kinds,
)
from harness.backends.base import Backend
from harness.backends.docker import DockerBackend
from harness.backends.local import LocalBackend
from harness.errors import FaultError
from harness.topology import Topology
from tests.faults.support import COMPOSE, LINK

from harness.topology import load_topology  # isort: skip

EXAMPLES: list[Fault] = [
    Latency(LINK, ms=250, jitter_ms=20, stream="both"),
    Bandwidth(LINK, kilobytes_per_s=5, stream="upstream"),
    SlowClose(LINK, delay_ms=300),
    Timeout(LINK, after_ms=400),
    Blackhole(LINK, stream="upstream"),
    ResetPeer(LINK, after_ms=100),
    Slicer(LINK, average_bytes=8, variation_bytes=3, delay_us=500),
    LimitData(LINK, bytes=64),
    LinkDown(LINK),
    Disconnect("inventory"),
    Isolate("inventory", mode="blackhole", stream="downstream"),
    Split(("gateway",), ("inventory",)),
    HttpError(LINK, status=503, rate=0.5),
    HttpDelay(LINK, ms=200, rate=0.25, seed=7),
    HttpMalformed(LINK, mode="wrong_type", rate=1.0),
    Kill("inventory"),
    Terminate("inventory", exit_timeout_s=10),
    Pause("inventory"),
    Restart("gateway"),
]


def test_every_kind_has_an_example() -> None:
    assert sorted({f.kind for f in EXAMPLES}) == list(fault_kinds())


@pytest.mark.parametrize("fault", EXAMPLES, ids=lambda f: f.kind)
def test_json_round_trip_gives_an_equal_fault(fault: Fault) -> None:
    assert fault_from_json(fault.to_json()) == fault
    text = fault.dumps()
    assert fault_from_json(text) == fault
    assert json.loads(text)["kind"] == fault.kind


@pytest.mark.parametrize("fault", EXAMPLES, ids=lambda f: f.kind)
def test_describe_is_one_line_naming_the_target(fault: Fault) -> None:
    text = fault.describe()
    assert text
    assert "\n" not in text
    assert LINK in text or "inventory" in text or "gateway" in text


@pytest.mark.parametrize("fault", EXAMPLES, ids=lambda f: f.kind)
def test_faults_are_frozen_values(fault: Fault) -> None:
    assert hash(fault) == hash(fault_from_json(fault.to_json()))
    name = dataclasses.fields(fault)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(fault, name, "x")


BAD: list[tuple[type[Fault], dict[str, Any], str]] = [
    (Latency, {"link": LINK, "ms": -1}, r"Latency\.ms must be between 0 and 600000"),
    (Latency, {"link": LINK, "ms": 1.5}, r"Latency\.ms must be a whole number"),
    (Latency, {"link": LINK, "ms": True}, r"Latency\.ms must be a whole number"),
    (
        Latency,
        {"link": LINK, "ms": 100, "jitter_ms": 101},
        r"Latency\.jitter_ms must be between 0 and 100 milliseconds \(<= ms\)",
    ),
    (Latency, {"link": "inventory", "ms": 1}, r"Latency\.link must name a link like"),
    (Latency, {"link": LINK, "stream": "sideways"}, r"Latency\.stream must be one of"),
    (Bandwidth, {"link": LINK, "kilobytes_per_s": 0}, r"kilobytes_per_s must be between 1"),
    (SlowClose, {"link": LINK, "delay_ms": 600_001}, r"SlowClose\.delay_ms must be between"),
    (Timeout, {"link": LINK, "after_ms": 0}, r"a timeout of 0 .* is the fault Blackhole"),
    (Timeout, {"link": LINK, "after_ms": -5}, r"Timeout\.after_ms must be between 0"),
    (ResetPeer, {"link": LINK, "after_ms": -1}, r"ResetPeer\.after_ms must be between 0"),
    (Slicer, {"link": LINK, "average_bytes": 0}, r"Slicer\.average_bytes must be between 1"),
    (
        Slicer,
        {"link": LINK, "average_bytes": 4, "variation_bytes": 4},
        r"Slicer\.variation_bytes must be between 0 and 3 bytes \(< average_bytes\)",
    ),
    (Slicer, {"link": LINK, "delay_us": -1}, r"Slicer\.delay_us must be between 0"),
    (LimitData, {"link": LINK, "bytes": -1}, r"LimitData\.bytes must be between 0"),
    (HttpError, {"link": LINK, "rate": 1.5}, r"HttpError\.rate must be between 0 and 1"),
    (HttpError, {"link": LINK, "rate": float("nan")}, r"HttpError\.rate must be between"),
    (HttpError, {"link": LINK, "status": 200}, r"HttpError\.status must be between 400 and 599"),
    (HttpError, {"link": LINK, "seed": -1}, r"HttpError\.seed must be between 0"),
    (HttpDelay, {"link": LINK, "ms": -1}, r"HttpDelay\.ms must be between 0"),
    (HttpMalformed, {"link": LINK, "mode": "gzip"}, r"HttpMalformed\.mode must be one of"),
    (Disconnect, {"service": "a b"}, r"Disconnect\.service must name a service"),
    (Isolate, {"service": "inventory", "mode": "cut"}, r"Isolate\.mode must be one of"),
    (
        Isolate,
        {"service": "inventory", "stream": "upstream"},
        r"Isolate\.stream must be 'both' with mode 'down'",
    ),
    (Split, {"side": ()}, r"Split\.side must name at least one service"),
    (Split, {"side": "gateway"}, r"Split\.side must be a list of service names"),
    (Split, {"side": ("a",), "other_side": ("a",)}, r"a cannot be on both sides"),
    (Terminate, {"service": "inventory", "exit_timeout_s": 0}, r"exit_timeout_s must be"),
    (Kill, {"service": ""}, r"Kill\.service must name a service"),
]


@pytest.mark.parametrize(
    ("cls", "fields", "message"), BAD, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(BAD)]
)
def test_bad_fields_are_refused_naming_the_field_and_what_is_allowed(
    cls: type[Fault], fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(FaultError, match=message):
        cls(**fields)


def test_bad_fields_are_refused_on_the_way_in_from_json_too() -> None:
    with pytest.raises(FaultError, match=r"Latency\.ms must be between"):
        fault_from_json({"kind": "latency", "link": LINK, "ms": -3})
    with pytest.raises(FaultError, match=r"unknown fault kind 'lag'; the known kinds are: .*"):
        fault_from_json({"kind": "lag"})
    with pytest.raises(FaultError, match=r"has no field\(s\) latency; its fields are"):
        fault_from_json({"kind": "latency", "link": LINK, "latency": 5})
    with pytest.raises(FaultError, match=r"must be a JSON object"):
        fault_from_json("{not json")


# -- validation against a topology -------------------------------------------------------


@dataclass
class StaticTarget:
    """Just what validate() reads: the topology and the backend (by its class)."""

    topology: Topology
    backend: Backend

    def proxy(self, link: str) -> Any:
        raise FaultError(f"link {link!r} has no proxy: the environment is not running")


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(COMPOSE)


@pytest.fixture(scope="module")
def own_toxiproxy() -> Topology:
    """A compose file that runs its own Toxiproxy as a service."""
    return load_topology(COMPOSE.with_name("compose-own-toxiproxy.yml"))


def docker_target(topology: Topology) -> StaticTarget:
    # validate() asks only what the backend's class implements, so no engine is needed.
    return StaticTarget(topology, object.__new__(DockerBackend))


@pytest.mark.parametrize("fault", EXAMPLES, ids=lambda f: f.kind)
def test_examples_are_valid_on_the_reference_shaped_topology(
    fault: Fault, topology: Topology
) -> None:
    fault.validate(docker_target(topology))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            Latency("gateway->payment", ms=5),
            r"no link named 'gateway->payment'; the known "
            r"links are: gateway->inventory",
        ),
        (HttpError("a->b"), r"no link named 'a->b'; the known links are: gateway->inventory"),
        (LinkDown("a->b"), r"no link named 'a->b'"),
        (
            Kill("payment"),
            r"no service named 'payment'; the known services are: gateway, inventory",
        ),
        (Isolate("payment"), r"no service named 'payment'"),
        (Split(("gateway", "nope")), r"no service named 'nope'"),
    ],
    ids=lambda v: v.describe() if isinstance(v, Fault) else "",
)
def test_unknown_names_and_impossible_faults_are_refused_naming_the_known_ones(
    fault: Fault, message: str, topology: Topology
) -> None:
    with pytest.raises(FaultError, match=message):
        fault.validate(docker_target(topology))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Isolate("toxiproxy"), r"no proxied link is affected .* gateway->inventory"),
        (Split(("gateway", "inventory"), ("toxiproxy",)), r"no proxied link is affected"),
        (Kill("toxiproxy"), r"runs Toxiproxy, whose proxies live in its memory"),
        (Restart("toxiproxy"), r"runs Toxiproxy"),
    ],
    ids=lambda v: v.describe() if isinstance(v, Fault) else "",
)
def test_faults_that_would_destroy_the_files_own_toxiproxy_are_refused(
    fault: Fault, message: str, own_toxiproxy: Topology
) -> None:
    with pytest.raises(FaultError, match=message):
        fault.validate(docker_target(own_toxiproxy))  # type: ignore[arg-type]


def test_pausing_toxiproxy_is_allowed_because_it_keeps_its_proxies(
    own_toxiproxy: Topology,
) -> None:
    Pause("toxiproxy").validate(docker_target(own_toxiproxy))  # type: ignore[arg-type]


def test_a_backend_without_networks_cannot_disconnect(topology: Topology) -> None:
    target = StaticTarget(topology, LocalBackend("chaos-test-validate"))
    with pytest.raises(FaultError, match=r"the local backend cannot disconnect a service"):
        Disconnect("inventory").validate(target)  # type: ignore[arg-type]


# -- seeds ---------------------------------------------------------------------------------


def test_derived_seeds_are_stable_per_session_seed_and_differ_between_faults() -> None:
    fault = HttpError(LINK, rate=0.5)
    assert derive_seed(1, fault) == derive_seed(1, HttpError(LINK, rate=0.5))
    assert derive_seed(1, fault) != derive_seed(2, fault)
    assert derive_seed(1, fault) != derive_seed(1, HttpError(LINK, rate=0.5, status=500))
    assert 0 <= derive_seed(1, fault) < 2**63
    assert fault.toxic_seed(1) == derive_seed(1, fault)
    assert HttpError(LINK, seed=42).toxic_seed(1) == 42


def test_affected_matches_the_go_toxics_reference_values() -> None:
    # splitmix64 of 0 is a published test vector of SplitMix64 (seed 0, first output).
    from faults.http import _splitmix64

    assert _splitmix64(0) == 0xE220A8397B1DCDAF
    assert affected(7, 0.0, 50) == [False] * 50
    assert affected(7, 1.0, 50) == [True] * 50
    hits = affected(7, 0.5, 10_000)
    assert 4800 < sum(hits) < 5200
    assert affected(7, 0.5, 100) == hits[:100]


def test_the_package_exports_what_it_lists() -> None:
    for name in faults.__all__:
        assert hasattr(faults, name), name
