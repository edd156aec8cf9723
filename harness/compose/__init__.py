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

One concern per module: :mod:`~harness.compose.reader` (the YAML, variables, the top level,
profiles: :func:`read_compose`), :mod:`~harness.compose.service` (one service),
:mod:`~harness.compose.ports` (``ports``, ``expose``), :mod:`~harness.compose.volumes`
(``volumes``, ``tmpfs``, bind mounts), :mod:`~harness.compose.keys` (the four groups above,
with their reasons, and the one warning per file), :mod:`~harness.compose.values` (the
values read), :mod:`~harness.compose.parse` (the small typed readers they share).
"""

from __future__ import annotations

from harness.compose.keys import Warned, warn_once
from harness.compose.parse import parse_duration
from harness.compose.reader import read_compose
from harness.compose.values import (
    BindMount,
    Build,
    ComposeProject,
    ComposeService,
    Healthcheck,
    TmpfsMount,
    VolumeMount,
)

__all__ = [
    "BindMount",
    "Build",
    "ComposeProject",
    "ComposeService",
    "Healthcheck",
    "TmpfsMount",
    "VolumeMount",
    "Warned",
    "parse_duration",
    "read_compose",
    "warn_once",
]
