"""Faults as values: validated when built, applied and healed, round-tripping through JSON.

Network faults (Toxiproxy toxics), partitions, HTTP faults (the project's own toxics),
process faults (through the backend), schedules of them, and Hypothesis strategies over a
topology (the :mod:`faults.strategies` module, re-exported as ``strategies``).
"""

from __future__ import annotations

from faults import strategies
from faults.base import (
    Fault,
    FaultTarget,
    current_target,
    derive_seed,
    fault_from_json,
    fault_kinds,
    using_target,
)
from faults.http import HttpDelay, HttpError, HttpFault, HttpMalformed, affected
from faults.network import (
    Bandwidth,
    Blackhole,
    Latency,
    LimitData,
    NetworkFault,
    ResetPeer,
    Slicer,
    SlowClose,
    Timeout,
    ToxicFault,
)
from faults.partition import Disconnect, Isolate, LinkDown, Split
from faults.process import Kill, Pause, ProcessFault, Restart, Terminate
from faults.schedule import (
    At,
    FaultOff,
    FaultOn,
    LoadBurst,
    PlainExecutor,
    Schedule,
    ScheduleError,
    ScheduleRun,
    Step,
    StepExecutor,
    StepRecord,
    Wait,
    run_schedule,
    schedule_from_json,
)

__all__ = [
    "At",
    "Bandwidth",
    "Blackhole",
    "Disconnect",
    "Fault",
    "FaultOff",
    "FaultOn",
    "FaultTarget",
    "HttpDelay",
    "HttpError",
    "HttpFault",
    "HttpMalformed",
    "Isolate",
    "Kill",
    "Latency",
    "LimitData",
    "LinkDown",
    "LoadBurst",
    "NetworkFault",
    "Pause",
    "PlainExecutor",
    "ProcessFault",
    "ResetPeer",
    "Restart",
    "Schedule",
    "ScheduleError",
    "ScheduleRun",
    "Slicer",
    "SlowClose",
    "Split",
    "Step",
    "StepExecutor",
    "StepRecord",
    "Terminate",
    "Timeout",
    "ToxicFault",
    "Wait",
    "affected",
    "current_target",
    "derive_seed",
    "fault_from_json",
    "fault_kinds",
    "run_schedule",
    "schedule_from_json",
    "strategies",
    "using_target",
]
