"""What happened during one test, on one clock: fault windows and the histories recorded.

Reports draw from it (a latency plot with fault windows shaded); checks can ask which
operations fell inside a fault window. Times are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faults.base import Fault
    from harness.history import History

__all__ = ["FaultWindow", "RecordedHistory", "Timeline"]


@dataclass
class FaultWindow:
    description: str
    kind: str
    start: float
    end: float | None = None  # None: still on


@dataclass(frozen=True)
class RecordedHistory:
    label: str
    history: History


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    faults: list[FaultWindow] = field(default_factory=list)
    histories: list[RecordedHistory] = field(default_factory=list)

    def on_fault(self, fault: Fault, active: bool) -> None:
        now = time.monotonic()
        if active:
            self.faults.append(FaultWindow(fault.describe(), fault.kind, now))
            return
        for window in reversed(self.faults):
            if window.end is None and window.description == fault.describe():
                window.end = now
                return

    def record(self, label: str, history: History) -> None:
        self.histories.append(RecordedHistory(label, history))
