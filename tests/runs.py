"""Runs of the harness in a ``pytester`` folder, as a user runs it, and what they left.

Every run happens in a folder whose ``conftest.py`` records, as the run goes, the PIDs of
its pytest processes, the sessions it started and the host PIDs of its containers. The
outer test reads those records to ask Docker (through the ``docker`` CLI, not the
harness's own code) and ``/proc`` what of that run is still there; the ``harness`` fixture
(root ``conftest.py``) removes it whatever the test's outcome.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from harness.build import IMAGE_LABEL
from harness.labels import OWNER_LABEL, SESSION_LABEL

REFERENCE = Path(__file__).resolve().parents[1] / "compose"
RUN_TIMEOUT_S = 240.0

# Written into every run's folder: records what the run had, for the outer test to check.
RECORDER = '''\
"""Records this run's pytest PIDs, sessions and container PIDs for the outer test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

RECORD = Path(__file__).parent / "record"


def note(kind: str, value: object) -> None:
    RECORD.mkdir(exist_ok=True)
    with open(RECORD / kind, "a") as file:
        file.write(f"{value}\\n")


note("pids", os.getpid())  # at conftest import: before any pytest_configure can fail


@pytest.fixture(scope="session")
def chaos_environment(chaos_environment):
    note("sessions", chaos_environment.backend.session)
    for name in chaos_environment.topology.services:
        note("container-pids", chaos_environment.state(name).pid)
    return chaos_environment
'''

INI = """\
[pytest]
addopts = -p no:cacheprovider
chaos_compose = compose.yml
chaos_backend = docker
chaos_startup_timeout = 60
"""


def compose_one(context: Path, *, health: str = "/healthz") -> str:
    """One inventory service with a named volume, built from the reference binary."""
    return f"""\
services:
  inventory:
    build: {{context: {context}, args: {{BINARY: inventory}}}}
    environment: {{PORT: "8080"}}
    ports: ["8080"]
    volumes: ["stock:/data"]
volumes:
  stock: {{}}
x-chaos:
  services:
    inventory: {{port: 8080, health: {health}, metrics: /metrics}}
  bugs: {{env: CHAOS_BUGS, names: [leak-on-timeout, no-deadline]}}
"""


def compose_proxied(context: Path) -> str:
    """The reference shape: gateway -> inventory by its compose name, the harness's proxy on
    the link (no Toxiproxy in the file), from the reference binaries."""
    return f"""\
services:
  inventory:
    build: {{context: {context}, args: {{BINARY: inventory}}}}
    environment: {{PORT: "8080"}}
    ports: ["8080"]
  gateway:
    build: {{context: {context}, args: {{BINARY: gateway}}}}
    environment:
      PORT: "8080"
      INVENTORY_URL: http://inventory:8080
      DOWNSTREAM_TIMEOUT: 1s
    ports: ["8080"]
    depends_on: [inventory]
x-chaos:
  links: [gateway->inventory]
  services:
    gateway: {{port: 8080, health: /healthz}}
    inventory: {{port: 8080, health: /healthz}}
"""


def docker_cli(*args: str) -> list[str]:
    """Lines of a ``docker`` CLI command, run against the default engine."""
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, env=env, check=True
    )
    return [line for line in done.stdout.splitlines() if line.strip()]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Run:
    """One pytester folder: its files, its runs, and what of them is still around."""

    def __init__(self, pytester: pytest.Pytester, context: Path) -> None:
        self.pytester = pytester
        self.context = context
        self.path = pytester.path
        self.popens: list[subprocess.Popen[bytes]] = []
        self.images: list[str] = []  # input hashes of images built only for one test
        self._logs: list[IO[bytes]] = []

    # -- writing and running ------------------------------------------------------------

    def setup(self, test: str, compose: str | None = None, ini: str = INI) -> None:
        self.pytester.makeconftest(RECORDER)
        self.pytester.makefile(".ini", pytest=ini)
        if compose is not None:
            (self.path / "compose.yml").write_text(compose)
        self.pytester.makepyfile(test_chaos=test)

    def run(self, *args: str, timeout: float = RUN_TIMEOUT_S) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess(*args, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        """Start a run that the test will signal; its output goes to ``output-N.txt``."""
        log = open(self.path / f"output-{len(self.popens)}.txt", "wb")  # noqa: SIM115
        self._logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=self.path,
            stdout=log,
            stderr=subprocess.STDOUT,
            # A shell's background job (nohup, `&` in a script) ignores SIGINT, and so would
            # the run it starts: Ctrl-C is what some of these tests send.
            preexec_fn=_default_sigint,
        )
        self.popens.append(proc)
        return proc

    def output(self, index: int) -> str:
        return (self.path / f"output-{index}.txt").read_text(errors="replace")

    def wait_for_file(self, name: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
        """Wait (bounded) until the run writes ``name``; fail if it ends or times out first."""
        deadline = time.monotonic() + timeout
        while not (self.path / name).exists():
            assert proc.poll() is None, f"the run ended early:\n{self.output(0)}"
            assert time.monotonic() < deadline, f"no {name} after {timeout} s:\n{self.output(0)}"
            time.sleep(0.2)

    # -- what the runs recorded -----------------------------------------------------------

    def recorded(self, kind: str) -> list[str]:
        file = self.path / "record" / kind
        return file.read_text().split() if file.is_file() else []

    @property
    def sessions(self) -> list[str]:
        return self.recorded("sessions")

    def _ours(self, session: str, owner: str) -> bool:
        pid = owner.split(":")[1] if owner.count(":") >= 2 else ""
        return session in self.sessions or pid in self.recorded("pids")

    def docker_leftovers(self) -> list[str]:
        """What ``docker ps -a / network ls / volume ls`` still show of these runs."""
        label = f"label={SESSION_LABEL}"
        fmt = f'{{{{.Label "{SESSION_LABEL}"}}}} {{{{.Label "{OWNER_LABEL}"}}}}'
        found: list[str] = []
        for kind, cmd in (
            ("container", ["ps", "-a", "--filter", label, "--format", "{{.Names}} " + fmt]),
            ("network", ["network", "ls", "--filter", label, "--format", "{{.Name}} " + fmt]),
            ("volume", ["volume", "ls", "--filter", label, "--format", "{{.Name}} " + fmt]),
        ):
            for line in docker_cli(*cmd):
                name, session, owner = [*line.split(), "", ""][:3]
                if self._ours(session, owner):
                    found.append(f"{kind} {name} (session {session})")
        return found

    def live_processes(self) -> list[str]:
        """Processes of these runs still alive: pytest processes, containers, anything in here."""
        found = [
            f"{kind} pid {pid}"
            for kind in ("pids", "container-pids")
            for pid in self.recorded(kind)
            if pid.isdigit() and int(pid) > 0 and _pid_alive(int(pid))
        ]
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                cwd = Path(os.readlink(proc / "cwd"))
            except OSError:
                continue
            if cwd.is_relative_to(self.path) and _pid_alive(int(proc.name)):
                found.append(f"pid {proc.name} working in {cwd}")
        return found

    def assert_nothing_left(self) -> None:
        assert self.docker_leftovers() == []
        assert self.live_processes() == []

    # -- cleanup ----------------------------------------------------------------------------

    def cleanup(self) -> None:
        for proc in self.popens:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        for log in self._logs:
            log.close()
        for pid in self.recorded("pids"):
            if _pid_alive(int(pid)) and int(pid) != os.getpid():
                os.kill(int(pid), signal.SIGKILL)  # a run of this test that outlived it
        sessions = {line.split()[-1].removeprefix("(session ").rstrip(")")
                    for line in self.docker_leftovers()}  # fmt: skip
        for session in sessions:
            label = f"label={SESSION_LABEL}={session}"
            for cid in docker_cli("ps", "-aq", "--filter", label):
                docker_cli("rm", "-f", "-v", cid)
            for net in docker_cli("network", "ls", "-q", "--filter", label):
                docker_cli("network", "rm", net)
            for vol in docker_cli("volume", "ls", "-q", "--filter", label):
                docker_cli("volume", "rm", "-f", vol)
        for digest in self.images:
            label = f"label={IMAGE_LABEL}={digest}"
            for image in docker_cli("images", "-q", "--no-trunc", "--filter", label):
                docker_cli("rmi", "-f", image)
