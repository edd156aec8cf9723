"""Network faults on real Toxiproxy, observed through the proxied link from outside.

Each test measures what a client of the link sees (bytes, timing, how the connection
ended) and compares it with what the fault says it does. Timing bounds are the fault's
value within 10% plus the healthy baseline, except where Toxiproxy itself adds per-chunk
overhead (stated at each such bound).
"""

from __future__ import annotations

import pytest

from faults import (
    Bandwidth,
    Blackhole,
    Disconnect,
    Fault,
    HttpDelay,
    HttpError,
    HttpMalformed,
    Isolate,
    Latency,
    LimitData,
    LinkDown,
    ResetPeer,
    Slicer,
    SlowClose,
    Split,
    Timeout,
)
from harness.environment import Environment
from tests.faults.support import LINK, NOISE_MS, assert_nothing_remains, fetch, median

Address = tuple[str, int]


@pytest.mark.parametrize(
    ("stream", "ms", "added_ms"),
    [("downstream", 300, 300), ("upstream", 300, 300), ("both", 200, 400)],
)
def test_latency_adds_the_requested_delay_within_10_percent(
    link_env: Environment,
    link_address: Address,
    baseline_ms: float,
    stream: str,
    ms: int,
    added_ms: int,
) -> None:
    with Latency(LINK, ms=ms, stream=stream):  # type: ignore[arg-type]
        measured = median([fetch(link_address).elapsed_ms for _ in range(5)]) - baseline_ms
    assert abs(measured - added_ms) <= 0.1 * added_ms, f"added {measured:.0f} ms"
    assert_nothing_remains(link_env, baseline_ms)


def test_latency_jitter_stays_within_its_bounds(
    link_env: Environment, link_address: Address, baseline_ms: float
) -> None:
    with Latency(LINK, ms=200, jitter_ms=50):
        added = [fetch(link_address).elapsed_ms - baseline_ms for _ in range(8)]
    assert all(150 * 0.9 <= a <= 250 * 1.1 + NOISE_MS for a in added), added
    assert max(added) - min(added) > 5, f"no jitter at all: {added}"


def test_bandwidth_makes_a_response_take_its_size_over_the_rate(
    link_env: Environment, link_address: Address, baseline_ms: float
) -> None:
    size = fetch(link_address).received
    with Bandwidth(LINK, kilobytes_per_s=1):
        reply = fetch(link_address)
    assert reply.ok
    expected_ms = size / 1  # bytes at 1 KB/s = 1 byte per ms
    added = reply.elapsed_ms - baseline_ms
    # Toxiproxy releases 100 ms worth of data per step, so allow one step of rounding up.
    assert expected_ms * 0.9 <= added <= expected_ms * 1.1 + 100, (size, added)


def test_slow_close_holds_the_close_back_by_its_delay(
    link_env: Environment, link_address: Address, baseline_ms: float
) -> None:
    with SlowClose(LINK, delay_ms=300):
        replies = [fetch(link_address, close=True) for _ in range(3)]
    assert all(r.ok for r in replies), "slow_close must not change the data"
    assert all(r.closed for r in replies)
    added = median([r.elapsed_ms for r in replies]) - baseline_ms
    assert 300 * 0.9 <= added <= 300 * 1.1, added


def test_timeout_swallows_the_reply_and_closes_after_its_time(
    link_env: Environment, link_address: Address, baseline_ms: float
) -> None:
    with Timeout(LINK, after_ms=300):
        replies = [fetch(link_address) for _ in range(3)]
    assert all(r.received == 0 and r.closed for r in replies), replies
    added = median([r.elapsed_ms for r in replies]) - baseline_ms
    assert 300 * 0.9 <= added <= 300 * 1.1, added


@pytest.mark.parametrize("stream", ["both", "downstream", "upstream"])
def test_blackhole_swallows_everything_and_never_closes(
    link_env: Environment, link_address: Address, stream: str
) -> None:
    with Blackhole(LINK, stream=stream):  # type: ignore[arg-type]
        reply = fetch(link_address, timeout_s=0.5)
    assert reply.received == 0
    assert reply.timed_out


def test_reset_peer_resets_the_connection_after_its_time(
    link_env: Environment, link_address: Address, baseline_ms: float
) -> None:
    with ResetPeer(LINK, after_ms=200):
        replies = [fetch(link_address) for _ in range(3)]
    # The loopback client sits behind Docker's port proxy, which turns the RST into a
    # plain close; the reset itself is checked from inside the network below.
    assert all(r.received == 0 and r.closed for r in replies), replies
    added = median([r.elapsed_ms for r in replies]) - baseline_ms
    assert 200 * 0.9 <= added <= 200 * 1.1, added


def test_reset_peer_is_seen_as_a_reset_by_the_links_own_client(link_env: Environment) -> None:
    import requests

    marker = "connection reset by peer"
    before = link_env.logs("gateway", tail=2000).count(marker)
    with ResetPeer(LINK, after_ms=0):
        requests.get(link_env.url("gateway") + "/products/1", timeout=5)
    after = link_env.logs("gateway", tail=2000).count(marker)
    assert after > before, "the gateway (the link's client) logged no connection reset"


def test_slicer_delivers_the_data_in_slices_each_delayed(
    link_env: Environment, link_address: Address, baseline_ms: float
) -> None:
    size = fetch(link_address).received
    with Slicer(LINK, average_bytes=1, delay_us=1000):
        reply = fetch(link_address)
    assert reply.ok, "slicing must not change the data"
    expected_ms = size * 1000 / 1000  # one-byte slices, 1000 µs after each
    added = reply.elapsed_ms - baseline_ms
    # Each of the ~200 sleeps overshoots by Go's timer granularity, hence the upper slack.
    assert expected_ms * 0.9 <= added <= expected_ms * 1.6, (size, added)


def test_limit_data_closes_after_exactly_that_many_bytes(
    link_env: Environment, link_address: Address
) -> None:
    with LimitData(LINK, bytes=50):
        reply = fetch(link_address)
    assert reply.received == 50
    assert reply.closed
    assert not reply.complete


# -- every fault on the link: idempotent, and nothing remains after heal --------------------

LINK_FAULTS: list[Fault] = [
    Latency(LINK, ms=100, jitter_ms=10, stream="both"),
    Bandwidth(LINK, kilobytes_per_s=10, stream="both"),
    SlowClose(LINK, delay_ms=100),
    Timeout(LINK, after_ms=100, stream="both"),
    Blackhole(LINK),
    ResetPeer(LINK, after_ms=10, stream="upstream"),
    Slicer(LINK, average_bytes=10, variation_bytes=5, delay_us=100),
    LimitData(LINK, bytes=10),
    LinkDown(LINK),
    Isolate("inventory", mode="blackhole"),
    Split(("gateway",), mode="down"),
    Disconnect("inventory"),
    HttpError(LINK, rate=0.5),
    HttpDelay(LINK, ms=50),
    HttpMalformed(LINK, mode="garbage"),
]


@pytest.mark.parametrize("fault", LINK_FAULTS, ids=lambda f: f.kind)
def test_apply_and_heal_are_idempotent_and_nothing_remains_after_heal(
    link_env: Environment, baseline_ms: float, fault: Fault
) -> None:
    proxy = link_env.proxy(LINK)
    fault.apply()
    once = (proxy.toxics(), proxy.enabled)
    fault.apply()
    assert (proxy.toxics(), proxy.enabled) == once, "applying twice differs from once"
    assert all(t.toxicity == 1.0 for t in proxy.toxics())
    assert link_env.active_faults == (fault,)
    fault.heal()
    fault.heal()
    assert_nothing_remains(link_env, baseline_ms)


def test_an_unknown_link_is_refused_before_anything_changes(link_env: Environment) -> None:
    from harness.errors import FaultError

    with pytest.raises(FaultError, match=r"no link named 'gateway->payment'.*gateway->inventory"):
        Latency("gateway->payment", ms=10).apply()
    assert link_env.proxy(LINK).toxics() == []
    assert link_env.active_faults == ()
