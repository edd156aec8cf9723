"""How much an exploration explores: Hypothesis profiles (dev, ci, nightly) and a wall-clock
budget that stops new examples once spent."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.errors import ConfigError

if TYPE_CHECKING:
    from hypothesis import settings as HypothesisSettings

__all__ = ["PROFILES", "Budget", "Profile", "hypothesis_settings", "register_profiles"]


@dataclass(frozen=True)
class Profile:
    """How much an exploration explores: examples, steps per example, a time budget."""

    name: str
    max_examples: int
    steps: int  # Hypothesis' stateful_step_count: the most steps one example takes
    budget_s: float  # no new round of examples starts after this long (shrinking finishes)


PROFILES: dict[str, Profile] = {
    "dev": Profile("dev", max_examples=3, steps=5, budget_s=60),
    "ci": Profile("ci", max_examples=6, steps=6, budget_s=45),
    "nightly": Profile("nightly", max_examples=2000, steps=20, budget_s=1800),
}


def register_profiles() -> None:
    """Register ``chaos-dev``, ``chaos-ci`` and ``chaos-nightly`` with Hypothesis.

    No deadline (a step waits for real services), no example database (a chaos run does
    not repeat: failing schedules are kept as replay files instead), and the health
    checks about slow data generation off (the data is cheap, the system is slow).
    """
    from hypothesis import HealthCheck, settings

    for profile in PROFILES.values():
        settings.register_profile(
            f"chaos-{profile.name}",
            max_examples=profile.max_examples,
            stateful_step_count=profile.steps,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )


def hypothesis_settings(name: str) -> HypothesisSettings:
    """The registered Hypothesis settings of profile ``name``."""
    from hypothesis import settings

    if name not in PROFILES:
        raise ConfigError(f"no exploration profile {name!r}; use {', '.join(PROFILES)}")
    register_profiles()
    return settings.get_profile(f"chaos-{name}")


@dataclass
class Budget:
    """Wall-clock budget of an exploration: once spent, no new example is started."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    @property
    def spent(self) -> bool:
        return time.monotonic() - self.started >= self.seconds

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started
