"""An engine reached over SSH: one OpenSSH connection carries the Docker API and every port.

For ``DOCKER_HOST=ssh://USER@HOST`` the harness opens one OpenSSH master connection to the
engine's machine. Through it, a local socket reaches the engine's API socket there, and
each port the harness publishes on that machine's 127.0.0.1 is forwarded to a port on this
machine's 127.0.0.1. The services stay unreachable from any other machine, and the tests
call them on 127.0.0.1 as with a local engine. OpenSSH, not a Python SSH library, so the
user's ``~/.ssh/config``, agent and known hosts apply exactly as they do for
``docker -H ssh://...`` and ``ssh`` itself.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import tenacity

from harness.backends.base import free_port
from harness.errors import EngineUnavailableError

__all__ = ["SshAddress", "SshTunnel"]

# Where the engine listens on its machine: the socket `docker` and dockerd default to.
REMOTE_ENGINE_SOCKET = "/var/run/docker.sock"
_CONNECT_DEADLINE_S = 30.0
_FORWARD_ATTEMPTS = 5


@dataclass(frozen=True)
class SshAddress:
    """``ssh://[USER@]HOST[:PORT]``, as the Docker SDK and CLI read it."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, docker_host: str) -> SshAddress:
        scheme, _, rest = docker_host.partition("://")
        netloc, _, path = rest.partition("/")
        if scheme != "ssh" or not netloc or path:
            raise EngineUnavailableError(
                f"{docker_host!r} is not an ssh engine address; write ssh://USER@HOST or "
                "ssh://USER@HOST:PORT (the engine's socket there is "
                f"{REMOTE_ENGINE_SOCKET}, as for `docker -H ssh://...`)"
            )
        user, _, hostport = netloc.rpartition("@")
        host, port = hostport, None
        if hostport.startswith("["):  # [v6]:port
            host, _, tail = hostport[1:].partition("]")
            port = tail[1:] or None
        elif hostport.count(":") == 1:
            host, port = hostport.split(":")
        if not host or (port is not None and not port.isdigit()):
            raise EngineUnavailableError(
                f"{docker_host!r}: cannot read a host and port in it; write ssh://USER@HOST:PORT"
            )
        return cls(host=host, user=user or None, port=int(port) if port else None)

    def destination(self) -> list[str]:
        """The arguments that name this machine to ``ssh``."""
        port = ["-p", str(self.port)] if self.port else []
        return [*port, f"{self.user}@{self.host}" if self.user else self.host]


def _die_with_parent() -> None:
    """In the ssh child: end when the harness's process does, even if it is killed, so a
    tunnel never outlives the run that opened it (the reaper removes its containers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's to handle
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class SshTunnel:
    """One OpenSSH master to the engine's machine, its API socket and forwarded ports."""

    def __init__(self, docker_host: str) -> None:
        self.docker_host = docker_host
        self.address = SshAddress.parse(docker_host)
        self._folder = Path(tempfile.mkdtemp(prefix="chaos-ssh-"))
        self._control = self._folder / "control"
        self.socket = self._folder / "docker.sock"
        self._forwards: dict[int, int] = {}  # remote port -> local port
        self._lock = threading.Lock()  # checks read several services' addresses at once
        self._master: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: the master lives for the whole run and says a line whenever a
        # forwarded port finds nothing listening (a killed service), which would fill a pipe.
        self._said = self._folder / "ssh.log"

    @property
    def docker_url(self) -> str:
        """Where the Docker SDK reaches the engine: a local end of the tunnel."""
        return f"unix://{self.socket}"

    def open(self) -> None:
        """Connect, and wait until the engine's socket is reachable through the tunnel."""
        if self._master is not None and self._master.poll() is None:
            return
        ssh = shutil.which("ssh")
        if ssh is None:
            raise EngineUnavailableError(
                f"{self.docker_host} needs the OpenSSH client (`ssh`) on this machine's PATH "
                "(Debian: `apt-get install openssh-client`)"
            )
        self._folder.mkdir(mode=0o700, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        with self._said.open("wb") as log:
            self._master = subprocess.Popen(
                [
                    ssh,
                    "-M",
                    "-S",
                    str(self._control),
                    "-N",
                    "-o",
                    "BatchMode=yes",  # never a password prompt in a test run
                    "-o",
                    "ExitOnForwardFailure=yes",
                    "-o",
                    "ControlPersist=no",
                    "-o",
                    "ServerAliveInterval=15",
                    "-o",
                    "StreamLocalBindUnlink=yes",
                    "-L",
                    f"{self.socket}:{REMOTE_ENGINE_SOCKET}",
                    *self.address.destination(),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=_die_with_parent,
            )

        def up() -> bool:
            if self._master is not None and self._master.poll() is not None:
                raise _MasterExited
            return self.socket.exists() and self._control.exists()

        try:
            tenacity.Retrying(
                retry=tenacity.retry_if_result(lambda ready: not ready),
                wait=tenacity.wait_exponential(multiplier=0.02, max=0.5),
                stop=tenacity.stop_after_delay(_CONNECT_DEADLINE_S),
                reraise=True,
            )(up)
        except (_MasterExited, tenacity.RetryError):
            said = self._stop_master()
            raise EngineUnavailableError(
                f"ssh to {self.address.host} ended without a tunnel to the engine's "
                f"{REMOTE_ENGINE_SOCKET} within {_CONNECT_DEADLINE_S:.0f} s: "
                f"{said or 'ssh said nothing'}"
            ) from None

    def forward(self, remote_port: int) -> int:
        """A port on this machine's 127.0.0.1 that reaches ``remote_port`` on the engine
        machine's 127.0.0.1; the same one for as long as the tunnel lives."""
        with self._lock:
            return self._forward(remote_port)

    def _forward(self, remote_port: int) -> int:
        if self._master is not None and self._master.poll() is not None:
            self._forwards.clear()  # the connection dropped, and its forwards with it
        if remote_port in self._forwards:
            return self._forwards[remote_port]
        self.open()
        said = ""
        for _ in range(_FORWARD_ATTEMPTS):  # a free port here may be taken before ssh binds it
            local = free_port()
            done = self._ask("forward", "-L", f"127.0.0.1:{local}:127.0.0.1:{remote_port}")
            if done.returncode == 0:
                self._forwards[remote_port] = local
                return local
            said = done.stderr.strip()
        raise EngineUnavailableError(
            f"ssh to {self.address.host} would not forward its 127.0.0.1:{remote_port} here: "
            f"{said} (does its sshd allow it? AllowTcpForwarding must not be `no`)"
        )

    def close(self) -> None:
        """End the connection and its forwards; :meth:`open` may start them again."""
        with self._lock:
            self._forwards.clear()
            self._stop_master()
        shutil.rmtree(self._folder, ignore_errors=True)

    def _ask(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        """A control command to the master (``ssh -O``): no new connection, no new login."""
        return subprocess.run(
            [
                "ssh",
                "-S",
                str(self._control),
                "-O",
                command,
                *args,
                *self.address.destination(),
            ],
            capture_output=True,
            text=True,
            timeout=_CONNECT_DEADLINE_S,
            check=False,
        )

    def _stop_master(self) -> str:
        """Stop the master connection; what it said on stderr."""
        master, self._master = self._master, None
        if master is None:
            return ""
        if master.poll() is None:
            master.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            master.wait(timeout=10)
        if master.poll() is None:
            master.kill()
            master.wait()
        try:
            return self._said.read_text(errors="replace").strip()[-2000:]
        except OSError:
            return ""


class _MasterExited(Exception):
    """The ssh master ended before its tunnel was up."""
