"""Hypothesis strategies for faults and schedules over a topology.

Links and services are drawn from the topology, parameters from bounded ranges, and the
draws are laid out so that Hypothesis shrinks toward a milder fault and a shorter schedule.

Hypothesis prefers a shorter sequence of choices, then a smaller one. So every fault is
drawn the same way, whatever its kind: ``st.one_of`` over the kinds listed mildest first,
each kind built from the same number of small-first integers (0 to ``RESOLUTION``) that
map 0 to the mildest value of each parameter. Two failing faults then compare by kind
first (the milder kind wins) and by parameters next (the milder values win); a kind with
fewer parameters cannot jump the queue by being "shorter". Schedules are lists of
episodes, which shrink toward fewer episodes and shorter holds.

A failing example is therefore small by the time it is reported: usually one latency on one
link, held briefly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, TypeVar

from hypothesis import strategies as st

from faults.base import Fault
from faults.http import HttpDelay, HttpError, HttpMalformed, MalformedMode
from faults.network import (
    Bandwidth,
    Blackhole,
    Latency,
    LimitData,
    ResetPeer,
    Slicer,
    SlowClose,
    Stream,
    Timeout,
)
from faults.partition import Disconnect, GroupMode, Isolate, LinkDown, Split
from faults.process import Kill, Pause, Restart, Terminate
from faults.schedule import FaultOff, FaultOn, LoadBurst, Schedule, Step, Wait
from harness.errors import FaultError

if TYPE_CHECKING:
    from harness.topology import Topology

__all__ = [
    "FAMILIES",
    "RESOLUTION",
    "FaultFamily",
    "faults",
    "http_faults",
    "network_faults",
    "partition_faults",
    "process_faults",
    "schedules",
]

FaultFamily = Literal["network", "http", "partition", "process"]
FAMILIES: tuple[FaultFamily, ...] = ("network", "http", "partition", "process")

RESOLUTION = 1000  # every parameter is drawn as 0..RESOLUTION and scaled to its range
_PARAMETERS = 5  # as many as the kind with the most parameters (Slicer) needs

Raw = tuple[int, ...]
Builder = Callable[[Raw], Fault]
T = TypeVar("T")

# Mild first: raw value 0 picks the front of each tuple.
_STREAMS: tuple[Stream, ...] = ("downstream", "upstream", "both")
_STATUSES = (503, 500, 502, 504, 429, 400)
_MALFORMED: tuple[MalformedMode, ...] = ("wrong_type", "garbage", "truncate")
_GROUP_MODES: tuple[GroupMode, ...] = ("down", "blackhole")


def _up(raw: int, low: int, high: int) -> int:
    """Scale a raw draw to [low, high], mild at ``low``."""
    return low + (high - low) * raw // RESOLUTION


def _down(raw: int, low: int, high: int) -> int:
    """Scale a raw draw to [low, high], mild at ``high`` (a bandwidth, a byte limit)."""
    return high - (high - low) * raw // RESOLUTION


def _pick(raw: int, options: Sequence[T]) -> T:
    return options[min(raw * len(options) // (RESOLUTION + 1), len(options) - 1)]


def _kinds(
    topology: Topology,
    max_ms: int,
    disconnect: bool,
    http_links: Sequence[str] | None = None,
) -> list[tuple[FaultFamily, str, Builder]]:
    """Every kind this topology allows, mildest first, each built from raw draws."""
    links = sorted(topology.links)
    # HTTP toxics exist only in the harness's Toxiproxy build: not on every link, maybe.
    on_http_links = links if http_links is None else sorted(set(http_links) & set(links))
    services = _faultable_services(topology)
    linked = sorted(
        {topology.links[n].source for n in links}
        | {topology.links[n].upstream_service for n in links}
    )
    kinds: list[tuple[FaultFamily, str, Builder]] = []

    def on_links(family: FaultFamily, kind: str, build: Builder) -> None:
        if links:
            kinds.append((family, kind, build))

    def on_http(kind: str, build: Builder) -> None:
        if on_http_links:
            kinds.append(("http", kind, build))

    def link(p: Raw) -> str:
        return _pick(p[0], links)

    def http_link(p: Raw) -> str:
        return _pick(p[0], on_http_links)

    def stream(p: Raw) -> Stream:
        return _pick(p[4], _STREAMS)

    def rate(raw: int) -> float:
        return _up(raw, 1, 100) / 100  # shrinks toward 1%

    def latency(p: Raw) -> Fault:
        ms = _up(p[1], 0, max_ms)
        return Latency(link(p), stream=stream(p), ms=ms, jitter_ms=_up(p[2], 0, ms))

    def slicer(p: Raw) -> Fault:
        average = _down(p[1], 1, 1024)
        return Slicer(
            link(p),
            stream=stream(p),
            average_bytes=average,
            variation_bytes=_up(p[2], 0, average - 1),
            delay_us=_up(p[3], 0, max_ms * 10),
        )

    def split(p: Raw) -> Fault:
        # Start from one link so that the split always cuts something.
        crossing = topology.links[link(p)]
        others = [
            s
            for s in sorted(topology.services)
            if s not in (crossing.source, crossing.upstream_service)
        ]
        extra = others[: _up(p[1], 0, len(others))]
        return Split((crossing.source, *extra), mode=_pick(p[2], _GROUP_MODES))

    on_links("network", "latency", latency)
    on_links(
        "network",
        "bandwidth",
        lambda p: Bandwidth(link(p), stream=stream(p), kilobytes_per_s=_down(p[1], 1, 10_000)),
    )
    on_links("network", "slicer", slicer)
    on_links(
        "network",
        "slow_close",
        lambda p: SlowClose(link(p), stream=stream(p), delay_ms=_up(p[1], 0, max_ms)),
    )
    on_http(
        "http_delay", lambda p: HttpDelay(http_link(p), ms=_up(p[1], 0, max_ms), rate=rate(p[2]))
    )
    on_http(
        "http_error",
        lambda p: HttpError(http_link(p), status=_pick(p[1], _STATUSES), rate=rate(p[2])),
    )
    on_http(
        "http_malformed",
        lambda p: HttpMalformed(http_link(p), mode=_pick(p[1], _MALFORMED), rate=rate(p[2])),
    )
    on_links(
        "network",
        "limit_data",
        lambda p: LimitData(link(p), stream=stream(p), bytes=_down(p[1], 0, 1 << 20)),
    )
    on_links(
        "network",
        "timeout",
        lambda p: Timeout(link(p), stream=stream(p), after_ms=_down(p[1], 1, max(1, max_ms))),
    )
    on_links(
        "network",
        "reset_peer",
        lambda p: ResetPeer(link(p), stream=stream(p), after_ms=_down(p[1], 0, max_ms)),
    )
    on_links("network", "blackhole", lambda p: Blackhole(link(p), stream=stream(p)))
    on_links("partition", "link_down", lambda p: LinkDown(link(p)))
    on_links(
        "partition",
        "isolate",
        lambda p: Isolate(_pick(p[0], linked), mode=_pick(p[1], _GROUP_MODES)),
    )
    on_links("partition", "split", split)
    if services:
        if disconnect:
            kinds.append(("partition", "disconnect", lambda p: Disconnect(_pick(p[0], services))))
        for kind, cls in (
            ("pause", Pause),
            ("restart", Restart),
            ("terminate", Terminate),
            ("kill", Kill),
        ):
            kinds.append(("process", kind, _on_service(cls, services)))
    return kinds


def _on_service(cls: Callable[[str], Fault], services: Sequence[str]) -> Builder:
    return lambda p: cls(_pick(p[0], services))


def _faultable_services(topology: Topology) -> list[str]:
    toxiproxy = topology.toxiproxy.service if topology.toxiproxy else None
    return sorted(s for s in topology.services if s != toxiproxy)


def faults(
    topology: Topology,
    *,
    families: Sequence[FaultFamily] = FAMILIES,
    max_ms: int = 1000,
    disconnect: bool = True,
    http_links: Sequence[str] | None = None,
) -> st.SearchStrategy[Fault]:
    """Any fault of the given families over ``topology``, shrinking toward the mildest.

    ``max_ms`` bounds every duration; ``disconnect=False`` leaves out real network
    disconnects (for backends that cannot do them). ``http_links`` names the links whose
    proxy has the HTTP toxics (``env.proxy(link).http_toxics``; a stock Toxiproxy has
    none): HTTP faults are drawn on those only (None: on every link).
    """
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise FaultError(
            f"faults(families=...) takes some of {', '.join(FAMILIES)}; got {list(families)!r}"
        )
    if not 0 <= max_ms <= 600_000:
        raise FaultError(f"faults(max_ms=...) must be between 0 and 600000, got {max_ms}")
    raw = st.tuples(*(st.integers(0, RESOLUTION) for _ in range(_PARAMETERS)))
    kinds = _kinds(topology, max_ms, disconnect, http_links)
    builders = [b for family, _, b in kinds if family in families]
    if not builders:
        return st.nothing()
    return st.one_of([raw.map(build) for build in builders])


def network_faults(topology: Topology, *, max_ms: int = 1000) -> st.SearchStrategy[Fault]:
    """Toxiproxy's own toxics on the topology's links."""
    return faults(topology, families=["network"], max_ms=max_ms)


def http_faults(
    topology: Topology, *, max_ms: int = 1000, http_links: Sequence[str] | None = None
) -> st.SearchStrategy[Fault]:
    """The harness's HTTP toxics on the topology's links (only ``http_links``, if given);
    rates shrink toward 1%."""
    return faults(topology, families=["http"], max_ms=max_ms, http_links=http_links)


def partition_faults(topology: Topology, *, disconnect: bool = True) -> st.SearchStrategy[Fault]:
    """Links down, services isolated, splits, and (unless told not to) real disconnects."""
    return faults(topology, families=["partition"], disconnect=disconnect)


def process_faults(topology: Topology) -> st.SearchStrategy[Fault]:
    """Pause, restart, terminate and kill the topology's services (never Toxiproxy's)."""
    return faults(topology, families=["process"])


def schedules(
    topology: Topology,
    *,
    fault_strategy: st.SearchStrategy[Fault] | None = None,
    max_episodes: int = 4,
    max_hold_ms: int = 2000,
    load: tuple[str, str] | None = None,
    max_load_rate: int = 50,
) -> st.SearchStrategy[Schedule]:
    """Schedules of episodes: a fault on, held (with a load burst if ``load`` is given as
    ``(service, "METHOD /path")``), then off. Shrinks toward one brief, mild episode."""
    if max_episodes < 1 or max_hold_ms < 1 or max_load_rate < 1:
        raise FaultError(
            "schedules() needs max_episodes >= 1, max_hold_ms >= 1 and max_load_rate >= 1"
        )
    fault = fault_strategy if fault_strategy is not None else faults(topology)

    @st.composite
    def episode(draw: st.DrawFn) -> list[Step]:
        chosen = draw(fault)
        hold_s = draw(st.integers(1, max_hold_ms)) / 1000
        steps: list[Step] = [FaultOn(chosen)]
        if load is not None and draw(st.booleans()):
            service, request = load
            rate = draw(st.integers(1, max_load_rate))
            steps.append(LoadBurst(service, request, rate=float(rate), seconds=hold_s))
        else:
            steps.append(Wait(hold_s))
        steps.append(FaultOff(chosen))
        return steps

    @st.composite
    def schedule(draw: st.DrawFn) -> Schedule:
        episodes = draw(st.lists(episode(), min_size=1, max_size=max_episodes))
        return Schedule(tuple(step for steps in episodes for step in steps))

    return schedule()
