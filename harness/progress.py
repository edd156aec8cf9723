"""Progress lines for long runs: start-up, fault windows, examples, quiesce.

Quiet by default; with ``-v`` (or a run that selects nightly tests, ``-m nightly``) each
event is one terminal line, prefixed with the seconds since the run began::

    [chaos +12.3s] fault on: latency 1500 ms on gateway->inventory (downstream)
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

    from faults.base import Fault

__all__ = ["configure", "enabled", "line", "on_fault", "say", "unconfigure", "write_now"]


class _State:
    config: pytest.Config | None = None
    started: float = time.monotonic()


_state = _State()


def enabled(verbose: int, markexpr: str) -> bool:
    """Progress is shown with -v, or when the run selects the nightly tests."""
    return verbose > 0 or ("nightly" in markexpr and "not nightly" not in markexpr)


def configure(config: pytest.Config) -> None:
    markexpr = str(getattr(config.option, "markexpr", "") or "")
    verbose = int(getattr(config.option, "verbose", 0) or 0)
    _state.config = config if enabled(verbose, markexpr) else None
    _state.started = time.monotonic()


def unconfigure() -> None:
    _state.config = None


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


def say(text: str) -> None:
    """Write one progress line, if progress is on."""
    if _state.config is not None:
        write_now(_state.config, line(text, time.monotonic() - _state.started))


def on_fault(fault: Fault, active: bool) -> None:
    """A fault listener (``Environment.fault_listeners``): one line per window edge."""
    say(("fault on: " if active else "fault off: ") + fault.describe())
