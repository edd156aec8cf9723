"""A service's optional signals as checks read them, and what a check says when one is missing.

``/metrics`` and pprof are optional for a service: its ``x-chaos`` block may name their
paths, and the port they are served on when that is not the service's own (an admin port),
and when it names none the conventional paths are tried on the service's port. A check that
needs a signal the service does not serve is *unknown*, and its message says which endpoint
was tried, where that path came from, what the service answered, and how to add it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    spec = env.topology.service(service)
    where = _Where(service, "pprof", spec.pprof, spec.pprof_port, DEFAULT_PPROF_PATH)
    try:
        return fetch_goroutines(where.base_url(env), where.path, timeout=timeout)
    except ProbeError as exc:
        raise where.error(exc) from exc


def read_metrics(env: Environment, service: str, *, timeout: float = 5.0) -> Metrics:
    """The service's Prometheus metrics; ProbeError says why they could not be read."""
    return metrics_reader(env, service)(timeout)


def metrics_reader(env: Environment, service: str) -> Callable[[float], Metrics]:
    """``read_metrics`` with the address looked up once, for scraping many times.

    The returned function takes a timeout in seconds.
    """
    spec = env.topology.service(service)
    where = _Where(service, "metrics", spec.metrics, spec.metrics_port, DEFAULT_METRICS_PATH)
    url = where.base_url(env)

    def read(timeout: float) -> Metrics:
        try:
            return fetch_metrics(url, where.path, timeout=timeout)
        except ProbeError as exc:
            raise where.error(exc) from exc

    return read


@dataclass(frozen=True)
class _Where:
    """Where a signal is read (path, and port when not the service's) and why there."""

    service: str
    key: str  # its x-chaos key: metrics or pprof
    declared: str | None
    port: int | None
    default: str

    @property
    def path(self) -> str:
        return self.declared or self.default

    def base_url(self, env: Environment) -> str:
        return env.url(self.service) if self.port is None else env.url(self.service, self.port)

    def error(self, exc: ProbeError) -> ProbeError:
        """``exc`` with where the path and port came from and what to change."""
        if isinstance(exc, SignalMissingError):
            return ProbeError(self._missing(exc))
        if self.port is None:
            return exc
        # Nothing answered on the declared port: the usual cause is an admin listener bound
        # to localhost inside the container, which nothing outside it can reach.
        return ProbeError(
            f"{exc}. x-chaos services.{self.service}.{self.key} names port {self.port}: "
            f"{self.service} must listen there on every interface of its container (e.g. "
            f":{self.port}, not localhost:{self.port}); if it serves {self.key} elsewhere, "
            "correct the port"
        )

    def _missing(self, exc: SignalMissingError) -> str:
        where = f"x-chaos services.{self.service}.{self.key}"
        on = "" if self.port is None else f" on port {self.port}"
        if self.declared is None and self.port is None:
            origin = f"{self.path} is the conventional default: {where} names no path"
            elsewhere = (
                f"if the service serves it at another path, set {where} to that path, or to "
                f"{{port: N, path: {self.path}}} if it serves it on another port"
            )
        elif self.declared is None:
            origin = f"{self.path}{on} is the conventional path on the port {where} names"
            elsewhere = f"if the service serves it at another path, add `path:` to {where}"
        else:
            origin = f"{self.path}{on} is the path {where} names"
            elsewhere = f"if the service serves it at another path or port, correct {where}"
        return (
            f"{self.service} does not serve {exc.what}: GET {exc.url} answered {exc.answer} "
            f"({origin}). To add it, {exc.howto}; {elsewhere}"
        )
