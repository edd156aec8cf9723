"""End to end: a fault left on fails its test's teardown loudly, and the next test starts healed."""

from __future__ import annotations

from tests.runs import Run, compose_proxied

LEAVES_A_FAULT = """
import time

import pytest
import requests

from faults.network import Latency
from harness.errors import ChaosError, TopologyError

LINK = "gateway->inventory"


def test_1_leaves_latency_on(chaos):
    Latency(LINK, ms=3000).apply()
    assert [t.name for t in chaos.proxy(LINK).toxics()] == ["chaos-latency-downstream"]


def test_2_changes_toxiproxy_by_hand(chaos):
    proxy = chaos.proxy(LINK)
    proxy.add_toxic("by-hand", "latency", "downstream", {"latency": 5000})
    proxy.set_enabled(False)


def test_3_starts_healed(chaos):
    assert chaos.proxy(LINK).enabled
    assert chaos.active_faults == ()
    assert chaos.proxy(LINK).toxics() == []
    started = time.monotonic()
    reply = requests.get(chaos.url("gateway") + "/products/1", timeout=10)
    assert reply.status_code == 200
    assert time.monotonic() - started < 2.5, "the latency of test 1 or 2 is still on"


def test_4_unknown_names_are_refused_with_the_known_ones(chaos):
    with pytest.raises(TopologyError, match=r"no service named 'nope' .* gateway, inventory"):
        chaos.url("nope")
    with pytest.raises(ChaosError, match=r"no link named 'a->b'.*links are: " + LINK):
        Latency("a->b", ms=10).apply()
"""


def test_fault_or_toxic_left_on_fails_teardown_with_leftover_fault_error_and_next_test_is_healed(
    harness: Run,
) -> None:
    harness.setup(LEAVES_A_FAULT, compose_proxied(harness.context))

    result = harness.run("-p", "no:randomly")

    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_1_leaves_latency_on*",
            "E *LeftoverFaultError: faults were still active when the test ended (now healed): "
            "latency 3000 ms on gateway->inventory (downstream)*",
            "*ERROR at teardown of test_2_changes_toxiproxy_by_hand*",
            "E *LeftoverFaultError: faults were still active when the test ended (now healed): "
            "toxic by-hand (latency) on gateway->inventory; link gateway->inventory down*",
        ]
    )
    assert len(harness.sessions) == 1
    harness.assert_nothing_left()


LEAVES_SERVICES_DOWN = """
import requests

from faults.process import Kill


def test_1_kills_inventory_with_a_fault_and_leaves_it(chaos):
    Kill("inventory").apply()
    assert not chaos.state("inventory").alive


def test_2_starts_with_inventory_running(chaos):
    assert chaos.state("inventory").alive
    assert requests.get(chaos.url("gateway") + "/products/1", timeout=5).status_code == 200


def test_3_kills_and_pauses_behind_the_harness_back(chaos):
    chaos.backend.kill("inventory")
    chaos.backend.pause("gateway")
    assert chaos.state("gateway").status == "paused"


def test_4_starts_with_everything_running_again(chaos):
    for name in ("gateway", "inventory"):
        assert chaos.state(name).status == "running", name
    assert requests.get(chaos.url("gateway") + "/products/1", timeout=5).status_code == 200
"""


def test_killed_or_paused_services_are_running_again_when_the_next_test_starts(
    harness: Run,
) -> None:
    harness.setup(LEAVES_SERVICES_DOWN, compose_proxied(harness.context))

    result = harness.run("-p", "no:randomly")

    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_1_kills_inventory_with_a_fault_and_leaves_it*",
            "E *LeftoverFaultError: *service inventory killed (SIGKILL)*",
        ]
    )
    harness.assert_nothing_left()
