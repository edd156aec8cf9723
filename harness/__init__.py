"""chaos-harness: a pytest plugin that starts real services, breaks them from outside and
checks, with evidence, that they keep their promises.

The plugin itself is :mod:`harness.plugin` (registered through the ``pytest11`` entry
point); the invariants are in :mod:`harness.checks`, the faults in the :mod:`faults` package.

The names below are loaded when first used, so that ``import faults`` (which needs only
:mod:`harness.errors`) does not drag in the load generator, Docker or pytest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        SignalMissingError,
        StartupError,
        TopologyError,
        TopologyWarning,
    )
    from harness.history import History, Op
    from harness.load import LoadResult, LoadRun, run_load, start_load
    from harness.sampler import MetricSampler
    from harness.settings import Settings
    from harness.shard import Shard
    from harness.testscope import chaos_test
    from harness.topology import Topology, load_topology

_WHERE = {
    "Environment": "harness.environment",
    "BackendError": "harness.errors",
    "BuildError": "harness.errors",
    "ChaosError": "harness.errors",
    "ConfigError": "harness.errors",
    "EngineUnavailableError": "harness.errors",
    "FaultError": "harness.errors",
    "HistoryError": "harness.errors",
    "LeftoverFaultError": "harness.errors",
    "ProbeError": "harness.errors",
    "StartupError": "harness.errors",
    "TopologyError": "harness.errors",
    "TopologyWarning": "harness.errors",
    "SignalMissingError": "harness.errors",
    "History": "harness.history",
    "Op": "harness.history",
    "LoadResult": "harness.load",
    "LoadRun": "harness.load",
    "run_load": "harness.load",
    "start_load": "harness.load",
    "MetricSampler": "harness.sampler",
    "Settings": "harness.settings",
    "Shard": "harness.shard",
    "chaos_test": "harness.testscope",
    "Topology": "harness.topology",
    "load_topology": "harness.topology",
}

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
    "Shard",
    "SignalMissingError",
    "StartupError",
    "Topology",
    "TopologyError",
    "TopologyWarning",
    "chaos_test",
    "load_topology",
    "run_load",
    "start_load",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
