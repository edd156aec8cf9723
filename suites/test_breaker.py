"""Circuit breakers: a failing downstream trips the breaker, which then fails fast, stops
the calls to that downstream, and closes again soon after the downstream heals."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from faults import Fault, HttpError, Latency
from harness.checks import GOBREAKER_STATES, Verdict, breaker_trips_and_recovers, status_counts
from harness.environment import Environment
from harness.history import History, request_label
from harness.sampler import MetricSampler, Series
from suites.reference import gateway_setting_ms, metric

LINK = "gateway->inventory"
BREAKER = {"downstream": "inventory"}
# Inventory's own count of product reads it served: the calls that really got through.
INVENTORY_READS = ("http_request_duration_seconds_count", {"route": "/products/:id"})
READ = "GET /products/1"
RATE = 40.0  # product reads per second: a request every 25 ms, so probes come at once
HEALTHY_S = 1.0  # load before the fault, so the breaker is seen closed first
FAULT_S = 2.0  # long enough for the breaker to trip and to fail at least one probe
# Inventory's replies are slowed (below the deadline) as well as failed, so a call that
# went through takes at least this long and a breaker's fast-fail stands out clearly.
SLOW_FAILURE_MS = 300
FAST_FAIL_MS = 150.0  # an open breaker answers from memory: far below SLOW_FAILURE_MS
RECOVERY_EPSILON_S = 1.5  # on top of BREAKER_TIMEOUT: the next probe plus scrape jitter

# The gateway's breakers are sony/gobreaker's and export its State numbering.
STATE_NUMBERING = GOBREAKER_STATES
CLOSED, OPEN = 0.0, 2.0


def require_breaker_closed(chaos: Environment) -> None:
    """The suite's fixture drives breakers closed before each test; one that stayed open
    through that is a finding of its own, and would make this test's timeline meaningless."""
    state = metric(chaos, "gateway", "gateway_breaker_state", **BREAKER)
    if state != CLOSED:
        shown = "not exported" if state is None else STATE_NUMBERING.get(state, state)
        pytest.fail(
            "before this test began, the gateway's breaker for inventory was still "
            f"{shown} after up to 10 s of healthy reads (an earlier "
            "test tripped it): it does not recover"
        )


def replies_while_open_are_fast(
    history: History, states: Series, budget_ms: float
) -> tuple[Verdict, int]:
    """Requests sent between two samples that both saw the breaker open were refused
    without a call downstream, so each answer must come fast. Returns the verdict and how
    many requests were sent while open."""
    name = "open breaker fails fast"
    known = [(t, s) for t, s in states if s is not None]
    open_spans = [(t0, t1) for (t0, s0), (t1, s1) in itertools.pairwise(known) if s0 == s1 == OPEN]
    slow: list[str] = []
    sent_while_open = 0
    for invoke, done in history.completed():
        sent_at = history.started + invoke.time
        if not any(t0 <= sent_at <= t1 for t0, t1 in open_spans):
            continue
        sent_while_open += 1
        value = done.value if isinstance(done.value, dict) else {}
        latency = value.get("latency_ms")
        if not isinstance(latency, int | float) or latency > budget_ms:
            slow.append(f"{request_label(invoke, done)}: {value.get('status')} after {latency} ms")
    if not sent_while_open:
        return Verdict.unknown(name, "no request was sent while the breaker was open"), 0
    if slow:
        return Verdict.failing(
            name,
            f"{len(slow)} of {sent_while_open} product reads sent while the gateway's breaker "
            f"for inventory was open took longer than {budget_ms:.0f} ms: they waited for "
            f"the failing downstream instead of failing fast: {', '.join(slow[:5])}",
        ), sent_while_open
    return Verdict.passing(
        name, f"all {sent_while_open} reads sent while open answered within {budget_ms:.0f} ms"
    ), sent_while_open


@dataclass(frozen=True)
class BreakerRun:
    """What one fault window under steady product reads showed."""

    history: History
    states: Series  # the gateway's breaker state for inventory
    inventory_reads: Series  # inventory's own count of product reads served
    fault_start: float
    fault_end: float
    breaker_timeout_s: float
    why_unobserved: tuple[str, str]  # why states, inventory_reads hold no value ("" if they do)


def run_fault_window(chaos: Environment, faults: Sequence[Fault], fault_s: float) -> BreakerRun:
    """Steady reads; ``faults`` on together for ``fault_s`` after a healthy second; reads go on past
    BREAKER_TIMEOUT + epsilon after healing, so half-open probes can close the breaker."""
    breaker_timeout_s = gateway_setting_ms(chaos, "BREAKER_TIMEOUT", "1s") / 1000
    require_breaker_closed(chaos)
    after_heal_s = breaker_timeout_s + RECOVERY_EPSILON_S + 1.0
    sampler = MetricSampler(chaos, ["gateway", "inventory"], interval_s=0.05, max_seconds=30)
    load_s = HEALTHY_S + fault_s + after_heal_s
    with sampler, chaos.start_load("gateway", READ, rate=RATE, seconds=load_s) as load:
        time.sleep(HEALTHY_S)
        fault_start = time.monotonic()
        with ExitStack() as applied:
            for fault in faults:
                applied.enter_context(fault)
            time.sleep(fault_s)
        fault_end = time.monotonic()
        result = load.wait()
    run = BreakerRun(
        history=result.history,
        states=sampler.series("gateway", "gateway_breaker_state", BREAKER),
        inventory_reads=sampler.series("inventory", *INVENTORY_READS),
        fault_start=fault_start,
        fault_end=fault_end,
        breaker_timeout_s=breaker_timeout_s,
        why_unobserved=(
            sampler.why_unobserved("gateway", "gateway_breaker_state", BREAKER),
            sampler.why_unobserved("inventory", *INVENTORY_READS),
        ),
    )
    assert result.sent >= 0.9 * result.planned, f"the load fell behind: {result.summary()}"
    # The fault fired: inventory kept receiving reads while it failed (before the trip).
    served = [c for t, c in run.inventory_reads if c is not None and fault_start <= t <= fault_end]
    assert served, "inventory's read counter was not observed during the fault"
    assert served[-1] > served[0], (
        f"inventory's read counter did not move during the fault ({served[:3]}): "
        "no read reached the failing downstream, so the fault never fired"
    )
    return run


def trips_and_recovers(run: BreakerRun) -> Verdict:
    # Inventory may still see the half-open probes (one per BREAKER_TIMEOUT during the
    # fault, each failing and re-opening; one after healing, which closes it) and the
    # reads of the sampling interval before the open state was first seen.
    probes = math.ceil((run.fault_end - run.fault_start) / run.breaker_timeout_s) + 1
    calls_in_one_sample = math.ceil(RATE * 0.1)
    return breaker_trips_and_recovers(
        run.states,
        fault_start=run.fault_start,
        fault_end=run.fault_end,
        timeout_s=run.breaker_timeout_s,
        epsilon_s=RECOVERY_EPSILON_S,
        downstream_calls=run.inventory_reads,
        calls_allowed_while_open=probes + calls_in_one_sample,
        breaker="the gateway's breaker for inventory",
        state_names=STATE_NUMBERING,
        why_states_unobserved=run.why_unobserved[0],
        why_calls_unobserved=run.why_unobserved[1],
    )


@pytest.mark.pitfall("breaker-stuck-open")
def test_breaker_closes_within_its_timeout_after_the_downstream_heals(
    chaos: Environment,
) -> None:
    run = run_fault_window(chaos, [HttpError(LINK, status=503, rate=1.0)], FAULT_S * 0.75)

    trips_and_recovers(run).require()
    # Recovered end to end: the last reads were answered by inventory again, not from the
    # gateway's cache (which marks its answers degraded).
    last = [done.value for _, done in run.history.completed()][-int(RATE // 2) :]
    fresh = [
        v for v in last if v.get("status") == 200 and not (v.get("body") or {}).get("degraded")
    ]
    assert len(fresh) == len(last), (
        f"after healing, {len(last) - len(fresh)} of the last {len(last)} product reads were "
        f"still not answered by inventory (statuses {sorted({v.get('status') for v in last})}, "
        "degraded answers from the cache): the gateway did not resume calling it"
    )


@pytest.mark.pitfall("no-breaker")
def test_failing_downstream_trips_the_breaker_which_then_fails_fast(chaos: Environment) -> None:
    # Inventory answers 503, and slowly (below the deadline): a read that reaches it takes
    # SLOW_FAILURE_MS, one the open breaker refuses takes a few ms.
    failing_slowly = [HttpError(LINK, status=503, rate=1.0), Latency(LINK, ms=SLOW_FAILURE_MS)]
    run = run_fault_window(chaos, failing_slowly, FAULT_S)

    trips_and_recovers(run).require()
    fast, sent_while_open = replies_while_open_are_fast(run.history, run.states, FAST_FAIL_MS)
    fast.require()
    assert sent_while_open >= RATE * run.breaker_timeout_s * 0.5, (
        f"only {sent_while_open} reads were sent while the breaker was open "
        f"(replies: {status_counts(run.history)})"
    )
