"""The local backend: the same build outputs run as host processes on 127.0.0.1.

For users without a container engine. Every container port a topology names gets a free
host port; ``SERVICE:PORT`` (or ``ALIAS:PORT`` of a network alias) in environment values
and ``{port:N}`` / ``{volume:NAME}`` in a service's ``x-chaos.local`` spec are rewritten to
them. Each process runs in its own process group (so signals reach everything it started)
and is recorded, with its owner, in a session folder that the reaper reads after a killed
run.

What only a container can do is left out, and said once per topology: a compose
healthcheck cannot run here, so readiness is an answer 200 at the ``x-chaos`` health path,
else the port accepting a connection; bind mounts, tmpfs and anonymous volumes are not
mounted (the process sees the host's files), ``extra_hosts`` are not resolved, and the
``x-chaos.local`` command runs instead of the image's entrypoint and command.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import Backend, ServiceState, free_port
from harness.build import build_lock, run_prebuild
from harness.compose import Warned, warn_once
from harness.errors import BackendError, TopologyError
from harness.labels import owner_alive, owner_token
from harness.topology import Link, Service, Topology

__all__ = ["LocalBackend", "reap_local", "sessions_root"]

_TEMPLATE = re.compile(r"\{(port|volume):([A-Za-z0-9_.-]+)\}")
_STOP_WAIT_S = 10.0


def sessions_root() -> Path:
    return Path(tempfile.gettempdir()) / "chaos-harness"


@dataclass
class _Process:
    service: Service
    popen: subprocess.Popen[bytes] | None = None
    command: tuple[str, ...] = ()
    started_at: str | None = None
    starts: int = 0
    paused: bool = False


class LocalBackend(Backend):
    name = "local"

    def __init__(self, session: str, *, warned: Warned | None = None) -> None:
        super().__init__(session)
        self._warned = warned  # the run's warnings already given (see harness.compose.warn_once)
        self.folder = sessions_root() / session
        self._ports: dict[tuple[str, int], int] = {}
        self._env: Mapping[str, str] = {}
        self._processes: dict[str, _Process] = {}
        self._lock = threading.Lock()  # services of one start level are spawned in parallel
        # The proxies the harness puts on transparent links: one Toxiproxy process for all,
        # each link on its own loopback port that the link's source is pointed at.
        self._proxy: subprocess.Popen[bytes] | None = None
        self._proxy_api = 0
        self._link_ports: dict[str, int] = {}

    # -- life cycle -------------------------------------------------------------------

    def prepare(self, topology: Topology, env: Mapping[str, str]) -> None:
        missing = sorted(s.name for s in topology.services.values() if s.local is None)
        if missing:
            raise TopologyError(
                f"the local backend needs `x-chaos: services: NAME: local: {{command: [...]}}` "
                f"in {topology.path} for: {', '.join(missing)}; add it, or use the docker backend"
            )
        self.topology = topology
        self._env = dict(env)
        _warn_left_out(topology, self._warned)
        self.folder.mkdir(parents=True, exist_ok=False)
        (self.folder / "owner").write_text(owner_token())
        with build_lock(topology):
            run_prebuild(topology)
        for service in topology.services.values():
            for port in service.known_ports:
                self._ports[(service.name, port)] = free_port()
        if topology.toxiproxy is not None:
            proxy = topology.toxiproxy.service
            self._ports[(proxy, topology.toxiproxy.api_port)] = free_port()
        for link in topology.links.values():
            if link.listen is not None and topology.toxiproxy is not None:
                self._ports[(topology.toxiproxy.service, link.listen)] = free_port()
            else:
                self._link_ports[link.name] = free_port()
        if self._link_ports and topology.proxy_image is not None:
            raise TopologyError(
                f"x-chaos.proxy.image in {topology.path} names an image, which the local "
                "backend cannot run: it runs the harness's own Toxiproxy build as a host "
                "process; use the docker backend, or drop x-chaos.proxy"
            )
        for volume in topology.volumes:
            (self.folder / "volumes" / volume).mkdir(parents=True)

    def start(self, service: Service) -> None:
        with self._lock:
            process = self._processes.setdefault(service.name, _Process(service))
        self._spawn(process)

    def down(self) -> None:
        with self._lock:
            processes = list(self._processes.values())
            self._processes.clear()
        for process in processes:
            _stop(process.popen, signal.SIGKILL)
        _stop(self._proxy, signal.SIGKILL)
        self._proxy = None
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- what tests do to services -----------------------------------------------------

    def address(self, service: str, port: int) -> tuple[str, int]:
        try:
            return "127.0.0.1", self._ports[(service, port)]
        except KeyError:
            raise BackendError(
                f"port {port} of service {service!r} is not known; list it under `ports:`"
            ) from None

    def proxy_endpoints(self, link: Link) -> tuple[str, str]:
        _, listen = self.link_address(link)
        _, upstream = self.address(link.upstream_service, link.upstream_port)
        return f"127.0.0.1:{listen}", f"127.0.0.1:{upstream}"

    def link_address(self, link: Link) -> tuple[str, int]:
        if link.name in self._link_ports:
            return "127.0.0.1", self._link_ports[link.name]
        return super().link_address(link)

    def link_logs(self, link: str) -> str:
        return self._read_log("link-proxies")

    def start_link_proxies(self, links: Sequence[Link]) -> dict[str, tuple[str, int]]:
        from harness.proxies import toxiproxy_binary

        binary = toxiproxy_binary()
        self._proxy_api = free_port()
        log = (self.folder / "link-proxies.log").open("ab")
        try:
            self._proxy = subprocess.Popen(
                [
                    str(binary),
                    "-host",
                    "127.0.0.1",
                    "-port",
                    str(self._proxy_api),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self._record()
        return {link.name: ("127.0.0.1", self._proxy_api) for link in links}

    def kill(self, service: str) -> None:
        process = self._process(service)
        _stop(process.popen, signal.SIGKILL)

    def terminate(self, service: str) -> None:
        popen = self._process(service).popen
        if popen is not None and popen.poll() is None:
            os.killpg(popen.pid, signal.SIGTERM)

    def pause(self, service: str) -> None:
        process = self._process(service)
        if process.popen is not None and process.popen.poll() is None:
            os.killpg(process.popen.pid, signal.SIGSTOP)
            process.paused = True

    def resume(self, service: str) -> None:
        process = self._process(service)
        if process.popen is not None and process.popen.poll() is None:
            os.killpg(process.popen.pid, signal.SIGCONT)
        process.paused = False

    def restart(self, service: str) -> None:
        process = self._process(service)
        if process.paused:
            self.resume(service)
        _stop(process.popen, signal.SIGTERM)
        self._spawn(process)

    def command_line(self, service: str) -> tuple[str, ...]:
        process = self._processes.get(service)
        return process.command if process is not None else ()

    def logs(self, service: str, tail: int | None = 200) -> str:
        return self._read_log(service, tail)

    def _read_log(self, name: str, tail: int | None = 200) -> str:
        try:
            lines = (self.folder / f"{name}.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        shown = lines if tail is None else lines[-tail:]
        return "\n".join(shown) + "\n" if shown else ""

    def state(self, service: str) -> ServiceState:
        process = self._process(service)
        popen = process.popen
        code = popen.poll() if popen is not None else None
        alive = popen is not None and code is None
        status = "paused" if alive and process.paused else "running" if alive else "exited"
        return ServiceState(
            service=service,
            alive=alive,
            status=status,
            pid=popen.pid if popen is not None and alive else None,
            started_at=process.started_at,
            restarts=max(0, process.starts - 1),
            exit_code=code,
            oom_killed=False,
        )

    # -- helpers ------------------------------------------------------------------------

    def _process(self, service: str) -> _Process:
        try:
            return self._processes[service]
        except KeyError:
            raise BackendError(
                f"service {service!r} has no process in this session; the running services "
                f"are: {', '.join(sorted(self._processes)) or 'none'}"
            ) from None

    def _spawn(self, process: _Process) -> None:
        service = process.service
        assert service.local is not None
        assert self.topology is not None
        command = [self._expand(service, part) for part in service.local.command]
        program = self.topology.project_dir / command[0]
        if program.exists():
            command[0] = str(program)
        declared = {**service.environment, **service.local.environment}
        env = {
            **os.environ,
            **{
                key: self._rewrite(self._expand(service, v), service.name)
                for key, v in declared.items()
            },
            **self._env,
        }
        process.command = tuple(command)
        log = (self.folder / f"{service.name}.log").open("ab")
        try:
            process.popen = subprocess.Popen(
                command,
                cwd=self.topology.project_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: signals reach its children
            )
        except OSError as exc:
            raise BackendError(
                f"service {service.name!r} could not start {command[0]!r}: {exc}; check "
                f"x-chaos.services.{service.name}.local.command in {self.topology.path}"
            ) from None
        finally:
            log.close()
        process.starts += 1
        process.paused = False
        process.started_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        self._record()

    def _record(self) -> None:
        # host:pid:start-time, so the reaper never signals a process that reused the PID.
        with self._lock:
            owners = {
                name: owner_token(p.popen.pid)
                for name, p in self._processes.items()
                if p.popen is not None
            }
            if self._proxy is not None:
                owners[" link-proxies"] = owner_token(self._proxy.pid)
            (self.folder / "processes.json").write_text(json.dumps(owners))

    def _expand(self, service: Service, text: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            kind, value = match.groups()
            if kind == "volume":
                return str(self.folder / "volumes" / value)
            return str(self.address(service.name, int(value))[1])

        return _TEMPLATE.sub(substitute, text)

    def _rewrite(self, text: str, source: str) -> str:
        """``SERVICE:PORT`` (or ``ALIAS:PORT``) of this topology becomes ``127.0.0.1:HOSTPORT``;
        for an upstream that ``source`` reaches through a link, the port of that link's proxy."""
        assert self.topology is not None
        for link in self.topology.links.values():
            if link.source == source and link.name in self._link_ports:
                # The upstream's aliases too, or calling it by one would bypass the proxy.
                names = (link.upstream_service, *self._aliases(link.upstream_service))
                for host in names:
                    upstream = rf"(?<![\w.-]){re.escape(host)}:{link.upstream_port}\b"
                    text = re.sub(upstream, f"127.0.0.1:{self._link_ports[link.name]}", text)
        for (name, port), host_port in self._ports.items():
            for host in (name, *self._aliases(name)):
                text = re.sub(
                    rf"(?<![\w.-]){re.escape(host)}:{port}\b", f"127.0.0.1:{host_port}", text
                )
        return text

    def _aliases(self, name: str) -> tuple[str, ...]:
        assert self.topology is not None
        service = self.topology.services.get(name)  # a Toxiproxy name is not a service
        return service.aliases if service is not None else ()


def _warn_left_out(topology: Topology, warned: Warned | None) -> None:
    """Say once what of the compose file a host process cannot have, where it matters."""
    lines = []
    for service in topology.services.values():
        missing = []
        if service.healthcheck is not None and not service.healthcheck.disabled:
            ready = f"GET {service.health}" if service.health else "its port accepting"
            missing.append(f"its healthcheck (readiness is {ready} instead)")
        mounts = [m.target for m in service.binds] + [t.target for t in service.tmpfs]
        mounts += list(service.anonymous_volumes)
        if mounts:
            missing.append(f"mounts at {', '.join(mounts)}")
        if service.extra_hosts:
            missing.append(f"extra_hosts {', '.join(h for h, _ in service.extra_hosts)}")
        if missing:
            lines.append(f"  - {service.name}: {'; '.join(missing)}")
    if lines:
        warn_once(
            topology.path,
            f"the local backend runs the services of {topology.path} as host processes, "
            "without what only a container has:\n" + "\n".join(lines),
            warned,
        )


def _stop(popen: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if popen is None or popen.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signal.SIGCONT)  # a paused process cannot act on SIGTERM
        os.killpg(popen.pid, sig)
    try:
        popen.wait(timeout=_STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=_STOP_WAIT_S)


def reap_local() -> list[str]:
    """Kill the processes of sessions whose owner died, and remove their folders."""
    reaped: list[str] = []
    root = sessions_root()
    if not root.is_dir():
        return reaped
    for folder in root.iterdir():
        try:
            owner = (folder / "owner").read_text()
        except OSError:
            continue
        if owner_alive(owner):
            continue
        try:
            processes: dict[str, str] = json.loads((folder / "processes.json").read_text())
        except (OSError, ValueError):
            processes = {}
        for token in processes.values():
            if owner_alive(token):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(int(token.split(":")[1]), signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)
        reaped.append(folder.name)
    return reaped
