"""Polls services' ``/metrics`` in the background during a scenario: bounded time series.

Checks that judge how a signal moved (a breaker's state, a goroutine count, a downstream's
request counter) read these series instead of a single scrape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

from harness.errors import ChaosError
from harness.probes import Metrics, fetch_metrics, sample

if TYPE_CHECKING:
    from harness.environment import Environment

__all__ = ["MetricSampler", "Scrape", "Series"]

Series = list[tuple[float, float | None]]
MAX_SECONDS = 600.0


@dataclass(frozen=True)
class Scrape:
    time: float
    service: str
    metrics: Metrics | None  # None: the scrape failed (service down, paused, partitioned)


class MetricSampler:
    """Scrapes every ``interval_s`` until stopped, or ``max_seconds`` at the most."""

    def __init__(
        self,
        env: Environment,
        services: Iterable[str],
        *,
        interval_s: float = 0.1,
        max_seconds: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.01 <= interval_s <= 10 or not 0 < max_seconds <= MAX_SECONDS:
            raise ChaosError(
                "MetricSampler needs 0.01 <= interval_s <= 10 and 0 < max_seconds <= 600"
            )
        self._targets = {
            name: (env.url(name), env.topology.service(name).metrics or "/metrics")
            for name in services
        }
        self.interval_s = interval_s
        self.max_seconds = max_seconds
        self.clock = clock
        self.scrapes: list[Scrape] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-metric-sampler", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def scrape_now(self) -> None:
        for service, (url, path) in self._targets.items():
            try:
                metrics: Metrics | None = fetch_metrics(url, path, timeout=1.0)
            except ChaosError:
                metrics = None
            self.scrapes.append(Scrape(self.clock(), service, metrics))

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.scrape_now()
            self._stop.wait(self.interval_s)

    def series(self, service: str, name: str, labels: Mapping[str, str] | None = None) -> Series:
        return [
            (s.time, sample(s.metrics, name, labels) if s.metrics is not None else None)
            for s in self.scrapes
            if s.service == service
        ]
