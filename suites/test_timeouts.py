"""Graceful timeouts: a slow downstream never makes a client wait past the gateway's deadline."""

from __future__ import annotations

import pytest

from faults import Latency
from harness.checks import answers_within, status_counts
from harness.environment import Environment
from harness.history import OK, History


def degraded_answers(history: History) -> int:
    return sum(
        1
        for _, done in history.completed(OK)
        if isinstance(done.value, dict) and (done.value.get("body") or {}).get("degraded")
    )


@pytest.mark.pitfall("no-deadline")
def test_latency_above_the_deadline_is_answered_504_within_it(
    chaos: Environment, gateway_deadline_ms: float
) -> None:
    with Latency("gateway->inventory", ms=int(gateway_deadline_ms * 3)):
        result = chaos.load(
            "gateway", "GET /products/1", rate=20, seconds=2, timeout=gateway_deadline_ms * 5 / 1000
        )

    # A graceful answer: 504 when the deadline passes, 503 once the breaker fails fast, or
    # 200 from the cache marked degraded. Never a client left waiting.
    answers_within(result.history, gateway_deadline_ms, statuses={200, 503, 504}).require()
    timed_out = status_counts(result.history).get(504, 0)
    assert timed_out + degraded_answers(result.history) > 0, "no request was slowed: no fault fired"


def test_without_faults_products_are_served(chaos: Environment, gateway_deadline_ms: float) -> None:
    result = chaos.load("gateway", "GET /products/1", rate=20, seconds=1)
    answers_within(result.history, gateway_deadline_ms, statuses={200}).require()
