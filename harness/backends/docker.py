"""The Docker backend: one labelled network, volumes and hardened containers per session.

Everything it creates carries the session's labels, so :meth:`DockerBackend.down` and the
reaper find it by label rather than by memory: a half-finished start-up is cleaned up as
completely as a finished one. Anonymous volumes of the compose file become labelled
volumes of the session too, so nothing a run creates is left without a label.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.backends.base import Backend, ServiceState, free_port
from harness.backends.engine import Engine, connect_engine, docker_client
from harness.build import build_images, build_lock, run_prebuild
from harness.errors import BackendError
from harness.labels import SESSION_LABEL, session_labels
from harness.proxies import toxiproxy_image
from harness.topology import Healthcheck, Link, Service, Topology

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

__all__ = ["DockerBackend", "docker_client", "remove_session"]

_PORT_ATTEMPTS = 5
_STOP_TIMEOUT_S = 10  # Docker's default grace before SIGKILL, when the file sets none
_PROXY_API_PORT = 8474


def _safe(name: str) -> str:
    """A service name as a container name may spell it."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


class DockerBackend(Backend):
    name = "docker"

    def __init__(
        self,
        session: str,
        engine: Engine | None = None,
        *,
        build_args: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(session)
        self.engine = engine or connect_engine()
        self.client = self.engine.client
        # Added to every image build (what x-chaos.race declares, under --chaos-race).
        self.build_args = dict(build_args or {})
        self.network_name = f"{session}-net"
        self._images: dict[str, str] = {}
        self._env: Mapping[str, str] = {}
        self._containers: dict[str, Container] = {}
        self._proxy_image: str | None = None
        self._links: dict[str, Container] = {}  # link name -> its proxy's container
        self._link_ips: dict[str, str] = {}  # link name -> its proxy's address on the network

    # -- life cycle -------------------------------------------------------------------

    def prepare(self, topology: Topology, env: Mapping[str, str]) -> None:
        self.topology = topology
        self._env = dict(env)
        self.engine.open()
        binds = [f"{s.name}: {b.source}" for s in topology.services.values() for b in s.binds]
        if binds and self.engine.remote:
            raise BackendError(
                f"{topology.path} bind-mounts files of this machine ({'; '.join(binds)}), "
                f"but the engine runs on {self.engine.remote}, which cannot see them: copy "
                "them into the image (a Dockerfile COPY) or a volume, or run on that machine"
            )
        with build_lock(topology):
            run_prebuild(topology)
            self._images = build_images(self.client, topology, self.build_args)
        if any(link.transparent for link in topology.links.values()):
            self._proxy_image = self._link_proxy_image(topology)
        labels = session_labels(self.session)
        self.client.networks.create(self.network_name, driver="bridge", labels=labels)
        for volume in topology.volumes:
            self.client.volumes.create(name=self._volume_name(volume), labels=labels)
        for service in topology.services.values():
            for index in range(len(service.anonymous_volumes)):
                name = self._anonymous_volume_name(service.name, index)
                self.client.volumes.create(name=name, labels=labels)

    def start(self, service: Service) -> None:
        from docker.types import Mount

        assert self.topology is not None, "prepare() first"
        ports = set(service.known_ports)
        toxiproxy = self.topology.toxiproxy
        if toxiproxy is not None and toxiproxy.service == service.name:
            ports.add(toxiproxy.api_port)
        mounts = [
            *(
                Mount(m.target, self._volume_name(m.volume), read_only=m.read_only)
                for m in service.volumes
            ),
            *(
                Mount(target, self._anonymous_volume_name(service.name, index))
                for index, target in enumerate(service.anonymous_volumes)
            ),
            *(Mount(b.target, str(b.source), type="bind", read_only=True) for b in service.binds),
        ]
        run_args: dict[str, Any] = {
            "image": self._images[service.name],
            "name": self._container_name(service.name),
            "command": list(service.command) if service.command else None,
            # [""] is the engine's way to say "no entrypoint" (compose's `entrypoint: []`).
            "entrypoint": None if service.entrypoint is None else list(service.entrypoint) or [""],
            "environment": {**service.environment, **self._env},
            # The harness's labels last: the reaper and cleanup find containers by them.
            "labels": {
                **service.labels,
                **session_labels(self.session),
                "chaos-harness.service": service.name,
            },
            "network": self.network_name,
            # The service name is its host name on the session network, as in compose, and
            # its `networks:` aliases are more names for it there.
            "networking_config": {
                self.network_name: self.client.api.create_endpoint_config(
                    aliases=[service.name, *service.aliases]
                )
            },
            "ports": {},  # chosen per attempt below
            "mounts": mounts,
            "tmpfs": {t.target: t.options for t in service.tmpfs},
            "cap_drop": ["ALL"],
            "cap_add": list(service.cap_add) or None,
            "security_opt": ["no-new-privileges:true"],
            "read_only": service.read_only or not service.writable,
            "privileged": False,
            "init": service.init or None,
            "extra_hosts": [f"{host}:{address}" for host, address in service.extra_hosts],
            "detach": True,
        }
        for key in ("user", "working_dir", "hostname", "stop_signal"):
            if getattr(service, key) is not None:
                run_args[key] = getattr(service, key)
        if service.healthcheck:
            run_args["healthcheck"] = _healthcheck(service.healthcheck)
        # Its links' upstreams resolve to their proxies: the service keeps calling them by
        # name, and /etc/hosts (read before DNS) answers with the proxy's address.
        # Its network aliases too: a source calling the upstream by an alias must not
        # bypass the link's proxy (its faults would silently miss).
        hosts = {
            host: self._link_ips[name]
            for name, link in self.topology.links.items()
            if link.source == service.name and name in self._link_ips
            for host in (link.upstream_service, *self._service(link.upstream_service).aliases)
        }
        if hosts:
            # A link's proxy wins over the file's own entry for the same name.
            run_args["extra_hosts"] = [
                *(entry for entry in run_args["extra_hosts"] if entry.split(":")[0] not in hosts),
                *(f"{host}:{address}" for host, address in hosts.items()),
            ]
        container = self._create_with_ports(run_args, ports, service.name)
        self._containers[service.name] = container

    def _create_with_ports(self, run_args: dict[str, Any], ports: set[int], what: str) -> Container:
        """Create and start a container, its ports published on loopback at free ports."""
        import docker.errors

        for attempt in range(_PORT_ATTEMPTS):
            # Published ports bind to loopback only: nothing beyond this machine reaches them.
            # They are chosen here, not by the engine, so that a service killed and started
            # again keeps its address (the engine would pick a new port on every start).
            run_args["ports"] = {f"{port}/tcp": ("127.0.0.1", free_port()) for port in ports}
            container = None
            try:
                container = self.client.containers.create(**run_args)
                container.start()
                break
            except docker.errors.APIError as exc:
                if container is not None:
                    with contextlib.suppress(docker.errors.APIError):
                        container.remove(force=True)
                taken = "port is already allocated" in str(exc) or "address already in use" in str(
                    exc
                )
                if not taken or attempt == _PORT_ATTEMPTS - 1:
                    raise BackendError(
                        f"the engine could not start {what!r}: {exc.explanation or exc}"
                    ) from None
        assert container is not None
        return container

    # -- the proxies the harness puts on links ------------------------------------------

    def _link_proxy_image(self, topology: Topology) -> str:
        import docker.errors

        if topology.proxy_image is None:
            return toxiproxy_image(self.client)
        try:
            self.client.images.get(topology.proxy_image)
        except docker.errors.ImageNotFound:
            raise BackendError(
                f"x-chaos.proxy.image {topology.proxy_image!r} in {topology.path} is not on "
                "the Docker engine; pull or build it first, or drop x-chaos.proxy to let the "
                "harness build its own Toxiproxy"
            ) from None
        return topology.proxy_image

    def start_link_proxies(self, links: Sequence[Link]) -> dict[str, tuple[str, int]]:
        """One Toxiproxy container per link, each with its own address on the network.

        One per link rather than one for all: a caller's name resolution points the
        upstream's name at one address, and the proxy there listens on the upstream's own
        port, so two links to the same upstream (or to two upstreams on the same port)
        need two addresses.
        """
        assert self._proxy_image is not None, "prepare() first"
        apis: dict[str, tuple[str, int]] = {}
        for link in links:
            run_args: dict[str, Any] = {
                "image": self._proxy_image,
                "name": f"{self.session}-link-{_safe(link.source)}-{_safe(link.upstream_service)}",
                "command": ["-host", "0.0.0.0", "-port", str(_PROXY_API_PORT)],
                "labels": {**session_labels(self.session), "chaos-harness.link": link.name},
                "network": self.network_name,
                "ports": {},
                "cap_drop": ["ALL"],
                "security_opt": ["no-new-privileges:true"],
                "read_only": True,
                "detach": True,
            }
            ports = {_PROXY_API_PORT, link.upstream_port}
            container = self._create_with_ports(run_args, ports, f"the proxy of {link.name}")
            self._links[link.name] = container
            container.reload()
            networks = container.attrs["NetworkSettings"]["Networks"]
            self._link_ips[link.name] = networks[self.network_name]["IPAddress"]
            apis[link.name] = self._published(container, _PROXY_API_PORT, f"link {link.name}")
        return apis

    def link_address(self, link: Link) -> tuple[str, int]:
        if link.name in self._links:
            return self._published(self._links[link.name], link.upstream_port, link.name)
        return super().link_address(link)

    def link_logs(self, link: str) -> str:
        import docker.errors

        try:
            raw: bytes = self._links[link].logs(tail=200)
        except (KeyError, docker.errors.APIError):
            return ""
        return raw.decode(errors="replace")

    def down(self) -> None:
        remove_session(self.client, self.session)
        self.engine.release()
        self._containers.clear()
        self._links.clear()
        self._link_ips.clear()

    # -- what tests do to services -----------------------------------------------------

    def address(self, service: str, port: int) -> tuple[str, int]:
        return self._published(self._container(service), port, service)

    def _published(self, container: Container, port: int, what: str) -> tuple[str, int]:
        # The binding the harness chose when it created the container: it stays through
        # kills and restarts (a stopped container publishes nothing, but keeps it, so a
        # client there is refused, as a client of a dead service is). No inspect per call:
        # addresses are asked for on every request a check sends.
        configured = container.attrs.get("HostConfig", {}).get("PortBindings") or {}
        bindings = configured.get(f"{port}/tcp")
        if not bindings:
            raise BackendError(
                f"port {port} of {what!r} is not published (is it running?);"
                " list it under `ports:` in the compose file"
            )
        return self.engine.reach(int(bindings[0]["HostPort"]))

    def kill(self, service: str) -> None:
        self._container(service).kill(signal="SIGKILL")
        self._container(service).wait(condition="not-running", timeout=30)

    def terminate(self, service: str) -> None:
        self._container(service).kill(signal="SIGTERM")

    def pause(self, service: str) -> None:
        self._container(service).pause()

    def resume(self, service: str) -> None:
        self._container(service).unpause()

    def restart(self, service: str) -> None:
        container = self._container(service)
        container.reload()
        if container.status == "paused":
            container.unpause()
        if container.status in ("running", "paused"):
            grace = self._service(service).stop_grace_period_s
            container.restart(timeout=_STOP_TIMEOUT_S if grace is None else math.ceil(grace))
        else:
            container.start()

    def disconnect(self, service: str) -> None:
        import docker.errors

        container = self._container(service)
        network = self.client.networks.get(self.network_name)
        with contextlib.suppress(docker.errors.APIError):  # already disconnected
            network.disconnect(container, force=True)

    def connect(self, service: str) -> None:
        container = self._container(service)
        container.reload()
        if self.network_name in container.attrs["NetworkSettings"]["Networks"]:
            return
        aliases = [service, *self._service(service).aliases]
        self.client.networks.get(self.network_name).connect(container, aliases=aliases)

    def logs(self, service: str, tail: int | None = 200) -> str:
        import docker.errors

        try:
            raw: bytes = self._container(service).logs(tail="all" if tail is None else tail)
        except (docker.errors.APIError, BackendError):
            return ""
        return raw.decode(errors="replace")

    def state(self, service: str) -> ServiceState:
        container = self._container(service)
        container.reload()
        st = container.attrs["State"]
        health = st.get("Health") or {}
        checks = health.get("Log") or []
        last = (
            f"exit code {checks[-1].get('ExitCode')}, output "
            f"{str(checks[-1].get('Output') or '').strip()[-300:]!r}"
            if checks
            else ""
        )
        return ServiceState(
            service=service,
            alive=bool(st.get("Running")) or bool(st.get("Paused")),
            status=str(st.get("Status")),
            pid=int(st["Pid"]) or None,
            started_at=st.get("StartedAt"),
            restarts=int(container.attrs.get("RestartCount", 0)),
            exit_code=None if st.get("Running") else int(st.get("ExitCode", 0)),
            oom_killed=bool(st.get("OOMKilled")),
            health=health.get("Status"),
            health_log=last,
        )

    def command_line(self, service: str) -> tuple[str, ...]:
        try:
            config = self._container(service).attrs["Config"]
        except (BackendError, KeyError):
            return ()
        return tuple(config.get("Entrypoint") or ()) + tuple(config.get("Cmd") or ())

    # -- helpers ------------------------------------------------------------------------

    def _container(self, service: str) -> Container:
        try:
            return self._containers[service]
        except KeyError:
            raise BackendError(
                f"service {service!r} has no container in this session; "
                f"the running services are: {', '.join(sorted(self._containers)) or 'none'}"
            ) from None

    def _service(self, service: str) -> Service:
        assert self.topology is not None, "prepare() first"
        return self.topology.service(service)

    def _container_name(self, service: str) -> str:
        return f"{self.session}-{service}"

    def _volume_name(self, volume: str) -> str:
        return f"{self.session}-{volume}"

    def _anonymous_volume_name(self, service: str, index: int) -> str:
        return f"{self.session}-{service}-anonymous-{index}"


def remove_session(client: docker.DockerClient, session: str | None) -> None:
    """Remove containers, networks and volumes of one session (or, with None, all)."""
    import docker.errors

    selector = f"{SESSION_LABEL}={session}" if session else SESSION_LABEL
    # ignore_removed: another run's reaper may remove the same container between list and
    # inspect (two xdist workers reap the same orphans at once).
    for container in client.containers.list(
        all=True, filters={"label": selector}, ignore_removed=True
    ):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)
    for network in client.networks.list(filters={"label": selector}):
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()
    for volume in client.volumes.list(filters={"label": selector}):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)


def _healthcheck(check: Healthcheck) -> dict[str, Any]:
    """The compose healthcheck as the Docker SDK takes it (durations in nanoseconds)."""

    def ns(seconds: float | None) -> int | None:
        return None if seconds is None else int(seconds * 1e9)

    if check.disabled:
        return {"test": ["NONE"]}
    interval = check.interval_s
    if check.start_interval_s is not None:
        # The SDK cannot pass StartInterval (its Healthcheck keeps five keys, and engines
        # before 25 ignore it), so the start interval becomes the interval: readiness comes
        # as soon as the file intends. Only readiness reads the status, and every (re)start
        # resets it to "starting", so checking more often afterwards changes nothing else.
        interval = min(interval or 30.0, check.start_interval_s)
    return {
        "test": list(check.test) or None,  # None: the image's HEALTHCHECK command
        "interval": ns(interval),
        "timeout": ns(check.timeout_s),
        "start_period": ns(check.start_period_s),
        "retries": check.retries,
    }
