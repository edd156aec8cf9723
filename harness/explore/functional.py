"""A functional test as an exploration's workload: its body is the burst, its assertions the
expectations (``@pytest.mark.chaos_explore``; the pytest side is in
:mod:`harness.explore.report`).

The test reaches the system as it always does, through the ``chaos`` fixture's addresses
(``chaos.url("front")``) and whatever client it likes. The harness runs its body once with
no fault on (it must pass), then explores with :class:`FunctionalTest` as the model: one
operation whose burst runs the body again and again, one run at a time, for as long as the
burst lasts (at least once). Every run is recorded in the burst's history: ``ok`` when the
body returned, ``fail`` with the exception's text when it raised (a failed assertion), and
``info`` when it did not finish within the budget (it is left to finish on its own: a
Python function cannot be stopped from outside).

The body's runs are not HTTP replies, so of the generic invariants only those about
processes and resources apply (services survive, no runtime report, no leaked
goroutines); :class:`TestPasses` judges the runs themselves.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.checks import Verdict
from harness.errors import ConfigError
from harness.explore.engine import EPSILON_MS, patient_timeout_s
from harness.explore.invariants import Invariant, Rank
from harness.explore.model import Operation, SystemModel
from harness.history import FAIL, INFO, OK, History
from harness.load import LoadResult

if TYPE_CHECKING:
    from harness.environment import Environment
    from harness.explore.engine import Burst, ExampleRun
    from harness.topology import Topology

__all__ = ["TEST_BUDGET_MS", "FunctionalTest", "TestPasses", "entry_service"]

TEST_BUDGET_MS = 5000.0  # how long one run of a test body may take
SHOWN = 3  # distinct failures a verdict quotes


def entry_service(topology: Topology) -> str:
    """The one service no link leads into (the one a test calls), or a ConfigError that
    says to name it."""
    own_proxy = topology.toxiproxy.service if topology.toxiproxy else None
    upstreams = {link.upstream_service for link in topology.links.values()}
    entries = sorted(s for s in topology.services if s not in upstreams and s != own_proxy)
    if len(entries) == 1:
        return entries[0]
    raise ConfigError(
        f"which service does the test call? {topology.path} has "
        f"{'several' if entries else 'no'} service(s) that no link leads into "
        f"({', '.join(entries) or 'none'}); name it: "
        '@pytest.mark.chaos_explore(service="front")'
    )


@dataclass
class _Run:
    """One run of the body in a thread of its own."""

    thread: threading.Thread
    started: float
    error: BaseException | None = None
    finished: float | None = None


class FunctionalTest(SystemModel):
    """A test body as the workload: ``name`` (the test's), ``body`` (calls it with its
    fixtures), ``service`` (what it calls, for the process faults that silence it),
    ``budget_ms`` (how long one run may take)."""

    def __init__(
        self,
        name: str,
        body: Callable[[], object],
        service: str,
        budget_ms: float = TEST_BUDGET_MS,
    ) -> None:
        if not 0 < budget_ms <= 120_000:
            raise ConfigError(
                f"chaos_explore(budget_ms=...) must be more than 0 and at most 120000, got "
                f"{budget_ms!r}"
            )
        self.name = name
        self.body = body
        self.service = service
        self.budget_ms = float(budget_ms)
        self.request = f"TEST /{name}"  # how a schedule records a burst of it
        self._running: _Run | None = None  # a run that outlived its budget, maybe still going

    def operations(self, topology: Topology) -> Sequence[Operation]:
        return [
            Operation(
                self.name,
                self.service,
                (self.request,),
                budget_ms=self.budget_ms,
                well_formed=lambda reply: reply.get("passed") is True,
                runner=self.burst,
            )
        ]

    def deadline_ms(self, operations: Sequence[Operation]) -> float:
        # Slow links to around half the budget: a test's own client timeouts are unknown,
        # and a latency several times the budget only measures how long the test waits.
        return self.budget_ms / 2

    def keeps(self, invariant: Invariant) -> bool:
        return invariant.rank in (Rank.PROCESS, Rank.RESOURCES)

    def invariants(self, topology: Topology) -> list[Invariant]:
        return [TestPasses(self.name, self.budget_ms)]

    # -- a burst: the body again and again ------------------------------------------------

    def burst(
        self,
        env: Environment,
        service: str,
        request: object,
        *,
        seconds: float,
        max_requests: int | None = None,
        **ignored: Any,
    ) -> LoadResult:
        """Run the body one run at a time for ``seconds`` (at least once, at most
        ``max_requests`` runs); the burst's timeout and rate do not apply to a function."""
        history = History()
        env.timeline.record(f"{service}: {self.name}", history)
        limit_s = patient_timeout_s(self.operations(env.topology)[0])
        started = time.monotonic()
        planned = max_requests or 1
        sent = 0
        while sent < planned and (sent == 0 or time.monotonic() - started < seconds):
            invoke = history.invoke(sent, self.request, {"test": self.name})
            sent += 1
            if self._running is not None and self._running.thread.is_alive():
                history.complete(
                    invoke,
                    INFO,
                    {"passed": None, "latency_ms": 0.0},
                    "not started: an earlier run is still running past its budget",
                )
                break
            run = self._start()
            run.thread.join(limit_s)
            took_ms = ((run.finished or time.monotonic()) - run.started) * 1000
            if run.thread.is_alive():
                self._running = run
                history.complete(
                    invoke,
                    INFO,
                    {"passed": None, "latency_ms": took_ms},
                    f"did not finish within {limit_s:.1f} s (it goes on in the background)",
                )
                break
            if run.error is None:
                history.complete(invoke, OK, {"passed": True, "latency_ms": took_ms})
            else:
                text = f"{type(run.error).__name__}: {run.error}".strip()
                history.complete(invoke, FAIL, {"passed": False, "latency_ms": took_ms}, text)
        elapsed = time.monotonic() - started
        outcomes = Counter(done.type for _, done in history.completed())
        return LoadResult(
            history=history,
            planned=planned,
            sent=sent,
            elapsed_s=elapsed,
            achieved_rate=sent / elapsed if elapsed > 0 else 0.0,
            lags_ms=(),
            outcomes=dict(outcomes),
        )

    def _start(self) -> _Run:
        context = contextvars.copy_context()  # the running test's environment, for its faults
        run = _Run(threading.Thread(), time.monotonic())

        def target() -> None:
            try:
                context.run(self.body)
            except BaseException as exc:  # a failed assertion, pytest.skip, anything
                run.error = exc
            finally:
                run.finished = time.monotonic()

        run.thread = threading.Thread(target=target, name=f"chaos-explore {self.name}", daemon=True)
        run.thread.start()
        return run


class TestPasses(Invariant):
    """Every run of the test body in a burst passes, within its budget (+ epsilon)."""

    rank = Rank.CONTRACT
    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, name: str, budget_ms: float) -> None:
        self.name = name
        self.budget_ms = budget_ms
        self.check = f"{name} passes under faults"

    def after_burst(self, run: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        completed = burst.history.completed()
        if not completed:
            yield Verdict.unknown(self.check, f"no run of {self.name} finished in this burst")
            return
        limit = self.budget_ms + EPSILON_MS
        bad: list[str] = []
        for invoke, done in completed:
            value = done.value if isinstance(done.value, dict) else {}
            took = value.get("latency_ms")
            took_s = f"{took / 1000:.2f} s" if isinstance(took, int | float) else "?"
            if done.type != OK:
                bad.append(f"run {invoke.process + 1} ({took_s}): {done.error}")
            elif isinstance(took, int | float) and took > limit:
                bad.append(f"run {invoke.process + 1} passed but took {took_s}, over its budget")
        if not bad:
            yield Verdict.passing(self.check, f"all {len(completed)} runs of {self.name} passed")
            return
        during = "; ".join(f.describe() for f in run.active) or "no fault"
        distinct = list(dict.fromkeys(bad))[:SHOWN]
        yield Verdict.failing(
            self.check,
            f"{len(bad)} of {len(completed)} runs of {self.name} failed or overran their "
            f"{self.budget_ms:.0f} ms (+ {EPSILON_MS:.0f} ms) budget while this was on: "
            f"{during}\n" + "\n".join(f"  {line}" for line in distinct),
            runs="\n".join(bad),
        )
