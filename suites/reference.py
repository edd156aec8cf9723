"""Helpers for chaos suites against the reference system in compose/: its settings, its
requests, and reading back what it stored."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Mapping
from typing import Any

import requests
import tenacity

from harness.environment import Environment
from harness.history import FAIL, OK, History, Op
from harness.load import Outcome, RequestFactory, RequestSpec, default_classify
from harness.probes import fetch_metrics, sample
from harness.topology import Topology

_GO_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)$")
_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0}


# Under overload the gateway's goroutines stay under
# baseline + BULKHEAD_SIZE * GOROUTINES_PER_HELD_CALL + OTHER_GOROUTINES (per downstream held).
# Goroutines one call holds in the gateway while it waits on the slow downstream: the
# server's connection goroutine and its background reader, the handler's worker
# (SafeGo), the slow-request watchdog, and the HTTP transport's read and write loops of
# the downstream connection: six, plus one for goroutines that come and go with a call.
GOROUTINES_PER_HELD_CALL = 7
# Besides the held calls: refusals being answered (a few ms each, so only a handful at a
# time at 200 reads/s) and the keep-alive connections the load generator holds open
# (one server goroutine each, ~20-30 here). Measured on the correct build (idle baseline
# 12): peaks of 112-126, so about 100-115 above baseline against the 172 allowed; with
# no bulkhead, every read of the 2.5 s holds its goroutines for the whole 500 ms
# (~100 calls at once) and the peak passes 600.
OTHER_GOROUTINES = 60


def go_duration_ms(text: str) -> float:
    """Milliseconds in a Go duration such as '1s' or '250ms' (the forms the services read)."""
    match = _GO_DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a Go duration like 1s or 250ms")
    return float(match.group(1)) * _MS[match.group(2)]


def gateway_setting_ms(system: Environment | Topology, name: str, default: str) -> float:
    """A duration setting of the gateway, as the compose file configures it, in ms."""
    return go_duration_ms(_gateway_environment(system).get(name, default))


def gateway_setting_int(system: Environment | Topology, name: str, default: int) -> int:
    """A count setting of the gateway (BULKHEAD_SIZE, say), as the compose file configures it."""
    return int(_gateway_environment(system).get(name, str(default)))


def _gateway_environment(system: Environment | Topology) -> Mapping[str, str]:
    topology = system.topology if isinstance(system, Environment) else system
    return topology.service("gateway").environment


def order_requests(prefix: str) -> RequestFactory:
    """POST /orders with a unique Idempotency-Key and X-Request-ID per request."""

    def make(index: int) -> RequestSpec:
        headers = {"Idempotency-Key": f"{prefix}-{index}", "X-Request-ID": f"{prefix}-req-{index}"}
        return "POST", "/orders", headers, {"item": 1 + index % 5, "quantity": 1}

    make.__name__ = "POST /orders"
    return make


def gateway_classify(outcome: Outcome) -> str:
    """The gateway's contract: a 503 (breaker open, bulkhead full) is answered before any
    work is done, so a refused order surely had no effect, unlike a 503 in general."""
    if outcome.status == 503:
        return FAIL
    return default_classify(outcome)


def order_key(invoke: Op, done: Op) -> str | None:
    """The Idempotency-Key a POST /orders was sent with (what set-full checks count)."""
    if not isinstance(invoke.value, dict) or invoke.value.get("method") != "POST":
        return None
    headers = invoke.value.get("headers") or {}
    key = headers.get("Idempotency-Key")
    return str(key) if key else None


def get_json(env: Environment, service: str, path: str) -> Any:
    reply = requests.get(env.url(service) + path, timeout=10)
    reply.raise_for_status()
    return reply.json()


def metric(env: Environment, service: str, name: str, **labels: str) -> float | None:
    return sample(fetch_metrics(env.url(service)), name, labels or None)


def stored_order_keys(env: Environment, prefix: str) -> list[str]:
    """Idempotency keys of the gateway's stored orders that this test created."""
    orders = get_json(env, "gateway", "/orders")
    keys = [str(o.get("idempotency_key")) for o in orders]
    return [k for k in keys if k.startswith(prefix + "-")]


def stored_charge_refs(env: Environment, prefix: str) -> list[str]:
    """The order_ref of every charge payment stored for this test's orders (repeats kept)."""
    refs = [str(c.get("order_ref", "")) for c in get_json(env, "payment", "/charges")]
    return [ref for ref in refs if ref.startswith(prefix + "-")]


def acknowledged(history: History) -> list[tuple[Op, Op]]:
    """The POST /orders that were answered 201 Created."""
    return [
        (invoke, done)
        for invoke, done in history.completed(OK)
        if isinstance(done.value, dict) and done.value.get("status") == 201
    ]


class BreakerOpen(Exception):
    """A gateway breaker is not closed yet."""


def close_breakers(env: Environment, timeout_s: float = 10.0) -> bool:
    """Drive the gateway's breakers back to closed after an earlier test tripped them.

    An open breaker only closes after its timeout *and* a successful probe, so a quiet
    system keeps it open forever: send a product read and an order (each touches one
    downstream) until every breaker reads closed. True when they all did in time.
    """

    @tenacity.retry(
        retry=tenacity.retry_if_exception_type(BreakerOpen),
        stop=tenacity.stop_after_delay(timeout_s),
        # Checked often: an open breaker half-opens BREAKER_TIMEOUT after it opened, and
        # every poll past that is time an exploration's example waits for nothing.
        wait=tenacity.wait_exponential(multiplier=0.05, max=0.25),
        reraise=True,
    )
    def settle() -> None:
        states = fetch_metrics(env.url("gateway")).get("gateway_breaker_state", {})
        if all(value == 0 for value in states.values()):
            return
        base = env.url("gateway")
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{base}/products/1", timeout=3)
            requests.post(
                f"{base}/orders",
                json={"item": 1, "quantity": 1},
                headers={"Idempotency-Key": f"settle-{uuid.uuid4().hex}"},
                timeout=3,
            )
        raise BreakerOpen

    try:
        settle()
    except BreakerOpen:
        return False
    return True
