"""Goroutine leaks: after load stops and faults heal, a service's goroutines return to
their baseline; a leak is reported with the leaked stacks, grouped by stack."""

from __future__ import annotations

import pytest

from faults import Latency
from harness.checks import goroutine_baseline, no_leaked_goroutines, status_counts
from harness.environment import Environment
from harness.history import INFO


@pytest.mark.pitfall("leak-on-timeout")
def test_timeouts_leave_no_goroutines_behind(
    chaos: Environment, gateway_deadline_ms: float
) -> None:
    # Warm up first so pooled connections and lazily started goroutines are in the baseline.
    chaos.load("gateway", "GET /products/1", rate=20, seconds=0.5)
    baseline = goroutine_baseline(chaos, "gateway")

    with Latency("gateway->inventory", ms=int(gateway_deadline_ms * 1.5)):
        result = chaos.load("gateway", "GET /products/1", rate=20, seconds=2)
    assert status_counts(result.history).get(504, 0) > 0, "no request timed out: no fault fired"

    no_leaked_goroutines(chaos, baseline).require()


@pytest.mark.pitfall("ctx-ignored-in-middleware")
def test_clients_that_give_up_leave_no_goroutines_behind(
    chaos: Environment, gateway_deadline_ms: float
) -> None:
    chaos.load("gateway", "GET /products/2", rate=20, seconds=0.5)
    baseline = goroutine_baseline(chaos, "gateway")

    # Slow, but inside the deadline; the clients give up long before.
    with Latency("gateway->inventory", ms=int(gateway_deadline_ms * 0.6)):
        result = chaos.load("gateway", "GET /products/2", rate=20, seconds=2, timeout=0.15)
    gave_up = len(result.history.completed(INFO))
    assert gave_up > 0, "no client gave up: no fault fired"

    no_leaked_goroutines(chaos, baseline).require()
