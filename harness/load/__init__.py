"""Open-model load generator: requests leave at planned times and land in a History.

One concern per module: :mod:`~harness.load.requests` (what is sent, how a reply is
classified), :mod:`~harness.load.client` (the HTTP/1.1 client), :mod:`~harness.load.gate`
(the in-flight gate), :mod:`~harness.load.scheduler` (the open-model schedule, results).
"""

from __future__ import annotations

from harness.load.requests import (
    DEFAULT_CAPTURED_HEADERS,
    SAFE_METHODS,
    Body,
    Classify,
    Outcome,
    RequestFactory,
    RequestSpec,
    default_classify,
    require_loopback,
)
from harness.load.scheduler import LoadResult, LoadRun, run_load, start_load

__all__ = [
    "DEFAULT_CAPTURED_HEADERS",
    "SAFE_METHODS",
    "Body",
    "Classify",
    "LoadResult",
    "LoadRun",
    "Outcome",
    "RequestFactory",
    "RequestSpec",
    "default_classify",
    "require_loopback",
    "run_load",
    "start_load",
]
