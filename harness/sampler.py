"""Polls services' ``/metrics`` in the background during a scenario: bounded time series.

Checks that judge how a signal moved (a breaker's state, a goroutine count, a downstream's
request counter) read these series instead of a single scrape. A series that was never
observed says why in :meth:`MetricSampler.why_unobserved` (the service serves no metrics
there, with how to add them; or they lack that series), for the check's unknown verdict.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

from harness.errors import ChaosError
from harness.probes import Metrics, sample
from harness.signals import metrics_reader

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
    error: str | None = None  # why it failed


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
        self._readers = {name: metrics_reader(env, name) for name in services}
        self.interval_s = interval_s
        self.max_seconds = max_seconds
        self.clock = clock
        self.scrapes: list[Scrape] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()  # no scrape is added once stop() has returned
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
        """Stop at once: a scrape still in flight (up to its 1 s timeout, against a frozen
        service) is dropped when it ends, not waited for, so the series end here."""
        with self._lock:
            self._stop.set()

    def scrape_now(self) -> None:
        self._scrape(background=False)

    def _scrape(self, *, background: bool) -> None:
        for service, read in self._readers.items():
            try:
                metrics: Metrics | None = read(1.0)
                error = None
            except ChaosError as exc:
                metrics, error = None, str(exc)
            with self._lock:
                if background and self._stop.is_set():
                    return
                self.scrapes.append(Scrape(self.clock(), service, metrics, error))

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._scrape(background=True)
            self._stop.wait(self.interval_s)

    def series(self, service: str, name: str, labels: Mapping[str, str] | None = None) -> Series:
        return [
            (s.time, sample(s.metrics, name, labels) if s.metrics is not None else None)
            for s in self.scrapes
            if s.service == service
        ]

    def why_unobserved(
        self, service: str, name: str, labels: Mapping[str, str] | None = None
    ) -> str:
        """Why ``series(service, name, labels)`` holds no value, or "" when it holds one."""
        scrapes = [s for s in self.scrapes if s.service == service]
        read = [s.metrics for s in scrapes if s.metrics is not None]
        if not scrapes:
            return f"{service}'s metrics were never scraped (the sampler did not run)"
        if not read:
            return (
                f"none of {len(scrapes)} scrapes of {service}'s metrics worked: {scrapes[-1].error}"
            )
        if any(sample(metrics, name, labels) is not None for metrics in read):
            return ""
        wanted = ",".join(f'{k}="{v}"' for k, v in (labels or {}).items())
        series = f"{name}{{{wanted}}}" if wanted else name
        similar = sorted({n for metrics in read for n in metrics if n.startswith(name)})[:5]
        hint = f" (series named like it: {', '.join(similar)})" if similar else ""
        return f"{service}'s metrics were read but hold no series {series}{hint}"
