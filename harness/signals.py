"""A service's optional signals as checks read them, and what a check says when one is missing.

``/metrics`` and pprof are optional for a service: its ``x-chaos`` block may name their
paths, and when it names none the conventional ones are tried. A check that needs a
signal the service does not serve is *unknown*, and its message says which endpoint was
tried, where that path came from, what the service answered, and how to add it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.errors import ProbeError, SignalMissingError
from harness.probes import (
    DEFAULT_METRICS_PATH,
    DEFAULT_PPROF_PATH,
    GoroutineGroup,
    Metrics,
    fetch_goroutines,
    fetch_metrics,
)

if TYPE_CHECKING:
    from harness.environment import Environment

__all__ = ["metrics_reader", "read_goroutines", "read_metrics"]


def read_goroutines(
    env: Environment, service: str, *, timeout: float = 5.0
) -> list[GoroutineGroup]:
    """The service's goroutines grouped by stack; ProbeError says why they could not be read."""
    declared = env.topology.service(service).pprof
    path = declared or DEFAULT_PPROF_PATH
    try:
        return fetch_goroutines(env.url(service), path, timeout=timeout)
    except SignalMissingError as exc:
        raise ProbeError(_missing(service, exc, "pprof", declared, path)) from exc


def read_metrics(env: Environment, service: str, *, timeout: float = 5.0) -> Metrics:
    """The service's Prometheus metrics; ProbeError says why they could not be read."""
    return metrics_reader(env, service)(timeout)


def metrics_reader(env: Environment, service: str) -> Callable[[float], Metrics]:
    """``read_metrics`` with the address looked up once, for scraping many times.

    The returned function takes a timeout in seconds.
    """
    declared = env.topology.service(service).metrics
    path = declared or DEFAULT_METRICS_PATH
    url = env.url(service)

    def read(timeout: float) -> Metrics:
        try:
            return fetch_metrics(url, path, timeout=timeout)
        except SignalMissingError as exc:
            raise ProbeError(_missing(service, exc, "metrics", declared, path)) from exc

    return read


def _missing(
    service: str, exc: SignalMissingError, key: str, declared: str | None, path: str
) -> str:
    where = f"x-chaos services.{service}.{key}"
    if declared is None:
        origin = f"{path} is the conventional default: {where} names no path"
        elsewhere = f"if the service serves it at another path, set {where} to that path"
    else:
        origin = f"{path} is the path {where} names"
        elsewhere = f"if the service serves it at another path, correct {where}"
    return (
        f"{service} does not serve {exc.what}: GET {exc.url} answered {exc.answer} ({origin}). "
        f"To add it, {exc.howto}; {elsewhere}"
    )
