"""chaos-harness: a pytest plugin that starts real services, breaks them from outside and
checks, with evidence, that they keep their promises.

The plugin itself is :mod:`harness.plugin` (registered through the ``pytest11`` entry
point); the invariants are in :mod:`harness.checks`, the faults in the :mod:`faults` package.
"""

from __future__ import annotations

from harness.environment import Environment
from harness.errors import (
    BackendError,
    BuildError,
    ChaosError,
    ConfigError,
    EngineUnavailableError,
    FaultError,
    HistoryError,
    LeftoverFaultError,
    ProbeError,
    StartupError,
    TopologyError,
)
from harness.history import History, Op
from harness.load import LoadResult, LoadRun, run_load, start_load
from harness.sampler import MetricSampler
from harness.settings import Settings
from harness.testscope import chaos_test
from harness.topology import Topology, load_topology

__all__ = [
    "BackendError",
    "BuildError",
    "ChaosError",
    "ConfigError",
    "EngineUnavailableError",
    "Environment",
    "FaultError",
    "History",
    "HistoryError",
    "LeftoverFaultError",
    "LoadResult",
    "LoadRun",
    "MetricSampler",
    "Op",
    "ProbeError",
    "Settings",
    "StartupError",
    "Topology",
    "TopologyError",
    "chaos_test",
    "load_topology",
    "run_load",
    "start_load",
]
