"""What happens during a run, told to whoever listens: faults, verdicts, progress, notes.

Every :class:`~harness.environment.Environment` carries an :class:`Events`. Checks, fault
values and the exploration engine tell it what happened; they never reach into the run's
summary, the progress lines or the Allure report themselves. The plugin's session object
subscribes (summary, progress) and so does the Allure reporter, so the same engine works
with no pytest at all (a bench, a script) and anyone can add a listener.

A listener is any object with some of these methods; the ones it lacks are skipped:

- ``on_fault(fault, active)``: a fault went on (True) or off (False);
- ``on_verdict(verdict)``: a check's verdict was judged against this running system;
- ``on_progress(text)``: a line of progress (start-up, fault windows, examples);
- ``on_note(text)``: a line for the run's closing summary (``reproduced 3/5``);
- ``on_replay_saved(path)``: a failing schedule was saved for ``--chaos-replay``;
- ``on_explored(record)``: an exploration ended; ``record`` is plain JSON (the test, its
  examples and seconds, its coverage case by case, what it found), so that a summary of
  many shards can be made from the records alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faults.base import Fault
    from harness.checks.verdict import Verdict

__all__ = ["Events"]

log = logging.getLogger("chaos-harness")


class Events:
    """The listeners of one running system, and the calls that tell them."""

    def __init__(self) -> None:
        self._listeners: list[object] = []

    def subscribe(self, listener: object) -> None:
        if listener not in self._listeners:
            self._listeners.append(listener)

    def unsubscribe(self, listener: object) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    @property
    def listeners(self) -> tuple[object, ...]:
        return tuple(self._listeners)

    def fault(self, fault: Fault, active: bool) -> None:
        self._tell("on_fault", fault, active)

    def verdict(self, verdict: Verdict) -> None:
        self._tell("on_verdict", verdict)

    def progress(self, text: str) -> None:
        self._tell("on_progress", text)

    def note(self, text: str) -> None:
        self._tell("on_note", text)

    def replay_saved(self, path: str) -> None:
        self._tell("on_replay_saved", path)

    def explored(self, record: Mapping[str, Any]) -> None:
        self._tell("on_explored", record)

    def _tell(self, method: str, *args: Any) -> None:
        for listener in list(self._listeners):
            call = getattr(listener, method, None)
            if call is None:
                continue
            try:
                call(*args)
            except Exception:  # a listener's bug must not change what the test saw
                log.exception("chaos-harness: listener %r failed in %s", listener, method)
