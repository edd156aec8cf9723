"""Invariants, checked from outside. Each returns a three-valued :class:`Verdict`.

A check reads standard signals only (the history of HTTP replies, ``/metrics``,
``/debug/pprof/goroutine``, logs, process and container state) and never knows which bug
is switched on. When it cannot observe what it needs it says ``unknown``: an unobserved
pass is no pass. Metrics and pprof are optional for a service; a check that needs one the
service does not serve says which endpoint it tried and how to add it.
"""

from __future__ import annotations

from harness.checks.availability import available_at_least
from harness.checks.breaker import GOBREAKER_STATES, breaker_trips_and_recovers
from harness.checks.capacity import stays_under
from harness.checks.consistency import (
    counter_between,
    effects_carry_their_cause,
    no_lost_or_duplicated_writes,
)
from harness.checks.goroutines import GoroutineBaseline, goroutine_baseline, no_leaked_goroutines
from harness.checks.process import ServiceSnapshot, no_runtime_reports, snapshot, survives
from harness.checks.timing import answers_within, replies_well_formed, status_counts
from harness.checks.verdict import Outcome, Verdict
from harness.signals import read_goroutines, read_metrics

__all__ = [
    "GOBREAKER_STATES",
    "GoroutineBaseline",
    "Outcome",
    "ServiceSnapshot",
    "Verdict",
    "answers_within",
    "available_at_least",
    "breaker_trips_and_recovers",
    "counter_between",
    "effects_carry_their_cause",
    "goroutine_baseline",
    "no_leaked_goroutines",
    "no_lost_or_duplicated_writes",
    "no_runtime_reports",
    "read_goroutines",
    "read_metrics",
    "replies_well_formed",
    "snapshot",
    "status_counts",
    "stays_under",
    "survives",
]
