"""Fixtures shared by the chaos suites against the reference system in compose/."""

from __future__ import annotations

import uuid

import pytest

from harness.environment import Environment
from suites.reference import close_breakers, gateway_setting_ms


@pytest.fixture(autouse=True)
def breakers_closed(request: pytest.FixtureRequest) -> None:
    """Every test starts with the gateway's breakers closed, whatever the last one did.

    The harness heals faults between tests; a breaker's memory of them is the service's
    own state, which only traffic clears. A bug that keeps it open fails the test itself.
    """
    for name in ("chaos", "chaos_race"):
        if name in request.fixturenames:
            close_breakers(request.getfixturevalue(name))


@pytest.fixture
def gateway_deadline_ms(chaos: Environment) -> float:
    """The gateway's per-call downstream deadline, as the compose file configures it."""
    return gateway_setting_ms(chaos, "DOWNSTREAM_TIMEOUT", "1s")


@pytest.fixture
def order_budget_ms(chaos: Environment) -> float:
    """The whole budget of a POST /orders (REQUEST_TIMEOUT)."""
    return gateway_setting_ms(chaos, "REQUEST_TIMEOUT", "2s")


@pytest.fixture
def key_prefix() -> str:
    """Orders outlive a test (they are on a volume): each test tells its own by this prefix."""
    return f"t{uuid.uuid4().hex[:10]}"
