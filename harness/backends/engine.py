"""Which Docker engine a run uses, and how its published ports are reached from here.

``DOCKER_HOST`` (or ``--chaos-engines`` for an xdist worker) names the engine, as the
Docker SDK reads it. A socket or tcp engine on this machine is used as it is; an
``ssh://`` engine, on this machine or another, goes through one OpenSSH tunnel
(:mod:`harness.backends.ssh`) that carries the API and forwards each published port to
this machine's 127.0.0.1. A ``tcp://`` engine on another machine is refused: its ports
could be reached only by publishing the system beyond that machine's loopback.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.backends.ssh import SshTunnel
from harness.errors import EngineUnavailableError

if TYPE_CHECKING:
    import docker

__all__ = ["Engine", "connect_engine", "docker_client", "engine_gone", "remote_engine"]

_API_TIMEOUT_S = 120


@dataclass
class Engine:
    """A client of one engine, and the tunnel its ports come through (None: no tunnel)."""

    client: docker.DockerClient
    host: str = ""  # the DOCKER_HOST value it was named by ("" for the default)
    tunnel: SshTunnel | None = None

    @property
    def remote(self) -> str | None:
        """The other machine the engine runs on, if it does (see :func:`remote_engine`)."""
        return remote_engine(self.host) if self.host else None

    def reach(self, published_port: int) -> tuple[str, int]:
        """Where this process reaches a port the engine published on its 127.0.0.1."""
        if self.tunnel is None:
            return "127.0.0.1", published_port
        return "127.0.0.1", self.tunnel.forward(published_port)

    def open(self) -> None:
        """Open the tunnel again after :meth:`release` (the client keeps its address)."""
        if self.tunnel is not None:
            self.tunnel.open()

    def release(self) -> None:
        """Close the tunnel, if any, until the next :meth:`open`: a system that is down
        needs no connection to its machine."""
        if self.tunnel is not None:
            self.tunnel.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        self.release()


def connect_engine(host: str | None = None) -> Engine:
    """The engine ``host`` names (a ``DOCKER_HOST`` value), else the one the environment
    names (``DOCKER_HOST`` included); raise :class:`EngineUnavailableError` if it does not
    answer, having closed whatever was opened for it."""
    import docker
    import docker.errors

    host = host or os.environ.get("DOCKER_HOST", "")
    scheme = host.partition("://")[0] if "://" in host else ""
    elsewhere = remote_engine(host) if host and scheme != "ssh" else None
    if elsewhere is not None:
        raise EngineUnavailableError(
            f"{host} (DOCKER_HOST, or --chaos-engines for this worker) names an engine on "
            f"{elsewhere}, another machine, without SSH. The harness publishes services on "
            "the engine host's 127.0.0.1 only (nothing beyond that machine may reach the "
            "system under test), so it reaches them through an SSH tunnel: name the engine "
            f"as ssh://USER@{elsewhere} (a login there that may use its engine, with a key "
            "the agent or ~/.ssh holds), or run pytest on that machine. Nothing was started."
        )
    tunnel = SshTunnel(host) if scheme == "ssh" else None
    try:
        if tunnel is not None:
            tunnel.open()
        url = tunnel.docker_url if tunnel is not None else host
        environment = {**os.environ, "DOCKER_HOST": url} if url else None
        client = docker.from_env(timeout=_API_TIMEOUT_S, environment=environment)
        client.ping()
    except (docker.errors.DockerException, OSError, EngineUnavailableError) as exc:
        if tunnel is not None:
            tunnel.close()
        if host:
            raise EngineUnavailableError(engine_gone(host, exc)) from None
        raise EngineUnavailableError(
            f"no Docker engine answered ({exc}). Start one (as root on Debian: "
            "`apt-get install docker.io && dockerd &`), point DOCKER_HOST at one, or run "
            "without containers with --chaos-backend=local"
        ) from None
    return Engine(client, host, tunnel)


def docker_client(host: str | None = None) -> docker.DockerClient:
    """A client of a socket or tcp engine, for work on the API alone (no published port is
    reached through it); an ``ssh://`` engine needs :func:`connect_engine`'s tunnel."""
    engine = connect_engine(host)
    if engine.tunnel is not None:
        engine.close()
        raise EngineUnavailableError(
            f"{engine.host}: an ssh engine is reached through a tunnel that must be closed "
            "after use; call harness.backends.engine.connect_engine and close what it returns"
        )
    return engine.client


def remote_engine(docker_host: str) -> str | None:
    """The host a tcp:// or ssh:// DOCKER_HOST names, if it is not this machine (None: a
    socket, loopback, or an address of this machine, which it can bind)."""
    scheme, _, rest = docker_host.partition("://")
    if scheme not in ("tcp", "ssh", "http", "https"):
        return None
    netloc = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    host = netloc[1:].split("]", 1)[0] if netloc.startswith("[") else netloc.rsplit(":", 1)[0]
    if not host or host == "localhost":
        return None
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except OSError:
        return None  # unresolvable: the engine's own error says so when it is dialled
    for address in addresses:
        family = socket.AF_INET6 if ":" in str(address) else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((str(address), 0))  # only an address of this machine binds
            return None
        except OSError:
            continue
    return host


def engine_gone(host: str, exc: BaseException) -> str:
    """One paragraph on an engine named on purpose that did not answer."""
    scheme = host.split("://", 1)[0] if "://" in host else "unix"
    how = {
        "tcp": "is dockerd listening there (`dockerd -H tcp://127.0.0.1:2375`, or 2376 with "
        "DOCKER_TLS_VERIFY and DOCKER_CERT_PATH for TLS) and is the port open from here",
        "ssh": "can this user log in there without a password (`ssh -o BatchMode=yes HOST "
        "docker version` must work: a key the agent or ~/.ssh holds, the host in "
        "known_hosts), is that user allowed to use the engine (the docker group), and does "
        "its sshd allow forwarding (AllowTcpForwarding, AllowStreamLocalForwarding)",
        "unix": "does the socket exist and may this user open it",
    }.get(scheme, "is it an address the Docker SDK reads (unix://, tcp://, ssh://)")
    return (
        f"the Docker engine at {host} (DOCKER_HOST, or --chaos-engines for this worker) did "
        f"not answer: {exc}. Check it: {how}; or name another engine, or none to use this "
        "machine's. Nothing was started on it, and the harness does not fall back to host "
        "processes for an engine named on purpose."
    )
