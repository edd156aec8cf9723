"""A compose file that runs its own, stock Toxiproxy keeps working, and HTTP faults on it
are refused before anything changes, naming the build they need.

The stock server is upstream's own ``cmd/server`` at the version our build pins, built by
``go install`` into a ``FROM scratch`` image: it answers ``/version`` without the
``+chaos-harness`` marker and knows no HTTP toxics.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.runs import Run

STOCK = "github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0"
STOCK_TAG = "chaos-harness-test/toxiproxy-stock:v2.12.0"


@pytest.fixture(scope="module")
def stock_toxiproxy(tmp_path_factory: pytest.TempPathFactory) -> str:
    client = docker.from_env()
    try:
        client.images.get(STOCK_TAG)
        return STOCK_TAG
    except docker.errors.ImageNotFound:
        pass
    folder = tmp_path_factory.mktemp("stock-toxiproxy")
    env = {**os.environ, "GOBIN": str(folder), "CGO_ENABLED": "0"}
    subprocess.run(["go", "install", STOCK], env=env, check=True, timeout=600)
    (folder / "Dockerfile").write_text(
        'FROM scratch\nCOPY server /toxiproxy\nUSER 65534:65534\nENTRYPOINT ["/toxiproxy"]\n'
    )
    client.images.build(path=str(folder), tag=STOCK_TAG, rm=True)
    return STOCK_TAG


def compose_with_own_toxiproxy(context: Path, image: str) -> str:
    return f"""\
services:
  toxiproxy:
    image: {image}
    command: ["-host", "0.0.0.0", "-port", "8474"]
    ports: ["8474"]
  inventory:
    build: {{context: {context}, args: {{BINARY: inventory}}}}
    environment: {{PORT: "8080"}}
    ports: ["8080"]
  gateway:
    build: {{context: {context}, args: {{BINARY: gateway}}}}
    environment:
      PORT: "8080"
      INVENTORY_URL: http://toxiproxy:18081
      DOWNSTREAM_TIMEOUT: 1s
    ports: ["8080"]
    depends_on: [toxiproxy, inventory]
x-chaos:
  toxiproxy: {{service: toxiproxy, api_port: 8474}}
  links:
    gateway->inventory: {{listen: 18081, upstream: "inventory:8080"}}
  services:
    toxiproxy: {{port: 8474, health: /version}}
    gateway: {{port: 8080, health: /healthz}}
    inventory: {{port: 8080, health: /healthz}}
"""


USES_OWN_TOXIPROXY = """
import pytest
import requests

from faults import HttpDelay, HttpError, Latency
from harness.errors import FaultError

LINK = "gateway->inventory"


def read(chaos):
    reply = requests.get(chaos.url("gateway") + "/products/1", timeout=10)
    return reply.status_code, reply.json()


def test_network_faults_act_through_the_files_own_toxiproxy(chaos):
    assert read(chaos)[0] == 200
    with Latency(LINK, ms=2500):  # beyond the gateway's 1 s deadline
        assert read(chaos)[0] == 504
    assert read(chaos)[0] == 200


@pytest.mark.parametrize("fault", [HttpError(LINK, status=503), HttpDelay(LINK, ms=10)])
def test_http_faults_are_refused_before_anything_changes(chaos, fault):
    with pytest.raises(FaultError) as refused:
        fault.apply()
    message = str(refused.value)
    assert "is a stock Toxiproxy" in message, message
    assert "chaos-harness build of Toxiproxy" in message, message
    assert chaos.proxy(LINK).toxics() == []
    assert chaos.active_faults == ()
"""


def test_a_stock_toxiproxy_of_the_compose_file_works_and_http_faults_are_refused(
    harness: Run, stock_toxiproxy: str
) -> None:
    harness.setup(USES_OWN_TOXIPROXY, compose_with_own_toxiproxy(harness.context, stock_toxiproxy))

    result = harness.run("-p", "no:randomly")

    result.assert_outcomes(passed=3)
    harness.assert_nothing_left()
