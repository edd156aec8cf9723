"""Bounded concurrency (bulkheads): under overload with a slow downstream, a service's
goroutines stay under a ceiling set by its bulkhead, and the calls it cannot take are shed
at once (503 + Retry-After) instead of piling up."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

import pytest

from faults import Latency
from harness.checks import answers_within, status_counts, stays_under
from harness.environment import Environment
from harness.history import History
from harness.sampler import MetricSampler
from suites.reference import (
    GOROUTINES_PER_HELD_CALL,
    OTHER_GOROUTINES,
    gateway_setting_int,
    metric,
)

LINK = "gateway->inventory"
READ = "GET /products/1"
OFFERED_RATE = 200.0  # product reads per second, far beyond what 16 slow slots can carry
OVERLOAD_S = 2.5


def gateway_metric(chaos: Environment, name: str, **labels: str) -> float:
    value = metric(chaos, "gateway", name, **labels)
    if value is None:
        pytest.fail(f"the gateway does not export {name}")
    return value


def is_shed(reply: Mapping[str, Any]) -> bool:
    """A bulkhead refusal: 503 with Retry-After (an open breaker's would do too, but the
    breaker stays closed here: the downstream is slow, not failing)."""
    return reply.get("status") == 503 and "Retry-After" in (reply.get("headers") or {})


def slowed_answers(history: History, at_least_ms: float) -> int:
    return sum(
        1
        for _, done in history.completed()
        if isinstance(done.value, dict)
        and done.value.get("status") == 200
        and done.value.get("latency_ms", 0) >= at_least_ms
    )


@pytest.mark.pitfall("unbounded-concurrency")
def test_overload_on_a_slow_downstream_is_shed_and_goroutines_stay_bounded(
    chaos: Environment, gateway_deadline_ms: float
) -> None:
    bulkhead_size = gateway_setting_int(chaos, "BULKHEAD_SIZE", 16)
    slow_ms = int(gateway_deadline_ms / 2)  # below the deadline: calls succeed, hold a slot
    # An open breaker would refuse every call before the bulkhead ever filled up (the
    # suite's fixture closes breakers before each test).
    breaker = gateway_metric(chaos, "gateway_breaker_state", downstream="inventory")
    assert breaker == 0, f"the gateway's breaker for inventory is not closed (state {breaker})"

    # Warm up (pooled connections, lazily started goroutines), then measure the baseline
    # of an idle gateway as the median of a few scrapes.
    chaos.load("gateway", READ, rate=20, seconds=0.5)
    time.sleep(0.3)
    baseline = statistics.median(gateway_metric(chaos, "go_goroutines") for _ in range(5))
    ceiling = baseline + bulkhead_size * GOROUTINES_PER_HELD_CALL + OTHER_GOROUTINES

    sampler = MetricSampler(chaos, ["gateway"], interval_s=0.05, max_seconds=30)
    overload_start = time.monotonic()
    with sampler, Latency(LINK, ms=slow_ms):
        result = chaos.load(
            "gateway",
            READ,
            rate=OFFERED_RATE,
            seconds=OVERLOAD_S,
            timeout=gateway_deadline_ms * 3 / 1000,
        )
    history = result.history
    replies = status_counts(history)

    # The fault fired: calls that got a slot waited for the slow downstream.
    slowed = slowed_answers(history, slow_ms * 0.9)
    assert slowed > 0, f"no read was slowed by the {slow_ms} ms latency: replies {replies}"
    assert result.sent >= 0.9 * result.planned, f"the load fell behind: {result.summary()}"

    # Seconds since the overload began, so the peak's time reads as such in the message.
    series = [(t - overload_start, v) for t, v in sampler.series("gateway", "go_goroutines")]
    stays_under(
        series,
        ceiling,
        what="the gateway's go_goroutines",
        why=(
            f"idle baseline {baseline:g} + BULKHEAD_SIZE {bulkhead_size} x "
            f"{GOROUTINES_PER_HELD_CALL} per held call + {OTHER_GOROUTINES}; "
            f"{OFFERED_RATE:g} reads/s for {OVERLOAD_S:g} s on a downstream slowed by "
            f"{slow_ms} ms; replies {replies}"
        ),
        why_unobserved=sampler.why_unobserved("gateway", "go_goroutines"),
    ).require()

    shed = sum(1 for _, done in history.completed() if is_shed(done.value))
    assert shed > 0, (
        f"the gateway shed nothing under {OFFERED_RATE:g} reads/s with {slowed} calls "
        f"held {slow_ms} ms each by a slow inventory: no bulkhead (replies {replies})"
    )
    # A refusal makes no downstream call: it takes a few ms. Half the time a held call takes
    # leaves a wide margin for a busy machine and still tells shedding from queueing.
    answers_within(history, slow_ms / 2, epsilon_ms=0, select=is_shed).require()
