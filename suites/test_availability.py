"""Read availability under partition: when a downstream cannot be reached, reads keep
being answered from the last good copy, marked degraded, instead of failing."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from faults import LinkDown
from harness.checks import available_at_least, status_counts
from harness.environment import Environment
from harness.history import OK
from harness.load import RequestSpec
from harness.probes import fetch_metrics, sample

LINK = "gateway->inventory"
PRODUCTS = range(1, 6)  # the products read (and so cached) before the partition
READ_RATE = 40.0
PARTITION_S = 2.0
TARGET = 0.95  # every read has a cached copy: anything short of (almost) all is a miss


def read_products(index: int) -> RequestSpec:
    """Reads that cycle over PRODUCTS."""
    return "GET", f"/products/{PRODUCTS[index % len(PRODUCTS)]}", None, None


def is_degraded(reply: Mapping[str, Any]) -> bool:
    return bool((reply.get("body") or {}).get("degraded"))


def breaker_state(chaos: Environment) -> float | None:
    metrics = fetch_metrics(chaos.url("gateway"), "/metrics", timeout=1.0)
    return sample(metrics, "gateway_breaker_state", {"downstream": "inventory"})


def wait_until_breaker_closed(chaos: Environment, timeout_s: float) -> None:
    """Healthy reads let an open breaker probe and close, so tests start (and leave the
    system) with inventory reachable through a closed breaker."""
    deadline = time.monotonic() + timeout_s
    while breaker_state(chaos) != 0:
        if time.monotonic() > deadline:
            pytest.fail(f"the gateway's breaker for inventory did not close within {timeout_s} s")
        chaos.load("gateway", "GET /products/1", rate=10, seconds=0.2)


@pytest.mark.pitfall("no-fallback")
def test_product_reads_stay_available_degraded_while_inventory_is_partitioned(
    chaos: Environment,
) -> None:
    wait_until_breaker_closed(chaos, 3.0)
    # Warm the gateway's cache: one good read of every product the test will ask for.
    warm = chaos.load("gateway", read_products, rate=20, seconds=len(PRODUCTS) / 20)
    fresh = [
        done.value
        for _, done in warm.history.completed(OK)
        if done.value.get("status") == 200 and not is_degraded(done.value)
    ]
    assert len(fresh) == len(PRODUCTS), (
        f"reading products {list(PRODUCTS)} before the partition did not succeed: "
        f"replies {status_counts(warm.history)}"
    )

    with LinkDown(LINK):
        partitioned = chaos.load("gateway", read_products, rate=READ_RATE, seconds=PARTITION_S)
    try:
        available_at_least(
            partitioned.history,
            TARGET,
            degraded=is_degraded,
            what=f"product reads from the gateway while {LINK} was down",
        ).require()
    finally:
        wait_until_breaker_closed(chaos, 5.0)
