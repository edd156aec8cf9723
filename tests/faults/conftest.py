"""Fixtures for the fault tests: a second running system whose proxied link the test
process can reach directly (the link and the HTTP client are in :mod:`tests.faults.support`).

The reference system (the plugin's ``chaos`` fixture) is used where a fault is observed on
a service itself (process faults). Link faults are observed through the proxy: the
gateway's retries, circuit breaker and cached fallback would stand between the test and
the link and turn different faults into the same degraded answer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from faults.base import using_target
from harness.environment import Environment
from harness.labels import new_session_id
from harness.settings import Settings
from harness.topology import Topology, load_topology
from tests.faults.support import COMPOSE, LINK, fetch, median


@pytest.fixture(scope="session")
def link_topology() -> Topology:
    return load_topology(COMPOSE)


@pytest.fixture(scope="session")
def link_environment(chaos_settings: Settings, link_topology: Topology) -> Iterator[Environment]:
    """The reference services with the link's port published; removed at session end."""
    from harness.backends.docker import DockerBackend

    env = Environment(
        link_topology,
        DockerBackend(new_session_id()),
        startup_timeout_s=chaos_settings.startup_timeout_s,
        seed=chaos_settings.seed,
    )
    with env:
        yield env


@pytest.fixture(scope="session")
def baseline_ms(link_environment: Environment) -> float:
    """How long a healthy request through the link takes (median of a few)."""
    address = link_environment.link_address(LINK)
    fetch(address)  # the first connection pays for Toxiproxy's upstream dial warm-up
    return median([fetch(address).elapsed_ms for _ in range(5)])


@pytest.fixture
def link_env(link_environment: Environment) -> Iterator[Environment]:
    """Like ``chaos``: healed at the start, the current fault target, checked at the end."""
    link_environment.reset()
    with using_target(link_environment):
        yield link_environment
    link_environment.assert_healed()


@pytest.fixture
def link_address(link_env: Environment) -> tuple[str, int]:
    return link_env.link_address(LINK)
