"""How much an exploration explores: Hypothesis profiles (dev, ci, nightly) and a hard
wall-clock budget for exploring and shrinking together."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.errors import ConfigError

if TYPE_CHECKING:
    from hypothesis import settings as HypothesisSettings

__all__ = [
    "HYPOTHESIS_SHRINK_SHARE",
    "PROFILES",
    "Budget",
    "Profile",
    "hypothesis_settings",
    "register_profiles",
]


@dataclass(frozen=True)
class Profile:
    """How much an exploration explores: examples, steps per example, a time budget."""

    name: str
    max_examples: int
    steps: int  # Hypothesis' stateful_step_count: the most steps one example takes
    budget_s: float  # exploring and shrinking together end within this
    shrink_s: float  # shrinking a failure takes at most this (and ends within the budget)


PROFILES: dict[str, Profile] = {
    "dev": Profile("dev", max_examples=3, steps=5, budget_s=60, shrink_s=20),
    "ci": Profile("ci", max_examples=6, steps=6, budget_s=45, shrink_s=20),
    "nightly": Profile("nightly", max_examples=2000, steps=20, budget_s=1800, shrink_s=300),
}


def register_profiles() -> None:
    """Register ``chaos-dev``, ``chaos-ci`` and ``chaos-nightly`` with Hypothesis.

    No deadline (a step waits for real services), no example database (a chaos run does
    not repeat: failing schedules are kept as replay files instead), the health checks
    about slow data generation off (the data is cheap, the system is slow), and no
    explain phase (it would run the system again for words the report does not use).
    """
    from hypothesis import HealthCheck, Phase, settings

    for profile in PROFILES.values():
        settings.register_profile(
            f"chaos-{profile.name}",
            max_examples=profile.max_examples,
            stateful_step_count=profile.steps,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
        )


def hypothesis_settings(name: str) -> HypothesisSettings:
    """The registered Hypothesis settings of profile ``name``."""
    from hypothesis import settings

    if name not in PROFILES:
        raise ConfigError(f"no exploration profile {name!r}; use {', '.join(PROFILES)}")
    register_profiles()
    return settings.get_profile(f"chaos-{name}")


# Of the time shrinking may take, Hypothesis' own shrinker (which also makes faults milder)
# gets this share; the engine's pass that drops whole steps (harness.explore.shrink),
# which needs one example per step at most, gets the rest.
HYPOTHESIS_SHRINK_SHARE = 0.3


@dataclass
class Budget:
    """Wall-clock budget of an exploration, shrinking included. It is hard: no example
    starts unless the longest one so far would still end within it.

    Before a failure, examples may run until ``seconds`` have passed; once one is found,
    until ``shrink_s`` after it (Hypothesis' shrinker until its share of that), and never
    past ``seconds``.
    """

    seconds: float
    shrink_s: float | None = None  # None: whatever is left of ``seconds``
    started: float = field(default_factory=time.monotonic)
    found: float | None = None  # time.monotonic() when the first failure was found
    owner: int | None = None  # the topology that found it, which alone goes on
    longest_s: float = 0.0  # the longest example so far
    stopped: bool = False  # a harness error ended the exploration
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def end(self) -> float:
        """When everything must have ended."""
        end = self.started + self.seconds
        if self.found is not None and self.shrink_s is not None:
            end = min(end, self.found + self.shrink_s)
        return end

    @property
    def examples_end(self) -> float:
        """When the state machine's examples must have ended (exploring, or Hypothesis'
        share of shrinking)."""
        if self.found is None or self.shrink_s is None:
            return self.end
        return min(self.end, self.found + self.shrink_s * HYPOTHESIS_SHRINK_SHARE)

    def fits(self, end: float | None = None, *, worker: int = 0) -> bool:
        """Whether an example as long as the longest so far would end by ``end`` (default:
        :attr:`examples_end`), on topology ``worker`` (after a failure, only the one that
        found it goes on)."""
        if self.stopped or (self.owner is not None and self.owner != worker):
            return False
        return time.monotonic() + self.longest_s <= (self.examples_end if end is None else end)

    def took(self, seconds: float) -> None:
        self.longest_s = max(self.longest_s, seconds)

    def failure_found(self, worker: int = 0) -> None:
        with self.lock:  # two topologies may find one at once: the first keeps it
            if self.found is None:
                self.found = time.monotonic()
                self.owner = worker

    def stop(self) -> None:
        self.stopped = True

    @property
    def spent(self) -> bool:
        return not self.fits()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started
