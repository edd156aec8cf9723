"""Benchmark: how long the harness takes to bring the reference topology up and ready.

Prints a table; asserts nothing. Compares, in one run on one machine:
  - the harness on docker, cold (its images removed first) and warm (images cached);
  - the harness on the local backend (host processes);
  - `docker-compose up -d` of the same topology with the same images, plus a health poll
    of every service (what a hand-written CI script would do), then `docker-compose down`.
The harness figures include creating the Toxiproxy proxies, which compose cannot do.

Run: .venv/bin/python -m bench.environment [--repeat N] [--no-cold]
     .venv/bin/python -m bench.environment --smoke   # seconds: one warm run per row, no cold

It needs a Docker engine and `docker-compose` (Debian's, installed with apt when missing
and this is root; otherwise it stops at once and says what to install).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
import yaml

from bench import tools
from harness.backends.docker import DockerBackend, docker_client
from harness.backends.engine import connect_engine
from harness.backends.local import LocalBackend
from harness.build import build_images, run_prebuild
from harness.environment import Environment
from harness.labels import new_session_id
from harness.topology import Topology, load_topology

COMPOSE = Path(__file__).resolve().parent.parent / "compose" / "docker-compose.yml"


def harness_up(
    topology: Topology, make_backend: Callable[[], DockerBackend | LocalBackend]
) -> float:
    env = Environment(topology, make_backend())
    started = time.perf_counter()
    with env:
        elapsed = time.perf_counter() - started
    return elapsed


def remove_harness_images() -> None:
    client = docker_client()
    for image in client.images.list(name="chaos-harness/*"):
        for tag in image.tags:
            client.images.remove(tag, force=True)


def compose_file_for(topology: Topology, images: dict[str, str], folder: Path) -> Path:
    """The same topology in plain compose form, with the harness's images and loopback ports."""
    services = {}
    for service in topology.services.values():
        spec: dict[str, object] = {
            "image": images[service.name],
            "environment": dict(service.environment),
            "ports": [f"127.0.0.1::{port}" for port in service.known_ports],
        }
        if service.command:
            spec["command"] = list(service.command)
        if service.depends_on:
            spec["depends_on"] = list(service.depends_on)
        if service.volumes:
            spec["volumes"] = [f"{m.volume}:{m.target}" for m in service.volumes]
        services[service.name] = spec
    document = {"version": "3.8", "services": services}
    if topology.volumes:
        document["volumes"] = {name: {} for name in topology.volumes}
    path = folder / "docker-compose.yml"
    path.write_text(yaml.safe_dump(document))
    return path


def compose_up(compose: str, topology: Topology, images: dict[str, str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = compose_file_for(topology, images, Path(tmp))
        project = new_session_id()
        base = [compose, "-p", project, "-f", str(path)]
        started = time.perf_counter()
        try:
            subprocess.run([*base, "up", "-d"], check=True, capture_output=True)
            for service in topology.services.values():
                health = service.health or "/"
                out = subprocess.run(
                    [*base, "port", service.name, str(service.http_port)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.strip()
                url = f"http://{out}{health}"
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        if requests.get(url, timeout=1).status_code == 200:
                            break
                    except requests.RequestException:
                        pass
                    time.sleep(0.02)
                else:
                    raise RuntimeError(f"{service.name} never became healthy at {url}")
            return time.perf_counter() - started
        finally:
            subprocess.run([*base, "down", "-v", "-t", "2"], capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per row (median shown)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold row (it rebuilds)")
    parser.add_argument(
        "--smoke", action="store_true", help="one warm run per row and no cold row: seconds"
    )
    args = parser.parse_args()
    if args.smoke:
        args.repeat, args.no_cold = 1, True
    args.repeat = max(1, min(args.repeat, 20))
    # Every tool first: a missing one must not surface after minutes of cold rebuild.
    tools.require_docker()
    compose = tools.require_tool("docker-compose", "docker-compose")
    tools.reference_build()
    topology = load_topology(COMPOSE)
    engine = connect_engine()

    rows: list[tuple[str, float]] = []
    if not args.no_cold:
        remove_harness_images()
        (COMPOSE.parent / ".chaos" / "prebuild.stamp").unlink(missing_ok=True)
        rows.append(
            (
                "harness docker, cold (prebuild + images built)",
                harness_up(topology, lambda: DockerBackend(new_session_id(), engine)),
            )
        )

    def median(run: Callable[[], float]) -> float:
        return statistics.median(run() for _ in range(args.repeat))

    rows.append(
        (
            "harness docker, warm",
            median(lambda: harness_up(topology, lambda: DockerBackend(new_session_id(), engine))),
        )
    )
    rows.append(
        (
            "harness local, warm",
            median(lambda: harness_up(topology, lambda: LocalBackend(new_session_id()))),
        )
    )
    run_prebuild(topology)
    images = build_images(engine.client, topology)
    rows.append(
        (
            "docker-compose up -d + health poll, warm",
            median(lambda: compose_up(compose, topology, images)),
        )
    )

    width = max(len(name) for name, _ in rows)
    print(f"{'environment up (ready, proxies created)':<{width}}  seconds")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:7.2f}")
    warm = dict(rows)["harness docker, warm"]
    compose = dict(rows)["docker-compose up -d + health poll, warm"]
    print(f"{'ratio harness warm / docker-compose':<{width}}  {warm / compose:7.2f}")


if __name__ == "__main__":
    sys.exit(tools.run(main))
