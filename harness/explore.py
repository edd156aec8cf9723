"""Exploration support: Hypothesis profiles, failing schedules, replay files.

A stateful exploration (``hypothesis.stateful``) drives faults, load bursts and kills
against a running system and checks invariants after every step. Whatever the machine
does is recorded as a :class:`faults.schedule.Schedule`; when an invariant breaks, the
schedule that broke it is kept (:class:`FailureLog`), and after Hypothesis has shrunk the
failure the shortest one is printed as code (a schedule's ``repr`` is the Python that
builds it) and saved as replay JSON under ``.chaos/replays/`` for ``--chaos-replay``.

Nothing here knows the system under test; the suites bring the machine.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError

if TYPE_CHECKING:
    from hypothesis import settings as HypothesisSettings

    from faults.schedule import Schedule

__all__ = [
    "PROFILES",
    "REPLAY_DIR",
    "Budget",
    "Failure",
    "FailureLog",
    "Profile",
    "fault_steps",
    "hypothesis_settings",
    "load_replay",
    "register_profiles",
    "replay_command",
    "reproduced_line",
    "save_replay",
    "schedule_as_code",
]

REPLAY_DIR = Path(".chaos") / "replays"


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


@dataclass(frozen=True)
class Failure:
    """A schedule that broke an invariant, and what broke."""

    schedule: Schedule
    message: str

    @property
    def fault_steps(self) -> int:
        return fault_steps(self.schedule)


@dataclass
class FailureLog:
    """Every failing schedule seen while exploring and shrinking; examples run."""

    failures: list[Failure] = field(default_factory=list)
    examples: int = 0

    def add(self, schedule: Schedule, message: str) -> None:
        self.failures.append(Failure(schedule, message))

    def shortest(self) -> Failure | None:
        """The failure with the fewest fault steps, then the fewest steps, then the latest.

        Hypothesis shrinks toward short examples, so the latest of the shortest is the one
        it settled on.
        """
        if not self.failures:
            return None
        ranked = sorted(
            enumerate(self.failures),
            key=lambda p: (p[1].fault_steps, len(p[1].schedule.steps), -p[0]),
        )
        return ranked[0][1]


def fault_steps(schedule: Schedule) -> int:
    """How many faults the schedule turns on (its length as a failure report counts it)."""
    return len(schedule.faults())


def schedule_as_code(schedule: Schedule) -> str:
    """Python that builds the schedule: one step a line, ready to paste into a test."""
    lines = ["Schedule(", "    steps=("]
    lines += [f"        {step!r}," for step in schedule.steps]
    lines += ["    )", ")"]
    return "\n".join(lines)


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def save_replay(
    schedule: Schedule, directory: Path, *, label: str, now: float | None = None
) -> Path:
    """Write the schedule's JSON to ``directory/<label>-<UTC time>.json``; return the path.

    The file is exactly :meth:`Schedule.dumps`, so ``Schedule.load`` reads it back.
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    safe = _UNSAFE.sub("-", label).strip("-") or "schedule"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{safe}-{stamp}.json"
    counter = 1
    while path.exists():
        counter += 1
        path = directory / f"{safe}-{stamp}-{counter}.json"
    schedule.save(path)
    return path


def load_replay(path: Path) -> Schedule:
    """Read a replay file; a missing or malformed one is a ConfigError that says which."""
    from faults.schedule import schedule_from_json
    from harness.errors import ChaosError

    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(
            f"--chaos-replay: cannot read {path}: {exc.strerror or exc}; pass a file an "
            "exploration saved under .chaos/replays/"
        ) from None
    try:
        return schedule_from_json(text)
    except ChaosError as exc:
        raise ConfigError(f"--chaos-replay: {path} is not a saved schedule: {exc}") from None


def reproduced_line(failed: int, runs: int) -> str:
    return f"reproduced {failed}/{runs}"


def replay_command(path: Path, bugs: tuple[str, ...], runs: int = 5) -> str:
    """The command line that replays a saved schedule with the same build."""
    parts = [".venv/bin/pytest suites/test_exploration.py", f"--chaos-replay={path}"]
    parts.append(f"--chaos-replay-runs={runs}")
    if bugs:
        parts.append(f"--chaos-bugs={','.join(bugs)}")
    return " ".join(parts)
