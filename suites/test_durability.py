"""Durability: acknowledged writes survive kills and restarts, and a SIGTERM lets in-flight
work finish (requests answered, audit queue drained) before the process exits."""

from __future__ import annotations

import time

import pytest

from faults import Kill, Latency, Terminate
from harness.checks import effects_carry_their_cause, no_lost_or_duplicated_writes
from harness.environment import Environment
from harness.history import History, request_label
from suites.reference import (
    acknowledged,
    gateway_classify,
    get_json,
    order_key,
    order_requests,
    stored_order_keys,
)


def dropped_in_flight(history: History, signalled_at: float) -> list[str]:
    """Requests surely in flight when the signal came that got no reply.

    Only requests sent a little before the signal count: one sent at that very moment may
    meet a connection the server was closing, which no server can answer.
    """
    dropped = []
    for invoke, done in history.pairs():
        if invoke.time > signalled_at - 0.05:
            continue
        if done is None or done.time < signalled_at:
            continue  # finished before the signal
        if not isinstance(done.value, dict) or done.value.get("status") is None:
            dropped.append(
                f"{request_label(invoke)} ({signalled_at - invoke.time:.2f} s before the signal)"
            )
    return dropped


def test_acknowledged_orders_survive_a_kill_of_the_gateway(
    chaos: Environment, key_prefix: str
) -> None:
    with chaos.start_load(
        "gateway", order_requests(key_prefix), classify=gateway_classify, rate=20, seconds=3
    ) as load:
        time.sleep(1.0)  # hold the kill until orders are flowing
        with Kill("gateway"):
            killed_at = load.history.now()
        restarted_at = load.history.now()  # healing restarted it on the same volume
        result = load.wait()

    answered = [invoke.time for invoke, _ in acknowledged(result.history)]
    assert any(t < killed_at for t in answered), "no order was acknowledged before the kill"
    assert any(t > restarted_at for t in answered), (
        "no order was acknowledged after the restart: the gateway is not back at its address"
    )
    no_lost_or_duplicated_writes(
        result.history, stored_order_keys(chaos, key_prefix), order_key, what="order"
    ).require()


@pytest.mark.pitfall("no-graceful-shutdown")
def test_sigterm_lets_in_flight_orders_finish_and_drains_the_audit_queue(
    chaos: Environment, key_prefix: str
) -> None:
    # Inventory latency keeps several orders, and their audit events, in flight.
    with Latency("gateway->inventory", ms=300):
        load = chaos.start_load(
            "gateway",
            order_requests(key_prefix),
            classify=gateway_classify,
            rate=20,
            seconds=2,
            timeout=10,
        )
        time.sleep(1.0)
        signalled_at = load.history.now()
        terminate = Terminate("gateway")
        terminate.apply()
        result = load.wait()
        terminate.heal()

    dropped = dropped_in_flight(result.history, signalled_at)
    assert not dropped, (
        f"SIGTERM dropped {len(dropped)} in-flight request(s) without a reply: "
        + ", ".join(dropped[:10])
    )
    no_lost_or_duplicated_writes(
        result.history, stored_order_keys(chaos, key_prefix), order_key, what="order"
    ).require()
    causes = {
        str(done.value["body"]["id"]): str(done.value["body"].get("request_id"))
        for _, done in acknowledged(result.history)
        if isinstance(done.value, dict) and isinstance(done.value.get("body"), dict)
    }
    events = [e for e in get_json(chaos, "gateway", "/audit") if str(e.get("order_id")) in causes]
    missing = sorted(set(causes) - {str(e.get("order_id")) for e in events})
    assert not missing, (
        f"{len(missing)} acknowledged order(s) lost their audit event across the SIGTERM "
        f"(the audit queue was not drained): {', '.join(missing[:10])}"
    )
    effects_carry_their_cause(
        causes, events, effect_key="order_id", effect_cause="request_id", what="audit event"
    ).require()
