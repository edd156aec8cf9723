"""Network faults, applied as Toxiproxy toxics on a proxied link.

Toxic names are derived from the fault (``chaos-<kind>-<stream>``), so applying the same
fault twice finds its toxic already there, and healing removes exactly what it added.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, ClassVar, Literal

from faults.base import Fault, FaultTarget
from harness.errors import FaultError

__all__ = ["Latency", "NetworkFault"]

Stream = Literal["upstream", "downstream", "both"]
_LINK = re.compile(r"^[A-Za-z0-9_.-]+->[A-Za-z0-9_.-]+$")
_MAX_MS = 600_000


def check_int(owner: str, name: str, value: object, low: int, high: int, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultError(f"{owner}.{name} must be a whole number of {unit}, got {value!r}")
    if not low <= value <= high:
        raise FaultError(f"{owner}.{name} must be between {low} and {high} {unit}, got {value}")


@dataclasses.dataclass(frozen=True)
class NetworkFault(Fault):
    """A fault made of one toxic per direction on one link."""

    link: str
    stream: Stream = "downstream"

    toxic_type: ClassVar[str]

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if not isinstance(self.link, str) or not _LINK.match(self.link):
            raise FaultError(f"{owner}.link must name a link like 'gateway->inventory'")
        if self.stream not in ("upstream", "downstream", "both"):
            raise FaultError(
                f"{owner}.stream must be 'upstream', 'downstream' or 'both', got {self.stream!r}"
            )

    def attributes(self) -> dict[str, Any]:
        raise NotImplementedError

    def streams(self) -> tuple[str, ...]:
        return ("upstream", "downstream") if self.stream == "both" else (self.stream,)

    def toxic_name(self, stream: str) -> str:
        return f"chaos-{self.kind}-{stream}"

    def _apply(self, target: FaultTarget) -> None:
        proxy = target.proxy(self.link)
        for stream in self.streams():
            proxy.remove_toxic(self.toxic_name(stream))  # re-applying replaces, never stacks
            proxy.add_toxic(self.toxic_name(stream), self.toxic_type, stream, self.attributes())

    def _heal(self, target: FaultTarget) -> None:
        proxy = target.proxy(self.link)
        for stream in self.streams():
            proxy.remove_toxic(self.toxic_name(stream))


@dataclasses.dataclass(frozen=True)
class Latency(NetworkFault):
    """Delay every chunk of data on the link by ``ms`` milliseconds, give or take ``jitter_ms``."""

    kind: ClassVar[str] = "latency"
    toxic_type: ClassVar[str] = "latency"

    ms: int = 1000
    jitter_ms: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("Latency", "ms", self.ms, 0, _MAX_MS, "milliseconds")
        check_int("Latency", "jitter_ms", self.jitter_ms, 0, self.ms, "milliseconds")

    def attributes(self) -> dict[str, Any]:
        return {"latency": self.ms, "jitter": self.jitter_ms}

    def describe(self) -> str:
        jitter = f" ± {self.jitter_ms} ms" if self.jitter_ms else ""
        return f"latency {self.ms} ms{jitter} on {self.link} ({self.stream})"
