"""The reference system (compose/) as the exploration sees it: its workload and its own
invariants. The engine (:mod:`harness.explore`) breaks it and checks what holds for any
service; this model adds what only holds for a gateway with breakers, bulkheads, orders
and an audit trail.

The workload, both to the gateway:

- product reads (``GET /products/1`` to ``/3``), budget DOWNSTREAM_TIMEOUT; a read is
  never answered 500 (the gateway's contract maps every downstream failure to 502/503/504
  or a degraded 200), and reads may be sent as an overload;
- orders (``POST /orders``), budget REQUEST_TIMEOUT, each with its own Idempotency-Key
  and X-Request-ID, so what was stored can be told apart burst by burst.

The invariants, none of which knows which bug is on:

- breaker trips: a burst of at least twice BREAKER_FAILURES patient requests while one
  downstream is cut off (its link down; the service killed, stopped, frozen or unplugged)
  opens that downstream's breaker, unless it was open already (judged when the replies
  show at least BREAKER_FAILURES failed calls to it and none that it answered);
- breaker recovers after heal: with every fault healed, healthy traffic closes every
  breaker within BREAKER_TIMEOUT + epsilon (an example starts with them closed, on a fresh
  gateway if an earlier example left one open for good);
- bounded concurrency: during a burst, the gateway's goroutines stay under its idle count
  + BULKHEAD_SIZE slow calls per downstream (``GOROUTINES_PER_HELD_CALL`` each) + a margin;
- no lost or duplicated writes: every acknowledged order stored exactly once, no order
  charged twice;
- trace consistency: audit events carry the request ID of the order that caused them, and
  unless the schedule SIGKILLed the gateway, every acknowledged order has its audit event
  (a SIGTERM drains the audit queue);
- counter consistency: gateway_orders_handled_total moved by between the acknowledged and
  the sent orders;
- the state adds up, once the system is quiet (``state_checks``, read from the services'
  own endpoints over everything stored so far): for every product, its stock plus every
  unit reserved of it is INITIAL_STOCK (inventory takes stock and records the reservation
  in one transaction, and nothing gives stock back); and every stored order has exactly
  one charge (the gateway stores an order only once its charge succeeded, and retries a
  charge under the same key, which payment deduplicates).
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any

from faults import Disconnect, LinkDown, ProcessFault, Restart
from harness.checks import (
    Outcome,
    Verdict,
    counter_between,
    effects_carry_their_cause,
    no_lost_or_duplicated_writes,
    stays_under,
)
from harness.environment import Environment
from harness.explore import Burst, ExampleRun, Operation, StateCheck, SystemModel, read_json
from harness.explore.invariants import Rank
from harness.load import Outcome as Reply
from harness.probes import sample
from harness.topology import Topology
from suites.reference import (
    GOROUTINES_PER_HELD_CALL,
    OTHER_GOROUTINES,
    acknowledged,
    close_breakers,
    gateway_classify,
    gateway_setting_int,
    gateway_setting_ms,
    get_json,
    metric,
    order_key,
    order_requests,
)

__all__ = ["GATEWAY", "ORDERS", "ReferenceModel", "read_well_formed"]

GATEWAY = "gateway"
DOWNSTREAMS = ("inventory", "payment")
ORDERS = "POST /orders"
READS = ("GET /products/1", "GET /products/2", "GET /products/3")
OPENED = "gateway_breaker_transitions_total"  # labelled downstream, to
AUDIT_WAIT_S = 3.0
INITIAL_STOCK = 1_000_000  # inventory's default, unless its environment sets INITIAL_STOCK


def read_well_formed(reply: Mapping[str, Any]) -> bool:
    """A JSON body, and never a 500 for a product read (502/503/504 or a degraded 200)."""
    return reply.get("body") is not None and reply.get("status") != 500


class ReferenceModel(SystemModel):
    """The gateway, its two downstreams, and what they promise."""

    sampled = (GATEWAY,)  # its goroutines and breakers, during every burst

    def __init__(self) -> None:
        self.orders_before: float | None = None  # gateway_orders_handled_total at the start

    def operations(self, topology: Topology) -> Sequence[Operation]:
        return [
            Operation(
                "product read",
                GATEWAY,
                READS,
                budget_ms=gateway_setting_ms(topology, "DOWNSTREAM_TIMEOUT", "1s"),
                well_formed=read_well_formed,
                overload=True,
            ),
            Operation(
                "order",
                GATEWAY,
                (ORDERS,),
                budget_ms=gateway_setting_ms(topology, "REQUEST_TIMEOUT", "2s"),
                per_burst=lambda line, key: order_requests(key),
            ),
        ]

    def classify(self, outcome: Reply) -> str:
        return gateway_classify(outcome)

    def state_checks(self, topology: Topology) -> Sequence[StateCheck]:
        initial = int(topology.service("inventory").environment.get("INITIAL_STOCK", INITIAL_STOCK))
        return [
            StateCheck(
                "stock + reserved = initial",
                read=_stock_and_reservations,
                violations=lambda state: _stock_violations(state, initial),
            ),
            StateCheck(
                "one charge per acknowledged order",
                read=_orders_and_charges,
                violations=_charge_violations,
            ),
        ]

    def rank(self, verdict: Verdict) -> Rank:
        if verdict.check.startswith("breaker"):
            return Rank.RECOVERY  # a breaker that never opens, or never closes again
        if "bounded" in verdict.check:
            return Rank.RESOURCES
        return Rank.STATE  # writes, the audit trail, counters

    def settle_s(self, operations: Sequence[Operation]) -> float:
        return 6.0  # in-flight work (REQUEST_TIMEOUT + the audit's own budget) ends by then

    def periods_s(self, topology: Topology) -> Sequence[float]:
        # An open breaker lets a probe through after BREAKER_TIMEOUT: a fault held longer
        # sees the probe fail and the breaker open again.
        return (gateway_setting_ms(topology, "BREAKER_TIMEOUT", "1s") / 1000,)

    # -- start --------------------------------------------------------------------------

    def start(self, example: ExampleRun) -> Iterator[Verdict]:
        env = example.env
        if not close_breakers(env):
            # An earlier example (a failing one, or a candidate Hypothesis tried while
            # shrinking) left a breaker open for good. A fresh gateway process is the
            # baseline then, so that this example is judged by its own steps alone.
            env.events.progress(
                "a breaker stayed open after an earlier example: restarting gateway"
            )
            env.restart(GATEWAY)
        if not close_breakers(env):
            yield Verdict.failing(
                "breaker recovers after heal",
                "at the start of the example, on a freshly restarted gateway, the breakers "
                "did not close under healthy traffic",
            )
        self.orders_before = metric(env, GATEWAY, "gateway_orders_handled_total")

    # -- after each burst ---------------------------------------------------------------

    def after_burst(self, example: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        yield from self._bounded_concurrency(example, burst)
        if burst.judged:
            cut = _cut_off(example, burst, orders=burst.step.request == ORDERS)
            if cut is not None:
                yield from self._breaker_tripped(example, burst, cut)

    def _bounded_concurrency(self, example: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        baseline = example.baselines.get(GATEWAY)
        idle = baseline.count if baseline is not None else None
        if idle is None or GATEWAY in example.replaced or burst.metrics is None:
            return
        slots = gateway_setting_int(example.env, "BULKHEAD_SIZE", 16)
        ceiling = idle + len(DOWNSTREAMS) * slots * GOROUTINES_PER_HELD_CALL + OTHER_GOROUTINES
        series = burst.metrics.series(GATEWAY, "go_goroutines")
        start = series[0][0] if series else 0.0
        verdict = stays_under(
            [(t - start, value) for t, value in series],
            ceiling,
            what="the gateway's go_goroutines",
            why=(
                f"idle {idle:g} + {len(DOWNSTREAMS)} downstreams x BULKHEAD_SIZE {slots} x "
                f"{GOROUTINES_PER_HELD_CALL} per slow call + {OTHER_GOROUTINES}"
            ),
        )
        if verdict.outcome is Outcome.FAIL:
            yield verdict

    def _breaker_tripped(
        self, example: ExampleRun, burst: Burst, downstream: str
    ) -> Iterator[Verdict]:
        failures = gateway_setting_int(example.env, "BREAKER_FAILURES", 5)
        before = burst.before(GATEWAY)
        if burst.sent < 2 * failures or before is None:
            return
        labels = {"downstream": downstream}
        state_before = sample(before, "gateway_breaker_state", labels) or 0.0
        opened_before = sample(before, OPENED, {**labels, "to": "open"}) or 0.0
        opened_after = metric(example.env, GATEWAY, OPENED, downstream=downstream, to="open")
        name = "breaker trips"
        if state_before != 0 or (opened_after or 0.0) > opened_before:
            yield Verdict.passing(name, f"the breaker for {downstream} opened")
            return
        # The fault says every call failed; the replies must say so too before a closed
        # breaker is a finding (a call the fault did not reach, or one that never left
        # the gateway, says nothing of the breaker).
        failed, answered = _calls_seen(burst, downstream)
        if answered:
            yield Verdict.unknown(
                name,
                f"{answered} of {burst.sent} replies show {downstream} answering while it was "
                "cut off, so not every call to it failed; whether the breaker should have "
                "opened cannot be told",
            )
            return
        if failed < failures:
            yield Verdict.unknown(
                name,
                f"only {failed} of {burst.sent} replies show a failed call to {downstream}, "
                f"fewer than BREAKER_FAILURES ({failures}): whether the breaker should have "
                "opened cannot be told",
            )
            return
        yield Verdict.failing(
            name,
            f"{burst.sent} requests went to the gateway while {downstream} was cut off, and "
            f"{failed} replies show a failed call to it, yet the gateway's breaker for "
            f"{downstream} stayed "
            f"closed (BREAKER_FAILURES is {failures}): calls to a dead downstream are not "
            "cut short",
        )

    # -- end ----------------------------------------------------------------------------

    def end(self, example: ExampleRun) -> Iterator[Verdict]:
        env = example.env
        orders = [b for b in example.bursts if b.step.request == ORDERS]
        if orders and GATEWAY not in example.replaced and self.orders_before is not None:
            after = metric(env, GATEWAY, "gateway_orders_handled_total")
            acked = sum(len(acknowledged(b.history)) for b in orders)
            sent = sum(b.sent for b in orders)
            counted = None if after is None else after - self.orders_before
            yield counter_between(counted, acked, sent, what="gateway_orders_handled_total")
        breaker_s = gateway_setting_ms(env, "BREAKER_TIMEOUT", "1s") / 1000
        if not close_breakers(env, timeout_s=breaker_s + 3.0):
            yield Verdict.failing(
                "breaker recovers after heal",
                f"every fault was healed, yet a gateway breaker was not closed "
                f"{breaker_s + 3.0:.1f} s later under healthy traffic: it is stuck open",
            )
        else:
            yield Verdict.passing("breaker recovers after heal", "all breakers closed")
        if orders:
            yield from self._writes(example, orders)

    def _writes(self, example: ExampleRun, orders: list[Burst]) -> Iterator[Verdict]:
        env = example.env
        stored = [str(o.get("idempotency_key")) for o in get_json(env, GATEWAY, "/orders")]
        charges = [str(c.get("order_ref")) for c in get_json(env, "payment", "/charges")]
        causes: dict[Hashable, str] = {}
        for b in orders:
            mine = [k for k in stored if k.startswith(b.key + "-")]
            charged = [k for k in charges if k.startswith(b.key + "-")]
            yield no_lost_or_duplicated_writes(b.history, mine, order_key, what="order")
            yield no_lost_or_duplicated_writes(
                b.history, charged, order_key, what="charge", failures_are_definite=False
            )
            for invoke, done in acknowledged(b.history):
                order = done.value.get("body") if isinstance(done.value, dict) else None
                headers = invoke.value.get("headers", {}) if isinstance(invoke.value, dict) else {}
                if isinstance(order, dict) and "X-Request-ID" in headers:
                    causes[str(order.get("id"))] = str(headers["X-Request-ID"])
        if causes:
            yield effects_carry_their_cause(
                causes,
                _audit(example, {str(k) for k in causes}),
                effect_key="order_id",
                effect_cause="request_id",
                what="audit event",
                # A SIGKILL may lose queued events; a SIGTERM must drain them.
                complete=GATEWAY not in example.killed,
            )


def _cut_off(example: ExampleRun, burst: Burst, *, orders: bool) -> str | None:
    """The one downstream every call to which fails under the faults held for the whole
    burst (its link down; the service killed, stopped, frozen or unplugged), if the burst
    calls it. A fault that landed half-way through the burst does not count: the calls
    before it went through.

    Only one: with two cut off, an order's failing call cancels the other, and a cancelled
    call rightly does not count against a breaker.
    """
    cut: set[str] = set()
    for fault in burst.held:
        data = fault.to_json()
        if isinstance(fault, LinkDown):
            cut.add(example.env.topology.links[str(data["link"])].upstream_service)
        elif isinstance(fault, ProcessFault | Disconnect) and not isinstance(fault, Restart):
            cut.add(str(data["service"]))
    called = set(DOWNSTREAMS) if orders else {"inventory"}
    cut &= set(DOWNSTREAMS)
    return next(iter(cut)) if len(cut) == 1 and cut <= called else None


def _calls_seen(burst: Burst, downstream: str) -> tuple[int, int]:
    """(replies that show a failed call to ``downstream``, replies that show it answering),
    read from the burst's replies: the gateway names the downstream in a 502/504's error,
    and answers a product read from its cache (degraded) when inventory's call failed."""
    failed = answered = 0
    for _, done in burst.history.completed():
        reply = done.value if isinstance(done.value, dict) else {}
        status, body = reply.get("status"), reply.get("body")
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
        degraded = isinstance(body, dict) and body.get("degraded") is True
        named = status in (502, 504) and error.startswith(f"{downstream}:")
        if named or (degraded and downstream == "inventory"):
            failed += 1
        elif isinstance(status, int) and status < 300 and not degraded:
            answered += 1  # a read or an order that called it and got its answer
    return failed, answered


def _audit(example: ExampleRun, order_ids: set[str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + AUDIT_WAIT_S
    while True:
        events: list[dict[str, Any]] = get_json(example.env, GATEWAY, "/audit")
        found = {str(e.get("order_id")) for e in events}
        if order_ids <= found or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def _stock_and_reservations(env: Environment) -> tuple[Any, Any]:
    return read_json(env, "inventory", "/products"), read_json(env, "inventory", "/reservations")


def _stock_violations(state: tuple[Any, Any], initial: int) -> Iterator[str]:
    products, reservations = state
    reserved: dict[int, int] = {}
    for r in reservations:
        reserved[int(r["item"])] = reserved.get(int(r["item"]), 0) + int(r["quantity"])
    for product in products:
        item, stock = int(product["id"]), int(product["stock"])
        taken = reserved.get(item, 0)
        if stock + taken != initial:
            yield (
                f"product {item}: stock {stock} + reserved {taken} = {stock + taken}, not the "
                f"initial {initial} ({stock + taken - initial:+d})"
            )


def _orders_and_charges(env: Environment) -> tuple[Any, Any]:
    return read_json(env, GATEWAY, "/orders"), read_json(env, "payment", "/charges")


def _charge_violations(state: tuple[Any, Any]) -> Iterator[str]:
    orders, charges = state
    per_order: dict[str, int] = {}
    for charge in charges:
        ref = str(charge.get("order_ref"))
        per_order[ref] = per_order.get(ref, 0) + 1
    for order in orders:
        key = str(order.get("idempotency_key"))
        count = per_order.get(key, 0)
        if count != 1:
            yield f"order {order.get('id')} (key {key}) has {count} charges, not one"
