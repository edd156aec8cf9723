"""Read availability under partition: when a downstream cannot be reached, reads keep
being answered from the last good copy, marked degraded, instead of failing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from faults import LinkDown
from harness.checks import available_at_least, status_counts
from harness.environment import Environment
from harness.history import OK
from harness.load import RequestSpec

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


@pytest.mark.pitfall("no-fallback")
def test_product_reads_stay_available_degraded_while_inventory_is_partitioned(
    chaos: Environment,
) -> None:
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
    available_at_least(
        partitioned.history,
        TARGET,
        degraded=is_degraded,
        what=f"product reads from the gateway while {LINK} was down",
    ).require()
