"""Honest health: a service whose health endpoint answers 200 while every request sent to
it fails of its own accord for longer than the recovery budget is reported.

Throughout an example, the declared health path (``x-chaos.services.NAME.health``) of
every service the workload is sent to is sampled in the background every
``SAMPLE_EVERY_S``. At the end (the liveness probes after heal included), the requests sent
to each such service are laid out in time; a *dark* stretch is a run of them that all failed
of the service's own accord (no answer to a client that waited, or a status that is not an
honest report of a downstream fault, see :mod:`harness.explore.invariants.outcomes`),
ended by any success or honest failure. A dark stretch longer than the recovery budget
during which every health sample said 200 is a health endpoint that lies: an orchestrator
would keep sending traffic to a service that serves none. A stretch with a non-200 sample
is honest; one with no sample is unknown.

Honest 502/503/504 replies are the service working: it is up and says a downstream is not,
so its own health may well be 200.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import requests

from harness.checks import Verdict
from harness.errors import ChaosError
from harness.explore.invariants import Invariant, Rank
from harness.explore.invariants.outcomes import Excuses, reply_of
from harness.history import OK

if TYPE_CHECKING:
    from faults import Fault
    from harness.explore.engine import Burst, ExampleRun

__all__ = ["SAMPLE_EVERY_S", "HonestHealth"]

CHECK = "honest health"
SAMPLE_EVERY_S = 0.2
MAX_SAMPLING_S = 900.0  # a sampler nobody stopped (an example torn down early) ends anyway


class HealthSampler:
    """GETs one health URL every SAMPLE_EVERY_S on a daemon thread: (time, status or None)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[tuple[float, int | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"health {url}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        with requests.Session() as session:
            while not self._stop.is_set() and time.monotonic() - started < MAX_SAMPLING_S:
                at = time.monotonic()
                try:
                    status: int | None = session.get(self.url, timeout=1.0).status_code
                except requests.RequestException:
                    status = None
                self.samples.append((at, status))
                self._stop.wait(SAMPLE_EVERY_S)

    def stop(self) -> list[tuple[float, int | None]]:
        self._stop.set()
        self._thread.join(timeout=5.0)
        return list(self.samples)


@dataclass(frozen=True)
class Stretch:
    """Requests to one service that all failed of its own accord, back to back."""

    start: float
    end: float
    failures: int
    how: str  # e.g. "no answer x12, 500 x3"


class HonestHealth(Invariant):
    rank = Rank.RECOVERY

    def __init__(self) -> None:
        self.samplers: dict[str, HealthSampler] = {}
        self.faults: dict[int, list[Fault]] = {}  # id(burst) -> faults on during it

    def start(self, run: ExampleRun) -> Iterator[Verdict]:
        for name in sorted({op.service for op in run.operations}):
            path = run.env.topology.service(name).health
            if path is None:
                continue
            try:
                url = run.env.url(name).rstrip("/") + path
            except ChaosError:
                continue
            self.samplers[name] = HealthSampler(url)
        return iter(())

    def after_burst(self, run: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        self.faults[id(burst)] = list(run.active)
        return iter(())

    def end(self, run: ExampleRun) -> Iterator[Verdict]:
        samples = {name: sampler.stop() for name, sampler in self.samplers.items()}
        self.samplers.clear()
        budget_s = run.model.recovery_s(run.operations)
        for name in sorted({op.service for op in run.operations}):
            bursts = [b for b in run.bursts if b.operation.service == name]
            stretches = [s for s in self._dark(run, bursts) if s.end - s.start > budget_s]
            if not stretches:
                if bursts and name in samples:
                    yield Verdict.passing(
                        CHECK,
                        f"no request to {name} failed of its own accord for longer than the "
                        f"recovery budget ({budget_s:.1f} s)",
                    )
                continue
            if name not in samples:
                yield Verdict.unknown(
                    CHECK,
                    f"every request to {name} failed for {_longest(stretches):.1f} s, but it "
                    f"declares no health path (x-chaos.services.{name}.health) to compare with",
                )
                continue
            yield _judge(name, stretches, samples[name], budget_s)

    def _dark(self, run: ExampleRun, bursts: Sequence[Burst]) -> list[Stretch]:
        calibration = run.calibration
        outcomes: list[tuple[float, float, str | None]] = []  # start, end, own failure or None
        for burst in bursts:
            baseline = calibration.of(burst.operation) if calibration is not None else None
            if baseline is not None and baseline.succeeded == 0:
                continue  # it never succeeds fault-free: failing is what it does
            excuses = Excuses.of(self.faults.get(id(burst), ()))
            began = burst.history.started
            for invoke, done in burst.history.completed():
                status = reply_of(done).get("status")
                if not isinstance(status, int) and not burst.judged:
                    continue  # its client gave up early: no evidence either way
                failure: str | None = None
                if not isinstance(status, int):
                    failure = "no answer"
                elif done.type != OK and not excuses.honest(status, baseline):
                    failure = str(status)
                outcomes.append((began + invoke.time, began + done.time, failure))
        outcomes.sort()
        stretches: list[Stretch] = []
        current: list[tuple[float, float, str]] = []
        for start, end, failure in [*outcomes, (float("inf"), float("inf"), None)]:
            if failure is not None:
                current.append((start, end, failure))
                continue
            if current:
                kinds: dict[str, int] = {}
                for _, _, what in current:
                    kinds[what] = kinds.get(what, 0) + 1
                how = ", ".join(f"{what} x{n}" for what, n in sorted(kinds.items()))
                last = max(e for _, e, _ in current)
                stretches.append(Stretch(current[0][0], last, len(current), how))
                current = []
        return stretches


def _judge(
    name: str, stretches: list[Stretch], samples: list[tuple[float, int | None]], budget_s: float
) -> Verdict:
    for stretch in stretches:
        during = [status for at, status in samples if stretch.start <= at <= stretch.end]
        if not during:
            return Verdict.unknown(
                CHECK,
                f"every request to {name} failed for {stretch.end - stretch.start:.1f} s, but "
                "no health sample was taken meanwhile",
            )
        if all(status == 200 for status in during):
            return Verdict.failing(
                CHECK,
                f"{name}'s health answered 200 all {len(during)} times it was asked while every "
                f"request sent to it failed for {stretch.end - stretch.start:.1f} s "
                f"({stretch.failures} requests: {stretch.how}), longer than the recovery "
                f"budget of {budget_s:.1f} s: a health check that cannot see the service "
                "fail keeps traffic flowing to a service that serves none",
            )
    return Verdict.passing(
        CHECK,
        f"{name}'s health said so while every request to it failed "
        f"(for up to {_longest(stretches):.1f} s)",
    )


def _longest(stretches: Sequence[Stretch]) -> float:
    return max(s.end - s.start for s in stretches)
