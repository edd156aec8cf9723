"""Failing schedules: the shortest one kept, printed as code, saved as replay JSON, and the
command line that replays it.

Whatever an exploration does is recorded as a :class:`faults.schedule.Schedule`; when an
invariant breaks, the schedule that broke it is kept (:class:`FailureLog`), and once the
failure is shrunk the shortest one is printed as code (a schedule's ``repr`` is the Python
that builds it) and saved under ``.chaos/replays/`` for ``--chaos-replay``.

A replay file holds what a faithful replay needs: the steps (with the moment each fault
lands during a burst, and every HTTP fault's seed), when each step started, and under
``recorded`` the run that found it: its seed, the sources it was built from, what was on.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.source import SourceState

if TYPE_CHECKING:
    from faults.schedule import Schedule
    from harness.environment import Environment

__all__ = [
    "REPLAY_DIR",
    "Failure",
    "FailureLog",
    "SavedReplay",
    "fault_steps",
    "load_replay",
    "recorded_run",
    "replay_command",
    "reproduced_line",
    "save_replay",
    "schedule_as_code",
]

REPLAY_DIR = Path(".chaos") / "replays"


@dataclass(frozen=True)
class Failure:
    """A schedule that broke an invariant, and what broke (``checks``: the invariants it
    broke, the most basic cause first)."""

    schedule: Schedule
    message: str
    checks: tuple[str, ...] = ()

    @property
    def fault_steps(self) -> int:
        return fault_steps(self.schedule)

    def same_cause(self, other: Failure) -> bool:
        """Whether ``other`` breaks the invariant this failure breaks first (when either
        does not say, any failure counts): shrinking keeps to one finding."""
        return not self.checks or not other.checks or self.checks[0] in other.checks


@dataclass
class FailureLog:
    """Every failing schedule seen while exploring and shrinking, where each was found (the
    number of the topology, when several are explored at once); examples run. Thread-safe."""

    failures: list[Failure] = field(default_factory=list)
    examples: int = 0
    origins: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, failure: Failure, *, origin: int = 0) -> None:
        with self.lock:
            self.failures.append(failure)
            self.origins.append(origin)

    def count_example(self) -> int:
        """One more example run; its number."""
        with self.lock:
            self.examples += 1
            return self.examples

    def origin(self, failure: Failure) -> int:
        """Where ``failure`` was found."""
        with self.lock:
            for each, origin in zip(self.failures, self.origins, strict=True):
                if each is failure:
                    return origin
        return 0

    def shortest(self) -> Failure | None:
        """The failure with the fewest fault steps, then the fewest steps, then the latest.

        Hypothesis shrinks toward short examples, so the latest of the shortest is the one
        it settled on.
        """
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def ranked(self) -> list[Failure]:
        """Every failure, the shortest first (as :meth:`shortest` ranks them)."""
        with self.lock:
            failures = list(self.failures)
        ordered = sorted(
            enumerate(failures),
            key=lambda p: (p[1].fault_steps, len(p[1].schedule.steps), -p[0]),
        )
        return [failure for _, failure in ordered]


def fault_steps(schedule: Schedule) -> int:
    """How many faults the schedule turns on (its length as a failure report counts it)."""
    return len(schedule.faults())


def schedule_as_code(schedule: Schedule) -> str:
    """Python that builds the schedule: one step a line, ready to paste into a test (with
    the offsets the steps started at, which a replay keeps)."""
    lines = ["Schedule(", "    steps=("]
    lines += [f"        {step!r}," for step in schedule.steps]
    lines.append("    ),")
    if schedule.offsets:
        lines.append(f"    offsets={schedule.offsets!r},")
    lines.append(")")
    return "\n".join(lines)


@dataclass(frozen=True)
class SavedReplay:
    """A replay file read back: the schedule, and what the run that recorded it said of
    itself (``recorded``: seed, sources, what was on; empty for files that say nothing)."""

    schedule: Schedule
    recorded: Mapping[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> SourceState | None:
        return SourceState.from_json(self.recorded.get("source"))

    def source_note(self, now: SourceState) -> str | None:
        """What a reader of a replay on ``now`` must know, if the sources are not the ones
        it was recorded on (None when they build the same system)."""
        then = self.source
        if then is None:
            return (
                "the replay file does not say which sources it was recorded on, so whether "
                f"this run ({now.describe()}) is the same system is unknown"
            )
        if then.same_build(now):
            return None
        return (
            f"recorded on other sources ({then.describe()}) than this run's "
            f"({now.describe()}): a replay that keeps every invariant here says nothing "
            "of the sources it was found on"
        )


def recorded_run(env: Environment, *, seed: int, message: str = "", **more: Any) -> dict[str, Any]:
    """What a replay file records of the run that found its schedule."""
    return {
        "seed": seed,
        "source": env.source.to_json(),
        "source_text": env.source.describe(),
        "message": message,
        **more,
    }


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def save_replay(
    schedule: Schedule,
    directory: Path,
    *,
    label: str,
    now: float | None = None,
    recorded: Mapping[str, Any] | None = None,
) -> Path:
    """Write the schedule's JSON to ``directory/<label>-<UTC time>.json``; return the path.

    The file is :meth:`Schedule.to_json` (so ``Schedule.load`` reads it back) with, under
    ``recorded``, what :func:`recorded_run` says of the run that found it.
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    safe = _UNSAFE.sub("-", label).strip("-") or "schedule"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{safe}-{stamp}.json"
    counter = 1
    while path.exists():
        counter += 1
        path = directory / f"{safe}-{stamp}-{counter}.json"
    data = schedule.to_json()
    if recorded:
        data["recorded"] = dict(recorded)
    path.write_text(json.dumps(data, sort_keys=True, indent=1) + "\n")
    return path


def load_replay(path: Path) -> SavedReplay:
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
        schedule = schedule_from_json(text)
    except ChaosError as exc:
        raise ConfigError(f"--chaos-replay: {path} is not a saved schedule: {exc}") from None
    recorded = json.loads(text).get("recorded")
    return SavedReplay(schedule, recorded if isinstance(recorded, Mapping) else {})


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
    explore: bool = False,
) -> str:
    """The shell command that replays a saved schedule with the build that broke.

    ``test`` is the node ID of the test that explored; ``compose`` is given only when the
    run chose another compose file than its ini default; ``seed`` keeps HTTP faults that
    hit a fraction of the responses hitting the same ones; ``cd`` is the folder the node
    ID is relative to, when the command is not run from there. ``explore``: the test is the
    one ``--chaos-explore`` collects for the compose file (``test`` may then be empty).
    """
    parts = [*pytest, *([test] if test else [])]
    parts += ["--chaos-explore"] if explore else []
    parts += [f"--chaos-replay={replay}", f"--chaos-replay-runs={runs}"]
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
