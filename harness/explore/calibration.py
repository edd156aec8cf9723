"""What each operation of the workload does when nothing is broken: learnt once, before an
exploration's first example, and the yardstick of the invariants that compare.

For every operation, a short fault-free burst tells: how many of its requests succeed, the
statuses and the JSON shape of its successful replies, and which links its requests travel
and how many requests each link carries per request sent (counted by the links' proxies as
the requests cross them; less the requests a link carried while the system idled). Its
*path* is those links and the services at their ends, besides the service it is sent to:
a fault elsewhere must not change how it fares (fault isolation), and only faults on its
path are worth trying first (coverage).
"""

from __future__ import annotations

import secrets
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
# Work an earlier test or example left going (retries, queues draining) settles in a few
# windows; a system busy on its own for longer keeps a steady idle rate.
IDLE_WINDOWS = 3
# After a burst's last answer, before the links are read: work a request leaves behind
# (an audit call made once the reply is out) is part of what the operation costs.
TRAILING_S = 0.3


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
    links: frozenset[str] | None  # None: the links' proxies cannot count requests
    services: frozenset[str]  # the service it is sent to, and the upstreams of its links
    # Requests each link it travels carried per request sent, fault-free (None: unknown).
    per_request: Mapping[str, float] | None = None

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.sent if self.sent else 0.0

    def touches_link(self, link: str) -> bool:
        """Whether its requests travel ``link``; when that is unknown, assume they do."""
        return self.links is None or link in self.links

    def requests_on(self, link: str) -> float | None:
        """Requests ``link`` carries per request of this operation, fault-free (0: it does
        not travel it; None: unknown)."""
        if self.per_request is None:
            return None
        return self.per_request.get(link, 0.0)


@dataclass(frozen=True)
class Calibration:
    operations: Mapping[str, OperationBaseline] = field(default_factory=dict)
    idle_links: frozenset[str] = frozenset()  # links with traffic while nothing was sent
    # Requests per second each link carried while nothing was sent (empty: unknown or none).
    idle_rates: Mapping[str, float] = field(default_factory=dict)

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
            if b.links is None:
                links = "unknown links"
            else:
                per = b.per_request or {}
                links = ", ".join(f"{n} ({per.get(n, 0):.2g}/request)" for n in sorted(b.links))
                links = links or "no link"
            lines.append(
                f"{name}: {b.succeeded}/{b.sent} ok fault-free, statuses "
                f"{dict(sorted(b.statuses.items(), key=str))}, travels {links}"
            )
        return "\n".join(lines)


def calibrate(env: Environment, model: SystemModel, operations: Sequence[Operation]) -> Calibration:
    """Send a short fault-free burst of each operation and learn its baseline."""
    idle = _idle(env)
    idle_rates = {link: n / IDLE_S for link, n in (idle or {}).items()}
    baselines: dict[str, OperationBaseline] = {}
    # A key of this calibration's own: a system that remembers idempotency keys answers a
    # key it saw before from memory, without the downstream calls being measured.
    prefix = f"calibrate-{secrets.token_hex(4)}"
    for operation in operations:
        reading = env.link_requests()
        started = time.monotonic()
        result = operation.load(
            env,
            operation.service,
            operation.sends(operation.requests[0], f"{prefix}-{operation.name}"),
            rate=RATE,
            seconds=SECONDS,
            timeout=max(5.0, operation.limit_ms / 1000 * 2),
            classify=model.classify,
        )
        time.sleep(TRAILING_S)
        moved = _moved(reading, env.link_requests())
        if moved is not None and set(moved) != set(env.topology.links):
            moved = None  # some link cannot count: which links it travels is not known
        per_request = _per_request(moved, idle_rates, time.monotonic() - started, result.sent)
        links = None if per_request is None else frozenset(per_request)
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
            per_request=per_request,
        )
    calibration = Calibration(
        baselines, frozenset(n for n, r in idle_rates.items() if r), idle_rates
    )
    env.events.progress("calibrated, fault-free:\n" + calibration.describe())
    return calibration


def _moved(
    before: Mapping[str, int] | None, after: Mapping[str, int] | None
) -> dict[str, int] | None:
    """Requests each link carried between two readings (None: the links cannot count)."""
    if before is None or after is None:
        return None
    # A link missing from one reading lost its counter (a reset in between): not counted.
    return {link: after[link] - before[link] for link in after if link in before}


def _idle(env: Environment) -> dict[str, int] | None:
    """Requests each link carried in one window of ``IDLE_S`` with no workload: the first
    quiet window, else the last of ``IDLE_WINDOWS``."""
    moved = None
    for _ in range(IDLE_WINDOWS):
        before = env.link_requests()
        time.sleep(IDLE_S)
        moved = _moved(before, env.link_requests())
        if not moved or not any(moved.values()):
            break
    return moved


def _per_request(
    moved: Mapping[str, int] | None, idle_rates: Mapping[str, float], seconds: float, sent: int
) -> dict[str, float] | None:
    """Requests per request sent on each link the burst travelled: what the link carried
    beyond its idle traffic over the same time (a link that only idles is not travelled).
    None when idle traffic could hide the burst's own on some link: which links it
    travels is then not known, and saying "none" would make every fault look off its path."""
    if moved is None:
        return None
    found: dict[str, float] = {}
    for link, carried in moved.items():
        idling = idle_rates.get(link, 0.0) * seconds
        beyond = carried - idling
        # An idle rate is measured over one second: on a link that idles, a request more or
        # less than it predicts is noise, not this operation's.
        noise = 1.0 if idling else 0.0
        if sent and beyond >= 1.0 + noise:
            found[link] = beyond / sent
        elif idling >= sent / 2:
            return None
    return found
