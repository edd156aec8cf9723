"""An engine named ``ssh://``: the API and every published port come through one OpenSSH
tunnel, on this machine's own sshd (the same code path as an engine on another machine:
the harness cannot tell them apart, and tunnels either way).

The tests log in with a key of their own through an ``ssh`` on PATH that adds ``-F`` with
their config, as a user's ``~/.ssh/config`` would; the OpenSSH client and server, the
engine and the containers are the real ones.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import tenacity

from harness.backends.base import free_port
from harness.backends.docker import DockerBackend
from harness.backends.engine import connect_engine
from harness.backends.ssh import SshAddress
from harness.environment import Environment
from harness.errors import EngineUnavailableError
from harness.labels import SESSION_LABEL, new_session_id
from harness.topology import load_topology
from tests.runs import Run, compose_proxied, docker_cli

SSHD = Path("/usr/sbin/sshd")
DEMO = Path(__file__).parents[1] / "demo_http" / "docker-compose.yml"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """This machine's own sshd on a free loopback port: the ssh:// address of its engine,
    and a folder holding the ``ssh`` that logs in there."""
    client = shutil.which("ssh")
    if not SSHD.exists() or client is None:
        pytest.skip("needs OpenSSH's sshd and ssh (scripts/run-tests installs openssh-server)")
    folder = tmp_path_factory.mktemp("sshd")
    for key in ("host", "client"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / key)], check=True
        )
    shutil.copy(folder / "client.pub", folder / "authorized_keys")
    port = free_port()
    (folder / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1:{port}\nHostKey {folder / 'host'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPasswordAuthentication no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        f"PidFile {folder / 'sshd.pid'}\n"
    )
    (folder / "ssh_config").write_text(
        f"Host *\n  IdentityFile {folder / 'client'}\n  StrictHostKeyChecking accept-new\n"
        f"  UserKnownHostsFile {folder / 'known_hosts'}\n"
    )
    bin_folder = folder / "bin"
    bin_folder.mkdir()
    (bin_folder / "ssh").write_text(f'#!/bin/sh\nexec {client} -F {folder / "ssh_config"} "$@"\n')
    (bin_folder / "ssh").chmod(0o755)
    Path("/run/sshd").mkdir(exist_ok=True)  # its privilege separation directory
    with (folder / "sshd.log").open("wb") as log:
        server = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(folder / "sshd_config")], stderr=log
        )

    def listening() -> None:
        assert server.poll() is None, (folder / "sshd.log").read_text()
        socket.create_connection(("127.0.0.1", port), timeout=1).close()

    tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(OSError),
        wait=tenacity.wait_fixed(0.1),
        stop=tenacity.stop_after_delay(10),
        reraise=True,
    )(listening)
    yield f"ssh://{getpass.getuser()}@127.0.0.1:{port}", bin_folder
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def ssh_engine(sshd: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> str:
    address, bin_folder = sshd
    monkeypatch.setenv("PATH", str(bin_folder), prepend=os.pathsep)
    return address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ssh://ci@engine-2", SshAddress("engine-2", "ci")),
        ("ssh://ci@engine-2:2222", SshAddress("engine-2", "ci", 2222)),
        ("ssh://engine-2", SshAddress("engine-2")),
        ("ssh://ci@[2001:db8::1]:22", SshAddress("2001:db8::1", "ci", 22)),
    ],
)
def test_ssh_addresses_read_as_docker_reads_them(text: str, expected: SshAddress) -> None:
    assert SshAddress.parse(text) == expected


@pytest.mark.parametrize("text", ["ssh://", "ssh://ci@host/var/run/docker.sock", "ssh://h:x"])
def test_an_ssh_address_it_cannot_read_says_how_to_write_it(text: str) -> None:
    with pytest.raises(EngineUnavailableError, match="ssh://USER@HOST"):
        SshAddress.parse(text)


def test_a_system_on_an_ssh_engine_is_reached_through_the_tunnel_and_leaves_nothing(
    ssh_engine: str,
) -> None:
    engine = connect_engine(ssh_engine)
    assert engine.tunnel is not None
    tunnel = engine.tunnel
    env = Environment(load_topology(DEMO), DockerBackend(new_session_id(), engine), seed=1)
    with env:
        host, port = env.backend.address("front", 8080)
        front = env.backend.client.containers.get(f"{env.backend.session}-front")
        published = int(front.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"])
        assert (host, port) != ("127.0.0.1", published)  # a forward of its own, not the port
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=10) as answer:
            assert answer.status == 200
        env.backend.kill("back")  # the engine's API comes through the tunnel too
        assert not env.backend.state("back").alive
        session = env.backend.session
    assert not docker_cli("ps", "-aq", "--filter", f"label={SESSION_LABEL}={session}")
    assert not tunnel.socket.exists()  # the master ended with the system
    with pytest.raises(ConnectionRefusedError):  # its forward is gone with it
        socket.create_connection((host, port), timeout=2).close()


def test_an_ssh_engine_that_does_not_answer_says_what_to_check(
    sshd: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, bin_folder = sshd
    monkeypatch.setenv("PATH", str(bin_folder), prepend=os.pathsep)
    address = f"ssh://{getpass.getuser()}@127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(EngineUnavailableError) as raised:
        connect_engine(address)
    said = str(raised.value)
    assert f"the Docker engine at {address}" in said
    assert "ssh -o BatchMode=yes HOST docker version" in said
    assert "Connection refused" in said  # ssh's own words


LATENCY_TEST = """
import time
import urllib.request

from faults import Latency


def took(url):
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.status == 200
    return time.monotonic() - started


def test_a_link_fault_on_a_system_behind_ssh(chaos):
    url = chaos.url("gateway") + "/products/1"
    calm = took(url)
    with Latency("gateway->inventory", ms=700):
        slow = took(url)
    assert calm < 0.5 and slow >= 0.7, (calm, slow)
"""


def test_a_run_with_docker_host_ssh_breaks_and_heals_its_system_there(
    harness: Run, ssh_engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.setup(LATENCY_TEST, compose_proxied(harness.context))
    monkeypatch.setenv("DOCKER_HOST", ssh_engine)
    done = harness.run()
    done.assert_outcomes(passed=1)
