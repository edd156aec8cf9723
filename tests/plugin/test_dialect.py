"""End to end: a compose file in the dialect real projects write runs unchanged.

One run of a two-service file that uses ``${VAR:-default}`` and ``${VAR:?message}`` (with
a ``.env``), ``env_file``, an ``entrypoint`` wrapper with a string ``command``, ``expose``
without ``ports``, a read-only bind mount, an anonymous volume, ``tmpfs``, a network alias
(called through a link the harness proxies),
``restart``, a compose ``healthcheck`` and the process settings (user, working_dir,
hostname, labels, init, read_only, cap_add, extra_hosts, stop_signal); the tests inside
the run check, from what the engine and the services show, that each of them took effect.

The reference images are ``FROM scratch``, so there is no shell for an entrypoint script
or a healthcheck command: ``imagetool/main.go`` is both, built into a private image next to
the inventory binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from harness.build import IMAGE_LABEL
from tests.runs import Run, docker_cli

TOOL = Path(__file__).resolve().parent / "imagetool" / "main.go"

DOCKERFILE = """\
FROM scratch
COPY inventory /app
COPY imagetool /imagetool
USER 65534:65534
ENTRYPOINT ["/app"]
"""

COMPOSE = """\
name: dialect
services:
  inventory:
    image: {image}
    entrypoint: ["/imagetool", "exec", "/etc/inventory/extra.env", "--"]
    command: "/app --label 'two words'"
    env_file: [inventory.env, {{path: absent.env, required: false}}]
    environment:
      PORT: "${{INVENTORY_PORT:-8080}}"
      INITIAL_STOCK: "${{STOCK:?the test writes STOCK into .env}}"
    expose: ["${{INVENTORY_PORT:-8080}}"]
    volumes: ["./conf:/etc/inventory:ro", "/cache"]
    tmpfs: ["/scratch:size=1m"]
    user: "65534:65534"
    working_dir: /etc/inventory
    hostname: stock-1
    labels: [team=shop]
    init: true
    read_only: true
    cap_add: [net_bind_service]
    extra_hosts: ["upstream.test:10.9.8.7"]
    stop_signal: SIGINT
    stop_grace_period: 5s
    networks:
      shop: {{aliases: [stock.internal]}}
    restart: unless-stopped
    healthcheck:
      test: ["CMD", "/imagetool", "check", "http://127.0.0.1:8080/healthz"]
      interval: 30s
      start_interval: 500ms
      retries: 3
  gateway:
    build: {{context: {context}, args: {{BINARY: gateway}}}}
    environment:
      PORT: "8080"
      INVENTORY_URL: http://stock.internal:8080
      DOWNSTREAM_TIMEOUT: 2s
    ports: ["127.0.0.1::8080"]
    depends_on:
      inventory: {{condition: service_healthy}}
    networks: [shop]
networks:
  shop: {{}}
x-chaos:
  links: [gateway->inventory]
  services:
    gateway: {{port: 8080, health: /healthz}}
"""

INSIDE = """
import re
import time
from datetime import datetime

import requests

from faults import Kill, LinkDown


def container(chaos, service):
    return chaos.backend.client.containers.get(f"{chaos.backend.session}-{service}")


def moment(stamp):
    # Docker writes nanoseconds; datetime takes microseconds.
    return datetime.fromisoformat(re.sub(r"(\\.\\d{6})\\d*", r"\\1", stamp.replace("Z", "+00:00")))


def test_readiness_waited_for_the_compose_healthcheck(chaos):
    inventory, gateway = container(chaos, "inventory"), container(chaos, "gateway")
    health = inventory.attrs["State"]["Health"]
    assert health["Status"] == "healthy"
    passed = [check for check in health["Log"] if check["ExitCode"] == 0]
    assert passed, health
    # The gateway's level starts only once the inventory is ready: healthy, not just
    # listening (it listens within milliseconds; its first check runs 500 ms later).
    assert moment(passed[0]["End"]) < moment(gateway.attrs["State"]["StartedAt"])
    assert chaos.state("inventory").health == "healthy"


def test_variables_env_file_entrypoint_command_expose_and_the_mount(chaos):
    inventory = container(chaos, "inventory")
    env = dict(line.split("=", 1) for line in inventory.attrs["Config"]["Env"])
    assert env["PORT"] == "8080"  # ${INVENTORY_PORT:-8080}
    assert env["INITIAL_STOCK"] == "77"  # ${STOCK:?...} from .env, over env_file's 5
    assert env["PRODUCTS"] == "4"  # from env_file
    # No `ports:`, only `expose:`: still published on loopback, at a port the harness chose.
    assert inventory.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostIp"] == "127.0.0.1"
    products = requests.get(chaos.url("inventory") + "/products", timeout=5).json()
    # PRODUCTS=3 comes from the read-only mounted file, which the entrypoint read.
    assert products == [{"id": n, "stock": 77} for n in (1, 2, 3)]
    mount = next(m for m in inventory.attrs["Mounts"] if m["Destination"] == "/etc/inventory")
    assert (mount["Type"], mount["RW"]) == ("bind", False)
    assert (
        'imagetool: read PRODUCTS from /etc/inventory/extra.env; '
        'exec ["/app","--label","two words"]'
    ) in chaos.logs("inventory")


def test_process_and_host_settings_reach_the_container(chaos):
    inventory = container(chaos, "inventory")
    config, host = inventory.attrs["Config"], inventory.attrs["HostConfig"]
    assert (config["User"], config["WorkingDir"], config["Hostname"]) == (
        "65534:65534",
        "/etc/inventory",
        "stock-1",
    )
    assert config["StopSignal"] == "SIGINT"
    assert config["Labels"]["team"] == "shop"
    assert config["Labels"]["chaos-harness.session"] == chaos.backend.session
    assert (host["Init"], host["ReadonlyRootfs"]) == (True, True)
    assert (host["CapDrop"], host["CapAdd"]) == (["ALL"], ["NET_BIND_SERVICE"])
    assert host["ExtraHosts"] == ["upstream.test:10.9.8.7"]
    assert host["Tmpfs"] == {"/scratch": "size=1m"}
    cache = next(m for m in inventory.attrs["Mounts"] if m["Destination"] == "/cache")
    volume = chaos.backend.client.volumes.get(cache["Name"])
    # The anonymous volume is one the session made, so its cleanup finds it by label.
    assert volume.attrs["Labels"]["chaos-harness.session"] == chaos.backend.session


def test_the_gateway_reaches_the_inventory_by_its_network_alias_through_the_link(chaos):
    reply = requests.get(chaos.url("gateway") + "/products/2", timeout=5)
    assert reply.status_code == 200, reply.text
    assert reply.json()["stock"] == 77
    assert not reply.json().get("degraded")
    # The alias goes through the link's proxy too: with the link down, the gateway answers
    # from its cache (degraded) or not at all.
    with LinkDown("gateway->inventory"):
        down = requests.get(chaos.url("gateway") + "/products/2", timeout=5)
    assert down.status_code != 200 or down.json().get("degraded") is True, down.text


def test_restart_policy_is_not_applied_a_killed_service_stays_down(chaos):
    inventory = container(chaos, "inventory")
    assert inventory.attrs["HostConfig"]["RestartPolicy"]["Name"] in ("", "no")
    with Kill("inventory"):
        deadline = time.monotonic() + 3  # Docker would restart it within a second
        while time.monotonic() < deadline:
            assert not chaos.state("inventory").alive
            time.sleep(0.2)
        inventory.reload()
        assert inventory.attrs["RestartCount"] == 0
    assert chaos.state("inventory").health == "healthy"  # healing waited for it again
"""


@pytest.fixture
def dialect_image(harness: Run, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An image with the inventory binary and imagetool, removed with the test's runs."""
    context = tmp_path_factory.mktemp("dialect-image")
    subprocess.run(
        ["go", "build", "-o", str(context / "imagetool"), str(TOOL)],
        env={**os.environ, "CGO_ENABLED": "0"},
        cwd=TOOL.parent,
        check=True,
        timeout=300,
    )
    shutil.copy2(harness.context / "bin" / "inventory", context / "inventory")
    (context / "Dockerfile").write_text(DOCKERFILE)
    digest = uuid.uuid4().hex
    tag = f"chaos-harness-test/dialect:{digest[:12]}"
    harness.images.append(digest)  # the fixture's cleanup removes images by this label
    docker_cli("build", "-q", "--label", f"{IMAGE_LABEL}={digest}", "-t", tag, str(context))
    return tag


def test_a_compose_file_in_the_real_world_dialect_runs_and_each_key_takes_effect(
    harness: Run, dialect_image: str
) -> None:
    (harness.path / ".env").write_text("# read by the compose file's ${STOCK:?...}\nSTOCK=77\n")
    (harness.path / "inventory.env").write_text("PRODUCTS=4\nINITIAL_STOCK=5\n")
    (harness.path / "conf").mkdir()
    (harness.path / "conf" / "extra.env").write_text("PRODUCTS=3\n")
    harness.setup(INSIDE, COMPOSE.format(image=dialect_image, context=harness.context))

    result = harness.run()

    result.assert_outcomes(passed=5)
    # One warning says what of the file was left out (the plugin reads the file at
    # configuration time, so it goes to stderr, once).
    output = result.stdout.str() + result.stderr.str()
    assert output.count("TopologyWarning: chaos-harness runs") == 1, output
    assert (
        "restart is ignored: the harness decides when a service comes back: a killed "
        "service stays down until its fault heals (service inventory)"
    ) in output
    assert (harness.path / "conf" / "extra.env").read_text() == "PRODUCTS=3\n"
    harness.assert_nothing_left()
