"""Process faults: what production does to a service's process, done through the backend.

- :class:`Kill`: SIGKILL. Heal starts the service again and waits until it is ready.
- :class:`Terminate`: SIGTERM, then wait (bounded) until the process has exited, so a
  graceful shutdown runs its course. Heal starts it again and waits until it is ready.
- :class:`Pause`: freeze every process of the service (cgroup freezer); heal resumes it.
- :class:`Restart`: stop and start the service; heal waits until it is ready again.

Each fault looks at the service's state before acting, which is what makes applying and
healing twice the same as once. The Toxiproxy service itself cannot be killed, terminated
or restarted: the proxies live in its memory and the harness would lose them.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

from faults.base import Fault, FaultTarget, require_service
from faults.validation import check_int, check_service_name
from harness.errors import FaultError

__all__ = ["Kill", "Pause", "ProcessFault", "Restart", "Terminate"]

_POLL_S = 0.05


@dataclasses.dataclass(frozen=True)
class ProcessFault(Fault):
    """A fault on one service's process."""

    service: str

    # Whether the fault would lose Toxiproxy's in-memory proxies if aimed at its service.
    loses_proxies: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_service_name(type(self).__name__, "service", self.service)

    def validate(self, target: FaultTarget) -> None:
        owner = type(self).__name__
        require_service(target, owner, self.service)
        toxiproxy = target.topology.toxiproxy
        if self.loses_proxies and toxiproxy is not None and toxiproxy.service == self.service:
            raise FaultError(
                f"{owner}: {self.service!r} runs Toxiproxy, whose proxies live in its memory; "
                "stopping it would lose every link. Fault its links instead (LinkDown, "
                "Blackhole, Isolate) or Pause it"
            )

    def _alive(self, target: FaultTarget) -> bool:
        return target.backend.state(self.service).alive

    def _wait_ready(self, target: FaultTarget) -> None:
        service = target.topology.service(self.service)
        target.backend.wait_ready(service, target.startup_timeout_s)

    def _start_if_stopped(self, target: FaultTarget) -> None:
        if not self._alive(target):
            target.backend.restart(self.service)
        self._wait_ready(target)


@dataclasses.dataclass(frozen=True)
class Kill(ProcessFault):
    """SIGKILL the service; heal starts it again and waits until it is ready."""

    kind: ClassVar[str] = "kill"

    def _apply(self, target: FaultTarget) -> None:
        if self._alive(target):
            target.backend.kill(self.service)

    def _heal(self, target: FaultTarget) -> None:
        self._start_if_stopped(target)

    def describe(self) -> str:
        return f"service {self.service} killed (SIGKILL)"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Terminate(ProcessFault):
    """SIGTERM the service and wait up to ``exit_timeout_s`` seconds until it has exited."""

    kind: ClassVar[str] = "terminate"

    exit_timeout_s: int = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("Terminate", "exit_timeout_s", self.exit_timeout_s, 1, 600, "seconds")

    def _apply(self, target: FaultTarget) -> None:
        if not self._alive(target):
            return
        target.backend.terminate(self.service)
        deadline = time.monotonic() + self.exit_timeout_s
        while self._alive(target):
            if time.monotonic() > deadline:
                raise FaultError(
                    f"Terminate: service {self.service!r} was still running "
                    f"{self.exit_timeout_s} s after SIGTERM; it ignores SIGTERM or drains "
                    "for longer (raise exit_timeout_s if that is expected)"
                )
            time.sleep(_POLL_S)

    def _heal(self, target: FaultTarget) -> None:
        self._start_if_stopped(target)

    def describe(self) -> str:
        return f"service {self.service} terminated (SIGTERM)"


@dataclasses.dataclass(frozen=True)
class Pause(ProcessFault):
    """Freeze the service's processes; heal resumes them."""

    kind: ClassVar[str] = "pause"
    loses_proxies: ClassVar[bool] = False  # a frozen Toxiproxy keeps its proxies

    def _paused(self, target: FaultTarget) -> bool:
        return target.backend.state(self.service).status == "paused"

    def _apply(self, target: FaultTarget) -> None:
        if not self._paused(target):
            target.backend.pause(self.service)

    def _heal(self, target: FaultTarget) -> None:
        if self._paused(target):
            target.backend.resume(self.service)

    def describe(self) -> str:
        return f"service {self.service} paused (frozen)"


@dataclasses.dataclass(frozen=True)
class Restart(ProcessFault):
    """Stop and start the service (SIGTERM, then SIGKILL after the backend's grace period).

    A restart is an event, not a state, so the target's record of active faults is what
    makes a second apply (while the first is still on) do nothing.
    """

    kind: ClassVar[str] = "restart"

    def _apply(self, target: FaultTarget) -> None:
        if self not in target.active_faults:
            target.backend.restart(self.service)

    def _heal(self, target: FaultTarget) -> None:
        self._start_if_stopped(target)

    def describe(self) -> str:
        return f"service {self.service} restarted"
