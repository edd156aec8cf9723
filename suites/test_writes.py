"""Writes: no acknowledged write lost or duplicated, counters that agree with the history,
and no data race in the race-detector build."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from faults import HttpMalformed, Latency
from harness.checks import counter_between, no_lost_or_duplicated_writes, no_runtime_reports
from harness.environment import Environment
from harness.testscope import chaos_test
from suites.reference import (
    acknowledged,
    gateway_classify,
    metric,
    order_key,
    order_requests,
    stored_charge_refs,
    stored_order_keys,
)


@pytest.fixture(scope="module")
def race_environment(
    chaos_environment: Environment, chaos_environment_factory: Callable[..., Environment]
) -> Environment:
    """The same system, every service built with the race detector."""
    if chaos_environment.backend.name != "docker":
        pytest.skip("the race-detector builds run in containers: needs the docker backend")
    return chaos_environment_factory(race=True)


@pytest.fixture
def chaos_race(
    request: pytest.FixtureRequest, race_environment: Environment
) -> Iterator[Environment]:
    with chaos_test(request, race_environment) as env:
        yield env


@pytest.mark.pitfall("shared-counter-race")
def test_order_counter_agrees_with_the_history_and_no_race_is_reported(
    chaos_race: Environment, key_prefix: str
) -> None:
    mark = chaos_race.log_mark("gateway")
    before = metric(chaos_race, "gateway", "gateway_orders_handled_total") or 0.0

    # A burst against a slowed inventory: a bulkhead's worth of orders finish their
    # downstream calls together and store, count and answer back to back, each on its own
    # connection's goroutine. Spread-out orders are ordered by the locks they share, which
    # hides the race from the detector; a burst is what a race needs.
    with Latency("gateway->inventory", ms=100):
        result = chaos_race.load(
            "gateway",
            order_requests(key_prefix),
            classify=gateway_classify,
            rate=200,
            seconds=0.5,
            timeout=10,
        )
    assert result.max_in_flight > 1, "orders never overlapped: no concurrency was exercised"

    after = metric(chaos_race, "gateway", "gateway_orders_handled_total")
    counted = None if after is None else after - before
    no_runtime_reports(chaos_race, "gateway", since=mark, kinds=("data race",)).require()
    counter_between(
        counted,
        acknowledged=len(acknowledged(result.history)),
        attempted=result.sent,
        what="gateway_orders_handled_total",
    ).require()
    assert acknowledged(result.history), "no order was acknowledged: nothing was counted"


@pytest.mark.pitfall("unsafe-retry")
def test_retried_charges_take_effect_exactly_once(chaos: Environment, key_prefix: str) -> None:
    retries_before = metric(chaos, "gateway", "gateway_downstream_retries_total") or 0.0

    # Half of payment's replies are cut off after the charge was made: the gateway cannot
    # know whether it was, and retries.
    with HttpMalformed("gateway->payment", mode="truncate", rate=0.5):
        result = chaos.load(
            "gateway",
            order_requests(key_prefix),
            classify=gateway_classify,
            rate=10,
            seconds=2,
            timeout=5,
        )

    retried = (metric(chaos, "gateway", "gateway_downstream_retries_total") or 0.0) - retries_before
    assert retried > 0, "no call was retried: the fault did not fire"
    no_lost_or_duplicated_writes(
        result.history, stored_order_keys(chaos, key_prefix), order_key, what="order"
    ).require()
    charges = stored_charge_refs(chaos, key_prefix)
    # An order that failed may still have been charged (its reservation failed; a fan-out
    # is not compensated), but no order is ever charged twice.
    no_lost_or_duplicated_writes(
        result.history, charges, order_key, what="charge", failures_are_definite=False
    ).require()
