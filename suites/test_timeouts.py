"""Graceful timeouts: a slow, silent or failing downstream never makes a client wait past
the gateway's budget; every request is answered in time, with a graceful refusal at worst."""

from __future__ import annotations

import pytest

from faults import Blackhole, HttpError, Latency
from harness.checks import answers_within, goroutine_baseline, no_leaked_goroutines, status_counts
from harness.environment import Environment
from harness.history import OK, History
from suites.reference import order_requests


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


@pytest.mark.pitfall("no-deadline")
def test_orders_against_a_silent_payment_are_answered_within_their_budget(
    chaos: Environment, order_budget_ms: float, key_prefix: str
) -> None:
    with Blackhole("gateway->payment"):
        result = chaos.load(
            "gateway",
            order_requests(key_prefix),
            rate=10,
            seconds=2,
            timeout=order_budget_ms * 3 / 1000,
        )

    answers_within(result.history, order_budget_ms, statuses={503, 504}).require()
    assert status_counts(result.history).get(504, 0) > 0, "no order timed out: no fault fired"


@pytest.mark.pitfall("waitgroup-misuse")
def test_orders_fail_fast_and_clean_when_one_side_of_the_fan_out_errors(
    chaos: Environment, order_budget_ms: float, key_prefix: str
) -> None:
    chaos.load("gateway", order_requests(key_prefix + "w"), rate=10, seconds=0.5)
    baseline = goroutine_baseline(chaos, "gateway")

    with HttpError("gateway->payment", status=500, rate=1.0):
        result = chaos.load(
            "gateway",
            order_requests(key_prefix),
            rate=10,
            seconds=2,
            timeout=order_budget_ms * 3 / 1000,
        )

    answers_within(result.history, order_budget_ms, statuses={502, 503, 504}).require()
    failed = sum(
        n for status, n in status_counts(result.history).items() if status and status >= 500
    )
    assert failed > 0, "no order failed: no fault fired"
    no_leaked_goroutines(chaos, baseline).require()
