"""A link fault reaches a service that calls its downstream by its compose name.

tests/faults/compose.yml has the gateway call ``http://inventory:8080`` and names the link
``gateway->inventory``; there is no Toxiproxy in the file. Each fault below exists only in
the proxy the harness put on that link, so when the gateway's own answers change the way
its code says they must, its calls went through the proxy: its name resolution pointed
``inventory`` at it. Healing brings the fresh answers back.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from faults import Fault, HttpError, Latency, LinkDown, ResetPeer
from harness.environment import Environment
from tests.faults.support import COMPOSE, LINK

DEADLINE_S = 1.0  # the gateway's DOWNSTREAM_TIMEOUT in tests/faults/compose.yml


def read(env: Environment) -> tuple[int, dict[str, Any], float]:
    """A product read from the gateway: status, JSON body, seconds it took."""
    started = time.monotonic()
    reply = requests.get(env.url("gateway") + "/products/1", timeout=10)
    return reply.status_code, reply.json(), time.monotonic() - started


def fresh(env: Environment) -> None:
    status, body, _ = read(env)
    assert (status, body.get("degraded", False)) == (200, False), body


def test_the_compose_file_names_no_proxy_address() -> None:
    text = COMPOSE.read_text()
    assert "INVENTORY_URL: http://inventory:8080" in text
    assert "toxiproxy" not in text.lower().replace("# ", "")
    assert "18081" not in text


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        # Slower than the gateway's deadline: it gives up and answers 504 at the deadline.
        (Latency(LINK, ms=2500), "timeout"),
        # The connection reset under it: inventory unreachable, the cached copy, degraded.
        (ResetPeer(LINK, after_ms=0), "degraded"),
        # Inventory (as the gateway sees it) answers 503: unreachable too, degraded.
        (HttpError(LINK, status=503), "degraded"),
        # The proxy refuses connections: degraded.
        (LinkDown(LINK), "degraded"),
    ],
    ids=lambda value: value.kind if isinstance(value, Fault) else str(value),
)
def test_a_fault_on_the_link_changes_what_the_caller_answers_and_heal_restores_it(
    link_env: Environment, fault: Fault, expected: str
) -> None:
    fresh(link_env)  # a fresh read first: the gateway caches it for its degraded answers
    with fault:
        status, body, took = read(link_env)
    if expected == "timeout":
        assert status == 504, body
        assert DEADLINE_S * 0.9 <= took < DEADLINE_S + 1.0, took
    else:
        assert (status, body.get("degraded")) == (200, True), body
    fresh(link_env)
