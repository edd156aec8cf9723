"""Progress lines for long runs: start-up, fault windows, loads, verdicts, examples, quiesce.

Quiet by default; with ``-v`` (or a run that selects nightly tests, ``-m nightly``) each
event is one terminal line, prefixed with the seconds since the run began::

    [chaos +12.3s] fault on: latency 1500 ms on front->back (downstream)
    [chaos +15.4s] load front GET /: 30 requests: 504 x 30 in 2002-2006 ms (median 2003)
    [chaos +15.4s] verdict pass: answers within budget: all 30 requests got an answer ...

A passing verdict's message carries its numbers (goroutines before and after, say), which
the closing summary only counts; these lines are where a run's evidence can be read.

:class:`Progress` is a listener (see :mod:`harness.events`): the session subscribes it to
every environment it starts.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

    from faults.base import Fault
    from harness.checks.verdict import Verdict

__all__ = ["Progress", "enabled", "line", "write_now"]


def enabled(verbose: int, markexpr: str) -> bool:
    """Progress is shown with -v, or when the run selects the nightly tests."""
    return verbose > 0 or ("nightly" in markexpr and "not nightly" not in markexpr)


def write_now(config: pytest.Config, text: str) -> None:
    """One line on the terminal now, even from inside a test (around output capture)."""
    reporter: Any = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    capture: Any = config.pluginmanager.get_plugin("capturemanager")
    guard = capture.global_and_fixture_disabled() if capture is not None else None
    with guard if guard is not None else contextlib.nullcontext():
        reporter.write_line(text)


def line(text: str, elapsed_s: float) -> str:
    return f"[chaos +{elapsed_s:.1f}s] {text}"


class Progress:
    """Writes progress lines for one pytest run, when its options ask for them."""

    def __init__(self, config: pytest.Config) -> None:
        markexpr = str(getattr(config.option, "markexpr", "") or "")
        verbose = int(getattr(config.option, "verbose", 0) or 0)
        self.config = config
        self.shown = enabled(verbose, markexpr)
        self.started = time.monotonic()

    def on_progress(self, text: str) -> None:
        if self.shown:
            write_now(self.config, line(text, time.monotonic() - self.started))

    def on_fault(self, fault: Fault, active: bool) -> None:
        self.on_progress(("fault on: " if active else "fault off: ") + fault.describe())

    def on_verdict(self, verdict: Verdict) -> None:
        # The first line only: a failing verdict's details are in pytest's own report.
        first = verdict.message.splitlines()[0] if verdict.message else ""
        self.on_progress(f"verdict {verdict.outcome.value}: {verdict.check}: {first}")
