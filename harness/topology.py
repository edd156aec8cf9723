"""Reads a compose file and its ``x-chaos`` block into a :class:`Topology` value.

Only the compose keys the harness really honours are accepted; any other key is an error
that names the key and the file, because silently ignoring (say) ``network_mode`` would
start a system that is not the one the user described.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import TopologyError

__all__ = [
    "Build",
    "Link",
    "LocalSpec",
    "SeededBugs",
    "Service",
    "Topology",
    "ToxiproxySpec",
    "VolumeMount",
    "load_topology",
]

_TOP_LEVEL_KEYS = {"services", "volumes", "name", "version", "x-chaos"}
_SERVICE_KEYS = {
    "build",
    "image",
    "environment",
    "ports",
    "healthcheck",
    "depends_on",
    "volumes",
    "command",
}
_BUILD_KEYS = {"context", "dockerfile", "args"}
_CHAOS_KEYS = {"prebuild", "toxiproxy", "proxy", "links", "services", "bugs", "race"}
_CHAOS_SERVICE_KEYS = {"port", "health", "metrics", "pprof", "writable", "local"}
_LINK_NAME = re.compile(r"^[A-Za-z0-9_.-]+->[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Build:
    context: Path
    dockerfile: str = "Dockerfile"
    args: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VolumeMount:
    volume: str
    target: str


@dataclass(frozen=True)
class LocalSpec:
    """How to run a service as a host process (the local backend).

    ``{port:N}`` in the command or environment becomes the host port standing in for
    container port N of this service, and ``{volume:NAME}`` a folder standing in for
    the named volume; ``SERVICE:PORT`` in any environment value becomes 127.0.0.1 and
    that service's host port.
    """

    command: tuple[str, ...]
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Service:
    name: str
    build: Build | None
    image: str | None
    environment: Mapping[str, str]
    ports: tuple[int, ...]
    depends_on: tuple[str, ...]
    volumes: tuple[VolumeMount, ...]
    command: tuple[str, ...] | None
    healthcheck: Mapping[str, Any] | None
    port: int | None
    health: str | None
    metrics: str | None
    pprof: str | None
    writable: bool
    local: LocalSpec | None = None

    @property
    def known_ports(self) -> tuple[int, ...]:
        ports = set(self.ports)
        if self.port is not None:
            ports.add(self.port)
        return tuple(sorted(ports))

    @property
    def http_port(self) -> int:
        """The container port the harness talks HTTP to (probes, readiness, load)."""
        if self.port is not None:
            return self.port
        if self.ports:
            return self.ports[0]
        raise TopologyError(
            f'service {self.name!r} publishes no port; add `ports: ["8080"]` to it in the '
            "compose file or `x-chaos: services: {name: {port: 8080}}`"
        )


@dataclass(frozen=True)
class Link:
    """A connection from one service to another that goes through a Toxiproxy proxy.

    A *transparent* link (``listen`` None) gets a proxy the harness supplies: the source
    keeps calling ``upstream_service:upstream_port`` by name, and its name resolution
    points that name at the link's proxy. A link with ``listen`` goes through a Toxiproxy
    the compose file runs itself (``x-chaos.toxiproxy``), which the source must call.
    """

    name: str
    upstream_service: str
    upstream_port: int
    listen: int | None = None

    @property
    def source(self) -> str:
        return self.name.split("->", 1)[0]

    @property
    def upstream(self) -> str:
        return f"{self.upstream_service}:{self.upstream_port}"

    @property
    def transparent(self) -> bool:
        return self.listen is None


@dataclass(frozen=True)
class SeededBugs:
    """Mistakes a system can switch on by name (``--chaos-bugs``), and how it is told.

    ``env`` is the variable every service gets, the chosen names comma-separated.
    """

    env: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class ToxiproxySpec:
    service: str
    api_port: int = 8474


@dataclass(frozen=True)
class Topology:
    path: Path
    services: Mapping[str, Service]
    links: Mapping[str, Link]
    toxiproxy: ToxiproxySpec | None  # a Toxiproxy the compose file runs itself
    prebuild: tuple[str, ...] | None
    volumes: tuple[str, ...]
    proxy_image: str | None = None  # x-chaos.proxy.image: instead of the harness's build
    bugs: SeededBugs | None = None  # x-chaos.bugs: what --chaos-bugs may switch on
    # x-chaos.race.build_args: what --chaos-race adds to every image build (None: no race build)
    race_build_args: Mapping[str, str] | None = None
    # Globs: when no input changed and every output is still there, prebuild is skipped.
    prebuild_inputs: tuple[str, ...] | None = None
    prebuild_outputs: tuple[str, ...] = ()

    @property
    def project_dir(self) -> Path:
        return self.path.parent

    def service(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            raise TopologyError(
                f"no service named {name!r} in {self.path}; "
                f"the services are: {', '.join(sorted(self.services))}"
            ) from None

    def link(self, name: str) -> Link:
        try:
            return self.links[name]
        except KeyError:
            known = ", ".join(sorted(self.links)) or "none"
            raise TopologyError(
                f"no link named {name!r} in the x-chaos block of {self.path}; "
                f"the links are: {known}"
            ) from None

    def start_levels(self) -> list[list[str]]:
        """Services grouped so that each group depends only on earlier groups."""
        remaining = dict(self.services)
        done: set[str] = set()
        levels: list[list[str]] = []
        while remaining:
            level = sorted(n for n, s in remaining.items() if set(s.depends_on) <= done)
            if not level:
                cycle = ", ".join(sorted(remaining))
                raise TopologyError(
                    f"depends_on in {self.path} forms a cycle among: {cycle}; remove one edge"
                )
            levels.append(level)
            done.update(level)
            for name in level:
                del remaining[name]
        return levels


def load_topology(path: str | Path) -> Topology:
    """Parse and validate a compose file; raise :class:`TopologyError` naming what to fix."""
    path = Path(path).resolve()
    if not path.is_file():
        raise TopologyError(
            f"compose file {path} does not exist; pass an existing file with "
            "--chaos-compose=FILE (or the chaos_compose ini key)"
        )
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise TopologyError(f"{path} is not valid YAML: {exc}") from None
    return _parse(path, raw)


def _parse(path: Path, raw: object) -> Topology:
    where = str(path)
    doc = _mapping(raw, where, "the file")
    _only(doc, _TOP_LEVEL_KEYS, where, "top level", allow_extensions=True)
    services_raw = _mapping(doc.get("services"), where, "services")
    if not services_raw:
        raise TopologyError(f"{where} defines no services; add at least one under `services:`")
    volumes = tuple(str(v) for v in _mapping(doc.get("volumes") or {}, where, "volumes"))
    chaos = _mapping(doc.get("x-chaos") or {}, where, "x-chaos")
    _only(chaos, _CHAOS_KEYS, where, "x-chaos")
    chaos_services = _mapping(chaos.get("services") or {}, where, "x-chaos.services")
    for name in chaos_services:
        if name not in services_raw:
            raise TopologyError(
                f"x-chaos.services names {name!r} in {where}, which is not a service; "
                f"the services are: {', '.join(sorted(services_raw))}"
            )

    services = {
        str(name): _service(
            path,
            str(name),
            _mapping(spec, where, f"services.{name}"),
            _mapping(chaos_services.get(name) or {}, where, f"x-chaos.services.{name}"),
            volumes,
        )
        for name, spec in services_raw.items()
    }
    for svc in services.values():
        for dep in svc.depends_on:
            if dep not in services:
                raise TopologyError(
                    f"service {svc.name!r} in {where} depends on {dep!r}, which is not a service"
                )

    toxiproxy = _toxiproxy(chaos.get("toxiproxy"), where, services)
    links = _links(chaos.get("links"), where, services, own_toxiproxy=toxiproxy is not None)
    proxy_image = _proxy_image(chaos.get("proxy"), where, links)

    prebuild, prebuild_inputs, prebuild_outputs = _prebuild(chaos.get("prebuild"), where)

    topology = Topology(
        path=path,
        services=services,
        links=links,
        toxiproxy=toxiproxy,
        proxy_image=proxy_image,
        prebuild=prebuild,
        prebuild_inputs=prebuild_inputs,
        prebuild_outputs=prebuild_outputs,
        volumes=volumes,
        bugs=_bugs(chaos.get("bugs"), where),
        race_build_args=_race(chaos.get("race"), where),
    )
    topology.start_levels()  # reject dependency cycles now, not at start-up
    return topology


def _service(
    path: Path,
    name: str,
    spec: Mapping[str, Any],
    chaos: Mapping[str, Any],
    volumes: tuple[str, ...],
) -> Service:
    where = str(path)
    _only(spec, _SERVICE_KEYS, where, f"services.{name}")
    _only(chaos, _CHAOS_SERVICE_KEYS, where, f"x-chaos.services.{name}")
    build = _build(path, name, spec.get("build"))
    image = spec.get("image")
    if build is None and not image:
        raise TopologyError(f"service {name!r} in {where} needs `build:` or `image:`")
    service = Service(
        name=name,
        build=build,
        image=str(image) if image else None,
        environment=_environment(spec.get("environment"), where, name),
        ports=tuple(
            _port(p, where, f"services.{name}.ports")
            for p in _list(spec.get("ports"), where, f"services.{name}.ports")
        ),
        depends_on=_depends_on(spec.get("depends_on"), where, name),
        volumes=tuple(
            _volume(v, where, name, volumes)
            for v in _list(spec.get("volumes"), where, f"services.{name}.volumes")
        ),
        command=_command(spec.get("command"), where, name),
        healthcheck=_healthcheck(spec.get("healthcheck"), where, name),
        port=_port(chaos["port"], where, f"x-chaos.services.{name}.port")
        if "port" in chaos
        else None,
        health=_http_path(chaos.get("health"), where, name, "health"),
        metrics=_http_path(chaos.get("metrics"), where, name, "metrics"),
        pprof=_http_path(chaos.get("pprof"), where, name, "pprof"),
        writable=_flag(chaos.get("writable", False), where, f"x-chaos.services.{name}.writable"),
        local=_local(chaos.get("local"), where, name),
    )
    if not service.known_ports:  # readiness, probes and load all need an HTTP port
        raise TopologyError(
            f'service {name!r} in {where} has no port; add `ports: ["8080"]` to it or '
            f"`x-chaos: services: {{{name}: {{port: 8080}}}}`"
        )
    return service


def _local(raw: object, where: str, name: str) -> LocalSpec | None:
    if raw is None:
        return None
    what = f"x-chaos.services.{name}.local"
    spec = _mapping(raw, where, what)
    _only(spec, {"command", "environment"}, where, what)
    command = _command(spec.get("command"), where, name, what=f"{what}.command")
    if not command:
        raise TopologyError(f"{what} in {where} needs `command:`, the program to run")
    return LocalSpec(
        command=command,
        environment=_environment(spec.get("environment"), where, name, what=f"{what}.environment"),
    )


def _prebuild(
    raw: object, where: str
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None, tuple[str, ...]]:
    if raw is None:
        return None, None, ()
    spec = raw if isinstance(raw, Mapping) else {"command": raw}
    _only(spec, {"command", "inputs", "outputs"}, where, "x-chaos.prebuild")
    command, inputs, outputs = spec.get("command"), spec.get("inputs"), spec.get("outputs", [])
    if not (isinstance(command, list) and command and all(isinstance(p, str) for p in command)):
        raise TopologyError(
            f"x-chaos.prebuild in {where} must be a command as a list of strings, "
            'e.g. ["sh", "build.sh"], or {command: [...], inputs: ["**/*.go"]}'
        )
    if inputs is not None and not (
        isinstance(inputs, list) and all(isinstance(g, str) for g in inputs)
    ):
        raise TopologyError(f"x-chaos.prebuild.inputs in {where} must be a list of globs")
    if not (isinstance(outputs, list) and all(isinstance(g, str) for g in outputs)):
        raise TopologyError(f"x-chaos.prebuild.outputs in {where} must be a list of globs")
    return tuple(command), tuple(inputs) if inputs is not None else None, tuple(outputs)


def _bugs(raw: object, where: str) -> SeededBugs | None:
    if raw is None:
        return None
    example = "{env: BUGS, names: [slow-leak, ...]}"
    if not isinstance(raw, Mapping):
        raise TopologyError(
            f"x-chaos.bugs in {where} must be a mapping {example}: `env` is the variable "
            "every service gets (the names --chaos-bugs switched on, comma-separated), "
            "`names` the names it accepts"
        )
    _only(raw, {"env", "names"}, where, "x-chaos.bugs")
    env, names = raw.get("env"), raw.get("names")
    if not isinstance(env, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env):
        raise TopologyError(
            f"x-chaos.bugs.env in {where} must name an environment variable, e.g. {example}"
        )
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise TopologyError(f"x-chaos.bugs.names in {where} must be a list of bug names")
    return SeededBugs(env=env, names=tuple(names))


def _race(raw: object, where: str) -> Mapping[str, str] | None:
    if raw is None:
        return None
    spec = _mapping(raw, where, "x-chaos.race")
    _only(spec, {"build_args"}, where, "x-chaos.race")
    args = _mapping(spec.get("build_args"), where, "x-chaos.race.build_args")
    if not args:
        raise TopologyError(
            f"x-chaos.race in {where} needs `build_args`, the build args that select the "
            "race-detector build, e.g. {build_args: {VARIANT: race}}"
        )
    return {str(k): str(v) for k, v in args.items()}


def _build(path: Path, name: str, raw: object) -> Build | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return Build(context=(path.parent / raw).resolve())
    spec = _mapping(raw, str(path), f"services.{name}.build")
    _only(spec, _BUILD_KEYS, str(path), f"services.{name}.build")
    args = _mapping(spec.get("args") or {}, str(path), f"services.{name}.build.args")
    return Build(
        context=(path.parent / str(spec.get("context", "."))).resolve(),
        dockerfile=str(spec.get("dockerfile", "Dockerfile")),
        args={str(k): str(v) for k, v in args.items()},
    )


def _environment(raw: object, where: str, name: str, what: str = "") -> dict[str, str]:
    what = what or f"services.{name}.environment"
    if raw is None:
        return {}
    if isinstance(raw, list):
        env: dict[str, str] = {}
        for item in raw:
            key, sep, value = str(item).partition("=")
            if not sep:
                raise TopologyError(f"{what} in {where}: {item!r} needs the form KEY=VALUE")
            env[key] = value
        return env
    mapping = _mapping(raw, where, what)
    return {str(k): "" if v is None else str(v) for k, v in mapping.items()}


def _port(raw: object, where: str, what: str) -> int:
    # Only the container port matters: the harness always publishes on 127.0.0.1 itself.
    text = str(raw).split(":")[-1].split("/")[0]
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise TopologyError(f"{what} in {where}: {raw!r} is not a port between 1 and 65535")
    return int(text)


def _depends_on(raw: object, where: str, name: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, list):
        return tuple(str(d) for d in raw)
    return tuple(str(d) for d in _mapping(raw, where, f"services.{name}.depends_on"))


def _volume(raw: object, where: str, name: str, declared: tuple[str, ...]) -> VolumeMount:
    source, sep, target = str(raw).partition(":")
    target = target.split(":")[0]
    if not sep or not target.startswith("/") or source not in declared:
        raise TopologyError(
            f"services.{name}.volumes in {where}: {raw!r} must be NAMED_VOLUME:/path with the "
            "volume declared under the top-level `volumes:` (bind mounts are not supported, "
            "because the harness must be able to remove everything it created)"
        )
    return VolumeMount(volume=source, target=target)


def _command(raw: object, where: str, name: str, what: str = "") -> tuple[str, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return tuple(raw.split())
    if isinstance(raw, list):
        return tuple(str(part) for part in raw)
    what = what or f"services.{name}.command"
    raise TopologyError(f"{what} in {where} must be a string or a list")


def _http_path(raw: object, where: str, name: str, key: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.startswith("/"):
        raise TopologyError(
            f"x-chaos.services.{name}.{key} in {where} must be an HTTP path such as /healthz"
        )
    return raw


def _toxiproxy(raw: object, where: str, services: Mapping[str, Service]) -> ToxiproxySpec | None:
    if raw is None:
        return None
    spec = _mapping(raw, where, "x-chaos.toxiproxy")
    _only(spec, {"service", "api_port"}, where, "x-chaos.toxiproxy")
    service = str(spec.get("service", ""))
    if service not in services:
        raise TopologyError(
            f"x-chaos.toxiproxy.service in {where} is {service!r}, which is not a service; "
            f"the services are: {', '.join(sorted(services))}"
        )
    return ToxiproxySpec(
        service=service,
        api_port=_port(spec.get("api_port", 8474), where, "x-chaos.toxiproxy.api_port"),
    )


def _links(
    raw: object, where: str, services: Mapping[str, Service], *, own_toxiproxy: bool
) -> dict[str, Link]:
    """``[front->back, ...]`` or ``{front->back: {port: N}}``: proxies the harness supplies;
    ``{front->back: {listen: N, upstream: "back:P"}}``: through the file's own Toxiproxy."""
    if raw is None:
        return {}
    if isinstance(raw, list):
        names = [str(name) for name in raw]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise TopologyError(f"x-chaos.links in {where} names {', '.join(duplicated)} twice")
        specs: dict[str, object] = dict.fromkeys(names)
    else:
        specs = {str(k): v for k, v in _mapping(raw, where, "x-chaos.links").items()}
    links = {name: _link(name, spec, where, services) for name, spec in specs.items()}
    legacy = sorted(name for name, link in links.items() if not link.transparent)
    transparent = sorted(name for name, link in links.items() if link.transparent)
    if legacy and transparent:
        raise TopologyError(
            f"x-chaos.links in {where} mixes links through the file's own Toxiproxy "
            f"({', '.join(legacy)}: listen/upstream) with links the harness proxies "
            f"({', '.join(transparent)}); use one kind: drop listen/upstream and the "
            "file's Toxiproxy to let the harness proxy every link"
        )
    if legacy and not own_toxiproxy:
        raise TopologyError(
            f"x-chaos.links in {where} gives listen/upstream ({', '.join(legacy)}), which go "
            "through a Toxiproxy your compose file runs: name it with `x-chaos: toxiproxy: "
            "{service: NAME}`, or drop listen/upstream and let the harness proxy the links"
        )
    listens = [link.listen for link in links.values() if link.listen is not None]
    if len(set(listens)) != len(listens):
        raise TopologyError(f"two links in x-chaos.links of {where} listen on the same port")
    if transparent and own_toxiproxy:
        raise TopologyError(
            f"x-chaos.toxiproxy in {where} names the file's own Toxiproxy, but the links "
            f"{', '.join(transparent)} have no listen/upstream through it; either give each "
            "link {listen: PORT, upstream: SERVICE:PORT} or drop x-chaos.toxiproxy and let "
            "the harness put a proxy on each link"
        )
    return links


def _link(name: str, raw: object, where: str, services: Mapping[str, Service]) -> Link:
    if not _LINK_NAME.match(name):
        raise TopologyError(
            f"link name {name!r} in {where} must look like 'from->to', two services of the file"
        )
    source, target = name.split("->", 1)
    for end in (source, target):
        if end not in services:
            raise TopologyError(
                f"link {name!r} in {where} names {end!r}, which is not a service; "
                f"the services are: {', '.join(sorted(services))}"
            )
    if source == target:
        raise TopologyError(f"link {name!r} in {where} goes from a service to itself")
    spec = _mapping(raw, where, f"x-chaos.links.{name}")
    if "listen" in spec or "upstream" in spec:
        return _own_proxy_link(name, spec, where, services)
    _only(spec, {"port"}, where, f"x-chaos.links.{name}")
    if "port" in spec:
        port = _port(spec["port"], where, f"x-chaos.links.{name}.port")
    else:
        try:
            port = services[target].http_port
        except TopologyError:
            raise TopologyError(
                f"link {name!r} in {where}: {target!r} declares no port to proxy; add "
                f"`port: N` to the link or a port to the service"
            ) from None
    return Link(name=name, upstream_service=target, upstream_port=port)


def _own_proxy_link(
    name: str, spec: Mapping[str, Any], where: str, services: Mapping[str, Service]
) -> Link:
    _only(spec, {"listen", "upstream"}, where, f"x-chaos.links.{name}")
    host, sep, port = str(spec.get("upstream", "")).rpartition(":")
    if not sep or host not in services:
        raise TopologyError(
            f"x-chaos.links.{name}.upstream in {where} must be SERVICE:PORT with a service "
            f"of the file; got {spec.get('upstream')!r}"
        )
    return Link(
        name=name,
        listen=_port(spec.get("listen"), where, f"x-chaos.links.{name}.listen"),
        upstream_service=host,
        upstream_port=_port(port, where, f"x-chaos.links.{name}.upstream"),
    )


def _proxy_image(raw: object, where: str, links: Mapping[str, Link]) -> str | None:
    if raw is None:
        return None
    spec = _mapping(raw, where, "x-chaos.proxy")
    _only(spec, {"image"}, where, "x-chaos.proxy")
    image = spec.get("image")
    if not isinstance(image, str) or not image.strip():
        raise TopologyError(
            f"x-chaos.proxy.image in {where} must name a Toxiproxy image, e.g. "
            "ghcr.io/shopify/toxiproxy:2.12.0"
        )
    if not any(link.transparent for link in links.values()):
        raise TopologyError(
            f"x-chaos.proxy in {where} chooses the image of the proxies the harness puts on "
            "links, but the file names no such link; add `links: [front->back]` or drop it"
        )
    return image


_HEALTHCHECK_KEYS = {"test", "interval", "timeout", "start_period", "retries"}
_DURATION = re.compile(r"^\d+(\.\d+)?(ms|s|m)$")


def _healthcheck(raw: object, where: str, name: str) -> Mapping[str, Any] | None:
    """A compose healthcheck, checked now rather than when its container is created."""
    if raw is None:
        return None
    what = f"services.{name}.healthcheck"
    spec = _mapping(raw, where, what)
    _only(spec, _HEALTHCHECK_KEYS, where, what)
    test = spec.get("test")
    if not isinstance(test, str) and not (
        isinstance(test, list) and test and all(isinstance(part, str) for part in test)
    ):
        raise TopologyError(
            f'{what}.test in {where} must be a command, e.g. ["CMD", "/app", "-healthcheck"]'
        )
    for key in ("interval", "timeout", "start_period"):
        if key in spec and not _DURATION.match(str(spec[key])):
            raise TopologyError(
                f"{what}.{key} in {where}: {spec[key]!r} must be a duration like 500ms, 5s or 1m"
            )
    retries = spec.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise TopologyError(f"{what}.retries in {where} must be a whole number, got {retries!r}")
    return spec


def _list(raw: object, where: str, what: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise TopologyError(f"{what} in {where} must be a list, got {type(raw).__name__}")
    return raw


def _flag(raw: object, where: str, what: str) -> bool:
    if not isinstance(raw, bool):
        raise TopologyError(f"{what} in {where} must be true or false, got {raw!r}")
    return raw


def _mapping(raw: object, where: str, what: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise TopologyError(f"{what} in {where} must be a mapping, got {type(raw).__name__}")
    return raw


def _only(
    spec: Mapping[str, Any],
    allowed: set[str],
    where: str,
    what: str,
    *,
    allow_extensions: bool = False,
) -> None:
    for key in spec:
        if allow_extensions and str(key).startswith("x-") and key != "x-chaos":
            continue
        if key not in allowed:
            raise TopologyError(
                f"{what} in {where} uses the key {key!r}, which chaos-harness does not support; "
                f"remove it or use one of: {', '.join(sorted(allowed))}"
            )
