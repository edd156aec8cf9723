"""What one reply came to, as the invariants that compare an operation with its fault-free
self read it: a full success, a success the service marked degraded, an honest failure
(the service said a downstream is broken), or a failure of its own.

*Honest* failures are 502, 503 and 504 (bad upstream reply, unavailable, timed out: what a
downstream fault should become), a status the operation also got fault-free, a 4xx that is
exactly what an HTTP fault injects downstream (the service relays the refusal it got), and
a 500 while a fault corrupts downstream replies (code that trusts a reply's documented
shape panics on another one, and a recovery handler answers 500: the failure is real and
said to be internal, which it is). Anything else that is not a success is the service's
own failure: a 500 or a 4xx for a request that succeeds fault-free, or no answer to a
client that waited.

Whether a reply is *degraded* is the service's say, declared in its ``x-chaos`` block
(``degraded: {field: degraded, value: true}`` or ``{header: X-Degraded}``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faults import Fault, HttpError, HttpMalformed
from harness.explore.calibration import json_shape
from harness.history import OK
from harness.load import DEFAULT_CAPTURED_HEADERS

if TYPE_CHECKING:
    from harness.explore.calibration import OperationBaseline
    from harness.history import Op
    from harness.topology import DegradedMarker, Topology

__all__ = [
    "HONEST_STATUSES",
    "Excuses",
    "answers",
    "captured_headers",
    "describe_shape",
    "fits",
    "fully_succeeded",
    "marker_of",
    "reply_of",
    "shape_fits",
]

HONEST_STATUSES = frozenset({502, 503, 504})


def marker_of(topology: Topology, service: str) -> DegradedMarker | None:
    return topology.service(service).degraded


def captured_headers(topology: Topology, service: str) -> tuple[str, ...]:
    """The response headers a burst records: the defaults, and a degraded marker's."""
    marker = marker_of(topology, service)
    if marker is not None and marker.header is not None:
        return (*DEFAULT_CAPTURED_HEADERS, marker.header)
    return DEFAULT_CAPTURED_HEADERS


def reply_of(done: Op) -> Mapping[str, Any]:
    return done.value if isinstance(done.value, Mapping) else {}


def fully_succeeded(done: Op, marker: DegradedMarker | None) -> bool:
    """Classified ok and not marked degraded: as good as a fault-free success."""
    return done.type == OK and not (marker is not None and marker.marks(reply_of(done)))


@dataclass(frozen=True)
class Excuses:
    """What the faults around a burst make honest besides 502/503/504."""

    injected: frozenset[int]  # 4xx statuses an HTTP fault injects downstream
    corrupting: bool  # a fault garbles downstream replies: a 500 is honest

    @classmethod
    def of(cls, faults: Iterable[Fault]) -> Excuses:
        injected: set[int] = set()
        corrupting = False
        for fault in faults:
            if isinstance(fault, HttpError) and 400 <= fault.status < 500:
                injected.add(fault.status)
            corrupting = corrupting or isinstance(fault, HttpMalformed)
        return cls(frozenset(injected), corrupting)

    def honest(self, status: int, baseline: OperationBaseline | None) -> bool:
        """Whether a failing ``status`` honestly reports a downstream fault (``baseline``:
        what the operation got fault-free, if known)."""
        return (
            status in HONEST_STATUSES
            or (baseline is not None and status in baseline.statuses)
            or status in self.injected
            or (status == 500 and self.corrupting)
        )


def shape_fits(reply: Mapping[str, Any], shapes: Iterable[Any]) -> bool:
    """Whether a 2xx reply's JSON body has one of the fault-free ``shapes``."""
    body = reply.get("body")
    if body is None:
        return False  # not JSON, empty, or null: fault-free successes had a JSON body
    actual = json_shape(body)
    return any(fits(actual, expected) for expected in shapes)


def fits(actual: Any, expected: Any) -> bool:
    """The same JSON keys and types. A null inside fits anything (absent data, as
    calibration reads it), an empty array fits any array."""
    if actual is None or expected is None:
        return True
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(fits(actual[key], expected[key]) for key in expected)
        )
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        return not actual or not expected or fits(actual[0], expected[0])
    return bool(actual == expected)


def answers(done: Iterable[Op]) -> str:
    """What completed requests got, for a message: "200 x8, 503 x2, no answer x1"."""
    seen: Counter[str] = Counter()
    for op in done:
        status = reply_of(op).get("status")
        seen[str(status) if status is not None else "no answer"] += 1
    return ", ".join(f"{what} x{n}" for what, n in sorted(seen.items()))


def describe_shape(shape: Any) -> str:
    """A shape as short text for a message: keys and type names."""
    if isinstance(shape, dict):
        inner = ", ".join(f"{key}: {describe_shape(value)}" for key, value in shape.items())
        return "{" + inner + "}"
    if isinstance(shape, list):
        return "[" + (describe_shape(shape[0]) if shape else "") + "]"
    return "null" if shape is None else str(shape)
