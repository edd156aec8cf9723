"""The contract every backend keeps, and the readiness wait they share.

A backend runs the services of a topology somewhere the test process can reach on
127.0.0.1, and can do to each of them what production does: kill, terminate, pause,
resume, restart. It records everything it creates so that :meth:`Backend.down` (and, for a
killed run, the reaper) can remove it.

Readiness, the only thing a service must offer being a port: its healthcheck when it has
one (a backend that runs one reports its status in :attr:`ServiceState.health`), else an
answer 200 at its ``x-chaos`` health path, else its port accepting a connection.
"""

from __future__ import annotations

import shlex
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import requests
import tenacity

from harness.errors import BackendError, StartupError
from harness.topology import Link, Service, Topology

__all__ = ["Backend", "NotReadyError", "ServiceState", "free_port"]


def free_port() -> int:
    """A loopback port nobody listens on right now (the caller binds it soon after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServiceState:
    service: str
    alive: bool
    status: str
    pid: int | None
    started_at: str | None
    restarts: int
    exit_code: int | None
    oom_killed: bool
    # The container healthcheck's status (starting, healthy, unhealthy), None without one,
    # and the last check's exit code and output.
    health: str | None = None
    health_log: str = ""


class NotReadyError(Exception):
    """A transient 'not ready yet': the only error readiness waits retry on."""


class Backend(ABC):
    name: ClassVar[str]

    def __init__(self, session: str) -> None:
        self.session = session
        self.topology: Topology | None = None

    @abstractmethod
    def prepare(self, topology: Topology, env: Mapping[str, str]) -> None:
        """Build what is missing and create shared resources (network, volumes).

        ``env`` is added to every service's environment (the seeded bugs' variable, say).
        """

    @abstractmethod
    def start(self, service: Service) -> None:
        """Start one service without waiting for it to be ready."""

    @abstractmethod
    def down(self) -> None:
        """Remove everything this backend created; safe to call twice or after a failure."""

    @abstractmethod
    def address(self, service: str, port: int) -> tuple[str, int]:
        """Where the test process reaches ``port`` of ``service`` (always loopback)."""

    @abstractmethod
    def kill(self, service: str) -> None: ...

    @abstractmethod
    def terminate(self, service: str) -> None: ...

    @abstractmethod
    def pause(self, service: str) -> None: ...

    @abstractmethod
    def resume(self, service: str) -> None: ...

    @abstractmethod
    def restart(self, service: str) -> None:
        """Start a stopped (killed, terminated) service again, or stop and start a live one."""

    def disconnect(self, service: str) -> None:
        """Cut a service off the session network (a real partition, not a proxy trick)."""
        raise BackendError(f"the {self.name} backend cannot disconnect a service from its network")

    def connect(self, service: str) -> None:
        """Undo :meth:`disconnect`; connecting a connected service does nothing."""
        raise BackendError(f"the {self.name} backend cannot reconnect a service to its network")

    @abstractmethod
    def logs(self, service: str, tail: int | None = 200) -> str:
        """The service's output, last ``tail`` lines (all with None), across restarts."""

    @abstractmethod
    def state(self, service: str) -> ServiceState: ...

    def command_line(self, service: str) -> tuple[str, ...]:
        """The program and arguments the service runs (empty when unknown)."""
        return ()

    def start_link_proxies(self, links: Sequence[Link]) -> dict[str, tuple[str, int]]:
        """Start the proxies the harness supplies for transparent links (before any service,
        whose name resolution must point at them); return, per link name, where the test
        process reaches its Toxiproxy API."""
        raise BackendError(f"the {self.name} backend cannot put proxies on links")

    def link_logs(self, link: str) -> str:
        """What the proxy of a link the harness supplies printed (empty when unknown)."""
        return ""

    def proxy_endpoints(self, link: Link) -> tuple[str, str]:
        """Where a link's proxy listens and where it forwards to, as Toxiproxy sees them."""
        if link.listen is None:  # a proxy of its own, reached by the upstream's own port
            return f"0.0.0.0:{link.upstream_port}", link.upstream
        return f"0.0.0.0:{link.listen}", link.upstream

    def link_address(self, link: Link) -> tuple[str, int]:
        """Where the test process reaches a link's proxy listener itself (loopback): what
        the link's source reaches when it calls its upstream."""
        assert self.topology is not None, "prepare() first"
        if link.listen is not None and self.topology.toxiproxy is not None:
            return self.address(self.topology.toxiproxy.service, link.listen)
        raise BackendError(f"the {self.name} backend has no proxy for link {link.name!r}")

    def base_url(self, service: str) -> str:
        assert self.topology is not None, "prepare() first"
        host, port = self.address(service, self.topology.service(service).http_port)
        return f"http://{host}:{port}"

    def wait_ready(self, service: Service, timeout_s: float) -> None:
        """Wait until ``service`` answers its readiness check, or raise with its logs."""

        @tenacity.retry(
            retry=tenacity.retry_if_exception_type(NotReadyError),
            stop=tenacity.stop_after_delay(timeout_s),
            wait=tenacity.wait_exponential(multiplier=0.02, max=0.5),
            reraise=True,
        )
        def probe() -> None:
            self._probe_ready(service)

        started = time.monotonic()
        try:
            probe()
        except NotReadyError as exc:
            raise self._startup_error(
                service,
                f"was not ready after {time.monotonic() - started:.1f} s ({exc})",
                "read its last log lines below, or raise --chaos-startup-timeout if it is only "
                "slow",
                "check that it starts the service and that the service becomes ready as said "
                "above, or raise --chaos-startup-timeout if it is only slow",
            ) from None

    def _startup_error(
        self, service: Service, what: str, with_logs: str, without_logs: str
    ) -> StartupError:
        """``what`` happened to ``service``: say what it ran, and whether it printed anything."""
        logs = self.logs(service.name)
        command = self.command_line(service.name)
        ran = f"it ran `{shlex.join(command)}`" if command else ""
        if logs.strip():
            told = f"{ran}; {with_logs}" if ran else with_logs
        elif ran:
            told = f"{ran} and printed nothing; {without_logs}"
        else:
            told = f"it printed nothing; {without_logs}"
        return StartupError(
            f"service {service.name!r} {what}; {told}", service=service.name, logs=logs
        )

    def _probe_ready(self, service: Service) -> None:
        state = self.state(service.name)
        if not state.alive:
            raise self._startup_error(
                service,
                f"exited during start-up (status {state.status}, exit code {state.exit_code})",
                "its last log lines below say why",
                "run it by hand to see why",
            )
        if state.health is not None:
            # Its own healthcheck decides, as `depends_on: condition: service_healthy` would.
            last = f"; last check: {state.health_log}" if state.health_log else ""
            if state.health == "healthy":
                return
            if state.health == "unhealthy":
                raise self._startup_error(
                    service,
                    f"is unhealthy: its healthcheck failed{last}",
                    "read its last log lines below, and check the healthcheck in the compose file",
                    "check the healthcheck in the compose file",
                )
            raise NotReadyError(f"its healthcheck is still {state.health!r}{last}")
        try:
            host, port = self.address(service.name, service.http_port)
        except BackendError:
            if self.state(service.name).alive:
                raise
            # It exited since the check above (an exited container publishes no ports): the
            # next probe reports the exit, with its log, instead of "port not published".
            raise NotReadyError("it stopped running") from None
        if service.health is not None:
            try:
                reply = requests.get(f"http://{host}:{port}{service.health}", timeout=1.0)
            except requests.RequestException as exc:
                raise NotReadyError(f"GET {service.health}: {type(exc).__name__}") from None
            if reply.status_code != 200:
                raise NotReadyError(f"GET {service.health} answered {reply.status_code}")
            return
        try:
            conn = socket.create_connection((host, port), timeout=1.0)
        except OSError as exc:
            raise NotReadyError(f"port {port} not accepting connections: {exc}") from None
        with conn:
            # Docker's port proxy accepts a connection even when nothing listens behind it,
            # then closes it at once; a real server keeps it open, waiting for a request.
            conn.settimeout(0.2)
            try:
                if conn.recv(1):
                    return  # it spoke first
            except TimeoutError:
                return  # it waits for a request
            except OSError:
                pass
        raise NotReadyError(f"port {port} accepted a connection and closed it at once")
