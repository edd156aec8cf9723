"""The local backend puts the harness's proxy on a link too: the source's ``SERVICE:PORT``
is rewritten to the link's proxy, so a fault on the link reaches it.

The services are the reference binaries run as host processes; the gateway's
``INVENTORY_URL`` names ``inventory:8080``, as in a compose file.
"""

from __future__ import annotations

from pathlib import Path

from tests.runs import Run


def compose_local(context: Path) -> str:
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
    inventory:
      health: /healthz
      local:
        command: ["{context}/bin/inventory"]
        environment: {{LISTEN_HOST: 127.0.0.1, PORT: "{{port:8080}}"}}
    gateway:
      health: /healthz
      local:
        command: ["{context}/bin/gateway"]
        environment: {{LISTEN_HOST: 127.0.0.1, PORT: "{{port:8080}}"}}
"""


THROUGH_THE_LINK = """
import requests

from faults import Latency, LinkDown

LINK = "gateway->inventory"


def read(chaos):
    reply = requests.get(chaos.url("gateway") + "/products/1", timeout=10)
    return reply.status_code, reply.json()


def test_the_gateway_reaches_inventory_through_the_links_proxy(chaos):
    assert chaos.backend.name == "local"
    assert read(chaos) == (200, {"id": 1, "stock": read(chaos)[1]["stock"]})
    with Latency(LINK, ms=2500):  # beyond the gateway's 1 s deadline
        assert read(chaos)[0] == 504
    with LinkDown(LINK):
        status, body = read(chaos)
        assert (status, body.get("degraded")) == (200, True)
    assert read(chaos)[1].get("degraded") is None
"""


def test_a_fault_on_a_link_reaches_a_host_process_that_calls_its_upstream_by_name(
    harness: Run,
) -> None:
    harness.setup(THROUGH_THE_LINK, compose_local(harness.context))

    result = harness.run("--chaos-backend=local")

    result.assert_outcomes(passed=1)
    harness.assert_nothing_left()
