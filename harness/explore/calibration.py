"""What each operation of the workload does when nothing is broken: learnt once, before an
exploration's first example, and the yardstick of the invariants that compare.

For every operation, a short fault-free burst tells: how many of its requests succeed, the
statuses and the JSON shape of its successful replies, and which links its requests travel
(the links whose proxy carried bytes during the burst and not while the system idled). Its
*path* is those links and the services at their ends, besides the service it is sent to:
a fault elsewhere must not change how it fares (fault isolation), and only faults on its
path are worth trying first (coverage).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.history import OK

if TYPE_CHECKING:
    from harness.environment import Environment
    from harness.explore.model import Operation, SystemModel

__all__ = ["Calibration", "OperationBaseline", "calibrate", "json_shape"]

RATE = 10.0  # requests per second of a calibration burst
SECONDS = 1.0
IDLE_S = 1.0  # traffic the system makes on its own, measured for as long as a burst


def json_shape(value: Any) -> Any:
    """The shape of a JSON value: objects keep their keys, arrays the shape of their first
    item, scalars become the name of their type (a null stays null: absent data, not a
    different type)."""
    if isinstance(value, dict):
        return {key: json_shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [json_shape(value[0])] if value else []
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


@dataclass(frozen=True)
class OperationBaseline:
    """One operation, fault-free."""

    operation: str
    sent: int
    succeeded: int  # classified ok
    statuses: Mapping[int | None, int]
    shapes: tuple[Any, ...]  # the JSON shapes of its successful replies (usually one)
    links: frozenset[str] | None  # None: the proxies' traffic could not be read
    services: frozenset[str]  # the service it is sent to, and the upstreams of its links

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.sent if self.sent else 0.0

    def touches_link(self, link: str) -> bool:
        """Whether its requests travel ``link``; when that is unknown, assume they do."""
        return self.links is None or link in self.links


@dataclass(frozen=True)
class Calibration:
    operations: Mapping[str, OperationBaseline] = field(default_factory=dict)
    idle_links: frozenset[str] = frozenset()  # links with traffic while nothing was sent

    def of(self, operation: Operation) -> OperationBaseline | None:
        return self.operations.get(operation.name)

    @property
    def touched_links(self) -> frozenset[str] | None:
        """Every link some operation travels (None: unknown)."""
        found: set[str] = set()
        for baseline in self.operations.values():
            if baseline.links is None:
                return None
            found |= baseline.links
        return frozenset(found)

    @property
    def touched_services(self) -> frozenset[str]:
        return frozenset(s for b in self.operations.values() for s in b.services)

    def describe(self) -> str:
        lines = []
        for name, b in self.operations.items():
            links = "unknown links" if b.links is None else ", ".join(sorted(b.links)) or "no link"
            lines.append(
                f"{name}: {b.succeeded}/{b.sent} ok fault-free, statuses "
                f"{dict(sorted(b.statuses.items(), key=str))}, travels {links}"
            )
        return "\n".join(lines)


def calibrate(env: Environment, model: SystemModel, operations: Sequence[Operation]) -> Calibration:
    """Send a short fault-free burst of each operation and learn its baseline."""
    before = _traffic(env)
    time.sleep(IDLE_S)
    idle = _moved(before, _traffic(env))
    baselines: dict[str, OperationBaseline] = {}
    for operation in operations:
        reading = _traffic(env)
        result = env.load(
            operation.service,
            operation.sends(operation.requests[0], f"calibrate-{operation.name}"),
            rate=RATE,
            seconds=SECONDS,
            timeout=max(5.0, operation.limit_ms / 1000 * 2),
            classify=model.classify,
        )
        moved = _moved(reading, _traffic(env))
        links = None if moved is None else frozenset(moved - (idle or set()))
        statuses: Counter[int | None] = Counter()
        shapes: list[Any] = []
        succeeded = 0
        for _, done in result.history.completed():
            value = done.value if isinstance(done.value, dict) else {}
            statuses[value.get("status")] += 1
            if done.type == OK:
                succeeded += 1
                shape = json_shape(value.get("body"))
                if value.get("body") is not None and shape not in shapes:
                    shapes.append(shape)
        services = {operation.service}
        for name in links or ():
            services.add(env.topology.links[name].upstream_service)
        baselines[operation.name] = OperationBaseline(
            operation=operation.name,
            sent=result.sent,
            succeeded=succeeded,
            statuses=dict(statuses),
            shapes=tuple(shapes),
            links=links,
            services=frozenset(services),
        )
    calibration = Calibration(baselines, frozenset(idle or ()))
    env.events.progress("calibrated, fault-free:\n" + calibration.describe())
    return calibration


def _traffic(env: Environment) -> Mapping[str, float] | None:
    """Bytes each link has carried, counting the connections still open: Toxiproxy adds a
    connection's bytes to its count when the connection closes, and a keep-alive connection
    stays open, so every proxy's connections are closed first (taken down and up again at
    once; between bursts, so no request is cut). Callers redial, as after any idle close."""
    if env.link_traffic() is None:
        return None
    for name in env.topology.links:
        proxy = env.proxy(name)
        proxy.set_enabled(False)
        proxy.set_enabled(True)
    return env.link_traffic()


def _moved(
    before: Mapping[str, float] | None, after: Mapping[str, float] | None
) -> set[str] | None:
    if before is None or after is None:
        return None
    return {link for link, carried in after.items() if carried > before.get(link, 0.0)}
