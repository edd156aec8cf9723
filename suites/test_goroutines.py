"""Goroutine leaks: after load stops and faults heal, a service's goroutines return to baseline."""

from __future__ import annotations

import pytest

from faults import Latency
from harness.checks import goroutine_baseline, no_leaked_goroutines, status_counts
from harness.environment import Environment


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
