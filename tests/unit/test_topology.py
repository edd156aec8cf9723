"""Unit tests for harness.topology: the compose file parser, its models and start_levels.

Every way a compose file can be refused is checked to name the offending key (or the name
the user wrote) and the file, because that is what a user needs to fix it.
"""

from __future__ import annotations

import copy
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import TopologyError
from harness.topology import (
    Build,
    Healthcheck,
    SeededBugs,
    Topology,
    VolumeMount,
    load_topology,
)

BASE: dict[str, Any] = {
    "name": "shop",
    "x-notes": {"anything": "goes"},  # compose extension fields are allowed at the top
    "services": {
        "toxiproxy": {
            "build": {"context": ".", "args": {"BINARY": "toxiproxy"}},
            "command": ["-host", "0.0.0.0"],
            "ports": ["8474"],
        },
        "inventory": {
            "build": {"context": "images", "dockerfile": "Inv.Dockerfile", "args": {"N": 3}},
            "environment": {"PORT": "8080", "EMPTY": None},
            "ports": ["8080"],
            "volumes": ["stock:/data"],
        },
        "gateway": {
            "build": ".",
            "environment": ["PORT=8080", "INVENTORY_URL=http://toxiproxy:18081"],
            "ports": ["127.0.0.1:9000:8080/tcp", 9090],
            "depends_on": {"toxiproxy": {"condition": "service_started"}, "inventory": {}},
            "command": "serve --fast",
            "healthcheck": {"test": ["CMD", "/app", "-check"], "interval": "500ms", "retries": 3},
        },
    },
    "volumes": {"stock": {}},
    "x-chaos": {
        "prebuild": ["sh", "build.sh"],
        "toxiproxy": {"service": "toxiproxy", "api_port": 8474},
        "links": {"gateway->inventory": {"listen": 18081, "upstream": "inventory:8080"}},
        "services": {
            "gateway": {"port": 8080, "health": "/healthz", "metrics": "/metrics"},
            "inventory": {"health": "/healthz", "pprof": "/debug/pprof", "writable": True},
        },
        "bugs": {"env": "CHAOS_BUGS", "names": ["leak-on-timeout", "no-deadline"]},
    },
}


def write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "compose.yml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
    return path


def changed(path: str, value: object) -> dict[str, Any]:
    """BASE with the value at a dotted path ('services.gateway.ports') replaced or removed."""
    doc = copy.deepcopy(BASE)
    *parents, last = path.split("/")
    node = doc
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


_DELETE = object()


# -- a valid file becomes the right models ------------------------------------------------


def test_valid_file_is_parsed_into_services_links_and_settings(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing in it is ignored: no warning
        topology = load_topology(write(tmp_path, BASE), environ={})

    assert topology.path == tmp_path / "compose.yml"
    assert topology.project_dir == tmp_path
    assert list(topology.services) == ["toxiproxy", "inventory", "gateway"]
    assert topology.prebuild == ("sh", "build.sh")
    assert topology.volumes == ("stock",)
    assert topology.bugs == SeededBugs(env="CHAOS_BUGS", names=("leak-on-timeout", "no-deadline"))
    assert topology.toxiproxy is not None
    assert (topology.toxiproxy.service, topology.toxiproxy.api_port) == ("toxiproxy", 8474)

    link = topology.link("gateway->inventory")
    assert (link.source, link.listen, link.upstream) == ("gateway", 18081, "inventory:8080")

    gateway = topology.service("gateway")
    assert gateway.build == Build(context=tmp_path, dockerfile="Dockerfile", args={})
    assert gateway.environment == {"PORT": "8080", "INVENTORY_URL": "http://toxiproxy:18081"}
    assert gateway.ports == (8080, 9090)  # only container ports matter
    assert gateway.depends_on == ("toxiproxy", "inventory")
    assert gateway.command == ("serve", "--fast")
    assert (gateway.port, gateway.http_port, gateway.health) == (8080, 8080, "/healthz")
    assert gateway.writable is False
    assert gateway.healthcheck == Healthcheck(
        test=("CMD", "/app", "-check"), interval_s=0.5, retries=3
    )

    inventory = topology.service("inventory")
    assert inventory.build == Build(
        context=tmp_path / "images", dockerfile="Inv.Dockerfile", args={"N": "3"}
    )
    assert inventory.environment == {"PORT": "8080"}  # EMPTY: the shell's, which has none
    assert inventory.volumes == (VolumeMount(volume="stock", target="/data"),)
    assert (inventory.port, inventory.http_port) == (None, 8080)  # falls back to ports[0]
    assert (inventory.pprof, inventory.metrics, inventory.writable) == ("/debug/pprof", None, True)


def test_image_only_service_and_no_x_chaos_block_are_accepted(tmp_path: Path) -> None:
    topology = load_topology(
        write(tmp_path, {"services": {"web": {"image": "nginx:1", "ports": [80]}}})
    )

    web = topology.service("web")
    assert (web.build, web.image, web.port, web.health) == (None, "nginx:1", None, None)
    assert web.http_port == 80
    assert topology.links == {}
    assert topology.toxiproxy is None
    assert topology.bugs is None
    assert topology.race_build_args is None
    assert topology.prebuild is None


def test_reference_compose_file_is_valid_and_nothing_in_it_is_ignored() -> None:
    reference = Path(__file__).resolve().parents[2] / "compose" / "docker-compose.yml"

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        topology = load_topology(reference)

    # The reference runs no Toxiproxy of its own: the harness proxies its two links, and
    # the gateway calls its downstreams by their compose names.
    assert topology.toxiproxy is None
    assert sorted(topology.links) == ["gateway->inventory", "gateway->payment"]
    for link in topology.links.values():
        assert link.transparent
        assert link.upstream_service in topology.services
        gateway_env = topology.service("gateway").environment
        assert f"http://{link.upstream}" in gateway_env.values()


# -- start_levels ---------------------------------------------------------------------------


def _levels(tmp_path: Path, depends: dict[str, list[str]]) -> list[list[str]]:
    services = {
        name: {"image": "x", "ports": [80], "depends_on": deps} for name, deps in depends.items()
    }
    return load_topology(write(tmp_path, {"services": services})).start_levels()


def test_start_levels_put_each_service_after_everything_it_depends_on(tmp_path: Path) -> None:
    assert load_topology(write(tmp_path, BASE)).start_levels() == [
        ["inventory", "toxiproxy"],
        ["gateway"],
    ]
    diamond = {"d": ["b", "c"], "c": ["a"], "b": ["a"], "a": []}
    assert _levels(tmp_path, diamond) == [["a"], ["b", "c"], ["d"]]
    chain = {"c": ["b"], "b": ["a"], "a": []}
    assert _levels(tmp_path, chain) == [["a"], ["b"], ["c"]]
    assert _levels(tmp_path, {"z": [], "y": [], "x": []}) == [["x", "y", "z"]]


@pytest.mark.parametrize(
    ("depends", "among"),
    [
        ({"a": ["b"], "b": ["a"], "c": []}, "a, b"),
        ({"a": ["a"]}, "a"),
        ({"a": [], "b": ["c"], "c": ["d"], "d": ["b"]}, "b, c, d"),
    ],
)
def test_dependency_cycle_is_refused_naming_its_members_and_file(
    tmp_path: Path, depends: dict[str, list[str]], among: str
) -> None:
    with pytest.raises(TopologyError) as info:
        _levels(tmp_path, depends)
    assert f"depends_on in {tmp_path / 'compose.yml'} forms a cycle among: {among}" in str(
        info.value
    )


# -- every refusal names the key and the file ---------------------------------------------

REFUSED: dict[str, tuple[object, str]] = {
    # id: (document or text, fragment naming the key)
    "bad-yaml": ("services: [web\n", "is not valid YAML"),
    "file-not-mapping": ("- web\n- db\n", "the file in"),
    "unknown-top-level-key": (changed("servics", {"n": {}}), "top level in"),
    "no-services": ({"services": {}}, "defines no services"),
    "services-not-mapping": ({"services": ["web"]}, "services in"),
    "volumes-not-mapping": (changed("volumes", ["stock"]), "volumes in"),
    "x-chaos-not-mapping": (changed("x-chaos", ["links"]), "x-chaos in"),
    "unknown-x-chaos-key": (changed("x-chaos/toxics", {}), "x-chaos in"),
    "x-chaos-services-not-mapping": (changed("x-chaos/services", ["gateway"]), "x-chaos.services"),
    "x-chaos-unknown-service": (
        changed("x-chaos/services/gatway", {"port": 8080}),
        "x-chaos.services names 'gatway'",
    ),
    "service-not-mapping": (changed("services/gateway", "nginx"), "services.gateway in"),
    "refused-service-key": (
        changed("services/gateway/network_mode", "host"),
        "services.gateway in {path}: `network_mode` is refused",
    ),
    "unknown-service-key": (
        changed("services/gateway/enviroment", {"A": "1"}),
        "services.gateway in {path} uses the key 'enviroment'",
    ),
    "unknown-x-chaos-service-key": (
        changed("x-chaos/services/gateway/timeout", 3),
        "x-chaos.services.gateway in",
    ),
    "build-not-mapping": (changed("services/gateway/build", ["."]), "services.gateway.build in"),
    "unknown-build-key": (
        changed("services/toxiproxy/build/contxt", "."),
        "services.toxiproxy.build in",
    ),
    "build-args-not-mapping": (
        changed("services/toxiproxy/build/args", "BINARY=toxiproxy"),
        "services.toxiproxy.build.args in",
    ),
    "no-build-or-image": (
        changed("services/gateway/build", _DELETE),
        "service 'gateway' in",
    ),
    "environment-item-without-name": (
        changed("services/gateway/environment", ["=8080"]),
        "services.gateway.environment in",
    ),
    "environment-not-mapping": (
        changed("services/gateway/environment", "PORT=8080"),
        "services.gateway.environment in",
    ),
    "port-not-a-number": (changed("services/gateway/ports", ["http"]), "services.gateway.ports in"),
    "port-zero": (changed("services/gateway/ports", ["0"]), "services.gateway.ports in"),
    "port-too-large": (changed("services/gateway/ports", [70000]), "services.gateway.ports in"),
    "ports-not-a-list": (
        changed("services/gateway/ports", "8080"),
        "services.gateway.ports in {path} must be a list, got str",
    ),
    "volumes-not-a-list": (
        changed("services/inventory/volumes", "stock:/data"),
        "services.inventory.volumes in {path} must be a list, got str",
    ),
    "x-chaos-port": (
        changed("x-chaos/services/gateway/port", "web"),
        "x-chaos.services.gateway.port in",
    ),
    "no-port-at-all": (
        {"services": {"worker": {"image": "x"}}},
        "service 'worker' in {path} has no port",
    ),
    "depends-on-unknown-service": (
        changed("services/gateway/depends_on", ["inventory", "db"]),
        "service 'gateway' in",
    ),
    "depends-on-not-list-or-mapping": (
        changed("services/gateway/depends_on", "inventory"),
        "services.gateway.depends_on in",
    ),
    "volume-not-declared": (
        changed("services/inventory/volumes", ["other:/data"]),
        "services.inventory.volumes in",
    ),
    "bind-mount": (
        changed("services/inventory/volumes", ["./data:/data"]),
        "services.inventory.volumes in",
    ),
    "volume-relative-target": (
        changed("services/inventory/volumes", ["stock:data"]),
        "services.inventory.volumes in",
    ),
    "command-not-string-or-list": (
        changed("services/gateway/command", {"run": "x"}),
        "services.gateway.command in",
    ),
    "health-not-a-path": (
        changed("x-chaos/services/gateway/health", "healthz"),
        "x-chaos.services.gateway.health in",
    ),
    "metrics-not-a-string": (
        changed("x-chaos/services/gateway/metrics", 9090),
        "x-chaos.services.gateway.metrics in",
    ),
    "pprof-on-a-port-without-port": (
        changed("x-chaos/services/gateway/pprof", {"path": "/debug/pprof"}),
        "x-chaos.services.gateway.pprof in {path} names no `port:`; it must be an HTTP path "
        "such as /debug/pprof, or {{port: 2019, path: /debug/pprof}} on another port",
    ),
    "metrics-port-not-a-port": (
        changed("x-chaos/services/gateway/metrics", {"port": "admin", "path": "/metrics"}),
        "x-chaos.services.gateway.metrics.port in {path}: 'admin' is not a port",
    ),
    "metrics-port-path-not-a-path": (
        changed("x-chaos/services/gateway/metrics", {"port": 2019, "path": "metrics"}),
        "x-chaos.services.gateway.metrics.path in {path} must be an HTTP path such as /metrics",
    ),
    "metrics-unknown-key": (
        changed("x-chaos/services/gateway/metrics", {"port": 2019, "host": "localhost"}),
        "x-chaos.services.gateway.metrics in {path} uses the key 'host'",
    ),
    "writable-not-a-boolean": (
        changed("x-chaos/services/inventory/writable", "false"),
        "x-chaos.services.inventory.writable in {path} must be true or false, got 'false'",
    ),
    "local-not-mapping": (
        changed("x-chaos/services/gateway/local", "./gateway"),
        "x-chaos.services.gateway.local in",
    ),
    "local-without-command": (
        changed("x-chaos/services/gateway/local", {"environment": {"A": "1"}}),
        "x-chaos.services.gateway.local in",
    ),
    "local-command-not-string-or-list": (
        changed("x-chaos/services/gateway/local", {"command": 5}),
        "x-chaos.services.gateway.local.command in",
    ),
    "local-environment-item-without-equals": (
        changed("x-chaos/services/gateway/local", {"command": "./gw", "environment": ["PORT"]}),
        "x-chaos.services.gateway.local.environment in",
    ),
    "toxiproxy-not-mapping": (changed("x-chaos/toxiproxy", "toxiproxy"), "x-chaos.toxiproxy in"),
    "unknown-toxiproxy-key": (changed("x-chaos/toxiproxy/host", "h"), "x-chaos.toxiproxy in"),
    "toxiproxy-service-unknown": (
        changed("x-chaos/toxiproxy/service", "proxy"),
        "x-chaos.toxiproxy.service in",
    ),
    "toxiproxy-service-missing": (
        changed("x-chaos/toxiproxy/service", _DELETE),
        "x-chaos.toxiproxy.service in",
    ),
    "toxiproxy-api-port": (
        changed("x-chaos/toxiproxy/api_port", -1),
        "x-chaos.toxiproxy.api_port in",
    ),
    "harness-links-and-own-toxiproxy": (
        changed("x-chaos/links", ["gateway->inventory"]),
        "x-chaos.toxiproxy in",
    ),
    "links-without-toxiproxy": (changed("x-chaos/toxiproxy", _DELETE), "x-chaos.links in"),
    "link-name-without-arrow": (
        changed("x-chaos/links/gateway-inventory", {"listen": 1, "upstream": "inventory:8080"}),
        "link name 'gateway-inventory' in",
    ),
    "link-not-mapping": (
        changed("x-chaos/links/gateway->inventory", 18081),
        "x-chaos.links.gateway->inventory in",
    ),
    "unknown-link-key": (
        changed("x-chaos/links/gateway->inventory/toxics", []),
        "x-chaos.links.gateway->inventory in",
    ),
    "link-upstream-without-port": (
        changed("x-chaos/links/gateway->inventory/upstream", "inventory"),
        "x-chaos.links.gateway->inventory.upstream in",
    ),
    "link-upstream-unknown-service": (
        changed("x-chaos/links/gateway->inventory/upstream", "stock:8080"),
        "x-chaos.links.gateway->inventory.upstream in",
    ),
    "link-upstream-bad-port": (
        changed("x-chaos/links/gateway->inventory/upstream", "inventory:http"),
        "x-chaos.links.gateway->inventory.upstream in",
    ),
    "link-source-unknown": (
        changed("x-chaos/links/web->inventory", {"listen": 1, "upstream": "inventory:8080"}),
        "link 'web->inventory' in",
    ),
    "link-listen-missing": (
        changed("x-chaos/links/gateway->inventory/listen", _DELETE),
        "x-chaos.links.gateway->inventory.listen in",
    ),
    "two-links-same-listen-port": (
        changed("x-chaos/links/toxiproxy->gateway", {"listen": 18081, "upstream": "gateway:8080"}),
        "x-chaos.links of",
    ),
    "prebuild-a-string": (changed("x-chaos/prebuild", "sh build.sh"), "x-chaos.prebuild in"),
    "prebuild-empty": (changed("x-chaos/prebuild", []), "x-chaos.prebuild in"),
    "unknown-prebuild-key": (
        changed("x-chaos/prebuild", {"command": ["sh", "build.sh"], "cwd": "."}),
        "x-chaos.prebuild in",
    ),
    "prebuild-inputs-not-globs": (
        changed("x-chaos/prebuild", {"command": ["sh", "build.sh"], "inputs": "**/*.go"}),
        "x-chaos.prebuild.inputs in",
    ),
    "prebuild-outputs-not-globs": (
        changed("x-chaos/prebuild", {"command": ["sh", "build.sh"], "outputs": [1]}),
        "x-chaos.prebuild.outputs in",
    ),
    "prebuild-absolute-input": (
        changed("x-chaos/prebuild", {"command": ["sh", "build.sh"], "inputs": ["/src/*.go"]}),
        "x-chaos.prebuild.inputs in {path}: '/src/*.go' must be a glob relative to the "
        "compose file's folder",
    ),
    "prebuild-output-outside-the-folder": (
        changed("x-chaos/prebuild", {"command": ["sh", "build.sh"], "outputs": ["../bin/*"]}),
        "x-chaos.prebuild.outputs in {path}: '../bin/*' must be a glob relative to the "
        "compose file's folder",
    ),
    "read-only-and-writable": (
        changed("services/inventory/read_only", True),
        "service 'inventory' in {path} has `read_only: true` and x-chaos `writable: true`",
    ),
    "healthcheck-not-mapping": (
        changed("services/gateway/healthcheck", "curl -f localhost"),
        "services.gateway.healthcheck in",
    ),
    "unknown-healthcheck-key": (
        changed("services/gateway/healthcheck", {"test": ["CMD", "/app"], "every": "1s"}),
        "services.gateway.healthcheck in",
    ),
    "healthcheck-test-not-a-command": (
        changed("services/gateway/healthcheck", {"test": ["RUN", "/app"]}),
        "services.gateway.healthcheck.test in",
    ),
    "healthcheck-duration-without-unit": (
        changed("services/gateway/healthcheck", {"test": "/app -check", "interval": 5}),
        "services.gateway.healthcheck.interval in {path}: 5 must be a duration",
    ),
    "healthcheck-retries-not-a-number": (
        changed("services/gateway/healthcheck", {"test": "/app -check", "retries": "3"}),
        "services.gateway.healthcheck.retries in",
    ),
    "bugs-a-plain-list": (changed("x-chaos/bugs", ["leak-on-timeout"]), "x-chaos.bugs in"),
    "bugs-names-not-strings": (
        changed("x-chaos/bugs/names", [{"name": "x"}]),
        "x-chaos.bugs.names in",
    ),
    "bugs-env-not-a-variable": (changed("x-chaos/bugs/env", "NOT A VAR"), "x-chaos.bugs.env in"),
    "race-without-build-args": (changed("x-chaos/race", {}), "x-chaos.race in"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_file_names_the_key_and_the_file(tmp_path: Path, case: str) -> None:
    doc, fragment = REFUSED[case]
    path = write(tmp_path, doc)

    with pytest.raises(TopologyError) as info:
        load_topology(path)

    message = str(info.value)
    assert fragment.format(path=path) in message
    assert str(path) in message


def test_misspelt_key_is_named_with_the_key_it_resembles(tmp_path: Path) -> None:
    path = write(tmp_path, changed("services/gateway/healthcheks", {"test": "true"}))

    with pytest.raises(TopologyError) as info:
        load_topology(path)

    assert str(info.value) == (
        f"services.gateway in {path} uses the key 'healthcheks', which is not a compose key "
        "chaos-harness knows (did you mean 'healthcheck'?); fix or remove it"
    )


def test_service_reached_only_through_expose_talks_http_on_its_first_exposed_port(
    tmp_path: Path,
) -> None:
    doc = {"services": {"api": {"image": "api:1", "expose": ["9000-9001", 7000]}}}

    api = load_topology(write(tmp_path, doc)).service("api")

    assert (api.ports, api.expose) == ((), (9000, 9001, 7000))
    assert api.known_ports == (7000, 9000, 9001)  # all of them are published on loopback
    assert api.http_port == 9000


def test_signals_on_an_admin_port_are_published_but_are_not_the_http_port(
    tmp_path: Path,
) -> None:
    doc = {
        "services": {"proxy": {"image": "caddy:2", "ports": ["8080"]}},
        "x-chaos": {
            "services": {
                "proxy": {
                    "metrics": {"port": 2019, "path": "/metrics"},
                    "pprof": {"port": "2019"},  # path: the conventional /debug/pprof
                }
            }
        },
    }

    proxy = load_topology(write(tmp_path, doc)).service("proxy")

    assert (proxy.metrics, proxy.metrics_port) == ("/metrics", 2019)
    assert (proxy.pprof, proxy.pprof_port) == (None, 2019)
    assert proxy.known_ports == (2019, 8080)  # published on loopback, like the others
    assert proxy.http_port == 8080  # load, readiness and the link still use the service's


def test_a_signal_port_alone_is_not_a_port_to_talk_http_to(tmp_path: Path) -> None:
    doc = {
        "services": {"proxy": {"image": "caddy:2"}},
        "x-chaos": {"services": {"proxy": {"metrics": {"port": 2019, "path": "/metrics"}}}},
    }
    path = write(tmp_path, doc)

    with pytest.raises(TopologyError) as info:
        load_topology(path)

    assert str(info.value).startswith(f"service 'proxy' in {path} has no port; add")


def test_x_chaos_may_describe_a_service_its_profiles_leave_out(tmp_path: Path) -> None:
    doc = {
        "services": {
            "api": {"image": "api:1", "ports": [80]},
            "debug": {"image": "dbg:1", "ports": [81], "profiles": ["debug"]},
        },
        "x-chaos": {"services": {"debug": {"health": "/ready"}}},
    }

    assert list(load_topology(write(tmp_path, doc), environ={}).services) == ["api"]
    on = load_topology(write(tmp_path, doc), environ={"COMPOSE_PROFILES": "debug"})
    assert on.service("debug").health == "/ready"


def test_missing_file_is_refused_naming_the_file_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match=r"does not exist.*--chaos-compose=FILE") as info:
        load_topology(tmp_path / "nope.yml")
    assert str(tmp_path / "nope.yml") in str(info.value)


def test_unknown_service_and_link_names_list_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    topology: Topology = load_topology(path)

    with pytest.raises(TopologyError) as service:
        topology.service("payment")
    assert str(service.value) == (
        f"no service named 'payment' in {path}; the services are: gateway, inventory, toxiproxy"
    )
    with pytest.raises(TopologyError) as link:
        topology.link("gateway->payment")
    assert str(link.value) == (
        f"no link named 'gateway->payment' in the x-chaos block of {path}; "
        "the links are: gateway->inventory"
    )


# -- links the harness proxies (transparent) ---------------------------------------------


TWO_SERVICES: dict[str, Any] = {
    "services": {
        "front": {"image": "front:1", "ports": ["8080"]},
        "back": {"image": "back:1", "expose": ["9000"], "x-note": "ignored"},
    },
    "x-chaos": {"services": {"back": {"port": 9000}}},
}


def _with_links(links: object, **chaos: object) -> dict[str, Any]:
    doc = copy.deepcopy(TWO_SERVICES)
    doc["services"]["back"].pop("x-note")
    doc["services"]["back"].pop("expose")
    doc["x-chaos"].update({"links": links, **chaos})
    return doc


def test_links_listed_by_name_are_proxied_by_the_harness_on_the_upstream_port(
    tmp_path: Path,
) -> None:
    topology = load_topology(write(tmp_path, _with_links(["front->back"])))

    link = topology.link("front->back")
    assert link.transparent
    assert (link.source, link.upstream, link.listen) == ("front", "back:9000", None)
    assert topology.toxiproxy is None
    assert topology.proxy_image is None


def test_a_link_may_name_the_port_it_proxies_and_the_proxy_image(tmp_path: Path) -> None:
    doc = _with_links({"front->back": {"port": 9100}}, proxy={"image": "toxiproxy:stock"})

    topology = load_topology(write(tmp_path, doc))

    assert topology.link("front->back").upstream == "back:9100"
    assert topology.proxy_image == "toxiproxy:stock"


@pytest.mark.parametrize(
    ("links", "chaos", "fragment"),
    [
        (["front->nowhere"], {}, "names 'nowhere', which is not a service"),
        (["front->front"], {}, "goes from a service to itself"),
        (["front->back", "front->back"], {}, "names front->back twice"),
        (["front-back"], {}, "must look like 'from->to'"),
        ({"front->back": {"port": "x"}}, {}, "x-chaos.links.front->back.port in"),
        ({"front->back": {"listen": 18081, "upstream": "back:9000"}}, {}, "x-chaos: toxiproxy:"),
        (["front->back"], {"proxy": {"image": ""}}, "x-chaos.proxy.image in"),
        ([], {"proxy": {"image": "toxiproxy:1"}}, "the file names no such link"),
    ],
)
def test_bad_harness_links_are_refused_saying_what_to_fix(
    tmp_path: Path, links: object, chaos: dict[str, object], fragment: str
) -> None:
    with pytest.raises(TopologyError, match=re.escape(fragment)):
        load_topology(write(tmp_path, _with_links(links, **chaos)))
