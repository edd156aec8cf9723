"""What an exploration needs to know about one system: its workload, and its own invariants.

The engine (:mod:`harness.explore.engine`) knows no system. It breaks whatever the topology
has, sends the bursts a model's operations describe, and checks what holds for any HTTP
service: answers within each operation's budget, well-formed replies, services that
survive unless the schedule stopped them, no runtime report in any log, no leaked
goroutines. A :class:`SystemModel` brings the rest: the requests the workload sends
(:class:`Operation`), how a reply is classified, and hooks (at the start of an example,
after each burst, at its end) that yield the system's own verdicts.

A model is a plain object, so one built from declarations (a list of operations read from
a compose file) fits as well as a subclass written in Python::

    class Shop(SystemModel):
        def operations(self, topology):
            return [Operation("read", "front", ("GET /items/1",), budget_ms=1000)]

        def end(self, example):
            yield no_lost_or_duplicated_writes(...)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import ConfigError
from harness.load import Outcome, RequestFactory, default_classify

if TYPE_CHECKING:
    from faults.schedule import LoadBurst
    from harness.checks.verdict import Verdict
    from harness.environment import Environment
    from harness.explore.engine import Burst, ExampleRun
    from harness.explore.invariants import Invariant, Rank
    from harness.explore.invariants.state import StateCheck
    from harness.load import LoadResult
    from harness.topology import Topology

__all__ = ["DEFAULT_BUDGET_MS", "RECOVERY_S", "Operation", "SystemModel", "check_model"]

Reply = Mapping[str, Any]  # a completed request's value in a History: status, body, latency_ms
# Runs a burst itself instead of sending HTTP load: (env, service, what sends() gave,
# **the options of Environment.load) -> its LoadResult, every run recorded in its history.
Runner = Callable[..., "LoadResult"]

# An operation that declares no budget still gets one: a request that never ends is always
# a finding, and ten seconds is longer than any interactive caller waits.
DEFAULT_BUDGET_MS = 10_000.0
# After every fault is healed, how long a system may take to serve as it did fault-free
# (breakers half-opening, pools redialling, caches refilling), before one request's budget.
RECOVERY_S = 3.0


@dataclass(frozen=True)
class Operation:
    """One kind of request the workload sends: to which service, which requests, how fast
    each must be answered and what a good reply looks like."""

    name: str  # for messages: "product read"
    service: str  # the service a burst of it talks to
    requests: tuple[str, ...]  # "METHOD /path"; a burst sends one, and a schedule records it
    # Every answer within this (+ the engine's epsilon) when clients wait; None: no budget
    # declared, and DEFAULT_BUDGET_MS applies (see limit_ms).
    budget_ms: float | None = None
    statuses: frozenset[int] | None = None  # if given, the only statuses a reply may have
    # Besides the statuses: is this reply well formed? Default: its body parsed as JSON.
    well_formed: Callable[[Reply], bool] | None = None
    # What a burst sends, given its request line and a key no other burst has (for
    # idempotency keys and request IDs). Default: the request line itself, every time.
    per_burst: Callable[[str, str], str | RequestFactory] | None = None
    overload: bool = False  # safe to send far above the usual rate (a read): overload bursts
    rate: float = 10.0  # requests per second of the bursts the coverage phase sends
    # A burst that is not HTTP load (a functional test's body, run again and again); None:
    # Environment.load sends the request line.
    runner: Runner | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "requests", tuple(self.requests))
        if self.statuses is not None:
            object.__setattr__(self, "statuses", frozenset(self.statuses))
        if not self.requests:
            raise ConfigError(f"operation {self.name!r} sends no request; give it `requests`")
        for line in self.requests:
            method, _, path = line.partition(" ")
            if not method.isalpha() or not path.startswith("/"):
                raise ConfigError(
                    f"operation {self.name!r}: {line!r} is not a request like 'GET /items/1'"
                )
        if self.budget_ms is not None and not self.budget_ms > 0:
            raise ConfigError(
                f"operation {self.name!r}: budget_ms must be more than 0, got {self.budget_ms}"
            )

    @property
    def limit_ms(self) -> float:
        """The budget it declares, else DEFAULT_BUDGET_MS: how long an answer may take."""
        return self.budget_ms if self.budget_ms is not None else DEFAULT_BUDGET_MS

    def matches(self, step: LoadBurst) -> bool:
        return step.service == self.service and step.request in self.requests

    def sends(self, line: str, key: str) -> str | RequestFactory:
        return self.per_burst(line, key) if self.per_burst is not None else line

    def load(
        self, env: Environment, service: str, request: str | RequestFactory, **options: Any
    ) -> LoadResult:
        """One burst of this operation, as :meth:`Environment.load
        <harness.environment.Environment.load>` takes it (or its own ``runner``)."""
        if self.runner is not None:
            return self.runner(env, service, request, **options)
        return env.load(service, request, **options)

    def start(
        self, env: Environment, service: str, request: str | RequestFactory, **options: Any
    ) -> StartedBurst:
        """:meth:`load` in the background, so that faults can land while it runs."""
        if self.runner is not None:
            runner = self.runner
            return _RunnerBurst(lambda: runner(env, service, request, **options))
        return env.start_load(service, request, **options)

    def is_well_formed(self, reply: Reply) -> bool:
        if self.statuses is not None and reply.get("status") not in self.statuses:
            return False
        if self.well_formed is not None:
            return self.well_formed(reply)
        return reply.get("body") is not None


class StartedBurst(Protocol):
    """A burst under way: its clock (seconds since it started), and its end."""

    def now(self) -> float: ...

    def stop(self) -> None: ...

    def wait(self) -> LoadResult: ...


class _RunnerBurst:
    """A runner's burst in a thread of its own (it stops on its own: ``stop`` is a no-op)."""

    def __init__(self, call: Callable[[], LoadResult]) -> None:
        self._started = time.monotonic()
        self._result: LoadResult | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, args=(call,), daemon=True)
        self._thread.start()

    def _main(self, call: Callable[[], LoadResult]) -> None:
        try:
            self._result = call()
        except BaseException as exc:  # handed to the caller's thread by wait()
            self._error = exc

    def now(self) -> float:
        return time.monotonic() - self._started

    def stop(self) -> None:
        pass

    def wait(self) -> LoadResult:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


class SystemModel:
    """The system an exploration breaks, as far as the engine needs to know it.

    Override :meth:`operations` (the only thing required) and whatever else differs. One
    model serves one exploration, whose examples run one after another, so a model may keep
    an example's state on itself (set it in :meth:`start`).
    """

    #: Services whose ``/metrics`` are scraped just before every burst and then every
    #: 50 ms while it runs (:attr:`Burst.metrics <harness.explore.engine.Burst.metrics>`).
    sampled: tuple[str, ...] = ()
    #: Log lines that count as runtime reports besides panics, fatal errors and data races
    #: (net/http's, when a handler writes a second reply).
    log_reports: tuple[str, ...] = ("superfluous response.WriteHeader",)
    #: Attempts a caller may make on a failing link for each call it makes there when
    #: nothing fails (the first attempt included): the bound of retry amplification.
    retry_attempts: int = 3

    def operations(self, topology: Topology) -> Sequence[Operation]:
        """What the workload sends; the exploration draws its bursts from these."""
        raise NotImplementedError(f"{type(self).__name__} must say its operations()")

    def watched(self, topology: Topology) -> Sequence[str]:
        """Services whose survival, logs and goroutines are checked: every service but a
        Toxiproxy the compose file runs itself."""
        own_proxy = topology.toxiproxy.service if topology.toxiproxy else None
        return [name for name in topology.services if name != own_proxy]

    def classify(self, outcome: Outcome) -> str:
        """ok, fail or info for one reply (see :func:`harness.load.default_classify`)."""
        return default_classify(outcome)

    def deadline_ms(self, operations: Sequence[Operation]) -> float:
        """The latency around which timeouts, leaks and late writes live: the exploration
        slows links to between half and three times this. Default: the tightest budget."""
        return min(op.limit_ms for op in operations)

    def settle_s(self, operations: Sequence[Operation]) -> float:
        """How long in-flight work may take to end after heal (the leak check waits that
        long at most). Default: three times the longest budget."""
        return 3 * max(op.limit_ms for op in operations) / 1000

    def recovery_s(self, operations: Sequence[Operation]) -> float:
        """How long after every fault is healed the workload may take to succeed as often as
        it did fault-free (and a service may fail every request while its health says
        200). Default: RECOVERY_S plus the longest budget, for the first answer to come."""
        return RECOVERY_S + max(op.limit_ms for op in operations) / 1000

    def keeps(self, invariant: Invariant) -> bool:
        """Whether one of the generic invariants applies to this system (default: all; a
        model whose bursts are not HTTP replies keeps those about processes only)."""
        return True

    def periods_s(self, topology: Topology) -> Sequence[float]:
        """The periods of the system's own background work, in seconds (a breaker's open
        timeout, a cache refresh, a reconciler's interval): the exploration sometimes
        holds a fault a few seconds longer than the longest of them, so that the work
        runs at least once while it is on. Default: none."""
        return ()

    def invariants(self, topology: Topology) -> Iterable[Invariant]:
        """Invariants of this system's own, checked beside the generic ones in every example
        (fresh ones per example: they may keep what they saw in it)."""
        return ()

    def state_checks(self, topology: Topology) -> Sequence[StateCheck]:
        """What must hold of the system's own state once it is quiet, each a read and a
        predicate (:class:`~harness.explore.invariants.state.StateCheck`): stock and
        reservations that add up, one charge per order. Checked at the end of every
        example, after faults are healed and in-flight work has ended."""
        return ()

    def rank(self, verdict: Verdict) -> Rank:
        """How basic a cause a failing verdict of this model's hooks is (see
        :class:`~harness.explore.invariants.Rank`); by default, the system's own state."""
        from harness.explore.invariants import Rank

        return Rank.STATE

    # -- hooks: each yields verdicts; an example reports every failing one at its end ----

    def start(self, example: ExampleRun) -> Iterable[Verdict]:
        """At the start of an example, after every fault was healed and every service is
        running, before the engine's baselines are taken (a fresh process started here is
        the baseline)."""
        return ()

    def after_burst(self, example: ExampleRun, burst: Burst) -> Iterable[Verdict]:
        """Right after a burst's load ended, before the engine judges its replies."""
        return ()

    def end(self, example: ExampleRun) -> Iterable[Verdict]:
        """At the end of an example: faults healed, the system quiet, the invariants' own
        end checks done (so in-flight work has ended)."""
        return ()


def check_model(model: SystemModel, topology: Topology) -> list[Operation]:
    """The model's operations, once it is known to fit ``topology`` (else a ConfigError
    saying what to fix, before anything starts)."""
    name = type(model).__name__
    operations = list(model.operations(topology))
    if not operations:
        raise ConfigError(f"{name}.operations() is empty: the exploration has nothing to send")
    known = ", ".join(sorted(topology.services))
    wanted = [(f"operation {op.name!r}", op.service) for op in operations]
    wanted += [(f"{name}.watched()", s) for s in model.watched(topology)]
    wanted += [(f"{name}.sampled", s) for s in model.sampled]
    for where, service in wanted:
        if service not in topology.services:
            raise ConfigError(
                f"{where} names the service {service!r}, which {topology.path} does not "
                f"define; the services are: {known}"
            )
    return operations
