"""Hypothesis strategies for faults and schedules over a topology.

Links and services are drawn from the topology, parameters from bounded ranges, and every
choice is ordered so that Hypothesis shrinks toward a milder fault and a shorter schedule:
``st.one_of`` lists the mild kinds first, integers shrink toward their lower bound (so a
parameter whose mild end is its high end, like a bandwidth, is drawn as a severity and
turned around), ``sampled_from`` lists the mild choice first, and schedule lists shrink
toward fewer episodes.

A failing example is therefore small by the time it is reported: usually one latency on one
link, held briefly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from hypothesis import strategies as st

from faults.base import Fault
from faults.http import HttpDelay, HttpError, HttpMalformed
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
from faults.partition import Disconnect, Isolate, LinkDown, Split
from faults.process import Kill, Pause, Restart, Terminate
from faults.schedule import FaultOff, FaultOn, LoadBurst, Schedule, Step, Wait
from harness.errors import FaultError

if TYPE_CHECKING:
    from harness.topology import Topology

__all__ = [
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

# Mild first: shrinking moves toward the front of each tuple.
_STREAMS: tuple[Stream, ...] = ("downstream", "upstream", "both")
_STATUSES = (503, 500, 502, 504, 429, 400)
_MALFORMED_MILD_FIRST = ("wrong_type", "garbage", "truncate")


def _links(topology: Topology) -> list[str]:
    return sorted(topology.links)


def _percent(low: int = 1, high: int = 100) -> st.SearchStrategy[float]:
    """A fraction in hundredths, shrinking toward ``low`` percent (the milder rate)."""
    return st.integers(low, high).map(lambda p: p / 100)


def _mild_high(low: int, high: int) -> st.SearchStrategy[int]:
    """An integer in [low, high] that shrinks toward ``high`` (where high is the mild end)."""
    return st.integers(0, high - low).map(lambda severity: high - severity)


def network_faults(topology: Topology, *, max_ms: int = 1000) -> st.SearchStrategy[Fault]:
    """Toxiproxy's own toxics on the topology's links, mild kinds first."""
    links = _links(topology)
    if not links:
        return st.nothing()
    link = st.sampled_from(links)
    stream = st.sampled_from(_STREAMS)

    @st.composite
    def latency(draw: st.DrawFn) -> Fault:
        ms = draw(st.integers(0, max_ms))
        jitter = draw(st.integers(0, ms))
        return Latency(draw(link), stream=draw(stream), ms=ms, jitter_ms=jitter)

    @st.composite
    def slicer(draw: st.DrawFn) -> Fault:
        average = draw(_mild_high(1, 1024))
        variation = draw(st.integers(0, average - 1))
        delay_us = draw(st.integers(0, max_ms * 10))
        return Slicer(
            draw(link),
            stream=draw(stream),
            average_bytes=average,
            variation_bytes=variation,
            delay_us=delay_us,
        )

    return st.one_of(
        latency(),
        st.builds(Bandwidth, link, stream=stream, kilobytes_per_s=_mild_high(1, 10_000)),
        slicer(),
        st.builds(SlowClose, link, stream=stream, delay_ms=st.integers(0, max_ms)),
        st.builds(LimitData, link, stream=stream, bytes=_mild_high(0, 1 << 20)),
        st.builds(Timeout, link, stream=stream, after_ms=_mild_high(1, max(1, max_ms))),
        st.builds(ResetPeer, link, stream=stream, after_ms=_mild_high(0, max_ms)),
        st.builds(Blackhole, link, stream=st.sampled_from(_STREAMS)),
    )


def http_faults(topology: Topology, *, max_ms: int = 1000) -> st.SearchStrategy[Fault]:
    """The project's HTTP toxics on the topology's links, with rates shrinking toward 1%."""
    links = _links(topology)
    if not links:
        return st.nothing()
    link = st.sampled_from(links)
    return st.one_of(
        st.builds(HttpDelay, link, ms=st.integers(0, max_ms), rate=_percent()),
        st.builds(HttpError, link, status=st.sampled_from(_STATUSES), rate=_percent()),
        st.builds(
            HttpMalformed, link, mode=st.sampled_from(_MALFORMED_MILD_FIRST), rate=_percent()
        ),
    )


def partition_faults(topology: Topology, *, disconnect: bool = True) -> st.SearchStrategy[Fault]:
    """Links down, services isolated, splits, and (if the backend can) real disconnects."""
    links = _links(topology)
    choices: list[st.SearchStrategy[Fault]] = []
    if links:
        linked = sorted(
            {topology.links[n].source for n in links}
            | {topology.links[n].upstream_service for n in links}
        )
        mode = st.sampled_from(("down", "blackhole"))
        choices += [
            st.builds(LinkDown, st.sampled_from(links)),
            st.builds(Isolate, st.sampled_from(linked), mode=mode),
            _splits(topology, links),
        ]
    if disconnect:
        choices.append(st.builds(Disconnect, st.sampled_from(_faultable_services(topology))))
    return st.one_of(choices) if choices else st.nothing()


def _splits(topology: Topology, links: Sequence[str]) -> st.SearchStrategy[Fault]:
    services = sorted(topology.services)

    @st.composite
    def split(draw: st.DrawFn) -> Fault:
        # Start from one link so that the split always cuts something.
        crossing = topology.links[draw(st.sampled_from(list(links)))]
        others = [s for s in services if s not in (crossing.source, crossing.upstream_service)]
        extra = draw(st.lists(st.sampled_from(others), unique=True)) if others else []
        return Split((crossing.source, *extra), mode=draw(st.sampled_from(("down", "blackhole"))))

    return split()


def _faultable_services(topology: Topology) -> list[str]:
    toxiproxy = topology.toxiproxy.service if topology.toxiproxy else None
    return sorted(s for s in topology.services if s != toxiproxy)


def process_faults(topology: Topology) -> st.SearchStrategy[Fault]:
    """Pause, restart, terminate and kill the topology's services (never Toxiproxy's)."""
    services = _faultable_services(topology)
    if not services:
        return st.nothing()
    service = st.sampled_from(services)
    return st.one_of(
        st.builds(Pause, service),
        st.builds(Restart, service),
        st.builds(Terminate, service),
        st.builds(Kill, service),
    )


def faults(
    topology: Topology,
    *,
    families: Sequence[FaultFamily] = FAMILIES,
    max_ms: int = 1000,
    disconnect: bool = True,
) -> st.SearchStrategy[Fault]:
    """Any fault of the given families over ``topology``, milder families first."""
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise FaultError(
            f"faults(families=...) takes some of {', '.join(FAMILIES)}; got {list(families)!r}"
        )
    by_family = {
        "network": lambda: network_faults(topology, max_ms=max_ms),
        "http": lambda: http_faults(topology, max_ms=max_ms),
        "partition": lambda: partition_faults(topology, disconnect=disconnect),
        "process": lambda: process_faults(topology),
    }
    chosen = [by_family[f]() for f in FAMILIES if f in families]
    return st.one_of(chosen)


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
    if max_episodes < 1 or max_hold_ms < 1:
        raise FaultError("schedules() needs max_episodes >= 1 and max_hold_ms >= 1")
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
