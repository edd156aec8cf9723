"""Failing schedules: the shortest one kept, printed as code, saved as replay JSON, and the
command line that replays it.

Whatever an exploration does is recorded as a :class:`faults.schedule.Schedule`; when an
invariant breaks, the schedule that broke it is kept (:class:`FailureLog`), and after
Hypothesis has shrunk the failure the shortest one is printed as code (a schedule's
``repr`` is the Python that builds it) and saved under ``.chaos/replays/`` for
``--chaos-replay``.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError

if TYPE_CHECKING:
    from faults.schedule import Schedule

__all__ = [
    "REPLAY_DIR",
    "Failure",
    "FailureLog",
    "fault_steps",
    "load_replay",
    "replay_command",
    "reproduced_line",
    "save_replay",
    "schedule_as_code",
]

REPLAY_DIR = Path(".chaos") / "replays"


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


def replay_command(
    test: str,
    replay: Path | str,
    *,
    runs: int = 5,
    pytest: Sequence[str] = ("pytest",),
    compose: Path | str | None = None,
    bugs: Sequence[str] = (),
    race: bool = False,
    seed: int | None = None,
    cd: Path | str | None = None,
) -> str:
    """The shell command that replays a saved schedule with the build that broke.

    ``test`` is the node ID of the test that explored; ``compose`` is given only when the
    run chose another compose file than its ini default; ``seed`` keeps HTTP faults that
    hit a fraction of the responses hitting the same ones; ``cd`` is the folder the node
    ID is relative to, when the command is not run from there.
    """
    parts = [*pytest, test, f"--chaos-replay={replay}", f"--chaos-replay-runs={runs}"]
    if compose is not None:
        parts.append(f"--chaos-compose={compose}")
    if bugs:
        parts.append(f"--chaos-bugs={','.join(bugs)}")
    if race:
        parts.append("--chaos-race")
    if seed is not None:
        parts.append(f"--chaos-seed={seed}")
    command = shlex.join(parts)
    return f"cd {shlex.quote(str(cd))} && {command}" if cd is not None else command
