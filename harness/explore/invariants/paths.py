"""Where a fault is and where an operation goes: what the invariants that compare an
operation with its fault-free self need to know about the faults around a burst.

A fault's *footprint* is the links and services it breaks: the link of a link fault, every
proxied link a partition group cuts, the service of a process fault or a disconnect. An
operation's *path* is what calibration saw its requests travel fault-free
(:class:`~harness.explore.calibration.OperationBaseline`: its links, and the services at
their ends). A fault is on the path when the two meet; when the links an operation travels
are unknown (a proxy that does not count traffic), a link fault may be on it or not, and a
fault on a service is judged only when no declared link or dependency leads there.

The faults *around* a burst are the ones on during it and the ones healed less than the
recovery budget before it began: a breaker a fault opened a moment ago still answers for
that fault.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from faults import Disconnect, Fault, FaultOff, FaultOn, Isolate, ProcessFault, Split
from harness.explore.invariants import Invariant

if TYPE_CHECKING:
    from faults.schedule import Step
    from harness.checks.verdict import Verdict
    from harness.environment import Environment
    from harness.explore.calibration import Calibration, OperationBaseline
    from harness.explore.engine import Burst, ExampleRun
    from harness.explore.model import Operation
    from harness.topology import Topology

__all__ = [
    "FaultsAround",
    "Footprint",
    "footprint",
    "on_path",
    "reachable",
    "traveled",
    "why_unknown",
]


@dataclass(frozen=True)
class Footprint:
    """What a fault breaks: links and services (None: a kind of fault this cannot place)."""

    links: frozenset[str]
    services: frozenset[str]


def footprint(fault: Fault, env: Environment) -> Footprint | None:
    if isinstance(fault, Isolate | Split):
        return Footprint(frozenset(fault.links(env)), frozenset())
    data = fault.to_json()
    if isinstance(fault, ProcessFault | Disconnect):
        return Footprint(frozenset(), frozenset({str(data["service"])}))
    if "link" in data:
        return Footprint(frozenset({str(data["link"])}), frozenset())
    return None


def reachable(topology: Topology, service: str) -> frozenset[str]:
    """Every service ``service`` may call, directly or not: along declared links and
    ``depends_on`` (what a path may cover when the traffic of links cannot be read)."""
    seen = {service}
    todo = [service]
    while todo:
        current = todo.pop()
        ahead = {
            link.upstream_service for link in topology.links.values() if link.source == current
        }
        ahead |= set(topology.service(current).depends_on)
        for name in ahead - seen:
            seen.add(name)
            todo.append(name)
    return frozenset(seen)


def on_path(
    fault: Fault,
    operation: Operation,
    baseline: OperationBaseline,
    calibration: Calibration,
    env: Environment,
) -> bool | None:
    """Whether ``fault`` breaks something ``operation`` travels fault-free (None: cannot
    tell, and why is said by :func:`why_unknown`)."""
    place = footprint(fault, env)
    if place is None:
        return None
    if place.services & {operation.service}:
        return True
    links = traveled(baseline, calibration, env.topology)
    if links is None:
        if place.links:
            return None
        return None if place.services & reachable(env.topology, operation.service) else False
    if place.links & links or place.services & baseline.services:
        return True
    if place.links & calibration.idle_links:
        return None  # a link busy on its own: whether this operation uses it is not known
    return False


def traveled(
    baseline: OperationBaseline, calibration: Calibration, topology: Topology
) -> frozenset[str] | None:
    """The links an operation travels, or None when that is unknown: unread, or read as
    none at all for every operation of a system that has links (counts that did not move)."""
    if baseline.links is None or (topology.links and not calibration.touched_links):
        return None
    return baseline.links


def why_unknown(
    fault: Fault, baseline: OperationBaseline, calibration: Calibration, topology: Topology
) -> str:
    """Why :func:`on_path` could not place ``fault`` against the operation's path."""
    data = fault.to_json()
    if traveled(baseline, calibration, topology) is None:
        return (
            f"the links {baseline.operation} travels are unknown (the proxies' traffic could "
            f"not be read, or moved for no operation), so whether {fault.describe()} is on "
            "its path cannot be told"
        )
    if "link" in data or isinstance(fault, Isolate | Split):
        return (
            f"{fault.describe()} is on a link that carries traffic while nothing is sent "
            f"({', '.join(sorted(calibration.idle_links))}), so whether {baseline.operation} "
            "travels it cannot be told"
        )
    return f"where {fault.describe()} acts cannot be placed on an operation's path"


class FaultsAround(Invariant):
    """An invariant that judges a burst by the faults around it: those on while it ran and
    those healed within the recovery budget before it began."""

    def __init__(self) -> None:
        self.healed: dict[Fault, float] = {}  # fault -> when it was switched off

    def after_step(self, run: ExampleRun, step: Step) -> Iterator[Verdict]:
        if isinstance(step, FaultOff):
            self.healed[step.fault] = time.monotonic()
        elif isinstance(step, FaultOn):
            self.healed.pop(step.fault, None)
        return iter(())

    @staticmethod
    def describe(run: ExampleRun, faults: Iterable[Fault]) -> str:
        """The faults around a burst, for a message: those no longer on say so."""
        return "; ".join(
            f.describe() + ("" if f in run.active else " (just healed)") for f in faults
        )

    def around(self, run: ExampleRun, burst: Burst) -> list[Fault]:
        began = burst.history.started
        within = run.model.recovery_s(run.operations)
        recent = [f for f, at in self.healed.items() if began - at < within]
        return _unique([*run.active, *recent])


def _unique(faults: Iterable[Fault]) -> list[Fault]:
    seen: list[Fault] = []
    for fault in faults:
        if fault not in seen:
            seen.append(fault)
    return seen
