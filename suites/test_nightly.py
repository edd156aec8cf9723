"""Nightly: a soak (faults one after another under steady load, for minutes) and the long
exploration. Both are ``@pytest.mark.nightly``: the default run leaves them out, ``-m
nightly`` (``scripts/run-nightly``) selects them.

The soak is bounded: ``SOAK_S`` seconds of load at fixed rates (so a bounded count), one
fault window per ``FAULT_S + QUIET_S`` seconds. Its windows and their faults are planned
from the seed (:func:`harness.shard.soak_windows`); under ``--chaos-shard=K/N`` this
machine runs its share of N soaks' windows, so N shards soak N times as long in all,
never the same window twice. After each window the invariants that can
be judged while load runs are checked (every service keeps its process, the gateway is
healthy, its breakers close again once the fault is healed); at the end, with the load
stopped and everything healed, the rest (answers within budget, well-formed replies, no
leaked goroutines, no lost or duplicated orders or charges).
"""

from __future__ import annotations

import time

import pytest

from faults import (
    Fault,
    HttpError,
    HttpMalformed,
    Kill,
    Latency,
    LinkDown,
    Pause,
    ResetPeer,
)
from harness.checks import (
    Outcome,
    Verdict,
    answers_within,
    goroutine_baseline,
    no_leaked_goroutines,
    no_lost_or_duplicated_writes,
    replies_well_formed,
    snapshot,
    survives,
)
from harness.environment import Environment
from harness.explore.report import explore_or_replay
from harness.settings import Settings
from harness.shard import soak_windows
from suites.model import ReferenceModel
from suites.reference import (
    close_breakers,
    gateway_classify,
    gateway_setting_ms,
    order_key,
    order_requests,
    stored_charge_refs,
    stored_order_keys,
)

SOAK_S = 180.0  # three minutes of load
FAULT_S = 6.0
QUIET_S = 6.0
READ_RATE = 10.0
ORDER_RATE = 4.0
EPSILON_MS = 500.0
WINDOWS = int(SOAK_S // (FAULT_S + QUIET_S))  # windows one soak plans


def soak_faults() -> list[Fault]:
    """The faults the soak cycles through: each link and each downstream, never the gateway
    itself (its clients are the load, which must be answered throughout)."""
    return [
        Latency("gateway->inventory", ms=1500),
        HttpError("gateway->payment", status=503, rate=0.5),
        LinkDown("gateway->inventory"),
        ResetPeer("gateway->payment", after_ms=0),
        HttpMalformed("gateway->payment", mode="truncate", rate=0.5),
        Latency("gateway->payment", ms=300, jitter_ms=200),
        Pause("inventory"),
        Kill("payment"),
    ]


@pytest.mark.nightly
def test_soak_faults_under_steady_load_keep_every_invariant(
    chaos: Environment, chaos_settings: Settings, key_prefix: str
) -> None:
    pool = soak_faults()
    planned = soak_windows(chaos_settings.seed, len(pool), WINDOWS, chaos_settings.shard)
    read_budget = gateway_setting_ms(chaos, "DOWNSTREAM_TIMEOUT", "1s")
    order_budget = gateway_setting_ms(chaos, "REQUEST_TIMEOUT", "2s")
    breaker_s = gateway_setting_ms(chaos, "BREAKER_TIMEOUT", "1s") / 1000
    gateway_before = snapshot(chaos, "gateway")
    baseline = goroutine_baseline(chaos, "gateway")
    problems: list[str] = []

    shard = chaos_settings.shard
    chaos.events.progress(
        f"soak: {SOAK_S:.0f} s, windows of {FAULT_S:.0f} s fault + {QUIET_S:.0f} s"
        + (
            f"; shard {shard}: windows {', '.join(str(n + 1) for n, _ in planned)}"
            if shard.sharded
            else ""
        )
    )
    reads = chaos.start_load("gateway", "GET /products/1", rate=READ_RATE, seconds=SOAK_S)
    orders = chaos.start_load(
        "gateway",
        order_requests(key_prefix),
        classify=gateway_classify,
        rate=ORDER_RATE,
        seconds=SOAK_S,
        timeout=10,
    )
    with reads, orders:
        started = time.monotonic()
        for number, drawn in planned:
            if time.monotonic() - started + FAULT_S + QUIET_S > SOAK_S:
                break
            window = number + 1  # its number in the unsharded plan, the same on any shard
            fault = pool[drawn]
            chaos.events.progress(f"soak window {window}: {fault.describe()}")
            with fault:
                time.sleep(FAULT_S)
            time.sleep(QUIET_S)
            # While the load goes on: the gateway kept its process and closes its breakers.
            verdict = survives(chaos, "gateway", gateway_before)
            chaos.events.verdict(verdict)
            if not verdict.passed:
                problems.append(f"window {window} ({fault.describe()}): {verdict.message}")
                break
            closed = close_breakers(chaos, timeout_s=breaker_s + 3)
            chaos.events.verdict(
                Verdict(
                    "breaker recovers after heal",
                    Outcome.PASS if closed else Outcome.FAIL,
                    f"window {window}: breakers {'closed' if closed else 'stayed open'}",
                )
            )
            if not closed:
                problems.append(f"window {window} ({fault.describe()}): a breaker stayed open")
        read_result, order_result = reads.wait(), orders.wait()

    chaos.events.progress("soak: load stopped; quiesce and final checks")
    assert not problems, "\n".join(problems)
    answers_within(read_result.history, read_budget, epsilon_ms=EPSILON_MS).require()
    answers_within(order_result.history, order_budget, epsilon_ms=EPSILON_MS).require()
    replies_well_formed(read_result.history).require()
    replies_well_formed(order_result.history).require()
    for name in ("inventory", "payment"):
        state = chaos.state(name)
        if not state.alive:
            Verdict.failing("survives", f"{name} is not running after the soak").require()
    no_leaked_goroutines(chaos, baseline, settle_s=10).require()
    no_lost_or_duplicated_writes(
        order_result.history, stored_order_keys(chaos, key_prefix), order_key, what="order"
    ).require()
    charges = stored_charge_refs(chaos, key_prefix)
    no_lost_or_duplicated_writes(
        order_result.history, charges, order_key, what="charge", failures_are_definite=False
    ).require()


@pytest.mark.nightly
def test_nightly_exploration_keeps_every_invariant(
    request: pytest.FixtureRequest, chaos: Environment
) -> None:
    explore_or_replay(request, chaos, ReferenceModel(), profile="nightly")
