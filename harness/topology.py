"""Reads a compose file and its ``x-chaos`` block into a :class:`Topology` value.

The compose part (services, volumes, networks, variables) is read by :mod:`harness.compose`,
which says which keys are honoured, ignored or refused and why; this module adds what the
``x-chaos`` block says about each service and about the system as a whole.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any

from harness.compose import (
    BindMount,
    Build,
    ComposeProject,
    ComposeService,
    Healthcheck,
    TmpfsMount,
    VolumeMount,
    Warned,
    read_compose,
)
from harness.errors import TopologyError

__all__ = [
    "BindMount",
    "Build",
    "Healthcheck",
    "Link",
    "LocalSpec",
    "SeededBugs",
    "Service",
    "TmpfsMount",
    "Topology",
    "ToxiproxySpec",
    "VolumeMount",
    "load_topology",
]

_CHAOS_KEYS = {"prebuild", "toxiproxy", "proxy", "links", "services", "bugs", "race"}
_CHAOS_SERVICE_KEYS = {"port", "health", "metrics", "pprof", "writable", "local"}
_LINK_NAME = re.compile(r"^[A-Za-z0-9_.-]+->[A-Za-z0-9_.-]+$")


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


@dataclass(frozen=True, kw_only=True)
class Service(ComposeService):
    """A compose service (:class:`harness.compose.ComposeService`) plus its ``x-chaos`` entry."""

    port: int | None = None
    health: str | None = None
    metrics: str | None = None
    pprof: str | None = None
    # The port a signal is served on when it is not `port`: many services keep metrics and
    # pprof on an admin port of their own (Caddy's admin API on 2019, say).
    metrics_port: int | None = None
    pprof_port: int | None = None
    writable: bool = False
    local: LocalSpec | None = None

    @property
    def known_ports(self) -> tuple[int, ...]:
        """Every container TCP port: `ports`, `expose`, the x-chaos port and the signals'
        ports; all published."""
        ports = {*self.ports, *self.expose}
        for port in (self.port, self.metrics_port, self.pprof_port):
            if port is not None:
                ports.add(port)
        return tuple(sorted(ports))

    @property
    def http_port(self) -> int:
        """The container port the harness talks HTTP to (probes, readiness, load)."""
        if self.port is not None:
            return self.port
        if self.ports or self.expose:
            return (self.ports or self.expose)[0]
        raise TopologyError(
            f'service {self.name!r} publishes no port; add `ports: ["8080"]` (or `expose:`) '
            "to it in the compose file, or `x-chaos: services: {name: {port: 8080}}`"
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
    name: str | None = None  # the compose file's top-level `name:`

    @property
    def project(self) -> str:
        """The project's name, as compose derives it: `name:`, else the file's folder."""
        raw = self.name or self.path.parent.name
        return re.sub(r"[^a-z0-9_-]", "", raw.lower()) or "project"

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


def load_topology(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    warned: Warned | None = None,
) -> Topology:
    """Parse and validate a compose file; raise :class:`TopologyError` naming what to fix.

    ``environ`` stands in for the shell environment that ``${VAR}`` in the file reads
    (default: this process's); a ``.env`` file beside the compose file comes after it.
    ``warned``: the warnings already given, so that a file read again warns once (the
    plugin passes its session's set; without one, every read warns).
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise TopologyError(
            f"compose file {path} does not exist; pass an existing file with "
            "--chaos-compose=FILE (or the chaos_compose ini key)"
        )
    return _parse(read_compose(path, environ, warned=warned))


def _parse(project: ComposeProject) -> Topology:
    path = project.path
    where = str(path)
    volumes = project.volumes
    chaos = _mapping(project.chaos or {}, where, "x-chaos")
    _only(chaos, _CHAOS_KEYS, where, "x-chaos")
    chaos_services = _mapping(chaos.get("services") or {}, where, "x-chaos.services")
    for name in chaos_services:
        if name not in project.services and name not in project.left_out:
            raise TopologyError(
                f"x-chaos.services names {name!r} in {where}, which is not a service; "
                f"the services are: {', '.join(sorted(project.services))}"
            )

    services = {
        name: _service(
            path,
            spec,
            _mapping(chaos_services.get(name) or {}, where, f"x-chaos.services.{name}"),
        )
        for name, spec in project.services.items()
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
        name=project.name,
        prebuild=prebuild,
        prebuild_inputs=prebuild_inputs,
        prebuild_outputs=prebuild_outputs,
        volumes=volumes,
        bugs=_bugs(chaos.get("bugs"), where),
        race_build_args=_race(chaos.get("race"), where),
    )
    topology.start_levels()  # reject dependency cycles now, not at start-up
    return topology


def _service(path: Path, spec: ComposeService, chaos: Mapping[str, Any]) -> Service:
    where, name = str(path), spec.name
    _only(chaos, _CHAOS_SERVICE_KEYS, where, f"x-chaos.services.{name}")
    writable = _flag(chaos.get("writable", False), where, f"x-chaos.services.{name}.writable")
    if writable and spec.read_only:
        raise TopologyError(
            f"service {name!r} in {where} has `read_only: true` and x-chaos `writable: true`; "
            "keep one: the root file system is read-only unless `writable` says otherwise"
        )
    metrics, metrics_port = _signal(chaos.get("metrics"), where, name, "metrics")
    pprof, pprof_port = _signal(chaos.get("pprof"), where, name, "pprof")
    service = Service(
        **{f.name: getattr(spec, f.name) for f in fields(spec)},
        port=_port(chaos["port"], where, f"x-chaos.services.{name}.port")
        if "port" in chaos
        else None,
        health=_http_path(chaos.get("health"), where, name, "health"),
        metrics=metrics,
        pprof=pprof,
        metrics_port=metrics_port,
        pprof_port=pprof_port,
        writable=writable,
        local=_local(chaos.get("local"), where, name),
    )
    # Readiness, probes and load all need an HTTP port; a signal's port is not one.
    if not (service.ports or service.expose or service.port is not None):
        raise TopologyError(
            f'service {name!r} in {where} has no port; add `ports: ["8080"]` or '
            f'`expose: ["8080"]` to it, or `x-chaos: services: {{{name}: {{port: 8080}}}}`'
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
    for key, globs in (("inputs", inputs or []), ("outputs", outputs)):
        for glob in globs:
            _relative_glob(glob, where, f"x-chaos.prebuild.{key}")
    return tuple(command), tuple(inputs) if inputs is not None else None, tuple(outputs)


def _relative_glob(glob: str, where: str, what: str) -> None:
    # Path.glob refuses absolute patterns (NotImplementedError), and `..` would reach
    # files outside the project that the skip check has no business hashing.
    pattern = PurePosixPath(glob)
    if not glob or pattern.is_absolute() or glob.startswith("~") or ".." in pattern.parts:
        raise TopologyError(
            f"{what} in {where}: {glob!r} must be a glob relative to the compose file's "
            f'folder ({Path(where).parent}), without `..`, e.g. "src/**/*.go"'
        )


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


def _command(raw: object, where: str, name: str, what: str = "") -> tuple[str, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return tuple(shlex.split(raw))
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


def _signal(raw: object, where: str, name: str, key: str) -> tuple[str | None, int | None]:
    """A signal's path, and its port when it is not the service's: `/p` or `{port, path}`."""
    what = f"x-chaos.services.{name}.{key}"
    example = f"/{key}" if key == "metrics" else "/debug/pprof"
    form = f"an HTTP path such as {example}, or {{port: 2019, path: {example}}} on another port"
    if raw is None or (isinstance(raw, str) and raw.startswith("/")):
        return raw, None
    if not isinstance(raw, Mapping):
        raise TopologyError(f"{what} in {where} must be {form}; got {raw!r}")
    _only(raw, {"port", "path"}, where, what)
    if "port" not in raw:
        raise TopologyError(f"{what} in {where} names no `port:`; it must be {form}")
    path = raw.get("path")
    if path is not None and not (isinstance(path, str) and path.startswith("/")):
        raise TopologyError(f"{what}.path in {where} must be an HTTP path such as {example}")
    return path, _port(raw["port"], where, f"{what}.port")


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
    spec = _mapping(raw, where, f"x-chaos.links.{name}")
    # Through the file's own Toxiproxy the name is a label and `upstream` says where to.
    own_proxy = "listen" in spec or "upstream" in spec
    for end in (source,) if own_proxy else (source, target):
        if end not in services:
            raise TopologyError(
                f"link {name!r} in {where} names {end!r}, which is not a service; "
                f"the services are: {', '.join(sorted(services))}"
            )
    if own_proxy:
        return _own_proxy_link(name, spec, where, services)
    if source == target:
        raise TopologyError(f"link {name!r} in {where} goes from a service to itself")
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
