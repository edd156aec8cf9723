"""Reads one service of a compose file into a :class:`ComposeService`: its keys sorted by
:mod:`~harness.compose.keys`, build, environment and env files, dependencies, network
aliases, healthcheck, capabilities and host entries; ports and mounts through
:mod:`~harness.compose.ports` and :mod:`~harness.compose.volumes`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.compose.keys import CAPS_REFUSED, Notes, check_build_key, check_service_key
from harness.compose.parse import (
    as_flag,
    as_list,
    as_mapping,
    error,
    optional_str,
    parse_duration,
    scalar_text,
    split_command,
    unknown_key,
)
from harness.compose.ports import read_expose, read_ports
from harness.compose.values import Build, ComposeService, Healthcheck
from harness.compose.volumes import read_tmpfs, read_volumes
from harness.errors import TopologyError
from harness.variables import parse_env_file

__all__ = ["ServiceReader"]

_HEALTHCHECK_KEYS = {
    "test",
    "interval",
    "timeout",
    "start_period",
    "start_interval",
    "retries",
    "disable",
}
_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


class ServiceReader:
    """Reads the services of one file, with what the file declares at its top level."""

    def __init__(
        self,
        path: Path,
        env: Mapping[str, str],
        notes: Notes,
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
        return error(self.where, what, message)

    def service(self, name: str, spec: Mapping[str, Any]) -> ComposeService:
        prefix = f"services.{name}"
        for key in spec:
            check_service_key(name, str(key), spec[key], self.where, self.notes)
        build = self._build(name, spec.get("build"))
        image = spec.get("image")
        if build is None and not image:
            raise TopologyError(f"service {name!r} in {self.where} needs `build:` or `image:`")
        for key in ("user", "working_dir", "hostname", "stop_signal"):
            if key in spec and not isinstance(spec[key], str | int):
                raise self.error(f"{prefix}.{key}", f"{spec[key]!r} must be a string")
        mounts = read_volumes(name, spec.get("volumes"), self.path, self.volumes)
        return ComposeService(
            name=name,
            build=build,
            image=str(image) if image else None,
            environment=self._environment(name, spec.get("env_file"), spec.get("environment")),
            ports=read_ports(name, spec.get("ports"), self.where, self.notes),
            expose=read_expose(name, spec.get("expose"), self.where, self.notes),
            depends_on=self._depends_on(name, spec.get("depends_on")),
            volumes=mounts.named,
            anonymous_volumes=mounts.anonymous,
            binds=mounts.binds,
            tmpfs=mounts.tmpfs + read_tmpfs(name, spec.get("tmpfs"), self.where),
            command=split_command(spec.get("command"), self.where, f"{prefix}.command"),
            entrypoint=split_command(spec.get("entrypoint"), self.where, f"{prefix}.entrypoint"),
            healthcheck=self._healthcheck(name, spec.get("healthcheck")),
            aliases=self._aliases(name, spec.get("networks")),
            user=optional_str(spec.get("user")),
            working_dir=optional_str(spec.get("working_dir")),
            hostname=optional_str(spec.get("hostname")),
            stop_signal=optional_str(spec.get("stop_signal")),
            stop_grace_period_s=self._duration(
                spec.get("stop_grace_period"), f"{prefix}.stop_grace_period"
            ),
            labels=self._labels(name, spec.get("labels")),
            read_only=as_flag(spec.get("read_only", False), self.where, f"{prefix}.read_only"),
            init=as_flag(spec.get("init", False), self.where, f"{prefix}.init"),
            cap_add=self._cap_add(name, spec.get("cap_add"), spec.get("cap_drop")),
            extra_hosts=self._extra_hosts(name, spec.get("extra_hosts")),
        )

    # -- build ---------------------------------------------------------------------------

    def _build(self, name: str, raw: object) -> Build | None:
        what = f"services.{name}.build"
        if raw is None:
            return None
        if isinstance(raw, str):
            return Build(context=(self.path.parent / raw).resolve())
        spec = as_mapping(raw, self.where, what)
        for key in spec:
            check_build_key(name, str(key), self.where, self.notes)
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
            [env_file]
            if isinstance(env_file, str | Mapping)
            else as_list(env_file, self.where, what)
        )
        for entry in entries:
            if isinstance(entry, str):
                file, required = entry, True
            else:
                spec = as_mapping(entry, self.where, what)
                unknown = set(spec) - {"path", "required"}
                if unknown or not isinstance(spec.get("path"), str):
                    raise self.error(
                        what,
                        f"{dict(spec)!r} must be a path, or {{path: FILE, required: true|false}}",
                    )
                file = spec["path"]
                required = as_flag(spec.get("required", True), self.where, f"{what}.required")
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
            items = [(str(k), v) for k, v in as_mapping(raw, self.where, what).items()]
        result: dict[str, str] = {}
        for key, value in items:
            if not key or any(c.isspace() for c in key):
                raise self.error(what, f"{key!r} is not a variable name")
            if value is None:
                found = self.env.get(key) if pass_through else None
                if found is not None:
                    result[key] = found
                continue
            result[key] = scalar_text(value)
        return result

    def _labels(self, name: str, raw: object) -> dict[str, str]:
        return self._key_values(raw, f"services.{name}.labels", pass_through=False)

    # -- dependencies --------------------------------------------------------------------

    def _depends_on(self, name: str, raw: object) -> tuple[str, ...]:
        what = f"services.{name}.depends_on"
        if raw is None:
            return ()
        required: dict[str, bool] = {}
        if isinstance(raw, list):
            required = {str(d): True for d in raw}
        else:
            for dep, spec in as_mapping(raw, self.where, what).items():
                spec = as_mapping(spec, self.where, f"{what}.{dep}")
                allowed = {"condition", "restart", "required"}
                for key in spec:
                    if key not in allowed:
                        raise TopologyError(
                            unknown_key(str(key), self.where, f"{what}.{dep}", allowed)
                        )
                condition = spec.get("condition", "service_started")
                if condition not in _CONDITIONS:
                    raise self.error(
                        f"{what}.{dep}.condition",
                        f"{condition!r} is not one of {', '.join(sorted(_CONDITIONS))}",
                    )
                # Every condition means "ready" here: the harness starts services level by
                # level and waits for each to be ready before the next level.
                required[str(dep)] = as_flag(
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

    # -- networks ------------------------------------------------------------------------

    def _aliases(self, name: str, raw: object) -> tuple[str, ...]:
        what = f"services.{name}.networks"
        if raw is None:
            return ()
        if isinstance(raw, list):
            entries: dict[str, object] = {str(n): None for n in raw}
        else:
            entries = {str(n): v for n, v in as_mapping(raw, self.where, what).items()}
        aliases: list[str] = []
        for network, spec in entries.items():
            if network not in self.networks:
                raise self.error(
                    what,
                    f"the network {network!r} is not declared under the top-level "
                    "`networks:`; declare it there",
                )
            for key, value in as_mapping(spec, self.where, f"{what}.{network}").items():
                if key == "aliases":
                    for alias in as_list(value, self.where, f"{what}.{network}.aliases"):
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
        spec = as_mapping(raw, self.where, what)
        for key in spec:
            if key not in _HEALTHCHECK_KEYS and not str(key).startswith("x-"):
                raise TopologyError(unknown_key(str(key), self.where, what, _HEALTHCHECK_KEYS))
        if as_flag(spec.get("disable", False), self.where, f"{what}.disable"):
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
        for cap in as_list(drop, self.where, f"services.{name}.cap_drop"):
            if not isinstance(cap, str):
                raise self.error(f"services.{name}.cap_drop", f"{cap!r} is not a capability")
        caps: list[str] = []
        for cap in as_list(raw, self.where, what):
            if not isinstance(cap, str) or not cap:
                raise self.error(what, f"{cap!r} is not a capability")
            normal = cap.upper().removeprefix("CAP_")
            if normal in CAPS_REFUSED:
                raise self.error(
                    what,
                    f"{cap} is refused: {CAPS_REFUSED[normal]}; chaos-harness drops every "
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
            for item in as_list(raw, self.where, what):
                text = str(item)
                host, sep, address = text.partition("=")
                if not sep:
                    host, sep, address = text.partition(":")
                if not sep or not host or not address:
                    raise self.error(what, f"{item!r} must be HOST:ADDRESS or HOST=ADDRESS")
                pairs.append((host, address))
        return tuple((host, address.strip("[]")) for host, address in pairs)
