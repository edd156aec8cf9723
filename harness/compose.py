"""Reads the compose-spec part of a compose file (everything but ``x-chaos``) as ``docker
compose`` does, into :class:`ComposeProject` and :class:`ComposeService` values.

What it does the way compose does: YAML 1.2 scalars, ``${VAR}`` interpolation from the
shell environment then a ``.env`` file beside the compose file (:mod:`harness.variables`),
``env_file``, profiles (``COMPOSE_PROFILES``), and the short and long forms of ports,
volumes, networks, healthchecks and dependencies.

Every compose key falls in one of four groups:

- honoured: carried in :class:`ComposeService` and applied by the backends;
- ignored with a note (``restart``, UDP ports, extra networks): the harness does it its own
  way, and says how;
- ignored with a warning (``logging``, ``deploy``, ``secrets``...): they do not change what a
  chaos run observes, or the harness cannot apply them;
- refused (``network_mode``, ``privileged``, read-write bind mounts...): they would let a
  service change what the harness controls, or write outside what a run can remove.

Notes and warnings of one file are gathered into a single
:class:`~harness.errors.TopologyWarning`; refusals are :class:`~harness.errors.TopologyError`
naming the key, the file and what to do. :mod:`harness.topology` adds the ``x-chaos`` block.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import TopologyError, TopologyWarning
from harness.variables import Interpolator, parse_env_file

__all__ = [
    "BindMount",
    "Build",
    "ComposeProject",
    "ComposeService",
    "Healthcheck",
    "TmpfsMount",
    "VolumeMount",
    "parse_duration",
    "read_compose",
    "warn_once",
]


# -- values -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    context: Path
    dockerfile: str = "Dockerfile"
    args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None


@dataclass(frozen=True)
class VolumeMount:
    """A named volume (declared under the top-level ``volumes:``) mounted at ``target``."""

    volume: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class BindMount:
    """A host file or folder mounted read-only (the only kind of bind mount accepted)."""

    source: Path
    target: str


@dataclass(frozen=True)
class TmpfsMount:
    target: str
    options: str = ""  # as docker run --tmpfs takes them: "size=64m,mode=1777"


@dataclass(frozen=True)
class Healthcheck:
    """A compose healthcheck; durations in seconds, None where the file leaves Docker's default."""

    test: tuple[str, ...]  # ("CMD", ...), ("CMD-SHELL", "..."), ("NONE",), or () for the image's
    interval_s: float | None = None
    timeout_s: float | None = None
    start_period_s: float | None = None
    start_interval_s: float | None = None
    retries: int | None = None

    @property
    def disabled(self) -> bool:
        return self.test == ("NONE",)


@dataclass(frozen=True, kw_only=True)
class ComposeService:
    """One service as compose describes it (profiles, interpolation and env files applied)."""

    name: str
    build: Build | None
    image: str | None
    environment: Mapping[str, str]
    ports: tuple[int, ...]  # container TCP ports of `ports:` (the harness picks host ports)
    expose: tuple[int, ...] = ()
    depends_on: tuple[str, ...] = ()
    volumes: tuple[VolumeMount, ...] = ()
    anonymous_volumes: tuple[str, ...] = ()  # targets; the harness makes a labelled volume each
    binds: tuple[BindMount, ...] = ()
    tmpfs: tuple[TmpfsMount, ...] = ()
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None  # () resets the image's entrypoint
    healthcheck: Healthcheck | None = None
    aliases: tuple[str, ...] = ()  # extra names on the session network
    user: str | None = None
    working_dir: str | None = None
    hostname: str | None = None
    stop_signal: str | None = None
    stop_grace_period_s: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    read_only: bool = False
    init: bool = False
    cap_add: tuple[str, ...] = ()
    extra_hosts: tuple[tuple[str, str], ...] = ()  # (host name, address)


@dataclass(frozen=True)
class ComposeProject:
    path: Path
    services: Mapping[str, ComposeService]  # the active ones, in file order
    left_out: tuple[str, ...]  # services whose profiles COMPOSE_PROFILES does not name
    volumes: tuple[str, ...]  # named volumes of the top-level `volumes:`
    chaos: object  # the x-chaos block as written: harness.topology reads it
    name: str | None = None  # the top-level `name:`, interpolated


# -- what each key is to the harness ------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_TOP_LEVEL_KEYS = {"services", "volumes", "networks", "name", "version", "x-chaos"}
_TOP_LEVEL_IGNORED = {"secrets", "configs", "models"}

# restart is read and ignored with a note; cap_drop is moot (the harness drops every
# capability); privileged and ipc are refused only when they are true and host.
_SERVICE_HONOURED = _words(
    """
    build image environment env_file ports expose healthcheck depends_on volumes command
    entrypoint networks profiles restart user working_dir hostname stop_signal
    stop_grace_period labels read_only init cap_add cap_drop extra_hosts tmpfs privileged ipc
    """
)

# Keys that would let a service change what the harness controls: refused, with why.
_SERVICE_REFUSED = {
    "network_mode": "it takes the service off the harness's session network, where the "
    "harness puts its proxies and partitions; remove it (every service joins the session "
    "network, with its `networks:` aliases)",
    "container_name": "the harness names containers per session so that runs side by side "
    "and its cleanup never collide with anything else; remove it (other services reach this "
    "one by its service name or its network aliases)",
    "pid": "sharing a process namespace lets a service see and signal processes the harness "
    "kills, pauses and restarts; remove it",
    "userns_mode": "it changes the user namespace the harness's hardening relies on; remove it",
    "devices": "host devices are outside what the harness can isolate and clean up; remove it",
    "extends": "chaos-harness reads one file; inline the extended service's keys here",
}

# Known compose keys that do not matter to a chaos run, or that the harness cannot apply:
# warned about once per file, never refused (a real project's file should run unchanged).
_SERVICE_IGNORED = _words(
    """
    annotations attach blkio_config cgroup cgroup_parent configs cpu_count cpu_percent
    cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpu_shares cpus cpuset
    credential_spec deploy develop device_cgroup_rules dns dns_opt dns_search domainname
    external_links gpus group_add isolation label_file links logging mac_address mem_limit
    mem_reservation mem_swappiness memswap_limit models oom_kill_disable oom_score_adj
    pids_limit platform post_start pre_stop provider pull_policy runtime scale secrets
    security_opt shm_size stdin_open storage_opt sysctls tty ulimits use_api_socket uts
    volumes_from
    """
)

_BUILD_HONOURED = {"context", "dockerfile", "args", "target"}
_BUILD_IGNORED = _words(
    """
    cache_from cache_to extra_hosts isolation labels network no_cache platforms pull
    shm_size tags ulimits
    """
)
_BUILD_REFUSED = {
    "dockerfile_inline": "write the Dockerfile to a file and name it in `dockerfile:`",
    "additional_contexts": "the harness builds from one context; copy what it needs into it",
    "ssh": "the harness's builder forwards no SSH agent; build without it",
    "secrets": "the harness's builder passes no build secrets; build without them",
    "privileged": "a privileged build can change the host; build without it",
}

# Capabilities that let a service change what the harness controls (its network, mounts...).
_CAPS_REFUSED = {
    "ALL": "it gives back every capability the harness drops",
    "SYS_ADMIN": "it lets the service mount file systems and change namespaces",
    "NET_ADMIN": "it lets the service change its own addresses, routes and firewall, which "
    "is where the harness injects network faults",
}

_HEALTHCHECK_KEYS = _words("test interval timeout start_period start_interval retries disable")
_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
_LOOPBACK = {"", "127.0.0.1", "localhost", "::1"}  # the harness publishes on 127.0.0.1
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

_RESTART_NOTE = (
    "the harness decides when a service comes back: a killed service stays down until its "
    "fault heals"
)


# -- YAML as compose reads it ---------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML 1.2 scalars, as compose's Go parser reads them: ``yes``/``on`` stay strings and
    ``8080:80`` never becomes a base-60 number (PyYAML's YAML 1.1 default)."""


_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _INT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    if len(text.lstrip("+-")) > 1 and text.lstrip("+-").startswith("0"):
        return int(text, 8)  # Go reads a leading zero as octal (tmpfs modes like 01777)
    return int(text)


_Loader.add_constructor(_INT, _construct_int)


# -- notes and the one warning per file ---------------------------------------------------

_warned: set[tuple[str, str]] = set()


def warn_once(path: Path, text: str) -> None:
    """One :class:`TopologyWarning` per file and text per process.

    The plugin reads the compose file more than once per run (configuration, then the
    fixture); the user needs to read each warning once.
    """
    key = (str(path), text)
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(TopologyWarning(text), stacklevel=3)


class _Notes:
    """What a compose file asks for that the harness will not do, gathered for one warning."""

    def __init__(self) -> None:
        self.ignored: dict[str, list[str]] = {}  # key -> services using it ("" = top level)
        self.notes: dict[str, list[str]] = {}  # note -> the services it is about

    def ignore(self, key: str, service: str = "") -> None:
        places = self.ignored.setdefault(key, [])
        if service not in places:
            places.append(service)

    def note(self, text: str, where: str = "") -> None:
        places = self.notes.setdefault(text, [])
        if where and where not in places:
            places.append(where)

    def text(self, path: Path) -> str:
        lines = [f"chaos-harness runs {path} with parts of it left out or changed:"]
        for note, places in self.notes.items():
            lines.append(f"  - {note}" + (f" ({_places(places)})" if places else ""))
        if self.ignored:
            keys = "; ".join(
                f"{key} ({_places(services)})" for key, services in self.ignored.items()
            )
            lines.append(
                "  - not applied, as they do not change what a chaos run observes or the "
                f"harness cannot apply them: {keys}"
            )
        return "\n".join(lines)


def _places(services: list[str]) -> str:
    named = [s for s in services if s]
    parts = [f"service{'s' if len(named) > 1 else ''} {', '.join(named)}"] if named else []
    return ", ".join(parts + (["top level"] if "" in services else []))


# -- reading a file ---------------------------------------------------------------------------


def read_compose(path: Path, environ: Mapping[str, str] | None = None) -> ComposeProject:
    """Read ``path`` (an existing file) as compose would; warn once about what is ignored.

    ``environ`` stands in for the shell environment (default: this process's).
    """
    where = str(path)
    try:
        raw = yaml.load(path.read_text(), Loader=_Loader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise TopologyError(f"{path} is not valid YAML: {exc}") from None
    doc = _mapping(raw, where, "the file")
    shell = dict(os.environ if environ is None else environ)
    env = _project_environment(path, shell)
    notes = _Notes()
    unset: dict[str, list[str]] = {}
    interpolate = Interpolator(env, path, unset)
    chaos = doc.get("x-chaos")
    doc = {
        key: value if key == "x-chaos" else interpolate.tree(value, str(key))
        for key, value in doc.items()
    }

    for key in doc:
        key = str(key)
        if key in _TOP_LEVEL_KEYS or key.startswith("x-"):
            continue
        if key == "include":
            raise TopologyError(
                f"the top level of {where} uses `include`, which chaos-harness does not "
                "follow: it reads one file; inline the included services here"
            )
        if key in _TOP_LEVEL_IGNORED:
            notes.ignore(key)
            continue
        raise TopologyError(_unknown_key(key, where, "top level", _TOP_LEVEL_KEYS))

    services_raw = _mapping(doc.get("services"), where, "services")
    if not services_raw:
        raise TopologyError(f"{where} defines no services; add at least one under `services:`")
    volumes = _top_level_volumes(doc.get("volumes"), where, notes)
    networks = _top_level_networks(doc.get("networks"), where, notes)

    profiles = {p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()}
    active: dict[str, Mapping[str, Any]] = {}
    left_out: list[str] = []
    for name, spec in services_raw.items():
        spec = _mapping(spec, where, f"services.{name}")
        wanted = [str(p) for p in _list(spec.get("profiles"), where, f"services.{name}.profiles")]
        if wanted and "*" not in profiles and not profiles.intersection(wanted):
            left_out.append(str(name))
        else:
            active[str(name)] = spec
    if not active:
        raise TopologyError(
            f"every service of {where} has profiles and COMPOSE_PROFILES names none of them "
            f"(it is {env.get('COMPOSE_PROFILES', 'unset')!r}); set COMPOSE_PROFILES"
        )

    reader = _ServiceReader(path, env, notes, volumes, networks, set(active), set(left_out))
    services = {name: reader.service(name, spec) for name, spec in active.items()}
    if unset:
        names = "; ".join(f"{var} ({', '.join(places)})" for var, places in unset.items())
        notes.note(f"variables not set, replaced by empty strings as compose does: {names}")
    if notes.notes or notes.ignored:
        warn_once(path, notes.text(path))
    return ComposeProject(
        path=path,
        services=services,
        left_out=tuple(left_out),
        volumes=volumes,
        chaos=chaos,
        name=str(doc["name"]) if doc.get("name") else None,
    )


def _project_environment(path: Path, shell: Mapping[str, str]) -> dict[str, str]:
    """The variables interpolation sees: the shell's, then a ``.env`` beside the file."""
    dotenv = path.parent / ".env"
    if not dotenv.is_file():
        return dict(shell)
    values = parse_env_file(dotenv, shell)
    return {**{k: v for k, v in values.items() if v is not None}, **shell}


def _top_level_volumes(raw: object, where: str, notes: _Notes) -> tuple[str, ...]:
    volumes = _mapping(raw, where, "volumes")
    for name, spec in volumes.items():
        for key in _mapping(spec, where, f"volumes.{name}"):
            if not str(key).startswith("x-"):
                # Each run gets fresh, empty volumes it can remove: no driver, no external.
                notes.ignore(f"volumes.{name}.{key}")
    return tuple(str(v) for v in volumes)


def _top_level_networks(raw: object, where: str, notes: _Notes) -> set[str]:
    networks = _mapping(raw, where, "networks")
    for name, spec in networks.items():
        for key in _mapping(spec, where, f"networks.{name}"):
            if not str(key).startswith("x-"):
                notes.ignore(f"networks.{name}.{key}")
    if len(networks) > 1:
        notes.note(
            f"networks {', '.join(str(n) for n in networks)} are merged into the harness's "
            "one session network, so isolation between them is not reproduced"
        )
    return {str(n) for n in networks} | {"default"}


# -- one service ------------------------------------------------------------------------------


class _ServiceReader:
    def __init__(
        self,
        path: Path,
        env: Mapping[str, str],
        notes: _Notes,
        volumes: tuple[str, ...],
        networks: set[str],
        active: set[str],
        left_out: set[str],
    ) -> None:
        self.path = path
        self.where = str(path)
        self.env = env
        self.notes = notes
        self.volumes = volumes
        self.networks = networks
        self.active = active
        self.left_out = left_out

    def error(self, what: str, message: str) -> TopologyError:
        return TopologyError(f"{what} in {self.where}: {message}")

    def service(self, name: str, spec: Mapping[str, Any]) -> ComposeService:
        prefix = f"services.{name}"
        for key in spec:
            self._check_key(name, str(key), spec[key])
        build = self._build(name, spec.get("build"))
        image = spec.get("image")
        if build is None and not image:
            raise TopologyError(f"service {name!r} in {self.where} needs `build:` or `image:`")
        if "restart" in spec:
            self.notes.note(f"restart is ignored: {_RESTART_NOTE}", name)
        for key in ("user", "working_dir", "hostname", "stop_signal"):
            if key in spec and not isinstance(spec[key], str | int):
                raise self.error(f"{prefix}.{key}", f"{spec[key]!r} must be a string")
        named, anonymous, binds, tmpfs = self._volumes(name, spec.get("volumes"))
        return ComposeService(
            name=name,
            build=build,
            image=str(image) if image else None,
            environment=self._environment(name, spec.get("env_file"), spec.get("environment")),
            ports=self._ports(name, spec.get("ports")),
            expose=self._expose(name, spec.get("expose")),
            depends_on=self._depends_on(name, spec.get("depends_on")),
            volumes=named,
            anonymous_volumes=anonymous,
            binds=binds,
            tmpfs=tmpfs + self._tmpfs(name, spec.get("tmpfs")),
            command=_command(spec.get("command"), self.where, f"{prefix}.command"),
            entrypoint=_command(spec.get("entrypoint"), self.where, f"{prefix}.entrypoint"),
            healthcheck=self._healthcheck(name, spec.get("healthcheck")),
            aliases=self._aliases(name, spec.get("networks")),
            user=_optional_str(spec.get("user")),
            working_dir=_optional_str(spec.get("working_dir")),
            hostname=_optional_str(spec.get("hostname")),
            stop_signal=_optional_str(spec.get("stop_signal")),
            stop_grace_period_s=self._duration(
                spec.get("stop_grace_period"), f"{prefix}.stop_grace_period"
            ),
            labels=self._labels(name, spec.get("labels")),
            read_only=_flag(spec.get("read_only", False), self.where, f"{prefix}.read_only"),
            init=_flag(spec.get("init", False), self.where, f"{prefix}.init"),
            cap_add=self._cap_add(name, spec.get("cap_add"), spec.get("cap_drop")),
            extra_hosts=self._extra_hosts(name, spec.get("extra_hosts")),
        )

    def _check_key(self, name: str, key: str, value: object) -> None:
        what = f"services.{name}"
        if key.startswith("x-"):
            return
        if key in _SERVICE_REFUSED:
            raise self.error(what, f"`{key}` is refused: {_SERVICE_REFUSED[key]}")
        if key == "privileged" and value is not False:
            raise self.error(
                what,
                "`privileged: true` is refused: a privileged container can change the host "
                "and undo the harness's isolation; remove it (add the capabilities it needs "
                "with `cap_add:` instead)",
            )
        if key == "ipc" and value == "host":
            raise self.error(
                what,
                "`ipc: host` is refused: it shares the host's IPC namespace, outside what a "
                "run can isolate; remove it",
            )
        if key == "ipc" or key in _SERVICE_IGNORED:
            self.notes.ignore(key, name)
        elif key not in _SERVICE_HONOURED:
            known = _SERVICE_HONOURED | _SERVICE_IGNORED | _SERVICE_REFUSED.keys()
            raise TopologyError(_unknown_key(key, self.where, what, known))

    # -- build ---------------------------------------------------------------------------

    def _build(self, name: str, raw: object) -> Build | None:
        what = f"services.{name}.build"
        if raw is None:
            return None
        if isinstance(raw, str):
            return Build(context=(self.path.parent / raw).resolve())
        spec = _mapping(raw, self.where, what)
        for key in spec:
            key = str(key)
            if key in _BUILD_REFUSED:
                raise self.error(what, f"`{key}` is not supported: {_BUILD_REFUSED[key]}")
            if key in _BUILD_IGNORED:
                self.notes.ignore(f"build.{key}", name)
            elif key not in _BUILD_HONOURED and not key.startswith("x-"):
                known = _BUILD_HONOURED | _BUILD_IGNORED | _BUILD_REFUSED.keys()
                raise TopologyError(_unknown_key(key, self.where, what, known))
        args = self._key_values(spec.get("args"), f"{what}.args", pass_through=True)
        target = spec.get("target")
        return Build(
            context=(self.path.parent / str(spec.get("context", "."))).resolve(),
            dockerfile=str(spec.get("dockerfile", "Dockerfile")),
            args=args,
            target=str(target) if target is not None else None,
        )

    # -- environment -------------------------------------------------------------------

    def _environment(self, name: str, env_file: object, raw: object) -> dict[str, str]:
        """env_file entries in order, then `environment`, which wins over them."""
        what = f"services.{name}.env_file"
        result: dict[str, str] = {}
        entries = (
            [env_file] if isinstance(env_file, str | Mapping) else _list(env_file, self.where, what)
        )
        for entry in entries:
            if isinstance(entry, str):
                file, required = entry, True
            else:
                spec = _mapping(entry, self.where, what)
                unknown = set(spec) - {"path", "required"}
                if unknown or not isinstance(spec.get("path"), str):
                    raise self.error(
                        what,
                        f"{dict(spec)!r} must be a path, or {{path: FILE, required: true|false}}",
                    )
                file = spec["path"]
                required = _flag(spec.get("required", True), self.where, f"{what}.required")
            full = (self.path.parent / os.path.expanduser(file)).resolve()
            if not full.is_file():
                if required:
                    raise self.error(
                        what,
                        f"the env file {file} ({full}) does not exist; create it, fix the "
                        "path, or mark it {path: ..., required: false}",
                    )
                continue
            try:
                values = parse_env_file(full, self.env)
            except TopologyError as exc:
                raise self.error(what, str(exc)) from None
            for key, value in values.items():
                value = value if value is not None else self.env.get(key)
                if value is not None:
                    result[key] = value
        declared = self._key_values(raw, f"services.{name}.environment", pass_through=True)
        return {**result, **declared}

    def _key_values(self, raw: object, what: str, *, pass_through: bool) -> dict[str, str]:
        """A mapping or a KEY=VALUE list; a key without a value takes the shell's, if set."""
        if raw is None:
            return {}
        items: list[tuple[str, object]] = []
        if isinstance(raw, list):
            for item in raw:
                if not isinstance(item, str):
                    raise self.error(what, f"{item!r} must be a string KEY=VALUE")
                name, sep, text = item.partition("=")
                items.append((name, text if sep else None))
        else:
            items = [(str(k), v) for k, v in _mapping(raw, self.where, what).items()]
        result: dict[str, str] = {}
        for key, value in items:
            if not key or any(c.isspace() for c in key):
                raise self.error(what, f"{key!r} is not a variable name")
            if value is None:
                found = self.env.get(key) if pass_through else None
                if found is not None:
                    result[key] = found
                continue
            result[key] = _scalar_text(value)
        return result

    def _labels(self, name: str, raw: object) -> dict[str, str]:
        return self._key_values(raw, f"services.{name}.labels", pass_through=False)

    # -- ports ---------------------------------------------------------------------------

    def _ports(self, name: str, raw: object) -> tuple[int, ...]:
        what = f"services.{name}.ports"
        ports: list[int] = []
        for item in _list(raw, self.where, what):
            if isinstance(item, Mapping):
                ports += self._long_port(name, item)
                continue
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise self.error(what, f"{item!r} is not a port mapping")
            text = str(item)
            spec, _, protocol = text.partition("/")
            if not self._tcp(name, protocol or "tcp", text, what):
                continue
            host_ip, published, target = _split_port(spec)
            if host_ip is None:
                raise self.error(
                    what, f"{text!r}: write an IPv6 host address in brackets, e.g. [::1]:80:80"
                )
            self._loopback(what, text, host_ip)
            if published:
                _port_range(published, self, what, text)  # checked; the harness picks its own
            ports += _port_range(target, self, what, text)
        return tuple(dict.fromkeys(ports))

    def _long_port(self, name: str, spec: Mapping[str, Any]) -> list[int]:
        what = f"services.{name}.ports"
        allowed = {"target", "published", "host_ip", "protocol", "mode", "name", "app_protocol"}
        for key in spec:
            if key not in allowed:
                raise TopologyError(_unknown_key(str(key), self.where, what, allowed))
        shown = dict(spec)
        if not self._tcp(name, str(spec.get("protocol") or "tcp"), str(shown), what):
            return []
        self._loopback(what, str(shown), str(spec.get("host_ip") or ""))
        if spec.get("published") is not None:
            _port_range(str(spec["published"]), self, what, str(shown))
        if "target" not in spec:
            raise self.error(what, f"{shown!r} needs `target:`, the container port")
        return _port_range(str(spec["target"]), self, what, str(shown))

    def _tcp(self, name: str, protocol: str, text: str, what: str) -> bool:
        protocol = protocol.lower()
        if protocol == "tcp":
            return True
        if protocol in ("udp", "sctp"):
            self.notes.note(
                f"the {protocol.upper()} port {text} of service {name} is not published: the "
                "harness publishes and proxies TCP only"
            )
            return False
        raise self.error(what, f"{text!r}: protocol {protocol!r} is not tcp or udp")

    def _loopback(self, what: str, text: str, host_ip: str) -> None:
        if host_ip.strip("[]") not in _LOOPBACK:
            raise self.error(
                what,
                f"{text!r} publishes on {host_ip}; chaos-harness publishes every port on "
                "127.0.0.1 only, at ports it picks, so that nothing beyond this machine "
                "reaches the system under test; remove the address (or write 127.0.0.1)",
            )

    def _expose(self, name: str, raw: object) -> tuple[int, ...]:
        what = f"services.{name}.expose"
        ports: list[int] = []
        for item in _list(raw, self.where, what):
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise self.error(what, f"{item!r} is not a port")
            spec, _, protocol = str(item).partition("/")
            if self._tcp(name, protocol or "tcp", str(item), what):
                ports += _port_range(spec, self, what, str(item))
        return tuple(dict.fromkeys(ports))

    # -- dependencies --------------------------------------------------------------------

    def _depends_on(self, name: str, raw: object) -> tuple[str, ...]:
        what = f"services.{name}.depends_on"
        if raw is None:
            return ()
        required: dict[str, bool] = {}
        if isinstance(raw, list):
            required = {str(d): True for d in raw}
        else:
            for dep, spec in _mapping(raw, self.where, what).items():
                spec = _mapping(spec, self.where, f"{what}.{dep}")
                allowed = {"condition", "restart", "required"}
                for key in spec:
                    if key not in allowed:
                        raise TopologyError(
                            _unknown_key(str(key), self.where, f"{what}.{dep}", allowed)
                        )
                condition = spec.get("condition", "service_started")
                if condition not in _CONDITIONS:
                    raise self.error(
                        f"{what}.{dep}.condition",
                        f"{condition!r} is not one of {', '.join(sorted(_CONDITIONS))}",
                    )
                # Every condition means "ready" here: the harness starts services level by
                # level and waits for each to be ready before the next level.
                required[str(dep)] = _flag(
                    spec.get("required", True), self.where, f"{what}.{dep}.required"
                )
        deps: list[str] = []
        for dep, needed in required.items():
            if dep in self.left_out and needed:
                raise TopologyError(
                    f"service {name!r} in {self.where} depends on {dep!r}, which its profiles "
                    f"leave out; add one of {dep!r}'s profiles to COMPOSE_PROFILES, or mark "
                    "the dependency `required: false`"
                )
            if dep in self.active or needed:
                deps.append(dep)  # an unknown one is refused by harness.topology
        return tuple(deps)

    # -- volumes -------------------------------------------------------------------------

    def _volumes(
        self, name: str, raw: object
    ) -> tuple[
        tuple[VolumeMount, ...], tuple[str, ...], tuple[BindMount, ...], tuple[TmpfsMount, ...]
    ]:
        what = f"services.{name}.volumes"
        named: list[VolumeMount] = []
        anonymous: list[str] = []
        binds: list[BindMount] = []
        tmpfs: list[TmpfsMount] = []
        for item in _list(raw, self.where, what):
            if isinstance(item, Mapping):
                kind, source, target, read_only, options = self._long_volume(what, item)
                text = repr(dict(item))
            elif isinstance(item, str):
                text = repr(item)
                kind, source, target, read_only = self._short_volume(what, item)
                options = ""
            else:
                raise self.error(what, f"{item!r} must be a string or a mapping")
            if not target.startswith("/"):
                raise self.error(what, f"{text}: the target {target!r} must be an absolute path")
            if kind == "tmpfs":
                tmpfs.append(TmpfsMount(target=target, options=options))
            elif kind == "volume" and not source:
                anonymous.append(target)
            elif kind == "volume":
                if source not in self.volumes:
                    raise self.error(
                        what,
                        f"{text} names the volume {source!r}, which is not declared under the "
                        "top-level `volumes:`; declare it there (bind mounts start with ./ or /)",
                    )
                named.append(VolumeMount(volume=source, target=target, read_only=read_only))
            else:
                binds.append(self._bind(what, text, source, target, read_only))
        return tuple(named), tuple(anonymous), tuple(binds), tuple(tmpfs)

    def _short_volume(self, what: str, text: str) -> tuple[str, str, str, bool]:
        parts = text.split(":")
        if len(parts) == 1:
            return "volume", "", parts[0], False
        if len(parts) > 3:
            raise self.error(what, f"{text!r} must be [SOURCE:]TARGET[:MODE]")
        source, target = parts[0], parts[1]
        modes = set(parts[2].split(",")) if len(parts) == 3 else set()
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        return kind, source, target, "ro" in modes

    def _long_volume(self, what: str, spec: Mapping[str, Any]) -> tuple[str, str, str, bool, str]:
        allowed = {"type", "source", "target", "read_only", "bind", "volume", "tmpfs"}
        allowed |= {"consistency"}
        for key in spec:
            if key not in allowed and not str(key).startswith("x-"):
                raise TopologyError(_unknown_key(str(key), self.where, what, allowed))
        kind = spec.get("type")
        if kind not in ("volume", "bind", "tmpfs"):
            raise self.error(
                what,
                f"{dict(spec)!r}: type {kind!r} is not supported; use volume, bind "
                "(read-only) or tmpfs",
            )
        options = ""
        if kind == "tmpfs":
            tmpfs = _mapping(spec.get("tmpfs"), self.where, f"{what}.tmpfs")
            parts = []
            if "size" in tmpfs:
                parts.append(f"size={tmpfs['size']}")
            if "mode" in tmpfs:
                mode = tmpfs["mode"]
                parts.append(f"mode={format(mode, 'o') if isinstance(mode, int) else mode}")
            options = ",".join(parts)
        read_only = _flag(spec.get("read_only", False), self.where, f"{what}.read_only")
        return kind, str(spec.get("source") or ""), str(spec.get("target", "")), read_only, options

    def _bind(self, what: str, text: str, source: str, target: str, read_only: bool) -> BindMount:
        if not read_only:
            raise self.error(
                what,
                f"{text} is a read-write bind mount; chaos-harness mounts host folders "
                "read-only only, because a run must not write into your folders and the "
                "harness must be able to remove everything a run created. Add :ro (or "
                "`read_only: true`), or keep the data in a named volume",
            )
        if not source:
            raise self.error(what, f"{text} needs `source:`, the host path to mount")
        full = (self.path.parent / os.path.expanduser(source)).resolve()
        if not full.exists():
            raise self.error(
                what,
                f"{text} mounts {full}, which does not exist; create it or fix the path "
                "(relative paths start at the compose file's folder)",
            )
        return BindMount(source=full, target=target)

    def _tmpfs(self, name: str, raw: object) -> tuple[TmpfsMount, ...]:
        what = f"services.{name}.tmpfs"
        items = [raw] if isinstance(raw, str) else _list(raw, self.where, what)
        mounts = []
        for item in items:
            target, _, options = str(item).partition(":")
            if not target.startswith("/"):
                raise self.error(what, f"{item!r}: the target must be an absolute path")
            mounts.append(TmpfsMount(target=target, options=options))
        return tuple(mounts)

    # -- networks ------------------------------------------------------------------------

    def _aliases(self, name: str, raw: object) -> tuple[str, ...]:
        what = f"services.{name}.networks"
        if raw is None:
            return ()
        if isinstance(raw, list):
            entries: dict[str, object] = {str(n): None for n in raw}
        else:
            entries = {str(n): v for n, v in _mapping(raw, self.where, what).items()}
        aliases: list[str] = []
        for network, spec in entries.items():
            if network not in self.networks:
                raise self.error(
                    what,
                    f"the network {network!r} is not declared under the top-level "
                    "`networks:`; declare it there",
                )
            for key, value in _mapping(spec, self.where, f"{what}.{network}").items():
                if key == "aliases":
                    for alias in _list(value, self.where, f"{what}.{network}.aliases"):
                        if not isinstance(alias, str) or not alias:
                            raise self.error(f"{what}.{network}", f"{alias!r} is not an alias")
                        aliases.append(alias)
                elif not str(key).startswith("x-"):
                    self.notes.ignore(f"networks.{network}.{key}", name)
        return tuple(dict.fromkeys(aliases))

    # -- healthcheck ----------------------------------------------------------------------

    def _healthcheck(self, name: str, raw: object) -> Healthcheck | None:
        if raw is None:
            return None
        what = f"services.{name}.healthcheck"
        spec = _mapping(raw, self.where, what)
        for key in spec:
            if key not in _HEALTHCHECK_KEYS and not str(key).startswith("x-"):
                raise TopologyError(_unknown_key(str(key), self.where, what, _HEALTHCHECK_KEYS))
        if _flag(spec.get("disable", False), self.where, f"{what}.disable"):
            return Healthcheck(test=("NONE",))
        test = spec.get("test")
        if isinstance(test, str):
            parts: tuple[str, ...] = ("CMD-SHELL", test)
        elif test is None:
            parts = ()  # only the timings change: the image's HEALTHCHECK command runs
        elif (
            isinstance(test, list)
            and test
            and all(isinstance(p, str) for p in test)
            and test[0] in ("NONE", "CMD", "CMD-SHELL")
        ):
            parts = tuple(test)
        else:
            raise self.error(
                f"{what}.test",
                f'{test!r} must be a command, e.g. ["CMD", "/app", "-healthcheck"], '
                '["CMD-SHELL", "curl -f http://localhost/"] or a string run by the shell',
            )
        retries = spec.get("retries")
        if retries is not None and (
            isinstance(retries, bool) or not isinstance(retries, int) or retries < 0
        ):
            raise self.error(f"{what}.retries", f"must be a whole number, got {retries!r}")
        check = Healthcheck(
            test=parts,
            interval_s=self._duration(spec.get("interval"), f"{what}.interval"),
            timeout_s=self._duration(spec.get("timeout"), f"{what}.timeout"),
            start_period_s=self._duration(spec.get("start_period"), f"{what}.start_period"),
            start_interval_s=self._duration(spec.get("start_interval"), f"{what}.start_interval"),
            retries=retries,
        )
        first = check.start_interval_s or check.interval_s or 30.0
        if not check.disabled and first >= 5:
            self.notes.note(
                f"a healthcheck runs its first check one interval ({first:g} s) after the "
                "start, so the harness waits at least that long at every start and restart; "
                "set healthcheck.start_interval (e.g. 1s) to get going sooner",
                name,
            )
        return check

    def _duration(self, raw: object, what: str) -> float | None:
        if raw is None:
            return None
        seconds = parse_duration(raw)
        if seconds is None:
            raise TopologyError(
                f"{what} in {self.where}: {raw!r} must be a duration like 500ms, 5s, 1m30s"
            )
        return seconds

    # -- security and host settings -----------------------------------------------------

    def _cap_add(self, name: str, raw: object, drop: object) -> tuple[str, ...]:
        what = f"services.{name}.cap_add"
        for cap in _list(drop, self.where, f"services.{name}.cap_drop"):
            if not isinstance(cap, str):
                raise self.error(f"services.{name}.cap_drop", f"{cap!r} is not a capability")
        caps: list[str] = []
        for cap in _list(raw, self.where, what):
            if not isinstance(cap, str) or not cap:
                raise self.error(what, f"{cap!r} is not a capability")
            normal = cap.upper().removeprefix("CAP_")
            if normal in _CAPS_REFUSED:
                raise self.error(
                    what,
                    f"{cap} is refused: {_CAPS_REFUSED[normal]}; chaos-harness drops every "
                    "capability and adds back only harmless ones",
                )
            caps.append(normal)
        return tuple(dict.fromkeys(caps))

    def _extra_hosts(self, name: str, raw: object) -> tuple[tuple[str, str], ...]:
        what = f"services.{name}.extra_hosts"
        pairs: list[tuple[str, str]] = []
        if isinstance(raw, Mapping):
            for host, address in raw.items():
                for one in address if isinstance(address, list) else [address]:
                    pairs.append((str(host), str(one)))
        else:
            for item in _list(raw, self.where, what):
                text = str(item)
                host, sep, address = text.partition("=")
                if not sep:
                    host, sep, address = text.partition(":")
                if not sep or not host or not address:
                    raise self.error(what, f"{item!r} must be HOST:ADDRESS or HOST=ADDRESS")
                pairs.append((host, address))
        return tuple((host, address.strip("[]")) for host, address in pairs)


# -- small parsers --------------------------------------------------------------------------


def parse_duration(raw: object) -> float | None:
    """A Go duration (``1m30s``, ``500ms``, ``0``) in seconds, or None when it is not one."""
    text = str(raw).strip()
    if isinstance(raw, bool) or not text:
        return None
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if not match:
            return None
        total += float(match[1]) * _DURATION_UNITS[match[2]]
        pos = match.end()
    return total


def _split_port(spec: str) -> tuple[str | None, str, str]:
    """[[HOST_IP:]PUBLISHED:]TARGET -> (host ip, published, target); None ip: unreadable."""
    if spec.startswith("["):
        address, sep, rest = spec[1:].partition("]")
        published, _, target = rest.removeprefix(":").rpartition(":")
        return (address, published, target) if sep else (None, "", "")
    parts = spec.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return None, "", ""


def _port_range(text: str, reader: _ServiceReader, what: str, shown: str) -> list[int]:
    first, sep, last = text.strip().partition("-")
    numbers = [first, last] if sep else [first]
    if not all(n.isdigit() and 0 < int(n) < 65536 for n in numbers):
        raise reader.error(what, f"{shown!r} is not a port between 1 and 65535 (or a range)")
    low, high = int(numbers[0]), int(numbers[-1])
    if high < low:
        raise reader.error(what, f"{shown!r}: the range {text} runs backwards")
    return list(range(low, high + 1))


def _command(raw: object, where: str, what: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            return tuple(shlex.split(raw))
        except ValueError as exc:
            raise TopologyError(f"{what} in {where}: {raw!r} cannot be split: {exc}") from None
    if isinstance(raw, list):
        return tuple(_scalar_text(part) for part in raw)
    raise TopologyError(f"{what} in {where} must be a string or a list")


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _optional_str(raw: object) -> str | None:
    return None if raw is None else str(raw)


def _unknown_key(key: str, where: str, what: str, known: set[str] | Any) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"{what} in {where} uses the key {key!r}, which is not a compose key chaos-harness "
        f"knows{hint}; fix or remove it"
    )


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
