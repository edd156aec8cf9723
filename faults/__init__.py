"""Faults as values: validated when built, applied and healed, round-tripping through JSON."""

from __future__ import annotations

from faults.base import Fault, FaultTarget, current_target, fault_from_json, using_target
from faults.network import Latency, NetworkFault

__all__ = [
    "Fault",
    "FaultTarget",
    "Latency",
    "NetworkFault",
    "current_target",
    "fault_from_json",
    "using_target",
]
