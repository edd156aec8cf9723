"""Network faults, applied as Toxiproxy toxics on a proxied link.

Every toxic is added with toxicity 1: Toxiproxy draws its own toxicity dice from a source
the harness cannot seed, so a fault either affects every connection of its link or, for the
HTTP faults, leaves the choice to a seeded pattern (see :mod:`faults.http`).

Directions follow Toxiproxy: ``upstream`` is what the link's client sends (requests),
``downstream`` is what comes back (responses); ``both`` adds one toxic per direction.

Toxic names are derived from the fault (``chaos-<kind>-<stream>``), so applying the same
fault twice finds its toxic already there, and healing removes exactly what it added.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from faults.base import Fault, FaultTarget, ProxyLike, require_link
from faults.validation import MAX_MS, check_choice, check_int, check_link_name
from harness.errors import FaultError

__all__ = [
    "STREAMS",
    "Bandwidth",
    "Blackhole",
    "Latency",
    "LimitData",
    "NetworkFault",
    "ResetPeer",
    "Slicer",
    "SlowClose",
    "Stream",
    "Timeout",
    "ToxicFault",
    "put_toxic",
]

Stream = Literal["upstream", "downstream", "both"]
STREAMS: tuple[Stream, ...] = ("upstream", "downstream", "both")

# Upper bounds that catch unit mistakes (bytes typed as KB, ms as µs) rather than physics.
MAX_KILOBYTES_PER_S = 1_000_000  # 1 GB/s: faster than any loopback link needs throttling
MAX_BYTES = 1 << 30
MAX_SLICE_DELAY_US = 1_000_000  # one second between slices already starves any client


def put_toxic(
    proxy: ProxyLike, name: str, toxic_type: str, stream: str, attributes: Mapping[str, Any]
) -> None:
    """Make the toxic ``name`` exist exactly as given; leave it alone if it already does.

    Leaving an identical toxic in place (rather than re-adding it) is what makes applying
    twice the same as once: re-adding would, for example, restart an HTTP toxic's pattern.
    """
    for toxic in proxy.toxics():
        if toxic.name != name:
            continue
        current = dict(toxic.attributes or {})
        same = toxic.type == toxic_type and toxic.stream == stream
        if same and all(current.get(key) == value for key, value in attributes.items()):
            return
        proxy.remove_toxic(name)
    proxy.add_toxic(name, toxic_type, stream, attributes, toxicity=1.0)


@dataclasses.dataclass(frozen=True)
class ToxicFault(Fault):
    """A fault made of one Toxiproxy toxic per direction on one link."""

    link: str

    toxic_type: ClassVar[str]

    def __post_init__(self) -> None:
        check_link_name(type(self).__name__, self.link)

    def validate(self, target: FaultTarget) -> None:
        require_link(target, type(self).__name__, self.link)

    def toxic_attributes(self, target: FaultTarget) -> dict[str, Any]:
        raise NotImplementedError

    def streams(self) -> tuple[str, ...]:
        return ("downstream",)

    def toxic_name(self, stream: str) -> str:
        return f"chaos-{self.kind}-{stream}"

    def _apply(self, target: FaultTarget) -> None:
        proxy = target.proxy(self.link)
        attributes = self.toxic_attributes(target)
        for stream in self.streams():
            put_toxic(proxy, self.toxic_name(stream), self.toxic_type, stream, attributes)

    def _heal(self, target: FaultTarget) -> None:
        proxy = target.proxy(self.link)
        for stream in self.streams():
            proxy.remove_toxic(self.toxic_name(stream))


@dataclasses.dataclass(frozen=True, kw_only=True)
class NetworkFault(ToxicFault):
    """A toxic of Toxiproxy's own, on one direction of a link or on both."""

    stream: Stream = "downstream"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(type(self).__name__, "stream", self.stream, STREAMS)

    def streams(self) -> tuple[str, ...]:
        return ("upstream", "downstream") if self.stream == "both" else (self.stream,)

    def where(self) -> str:
        return f"{self.link} ({self.stream})"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Latency(NetworkFault):
    """Delay every chunk of data by ``ms`` milliseconds, give or take up to ``jitter_ms``."""

    kind: ClassVar[str] = "latency"
    toxic_type: ClassVar[str] = "latency"

    ms: int = 1000
    jitter_ms: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("Latency", "ms", self.ms, 0, MAX_MS, "milliseconds")
        # Jitter above the latency would ask for negative delays, which Toxiproxy clips to 0.
        check_int("Latency", "jitter_ms", self.jitter_ms, 0, self.ms, "milliseconds (<= ms)")

    def toxic_attributes(self, target: FaultTarget) -> dict[str, Any]:
        return {"latency": self.ms, "jitter": self.jitter_ms}

    def describe(self) -> str:
        jitter = f" ± {self.jitter_ms} ms" if self.jitter_ms else ""
        return f"latency {self.ms} ms{jitter} on {self.where()}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Bandwidth(NetworkFault):
    """Let at most ``kilobytes_per_s`` KB (1000 bytes) per second through."""

    kind: ClassVar[str] = "bandwidth"
    toxic_type: ClassVar[str] = "bandwidth"

    kilobytes_per_s: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        # 0 would not mean "nothing passes" in Toxiproxy but a busy loop; Blackhole is that.
        check_int(
            "Bandwidth", "kilobytes_per_s", self.kilobytes_per_s, 1, MAX_KILOBYTES_PER_S, "KB/s"
        )

    def toxic_attributes(self, target: FaultTarget) -> dict[str, Any]:
        return {"rate": self.kilobytes_per_s}

    def describe(self) -> str:
        return f"bandwidth limited to {self.kilobytes_per_s} KB/s on {self.where()}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlowClose(NetworkFault):
    """Hold back the close of a connection by ``delay_ms`` after the other side closed it."""

    kind: ClassVar[str] = "slow_close"
    toxic_type: ClassVar[str] = "slow_close"

    delay_ms: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("SlowClose", "delay_ms", self.delay_ms, 0, MAX_MS, "milliseconds")

    def toxic_attributes(self, target: FaultTarget) -> dict[str, Any]:
        return {"delay": self.delay_ms}

    def describe(self) -> str:
        return f"connection close delayed {self.delay_ms} ms on {self.where()}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Timeout(NetworkFault):
    """Swallow all data and close the connection ``after_ms`` after the last data arrived."""

    kind: ClassVar[str] = "timeout"
    toxic_type: ClassVar[str] = "timeout"

    after_ms: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("Timeout", "after_ms", self.after_ms, 0, MAX_MS, "milliseconds")
        if self.after_ms == 0:
            raise FaultError(
                f"Timeout.after_ms must be between 1 and {MAX_MS} milliseconds; a timeout of 0 "
                "(data swallowed, the connection never closed) is the fault Blackhole"
            )

    def toxic_attributes(self, target: FaultTarget) -> dict[str, Any]:
        return {"timeout": self.after_ms}

    def describe(self) -> str:
        return f"data swallowed and connection closed after {self.after_ms} ms on {self.where()}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Blackhole(NetworkFault):
    """Swallow all data and never close: the peer waits until its own deadline.

    Toxiproxy's ``timeout`` toxic with timeout 0. Both directions unless ``stream`` says
    one: an upstream-only blackhole loses requests, a downstream-only one loses replies.
    """

    kind: ClassVar[str] = "blackhole"
    toxic_type: ClassVar[str] = "timeout"

    stream: Stream = "both"

    def toxic_attributes(self, target: FaultTarget) -> dict[str, Any]:
        return {"timeout": 0}

    def describe(self) -> str:
        return f"blackhole on {self.where()}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResetPeer(NetworkFault):
    """Reset the connection (TCP RST) ``after_ms`` after data first arrives; 0 = at once."""

    kind: ClassVar[str] = "reset_peer"
    toxic_type: ClassVar[str] = "reset_peer"

    after_ms: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("ResetPeer", "after_ms", self.after_ms, 0, MAX_MS, "milliseconds")

    def toxic_attributes(self, target: FaultTarget) -> dict[str, Any]:
        return {"timeout": self.after_ms}

    def describe(self) -> str:
        when = "at once" if self.after_ms == 0 else f"after {self.after_ms} ms"
        return f"connection reset {when} on {self.where()}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Slicer(NetworkFault):
    """Cut data into slices of about ``average_bytes`` (± ``variation_bytes``), each sent
    ``delay_us`` microseconds after the previous one."""

    kind: ClassVar[str] = "slicer"
    toxic_type: ClassVar[str] = "slicer"

    average_bytes: int = 1
    variation_bytes: int = 0
    delay_us: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        # Toxiproxy's slicer recurses forever on average 0 and cuts outside the data when
        # the variation reaches the average, so both are refused here.
        check_int("Slicer", "average_bytes", self.average_bytes, 1, MAX_BYTES, "bytes")
        check_int(
            "Slicer",
            "variation_bytes",
            self.variation_bytes,
            0,
            self.average_bytes - 1,
            "bytes (< average_bytes)",
        )
        check_int("Slicer", "delay_us", self.delay_us, 0, MAX_SLICE_DELAY_US, "microseconds")

    def toxic_attributes(self, target: FaultTarget) -> dict[str, Any]:
        return {
            "average_size": self.average_bytes,
            "size_variation": self.variation_bytes,
            "delay": self.delay_us,
        }

    def describe(self) -> str:
        variation = f" ± {self.variation_bytes}" if self.variation_bytes else ""
        return (
            f"data sliced into {self.average_bytes}{variation}-byte pieces "
            f"{self.delay_us} µs apart on {self.where()}"
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class LimitData(NetworkFault):
    """Close each connection once ``bytes`` bytes have passed in the direction."""

    kind: ClassVar[str] = "limit_data"
    toxic_type: ClassVar[str] = "limit_data"

    bytes: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("LimitData", "bytes", self.bytes, 0, MAX_BYTES, "bytes")

    def toxic_attributes(self, target: FaultTarget) -> dict[str, Any]:
        return {"bytes": self.bytes}

    def describe(self) -> str:
        return f"connections closed after {self.bytes} bytes on {self.where()}"
