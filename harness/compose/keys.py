"""What each compose key is to the harness, and why: honoured, ignored with a note, ignored
with a warning, or refused; and the one warning per file that lists what was left out.

The reasons here are what the user reads: a refusal names the key, the file and what to
do instead; a note says how the harness does the thing its own way.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from harness.compose.parse import error, unknown_key
from harness.errors import TopologyError, TopologyWarning

__all__ = [
    "CAPS_REFUSED",
    "Notes",
    "Warned",
    "check_build_key",
    "check_service_key",
    "check_top_level_key",
    "warn_once",
]


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
CAPS_REFUSED = {
    "ALL": "it gives back every capability the harness drops",
    "SYS_ADMIN": "it lets the service mount file systems and change namespaces",
    "NET_ADMIN": "it lets the service change its own addresses, routes and firewall, which "
    "is where the harness injects network faults",
}

_RESTART_NOTE = (
    "the harness decides when a service comes back: a killed service stays down until its "
    "fault heals"
)


# -- sorting keys into the four groups ------------------------------------------------------


def check_top_level_key(key: str, where: str, notes: Notes) -> None:
    """One top-level key of the file ``where``: passed, noted as ignored, or refused."""
    if key in _TOP_LEVEL_KEYS or key.startswith("x-"):
        return
    if key == "include":
        raise TopologyError(
            f"the top level of {where} uses `include`, which chaos-harness does not "
            "follow: it reads one file; inline the included services here"
        )
    if key in _TOP_LEVEL_IGNORED:
        notes.ignore(key)
        return
    raise TopologyError(unknown_key(key, where, "top level", _TOP_LEVEL_KEYS))


def check_service_key(name: str, key: str, value: object, where: str, notes: Notes) -> None:
    """One key of ``services.NAME`` (set to ``value``): passed, noted, or refused."""
    what = f"services.{name}"
    if key.startswith("x-"):
        return
    if key in _SERVICE_REFUSED:
        raise error(where, what, f"`{key}` is refused: {_SERVICE_REFUSED[key]}")
    if key == "privileged" and value is not False:
        raise error(
            where,
            what,
            "`privileged: true` is refused: a privileged container can change the host "
            "and undo the harness's isolation; remove it (add the capabilities it needs "
            "with `cap_add:` instead)",
        )
    if key == "ipc" and value == "host":
        raise error(
            where,
            what,
            "`ipc: host` is refused: it shares the host's IPC namespace, outside what a "
            "run can isolate; remove it",
        )
    if key == "restart":
        notes.note(f"restart is ignored: {_RESTART_NOTE}", name)
    if key == "ipc" or key in _SERVICE_IGNORED:
        notes.ignore(key, name)
    elif key not in _SERVICE_HONOURED:
        known = _SERVICE_HONOURED | _SERVICE_IGNORED | _SERVICE_REFUSED.keys()
        raise TopologyError(unknown_key(key, where, what, known))


def check_build_key(name: str, key: str, where: str, notes: Notes) -> None:
    """One key of ``services.NAME.build``: passed, noted as ignored, or refused."""
    what = f"services.{name}.build"
    if key in _BUILD_REFUSED:
        raise error(where, what, f"`{key}` is not supported: {_BUILD_REFUSED[key]}")
    if key in _BUILD_IGNORED:
        notes.ignore(f"build.{key}", name)
    elif key not in _BUILD_HONOURED and not key.startswith("x-"):
        known = _BUILD_HONOURED | _BUILD_IGNORED | _BUILD_REFUSED.keys()
        raise TopologyError(unknown_key(key, where, what, known))


# -- notes and the one warning per file ---------------------------------------------------

Warned = set[tuple[str, str]]  # (file, text) of the warnings already given


def warn_once(path: Path, text: str, warned: Warned | None = None) -> None:
    """A :class:`TopologyWarning` about the file ``path``, unless ``warned`` holds it already.

    The plugin reads the compose file more than once per run (configuration, then the
    fixture); the user needs to read each warning once, so the run keeps one ``warned`` set
    (on its session) and passes it to every read. Without one, each call warns, and
    Python's warning filters decide what is shown.
    """
    if warned is not None:
        key = (str(path), text)
        if key in warned:
            return
        warned.add(key)
    warnings.warn(TopologyWarning(text), stacklevel=3)


class Notes:
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
