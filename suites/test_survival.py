"""Survival: replies a service does not expect (malformed, wrong-typed, late) never crash
it, never drop a connection, and never produce a malformed answer."""

from __future__ import annotations

import pytest

from faults import HttpMalformed, Latency
from harness.checks import no_runtime_reports, replies_well_formed, snapshot, survives
from harness.environment import Environment
from suites.reference import metric, order_requests


@pytest.mark.pitfall("panic-in-goroutine")
def test_gateway_survives_wrong_typed_product_replies(chaos: Environment) -> None:
    before = snapshot(chaos, "gateway")
    recovered_before = metric(chaos, "gateway", "panics_recovered_total") or 0.0

    with HttpMalformed("gateway->inventory", mode="wrong_type", rate=1.0):
        chaos.load("gateway", "GET /products/3", rate=10, seconds=2, timeout=3)

    survives(chaos, "gateway", before).require()
    recovered = (metric(chaos, "gateway", "panics_recovered_total") or 0.0) - recovered_before
    assert recovered > 0, "no panic was provoked: the malformed replies did not reach the code"


@pytest.mark.pitfall("no-recovery")
def test_every_order_gets_a_reply_when_downstream_replies_are_wrong_typed(
    chaos: Environment, key_prefix: str
) -> None:
    before = snapshot(chaos, "gateway")
    with HttpMalformed("gateway->payment", mode="wrong_type", rate=1.0):
        result = chaos.load("gateway", order_requests(key_prefix), rate=10, seconds=2, timeout=5)

    replies_well_formed(result.history).require()
    survives(chaos, "gateway", before).require()
    assert any(
        isinstance(done.value, dict) and (done.value.get("status") or 0) >= 500
        for _, done in result.history.completed()
    ), "no order failed: the malformed replies did not reach the code"


@pytest.mark.pitfall("response-from-goroutine")
def test_replies_stay_well_formed_when_the_worker_races_the_deadline(
    chaos: Environment, gateway_deadline_ms: float
) -> None:
    mark = chaos.log_mark("gateway")
    before = snapshot(chaos, "gateway")
    deadline = int(gateway_deadline_ms)

    # Downstream answers land just before or just after the deadline, so the worker that
    # fetched them and the handler that gave up on them race to write the reply.
    with Latency("gateway->inventory", ms=deadline, jitter_ms=deadline // 10):
        result = chaos.load("gateway", "GET /products/4", rate=20, seconds=3, timeout=3)

    replies_well_formed(result.history).require()
    no_runtime_reports(
        chaos, "gateway", since=mark, also=("superfluous response.WriteHeader",)
    ).require()
    survives(chaos, "gateway", before).require()
    assert any(
        isinstance(done.value, dict) and done.value.get("status") == 504
        for _, done in result.history.completed()
    ), "no request reached the deadline: no race was provoked"
