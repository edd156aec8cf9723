"""Against the real engine: the reaper and session removal survive containers that vanish
while they look (another run or xdist worker removing the same session at the same time).

The engine is real; the tests only choose the moment: the container is removed right after
the engine listed it and before the Docker SDK inspects it, which is when a concurrent
removal hurts.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from harness.backends.docker import docker_client, remove_session
from harness.build import build_images
from harness.labels import OWNER_LABEL, SESSION_LABEL
from harness.reaper import reap_docker
from harness.topology import load_topology
from tests.runs import compose_one, docker_cli

SESSION = "chaos-vanishing-test"


@pytest.fixture
def vanishing(image_context: Path, tmp_path: Path) -> Iterator[docker.DockerClient]:
    """A client whose next container listing is followed by that container's removal."""
    compose = tmp_path / "compose.yml"
    compose.write_text(compose_one(image_context))
    client = docker_client()
    image = build_images(client, load_topology(compose))["inventory"]
    dead_owner = f"{socket.gethostname()}:999999999:1"  # no such PID: an orphan
    container = client.containers.create(
        image, labels={SESSION_LABEL: SESSION, OWNER_LABEL: dead_owner}
    )
    listing = client.api.containers

    def list_then_remove(*args: Any, **kwargs: Any) -> Any:
        found = listing(*args, **kwargs)
        if any(item["Id"] == container.id for item in found):
            client.api.remove_container(container.id, force=True)
        return found

    client.api.containers = list_then_remove
    try:
        yield client
    finally:
        client.api.containers = listing
        for cid in docker_cli("ps", "-aq", "--filter", f"label={SESSION_LABEL}={SESSION}"):
            docker_cli("rm", "-f", cid)
        client.close()


def test_reaper_survives_a_container_removed_while_it_lists(
    vanishing: docker.DockerClient,
) -> None:
    reap_docker(vanishing)

    assert docker_cli("ps", "-aq", "--filter", f"label={SESSION_LABEL}={SESSION}") == []


def test_session_removal_survives_a_container_removed_while_it_lists(
    vanishing: docker.DockerClient,
) -> None:
    remove_session(vanishing, SESSION)

    assert docker_cli("ps", "-aq", "--filter", f"label={SESSION_LABEL}={SESSION}") == []
