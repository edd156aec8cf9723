"""environment.properties: its content, its escaping, and when it is (not) written."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.report import (
    TestArtifacts,
    describe_environment,
    environment_properties,
    format_properties,
    note_environment,
    write_environment_properties,
)
from harness.settings import Settings
from harness.source import SourceState
from harness.toxiproxy import ToxiproxyServer

SETTINGS = Settings(
    compose=Path("/srv/compose.yml"),
    backend="auto",
    bugs=("leak-on-timeout", "no-deadline"),
    seed=4242,
    keep_on_failure=False,
    startup_timeout_s=60.0,
    race=False,
)


def parse_properties(text: str) -> dict[str, str]:
    """Enough of the .properties format to read back what format_properties writes."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" = ")
        out[key.replace("\\", "")] = value.replace("\\n", "\n").replace("\\\\", "\\")
    return out


def test_properties_name_versions_settings() -> None:
    props = environment_properties(SETTINGS)
    assert props["seed"] == "4242"
    assert props["bugs"] == "leak-on-timeout,no-deadline"
    assert props["compose"] == "/srv/compose.yml"
    assert props["backend"] == "auto"
    assert props["pytest"] == pytest.__version__
    assert props["python"].split()[-1].count(".") == 2
    assert props["chaos-harness"] != "not installed"
    assert props["allure-pytest"] != "not installed"


def test_what_a_running_system_said_overrides_the_settings() -> None:
    props = environment_properties(SETTINGS, {"backend": "docker", "toxiproxy": "v2.12.0"})
    assert props["backend"] == "docker"
    assert props["toxiproxy"] == "v2.12.0"


def test_format_escapes_what_properties_files_treat_specially() -> None:
    text = format_properties({"a key": "x = y", "multi": "one\ntwo", "path": "C:\\bin"})
    assert text.splitlines() == ["a\\ key = x = y", "multi = one\\ntwo", "path = C:\\\\bin"]
    assert parse_properties(text) == {"a key": "x = y", "multi": "one\ntwo", "path": "C:\\bin"}


def fake_config(results: Path | None, *, xdist_controller: bool = False) -> Any:
    plugins = {"dsession"} if xdist_controller else set()
    return SimpleNamespace(
        option=SimpleNamespace(allure_report_dir=str(results) if results else None),
        pluginmanager=SimpleNamespace(
            has_plugin=lambda name: name in plugins, get_plugin=lambda name: None
        ),
        stash=pytest.Stash(),
    )


# -- a running system, faked down to what describe_environment asks of it -------------------


class _Version(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"version": "v2.12.0"}).encode() if self.path == "/version" else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def toxiproxy_port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Version)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class FakeContainer:
    name: str
    labels: dict[str, str]
    attrs: dict[str, Any]


@dataclass
class FakeClient:
    asked: list[dict[str, str]] = field(default_factory=list)

    def version(self) -> dict[str, str]:
        return {"Version": "27.1.0"}

    @property
    def containers(self) -> FakeClient:
        return self

    def list(self, all: bool, filters: dict[str, str]) -> list[FakeContainer]:
        self.asked.append(filters)
        return [
            FakeContainer(
                "s-gateway",
                {"chaos-harness.service": "gateway"},
                {"Config": {"Image": "chaos-harness/gateway:abc"}, "Image": "sha256:111"},
            ),
            FakeContainer(
                "s-link-gateway-inventory",
                {"chaos-harness.link": "gateway->inventory"},
                {"Config": {"Image": "chaos-harness/toxiproxy:def"}, "Image": "sha256:222"},
            ),
        ]


def fake_env(port: int) -> Any:
    backend = SimpleNamespace(
        name="docker",
        session="chaos-1234",
        client=FakeClient(),
        address=lambda service, api_port: ("127.0.0.1", port),
    )
    server = ToxiproxyServer("127.0.0.1", port)  # a real client of the stand-in /version
    return SimpleNamespace(
        backend=backend,
        toxiproxy_versions=lambda: [server.version()],
        source=SourceState("0123456789abcdef" * 2 + "01234567", True, "f" * 64),
    )


def test_a_running_system_is_described_by_engine_toxiproxy_and_images(toxiproxy_port: int) -> None:
    env = fake_env(toxiproxy_port)
    described = describe_environment(env)
    assert described == {
        "backend": "docker",
        "docker-engine": "27.1.0",
        "image.gateway": "chaos-harness/gateway:abc sha256:111",
        "image.link.gateway->inventory": "chaos-harness/toxiproxy:def sha256:222",
        "toxiproxy": "v2.12.0",
        "source.commit": "commit 0123456789ab + uncommitted changes",
        "source.build-inputs": "f" * 64,
    }
    assert env.backend.client.asked == [{"label": "chaos-harness.session=chaos-1234"}]


def test_the_file_is_written_into_the_results_dir(tmp_path: Path, toxiproxy_port: int) -> None:
    config = fake_config(tmp_path / "results")
    note_environment(config, fake_env(toxiproxy_port))

    path = write_environment_properties(config, SETTINGS)

    assert path == tmp_path / "results" / "environment.properties"
    props = parse_properties(path.read_text())
    assert props["toxiproxy"] == "v2.12.0"
    assert props["docker-engine"] == "27.1.0"
    assert props["image.gateway"] == "chaos-harness/gateway:abc sha256:111"
    assert props["seed"] == "4242"
    assert props["backend"] == "docker"
    assert props["source.commit"] == "commit 0123456789ab + uncommitted changes"


def test_nothing_is_written_or_asked_without_a_results_dir(tmp_path: Path) -> None:
    config = fake_config(None)
    exploding = SimpleNamespace()  # any attribute access on it would raise
    note_environment(config, exploding)
    assert write_environment_properties(config, SETTINGS) is None
    assert list(tmp_path.iterdir()) == []


def test_an_xdist_controller_leaves_the_file_to_its_workers(tmp_path: Path) -> None:
    config = fake_config(tmp_path, xdist_controller=True)
    assert write_environment_properties(config, SETTINGS) is None
    assert not (tmp_path / "environment.properties").exists()


def test_test_artifacts_cost_nothing_without_a_results_dir() -> None:
    item = SimpleNamespace(config=fake_config(None), nodeid="x.py::test_y")
    exploding = SimpleNamespace()  # no topology, no logs, no timeline: any use would raise
    artifacts = TestArtifacts(item, exploding)
    artifacts.finish()
    assert artifacts.log_marks == {}
