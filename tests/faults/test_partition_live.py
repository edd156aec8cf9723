"""Partitions on real Toxiproxy and real containers, observed through the proxied link and
on the services' own published ports; healing must restore every path."""

from __future__ import annotations

import pytest
import requests

from faults import Blackhole, Disconnect, Isolate, LinkDown, Split
from faults.base import Fault
from harness.environment import Environment
from harness.errors import ChaosError
from tests.faults.support import LINK, assert_nothing_remains, fetch

Address = tuple[str, int]


def service_answers(env: Environment, service: str) -> bool:
    """Whether ``service`` answers its health check on its own published port."""
    try:
        return requests.get(env.url(service) + "/healthz", timeout=0.5).status_code == 200
    except (requests.RequestException, ChaosError):
        return False


@pytest.mark.parametrize(
    "fault",
    [LinkDown(LINK), Isolate("inventory"), Isolate("gateway"), Split(("gateway",))],
    ids=lambda f: f.describe(),
)
def test_a_link_that_is_down_is_unreachable_and_healing_restores_it(
    link_env: Environment, link_address: Address, baseline_ms: float, fault: Fault
) -> None:
    with fault:
        reply = fetch(link_address, timeout_s=1.0)
        assert reply.received == 0
        assert reply.closed, "a link that is down closes at once rather than hanging"
        assert not link_env.proxy(LINK).enabled
    assert_nothing_remains(link_env, baseline_ms)


@pytest.mark.parametrize(
    "fault",
    [
        Blackhole(LINK),
        Isolate("inventory", mode="blackhole"),
        Split(("inventory",), mode="blackhole"),
    ],
    ids=lambda f: f.describe(),
)
def test_a_blackholed_link_hangs_and_healing_restores_it(
    link_env: Environment, link_address: Address, baseline_ms: float, fault: Fault
) -> None:
    with fault:
        reply = fetch(link_address, timeout_s=0.5)
        assert reply.received == 0
        assert reply.timed_out
    assert_nothing_remains(link_env, baseline_ms)


def test_a_one_way_blackhole_cuts_only_its_direction(
    link_env: Environment, link_address: Address
) -> None:
    # The client asks the server to close after replying. With replies lost, the request
    # arrives, the server answers and closes, and the close comes through: an empty EOF.
    # With requests lost, the server never hears of it and nothing ever comes back.
    with Blackhole(LINK, stream="downstream"):
        replies_lost = fetch(link_address, close=True, timeout_s=0.5)
    with Blackhole(LINK, stream="upstream"):
        requests_lost = fetch(link_address, close=True, timeout_s=0.5)
    assert replies_lost.received == 0
    assert replies_lost.closed
    assert requests_lost.received == 0
    assert requests_lost.timed_out


def test_disconnect_cuts_the_service_off_and_healing_reconnects_it(
    link_env: Environment, link_address: Address, baseline_ms: float
) -> None:
    assert service_answers(link_env, "inventory")
    with Disconnect("inventory"):
        through_link = fetch(link_address, timeout_s=1.0)
        assert not through_link.ok, "Toxiproxy still reached the disconnected service"
        assert not service_answers(link_env, "inventory")
        assert link_env.proxy(LINK).enabled, "a disconnect is not a proxy trick"
    assert service_answers(link_env, "inventory")
    assert_nothing_remains(link_env, baseline_ms)
