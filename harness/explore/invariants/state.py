"""The system's own state adds up: what a model declares must hold of it, once it is quiet.

A :class:`StateCheck` is a read of the state (usually a few GETs of the system's own
endpoints) and a predicate over what was read, which names every way it does not hold.
A model declares its checks (:meth:`~harness.explore.model.SystemModel.state_checks`)::

    StateCheck(
        "stock + reserved = initial",
        read=lambda env: (get(env, "stock", "/items"), get(env, "stock", "/reservations")),
        violations=lambda state: [f"item {i}: ..." for i in ... if ...],
    )

They are checked at the end of every example, once faults are healed and the system had
time to quiesce. Work still finishing may make a check fail for a moment, so a failing one
is read again until ``settle_s`` has passed; only one that still fails then is broken. A
read that fails (the service does not answer, its reply is not what the read expects) is
*unknown*, with the error.
"""

from __future__ import annotations

import pprint
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from harness.checks import Verdict
from harness.errors import ChaosError, ConfigError
from harness.explore.invariants import Invariant, Rank

if TYPE_CHECKING:
    from harness.environment import Environment
    from harness.explore.engine import ExampleRun

__all__ = ["StateCheck", "StateHolds", "read_json"]

MAX_SHOWN = 20  # violations listed in a message; the evidence has them all
MAX_STATE_CHARS = 20_000  # of the state as read, in the evidence


@dataclass(frozen=True)
class StateCheck:
    """One property of the system's state: how to read the state, and what must hold of it.

    ``read`` gets the running environment and returns the state (raising
    :class:`harness.errors.ChaosError`, a ``requests`` error or ``ValueError`` when it
    cannot: the verdict is then unknown). ``violations`` gets what ``read`` returned and
    yields one sentence per way the state does not hold ("item 3: stock 90 + reserved 12 is
    102, not the initial 100"); none means it holds. ``settle_s``: how long work still in
    flight may take to make it hold after the example's end.
    """

    name: str
    read: Callable[[Environment], Any]
    violations: Callable[[Any], Iterable[str]]
    settle_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigError("a StateCheck needs a name, e.g. 'stock + reserved = initial'")
        if not 0 <= self.settle_s <= 60:
            raise ConfigError(
                f"StateCheck {self.name!r}: settle_s must be between 0 and 60, got {self.settle_s}"
            )


def read_json(env: Environment, service: str, path: str, *, timeout: float = 10.0) -> Any:
    """GET ``path`` of ``service`` and parse its JSON: the usual ``StateCheck.read``."""
    reply = requests.get(env.url(service) + path, timeout=timeout)
    reply.raise_for_status()
    return reply.json()


class StateHolds(Invariant):
    """Every :class:`StateCheck` of the model holds at the end of the example."""

    rank = Rank.STATE

    def end(self, run: ExampleRun) -> Iterator[Verdict]:
        for check in run.model.state_checks(run.env.topology):
            yield judge(run.env, check)


def judge(env: Environment, check: StateCheck) -> Verdict:
    """Read the state and test it, reading again while it fails and ``settle_s`` lasts."""
    started = time.monotonic()
    deadline = started + check.settle_s
    pause = 0.1
    reads = 0
    while True:
        reads += 1
        try:
            state = check.read(env)
        except (ChaosError, requests.RequestException, ValueError) as exc:
            return Verdict.unknown(
                check.name,
                f"the state could not be read ({type(exc).__name__}: {exc}), so whether "
                f"{check.name} holds is not known",
            )
        wrong = list(check.violations(state))
        if not wrong or time.monotonic() >= deadline:
            break
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
    waited = time.monotonic() - started
    shown = pprint.pformat(state, width=100, compact=True)
    evidence = {"state as read": shown[:MAX_STATE_CHARS]}
    if not wrong:
        again = f" (read {reads} times over {waited:.1f} s)" if reads > 1 else ""
        return Verdict.passing(check.name, f"{check.name} holds{again}", **evidence)
    evidence["violations"] = "\n".join(wrong)
    listed = "\n".join(f"  - {line}" for line in wrong[:MAX_SHOWN])
    more = f"\n  ... and {len(wrong) - MAX_SHOWN} more" if len(wrong) > MAX_SHOWN else ""
    return Verdict.failing(
        check.name,
        f"{check.name} does not hold once the system is quiet ({len(wrong)} violation"
        f"{'s' if len(wrong) != 1 else ''}, still after {waited:.1f} s and {reads} reads):\n"
        f"{listed}{more}",
        **evidence,
    )
