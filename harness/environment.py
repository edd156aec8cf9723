"""A running topology: start-up in dependency order, proxies, faults, reset between tests.

:class:`Environment` is a context manager: if start-up fails half-way, everything that had
started is removed before the error reaches the caller.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from harness.backends.base import Backend, ServiceState
from harness.errors import ChaosError, FaultError, LeftoverFaultError
from harness.events import Events
from harness.history import History
from harness.load import LoadResult, LoadRun, RequestFactory, start_load
from harness.timeline import Timeline
from harness.topology import Topology
from harness.toxiproxy import ProxyHandle, ToxiproxyServer

if TYPE_CHECKING:
    from faults.base import Fault

__all__ = ["Environment"]

log = logging.getLogger("chaos-harness")


class Environment:
    def __init__(
        self,
        topology: Topology,
        backend: Backend,
        *,
        service_env: Mapping[str, str] | None = None,
        startup_timeout_s: float = 60.0,
        seed: int = 0,
    ) -> None:
        self.topology = topology
        self.backend = backend
        self.seed = seed
        self.startup_timeout_s = startup_timeout_s
        self._service_env = dict(service_env or {})
        self._servers: dict[tuple[str, int], ToxiproxyServer] = {}  # by API address
        self._proxies: dict[str, ProxyHandle] = {}
        self._active: list[Fault] = []
        self.faults_applied: list[Fault] = []  # every fault switched on, in order, for reports
        # Faults going on and off, verdicts, progress: the summary and reports listen here.
        self.events = Events()
        self.timeline = Timeline()  # the current test's; the plugin starts a new one per test

    # -- life cycle -------------------------------------------------------------------

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    def start(self) -> None:
        self.backend.prepare(self.topology, self._service_env)
        own = [link for link in self.topology.links.values() if link.transparent]
        if own:
            # Before any service: a service's name resolution points at its links' proxies.
            apis = self.backend.start_link_proxies(own)
            for link in own:
                server = self._server(*apis[link.name])
                server.wait_ready(
                    self.startup_timeout_s,
                    what=f"link {link.name}",
                    logs=functools.partial(self.backend.link_logs, link.name),
                )
                self._proxies[link.name] = server.create(link, *self.backend.proxy_endpoints(link))
        for level in self.topology.start_levels():
            services = [self.topology.service(name) for name in level]
            with ThreadPoolExecutor(max_workers=len(services)) as pool:
                list(pool.map(self.backend.start, services))
            # Waited for in this thread: a pool's exit would hold Ctrl-C (and the cleanup
            # after it) until every readiness wait had run out its whole timeout.
            for service in services:
                self.backend.wait_ready(service, self.startup_timeout_s)
            spec = self.topology.toxiproxy
            if spec is not None and spec.service in level:
                server = self._server(*self.backend.address(spec.service, spec.api_port))
                for link in self.topology.links.values():
                    listen, upstream = self.backend.proxy_endpoints(link)
                    self._proxies[link.name] = server.create(link, listen, upstream)

    def _server(self, host: str, port: int) -> ToxiproxyServer:
        return self._servers.setdefault((host, port), ToxiproxyServer(host, port))

    def down(self) -> None:
        self._active.clear()
        self._proxies.clear()
        self._servers.clear()
        self.backend.down()

    # -- addresses and signals -----------------------------------------------------------

    def url(self, service: str, port: int | None = None) -> str:
        """Base URL of a service's HTTP port (or of its container port ``port``), on 127.0.0.1."""
        if port is None:
            return self.backend.base_url(service)
        host, published = self.backend.address(service, port)
        return f"http://{host}:{published}"

    def state(self, service: str) -> ServiceState:
        return self.backend.state(service)

    def logs(self, service: str, tail: int | None = 200) -> str:
        return self.backend.logs(service, tail)

    def log_mark(self, service: str) -> int:
        """A bookmark in a service's log (its line count), for :meth:`logs_since`."""
        return len(self.backend.logs(service, None).splitlines())

    def logs_since(self, service: str, mark: int) -> str:
        """What a service logged after ``mark`` (logs only grow, across restarts too)."""
        lines = self.backend.logs(service, None).splitlines()[mark:]
        return "\n".join(lines) + "\n" if lines else ""

    # -- load -----------------------------------------------------------------------------

    def load(self, service: str, request: str | RequestFactory, **options: Any) -> LoadResult:
        """Open-model load against a service, blocking until done; the history is kept in
        the test's timeline. Takes the arguments of :meth:`start_load`."""
        return self.start_load(service, request, **options).wait()

    def start_load(
        self,
        service: str,
        request: str | RequestFactory,
        *,
        rate: float,
        seconds: float,
        max_requests: int | None = None,
        timeout: float = 5.0,
        **options: Any,
    ) -> LoadRun:
        """Open-model load in the background: break things while it runs, then ``.wait()``
        for the result (or use it as a context manager).

        ``max_requests`` defaults to what ``rate`` and ``seconds`` plan; see
        :func:`harness.load.run_load` for the other options. What the clients saw goes out
        as a progress line (shown with ``-v``) when the result is first waited for.
        """
        planned = max_requests if max_requests is not None else max(1, round(rate * seconds))
        history = History()
        label = f"{service} {_label(request)}"
        self.timeline.record(f"{service}: {_label(request)}", history)
        return start_load(
            self.url(service),
            request,
            rate=rate,
            seconds=seconds,
            max_requests=planned,
            timeout=timeout,
            history=history,
            on_done=lambda result: self.events.progress(f"load {label}: {result.answers()}"),
            **options,
        )

    # -- faults ---------------------------------------------------------------------------

    def link_address(self, link: str) -> tuple[str, int]:
        """Where the test process reaches a link's proxy itself (on 127.0.0.1): what the
        link's source reaches when it calls its upstream, faults included."""
        return self.backend.link_address(self.topology.link(link))

    def toxiproxy_versions(self) -> list[str]:
        """What each Toxiproxy server of this system answers on GET /version."""
        return [server.version() for server in self._servers.values()]

    def proxy(self, link: str) -> ProxyHandle:
        self.topology.link(link)  # an unknown link names the known ones
        try:
            return self._proxies[link]
        except KeyError:
            raise FaultError(
                f"link {link!r} has no proxy: the environment is not running"
            ) from None

    def track_fault(self, fault: Fault, active: bool) -> None:
        if active == (fault in self._active):
            return
        if active:
            self._active.append(fault)
            self.faults_applied.append(fault)
        else:
            self._active.remove(fault)
        self.timeline.on_fault(fault, active)
        self.events.fault(fault, active)

    @property
    def active_faults(self) -> tuple[Fault, ...]:
        return tuple(self._active)

    @contextmanager
    def inject(self, fault: Fault) -> Iterator[Fault]:
        """Apply ``fault`` for the duration of the block; it is healed however the block ends."""
        fault.apply(self)
        try:
            yield fault
        finally:
            fault.heal(self)

    def heal_all(self) -> list[str]:
        """Heal every fault; return a description of each that was still on.

        Besides the faults this environment applied, anything left in Toxiproxy (a toxic
        added by hand, a disabled proxy) counts, so a leftover is found whoever made it.
        """
        leftovers = [f.describe() for f in self._active]
        for fault in reversed(list(self._active)):
            try:
                fault.heal(self)
            except ChaosError as exc:
                log.warning("healing %s failed: %s", fault.describe(), exc)
        self._active.clear()
        for name, proxy in self._proxies.items():
            leftovers += [f"toxic {t.name} ({t.type}) on {name}" for t in proxy.toxics()]
            if not proxy.enabled:
                leftovers.append(f"link {name} down")
        for server in self._servers.values():
            server.reset()
        return leftovers

    def reset(self) -> None:
        """Bring the world back to its healthy baseline cheaply (no rebuild, no re-create)."""
        self.heal_all()
        for name in self.topology.services:
            state = self.backend.state(name)
            if state.status == "paused":
                self.backend.resume(name)
            elif not state.alive:
                self.backend.restart(name)
            else:
                continue
            self.backend.wait_ready(self.topology.service(name), self.startup_timeout_s)

    def restart(self, service: str) -> None:
        """Stop and start one service (SIGTERM first) and wait until it is ready again."""
        self.backend.restart(service)
        self.backend.wait_ready(self.topology.service(service), self.startup_timeout_s)

    def assert_healed(self) -> None:
        leftovers = self.heal_all()
        if leftovers:
            raise LeftoverFaultError(
                "faults were still active when the test ended (now healed): "
                + "; ".join(leftovers)
                + ". Heal what a test applies: use `with fault:` or `chaos.inject(fault)`."
            )


def _label(request: str | RequestFactory) -> str:
    return request if isinstance(request, str) else getattr(request, "__name__", "requests")
