"""The values a compose file is read into: :class:`ComposeProject`, one
:class:`ComposeService` per service, and the parts of a service (build, mounts, healthcheck).

They hold what the harness applies, with profiles, interpolation and env files already
applied; :mod:`harness.compose.reader` makes them, the backends read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "BindMount",
    "Build",
    "ComposeProject",
    "ComposeService",
    "Healthcheck",
    "TmpfsMount",
    "VolumeMount",
]


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
