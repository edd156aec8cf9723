"""Stateful exploration of the reference system: random faults, load bursts and kills, with
generic invariants checked after every step.

:class:`ExampleRun` is one example: it starts from a healed baseline (``env.reset()`` and
closed breakers, no rebuild), takes steps (a fault on, a fault off, a burst of product
reads or of orders with unique idempotency keys, a wait), checks the cheap invariants
after each, and at the end heals everything, lets the system quiesce and checks the rest.
Every step is recorded as a :class:`Schedule`, so a failure can be replayed
(:func:`replay`) with the same checks. :func:`exploration_machine` wraps it in a
``hypothesis.stateful.RuleBasedStateMachine`` whose rules draw faults of every kind on
every link and service from :mod:`faults.strategies`.

The invariants, none of which knows which bug is on:

- answers within budget: every request to a reachable gateway is answered within its
  budget (a product read: DOWNSTREAM_TIMEOUT; an order: REQUEST_TIMEOUT) + epsilon;
- replies well formed: a complete HTTP reply with a JSON body; a product read is never
  answered 500 (the gateway's contract maps every downstream failure to 502/503/504 or a
  degraded 200);
- survives: a service keeps its process unless the schedule killed, stopped or restarted
  it; no panic or fatal error in its log, no ``superfluous response.WriteHeader``, and
  with the race-detector build (``--chaos-race``) no data race report;
- breaker trips: a burst of at least twice BREAKER_FAILURES patient requests while one
  downstream is cut off (its link down; the service killed, stopped, frozen or unplugged)
  opens that downstream's breaker, unless it was open already;
- breaker recovers after heal: with every fault healed, healthy traffic closes every
  breaker within BREAKER_TIMEOUT + epsilon;
- bounded concurrency: during a burst, the gateway's goroutines stay under its idle count
  + BULKHEAD_SIZE slow calls per downstream (``GOROUTINES_PER_HELD_CALL`` each) + a margin;
- no leaked goroutines after heal + quiesce, per service, against the example's baseline;
- no lost or duplicated writes: every acknowledged order stored exactly once, no order
  charged twice;
- trace consistency: audit events carry the request ID of the order that caused them, and
  unless the schedule SIGKILLed the gateway, every acknowledged order has its audit event
  (a SIGTERM drains the audit queue);
- counter consistency: gateway_orders_handled_total moved by between the acknowledged and
  the sent orders.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from faults import (
    Disconnect,
    Fault,
    FaultOff,
    FaultOn,
    Kill,
    Latency,
    LinkDown,
    LoadBurst,
    Pause,
    ProcessFault,
    Restart,
    Schedule,
    Step,
    Wait,
)
from faults.strategies import FAMILIES
from faults.strategies import faults as fault_strategy
from harness.checks import (
    Outcome,
    Verdict,
    answers_within,
    counter_between,
    effects_carry_their_cause,
    goroutine_baseline,
    no_leaked_goroutines,
    no_lost_or_duplicated_writes,
    no_runtime_reports,
    replies_well_formed,
    snapshot,
    stays_under,
    survives,
)
from harness.checks.goroutines import GoroutineBaseline
from harness.checks.process import ServiceSnapshot
from harness.environment import Environment
from harness.errors import ChaosError
from harness.explore import PROFILES, Budget, Failure, FailureLog, hypothesis_settings
from harness.history import History
from harness.sampler import MetricSampler
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

__all__ = [
    "ExampleRun",
    "Exploration",
    "InvariantBroken",
    "exploration_machine",
    "explore",
    "replay",
    "run_schedule_checked",
]

GATEWAY = "gateway"
SERVICES = ("gateway", "inventory", "payment")
DOWNSTREAMS = ("inventory", "payment")
ORDERS = "POST /orders"
EPSILON_MS = 500.0  # on top of a budget: scheduling noise on a busy machine
MAX_ACTIVE = 2  # faults on at once
ROUND = 25  # examples per Hypothesis run; the time budget is checked between runs
MAX_FAULT_MS = 3000  # latencies up to three times the gateway's deadline
QUIESCE_S = 0.2  # after healing, before the end-of-example checks
LEAK_SETTLE_S = 6.0  # in-flight work (REQUEST_TIMEOUT + the audit's own budget) ends by then
AUDIT_WAIT_S = 3.0
SAMPLE_EVERY_S = 0.05


class InvariantBroken(AssertionError):
    """An invariant failed; the message says which and why."""


def _target(fault: Fault) -> str:
    """What a fault occupies: two faults on the same thing never go on together."""
    data = fault.to_json()
    if isinstance(fault, ProcessFault | Disconnect):
        return f"process:{data.get('service')}"
    if "link" in data:
        return f"link:{data['link']}:{fault.kind}"
    return f"group:{fault.kind}"


def _silences_gateway(fault: Fault) -> bool:
    """Faults after which the gateway itself cannot answer (killed, frozen, unplugged)."""
    return (
        isinstance(fault, ProcessFault | Disconnect) and fault.to_json().get("service") == GATEWAY
    )


def _replaces_process(fault: Fault) -> bool:
    return isinstance(fault, ProcessFault) and not isinstance(fault, Pause)


@dataclass
class Burst:
    step: LoadBurst
    prefix: str | None  # orders: the idempotency-key prefix
    history: History
    sent: int
    judged: bool  # the gateway was reachable and the clients patient: timing is judged


@dataclass
class ExampleRun:
    """One example over a running reference system, from a healed baseline to its checks."""

    env: Environment
    on_failure: Callable[[Schedule, str], None] | None = None
    steps: list[Step] = field(default_factory=list)
    active: list[Fault] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    replaced: set[str] = field(default_factory=set)  # services restarted by the schedule
    killed: set[str] = field(default_factory=set)  # services SIGKILLed by the schedule
    snapshots: dict[str, ServiceSnapshot] = field(default_factory=dict)
    baselines: dict[str, GoroutineBaseline] = field(default_factory=dict)
    counter_before: float | None = None
    failed: bool = False
    prefix: str = field(default_factory=lambda: f"x{uuid.uuid4().hex[:10]}")
    finished: bool = False

    # -- start: a healed baseline ---------------------------------------------------------

    def start(self) -> None:
        self.env.reset()
        if not close_breakers(self.env):
            # An earlier example (a failing one, or a candidate Hypothesis tried while
            # shrinking) left a breaker open for good. A fresh gateway process is the
            # baseline then, so that this example is judged by its own steps alone.
            self.env.events.progress(
                "a breaker stayed open after an earlier example: restarting gateway"
            )
            self.env.restart(GATEWAY)
        if not close_breakers(self.env):
            self._fail(
                Verdict.failing(
                    "breaker recovers after heal",
                    "at the start of the example, on a freshly restarted gateway, the breakers "
                    "did not close under healthy traffic",
                )
            )
        for name in SERVICES:
            self.snapshots[name] = snapshot(self.env, name)
            self.baselines[name] = goroutine_baseline(self.env, name)
        self.counter_before = metric(self.env, GATEWAY, "gateway_orders_handled_total")

    # -- steps ------------------------------------------------------------------------------

    def can_apply(self, fault: Fault) -> bool:
        taken = {_target(f) for f in self.active}
        return len(self.active) < MAX_ACTIVE and _target(fault) not in taken

    def fault_on(self, fault: Fault) -> None:
        self.steps.append(FaultOn(fault))
        self.active.append(fault)
        self._guard(lambda: fault.apply(self.env))
        if _replaces_process(fault):
            self.replaced.add(str(fault.to_json()["service"]))
        if isinstance(fault, Kill):
            self.killed.add(str(fault.to_json()["service"]))

    def fault_off(self, fault: Fault) -> None:
        self.steps.append(FaultOff(fault))
        self.active.remove(fault)
        self._guard(lambda: fault.heal(self.env))

    def wait(self, seconds: float) -> None:
        self.steps.append(Wait(seconds))
        time.sleep(seconds)

    def burst(self, step: LoadBurst) -> None:
        self.steps.append(step)
        if any(_silences_gateway(f) for f in self.active):
            # Killed, frozen or unplugged by the schedule: there is no reply to judge (and a
            # disconnected container has no published address to send to).
            self.env.events.progress(f"burst skipped, the gateway is down: {step.describe()}")
            return
        if step.request == ORDERS:
            key_prefix = f"{self.prefix}b{len(self.bursts)}"
            prefix: str | None = key_prefix
            request: Any = order_requests(key_prefix)
            budget = gateway_setting_ms(self.env, "REQUEST_TIMEOUT", "2s")
        else:
            prefix, request = None, step.request
            budget = gateway_setting_ms(self.env, "DOWNSTREAM_TIMEOUT", "1s")
        patient = step.timeout_s * 1000 >= budget + EPSILON_MS
        cut = self._cut_off(orders=prefix is not None) if patient else None
        breaker_before = self._breaker_reading(cut) if cut else None
        sampler = MetricSampler(
            self.env, [GATEWAY], interval_s=SAMPLE_EVERY_S, max_seconds=step.seconds + 10
        )
        with sampler:
            result = self._guard(
                lambda: self.env.load(
                    step.service,
                    request,
                    rate=step.rate,
                    seconds=step.seconds,
                    max_requests=step.max_requests,
                    timeout=step.timeout_s,
                    classify=gateway_classify,
                )
            )
        burst = Burst(step, prefix, result.history, result.sent, judged=patient)
        self.bursts.append(burst)
        self._check_concurrency(sampler)
        if burst.judged:
            self._require(answers_within(result.history, budget, epsilon_ms=EPSILON_MS))
            check = _read_well_formed if prefix is None else None
            self._require(replies_well_formed(result.history, is_well_formed=check))
            if cut and breaker_before:
                self._check_breaker_tripped(cut, breaker_before, result.sent)
        elif prefix is None:
            # Impatient clients gave up early, so no timing is judged; the replies that did
            # come back must still be graceful (a product read is never answered 500).
            self._require(_no_500_reads(result.history))

    def _cut_off(self, *, orders: bool) -> str | None:
        """The one downstream every call to which fails under the active faults (its link
        down; the service killed, stopped, frozen or unplugged), if the burst calls it.

        Only one: with two cut off, an order's failing call cancels the other, and a
        cancelled call rightly does not count against a breaker.
        """
        cut: set[str] = set()
        for fault in self.active:
            data = fault.to_json()
            if isinstance(fault, LinkDown):
                cut.add(self.env.topology.links[str(data["link"])].upstream_service)
            elif isinstance(fault, ProcessFault | Disconnect) and not isinstance(fault, Restart):
                cut.add(str(data["service"]))
        called = set(DOWNSTREAMS) if orders else {"inventory"}
        cut &= set(DOWNSTREAMS)
        return next(iter(cut)) if len(cut) == 1 and cut <= called else None

    def _breaker_reading(self, downstream: str) -> tuple[float, float]:
        """(its state, how often it has opened) as the gateway exports them."""
        state = metric(self.env, GATEWAY, "gateway_breaker_state", downstream=downstream)
        opened = metric(
            self.env, GATEWAY, "gateway_breaker_transitions_total", downstream=downstream, to="open"
        )
        return (state or 0.0, opened or 0.0)

    def _check_breaker_tripped(
        self, downstream: str, before: tuple[float, float], sent: int
    ) -> None:
        failures = gateway_setting_int(self.env, "BREAKER_FAILURES", 5)
        if sent < 2 * failures:
            return
        state_before, opened_before = before
        _, opened_after = self._breaker_reading(downstream)
        name = "breaker trips"
        if state_before != 0 or opened_after > opened_before:
            self.env.events.verdict(Verdict.passing(name, f"the breaker for {downstream} opened"))
            return
        self._fail(
            Verdict.failing(
                name,
                f"{sent} requests went to the gateway while {downstream} was cut off, so every "
                f"call to it failed, yet the gateway's breaker for {downstream} stayed closed "
                f"(BREAKER_FAILURES is {failures}): calls to a dead downstream are not cut short",
            )
        )

    def _check_concurrency(self, sampler: MetricSampler) -> None:
        idle = self.baselines[GATEWAY].count
        if idle is None or GATEWAY in self.replaced:
            return
        slots = gateway_setting_int(self.env, "BULKHEAD_SIZE", 16)
        ceiling = idle + len(DOWNSTREAMS) * slots * GOROUTINES_PER_HELD_CALL + OTHER_GOROUTINES
        series = sampler.series(GATEWAY, "go_goroutines")
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
            self._require(verdict)

    # -- after every step: cheap ----------------------------------------------------------------

    def check_alive(self) -> None:
        """Services the schedule did not stop keep their process."""
        busy = {str(f.to_json().get("service")) for f in self.active if isinstance(f, ProcessFault)}
        for name in SERVICES:
            if name in busy or name in self.replaced:
                continue
            before = self.snapshots[name].state
            now = self._guard(lambda n=name: self.env.state(n))  # type: ignore[misc]
            if not now.alive or (before.pid is not None and now.pid not in (None, before.pid)):
                self._fail(survives(self.env, name, self.snapshots[name]))

    # -- end: heal, quiesce, check the rest ------------------------------------------------------

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        for fault in reversed(list(self.active)):
            self.steps.append(FaultOff(fault))
            self.active.remove(fault)
            self._guard(lambda f=fault: f.heal(self.env))  # type: ignore[misc]
        self.env.heal_all()
        if self.failed:
            return  # the first broken invariant is the story; the rest would only add noise
        self.env.events.progress(f"quiesce after {len(self.steps)} steps")
        time.sleep(QUIESCE_S)
        for name in SERVICES:
            if name not in self.replaced:
                self._require(survives(self.env, name, self.snapshots[name]))
            # Logs only grow, across restarts too: the mark taken at the start still holds.
            reports = no_runtime_reports(
                self.env,
                name,
                since=self.snapshots[name].log_mark,
                kinds=("data race", "panic", "fatal error"),
                also=("superfluous response.WriteHeader",),
            )
            if reports.outcome is Outcome.FAIL:
                # The race detector reports a race once per process: the next example (a
                # shrink candidate, a replay) needs a fresh process to be able to see it.
                self.env.restart(name)
            self._require(reports)
        self._check_counter()
        breaker_s = gateway_setting_ms(self.env, "BREAKER_TIMEOUT", "1s") / 1000
        if not close_breakers(self.env, timeout_s=breaker_s + 3.0):
            self._fail(
                Verdict.failing(
                    "breaker recovers after heal",
                    f"every fault was healed, yet a gateway breaker was not closed "
                    f"{breaker_s + 3.0:.1f} s later under healthy traffic: it is stuck open",
                )
            )
        else:
            self.env.events.verdict(
                Verdict.passing("breaker recovers after heal", "all breakers closed")
            )
        for name in SERVICES:
            if name in self.replaced:
                continue  # a new process: the old baseline says nothing about it
            self._require(
                no_leaked_goroutines(self.env, self.baselines[name], settle_s=LEAK_SETTLE_S)
            )
        self._check_writes()

    def _check_counter(self) -> None:
        orders = [b for b in self.bursts if b.prefix is not None]
        if not orders or GATEWAY in self.replaced or self.counter_before is None:
            return
        after = metric(self.env, GATEWAY, "gateway_orders_handled_total")
        acked = sum(len(acknowledged(b.history)) for b in orders)
        sent = sum(b.sent for b in orders)
        counted = None if after is None else after - self.counter_before
        self._require(
            counter_between(counted, acked, sent, what="gateway_orders_handled_total"),
        )

    def _check_writes(self) -> None:
        orders = [b for b in self.bursts if b.prefix is not None]
        if not orders:
            return
        stored = [str(o.get("idempotency_key")) for o in get_json(self.env, GATEWAY, "/orders")]
        charges = [str(c.get("order_ref")) for c in get_json(self.env, "payment", "/charges")]
        causes: dict[Hashable, str] = {}
        for b in orders:
            assert b.prefix is not None
            mine = [k for k in stored if k.startswith(b.prefix + "-")]
            charged = [k for k in charges if k.startswith(b.prefix + "-")]
            self._require(no_lost_or_duplicated_writes(b.history, mine, order_key, what="order"))
            self._require(
                no_lost_or_duplicated_writes(
                    b.history, charged, order_key, what="charge", failures_are_definite=False
                )
            )
            for invoke, done in acknowledged(b.history):
                order = done.value.get("body") if isinstance(done.value, dict) else None
                headers = invoke.value.get("headers", {}) if isinstance(invoke.value, dict) else {}
                if isinstance(order, dict) and "X-Request-ID" in headers:
                    causes[str(order.get("id"))] = str(headers["X-Request-ID"])
        if causes:
            self._require(
                effects_carry_their_cause(
                    causes,
                    self._audit({str(k) for k in causes}),
                    effect_key="order_id",
                    effect_cause="request_id",
                    what="audit event",
                    # A SIGKILL may lose queued events; a SIGTERM must drain them.
                    complete=GATEWAY not in self.killed,
                )
            )

    def _audit(self, order_ids: set[str]) -> list[dict[str, Any]]:
        deadline = time.monotonic() + AUDIT_WAIT_S
        while True:
            events: list[dict[str, Any]] = get_json(self.env, GATEWAY, "/audit")
            found = {str(e.get("order_id")) for e in events}
            if order_ids <= found or time.monotonic() > deadline:
                return events
            time.sleep(0.2)

    # -- verdicts ---------------------------------------------------------------------------

    def schedule(self) -> Schedule:
        """What the example did, as a schedule (faults left on are switched off at its end)."""
        steps = list(self.steps)
        for fault in reversed(self.active):
            steps.append(FaultOff(fault))
        return Schedule(tuple(steps))

    def _require(self, verdict: Verdict) -> None:
        """An exploration fails on a failing verdict only; unknown (unobserved) is noted."""
        self.env.events.verdict(verdict)
        if verdict.outcome is Outcome.FAIL:
            self._fail(verdict, noted=True)

    def _fail(self, verdict: Verdict, *, noted: bool = False) -> None:
        self.failed = True
        if not noted:
            self.env.events.verdict(verdict)
        message = f"[{verdict.check}: {verdict.outcome.value}] {verdict.message}"
        self.env.events.progress(
            f"broken after {len(self.steps)} steps: {message.splitlines()[0][:120]}"
        )
        if self.on_failure is not None:
            self.on_failure(self.schedule(), message)
        raise InvariantBroken(message)

    def _guard(self, call: Callable[[], Any]) -> Any:
        """A harness error in a step (a fault that cannot be applied, a service that does
        not come back) fails the example like a broken invariant, schedule recorded."""
        try:
            return call()
        except ChaosError as exc:
            self._fail(Verdict.failing("step runs", f"{type(exc).__name__}: {exc}"))


def _no_500_reads(history: History) -> Verdict:
    name = "replies well formed"
    answered = [d.value for _, d in history.completed() if isinstance(d.value, dict)]
    answered = [v for v in answered if v.get("status") is not None]
    bad = [v for v in answered if not _read_well_formed(v)]
    if not answered:
        return Verdict.unknown(name, "no product read was answered before its client gave up")
    if bad:
        statuses = sorted({str(v.get("status")) for v in bad})
        return Verdict.failing(
            name,
            f"{len(bad)} of {len(answered)} answered product reads got a malformed or 500 "
            f"reply (statuses {', '.join(statuses)})",
        )
    return Verdict.passing(name, f"all {len(answered)} answered product reads well formed")


def _read_well_formed(value: Any) -> bool:
    """A JSON body, and never a 500 for a product read (502/503/504 or a degraded 200)."""
    return value.get("body") is not None and value.get("status") != 500


# -- replay ------------------------------------------------------------------------------------


def run_schedule_checked(
    env: Environment, schedule: Schedule, on_failure: Callable[[Schedule, str], None] | None = None
) -> ExampleRun:
    """Run a saved schedule as one example: same start, steps, checks and end."""
    run = ExampleRun(env, on_failure=on_failure)
    run.start()
    try:
        run.check_alive()
        for step in schedule.steps:
            if isinstance(step, FaultOn):
                run.fault_on(step.fault)
            elif isinstance(step, FaultOff):
                if step.fault in run.active:
                    run.fault_off(step.fault)
            elif isinstance(step, Wait):
                run.wait(step.seconds)
            else:
                run.burst(step)
            run.check_alive()
    finally:
        run.finish()
    return run


def replay(env: Environment, schedule: Schedule, runs: int) -> tuple[int, list[str]]:
    """Run ``schedule`` ``runs`` times; (how many broke an invariant, their messages)."""
    messages: list[str] = []
    for number in range(1, runs + 1):
        env.events.progress(f"replay {number}/{runs}")
        try:
            run_schedule_checked(env, schedule)
        except InvariantBroken as exc:
            messages.append(f"run {number}: {exc}")
    return len(messages), messages


# -- the Hypothesis state machine ------------------------------------------------------------


def exploration_machine(env: Environment, log: FailureLog) -> type[RuleBasedStateMachine]:
    """A state machine class over ``env``; every failing example's schedule goes to ``log``."""
    topology = env.topology
    # One family first (network, http, partition, process), then a kind within it: every
    # family gets a quarter of the draws, not a share by how many kinds it has.
    any_fault = st.one_of(
        *(fault_strategy(topology, families=[family], max_ms=MAX_FAULT_MS) for family in FAMILIES)
    )
    links = sorted(topology.links)
    deadline_ms = gateway_setting_ms(env, "DOWNSTREAM_TIMEOUT", "1s")

    class ReferenceExploration(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            log.examples += 1
            env.events.progress(f"example {log.examples}")
            self.run = ExampleRun(env, on_failure=log.add)
            self.run.start()

        @rule(fault=any_fault)
        def fault_on(self, fault: Fault) -> None:
            if not self.run.can_apply(fault):
                return  # occupied: nothing happens, and Hypothesis shrinks the step away
            self.run.fault_on(fault)

        @rule(link=st.sampled_from(links), tenths=st.integers(5, 30))
        def slow_link(self, link: str, tenths: int) -> None:
            """Latency around the gateway's own deadline (half to three times it), where
            timeouts, leaks and late writes live; any_fault rarely lands just there."""
            fault = Latency(link, ms=int(deadline_ms * tenths / 10))
            if self.run.can_apply(fault):
                self.run.fault_on(fault)

        @precondition(lambda self: bool(self.run.active))
        @rule(index=st.integers(0, MAX_ACTIVE - 1))
        def fault_off(self, index: int) -> None:
            self.run.fault_off(self.run.active[index % len(self.run.active)])

        @rule(
            orders=st.booleans(),
            product=st.integers(1, 3),
            rate=st.integers(5, 25),
            tenths=st.integers(2, 6),
            impatient=st.booleans(),
        )
        def load_burst(
            self, orders: bool, product: int, rate: int, tenths: int, impatient: bool
        ) -> None:
            request = ORDERS if orders else f"GET /products/{product}"
            timeout = 0.2 if impatient else 5.0  # impatient clients give up early
            self.run.burst(
                LoadBurst(
                    GATEWAY, request, rate=float(rate), seconds=tenths / 10, timeout_s=timeout
                )
            )

        @rule(product=st.integers(1, 3), rate=st.integers(100, 300))
        def overload(self, product: int, rate: int) -> None:
            """Far more reads than the bulkheads hold at once: with a slow downstream the
            gateway must shed the surplus at once, not pile it up."""
            self.run.burst(
                LoadBurst(
                    GATEWAY,
                    f"GET /products/{product}",
                    rate=float(rate),
                    seconds=0.5,
                    timeout_s=5.0,
                )
            )

        @rule(tenths=st.integers(1, 5))
        def wait(self, tenths: int) -> None:
            self.run.wait(tenths / 10)

        @invariant()
        def services_alive(self) -> None:
            self.run.check_alive()

        def teardown(self) -> None:
            self.run.finish()

    return ReferenceExploration


# -- exploring and reporting -----------------------------------------------------------------


@dataclass(frozen=True)
class Exploration:
    """What an exploration came to: examples run, seconds, and the failure it kept, if any."""

    examples: int
    seconds: float
    failure: Failure | None
    error: BaseException | None


def explore(
    env: Environment,
    profile: str,
    *,
    seed: int,
    budget_s: float | None = None,
    max_examples: int | None = None,
) -> Exploration:
    """Run the state machine over ``env`` with the named profile and seed (``max_examples``
    and ``budget_s`` replace the profile's own).

    The time budget is kept between rounds of at most ``ROUND`` examples, each a Hypothesis
    run of its own (seed + round): stopping Hypothesis in the middle of a run would make its
    data generation depend on the clock, which it rightly refuses. The round that finds a
    failure shrinks it to the end.
    """
    from hypothesis import settings as hypothesis_settings_class
    from hypothesis.stateful import run_state_machine_as_test

    chosen = PROFILES[profile]
    wanted = max_examples if max_examples is not None else chosen.max_examples
    log = FailureLog()
    budget = Budget(budget_s if budget_s is not None else chosen.budget_s)
    env.events.progress(f"exploring: profile {profile}, seed {seed}, budget {budget.seconds:.0f} s")
    error: BaseException | None = None
    planned = 0
    round_number = 0
    while planned < wanted and not budget.spent:
        size = min(ROUND, wanted - planned)
        planned += size
        machine = exploration_machine(env, log)
        machine._hypothesis_internal_use_seed = seed + round_number  # what @seed does
        round_number += 1
        try:
            run_state_machine_as_test(
                machine,
                settings=hypothesis_settings_class(hypothesis_settings(profile), max_examples=size),
            )
        except Exception as exc:  # a broken invariant, or Hypothesis saying it was flaky
            error = exc
            break
    failure = log.shortest() if error is not None else None
    if error is not None and failure is None:
        raise error
    return Exploration(log.examples, budget.elapsed_s, failure, error)
