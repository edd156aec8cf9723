"""Partitions: a link taken down, a service cut off its network, and groups of links.

- :class:`LinkDown` disables a link's proxy: new connections are refused and open ones
  are closed, so the client learns at once that its peer is unreachable.
- :class:`Blackhole` (in :mod:`faults.network`) is the silent kind, optionally one way.
- :class:`Disconnect` removes a service's container from the harness's network, a real
  partition that also cuts traffic the proxies do not carry.
- :class:`Isolate` and :class:`Split` act on every proxied link into and out of one
  service, or crossing between two groups of services, either taking them down or
  blackholing them.

A group acts only on links that go through Toxiproxy (the compose file's ``x-chaos.links``);
traffic between services that bypasses the proxies is not cut, use :class:`Disconnect`.
A link is either enabled or not, so two faults that take down the same link share that
state: healing either brings the link back.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

from faults.base import Fault, FaultTarget, backend_can, require_link, require_service
from faults.network import STREAMS, Stream, put_toxic
from faults.validation import check_choice, check_link_name, check_service_name
from harness.errors import FaultError

__all__ = ["GROUP_MODES", "Disconnect", "GroupMode", "Isolate", "LinkDown", "Split"]

GroupMode = Literal["down", "blackhole"]
GROUP_MODES: tuple[GroupMode, ...] = ("down", "blackhole")


@dataclasses.dataclass(frozen=True)
class LinkDown(Fault):
    """Take a link down: its proxy stops listening, open connections are closed."""

    kind: ClassVar[str] = "link_down"

    link: str

    def __post_init__(self) -> None:
        check_link_name("LinkDown", self.link)

    def validate(self, target: FaultTarget) -> None:
        require_link(target, "LinkDown", self.link)

    def _apply(self, target: FaultTarget) -> None:
        target.proxy(self.link).set_enabled(False)

    def _heal(self, target: FaultTarget) -> None:
        target.proxy(self.link).set_enabled(True)

    def describe(self) -> str:
        return f"link {self.link} down"


@dataclasses.dataclass(frozen=True)
class Disconnect(Fault):
    """Disconnect a service's container from the harness's network; heal reconnects it."""

    kind: ClassVar[str] = "disconnect"

    service: str

    def __post_init__(self) -> None:
        check_service_name("Disconnect", "service", self.service)

    def validate(self, target: FaultTarget) -> None:
        require_service(target, "Disconnect", self.service)
        if not (backend_can(target, "disconnect") and backend_can(target, "connect")):
            raise FaultError(
                f"Disconnect: the {target.backend.name} backend cannot disconnect a service "
                "from its network; use Isolate (its proxied links) instead, or the docker "
                "backend"
            )

    def _apply(self, target: FaultTarget) -> None:
        target.backend.disconnect(self.service)

    def _heal(self, target: FaultTarget) -> None:
        target.backend.connect(self.service)

    def describe(self) -> str:
        return f"service {self.service} disconnected from the network"


@dataclasses.dataclass(frozen=True, kw_only=True)
class _LinkGroup(Fault):
    """Every link a predicate picks, taken down or blackholed together."""

    mode: GroupMode = "down"
    stream: Stream = "both"

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_choice(owner, "mode", self.mode, GROUP_MODES)
        check_choice(owner, "stream", self.stream, STREAMS)
        if self.mode == "down" and self.stream != "both":
            raise FaultError(
                f"{owner}.stream must be 'both' with mode 'down' (a link is down both ways); "
                "for one direction only use mode 'blackhole'"
            )

    def crosses(self, source: str, destination: str) -> bool:
        raise NotImplementedError

    def services(self) -> tuple[str, ...]:
        raise NotImplementedError

    def links(self, target: FaultTarget) -> list[str]:
        return sorted(
            name
            for name, link in target.topology.links.items()
            if self.crosses(link.source, link.upstream_service)
        )

    def validate(self, target: FaultTarget) -> None:
        owner = type(self).__name__
        for service in self.services():
            require_service(target, owner, service)
        if not self.links(target):
            known = ", ".join(sorted(target.topology.links)) or "none"
            raise FaultError(
                f"{owner}: no proxied link is affected by {self.describe()}, so it would do "
                f"nothing; the known links are: {known}"
            )

    def _streams(self) -> tuple[str, ...]:
        return ("upstream", "downstream") if self.stream == "both" else (self.stream,)

    def _toxic_name(self, stream: str) -> str:
        return f"chaos-{self.kind}-{stream}"

    def _apply(self, target: FaultTarget) -> None:
        for link in self.links(target):
            proxy = target.proxy(link)
            if self.mode == "down":
                proxy.set_enabled(False)
                continue
            for stream in self._streams():
                put_toxic(proxy, self._toxic_name(stream), "timeout", stream, {"timeout": 0})

    def _heal(self, target: FaultTarget) -> None:
        for link in self.links(target):
            proxy = target.proxy(link)
            if self.mode == "down":
                proxy.set_enabled(True)
                continue
            for stream in self._streams():
                proxy.remove_toxic(self._toxic_name(stream))

    def how(self) -> str:
        if self.mode == "down":
            return "links down"
        return "links blackholed" + ("" if self.stream == "both" else f" ({self.stream})")


@dataclasses.dataclass(frozen=True)
class Isolate(_LinkGroup):
    """Cut every proxied link into and out of ``service``."""

    kind: ClassVar[str] = "isolate"

    service: str

    def __post_init__(self) -> None:
        check_service_name("Isolate", "service", self.service)
        super().__post_init__()

    def services(self) -> tuple[str, ...]:
        return (self.service,)

    def crosses(self, source: str, destination: str) -> bool:
        return self.service in (source, destination)

    def describe(self) -> str:
        return f"service {self.service} isolated ({self.how()})"


@dataclasses.dataclass(frozen=True)
class Split(_LinkGroup):
    """Cut every proxied link between ``side`` and ``other_side`` (empty: everyone else)."""

    kind: ClassVar[str] = "split"

    side: tuple[str, ...]
    other_side: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # JSON gives lists; tuples keep the fault hashable and equal to its round-trip.
        object.__setattr__(self, "side", _names("Split", "side", self.side))
        object.__setattr__(self, "other_side", _names("Split", "other_side", self.other_side))
        if not self.side:
            raise FaultError("Split.side must name at least one service")
        overlap = set(self.side) & set(self.other_side)
        if overlap:
            raise FaultError(
                f"Split: {', '.join(sorted(overlap))} cannot be on both sides of the split"
            )
        super().__post_init__()

    def services(self) -> tuple[str, ...]:
        return self.side + self.other_side

    def _on_other_side(self, service: str) -> bool:
        if self.other_side:
            return service in self.other_side
        return service not in self.side

    def crosses(self, source: str, destination: str) -> bool:
        return (source in self.side and self._on_other_side(destination)) or (
            destination in self.side and self._on_other_side(source)
        )

    def describe(self) -> str:
        other = ", ".join(self.other_side) if self.other_side else "everyone else"
        return f"split {', '.join(self.side)} | {other} ({self.how()})"


def _names(owner: str, field: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise FaultError(f"{owner}.{field} must be a list of service names, got {value!r}")
    for item in value:
        check_service_name(owner, field, item)
    if len(set(value)) != len(value):
        raise FaultError(f"{owner}.{field} names a service twice: {list(value)!r}")
    return tuple(value)
